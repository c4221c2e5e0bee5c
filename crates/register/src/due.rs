//! What is due: everything across the registers that is overdue or falls due within 30 days,
//! each with the page where it is put right.
//!
//! The store gathers the facts ([`Facts`]); this module decides what is due and when, so the
//! dashboard panel, the "what is due" page and the weekly digest all say the same thing.
//! People are counted, not named, where a list would be long (who has not signed is on the
//! agreements page), and nothing from a safeguarding record appears here: a record past its
//! review date is "1 incident record", never a name.

use std::collections::BTreeMap;

use time::{Date, Duration};

use crate::agreements::{AcademicYear, Audience, Standing, YearStart};
use crate::reviews::ReviewKind;
use crate::training::Kind;

/// How far ahead the list looks.
pub const WINDOW_DAYS: i64 = 30;

/// How long after the year starts (or a new version asks everyone to sign again) agreements
/// and consent forms are expected back.
pub const RETURN_DAYS: i64 = 28;

/// How long someone who joins during the year has to return theirs.
pub const NEWCOMER_DAYS: i64 = 14;

/// Which register an item belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Register {
    Agreements,
    Consent,
    Training,
    Reviews,
    Retention,
    Software,
    Hardware,
    Loans,
}

impl Register {
    /// Whether someone with this access can open the page where an item of this register is
    /// put right (the list shows the item to them either way, without the link).
    pub fn opens_for(self, access: &crate::roles::RegisterAccess) -> bool {
        match self {
            Register::Agreements => access.agreements || access.gates || access.record_signatures,
            Register::Consent => access.photos || access.consent,
            Register::Training => access.training,
            Register::Reviews => access.oversight,
            Register::Retention => access.agreements,
            Register::Software | Register::Hardware | Register::Loans => access.assets,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Register::Agreements => "Agreements",
            Register::Consent => "Photo consent",
            Register::Training => "Training",
            Register::Reviews => "Reviews",
            Register::Retention => "Retention",
            Register::Software => "Software",
            Register::Hardware => "Devices",
            Register::Loans => "Loans",
        }
    }
}

/// One thing to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueItem {
    pub register: Register,
    pub what: String,
    pub due_on: Date,
    /// The console page where it is fixed.
    pub link: String,
}

impl DueItem {
    pub fn overdue(&self, today: Date) -> bool {
        self.due_on < today
    }

    /// "3 days overdue", "due today", "due in 12 days".
    pub fn when(&self, today: Date) -> String {
        let days = (self.due_on - today).whole_days();
        match days {
            0 => "due today".into(),
            1 => "due tomorrow".into(),
            -1 => "1 day overdue".into(),
            d if d < 0 => format!("{} days overdue", -d),
            d => format!("due in {d} days"),
        }
    }
}

/// A person's agreement standing, as the store found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgreementFact {
    pub audience: Audience,
    pub standing: Standing,
    /// When the version they must sign was published (for [`Standing::NewVersion`]).
    pub version_published: Option<Date>,
    /// The day the person's record was created: newcomers get the same time to sign.
    pub joined: Date,
}

/// A person's training need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrainingFact {
    pub person: String,
    pub person_id: i64,
    pub kind: Kind,
    pub due_on: Date,
}

/// Everything the registers know that can fall due.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Facts {
    pub agreements: Vec<AgreementFact>,
    /// Per class: pupils with a purpose that has no answer this year, and the earliest day a
    /// pupil of the class joined.
    pub consent_gaps: Vec<(String, usize, Date)>,
    pub training: Vec<TrainingFact>,
    pub reviews: Vec<(ReviewKind, Date)>,
    /// Safeguarding records past their review date: how many, and the earliest date.
    pub retention: Option<(usize, Date)>,
    /// Safeguarding records reaching their review date soon: how many, and the earliest.
    pub retention_soon: Option<(usize, Date)>,
    /// Software: product and renewal date.
    pub software: Vec<(i64, String, Date)>,
    /// Hardware: asset tag and end of support.
    pub end_of_support: Vec<(i64, String, Date)>,
    /// Loans past their return date: asset tag, borrower, return date.
    pub loans: Vec<(i64, String, String, Date)>,
}

