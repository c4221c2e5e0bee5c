//! Rules for importing people from the CSV that a school's MIS exports.
//!
//! MIS systems (SIMS, Arbor, Bromcom, ScholarPack…) export pupils and staff with their own
//! header spellings, so headers are matched loosely: case, spaces and punctuation are
//! ignored and the common names of each column are accepted (see [`Column`]). A file goes
//! in whole or not at all: [`parse`] returns every bad row with its line number and reason,
//! so that the person fixing the export sees all the problems at once.
//!
//! | column | accepted headers | needed |
//! |---|---|---|
//! | forename | `Forename`, `First name`, `Legal forename`, `Preferred forename`, `Given name` | yes |
//! | surname | `Surname`, `Last name`, `Legal surname`, `Preferred surname`, `Family name` | yes |
//! | year group | `Year`, `Year group`, `NC year`, `Curriculum year` | pupils |
//! | UPN | `UPN`, `Unique pupil number` | pupils (or an ID) |
//! | staff code | `Staff code`, `Staff ID`, `Employee number`, `Payroll number` | staff (or an ID or email) |
//! | ID | `ID`, `MIS ID`, `Identifier`, `Admission number`, `Adno` | |
//! | email | `Email`, `Email address`, `School email`, `Work email` | |
//! | type | `Type`, `Person type`, `Kind` (`pupil`, `student`, `staff`, `governor`) | |
//! | date of birth | `DOB`, `Date of birth`, `Birth date` (`2016-09-01` or `01/09/2016`) | |
//! | class | `Reg group`, `Registration group`, `Class`, `Form`, `Tutor group` | |
//! | roles | `Role`, `Roles` (schoolgate role names or labels, separated by `;`) | |
//! | job title | `Job title`, `Position` | |
//!
//! Without a type column, a row with a UPN or a year group is a pupil and any other row a
//! member of staff. A re-import updates people by their identifier; the store marks as
//! leavers the people of the kinds in the file who are not in it.

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::io::Read;

use time::Date;
use time::macros::format_description;

use crate::people::{PersonKind, YearGroup};
use crate::roles::Role;

/// A column schoolgate understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Column {
    Forename,
    Surname,
    Year,
    Upn,
    StaffCode,
    Id,
    Email,
    Type,
    DateOfBirth,
    Class,
    Roles,
    JobTitle,
}

impl Column {
    fn from_header(header: &str) -> Option<Column> {
        let key: String = header
            .chars()
            .filter(|c| c.is_alphanumeric())
            .flat_map(char::to_lowercase)
            .collect();
        Some(match key.as_str() {
            "forename" | "firstname" | "legalforename" | "preferredforename" | "givenname" | "first" => {
                Column::Forename
            }
            "surname" | "lastname" | "legalsurname" | "preferredsurname" | "familyname" | "last" => Column::Surname,
            "year" | "yeargroup" | "ncyear" | "yr" | "curriculumyear" | "nationalcurriculumyear" => Column::Year,
            "upn" | "uniquepupilnumber" => Column::Upn,
            "staffcode" | "staffid" | "employeenumber" | "payrollnumber" | "staffreference" => Column::StaffCode,
            "id" | "misid" | "identifier" | "personid" | "externalid" | "admissionnumber" | "adno" => Column::Id,
            "email" | "emailaddress" | "schoolemail" | "workemail" => Column::Email,
            "type" | "persontype" | "kind" => Column::Type,
            "dob" | "dateofbirth" | "birthdate" => Column::DateOfBirth,
            "reggroup" | "registrationgroup" | "class" | "form" | "tutorgroup" | "formgroup" => Column::Class,
            "role" | "roles" => Column::Roles,
            "jobtitle" | "position" => Column::JobTitle,
            _ => return None,
        })
    }
}

/// A person read from a good row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportedPerson {
    /// Line of the file the row came from (the header is line 1).
    pub line: u64,
    pub kind: PersonKind,
    /// The MIS identifier: UPN for pupils where there is one, else the staff code or ID.
    pub identifier: String,
    pub given_name: String,
    pub family_name: String,
    pub year: Option<YearGroup>,
    pub email: Option<String>,
    pub date_of_birth: Option<Date>,
    pub class: Option<String>,
    /// `None` when the file has no roles column: existing roles are kept.
    pub roles: Option<Vec<Role>>,
    pub job_title: Option<String>,
}

