//! The online safety incident log's rules (issue 7): what an incident is (category under
//! the four Cs, the people involved and their part, status), who it is routed to, and who may
//! do what with it. Access is decided here — a matrix of role × kind of record × action —
//! and nowhere else, so the console cannot show what this module refuses.
//!
//! The policies: "any concern about staff misuse is always referred directly to the
//! Headteacher, unless the concern is about the Headteacher in which case the complaint is
//! referred to the Chair of Governors and the LADO"; the IT administrator "manages accounts
//! but cannot read safeguarding records"; nobody sees an incident about themselves.

use std::fmt;
use std::str::FromStr;

use crate::people::PersonId;
use crate::roles::Role;

/// The four Cs of online risk (KCSIE).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FourC {
    Content,
    Contact,
    Conduct,
    Commerce,
}

impl FourC {
    pub fn label(self) -> &'static str {
        match self {
            FourC::Content => "Content",
            FourC::Contact => "Contact",
            FourC::Conduct => "Conduct",
            FourC::Commerce => "Commerce",
        }
    }
}

macro_rules! categories {
    ($($v:ident = $name:literal, $label:literal, $c:ident;)*) => {
        /// What an incident is about, under one of the four Cs.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Category { $($v),* }

        impl Category {
            pub const ALL: &'static [Category] = &[$(Category::$v),*];

            pub fn name(self) -> &'static str {
                match self { $(Category::$v => $name),* }
            }

            pub fn label(self) -> &'static str {
                match self { $(Category::$v => $label),* }
            }

            pub fn four_c(self) -> FourC {
                match self { $(Category::$v => FourC::$c),* }
            }
        }
    };
}

categories! {
    OnlineBullying = "online_bullying", "Online bullying", Conduct;
    SharingNudes = "sharing_nudes", "Sharing nudes or semi-nudes", Conduct;
    Grooming = "grooming", "Grooming or contact by an adult", Contact;
    Radicalisation = "radicalisation", "Radicalisation or extremism", Contact;
    HarmfulContent = "harmful_content", "Harmful content seen", Content;
    SelfHarmContent = "self_harm_content", "Self-harm or suicide content", Content;
    DataBreach = "data_breach", "Data breach or loss", Commerce;
    ItMisuse = "it_misuse", "Misuse of school IT", Conduct;
    Circumvention = "circumvention", "Circumvention of filtering", Conduct;
    StaffConduct = "staff_conduct", "Staff conduct", Conduct;
    Scam = "scam", "Scam or phishing", Commerce;
    Other = "other", "Other", Content;
}

impl FromStr for Category {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Category::ALL
            .iter()
            .copied()
            .find(|c| c.name() == s.trim())
            .ok_or_else(|| format!("{s:?} is not an incident category"))
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// The part a person plays in an incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Part {
    Affected,
    Responsible,
    Witness,
}

impl Part {
    pub const ALL: [Part; 3] = [Part::Affected, Part::Responsible, Part::Witness];

    pub fn name(self) -> &'static str {
        match self {
            Part::Affected => "affected",
            Part::Responsible => "responsible",
            Part::Witness => "witness",
        }
    }
}

impl FromStr for Part {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Part::ALL
            .into_iter()
            .find(|p| p.name() == s.trim())
            .ok_or_else(|| format!("{s:?} is not a part (affected, responsible or witness)"))
    }
}

/// Whom an incident concerns, which decides its route and who may see it. An incident
/// about the headteacher outranks one about staff, which outranks one about pupils.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Concerns {
    /// Pupils (and visitors, and nobody named): the DSL team's.
    Pupils,
    /// A member of staff: the headteacher's alone.
    Staff,
    /// The headteacher: the Chair of Governors' alone (with the LADO).
    Headteacher,
}

impl Concerns {
    pub fn name(self) -> &'static str {
        match self {
            Concerns::Pupils => "pupils",
            Concerns::Staff => "staff",
            Concerns::Headteacher => "headteacher",
        }
    }

    pub const ALL: [Concerns; 3] = [Concerns::Pupils, Concerns::Staff, Concerns::Headteacher];
}

impl FromStr for Concerns {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Concerns::ALL
            .into_iter()
            .find(|c| c.name() == s)
            .ok_or_else(|| format!("{s:?} is not whom an incident concerns"))
    }
}

/// Who a person involved is, for deciding [`Concerns`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Involved {
    Pupil,
    Staff,
    Headteacher,
    Other,
}

