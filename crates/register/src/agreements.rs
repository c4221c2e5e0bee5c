//! Acceptable use agreements: who signs which text, what a signature records, and whether
//! the one a person has is still current.
//!
//! A school keeps one agreement per audience (DFE-CS-01: everyone with access to the network
//! signs up to it, guests and supply staff included), each versioned. A signature holds the
//! person, the version, the day and how it was given. It is *current* while it was given in
//! this academic year and no later version of the same audience asks everyone to sign again.
//! The filtering gate (`policy::gate`) asks only for that yes or no; the texts schoolgate
//! ships say plainly that the internet is filtered and monitored (DFE-FM-4.05).

use std::fmt;
use std::str::FromStr;

use time::{Date, Month};

use crate::people::{KeyStage, PersonKind, UnknownValue, YearGroup};

/// Who an agreement is written for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Audience {
    EarlyYears,
    Ks1,
    Ks2,
    Staff,
    /// Supply and temporary staff, students on placement and visitors.
    Visitors,
    ParentsCarers,
    /// Groups who use the premises or network: clubs, parent groups, lettings.
    ExternalGroups,
}

impl Audience {
    pub const ALL: [Audience; 7] = [
        Audience::EarlyYears,
        Audience::Ks1,
        Audience::Ks2,
        Audience::Staff,
        Audience::Visitors,
        Audience::ParentsCarers,
        Audience::ExternalGroups,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Audience::EarlyYears => "early_years",
            Audience::Ks1 => "ks1",
            Audience::Ks2 => "ks2",
            Audience::Staff => "staff",
            Audience::Visitors => "visitors",
            Audience::ParentsCarers => "parents",
            Audience::ExternalGroups => "external",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Audience::EarlyYears => "Early years pupils",
            Audience::Ks1 => "Key Stage 1 pupils",
            Audience::Ks2 => "Key Stage 2 pupils",
            Audience::Staff => "Staff",
            Audience::Visitors => "Supply staff and visitors",
            Audience::ParentsCarers => "Parents and carers",
            Audience::ExternalGroups => "External groups",
        }
    }

    /// The agreement a person of this kind and year signs for themselves. Parents and
    /// external groups are not people in the register, so no person maps to them; older
    /// pupils (in an all-through school) sign the Key Stage 2 text until the school writes
    /// its own.
    pub fn for_person(kind: PersonKind, year: Option<YearGroup>) -> Audience {
        match kind {
            PersonKind::Pupil => match year.map(YearGroup::key_stage) {
                Some(KeyStage::Eyfs) => Audience::EarlyYears,
                Some(KeyStage::Ks1) => Audience::Ks1,
                _ => Audience::Ks2,
            },
            PersonKind::Staff | PersonKind::Governor => Audience::Staff,
            PersonKind::Visitor => Audience::Visitors,
        }
    }

    /// The agreements signed for a person of this kind and year: their own, and for a pupil
    /// also the parents' and carers' one (a parent signs it for each child, so the register
    /// keeps it with the pupil). The first is the person's own, the one the gate asks for.
    pub fn required_of(kind: PersonKind, year: Option<YearGroup>) -> Vec<Audience> {
        let own = Audience::for_person(kind, year);
        if kind == PersonKind::Pupil {
            vec![own, Audience::ParentsCarers]
        } else {
            vec![own]
        }
    }

    /// Whether a signature of this audience can be recorded for a person of this kind: the
    /// ones they need, and for a visitor also an external group's (a visitor who runs a club
    /// signs for the group).
    pub fn signable_by(self, kind: PersonKind, year: Option<YearGroup>) -> bool {
        Audience::required_of(kind, year).contains(&self)
            || (self == Audience::ExternalGroups && kind == PersonKind::Visitor)
    }

    /// Whether the signature is given by someone other than the person in the register (a
    /// parent or carer, a group's organiser), whose name is then kept with it.
    pub fn signed_by_another(self) -> bool {
        matches!(self, Audience::ParentsCarers | Audience::ExternalGroups)
    }

    /// The pupils' agreements: a parent or carer may sign these on the child's behalf.
    pub fn is_pupils(self) -> bool {
        matches!(self, Audience::EarlyYears | Audience::Ks1 | Audience::Ks2)
    }

    /// The text schoolgate ships for this audience, modelled on what the appendices of
    /// school online safety policies ask each audience to promise. A school replaces it by
    /// publishing a version of its own.
    pub fn default_text(self) -> &'static str {
        match self {
            Audience::EarlyYears => include_str!("../agreements/early_years.md"),
            Audience::Ks1 => include_str!("../agreements/ks1.md"),
            Audience::Ks2 => include_str!("../agreements/ks2.md"),
            Audience::Staff => include_str!("../agreements/staff.md"),
            Audience::Visitors => include_str!("../agreements/visitors.md"),
            Audience::ParentsCarers => include_str!("../agreements/parents.md"),
            Audience::ExternalGroups => include_str!("../agreements/external.md"),
        }
    }
}