/// Everything overdue or due within [`WINDOW_DAYS`] of `today`, soonest first.
pub fn due(facts: &Facts, today: Date, start: YearStart) -> Vec<DueItem> {
    let horizon = today + Duration::days(WINDOW_DAYS);
    let year = start.year_of(today);
    let year_due = start.first_day(year) + Duration::days(RETURN_DAYS);
    let mut items = Vec::new();

    // Agreements: one line per audience and reason, with the earliest day among them.
    let mut unsigned: BTreeMap<(Audience, bool), (usize, Date)> = BTreeMap::new();
    for a in &facts.agreements {
        if a.standing.is_current() {
            continue;
        }
        let new_version = a.standing == Standing::NewVersion;
        let from = match a.version_published {
            Some(p) if new_version => p + Duration::days(RETURN_DAYS),
            _ => year_due,
        };
        let on = from.max(a.joined + Duration::days(NEWCOMER_DAYS));
        let e = unsigned.entry((a.audience, new_version)).or_insert((0, on));
        e.0 += 1;
        e.1 = e.1.min(on);
    }
    for ((audience, new_version), (n, on)) in unsigned {
        let people = if n == 1 { "person has" } else { "people have" };
        let pupils = if n == 1 { "pupil" } else { "pupils" };
        let what = if audience == Audience::ParentsCarers {
            format!("{audience}: not signed for {n} {pupils}")
        } else if new_version {
            format!("{audience}: {n} {people} not signed the new version")
        } else {
            format!("{audience}: {n} {people} not signed for {}", AcademicYear(year.0))
        };
        items.push(DueItem {
            register: Register::Agreements,
            what,
            due_on: on,
            link: format!("/registers/agreements?audience={}", audience.as_str()),
        });
    }
    for (class, n, joined) in &facts.consent_gaps {
        let pupils = if *n == 1 { "pupil" } else { "pupils" };
        items.push(DueItem {
            register: Register::Consent,
            what: format!("{class}: photo consent to ask for {n} {pupils}"),
            due_on: year_due.max(*joined + Duration::days(NEWCOMER_DAYS)),
            link: format!("/registers/photos?class={}", url_part(class)),
        });
    }
    for t in &facts.training {
        items.push(DueItem {
            register: Register::Training,
            what: format!("{}: {}", t.person, t.kind.label()),
            due_on: t.due_on,
            link: format!("/registers/training#person-{}", t.person_id),
        });
    }
    for (kind, on) in &facts.reviews {
        items.push(DueItem {
            register: Register::Reviews,
            what: format!("Review: {}", kind.label()),
            due_on: *on,
            link: format!("/registers/reviews/{}", kind.as_str()),
        });
    }
    if let Some((n, on)) = facts.retention {
        let records = if n == 1 { "record is" } else { "records are" };
        items.push(DueItem {
            register: Register::Retention,
            what: format!("{n} online safety {records} past the date to review or delete"),
            due_on: on,
            link: "/incidents?past_review=1".into(),
        });
    }
    if let Some((n, on)) = facts.retention_soon {
        let records = if n == 1 { "record reaches" } else { "records reach" };
        items.push(DueItem {
            register: Register::Retention,
            what: format!("{n} online safety {records} the date to review or delete"),
            due_on: on,
            link: "/incidents".into(),
        });
    }
    for (id, product, on) in &facts.software {
        items.push(DueItem {
            register: Register::Software,
            what: format!("Licence renewal: {product}"),
            due_on: *on,
            link: format!("/registers/assets#software-{id}"),
        });
    }
    for (id, tag, on) in &facts.end_of_support {
        items.push(DueItem {
            register: Register::Hardware,
            what: format!("{tag}: operating system support ends"),
            due_on: *on,
            link: format!("/registers/assets/{id}"),
        });
    }
    for (id, tag, who, on) in &facts.loans {
        items.push(DueItem {
            register: Register::Loans,
            what: format!("{tag}: lent to {who}, to be returned"),
            due_on: *on,
            link: format!("/registers/assets/{id}"),
        });
    }
    items.retain(|i| i.due_on <= horizon);
    items.sort_by(|a, b| (a.due_on, a.register, &a.what).cmp(&(b.due_on, b.register, &b.what)));
    items
}