/// Whom an incident concerns, from the people it names as affected or responsible:
/// a member of staff responsible makes it a staff matter, the headteacher responsible a
/// matter for the Chair. (A member of staff who is affected — abused online by a pupil,
/// say — is a matter for the DSL team like any other.)
pub fn concerns(people: &[(Involved, Part)]) -> Concerns {
    let responsible = |who: Involved| people.iter().any(|&(i, p)| i == who && p == Part::Responsible);
    if responsible(Involved::Headteacher) {
        Concerns::Headteacher
    } else if responsible(Involved::Staff) {
        Concerns::Staff
    } else {
        Concerns::Pupils
    }
}

/// The roles an incident goes to, first to last: the first are told at once; if nobody
/// opens it in time it goes on to the next.
pub fn route(c: Concerns) -> &'static [&'static [Role]] {
    match c {
        Concerns::Pupils => &[
            &[Role::Dsl, Role::DeputyDsl, Role::OnlineSafetyLead],
            &[Role::Headteacher],
        ],
        Concerns::Staff => &[&[Role::Headteacher], &[Role::ChairOfGovernors]],
        Concerns::Headteacher => &[&[Role::ChairOfGovernors]],
    }
}

/// What must happen next, shown on an urgent incident.
pub fn urgent_steps(category: Category, imminent_risk: bool) -> Vec<&'static str> {
    let mut steps = Vec::new();
    if matches!(category, Category::SharingNudes | Category::Grooming) || imminent_risk {
        steps.push("Do not copy, forward, print or save images: do not view them more than you must.");
    }
    if imminent_risk {
        steps.push("If a child is in immediate danger, call 999 now.");
    }
    match category {
        Category::Grooming => {
            steps.push("Report online sexual abuse or grooming to CEOP (ceop.police.uk) and the police.")
        }
        Category::SharingNudes => steps.push(
            "Follow the UKCIS guidance on sharing nudes and semi-nudes; report images to the IWF or Report Remove.",
        ),
        Category::Radicalisation => {
            steps.push("Consider a Prevent referral; call 999 if there is an immediate threat.")
        }
        Category::HarmfulContent => {
            steps.push("Report illegal images or videos to the IWF (iwf.org.uk); do not share links.")
        }
        _ => {}
    }
    steps
}

/// What someone may do with an incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// Read the record and its chronology.
    See,
    /// Add to the chronology, record actions, flag a pupil as monitored.
    Add,
    /// Close, reopen, seal.
    Close,
    /// Export the record (a pupil's file for a new school).
    Export,
}

impl Action {
    pub const ALL: [Action; 4] = [Action::See, Action::Add, Action::Close, Action::Export];
}

/// What access depends on, about one incident and one reader.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record<'a> {
    pub concerns: Concerns,
    /// Everyone named in it, with their part.
    pub people: &'a [(PersonId, Part)],
    /// Sealed by the DSL: only these people may see it.
    pub sealed_to: Option<&'a [PersonId]>,
}

/// Whether `reader`, holding `roles`, may do `action` with `record`. Reporters see their own
/// reports through [`may_see_own_report`], not through this.
pub fn may(reader: PersonId, roles: &[Role], record: &Record<'_>, action: Action) -> bool {
    // Nobody sees an incident about themselves (affected or responsible); a witness can be
    // trusted with what they saw only as its reporter.
    if record
        .people
        .iter()
        .any(|&(p, part)| p == reader && part != Part::Witness)
    {
        return false;
    }
    if let Some(named) = record.sealed_to {
        return named.contains(&reader) && roles.iter().any(|r| role_may(*r, record.concerns, action));
    }
    roles.iter().any(|r| role_may(*r, record.concerns, action))
}

/// The matrix itself: role × kind of record × action.
fn role_may(role: Role, concerns: Concerns, action: Action) -> bool {
    use Action::*;
    match (concerns, role) {
        (Concerns::Pupils, Role::Dsl | Role::DeputyDsl | Role::Headteacher) => true,
        // The online safety lead works pupil incidents but does not close or export them.
        (Concerns::Pupils, Role::OnlineSafetyLead) => matches!(action, See | Add),
        (Concerns::Staff, Role::Headteacher) => true,
        (Concerns::Headteacher, Role::ChairOfGovernors) => true,
        _ => false,
    }
}

/// A reporter sees their own report (what they wrote, its status), nothing more.
pub fn may_see_own_report(reader: PersonId, reported_by: PersonId) -> bool {
    reader == reported_by
}

