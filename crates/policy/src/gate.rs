//! The agreement gate: a group can require a current signed acceptable use agreement before
//! its people reach the internet (DFE-CS-01). Until they sign, they are filtered by the
//! restricted [`UNSIGNED`] group's policy — a walled garden of education sites — and the
//! block page tells them how to sign. The register decides whether a signature is current;
//! this decides which group's policy answers for the person.

/// The group whose policy applies to people held back by the gate.
pub const UNSIGNED: &str = "Unsigned";

/// The group whose policy decides for a person of `group`: their own, or [`UNSIGNED`] when
/// the group requires an agreement and theirs is not current.
pub fn group_for(group: &str, requires_agreement: bool, agreement_current: bool) -> &str {
    if requires_agreement && !agreement_current {
        UNSIGNED
    } else {
        group
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_gated_group_without_a_current_agreement_is_held_back() {
        assert_eq!(group_for("KS2", true, false), UNSIGNED);
        assert_eq!(group_for("KS2", true, true), "KS2");
        assert_eq!(group_for("KS2", false, false), "KS2");
    }
}
