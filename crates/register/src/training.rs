//! Training: which online safety training each member of staff must have, and when each is
//! next due.
//!
//! KCSIE asks for online safety (including filtering and monitoring) at induction
//! (KCSIE-OS-06) and regular updates; the DfE cyber standard asks for cyber training at least
//! annually for staff and at least one governor (DFE-CS-02/03); DSLs renew their training
//! every two years. Each kind has its period here, and [`due_on`] turns a person's last
//! completion into the day the next one falls due.

use std::fmt;
use std::str::FromStr;

use time::{Date, Duration};

use crate::people::{PersonKind, UnknownValue};
use crate::roles::Role;

/// A kind of training the school records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// Online safety at induction, including filtering and monitoring (KCSIE-OS-06). Once.
    Induction,
    /// The yearly online safety and safeguarding update.
    AnnualUpdate,
    /// Designated safeguarding lead training, renewed every two years.
    Dsl,
    /// Prevent duty training.
    Prevent,
    /// Cyber security training, such as the NCSC's (DFE-CS-02/03).
    Cyber,
}

impl Kind {
    pub const ALL: [Kind; 5] = [
        Kind::Induction,
        Kind::AnnualUpdate,
        Kind::Dsl,
        Kind::Prevent,
        Kind::Cyber,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Induction => "induction",
            Kind::AnnualUpdate => "annual_update",
            Kind::Dsl => "dsl",
            Kind::Prevent => "prevent",
            Kind::Cyber => "cyber",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Kind::Induction => "Induction: online safety, filtering and monitoring",
            Kind::AnnualUpdate => "Annual online safety update",
            Kind::Dsl => "DSL training",
            Kind::Prevent => "Prevent",
            Kind::Cyber => "Cyber security",
        }
    }

    /// How long a completion lasts, in months; `None` for training done once.
    pub fn renew_months(self) -> Option<u32> {
        match self {
            Kind::Induction => None,
            Kind::AnnualUpdate | Kind::Cyber => Some(12),
            Kind::Dsl | Kind::Prevent => Some(24),
        }
    }

    /// Whether a person of this kind with these roles must have this training. Staff need
    /// all but DSL training; the DSL and deputies need that too; governors need the yearly
    /// update and cyber training.
    pub fn required_of(self, kind: PersonKind, roles: &[Role]) -> bool {
        match kind {
            PersonKind::Staff => match self {
                Kind::Dsl => roles.iter().any(|r| matches!(r, Role::Dsl | Role::DeputyDsl)),
                _ => true,
            },
            PersonKind::Governor => matches!(self, Kind::AnnualUpdate | Kind::Cyber),
            PersonKind::Pupil | PersonKind::Visitor => false,
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

impl FromStr for Kind {
    type Err = UnknownValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Kind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| UnknownValue::new("training kind", s))
    }
}

/// How long a new member of staff has to complete induction training.
pub const INDUCTION_DAYS: i64 = 30;

/// When `kind` is next due for someone who last completed it on `last` and whose record was
/// created on `joined`. `None` when it is done for good (induction, once completed).
pub fn due_on(kind: Kind, last: Option<Date>, joined: Date) -> Option<Date> {
    match (last, kind.renew_months()) {
        (None, _) => Some(joined + Duration::days(INDUCTION_DAYS)),
        (Some(_), None) => None,
        (Some(done), Some(months)) => Some(add_months(done, months)),
    }
}

/// `day` plus `months`, on the last day of the month where the day does not exist.
pub fn add_months(day: Date, months: u32) -> Date {
    let total = day.year() * 12 + i32::from(u8::from(day.month())) - 1 + months as i32;
    let (year, month) = (total.div_euclid(12), (total.rem_euclid(12) + 1) as u8);
    let month = time::Month::try_from(month).unwrap_or(time::Month::January);
    let last = month.length(year);
    Date::from_calendar_date(year, month, day.day().min(last)).unwrap_or(day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn each_kind_falls_due_after_its_period() {
        let joined = date!(2026 - 09 - 01);
        assert_eq!(due_on(Kind::Induction, None, joined), Some(date!(2026 - 10 - 01)));
        assert_eq!(due_on(Kind::Induction, Some(date!(2026 - 09 - 05)), joined), None);
        assert_eq!(
            due_on(Kind::AnnualUpdate, Some(date!(2025 - 09 - 05)), joined),
            Some(date!(2026 - 09 - 05))
        );
        assert_eq!(
            due_on(Kind::Dsl, Some(date!(2024 - 02 - 29)), joined),
            Some(date!(2026 - 02 - 28))
        );
        assert_eq!(add_months(date!(2026 - 01 - 31), 1), date!(2026 - 02 - 28));
        assert_eq!(add_months(date!(2026 - 12 - 15), 1), date!(2027 - 01 - 15));
    }

    #[test]
    fn dsl_training_is_for_the_dsl_and_deputies() {
        assert!(Kind::Dsl.required_of(PersonKind::Staff, &[Role::DeputyDsl]));
        assert!(!Kind::Dsl.required_of(PersonKind::Staff, &[Role::Teacher]));
        assert!(Kind::Cyber.required_of(PersonKind::Governor, &[]));
        assert!(!Kind::Prevent.required_of(PersonKind::Governor, &[]));
        assert!(!Kind::AnnualUpdate.required_of(PersonKind::Pupil, &[]));
        for k in Kind::ALL {
            assert_eq!(k.as_str().parse::<Kind>(), Ok(k));
        }
    }
}