/// Where an incident is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    Open,
    InProgress,
    Closed,
}

impl Status {
    pub fn name(self) -> &'static str {
        match self {
            Status::Open => "open",
            Status::InProgress => "in_progress",
            Status::Closed => "closed",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Status::Open => "Open",
            Status::InProgress => "In progress",
            Status::Closed => "Closed",
        }
    }

    /// Whether an incident may go from `self` to `to`: open → in progress → closed, closed
    /// → open again (a reopening, recorded in the chronology).
    pub fn may_become(self, to: Status) -> bool {
        matches!(
            (self, to),
            (Status::Open, Status::InProgress)
                | (Status::Open, Status::Closed)
                | (Status::InProgress, Status::Closed)
                | (Status::Closed, Status::Open)
        )
    }
}

impl FromStr for Status {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        [Status::Open, Status::InProgress, Status::Closed]
            .into_iter()
            .find(|x| x.name() == s)
            .ok_or_else(|| format!("{s:?} is not a status"))
    }
}

/// The actions the policies name, each recorded with who and when. Schools add their own
/// (stored by name); these are the fixed ones.
pub const ACTIONS: &[(&str, &str)] = &[
    ("parents_informed", "Parents or carers informed"),
    ("police_contacted", "Police contacted"),
    ("ceop_report", "CEOP report"),
    ("iwf_report", "IWF report"),
    ("prevent_referral", "Prevent referral"),
    ("lado_consulted", "LADO consulted"),
    ("social_care_referral", "Children's social care referral"),
    ("sanctions_applied", "Sanctions applied"),
    ("restorative_work", "Restorative work"),
    ("device_confiscated", "Device confiscated"),
    ("device_returned", "Device returned"),
    ("filter_changed", "Filter changed"),
];

/// The label of an action by name (a school's own action is shown as written).
pub fn action_label(name: &str) -> &str {
    ACTIONS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, l)| *l)
        .unwrap_or(name)
}

/// Hours the school has to decide whether to report a data breach to the ICO (UK GDPR
/// article 33).
pub const ICO_DECISION_HOURS: i64 = 72;

