//! Roles people hold in a school, the permissions they carry, and who must use a second
//! factor.
//!
//! A role is what the school calls the job (DESIGN.md, "Who uses it"); a permission is one
//! thing the software lets a person do. Roles grant a default set of permissions and a
//! school can grant more to one person — the technician who is also the *filter manager*,
//! as the policies put it ("only available to staff with the approved 'web filtering
//! management' status").

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::people::UnknownValue;

/// A role of DESIGN.md.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Role {
    /// Also the SIRO; sees everything except concerns about themself.
    Headteacher,
    /// Designated Safeguarding Lead.
    Dsl,
    /// Deputy Designated Safeguarding Lead.
    DeputyDsl,
    OnlineSafetyLead,
    /// Network manager or technician: accounts, devices, assets. Never safeguarding records.
    ItAdministrator,
    Teacher,
    SupportStaff,
    ChairOfGovernors,
    SafeguardingGovernor,
    Governor,
}

impl Role {
    pub const ALL: [Role; 10] = [
        Role::Headteacher,
        Role::Dsl,
        Role::DeputyDsl,
        Role::OnlineSafetyLead,
        Role::ItAdministrator,
        Role::Teacher,
        Role::SupportStaff,
        Role::ChairOfGovernors,
        Role::SafeguardingGovernor,
        Role::Governor,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Headteacher => "headteacher",
            Role::Dsl => "dsl",
            Role::DeputyDsl => "deputy_dsl",
            Role::OnlineSafetyLead => "online_safety_lead",
            Role::ItAdministrator => "it_administrator",
            Role::Teacher => "teacher",
            Role::SupportStaff => "support_staff",
            Role::ChairOfGovernors => "chair_of_governors",
            Role::SafeguardingGovernor => "safeguarding_governor",
            Role::Governor => "governor",
        }
    }

    /// The words a school uses for the role.
    pub fn label(self) -> &'static str {
        match self {
            Role::Headteacher => "Headteacher",
            Role::Dsl => "Designated Safeguarding Lead",
            Role::DeputyDsl => "Deputy Designated Safeguarding Lead",
            Role::OnlineSafetyLead => "Online Safety Lead",
            Role::ItAdministrator => "IT administrator",
            Role::Teacher => "Teacher",
            Role::SupportStaff => "Support staff",
            Role::ChairOfGovernors => "Chair of Governors",
            Role::SafeguardingGovernor => "Safeguarding governor",
            Role::Governor => "Governor",
        }
    }

    /// Roles that see or route safeguarding records. KCSIE puts the DSL in the lead; the
    /// headteacher handles concerns about staff and the Chair of Governors those about the
    /// headteacher, so all of them hold records that must not fall to a guessed password.
    pub fn is_safeguarding(self) -> bool {
        matches!(
            self,
            Role::Headteacher
                | Role::Dsl
                | Role::DeputyDsl
                | Role::OnlineSafetyLead
                | Role::ChairOfGovernors
                | Role::SafeguardingGovernor
        )
    }

    /// The permissions the role carries before any individual grant.
    pub fn default_permissions(self) -> &'static [Permission] {
        use Permission::*;
        match self {
            Role::Headteacher => &[ViewPeople, ManagePeople, ManageSettings, ViewAudit, ViewSafeguarding],
            Role::Dsl | Role::DeputyDsl => &[ViewPeople, ViewAudit, ViewSafeguarding],
            Role::OnlineSafetyLead => &[ViewPeople, ViewSafeguarding],
            Role::ItAdministrator => &[ViewPeople, ManagePeople, ManageSettings],
            Role::Teacher | Role::SupportStaff => &[ViewPeople],
            Role::ChairOfGovernors | Role::SafeguardingGovernor | Role::Governor => &[],
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

impl FromStr for Role {
    type Err = UnknownValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| UnknownValue::new("role", s))
    }
}

/// One thing the software lets a person do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Permission {
    /// See and search the people list.
    ViewPeople,
    /// Create accounts, import from the MIS, mark leavers.
    ManagePeople,
    /// Change the school's settings.
    ManageSettings,
    /// Change filter lists and policies (DfE filtering standard: changes are controlled).
    FilterManager,
    /// Read the audit log.
    ViewAudit,
    /// Open safeguarding records, subject to the need-to-know rules of each record.
    ViewSafeguarding,
}

