//! Photo and video consent: what a parent or carer has said, purpose by purpose, and what
//! that means for the member of staff holding a camera today.
//!
//! Consent is a history, not a flag: each answer (given, refused, withdrawn) is kept with its
//! day and who gave it, and the latest answer for a purpose decides. An answer given in an
//! earlier academic year has lapsed and must be asked again; a withdrawal decides from the
//! moment it is recorded. Anything short of a current "given" means *do not*: a pupil with
//! no answer is treated as one whose parent refused.

use std::fmt;
use std::io::Read;
use std::str::FromStr;

use time::Date;

use crate::agreements::YearStart;
use crate::import::{ImportRejected, RowError, defuse, header_key, parse_date, read_table};
use crate::people::UnknownValue;

/// What a photograph or recording may be used for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Purpose {
    /// Displays inside school.
    Displays,
    /// The school website, never with the pupil's full name.
    Website,
    /// The school's social media accounts.
    SocialMedia,
    /// Local newspapers, with the pupil's name.
    Newspaper,
    /// Video made by the school (performances, class films).
    Video,
    /// Recordings of video calls and remote lessons.
    VideoConferencing,
}

impl Purpose {
    pub const ALL: [Purpose; 6] = [
        Purpose::Displays,
        Purpose::Website,
        Purpose::SocialMedia,
        Purpose::Newspaper,
        Purpose::Video,
        Purpose::VideoConferencing,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::Displays => "displays",
            Purpose::Website => "website",
            Purpose::SocialMedia => "social_media",
            Purpose::Newspaper => "newspaper",
            Purpose::Video => "video",
            Purpose::VideoConferencing => "video_conferencing",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Purpose::Displays => "School displays",
            Purpose::Website => "School website",
            Purpose::SocialMedia => "Social media",
            Purpose::Newspaper => "Newspaper, with name",
            Purpose::Video => "Video",
            Purpose::VideoConferencing => "Video call recordings",
        }
    }

    /// What staff must still do even with consent, shown beside the purpose.
    pub fn condition(self) -> Option<&'static str> {
        match self {
            Purpose::Website => Some("Never with the pupil's full name."),
            Purpose::SocialMedia => Some("First name at most; no tagging."),
            _ => None,
        }
    }

    /// Reads a purpose from its name or label, as a CSV column header might spell it.
    pub fn from_header(text: &str) -> Option<Purpose> {
        let key: String = text
            .chars()
            .filter(|c| c.is_alphanumeric())
            .flat_map(char::to_lowercase)
            .collect();
        Purpose::ALL.into_iter().find(|p| {
            let name: String = p.as_str().chars().filter(|c| c.is_alphanumeric()).collect();
            let label: String = p
                .label()
                .chars()
                .filter(|c| c.is_alphanumeric())
                .flat_map(char::to_lowercase)
                .collect();
            key == name || key == label
        })
    }
}

impl fmt::Display for Purpose {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

impl FromStr for Purpose {
    type Err = UnknownValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Purpose::from_header(s).ok_or_else(|| UnknownValue::new("consent purpose", s))
    }
}

/// A parent's or carer's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Answer {
    Given,
    Refused,
    /// Consent given earlier and taken back.
    Withdrawn,
}

impl Answer {
    pub fn as_str(self) -> &'static str {
        match self {
            Answer::Given => "given",
            Answer::Refused => "refused",
            Answer::Withdrawn => "withdrawn",
        }
    }

    /// Reads an answer as a school's spreadsheet writes it.
    pub fn parse(text: &str) -> Option<Answer> {
        match text.trim().to_lowercase().as_str() {
            "given" | "yes" | "y" | "true" | "1" | "consent" | "consented" | "granted" => Some(Answer::Given),
            "refused" | "no" | "n" | "false" | "0" | "declined" => Some(Answer::Refused),
            "withdrawn" => Some(Answer::Withdrawn),
            _ => None,
        }
    }
}

/// One recorded answer for one purpose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Recorded {
    pub purpose: Purpose,
    pub answer: Answer,
    /// The day the parent or carer gave the answer.
    pub on: Date,
    /// When it was recorded (Unix seconds): of two answers on one day, the later one decides.
    pub recorded_at: i64,
}

/// Where a pupil stands for one purpose today.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Given,
    Refused,
    Withdrawn,
    /// No answer has ever been recorded.
    Missing,
    /// The latest answer was given in an earlier academic year: ask again.
    Lapsed,
}