/// A whole file that can be imported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportBatch {
    pub people: Vec<ImportedPerson>,
    /// The kinds of person the file holds: only these can be marked leavers by it.
    pub kinds: BTreeSet<PersonKind>,
}

/// One reason a file was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    /// Line of the file; 1 is the header.
    pub line: u64,
    pub reason: String,
}

impl fmt::Display for RowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.reason)
    }
}

/// Every reason a file was refused, in line order.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ImportRejected {
    pub origin: String,
    pub errors: Vec<RowError>,
}

impl fmt::Display for ImportRejected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} was not imported: {} problem(s), nothing was changed",
            self.origin,
            self.errors.len()
        )?;
        for e in &self.errors {
            writeln!(f, "  {}: {e}", self.origin)?;
        }
        Ok(())
    }
}

/// Reads a whole MIS export. `origin` names the file in errors.
pub fn parse<R: Read>(origin: &str, input: R) -> Result<ImportBatch, ImportRejected> {
    let reject = |errors| ImportRejected {
        origin: origin.to_owned(),
        errors,
    };
    let mut reader = csv::ReaderBuilder::new()
        .flexible(false)
        .trim(csv::Trim::All)
        .from_reader(input);
    let headers = match reader.headers() {
        Ok(h) => h.clone(),
        Err(e) => {
            return Err(reject(vec![RowError {
                line: 1,
                reason: format!("the header row cannot be read: {e}"),
            }]));
        }
    };
    let mut columns: HashMap<Column, usize> = HashMap::new();
    for (i, h) in headers.iter().enumerate() {
        if let Some(c) = Column::from_header(h) {
            columns.entry(c).or_insert(i);
        }
    }
    let missing: Vec<&str> = [
        (Column::Forename, "a forename column"),
        (Column::Surname, "a surname column"),
    ]
    .into_iter()
    .filter(|(c, _)| !columns.contains_key(c))
    .map(|(_, name)| name)
    .collect();
    if !missing.is_empty() {
        let found = headers.iter().collect::<Vec<_>>().join(", ");
        let reason = format!("the header has no {} (found: {found})", missing.join(" and no "));
        return Err(reject(vec![RowError { line: 1, reason }]));
    }

    let mut people = Vec::new();
    let mut errors = Vec::new();
    let mut seen: HashMap<(PersonKind, String), u64> = HashMap::new();
    for record in reader.records() {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map(|p| p.line()).unwrap_or(0);
                errors.push(RowError {
                    line,
                    reason: csv_reason(&e),
                });
                continue;
            }
        };
        let line = record.position().map(|p| p.line()).unwrap_or(0);
        if record.iter().all(str::is_empty) {
            continue;
        }
        let cell = |c: Column| {
            columns
                .get(&c)
                .and_then(|&i| record.get(i))
                .map(str::trim)
                .filter(|v| !v.is_empty())
        };
        match read_row(line, &cell, columns.contains_key(&Column::Roles)) {
            Ok(p) => {
                let key = (p.kind, p.identifier.to_ascii_uppercase());
                if let Some(first) = seen.get(&key) {
                    errors.push(RowError {
                        line,
                        reason: format!("identifier {} is already used on line {first}", p.identifier),
                    });
                } else {
                    seen.insert(key, line);
                    people.push(p);
                }
            }
            Err(reasons) => errors.extend(reasons.into_iter().map(|reason| RowError { line, reason })),
        }
    }
    if people.is_empty() && errors.is_empty() {
        errors.push(RowError {
            line: 1,
            reason: "the file has a header but no people".into(),
        });
    }
    if !errors.is_empty() {
        return Err(reject(errors));
    }
    let kinds = people.iter().map(|p| p.kind).collect();
    Ok(ImportBatch { people, kinds })
}

/// The header and the good rows of a CSV file, each row with its line, for the registers'
/// importers; rows that cannot be read at all are in the errors, by line.
pub(crate) struct Table {
    pub headers: Vec<String>,
    pub rows: Vec<(u64, csv::StringRecord)>,
    pub errors: Vec<RowError>,
}