impl Permission {
    pub const ALL: [Permission; 6] = [
        Permission::ViewPeople,
        Permission::ManagePeople,
        Permission::ManageSettings,
        Permission::FilterManager,
        Permission::ViewAudit,
        Permission::ViewSafeguarding,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Permission::ViewPeople => "view_people",
            Permission::ManagePeople => "manage_people",
            Permission::ManageSettings => "manage_settings",
            Permission::FilterManager => "filter_manager",
            Permission::ViewAudit => "view_audit",
            Permission::ViewSafeguarding => "view_safeguarding",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Permission::ViewPeople => "See people",
            Permission::ManagePeople => "Manage people and accounts",
            Permission::ManageSettings => "Manage settings",
            Permission::FilterManager => "Filter manager",
            Permission::ViewAudit => "Read the audit log",
            Permission::ViewSafeguarding => "Safeguarding records",
        }
    }

    /// Permissions that change how the system protects everyone: whoever holds one is an
    /// administrator, and the DfE cyber security standard asks for MFA on every such account.
    pub fn is_administrative(self) -> bool {
        matches!(
            self,
            Permission::ManagePeople | Permission::ManageSettings | Permission::FilterManager
        )
    }
}

impl FromStr for Permission {
    type Err = UnknownValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Permission::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| UnknownValue::new("permission", s))
    }
}

/// What a person may do: their roles and their individual grants, resolved once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Authority {
    roles: Vec<Role>,
    permissions: Vec<Permission>,
}

impl Authority {
    pub fn new(roles: &[Role], grants: &[Permission]) -> Authority {
        let mut roles = roles.to_vec();
        roles.sort();
        roles.dedup();
        let mut permissions: Vec<Permission> = roles
            .iter()
            .flat_map(|r| r.default_permissions().iter().copied())
            .chain(grants.iter().copied())
            .collect();
        permissions.sort();
        permissions.dedup();
        Authority { roles, permissions }
    }

    pub fn roles(&self) -> &[Role] {
        &self.roles
    }

    pub fn permissions(&self) -> &[Permission] {
        &self.permissions
    }

    pub fn has_role(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    pub fn can(&self, permission: Permission) -> bool {
        self.permissions.contains(&permission)
    }

    pub fn is_administrator(&self) -> bool {
        self.permissions.iter().any(|p| p.is_administrative())
    }

    pub fn is_safeguarding(&self) -> bool {
        self.roles.iter().any(|r| r.is_safeguarding())
    }
}

/// Who a school requires to use a second factor at sign-in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SecondFactorRule {
    /// Administrators and safeguarding roles (the default: DfE cyber security standard asks
    /// for MFA on all IT admin accounts, and safeguarding records are the most sensitive data
    /// a school holds).
    #[default]
    AdminsAndSafeguarding,
    /// Every staff and governor account (the DfE standard's "all staff accounts with cloud or
    /// remote access").
    AllStaff,
}