impl State {
    /// Whether a photograph may be taken and used for the purpose.
    pub fn allows(self) -> bool {
        self == State::Given
    }

    pub fn label(self) -> &'static str {
        match self {
            State::Given => "Consent given",
            State::Refused => "Refused",
            State::Withdrawn => "Withdrawn",
            State::Missing => "No answer",
            State::Lapsed => "Last year's answer: ask again",
        }
    }

    /// Whether the school still needs to ask (for the due list).
    pub fn needs_asking(self) -> bool {
        matches!(self, State::Missing | State::Lapsed)
    }
}

/// The state of `purpose` on `today`, from every answer recorded for the pupil.
pub fn state(history: &[Recorded], purpose: Purpose, today: Date, start: YearStart) -> State {
    let latest = history
        .iter()
        .filter(|r| r.purpose == purpose && r.on <= today)
        .max_by_key(|r| (r.on, r.recorded_at));
    match latest {
        None => State::Missing,
        // A withdrawal stands until a new answer: it does not lapse into "ask again".
        Some(r) if r.answer == Answer::Withdrawn => State::Withdrawn,
        Some(r) if start.year_of(r.on) < start.year_of(today) => State::Lapsed,
        Some(r) if r.answer == Answer::Given => State::Given,
        Some(_) => State::Refused,
    }
}

/// Every purpose's state, in [`Purpose::ALL`] order.
pub fn states(history: &[Recorded], today: Date, start: YearStart) -> [State; 6] {
    Purpose::ALL.map(|p| state(history, p, today, start))
}

/// A good answer read from a consent CSV file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportedAnswer {
    pub line: u64,
    /// The pupil's UPN, MIS identifier or username; the store finds the pupil.
    pub pupil: String,
    pub purpose: Purpose,
    pub answer: Answer,
    pub on: Date,
    /// The parent or carer who answered.
    pub given_by: String,
}

/// The columns of the consent CSV, in the order the export writes them.
pub const CONSENT_COLUMNS: [&str; 6] = ["Pupil", "Name", "Purpose", "Answer", "Date", "Given by"];

/// Reads a consent CSV file whole: every problem by line, or every answer.
///
/// Two shapes are read. One row per answer, with `Pupil`, `Purpose`, `Answer` and `Date`
/// columns (what [`consents_csv`] writes); or one row per pupil, as a school's consent form
/// spreadsheet usually is, with a column per purpose (`Website`, `Social media`, …) holding
/// yes, no or nothing, and one `Date` for the row. Either may have a `Given by` column.
pub fn parse_consents<R: Read>(origin: &str, input: R) -> Result<Vec<ImportedAnswer>, ImportRejected> {
    let table = read_table(origin, input)?;
    let find = |names: &[&str]| {
        table
            .headers
            .iter()
            .position(|h| names.contains(&header_key(h).as_str()))
    };
    let pupil_col = find(&[
        "pupil",
        "upn",
        "id",
        "misid",
        "identifier",
        "username",
        "pupilid",
        "admissionnumber",
    ]);
    let purpose_col = find(&["purpose"]);
    let answer_col = find(&["answer", "consent", "response"]);
    let date_col = find(&["date", "on", "dategiven", "signed", "datesigned"]);
    let by_col = find(&["givenby", "parent", "parentcarer", "signedby"]);
    let wide: Vec<(usize, Purpose)> = table
        .headers
        .iter()
        .enumerate()
        .filter_map(|(i, h)| Purpose::from_header(h).map(|p| (i, p)))
        .collect();
    let reject = |errors| ImportRejected {
        origin: origin.to_owned(),
        errors,
    };
    let long = purpose_col.is_some() && answer_col.is_some();
    let (Some(pupil_col), Some(date_col), true) = (pupil_col, date_col, long || !wide.is_empty()) else {
        return Err(reject(vec![RowError {
            line: 1,
            reason: format!(
                "the header needs a pupil column (UPN, ID or username), a date column, and either purpose and answer columns or a column per purpose (found: {})",
                table.headers.join(", ")
            ),
        }]));
    };
    let mut errors = table.errors;
    let mut out = Vec::new();
    for (line, record) in &table.rows {
        let cell = |i: usize| record.get(i).map(str::trim).filter(|v| !v.is_empty());
        let mut problems = Vec::new();
        let pupil = cell(pupil_col).unwrap_or_default().to_owned();
        if pupil.is_empty() {
            problems.push("the pupil is empty".to_owned());
        }
        let on = match cell(date_col) {
            None => {
                problems.push("the date is empty".to_owned());
                None
            }
            Some(v) => parse_date(v).or_else(|| {
                problems.push(format!("the date {v:?} is not a date (use YYYY-MM-DD or DD/MM/YYYY)"));
                None
            }),
        };
        let given_by = by_col.and_then(cell).unwrap_or_default().to_owned();
        let mut answers = Vec::new();
        let mut read_answer = |v: &str, purpose: Purpose, problems: &mut Vec<String>| match Answer::parse(v) {
            Some(a) => answers.push((purpose, a)),
            None => problems.push(format!(
                "the answer for {purpose} is {v:?}, not given, refused or withdrawn"
            )),
        };
        if long {
            match purpose_col.and_then(cell).map(str::parse::<Purpose>) {
                Some(Ok(p)) => match answer_col.and_then(cell) {
                    Some(v) => read_answer(v, p, &mut problems),
                    None => problems.push("the answer is empty".to_owned()),
                },
                Some(Err(e)) => problems.push(e.to_string()),
                None => problems.push("the purpose is empty".to_owned()),
            }
        } else {
            for &(i, p) in &wide {
                if let Some(v) = cell(i) {
                    read_answer(v, p, &mut problems);
                }
            }
        }
        match (problems.is_empty(), on) {
            (true, Some(on)) => out.extend(answers.into_iter().map(|(purpose, answer)| ImportedAnswer {
                line: *line,
                pupil: pupil.clone(),
                purpose,
                answer,
                on,
                given_by: given_by.clone(),
            })),
            _ => errors.extend(problems.into_iter().map(|reason| RowError { line: *line, reason })),
        }
    }
    if out.is_empty() && errors.is_empty() {
        errors.push(RowError {
            line: 1,
            reason: "the file has a header but no answers".into(),
        });
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        errors.sort_by_key(|e| e.line);
        Err(reject(errors))
    }
}

