//! The audit log: append-only, hash-chained, one chain per school.

use register::audit::{self, AuditEntry, BreakReason, ChainBreak, GENESIS, NewAuditEntry};
use register::people::SchoolId;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::{Result, Store};

/// Who is acting, and from where: written into every audit entry they cause.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// `account:ID username`, `cli:username` or `system`.
    pub label: String,
    /// The client address, or `cli`.
    pub origin: String,
}

impl Actor {
    pub fn system() -> Actor {
        Actor {
            label: "system".into(),
            origin: "local".into(),
        }
    }

    pub fn entry(&self, at: i64, action: &str, target: &str, details: String) -> NewAuditEntry {
        NewAuditEntry {
            at,
            actor: self.label.clone(),
            action: action.to_owned(),
            target: target.to_owned(),
            origin: self.origin.clone(),
            details,
        }
    }
}

impl Store {
    /// Appends one entry in its own transaction.
    pub async fn audit(&self, school: SchoolId, entry: NewAuditEntry) -> Result<AuditEntry> {
        let mut tx = self.write_tx().await?;
        let e = append_on(&mut tx, school, entry).await?;
        tx.commit().await?;
        Ok(e)
    }

    /// Up to `limit` entries after `after_seq`, oldest first.
    pub async fn audit_entries(&self, school: SchoolId, after_seq: i64, limit: i64) -> Result<Vec<AuditEntry>> {
        let rows = sqlx::query(
            "SELECT school_id, seq, at, actor, action, target, origin, details, prev_hash, hash \
             FROM audit_log WHERE school_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
        )
        .bind(school.0)
        .bind(after_seq)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(entry_from_row).collect()
    }

    /// The newest entries first, for the console.
    pub async fn recent_audit(&self, school: SchoolId, limit: i64) -> Result<Vec<AuditEntry>> {
        let rows = sqlx::query(
            "SELECT school_id, seq, at, actor, action, target, origin, details, prev_hash, hash \
             FROM audit_log WHERE school_id = $1 ORDER BY seq DESC LIMIT $2",
        )
        .bind(school.0)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(entry_from_row).collect()
    }

    /// Who looked at a record (`incident:7`), newest first: (when, who, from where). Only
    /// views, not changes.
    pub async fn views_of(&self, school: SchoolId, target: &str) -> Result<Vec<(i64, String, String)>> {
        let rows = sqlx::query(
            "SELECT at, actor, origin FROM audit_log WHERE school_id = $1 AND target = $2 AND action LIKE '%.view' \
             ORDER BY seq DESC LIMIT 500",
        )
        .bind(school.0)
        .bind(target)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("at")?, r.try_get("actor")?, r.try_get("origin")?)))
            .collect()
    }

    /// Checks a school's whole chain, page by page, and that it ends where the chain head
    /// says it does (so that cutting entries off the end is caught too).
    pub async fn verify_audit(&self, school: SchoolId) -> Result<Result<u64, ChainBreak>> {
        const PAGE: i64 = 5_000;
        let mut entries = Vec::new();
        let mut after = 0;
        loop {
            let page = self.audit_entries(school, after, PAGE).await?;
            let Some(last) = page.last() else { break };
            after = last.seq;
            let full = page.len() as i64 == PAGE;
            entries.extend(page);
            if !full {
                break;
            }
        }
        let last = entries
            .last()
            .map(|e| (e.seq, e.hash.clone()))
            .unwrap_or((0, GENESIS.to_owned()));
        let checked = match audit::verify(school.0, entries) {
            Ok(n) => n,
            Err(b) => return Ok(Err(b)),
        };
        let head = sqlx::query("SELECT seq, hash FROM audit_heads WHERE school_id = $1")
            .bind(school.0)
            .fetch_optional(&self.pool)
            .await?;
        if let Some(head) = head {
            let (seq, hash): (i64, String) = (head.try_get("seq")?, head.try_get("hash")?);
            if seq != last.0 {
                return Ok(Err(ChainBreak {
                    school: school.0,
                    seq: last.0 + 1,
                    reason: BreakReason::Gap { expected: last.0 + 1 },
                }));
            }
            if hash != last.1 {
                return Ok(Err(ChainBreak {
                    school: school.0,
                    seq: last.0,
                    reason: BreakReason::Hash,
                }));
            }
        }
        Ok(Ok(checked))
    }
}

/// Appends an entry inside the caller's transaction, so that a change and its audit entry
/// commit together or not at all.
pub(crate) async fn append_on(
    conn: &mut sqlx::AnyConnection,
    school: SchoolId,
    entry: NewAuditEntry,
) -> Result<AuditEntry> {
    sqlx::query("INSERT INTO audit_heads (school_id, seq, hash) VALUES ($1, 0, $2) ON CONFLICT (school_id) DO NOTHING")
        .bind(school.0)
        .bind(GENESIS)
        .execute(&mut *conn)
        .await?;
    // Claiming the next number is a write, so it takes the lock first (the row lock on
    // PostgreSQL, the write lock on SQLite): two appends can never chain from one head.
    let head = sqlx::query("UPDATE audit_heads SET seq = seq + 1 WHERE school_id = $1 RETURNING seq, hash")
        .bind(school.0)
        .fetch_one(&mut *conn)
        .await?;
    let seq: i64 = head.try_get("seq")?;
    let prev_hash: String = head.try_get("hash")?;
    let e = entry.chain(school.0, seq - 1, &prev_hash);
    sqlx::query(
        "INSERT INTO audit_log (school_id, seq, at, actor, action, target, origin, details, prev_hash, hash) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(e.school)
    .bind(e.seq)
    .bind(e.at)
    .bind(&e.actor)
    .bind(&e.action)
    .bind(&e.target)
    .bind(&e.origin)
    .bind(&e.details)
    .bind(&e.prev_hash)
    .bind(&e.hash)
    .execute(&mut *conn)
    .await?;
    sqlx::query("UPDATE audit_heads SET hash = $2 WHERE school_id = $1")
        .bind(school.0)
        .bind(&e.hash)
        .execute(&mut *conn)
        .await?;
    Ok(e)
}

pub(crate) fn entry_from_row(r: &AnyRow) -> Result<AuditEntry> {
    Ok(AuditEntry {
        school: r.try_get("school_id")?,
        seq: r.try_get("seq")?,
        at: r.try_get("at")?,
        actor: r.try_get("actor")?,
        action: r.try_get("action")?,
        target: r.try_get("target")?,
        origin: r.try_get("origin")?,
        details: r.try_get("details")?,
        prev_hash: r.try_get("prev_hash")?,
        hash: r.try_get("hash")?,
    })
}