pub(crate) fn read_table<R: Read>(origin: &str, input: R) -> Result<Table, ImportRejected> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(false)
        .trim(csv::Trim::All)
        .from_reader(input);
    let headers = match reader.headers() {
        Ok(h) => h.iter().map(|h| h.trim_start_matches('\u{feff}').to_owned()).collect(),
        Err(e) => {
            return Err(ImportRejected {
                origin: origin.to_owned(),
                errors: vec![RowError {
                    line: 1,
                    reason: format!("the header row cannot be read: {e}"),
                }],
            });
        }
    };
    let mut rows = Vec::new();
    let mut errors = Vec::new();
    for record in reader.records() {
        match record {
            Ok(r) if r.iter().all(str::is_empty) => {}
            Ok(r) => {
                let line = r.position().map(|p| p.line()).unwrap_or(0);
                // A cell our own export defused (`'=…`) reads back as it was.
                let cells: csv::StringRecord = r.iter().map(restore).collect();
                rows.push((line, cells));
            }
            Err(e) => errors.push(RowError {
                line: e.position().map(|p| p.line()).unwrap_or(0),
                reason: csv_reason(&e),
            }),
        }
    }
    Ok(Table { headers, rows, errors })
}

/// A cell for a CSV export: one that starts with `=`, `+`, `-` or `@` gets a leading `'`,
/// so that a spreadsheet shows it rather than running it as a formula. The registers'
/// importers take the `'` off again, so an export reads back as it was.
pub fn defuse(cell: &str) -> std::borrow::Cow<'_, str> {
    if cell.starts_with(['=', '+', '-', '@']) {
        std::borrow::Cow::Owned(format!("'{cell}"))
    } else {
        std::borrow::Cow::Borrowed(cell)
    }
}

fn restore(cell: &str) -> &str {
    match cell.strip_prefix('\'') {
        Some(rest) if rest.starts_with(['=', '+', '-', '@']) => rest,
        _ => cell,
    }
}

/// A header reduced to its letters and digits, lower case: `Serial No.` is `serialno`.
pub(crate) fn header_key(header: &str) -> String {
    header
        .chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

/// Reads yes or no as a spreadsheet writes it.
pub(crate) fn parse_yes_no(text: &str) -> Option<bool> {
    match text.trim().to_lowercase().as_str() {
        "yes" | "y" | "true" | "1" => Some(true),
        "no" | "n" | "false" | "0" => Some(false),
        _ => None,
    }
}

fn csv_reason(e: &csv::Error) -> String {
    match e.kind() {
        csv::ErrorKind::UnequalLengths { expected_len, len, .. } => {
            format!("the row has {len} fields but the header has {expected_len}")
        }
        csv::ErrorKind::Utf8 { .. } => "the row is not valid UTF-8 (save the export as CSV UTF-8)".into(),
        _ => format!("the row cannot be read: {e}"),
    }
}

fn read_row<'a>(
    line: u64,
    cell: &dyn Fn(Column) -> Option<&'a str>,
    has_roles_column: bool,
) -> Result<ImportedPerson, Vec<String>> {
    let mut problems = Vec::new();
    let given_name = cell(Column::Forename).unwrap_or_default();
    let family_name = cell(Column::Surname).unwrap_or_default();
    if given_name.is_empty() {
        problems.push("the forename is empty".to_owned());
    }
    if family_name.is_empty() {
        problems.push("the surname is empty".to_owned());
    }

    let upn = cell(Column::Upn);
    let kind = match cell(Column::Type) {
        Some(t) => match t.to_ascii_lowercase().as_str() {
            "pupil" | "student" | "child" | "learner" => Some(PersonKind::Pupil),
            "staff" | "employee" | "teacher" => Some(PersonKind::Staff),
            "governor" => Some(PersonKind::Governor),
            _ => {
                problems.push(format!("the type {t:?} is not one of pupil, staff or governor"));
                None
            }
        },
        None if upn.is_some() || cell(Column::Year).is_some() => Some(PersonKind::Pupil),
        None => Some(PersonKind::Staff),
    };

    if let Some(u) = upn
        && let Err(why) = check_upn(u)
    {
        problems.push(format!("the UPN {u:?} is not valid: {why}"));
    }

    let year = match cell(Column::Year) {
        Some(y) => match y.parse::<YearGroup>() {
            Ok(y) => Some(y),
            Err(_) => {
                problems.push(format!(
                    "the year group {y:?} is not one schoolgate knows (use R, N or 1 to 13)"
                ));
                None
            }
        },
        None => {
            if kind == Some(PersonKind::Pupil) {
                problems.push("a pupil needs a year group".to_owned());
            }
            None
        }
    };

    let email = cell(Column::Email).map(str::to_owned);
    if let Some(e) = &email
        && !looks_like_email(e)
    {
        problems.push(format!("the email {e:?} is not an email address"));
    }

    let date_of_birth = match cell(Column::DateOfBirth) {
        Some(d) => match parse_date(d) {
            Some(date) => Some(date),
            None => {
                problems.push(format!(
                    "the date of birth {d:?} is not a date (use 2016-09-01 or 01/09/2016)"
                ));
                None
            }
        },
        None => None,
    };

    let roles = if has_roles_column {
        let mut roles = Vec::new();
        for r in cell(Column::Roles)
            .unwrap_or_default()
            .split(';')
            .map(str::trim)
            .filter(|r| !r.is_empty())
        {
            match parse_role(r) {
                Some(role) => roles.push(role),
                None => problems.push(format!("the role {r:?} is not one schoolgate knows")),
            }
        }
        Some(roles)
    } else {
        None
    };

    let identifier = match kind {
        Some(PersonKind::Pupil) => upn.or(cell(Column::Id)),
        _ => cell(Column::StaffCode).or(cell(Column::Id)).or(email.as_deref()),
    };
    if identifier.is_none() {
        problems.push(match kind {
            Some(PersonKind::Pupil) => "the row has no identifier: a pupil needs a UPN or an ID".to_owned(),
            _ => "the row has no identifier: give a staff code, an ID or an email".to_owned(),
        });
    }

    match (kind, identifier) {
        (Some(kind), Some(identifier)) if problems.is_empty() => Ok(ImportedPerson {
            line,
            kind,
            identifier: identifier.to_owned(),
            given_name: given_name.to_owned(),
            family_name: family_name.to_owned(),
            year: if kind == PersonKind::Pupil { year } else { None },
            email,
            date_of_birth,
            class: cell(Column::Class).map(str::to_owned),
            roles,
            job_title: cell(Column::JobTitle).map(str::to_owned),
        }),
        _ => Err(problems),
    }
}

