//! Building the filter's snapshot from the stored lists and policies.

use policy::{Category, GroupPolicy, ListInfo, ParsedList, Snapshot, SnapshotBuilder};
use register::people::{GroupKind, SchoolId};

use crate::unblock::{Exception, Scope};
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
    pub async fn filter_generation(&self, school: SchoolId) -> Result<(i64, i64, i64, i64, i64, i64)> {
        let row = sqlx::query(
            "SELECT (SELECT count(*) FROM lists WHERE school_id = $1) AS lists, \
                    (SELECT coalesce(max(id), 0) FROM lists WHERE school_id = $1) AS last_list, \
                    (SELECT count(*) FROM policies WHERE school_id = $1) AS policies, \
                    (SELECT CAST(coalesce(sum(revision), 0) AS BIGINT) FROM policies WHERE school_id = $1) AS last_policy, \
                    (SELECT count(*) FROM filter_exceptions WHERE school_id = $1 \
                        AND (expires_at IS NULL OR expires_at > $2)) AS exceptions, \
                    (SELECT coalesce(max(id), 0) FROM filter_exceptions WHERE school_id = $1) AS last_exception",
        )
        .bind(school.0)
        .bind(unix_now())
        .fetch_one(&self.pool)
        .await?;
        use sqlx::Row;
        Ok((
            row.try_get("lists")?,
            row.try_get("last_list")?,
            row.try_get("policies")?,
            row.try_get("last_policy")?,
            row.try_get("exceptions")?,
            row.try_get("last_exception")?,
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
        // Answered unblock requests in force now: group and everyone exceptions join the
        // groups' allow lists, person ones are kept per person. An entry that no longer
        // parses is left out rather than failing the whole filter.
        let exceptions = self.active_exceptions(school, unix_now()).await?;
        let entry_of = |e: &Exception| match policy::rules::ListEntry::parse(&e.entry) {
            Ok(entry) => Some(entry),
            Err(why) => {
                tracing::warn!(exception = e.id, %why, "an unblock exception is not a valid entry; left out");
                None
            }
        };
        for record in self.policies(school).await? {
            let mut p = GroupPolicy::from_toml(&record.group, &record.toml)?.check(&record.group)?;
            for e in &exceptions {
                let applies = match &e.scope {
                    Scope::Everyone => true,
                    Scope::Group(g) => g.eq_ignore_ascii_case(&record.group),
                    Scope::Person(_) => false,
                };
                if applies && let Some(entry) = entry_of(e) {
                    p.allow.push(entry);
                }
            }
            let pupil = record.group == UNIDENTIFIED
                || record.group == policy::gate::UNSIGNED
                || pupil_groups.iter().any(|g| g.eq_ignore_ascii_case(&record.group));
            builder.add_group(&record.group, &p, pupil);
        }
        for e in &exceptions {
            if let (Scope::Person(who), Some(entry)) = (&e.scope, entry_of(e)) {
                builder.add_person_allow(who, vec![entry]);
            }
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

/// Which exceptions are in force is a question about now, whoever asks: the snapshot and
/// its generation read the clock themselves (an expiry changes the generation, so a
/// running server rebuilds when an exception ends).
fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}