fn url_part(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    fn facts() -> Facts {
        let joined = date!(2024 - 09 - 01);
        let agreement = |audience, standing| AgreementFact {
            audience,
            standing,
            version_published: None,
            joined,
        };
        Facts {
            agreements: vec![
                agreement(Audience::Ks2, Standing::NotSigned),
                agreement(Audience::Ks2, Standing::Renew),
                agreement(Audience::Ks2, Standing::Current),
                agreement(Audience::Staff, Standing::Current),
                AgreementFact {
                    audience: Audience::Staff,
                    standing: Standing::NewVersion,
                    version_published: Some(date!(2026 - 11 - 20)),
                    joined,
                },
            ],
            consent_gaps: vec![("4B".into(), 3, joined)],
            training: vec![
                TrainingFact {
                    person: "Sam Patel".into(),
                    person_id: 7,
                    kind: Kind::Dsl,
                    due_on: date!(2026 - 12 - 10),
                },
                TrainingFact {
                    person: "Jo Reid".into(),
                    person_id: 8,
                    kind: Kind::Cyber,
                    due_on: date!(2027 - 03 - 01),
                },
            ],
            reviews: vec![(ReviewKind::FilteringMonitoring, date!(2026 - 09 - 01))],
            retention: Some((2, date!(2026 - 07 - 31))),
            retention_soon: Some((1, date!(2026 - 12 - 20))),
            software: vec![(3, "Office 365 A1".into(), date!(2026 - 12 - 31))],
            end_of_support: vec![(4, "SG-014".into(), date!(2026 - 10 - 14))],
            loans: vec![(5, "SG-020".into(), "Jo Reid".into(), date!(2026 - 11 - 23))],
        }
    }

    #[test]
    fn the_due_list_holds_what_is_overdue_or_due_within_thirty_days_soonest_first() {
        let today = date!(2026 - 11 - 24);
        let items = due(&facts(), today, YearStart::default());
        let lines: Vec<String> = items
            .iter()
            .map(|i| format!("{} | {} | {}", i.due_on, i.what, i.when(today)))
            .collect();
        assert_eq!(
            lines,
            [
                "2026-07-31 | 2 online safety records are past the date to review or delete | 116 days overdue",
                "2026-09-01 | Review: Filtering and monitoring provision | 84 days overdue",
                "2026-09-29 | Key Stage 2 pupils: 2 people have not signed for 2026/27 | 56 days overdue",
                "2026-09-29 | 4B: photo consent to ask for 3 pupils | 56 days overdue",
                "2026-10-14 | SG-014: operating system support ends | 41 days overdue",
                "2026-11-23 | SG-020: lent to Jo Reid, to be returned | 1 day overdue",
                "2026-12-10 | Sam Patel: DSL training | due in 16 days",
                "2026-12-18 | Staff: 1 person has not signed the new version | due in 24 days",
                "2026-12-20 | 1 online safety record reaches the date to review or delete | due in 26 days",
            ],
        );
        // Beyond thirty days: the cyber training in March and the licence at the end of
        // December are not listed yet.
        assert!(
            items
                .iter()
                .all(|i| !i.what.contains("Cyber") && !i.what.contains("Office"))
        );
        assert!(items[0].overdue(today));
        assert_eq!(items[3].link, "/registers/photos?class=4B");
    }

    #[test]
    fn a_newcomer_gets_time_to_sign() {
        let today = date!(2026 - 11 - 24);
        let f = Facts {
            agreements: vec![AgreementFact {
                audience: Audience::Visitors,
                standing: Standing::NotSigned,
                version_published: None,
                joined: date!(2026 - 11 - 20),
            }],
            ..Facts::default()
        };
        let items = due(&f, today, YearStart::default());
        assert_eq!(items[0].due_on, date!(2026 - 12 - 04));
    }
}
