//! Reviews: what a school must review each year, what each review covers, and who signs it
//! off.
//!
//! The DfE filtering and monitoring standard asks for a review at least once every academic
//! year by senior leaders, the DSL and IT support with the responsible governor, with the
//! results and actions recorded (DFE-FM-2.01–2.04); the online safety policy, the Prevent
//! risk assessment and the agreements are reviewed yearly too (UKSIC-F-SCH-01/02,
//! KCSIE-OS-08). A review is complete when both the headteacher and the safeguarding
//! governor have signed it off; the next one falls due twelve months after that.

use std::fmt;
use std::str::FromStr;

use time::Date;

use crate::agreements::YearStart;
use crate::people::UnknownValue;
use crate::roles::Role;
use crate::training::add_months;

/// Something the school reviews on a schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ReviewKind {
    OnlineSafetyPolicy,
    /// The filtering and monitoring provision (DfE standard 2).
    FilteringMonitoring,
    PreventRiskAssessment,
    /// The acceptable use agreements' texts.
    Agreements,
    /// The online safety risk assessment (UKSIC-F-SCH-01).
    RiskAssessment,
}

impl ReviewKind {
    pub const ALL: [ReviewKind; 5] = [
        ReviewKind::OnlineSafetyPolicy,
        ReviewKind::FilteringMonitoring,
        ReviewKind::PreventRiskAssessment,
        ReviewKind::Agreements,
        ReviewKind::RiskAssessment,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ReviewKind::OnlineSafetyPolicy => "online_safety_policy",
            ReviewKind::FilteringMonitoring => "filtering_monitoring",
            ReviewKind::PreventRiskAssessment => "prevent",
            ReviewKind::Agreements => "agreements",
            ReviewKind::RiskAssessment => "risk_assessment",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            ReviewKind::OnlineSafetyPolicy => "Online safety policy",
            ReviewKind::FilteringMonitoring => "Filtering and monitoring provision",
            ReviewKind::PreventRiskAssessment => "Prevent risk assessment",
            ReviewKind::Agreements => "Acceptable use agreements",
            ReviewKind::RiskAssessment => "Online safety risk assessment",
        }
    }

    /// What the review must look at, item by item.
    pub fn checklist(self) -> &'static [&'static str] {
        match self {
            ReviewKind::OnlineSafetyPolicy => &[
                "Roles and responsibilities are up to date (DSL, online safety lead, governor)",
                "Changes in KCSIE and DfE guidance since the last review are reflected",
                "Incidents and trends from the online safety log have been considered",
                "Pupils, staff and parents have been consulted",
                "The policy is published and staff have been told of changes",
            ],
            // DFE-FM-2.04: what the filtering and monitoring review covers.
            ReviewKind::FilteringMonitoring => &[
                "Risk profile of pupils: age range, SEND, EAL",
                "What is blocked and allowed, and why (blocks by category and group)",
                "Monitoring: alerts raised, how fast they were handled",
                "Bring your own device and remote access",
                "Use of generative AI and whether filtering and monitoring cover it",
                "Known technical limitations, such as encrypted traffic and devices not covered",
                "Safeguarding incidents and what they showed about the provision",
                "Related policies: online safety, behaviour, data protection",
                "Checks that filtering works, recorded per device type and location",
            ],
            ReviewKind::PreventRiskAssessment => &[
                "The local risk of radicalisation, from the local authority's profile",
                "Extremism and terrorism categories are blocked for every pupil group",
                "Staff have had Prevent training",
                "Referral routes (Channel) are known to the DSL",
            ],
            ReviewKind::Agreements => &[
                "Each audience's agreement reflects the current policy",
                "The agreements say that filtering and monitoring are in place",
                "Whether the new version needs everyone to sign again",
                "Who has not signed, and how they will be reached",
            ],
            ReviewKind::RiskAssessment => &[
                "Online risks to pupils identified and rated",
                "Controls in place for each, and their owners",
                "Changes since last year: new technology, new devices, new services",
            ],
        }
    }

    /// The standard each review answers to, for the page and the evidence pack.
    pub fn standard(self) -> &'static str {
        match self {
            ReviewKind::OnlineSafetyPolicy => "KCSIE-OS-08",
            ReviewKind::FilteringMonitoring => "DFE-FM-2.01–2.05",
            ReviewKind::PreventRiskAssessment => "UKSIC-F-SCH-02",
            ReviewKind::Agreements => "DFE-CS-01",
            ReviewKind::RiskAssessment => "UKSIC-F-SCH-01",
        }
    }
}