fn parse_role(text: &str) -> Option<Role> {
    let key: String = text
        .chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect();
    Role::ALL.into_iter().find(|r| {
        let name: String = r.as_str().chars().filter(|c| c.is_alphanumeric()).collect();
        let label: String = r
            .label()
            .chars()
            .filter(|c| c.is_alphanumeric())
            .flat_map(char::to_lowercase)
            .collect();
        key == name || key == label
    })
}

/// Reads a day as `YYYY-MM-DD` or the UK's `DD/MM/YYYY`.
pub fn parse_date(text: &str) -> Option<Date> {
    let iso = format_description!("[year]-[month]-[day]");
    let uk = format_description!("[day]/[month]/[year]");
    Date::parse(text, &iso).or_else(|_| Date::parse(text, &uk)).ok()
}

/// A light check that catches typing slips; delivery is the only real test of an address.
pub fn looks_like_email(text: &str) -> bool {
    let Some((local, domain)) = text.rsplit_once('@') else {
        return false;
    };
    !local.is_empty()
        && !local.contains('@')
        && !text.chars().any(|c| c.is_whitespace() || c == ',' || c == ';')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains('@')
}

const UPN_LETTERS: &[u8; 23] = b"ABCDEFGHJKLMNPQRTUVWXYZ";

/// Checks a Unique Pupil Number: 13 characters, a check letter then 11 digits then a digit
/// (or, for a temporary UPN, a letter). The check letter is the DfE's: each of characters
/// 2–13 times its position, summed, modulo 23, as a letter of `ABCDEFGHJKLMNPQRTUVWXYZ`.
pub fn check_upn(upn: &str) -> Result<(), &'static str> {
    let b = upn.as_bytes();
    if b.len() != 13 {
        return Err("a UPN has 13 characters");
    }
    if !b[1..12].iter().all(u8::is_ascii_digit) {
        return Err("characters 2 to 12 must be digits");
    }
    let last = match b[12] {
        d @ b'0'..=b'9' => u32::from(d - b'0'),
        l => match UPN_LETTERS.iter().position(|&x| x == l.to_ascii_uppercase()) {
            Some(i) => i as u32,
            None => return Err("the last character must be a digit or a letter"),
        },
    };
    let sum: u32 = b[1..12]
        .iter()
        .zip(2u32..)
        .map(|(d, pos)| u32::from(d - b'0') * pos)
        .sum::<u32>()
        + last * 13;
    if b[0].to_ascii_uppercase() != UPN_LETTERS[(sum % 23) as usize] {
        return Err("the check letter does not match");
    }
    Ok(())
}