/// When a record is due for review under the retention rule: a record about pupils (a
/// child protection record) until the youngest pupil's 25th birthday, given as Unix days
/// of their dates of birth; any other record, or one with no birth date known, `other_years`
/// after it was made. Records past review are listed for a decision, never deleted.
pub fn review_at(concerns: Concerns, pupils_born_days: &[i64], created: i64, other_years: i64) -> i64 {
    const YEAR: i64 = 365 * 86_400 + 6 * 3600;
    match (concerns, pupils_born_days.iter().max()) {
        (Concerns::Pupils, Some(&born)) => born * 86_400 + 25 * YEAR,
        _ => created + other_years * YEAR,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const READER: PersonId = PersonId(1);
    const OTHER: PersonId = PersonId(2);

    /// Every role × kind of record × action, with the expected answer written out, so the
    /// matrix cannot change without this table changing too.
    #[test]
    fn the_access_matrix_allows_and_denies_exactly_what_it_should() {
        let expected = |role: Role, c: Concerns, a: Action| -> bool {
            match c {
                Concerns::Pupils => match role {
                    Role::Dsl | Role::DeputyDsl | Role::Headteacher => true,
                    Role::OnlineSafetyLead => matches!(a, Action::See | Action::Add),
                    _ => false,
                },
                Concerns::Staff => role == Role::Headteacher,
                Concerns::Headteacher => role == Role::ChairOfGovernors,
            }
        };
        let people = [(OTHER, Part::Affected)];
        let mut checked = 0;
        for role in Role::ALL {
            for c in Concerns::ALL {
                for a in Action::ALL {
                    let r = Record {
                        concerns: c,
                        people: &people,
                        sealed_to: None,
                    };
                    assert_eq!(
                        may(READER, &[role], &r, a),
                        expected(role, c, a),
                        "{role:?} {c:?} {a:?}"
                    );
                    // About the reader themself, as affected or responsible: never.
                    for part in [Part::Affected, Part::Responsible] {
                        let me = [(READER, part)];
                        let r = Record {
                            concerns: c,
                            people: &me,
                            sealed_to: None,
                        };
                        assert!(!may(READER, &[role], &r, a), "{role:?} {c:?} {a:?} about themself");
                    }
                    // Sealed: only the named, and only within their role.
                    let named = [READER];
                    let sealed = Record {
                        concerns: c,
                        people: &people,
                        sealed_to: Some(&named),
                    };
                    assert_eq!(may(READER, &[role], &sealed, a), expected(role, c, a));
                    let others = [OTHER];
                    let sealed_away = Record {
                        concerns: c,
                        people: &people,
                        sealed_to: Some(&others),
                    };
                    assert!(!may(READER, &[role], &sealed_away, a), "{role:?} sealed away");
                    checked += 1;
                }
            }
        }
        assert_eq!(checked, Role::ALL.len() * 3 * 4);
    }

    #[test]
    fn the_it_administrator_never_reads_safeguarding_records() {
        for c in Concerns::ALL {
            let r = Record {
                concerns: c,
                people: &[],
                sealed_to: None,
            };
            assert!(!may(READER, &[Role::ItAdministrator], &r, Action::See));
        }
    }

    #[test]
    fn incidents_are_routed_by_whom_they_concern() {
        assert_eq!(concerns(&[(Involved::Pupil, Part::Affected)]), Concerns::Pupils);
        assert_eq!(
            concerns(&[(Involved::Pupil, Part::Affected), (Involved::Staff, Part::Responsible)]),
            Concerns::Staff
        );
        assert_eq!(
            concerns(&[(Involved::Staff, Part::Affected), (Involved::Pupil, Part::Responsible)]),
            Concerns::Pupils,
            "a teacher abused by a pupil is the DSL team's"
        );
        assert_eq!(
            concerns(&[
                (Involved::Staff, Part::Responsible),
                (Involved::Headteacher, Part::Responsible)
            ]),
            Concerns::Headteacher
        );
        assert_eq!(concerns(&[]), Concerns::Pupils);
        assert_eq!(
            route(Concerns::Pupils)[0],
            [Role::Dsl, Role::DeputyDsl, Role::OnlineSafetyLead]
        );
        assert_eq!(route(Concerns::Staff)[0], [Role::Headteacher]);
        assert_eq!(route(Concerns::Headteacher), [&[Role::ChairOfGovernors][..]]);
    }

    #[test]
    fn records_about_pupils_are_kept_to_the_youngest_pupils_25th_birthday() {
        let born_2014 = 16_071; // 2014-01-01 in Unix days
        let t = review_at(Concerns::Pupils, &[born_2014 - 400, born_2014], 1_795_478_400, 6);
        assert_eq!((t / 86_400 - born_2014) / 365, 25);
        let staff = review_at(Concerns::Staff, &[born_2014], 1_795_478_400, 6);
        assert_eq!((staff - 1_795_478_400) / (365 * 86_400), 6);
        assert_eq!(review_at(Concerns::Pupils, &[], 0, 6) / (365 * 86_400), 6);
    }

    #[test]
    fn status_moves_forward_and_reopening_is_allowed() {
        assert!(Status::Open.may_become(Status::InProgress));
        assert!(Status::InProgress.may_become(Status::Closed));
        assert!(Status::Closed.may_become(Status::Open));
        assert!(!Status::Closed.may_become(Status::InProgress));
        assert!(!Status::InProgress.may_become(Status::Open));
    }

    #[test]
    fn categories_sit_under_the_four_cs_and_read_back() {
        for c in Category::ALL {
            assert_eq!(c.name().parse::<Category>(), Ok(*c));
        }
        assert_eq!(Category::Grooming.four_c(), FourC::Contact);
        assert_eq!(Category::Scam.four_c(), FourC::Commerce);
        assert!(
            urgent_steps(Category::SharingNudes, false)
                .iter()
                .any(|s| s.contains("Do not copy"))
        );
        assert!(urgent_steps(Category::Other, true).iter().any(|s| s.contains("999")));
        assert_eq!(action_label("ceop_report"), "CEOP report");
        assert_eq!(action_label("our own step"), "our own step");
    }
}

/// One incident as the governors' report counts it: no names, no text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportRow {
    pub created_at: i64,
    /// `2026-11`.
    pub month: String,
    pub category: Category,
    /// The key stages of the pupils involved (`KS2`), or `staff`, `other`.
    pub groups: Vec<String>,
    pub actions: Vec<String>,
    /// Seconds from recording to closing, if closed.
    pub time_to_close: Option<i64>,
}

