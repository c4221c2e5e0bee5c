//! What the engine answers: a verdict, the category, the rule that decided, and the reason.
//!
//! A `Decision` is a small `Copy` value that points into the snapshot that made it (list
//! and entry numbers), so deciding allocates nothing; [`crate::Snapshot::reason`] and
//! [`crate::Snapshot::rule_name`] turn it into words when someone needs them.

use crate::category::Category;

/// Identifies a group's compiled policy within a snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct GroupId(pub u16);

/// Identifies a list within a snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ListId(pub u16);

/// Allow, block, or allow by way of a search engine's safe-search host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Allow,
    Block,
    /// Allowed, but answered with (DNS) or redirected to (proxy) this safe-search host.
    SafeSearch(&'static str),
}

impl Verdict {
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Allow => "allow",
            Verdict::Block => "block",
            Verdict::SafeSearch(_) => "safe_search",
        }
    }

    pub fn is_blocked(self) -> bool {
        self == Verdict::Block
    }
}

/// The rule that decided, in precedence order (DESIGN.md, policy).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// On an illegal-content list: blocked for everyone, no override (DFE-FM-3.01).
    IllegalContent { list: ListId },
    /// A DNS question (no page known) for a host with pages on an illegal-content list:
    /// the whole host is blocked, since DNS cannot tell its pages apart (IWF-01).
    IllegalPagesOnHost { list: ListId },
    /// The group's allow list.
    AllowList { entry: u32 },
    /// The group's deny list.
    DenyList { entry: u32 },
    /// A category the group blocks; `time_rule` when only a time rule blocks it now.
    Category { list: ListId, time_rule: Option<u8> },
    /// A walled garden lets this listed category through.
    AllowedCategory { list: ListId },
    /// A walled garden, and nothing lets this site in.
    WalledGarden,
    /// Nothing blocks it; `list` names the list that categorises it, if any.
    Default { list: Option<ListId> },
    /// Not a host name at all.
    InvalidHost,
    /// Unblocked for this one person (an answered unblock request), though the group blocks it.
    PersonAllow { entry: u32 },
}

impl Rule {
    pub fn kind(self) -> &'static str {
        match self {
            Rule::IllegalContent { .. } | Rule::IllegalPagesOnHost { .. } => "illegal_content",
            Rule::AllowList { .. } => "allow_list",
            Rule::DenyList { .. } => "deny_list",
            Rule::Category { .. } => "category",
            Rule::AllowedCategory { .. } => "allowed_category",
            Rule::WalledGarden => "walled_garden",
            Rule::Default { .. } => "default",
            Rule::InvalidHost => "invalid_host",
            Rule::PersonAllow { .. } => "person_allow",
        }
    }
}

/// A decision on one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub verdict: Verdict,
    /// The category that decided, or that the site is listed under.
    pub category: Option<Category>,
    pub rule: Rule,
    pub group: GroupId,
}

impl Decision {
    /// Whether the decision came from an illegal-content list: such decisions must not say
    /// which list or entry matched, anywhere a user can see.
    pub fn is_illegal(&self) -> bool {
        matches!(self.rule, Rule::IllegalContent { .. } | Rule::IllegalPagesOnHost { .. })
    }
}
