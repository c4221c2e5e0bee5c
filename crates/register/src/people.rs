//! People and groups: who is in a school, which group decides their filtering, and
//! what kind of person they are.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Identifies a school. Every stored record carries one, so that one PostgreSQL can hold
/// a whole trust.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct SchoolId(pub i64);

/// Identifies a group within a school.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct GroupId(pub i64);

/// Identifies a person within a school.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct PersonId(pub i64);

/// Identifies a sign-in account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct AccountId(pub i64);

/// What a group is for; the filtering policy of a group is chosen with this in mind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum GroupKind {
    Pupil,
    Staff,
    Visitor,
}

impl GroupKind {
    pub fn as_str(self) -> &'static str {
        match self {
            GroupKind::Pupil => "pupil",
            GroupKind::Staff => "staff",
            GroupKind::Visitor => "visitor",
        }
    }
}

impl FromStr for GroupKind {
    type Err = UnknownValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "pupil" => Ok(GroupKind::Pupil),
            "staff" => Ok(GroupKind::Staff),
            "visitor" => Ok(GroupKind::Visitor),
            _ => Err(UnknownValue::new("group kind", s)),
        }
    }
}

/// What kind of person a record describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum PersonKind {
    Pupil,
    Staff,
    Governor,
    Visitor,
}

impl PersonKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PersonKind::Pupil => "pupil",
            PersonKind::Staff => "staff",
            PersonKind::Governor => "governor",
            PersonKind::Visitor => "visitor",
        }
    }

    /// The words a school uses for the kind, for pages and messages.
    pub fn label(self) -> &'static str {
        match self {
            PersonKind::Pupil => "Pupil",
            PersonKind::Staff => "Staff",
            PersonKind::Governor => "Governor",
            PersonKind::Visitor => "Visitor",
        }
    }
}

impl FromStr for PersonKind {
    type Err = UnknownValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "pupil" => Ok(PersonKind::Pupil),
            "staff" => Ok(PersonKind::Staff),
            "governor" => Ok(PersonKind::Governor),
            "visitor" => Ok(PersonKind::Visitor),
            _ => Err(UnknownValue::new("person kind", s)),
        }
    }
}

/// Whether a person is still at the school. Leavers are kept, never deleted: their records
/// (incidents, agreements, loans) outlive their time at the school.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum PersonStatus {
    Active,
    Leaver,
}

impl PersonStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            PersonStatus::Active => "active",
            PersonStatus::Leaver => "leaver",
        }
    }
}

impl FromStr for PersonStatus {
    type Err = UnknownValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "active" => Ok(PersonStatus::Active),
            "leaver" => Ok(PersonStatus::Leaver),
            _ => Err(UnknownValue::new("person status", s)),
        }
    }
}

/// A stored value that is not one the code knows: a newer schema, or a hand edit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} {value:?}")]
pub struct UnknownValue {
    pub what: &'static str,
    pub value: String,
}

impl UnknownValue {
    pub fn new(what: &'static str, value: &str) -> Self {
        UnknownValue {
            what,
            value: value.to_owned(),
        }
    }
}

/// The key stages of English schools. The year group decides the key stage, and the key
/// stage decides the pupil's group (and so their filtering policy).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum KeyStage {
    Eyfs,
    Ks1,
    Ks2,
    Ks3,
    Ks4,
    Ks5,
}

impl KeyStage {
    /// The name of the group that pupils of this key stage belong to.
    pub fn group_name(self) -> &'static str {
        match self {
            KeyStage::Eyfs => "EYFS",
            KeyStage::Ks1 => "KS1",
            KeyStage::Ks2 => "KS2",
            KeyStage::Ks3 => "KS3",
            KeyStage::Ks4 => "KS4",
            KeyStage::Ks5 => "KS5",
        }
    }
}

/// A year group, from nursery to Year 13. Stored as a number: nursery is -1, reception 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct YearGroup(i8);