impl fmt::Display for Audience {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

impl FromStr for Audience {
    type Err = UnknownValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Audience::ALL
            .into_iter()
            .find(|a| a.as_str() == s)
            .ok_or_else(|| UnknownValue::new("agreement audience", s))
    }
}

/// How a signature was given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    /// The person signed in to the console and agreed.
    Console,
    /// A parent or carer agreed on a pupil's behalf.
    ParentOrCarer,
    /// A paper form, recorded by a member of staff (who is in the record).
    Paper,
}

impl Method {
    pub const ALL: [Method; 3] = [Method::Console, Method::ParentOrCarer, Method::Paper];

    pub fn as_str(self) -> &'static str {
        match self {
            Method::Console => "console",
            Method::ParentOrCarer => "parent",
            Method::Paper => "paper",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Method::Console => "Signed in the console",
            Method::ParentOrCarer => "Signed by a parent or carer",
            Method::Paper => "Paper form",
        }
    }
}

impl FromStr for Method {
    type Err = UnknownValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Method::ALL
            .into_iter()
            .find(|m| m.as_str() == s)
            .ok_or_else(|| UnknownValue::new("signature method", s))
    }
}

/// The day the school's academic year begins; every yearly record renews from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct YearStart {
    pub month: Month,
    pub day: u8,
}

impl Default for YearStart {
    /// 1 September, as in English schools.
    fn default() -> Self {
        YearStart {
            month: Month::September,
            day: 1,
        }
    }
}

impl YearStart {
    /// Reads `MM-DD`, as written in the configuration.
    pub fn parse(text: &str) -> Result<YearStart, String> {
        let bad = || format!("{text:?} is not a month and day such as 09-01");
        let (m, d) = text.trim().split_once('-').ok_or_else(bad)?;
        let month = m
            .parse::<u8>()
            .ok()
            .and_then(|m| Month::try_from(m).ok())
            .ok_or_else(bad)?;
        let day = d.parse::<u8>().map_err(|_| bad())?;
        // Checked against a year that is not a leap year: 29 February would skip three
        // years in four, so it is refused rather than guessed at.
        if Date::from_calendar_date(2025, month, day).is_err() {
            return Err(bad());
        }
        Ok(YearStart { month, day })
    }

    /// The academic year `day` falls in.
    pub fn year_of(self, day: Date) -> AcademicYear {
        let start = self.start_in(day.year());
        AcademicYear(if day >= start { day.year() } else { day.year() - 1 })
    }

    /// The first day of the academic year that begins in calendar year `year`.
    pub fn start_in(self, year: i32) -> Date {
        Date::from_calendar_date(year, self.month, self.day)
            .or_else(|_| Date::from_calendar_date(year, self.month, 28))
            .unwrap_or(Date::MIN)
    }

    /// The first day of `year`.
    pub fn first_day(self, year: AcademicYear) -> Date {
        self.start_in(year.0)
    }

