//! Building the filter's snapshot from the stored lists and policies.

use policy::{Category, GroupPolicy, ListInfo, ParsedList, Snapshot, SnapshotBuilder};
use register::people::{GroupKind, SchoolId};

use crate::{Actor, Result, Store, sha256_hex};

/// Why a snapshot could not be built; the engine keeps the one it has.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error(transparent)]
    Store(#[from] crate::StoreError),
    /// A stored policy no longer reads: the policy of `group`.
    #[error("{0}")]
    Policy(#[from] policy::rules::PolicyError),
    /// An illegal-content list's text does not match the hash taken when it was loaded: it was
    /// changed outside schoolgate, so the filter fails closed (DFE-FM-3.01).
    #[error("illegal-content list {0} was changed outside schoolgate (its SHA-256 no longer matches)")]
    Tampered(String),
}

/// The name of the policy for devices and people schoolgate cannot place.
pub const UNIDENTIFIED: &str = "unidentified";

/// What a build found worth telling an administrator.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SnapshotReport {
    pub lists: usize,
    pub entries: usize,
    /// Ordinary lists left out because their text no longer matches its hash.
    pub skipped_lists: Vec<String>,
}

impl Store {
    /// Stores schoolgate's default policy for every default group that has none yet.
    pub async fn ensure_default_policies(&self, school: SchoolId, now: i64) -> Result<usize> {
        let have: Vec<String> = self.policies(school).await?.into_iter().map(|p| p.group).collect();
        let actor = Actor {
            label: "system:defaults".into(),
            origin: "local".into(),
        };
        let mut added = 0;
        for (group, p) in policy::rules::defaults() {
            if !have.iter().any(|h| h.eq_ignore_ascii_case(group)) {
                self.set_policy(school, group, &p.to_toml(), &actor, now).await?;
                added += 1;
            }
        }
        Ok(added)
    }

    /// A value that changes whenever a list or policy of the school changes: the running
    /// server compares it to decide when to rebuild its snapshot.
    pub async fn filter_generation(&self, school: SchoolId) -> Result<(i64, i64, i64, i64)> {
        let row = sqlx::query(
            "SELECT (SELECT count(*) FROM lists WHERE school_id = $1) AS lists, \
                    (SELECT coalesce(max(id), 0) FROM lists WHERE school_id = $1) AS last_list, \
                    (SELECT count(*) FROM policies WHERE school_id = $1) AS policies, \
                    (SELECT CAST(coalesce(sum(revision), 0) AS BIGINT) FROM policies WHERE school_id = $1) AS last_policy",
        )
        .bind(school.0)
        .fetch_one(&self.pool)
        .await?;
        use sqlx::Row;
        Ok((
            row.try_get("lists")?,
            row.try_get("last_list")?,
            row.try_get("policies")?,
            row.try_get("last_policy")?,
        ))
    }

    /// Reads every list and policy of a school and compiles them. `seed` keys the
    /// fingerprints (random per process). With `fail_closed`, lists are left out and pupil
    /// groups get only their allow lists: the snapshot to use when the lists cannot be read.
    pub async fn build_snapshot(
        &self,
        school: SchoolId,
        seed: u64,
        fail_closed: bool,
    ) -> std::result::Result<(Snapshot, SnapshotReport), SnapshotError> {
        let mut builder = if fail_closed {
            SnapshotBuilder::new(seed).fail_closed()
        } else {
            SnapshotBuilder::new(seed)
        };
        let mut report = SnapshotReport::default();
        let pupil_groups: Vec<String> = self
            .groups_with_counts(school)
            .await?
            .into_iter()
            .filter(|g| g.kind == GroupKind::Pupil)
            .map(|g| g.name)
            .collect();
        for record in self.policies(school).await? {
            let p = GroupPolicy::from_toml(&record.group, &record.toml)?.check(&record.group)?;
            let pupil =
                record.group == UNIDENTIFIED || pupil_groups.iter().any(|g| g.eq_ignore_ascii_case(&record.group));
            builder.add_group(&record.group, &p, pupil);
        }
        if !fail_closed {
            for list in self.lists(school).await? {
                let content = self.list_content(school, list.id).await?;
                if sha256_hex(&content) != list.sha256 {
                    if list.illegal {
                        return Err(SnapshotError::Tampered(list.name));
                    }
                    tracing::warn!(list = %list.name, "list skipped: its text does not match its hash");
                    report.skipped_lists.push(list.name);
                    continue;
                }
                let parsed = ParsedList::from_normalised(&list.name, &content);
                let category = if list.illegal {
                    Category::IllegalContent
                } else {
                    list.category.parse().unwrap_or(Category::Other)
                };
                report.entries += parsed.entries();
                report.lists += 1;
                builder.add_list(ListInfo::new(&list.name, &list.source, category, list.illegal), &parsed);
            }
        }
        Ok((builder.build(), report))
    }
}