/// Makes a valid UPN for a local authority, school and serial number: for fictional data.
pub fn make_upn(la: u16, school: u16, year: u8, serial: u16) -> String {
    let digits = format!(
        "{:03}{:04}{:02}{:03}",
        la % 1000,
        school % 10000,
        year % 100,
        serial % 1000
    );
    let sum: u32 = digits
        .bytes()
        .zip(2u32..)
        .map(|(d, pos)| u32::from(d - b'0') * pos)
        .sum();
    format!("{}{digits}", char::from(UPN_LETTERS[(sum % 23) as usize]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(csv: &str) -> ImportBatch {
        parse("test.csv", csv.as_bytes()).unwrap_or_else(|e| panic!("{e}"))
    }

    fn errors(csv: &str) -> Vec<(u64, String)> {
        parse("test.csv", csv.as_bytes())
            .expect_err("should be rejected")
            .errors
            .into_iter()
            .map(|e| (e.line, e.reason))
            .collect()
    }

    fn upn(n: u16) -> String {
        make_upn(823, 2001, 19, n)
    }

    #[test]
    fn a_sims_style_pupil_export_imports() {
        let csv = format!(
            "UPN,Legal Surname,Legal Forename,Year,Reg Group,DOB\n{},Okafor,Ada,R,RB,2020-10-01\n{},Nowak,Piotr,Year 4,4T,14/03/2016\n",
            upn(1),
            upn(2)
        );
        let b = ok(&csv);
        assert_eq!(b.people.len(), 2);
        assert_eq!(b.kinds, BTreeSet::from([PersonKind::Pupil]));
        let ada = &b.people[0];
        assert_eq!((ada.given_name.as_str(), ada.family_name.as_str()), ("Ada", "Okafor"));
        assert_eq!(ada.year, Some(YearGroup::RECEPTION));
        assert_eq!(ada.class.as_deref(), Some("RB"));
        assert_eq!(ada.line, 2);
        assert_eq!(b.people[1].date_of_birth, Some(time::macros::date!(2016 - 03 - 14)));
        assert_eq!(b.people[1].roles, None);
    }

    #[test]
    fn common_header_spellings_are_accepted() {
        for header in [
            "First name,Last name,Year group,UPN",
            "forename,SURNAME,NC Year,Unique Pupil Number",
            "Given name,Family name,yr,upn",
        ] {
            let b = ok(&format!("{header}\nAda,Okafor,3,{}\n", upn(9)));
            assert_eq!(b.people[0].year.map(|y| y.number()), Some(3), "{header}");
        }
    }

    #[test]
    fn a_staff_export_with_roles_imports() {
        let b = ok(
            "Staff code,First name,Last name,Email,Role\nJBR,June,Brook,j.brook@demo.example,Teacher\nHMA,Hana,Malik,h.malik@demo.example,Designated Safeguarding Lead; teacher\n",
        );
        assert_eq!(b.kinds, BTreeSet::from([PersonKind::Staff]));
        assert_eq!(b.people[1].roles, Some(vec![Role::Dsl, Role::Teacher]));
        assert_eq!(b.people[0].identifier, "JBR");
    }

    #[test]
    fn a_mixed_file_is_split_by_its_type_column() {
        let b = ok(&format!(
            "Type,ID,Forename,Surname,Year\npupil,{},Ada,Okafor,2\nstaff,T1,June,Brook,\n",
            upn(3)
        ));
        assert_eq!(b.people[0].kind, PersonKind::Pupil);
        assert_eq!(b.people[1].kind, PersonKind::Staff);
    }

    #[test]
    fn every_bad_row_is_listed_with_its_line_and_reason() {
        let csv = format!(
            "UPN,Forename,Surname,Year,Email,DOB\n\
             {good},Ada,Okafor,3,,\n\
             {u2},,Nowak,3,,\n\
             {u3},Piotr,,3,,\n\
             A12345678901X,Sam,Lee,3,,\n\
             {u5},Mo,Ali,Year 15,,\n\
             {u6},Zoe,Hart,,,\n\
             {u7},Kit,Fox,2,kit-at-home,\n\
             {u8},Ivy,Moss,2,,31/02/2016\n\
             {good},Ada,Again,3,,\n\
             {u9},Too,Many,3,,,extra\n",
            good = upn(1),
            u2 = upn(2),
            u3 = upn(3),
            u5 = upn(5),
            u6 = upn(6),
            u7 = upn(7),
            u8 = upn(8),
            u9 = upn(9),
        );
        let errs = errors(&csv);
        let lines: Vec<u64> = errs.iter().map(|e| e.0).collect();
        assert_eq!(lines, vec![3, 4, 5, 6, 7, 8, 9, 10, 11], "{errs:#?}");
        let text = |line: u64| {
            errs.iter()
                .find(|e| e.0 == line)
                .map(|e| e.1.clone())
                .unwrap_or_default()
        };
        assert!(text(3).contains("forename is empty"));
        assert!(text(4).contains("surname is empty"));
        assert!(text(5).contains("UPN"));
        assert!(text(6).contains("year group \"Year 15\""));
        assert!(text(7).contains("needs a year group"));
        assert!(text(8).contains("email"));
        assert!(text(9).contains("date of birth"));
        assert!(text(10).contains("already used on line 2"));
        assert!(text(11).contains("7 fields but the header has 6"));
    }

    #[test]
    fn a_row_with_no_identifier_is_refused() {
        assert_eq!(
            errors("Forename,Surname,Year\nAda,Okafor,3\n")[0].1,
            "the row has no identifier: a pupil needs a UPN or an ID"
        );
        assert_eq!(
            errors("Forename,Surname\nJune,Brook\n")[0].1,
            "the row has no identifier: give a staff code, an ID or an email"
        );
    }

    #[test]
    fn unknown_types_and_roles_are_refused() {
        let e = errors("Type,ID,Forename,Surname,Role\nalien,X1,Zed,Zork,\nstaff,T1,June,Brook,Wizard\n");
        assert!(e[0].1.contains("type \"alien\""), "{e:?}");
        assert!(e[1].1.contains("role \"Wizard\""), "{e:?}");
    }

    #[test]
    fn a_header_without_names_is_refused_on_line_one() {
        let e = errors("UPN,Year\nX,3\n");
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].0, 1);
        assert!(e[0].1.contains("no a forename column and no a surname column") || e[0].1.contains("forename column"));
    }

    #[test]
    fn an_empty_file_is_refused() {
        assert_eq!(
            errors("Forename,Surname,Year\n")[0].1,
            "the file has a header but no people"
        );
        assert_eq!(errors("")[0].0, 1);
    }

    #[test]
    fn invalid_utf8_is_refused_with_advice() {
        let mut bytes = b"Forename,Surname,ID\n".to_vec();
        bytes.extend_from_slice(b"Ad\xe9le,Martin,P1\n");
        let e = parse("t.csv", bytes.as_slice()).expect_err("refused").errors;
        assert_eq!(e[0].line, 2);
        assert!(e[0].reason.contains("UTF-8"));
    }

    #[test]
    fn upn_check_letters_follow_the_dfe_rule() {
        for n in 0..50 {
            assert_eq!(check_upn(&upn(n)), Ok(()));
        }
        let good = upn(1);
        let mut bad = good.clone().into_bytes();
        bad[5] = if bad[5] == b'9' { b'8' } else { b'9' };
        assert!(check_upn(std::str::from_utf8(&bad).unwrap_or_default()).is_err());
        assert!(check_upn("A1234").is_err());
    }

    #[test]
    fn email_check_catches_typing_slips() {
        assert!(looks_like_email("j.brook@demo.example"));
        for bad in [
            "j.brook",
            "@demo.example",
            "j brook@demo.example",
            "j@demo",
            "j@demo.",
            "a@b@c.d",
        ] {
            assert!(!looks_like_email(bad), "{bad}");
        }
    }
}