    /// The first day of the year after `year`: when this year's records fall due again.
    pub fn renewal_day(self, year: AcademicYear) -> Date {
        self.start_in(year.0 + 1)
    }
}

/// An academic year, named by the calendar year it starts in (2026 is 2026/27).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AcademicYear(pub i32);

impl fmt::Display for AcademicYear {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{:02}", self.0, (self.0 + 1).rem_euclid(100))
    }
}

/// One published version of an audience's agreement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    pub number: u32,
    pub published_on: Date,
    /// Everyone who signed an earlier version must sign this one, even within the year.
    pub requires_resign: bool,
}

/// What a person's signature is for: the version and the day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Signed {
    pub version: u32,
    pub on: Date,
}

/// Where a person stands with their agreement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// Signed this academic year, and no newer version asks for a new signature.
    Current,
    /// Never signed.
    NotSigned,
    /// Last signed in an earlier academic year: renewal is due.
    Renew,
    /// Signed this year, but a newer version asks everyone to sign again.
    NewVersion,
    /// The school has published no agreement for this audience, so there is nothing to sign.
    NoAgreement,
}

impl Standing {
    /// Whether the person may be let through an agreement gate.
    pub fn is_current(self) -> bool {
        matches!(self, Standing::Current | Standing::NoAgreement)
    }

    pub fn label(self) -> &'static str {
        match self {
            Standing::Current => "Signed",
            Standing::NotSigned => "Not signed",
            Standing::Renew => "Due for renewal this year",
            Standing::NewVersion => "New version to sign",
            Standing::NoAgreement => "No agreement published",
        }
    }
}