/// One answer for the export: the pupil's identifier and name beside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnswerRow {
    pub pupil: String,
    pub name: String,
    pub purpose: Purpose,
    pub answer: Answer,
    pub on: Date,
    pub given_by: String,
}

/// Every recorded answer as CSV, one row per answer, in the columns [`parse_consents`] reads.
pub fn consents_csv(rows: &[AnswerRow]) -> String {
    let mut w = csv::Writer::from_writer(Vec::new());
    let _ = w.write_record(CONSENT_COLUMNS);
    for r in rows {
        let _ = w.write_record([
            defuse(&r.pupil).as_ref(),
            &defuse(&r.name),
            r.purpose.as_str(),
            r.answer.as_str(),
            &r.on.to_string(),
            &defuse(&r.given_by),
        ]);
    }
    String::from_utf8(w.into_inner().unwrap_or_default()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    fn r(purpose: Purpose, answer: Answer, on: Date, at: i64) -> Recorded {
        Recorded {
            purpose,
            answer,
            on,
            recorded_at: at,
        }
    }

    #[test]
    fn no_answer_means_do_not() {
        let s = state(&[], Purpose::Website, date!(2026 - 10 - 01), YearStart::default());
        assert_eq!(s, State::Missing);
        assert!(!s.allows());
        assert!(s.needs_asking());
    }

    #[test]
    fn withdrawal_takes_effect_at_once_and_stands() {
        let start = YearStart::default();
        let history = [
            r(Purpose::SocialMedia, Answer::Given, date!(2026 - 09 - 05), 100),
            r(Purpose::Displays, Answer::Given, date!(2026 - 09 - 05), 100),
            r(Purpose::SocialMedia, Answer::Withdrawn, date!(2026 - 11 - 02), 200),
        ];
        assert_eq!(
            state(&history, Purpose::SocialMedia, date!(2026 - 11 - 01), start),
            State::Given
        );
        assert_eq!(
            state(&history, Purpose::SocialMedia, date!(2026 - 11 - 02), start),
            State::Withdrawn
        );
        // Other purposes are untouched.
        assert_eq!(
            state(&history, Purpose::Displays, date!(2026 - 11 - 02), start),
            State::Given
        );
        // Next year the withdrawal still stands; it does not become "ask again".
        assert_eq!(
            state(&history, Purpose::SocialMedia, date!(2027 - 09 - 10), start),
            State::Withdrawn
        );
    }

    #[test]
    fn the_later_record_of_one_day_decides() {
        let start = YearStart::default();
        let day = date!(2026 - 10 - 01);
        let history = [
            r(Purpose::Video, Answer::Given, day, 300),
            r(Purpose::Video, Answer::Refused, day, 100),
        ];
        assert_eq!(state(&history, Purpose::Video, day, start), State::Given);
    }

    #[test]
    fn answers_lapse_at_the_academic_year_boundary() {
        let start = YearStart::default();
        let history = [r(Purpose::Newspaper, Answer::Given, date!(2025 - 09 - 10), 1)];
        assert_eq!(
            state(&history, Purpose::Newspaper, date!(2026 - 08 - 31), start),
            State::Given
        );
        assert_eq!(
            state(&history, Purpose::Newspaper, date!(2026 - 09 - 01), start),
            State::Lapsed
        );
        assert!(!State::Lapsed.allows());
    }

    #[test]
    fn consent_csv_round_trips_in_both_shapes() {
        let wide = "UPN,Forename,Date,Parent,School website,Social media,Newspaper\n\
                    A123,Amy,05/09/2026,Mrs Khan,yes,no,\n\
                    B456,Ben,2026-09-06,Mr Hall,Y,Y,N\n";
        let answers = parse_consents("consents.csv", wide.as_bytes()).expect("good file");
        assert_eq!(answers.len(), 5);
        assert_eq!(answers[0].purpose, Purpose::Website);
        assert_eq!(answers[1].answer, Answer::Refused);
        assert_eq!(answers[0].on, date!(2026 - 09 - 05));
        let rows: Vec<AnswerRow> = answers
            .iter()
            .map(|a| AnswerRow {
                pupil: a.pupil.clone(),
                name: "x".into(),
                purpose: a.purpose,
                answer: a.answer,
                on: a.on,
                given_by: a.given_by.clone(),
            })
            .collect();
        let long = parse_consents("export.csv", consents_csv(&rows).as_bytes()).expect("export reads back");
        let key = |a: &ImportedAnswer| (a.pupil.clone(), a.purpose, a.answer, a.on, a.given_by.clone());
        assert_eq!(
            long.iter().map(key).collect::<Vec<_>>(),
            answers.iter().map(key).collect::<Vec<_>>()
        );
    }

    #[test]
    fn an_export_defuses_formulas_and_reads_back_as_it_was() {
        let row = AnswerRow {
            pupil: "A1".into(),
            name: "=cmd|' /C calc'!A0".into(),
            purpose: Purpose::Video,
            answer: Answer::Given,
            on: date!(2026 - 09 - 05),
            given_by: "@SUM(1+1)".into(),
        };
        let text = consents_csv(std::slice::from_ref(&row));
        assert!(text.contains("'=cmd") && text.contains("'@SUM"), "{text}");
        let back = parse_consents("export.csv", text.as_bytes()).expect("reads");
        assert_eq!(back[0].given_by, "@SUM(1+1)");
    }

    #[test]
    fn bad_consent_rows_are_all_named_by_line() {
        let text = "Pupil,Purpose,Answer,Date\n\
                    A123,website,given,2026-09-05\n\
                    ,colour photos,perhaps,yesterday\n\
                    B456,video,maybe,2026-09-05\n";
        let e = parse_consents("c.csv", text.as_bytes()).unwrap_err();
        let lines: Vec<u64> = e.errors.iter().map(|e| e.line).collect();
        assert_eq!(lines, [3, 3, 3, 4], "{e}");
        let no_date = parse_consents("c.csv", "Pupil,Website\nA1,yes\n".as_bytes()).unwrap_err();
        assert_eq!(no_date.errors[0].line, 1);
    }

    #[test]
    fn purposes_read_from_names_labels_and_headers() {
        for p in Purpose::ALL {
            assert_eq!(p.as_str().parse::<Purpose>(), Ok(p));
            assert_eq!(p.label().parse::<Purpose>(), Ok(p));
        }
        assert_eq!(Purpose::from_header("Social Media"), Some(Purpose::SocialMedia));
        assert_eq!(Purpose::from_header("colour"), None);
        assert_eq!(Answer::parse(" Yes "), Some(Answer::Given));
        assert_eq!(Answer::parse("maybe"), None);
    }
}
