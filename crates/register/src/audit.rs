//! The audit log's hash chain.
//!
//! Every entry stores the hash of the entry before it, so that changing or removing any
//! entry breaks every hash after it. The store keeps entries append-only (triggers refuse
//! UPDATE and DELETE); the chain is what lets `schoolgate audit verify` prove that nobody
//! went around the store, for example with a database client. Each school has its own
//! chain, numbered from 1, so that a trust's schools can be verified and exported apart.

use sha2::{Digest, Sha256};

/// The `prev_hash` of a school's first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One entry as it is hashed and stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    /// Position in the school's chain, from 1 with no gaps.
    pub seq: i64,
    pub school: i64,
    /// Unix time in seconds.
    pub at: i64,
    /// Who did it: `account:ID username`, `cli:username`, or `system`.
    pub actor: String,
    /// What was done, a dotted name such as `sign_in.failed` or `person.update`.
    pub action: String,
    /// What it was done to, such as `person:42`.
    pub target: String,
    /// Where from: the client address, or `cli`.
    pub origin: String,
    /// Details as JSON (for changes, `before` and `after`).
    pub details: String,
    pub prev_hash: String,
    pub hash: String,
}

/// An entry before it has its place in the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAuditEntry {
    pub at: i64,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub origin: String,
    pub details: String,
}

impl NewAuditEntry {
    /// Gives the entry its place after `prev` (seq and hash of the chain's last entry, or
    /// `(0, GENESIS)` for the first) and computes its hash.
    pub fn chain(self, school: i64, prev_seq: i64, prev_hash: &str) -> AuditEntry {
        let mut entry = AuditEntry {
            seq: prev_seq + 1,
            school,
            at: self.at,
            actor: self.actor,
            action: self.action,
            target: self.target,
            origin: self.origin,
            details: self.details,
            prev_hash: prev_hash.to_owned(),
            hash: String::new(),
        };
        entry.hash = entry.compute_hash();
        entry
    }
}

impl AuditEntry {
    /// The hash over every field but the hash itself. Each field is length-prefixed, so
    /// that moving text from one field to the next changes the hash.
    pub fn compute_hash(&self) -> String {
        let mut h = Sha256::new();
        let numbers = [self.seq, self.school, self.at];
        for n in numbers {
            h.update(n.to_be_bytes());
        }
        for field in [
            &self.actor,
            &self.action,
            &self.target,
            &self.origin,
            &self.details,
            &self.prev_hash,
        ] {
            h.update((field.len() as u64).to_be_bytes());
            h.update(field.as_bytes());
        }
        hex::encode(h.finalize())
    }
}

/// Where a chain is broken: the first entry that does not follow from the one before.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("audit chain of school {school} is broken at entry {seq}: {reason}")]
pub struct ChainBreak {
    pub school: i64,
    pub seq: i64,
    pub reason: BreakReason,
}

/// Why an entry does not follow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BreakReason {
    #[error("expected entry {expected} here (an entry is missing or out of order)")]
    Gap { expected: i64 },
    #[error("its previous-hash does not match the entry before it (an earlier entry was changed or removed)")]
    PrevHash,
    #[error("its contents do not match its hash (this entry was changed)")]
    Hash,
}

/// Checks one school's chain, given its entries in `seq` order. Returns how many entries
/// were checked.
pub fn verify<I>(school: i64, entries: I) -> Result<u64, ChainBreak>
where
    I: IntoIterator<Item = AuditEntry>,
{
    let mut prev_hash = GENESIS.to_owned();
    let mut count = 0;
    for (expected, e) in (1..).zip(entries) {
        let fail = |reason| ChainBreak {
            school,
            seq: e.seq,
            reason,
        };
        if e.seq != expected {
            return Err(fail(BreakReason::Gap { expected }));
        }
        if e.prev_hash != prev_hash {
            return Err(fail(BreakReason::PrevHash));
        }
        if e.compute_hash() != e.hash {
            return Err(fail(BreakReason::Hash));
        }
        prev_hash = e.hash;
        count += 1;
    }
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(n: i64) -> Vec<AuditEntry> {
        let mut out: Vec<AuditEntry> = Vec::new();
        for i in 0..n {
            let (seq, prev) = out
                .last()
                .map(|e| (e.seq, e.hash.clone()))
                .unwrap_or((0, GENESIS.into()));
            out.push(
                NewAuditEntry {
                    at: 1_700_000_000 + i,
                    actor: "account:1 head".into(),
                    action: "person.update".into(),
                    target: format!("person:{i}"),
                    origin: "127.0.0.1".into(),
                    details: "{}".into(),
                }
                .chain(7, seq, &prev),
            );
        }
        out
    }

    #[test]
    fn an_untouched_chain_verifies() {
        assert_eq!(verify(7, chain(5)), Ok(5));
        assert_eq!(verify(7, Vec::new()), Ok(0));
    }

    #[test]
    fn a_changed_entry_is_named() {
        let mut c = chain(5);
        c[2].actor = "account:2 someone-else".into();
        let err = verify(7, c).expect_err("chain is broken");
        assert_eq!((err.seq, err.reason), (3, BreakReason::Hash));
    }

    #[test]
    fn a_changed_entry_with_a_recomputed_hash_breaks_the_next_one() {
        let mut c = chain(5);
        c[1].details = r#"{"after":"forged"}"#.into();
        c[1].hash = c[1].compute_hash();
        let err = verify(7, c).expect_err("chain is broken");
        assert_eq!((err.seq, err.reason), (3, BreakReason::PrevHash));
    }

    #[test]
    fn a_removed_entry_is_a_gap() {
        let mut c = chain(5);
        c.remove(3);
        let err = verify(7, c).expect_err("chain is broken");
        assert_eq!((err.seq, err.reason), (5, BreakReason::Gap { expected: 4 }));
    }

    #[test]
    fn moving_text_between_fields_changes_the_hash() {
        let c = chain(1);
        let mut moved = c[0].clone();
        moved.actor = "account:1 headperson.update".into();
        moved.action = String::new();
        assert_ne!(moved.compute_hash(), c[0].hash);
    }
}