/// Where a person stands on `today`, from the audience's published versions and their
/// latest signature (of any version). Versions published after `today` do not count yet.
pub fn standing(versions: &[Version], signed: Option<Signed>, today: Date, start: YearStart) -> Standing {
    let published = versions.iter().filter(|v| v.published_on <= today);
    let Some(latest) = published.clone().map(|v| v.number).max() else {
        return Standing::NoAgreement;
    };
    let Some(signed) = signed else {
        return Standing::NotSigned;
    };
    if start.year_of(signed.on) < start.year_of(today) {
        return Standing::Renew;
    }
    let must_resign = published
        .filter(|v| v.requires_resign && v.number > signed.version)
        .map(|v| v.number)
        .max();
    match must_resign {
        Some(n) if n <= latest => Standing::NewVersion,
        _ => Standing::Current,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    fn v(number: u32, published_on: Date, requires_resign: bool) -> Version {
        Version {
            number,
            published_on,
            requires_resign,
        }
    }

    #[test]
    fn every_audience_has_a_text_that_says_the_internet_is_filtered_and_monitored() {
        // DFE-FM-4.05, UKSIC-M-SF-08: everyone who signs is told.
        for a in Audience::ALL {
            let text = a.default_text().to_lowercase();
            assert!(text.len() > 200, "{a} text is too short");
            assert!(
                text.contains("monitor") || text.contains("can see"),
                "{a} text does not say use is monitored"
            );
            assert_eq!(a.as_str().parse::<Audience>(), Ok(a));
        }
        for a in [Audience::Ks1, Audience::Ks2, Audience::Staff, Audience::Visitors] {
            let text = a.default_text().to_lowercase();
            assert!(
                text.contains("filter") || text.contains("blocks"),
                "{a} text does not say filtered"
            );
        }
    }

    #[test]
    fn pupils_sign_the_text_for_their_key_stage() {
        let year = |s: &str| Some(s.parse::<YearGroup>().expect("year"));
        assert_eq!(
            Audience::for_person(PersonKind::Pupil, year("Reception")),
            Audience::EarlyYears
        );
        assert_eq!(Audience::for_person(PersonKind::Pupil, year("Year 2")), Audience::Ks1);
        assert_eq!(Audience::for_person(PersonKind::Pupil, year("Year 6")), Audience::Ks2);
        assert_eq!(Audience::for_person(PersonKind::Governor, None), Audience::Staff);
        assert_eq!(Audience::for_person(PersonKind::Visitor, None), Audience::Visitors);
    }

    #[test]
    fn a_pupil_needs_their_own_and_their_parents_agreement() {
        let year = Some("Year 3".parse::<YearGroup>().expect("year"));
        assert_eq!(
            Audience::required_of(PersonKind::Pupil, year),
            [Audience::Ks2, Audience::ParentsCarers]
        );
        assert_eq!(Audience::required_of(PersonKind::Staff, None), [Audience::Staff]);
        assert!(Audience::ParentsCarers.signable_by(PersonKind::Pupil, year));
        assert!(!Audience::ParentsCarers.signable_by(PersonKind::Staff, None));
        assert!(Audience::ExternalGroups.signable_by(PersonKind::Visitor, None));
        assert!(!Audience::Staff.signable_by(PersonKind::Pupil, year));
    }

    #[test]
    fn the_academic_year_turns_over_on_its_first_day() {
        let s = YearStart::default();
        assert_eq!(s.year_of(date!(2026 - 08 - 31)), AcademicYear(2025));
        assert_eq!(s.year_of(date!(2026 - 09 - 01)), AcademicYear(2026));
        assert_eq!(s.year_of(date!(2027 - 01 - 15)), AcademicYear(2026));
        assert_eq!(AcademicYear(2026).to_string(), "2026/27");
        assert_eq!(AcademicYear(2099).to_string(), "2099/00");
        let august = YearStart::parse("08-15").expect("start");
        assert_eq!(august.year_of(date!(2026 - 08 - 14)), AcademicYear(2025));
        assert_eq!(august.year_of(date!(2026 - 08 - 15)), AcademicYear(2026));
        for bad in ["", "9", "13-01", "02-29", "09-31", "09-00", "x-y"] {
            assert!(YearStart::parse(bad).is_err(), "{bad:?} accepted");
        }
        assert_eq!(YearStart::parse("09-30").map(|s| s.day), Ok(30));
    }

    #[test]
    fn a_signature_lapses_when_the_academic_year_turns_over() {
        let s = YearStart::default();
        let versions = [v(1, date!(2025 - 07 - 01), false)];
        let signed = Some(Signed {
            version: 1,
            on: date!(2025 - 09 - 03),
        });
        assert_eq!(standing(&versions, signed, date!(2026 - 08 - 31), s), Standing::Current);
        assert_eq!(standing(&versions, signed, date!(2026 - 09 - 01), s), Standing::Renew);
        assert!(!Standing::Renew.is_current());
        assert_eq!(standing(&versions, None, date!(2026 - 09 - 01), s), Standing::NotSigned);
    }

    #[test]
    fn a_new_version_asks_again_only_when_it_says_so_and_once_published() {
        let s = YearStart::default();
        let signed = Some(Signed {
            version: 1,
            on: date!(2026 - 09 - 10),
        });
        let minor = [v(1, date!(2026 - 07 - 01), false), v(2, date!(2026 - 10 - 01), false)];
        assert_eq!(standing(&minor, signed, date!(2026 - 11 - 01), s), Standing::Current);
        let major = [v(1, date!(2026 - 07 - 01), false), v(2, date!(2026 - 10 - 01), true)];
        assert_eq!(standing(&major, signed, date!(2026 - 09 - 30), s), Standing::Current);
        assert_eq!(standing(&major, signed, date!(2026 - 10 - 01), s), Standing::NewVersion);
        let resigned = Some(Signed {
            version: 2,
            on: date!(2026 - 10 - 02),
        });
        assert_eq!(standing(&major, resigned, date!(2026 - 10 - 02), s), Standing::Current);
        // Nothing published yet: nobody is held back by an agreement that does not exist.
        let future = [v(1, date!(2027 - 01 - 01), false)];
        assert_eq!(standing(&future, None, date!(2026 - 10 - 02), s), Standing::NoAgreement);
        assert!(Standing::NoAgreement.is_current());
    }
}