/// The termly report for governors: counts by category, by key stage, by month, actions
/// taken and time to close.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TermReport {
    pub total: usize,
    pub by_category: Vec<(String, usize)>,
    pub by_group: Vec<(String, usize)>,
    pub by_month: Vec<(String, usize)>,
    pub actions: Vec<(String, usize)>,
    pub closed: usize,
    /// Median days from recording to closing, of those closed.
    pub median_days_to_close: Option<f64>,
}

fn counted(items: impl Iterator<Item = String>) -> Vec<(String, usize)> {
    let mut m: std::collections::BTreeMap<String, usize> = std::collections::BTreeMap::new();
    for i in items {
        *m.entry(i).or_default() += 1;
    }
    m.into_iter().collect()
}

impl TermReport {
    pub fn from_rows(rows: &[ReportRow]) -> TermReport {
        let mut by_category = counted(rows.iter().map(|r| r.category.label().to_owned()));
        by_category.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        let mut close: Vec<i64> = rows.iter().filter_map(|r| r.time_to_close).collect();
        close.sort_unstable();
        let median = match close.len() {
            0 => None,
            n if n % 2 == 1 => Some(close[n / 2] as f64 / 86_400.0),
            n => Some((close[n / 2 - 1] + close[n / 2]) as f64 / 2.0 / 86_400.0),
        };
        let mut actions = counted(
            rows.iter()
                .flat_map(|r| r.actions.iter().map(|a| action_label(a).to_owned())),
        );
        actions.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        TermReport {
            total: rows.len(),
            by_category,
            by_group: counted(rows.iter().flat_map(|r| r.groups.iter().cloned())),
            by_month: counted(rows.iter().map(|r| r.month.clone())),
            actions,
            closed: close.len(),
            median_days_to_close: median,
        }
    }

    /// The report as CSV: one section a line-group, `section,item,count`.
    pub fn csv(&self) -> String {
        let mut out = String::from("section,item,count\n");
        let mut section = |name: &str, items: &[(String, usize)]| {
            for (item, n) in items {
                out.push_str(&format!("{name},{},{n}\n", csv_field(item)));
            }
        };
        section("category", &self.by_category);
        section("group", &self.by_group);
        section("month", &self.by_month);
        section("action", &self.actions);
        out.push_str(&format!("total,incidents,{}\n", self.total));
        out.push_str(&format!("total,closed,{}\n", self.closed));
        if let Some(d) = self.median_days_to_close {
            out.push_str(&format!("time,median days to close,{d:.1}\n"));
        }
        out
    }
}

/// A CSV field, quoted when it needs to be; a leading `=`, `+`, `-` or `@` is defused so a
/// spreadsheet never runs it as a formula.
fn csv_field(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@']) {
        format!("'{s}")
    } else {
        s.to_owned()
    };
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

#[cfg(test)]
mod report_tests {
    use super::*;

    #[test]
    fn the_governors_report_counts_without_names() {
        let row = |month: &str, c: Category, g: &[&str], a: &[&str], close: Option<i64>| ReportRow {
            created_at: 0,
            month: month.into(),
            category: c,
            groups: g.iter().map(|s| s.to_string()).collect(),
            actions: a.iter().map(|s| s.to_string()).collect(),
            time_to_close: close,
        };
        let rows = [
            row(
                "2026-09",
                Category::OnlineBullying,
                &["KS2"],
                &["parents_informed"],
                Some(86_400),
            ),
            row(
                "2026-10",
                Category::OnlineBullying,
                &["KS2", "KS3"],
                &[],
                Some(3 * 86_400),
            ),
            row(
                "2026-10",
                Category::Grooming,
                &["KS3"],
                &["ceop_report", "parents_informed"],
                None,
            ),
        ];
        let r = TermReport::from_rows(&rows);
        assert_eq!(r.total, 3);
        assert_eq!(r.by_category[0], ("Online bullying".to_owned(), 2));
        assert_eq!(r.by_group, [("KS2".to_owned(), 2), ("KS3".to_owned(), 2)]);
        assert_eq!(r.by_month, [("2026-09".to_owned(), 1), ("2026-10".to_owned(), 2)]);
        assert_eq!(r.actions[0], ("Parents or carers informed".to_owned(), 2));
        assert_eq!(r.median_days_to_close, Some(2.0));
        let csv = r.csv();
        assert!(csv.starts_with("section,item,count\n"));
        assert!(csv.contains("category,Online bullying,2\n"), "{csv}");
        assert!(csv.contains("time,median days to close,2.0"), "{csv}");
        assert_eq!(csv_field("=cmd()"), "'=cmd()");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
    }
}