impl fmt::Display for ReviewKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

impl FromStr for ReviewKind {
    type Err = UnknownValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ReviewKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| UnknownValue::new("review", s))
    }
}

/// Who signs a review off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Signer {
    Headteacher,
    SafeguardingGovernor,
}

impl Signer {
    pub const BOTH: [Signer; 2] = [Signer::Headteacher, Signer::SafeguardingGovernor];

    pub fn as_str(self) -> &'static str {
        match self {
            Signer::Headteacher => "headteacher",
            Signer::SafeguardingGovernor => "safeguarding_governor",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Signer::Headteacher => "Headteacher",
            Signer::SafeguardingGovernor => "Safeguarding governor",
        }
    }

    pub fn role(self) -> Role {
        match self {
            Signer::Headteacher => Role::Headteacher,
            Signer::SafeguardingGovernor => Role::SafeguardingGovernor,
        }
    }

    /// The sign-off a person with these roles gives, if any.
    pub fn of(roles: &[Role]) -> Option<Signer> {
        Signer::BOTH.into_iter().find(|s| roles.contains(&s.role()))
    }
}

impl FromStr for Signer {
    type Err = UnknownValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Signer::BOTH
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| UnknownValue::new("signer", s))
    }
}

/// Whether a person with these roles may write a review (findings, actions, evidence):
/// senior leaders, safeguarding leads, the online safety lead, IT support and the governor
/// who sits on it (DFE-FM-2.02).
pub fn may_write(roles: &[Role]) -> bool {
    roles.iter().any(|r| {
        matches!(
            r,
            Role::Headteacher
                | Role::Dsl
                | Role::DeputyDsl
                | Role::OnlineSafetyLead
                | Role::ItAdministrator
                | Role::SafeguardingGovernor
        )
    })
}

/// Whether a review with these sign-offs is complete: both must have signed.
pub fn complete(signed: &[Signer]) -> bool {
    Signer::BOTH.iter().all(|s| signed.contains(s))
}

/// When a review is next due: twelve months after the last completed one, or, if there has
/// never been one, from the first day of this academic year (DFE-FM-2.01: none this year is
/// already late).
pub fn next_due(last_completed: Option<Date>, today: Date, start: YearStart) -> Date {
    match last_completed {
        Some(done) => add_months(done, 12),
        None => start.first_day(start.year_of(today)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn a_review_needs_both_the_headteacher_and_the_safeguarding_governor() {
        assert!(!complete(&[]));
        assert!(!complete(&[Signer::Headteacher, Signer::Headteacher]));
        assert!(complete(&[Signer::SafeguardingGovernor, Signer::Headteacher]));
        assert_eq!(Signer::of(&[Role::Teacher]), None);
        assert_eq!(
            Signer::of(&[Role::Governor, Role::SafeguardingGovernor]),
            Some(Signer::SafeguardingGovernor)
        );
        assert!(may_write(&[Role::ItAdministrator]));
        assert!(!may_write(&[Role::Teacher]));
    }

    #[test]
    fn the_next_review_is_a_year_on_or_already_due() {
        let s = YearStart::default();
        assert_eq!(
            next_due(Some(date!(2025 - 10 - 14)), date!(2026 - 11 - 24), s),
            date!(2026 - 10 - 14)
        );
        assert_eq!(next_due(None, date!(2026 - 11 - 24), s), date!(2026 - 09 - 01));
    }

    #[test]
    fn the_filtering_review_covers_what_the_standard_lists() {
        // DFE-FM-2.04
        let list = ReviewKind::FilteringMonitoring.checklist().join(" ").to_lowercase();
        for topic in [
            "send",
            "eal",
            "blocked",
            "device",
            "generative ai",
            "limitations",
            "incidents",
            "policies",
        ] {
            assert!(list.contains(topic), "checklist lacks {topic}");
        }
        for k in ReviewKind::ALL {
            assert_eq!(k.as_str().parse::<ReviewKind>(), Ok(k));
            assert!(!k.checklist().is_empty());
        }
    }
}