impl YearGroup {
    pub const NURSERY: YearGroup = YearGroup(-1);
    pub const RECEPTION: YearGroup = YearGroup(0);

    /// A year group from its stored number, if it is one.
    pub fn from_number(n: i64) -> Option<YearGroup> {
        (-1..=13).contains(&n).then_some(YearGroup(n as i8))
    }

    pub fn number(self) -> i64 {
        i64::from(self.0)
    }

    pub fn key_stage(self) -> KeyStage {
        match self.0 {
            ..=0 => KeyStage::Eyfs,
            1..=2 => KeyStage::Ks1,
            3..=6 => KeyStage::Ks2,
            7..=9 => KeyStage::Ks3,
            10..=11 => KeyStage::Ks4,
            _ => KeyStage::Ks5,
        }
    }
}

impl fmt::Display for YearGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            -1 => f.write_str("Nursery"),
            0 => f.write_str("Reception"),
            n => write!(f, "Year {n}"),
        }
    }
}

/// The spellings MIS exports use for a year group: `R`, `Rec`, `Reception`, `N`, `N1`,
/// `N2`, `Nursery`, `3`, `Y3`, `Yr 3`, `Year 3`, `NC Year 3`.
impl FromStr for YearGroup {
    type Err = UnknownValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim().to_ascii_lowercase();
        let t = t.strip_prefix("nc").map(str::trim_start).unwrap_or(&t);
        match t {
            "r" | "rec" | "reception" | "yr r" | "year r" => return Ok(YearGroup::RECEPTION),
            "n" | "n1" | "n2" | "nur" | "nursery" => return Ok(YearGroup::NURSERY),
            _ => {}
        }
        let digits = ["year", "yr", "y"]
            .iter()
            .find_map(|p| t.strip_prefix(p))
            .unwrap_or(t)
            .trim();
        digits
            .parse::<i64>()
            .ok()
            .and_then(YearGroup::from_number)
            .filter(|y| y.0 >= 1)
            .ok_or_else(|| UnknownValue::new("year group", s))
    }
}

/// A group as the register sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub id: GroupId,
    pub school: SchoolId,
    pub name: String,
    pub kind: GroupKind,
}

#[cfg(test)]
mod tests {
    use super::*;

    macro_rules! year_cases {
        ($($text:literal => $n:expr, $ks:ident;)*) => {$(
            let y: YearGroup = $text.parse().unwrap_or_else(|e| panic!("{}: {e}", $text));
            assert_eq!(y.number(), $n, "{}", $text);
            assert_eq!(y.key_stage(), KeyStage::$ks, "{}", $text);
        )*};
    }

    #[test]
    fn year_groups_parse_in_every_spelling_and_decide_the_key_stage() {
        year_cases! {
            "R" => 0, Eyfs;
            "Reception" => 0, Eyfs;
            "rec" => 0, Eyfs;
            "N2" => -1, Eyfs;
            "Nursery" => -1, Eyfs;
            "1" => 1, Ks1;
            "Y2" => 2, Ks1;
            "Year 3" => 3, Ks2;
            "yr6" => 6, Ks2;
            "NC Year 6" => 6, Ks2;
            "7" => 7, Ks3;
            "Year 11" => 11, Ks4;
            "13" => 13, Ks5;
        }
    }

    #[test]
    fn nonsense_year_groups_are_refused() {
        for bad in ["", "Year 14", "0", "-1", "Year", "P7", "twelve", "Y 3 4"] {
            assert!(bad.parse::<YearGroup>().is_err(), "{bad:?} should not parse");
        }
    }

    #[test]
    fn year_groups_display_as_schools_write_them() {
        assert_eq!(YearGroup::RECEPTION.to_string(), "Reception");
        assert_eq!(
            YearGroup::from_number(5).map(|y| y.to_string()).as_deref(),
            Some("Year 5")
        );
    }
}