impl SecondFactorRule {
    pub fn requires(self, authority: &Authority) -> bool {
        match self {
            SecondFactorRule::AdminsAndSafeguarding => authority.is_administrator() || authority.is_safeguarding(),
            SecondFactorRule::AllStaff => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_and_permission_names_round_trip() {
        for r in Role::ALL {
            assert_eq!(r.as_str().parse::<Role>(), Ok(r));
        }
        for p in Permission::ALL {
            assert_eq!(p.as_str().parse::<Permission>(), Ok(p));
        }
        assert!("wizard".parse::<Role>().is_err());
    }

    #[test]
    fn it_administrator_cannot_read_safeguarding_records() {
        let a = Authority::new(&[Role::ItAdministrator], &[]);
        assert!(a.can(Permission::ManagePeople));
        assert!(!a.can(Permission::ViewSafeguarding));
        assert!(
            !a.can(Permission::FilterManager),
            "filter management is a separate grant"
        );
    }

    #[test]
    fn a_grant_adds_filter_management_to_a_technician() {
        let a = Authority::new(&[Role::ItAdministrator], &[Permission::FilterManager]);
        assert!(a.can(Permission::FilterManager));
    }

    #[test]
    fn second_factor_is_required_for_admins_and_safeguarding_roles_by_default() {
        let rule = SecondFactorRule::default();
        assert!(rule.requires(&Authority::new(&[Role::Headteacher], &[])));
        assert!(rule.requires(&Authority::new(&[Role::Dsl], &[])));
        assert!(rule.requires(&Authority::new(&[Role::ItAdministrator], &[])));
        assert!(rule.requires(&Authority::new(&[Role::Teacher], &[Permission::FilterManager])));
        assert!(!rule.requires(&Authority::new(&[Role::Teacher], &[])));
        assert!(SecondFactorRule::AllStaff.requires(&Authority::new(&[Role::Teacher], &[])));
    }
}

/// What a person may do with the registers (agreements, consent, training, assets, reviews).
///
/// Leaders (the headteacher, the DSL team and the online safety lead) run the registers; IT
/// support keeps the asset register and the filtering gate; office staff record consent forms;
/// every member of staff can check photo consent before taking a picture, record a paper
/// agreement and log a confiscated device; governors see what is due and sign reviews off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RegisterAccess {
    /// Publish agreement versions, see who has not signed, send reminders.
    pub agreements: bool,
    /// Turn the agreement gate on or off for a group (a change to filtering).
    pub gates: bool,
    /// Record a paper or parent's signature for someone else.
    pub record_signatures: bool,
    /// See "before you take photos".
    pub photos: bool,
    /// Record, import and export consent answers.
    pub consent: bool,
    /// See and record everyone's training.
    pub training: bool,
    /// Keep the hardware and software registers.
    pub assets: bool,
    /// Record and return confiscated devices.
    pub confiscations: bool,
    /// See the reviews and the due list.
    pub oversight: bool,
}

impl RegisterAccess {
    pub fn of(kind: crate::people::PersonKind, authority: &Authority) -> RegisterAccess {
        use crate::people::PersonKind;
        let has = |r: Role| authority.has_role(r);
        let leader = [Role::Headteacher, Role::Dsl, Role::DeputyDsl, Role::OnlineSafetyLead]
            .into_iter()
            .any(has);
        let it = has(Role::ItAdministrator);
        let staff = kind == PersonKind::Staff;
        let governor = [Role::SafeguardingGovernor, Role::ChairOfGovernors]
            .into_iter()
            .any(has);
        RegisterAccess {
            agreements: leader,
            gates: leader || it || authority.can(Permission::FilterManager),
            record_signatures: staff,
            photos: staff,
            consent: leader || has(Role::SupportStaff),
            training: leader,
            assets: it || has(Role::Headteacher),
            confiscations: staff,
            oversight: leader || it || governor,
        }
    }

    /// Whether the person may see any register page beyond their own agreement.
    pub fn any(&self) -> bool {
        self.photos || self.oversight || self.assets
    }
}

#[cfg(test)]
mod register_access_tests {
    use super::*;
    use crate::people::PersonKind;

    fn access(kind: PersonKind, roles: &[Role]) -> RegisterAccess {
        RegisterAccess::of(kind, &Authority::new(roles, &[]))
    }

    #[test]
    fn each_role_reaches_the_registers_it_keeps() {
        let teacher = access(PersonKind::Staff, &[Role::Teacher]);
        assert!(teacher.photos && teacher.record_signatures && teacher.confiscations);
        assert!(!teacher.consent && !teacher.training && !teacher.assets && !teacher.agreements);
        let office = access(PersonKind::Staff, &[Role::SupportStaff]);
        assert!(office.consent && !office.assets);
        let it = access(PersonKind::Staff, &[Role::ItAdministrator]);
        assert!(it.assets && it.gates && !it.agreements && !it.training);
        let osl = access(PersonKind::Staff, &[Role::OnlineSafetyLead]);
        assert!(osl.agreements && osl.training && osl.oversight && !osl.assets);
        let governor = access(PersonKind::Governor, &[Role::SafeguardingGovernor]);
        assert!(governor.oversight && !governor.photos && !governor.consent);
        let pupil = access(PersonKind::Pupil, &[]);
        assert_eq!(pupil, RegisterAccess::default());
        assert!(!pupil.any());
    }
}
