//! Category lists and group policies, as stored.
//!
//! A list is kept as one row holding its normalised entries, one a line, with their SHA-256:
//! re-importing a list replaces the row in one transaction, so lookups never see half a
//! list, and the hash shows whether the stored text was changed behind schoolgate's back
//! (DFE-FM-3.01 asks that illegal-content lists cannot be altered).

use register::people::SchoolId;
use sha2::{Digest, Sha256};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::audit::{Actor, append_on};
use crate::{Result, Store, StoreError};

/// A list's description, without its entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListRecord {
    pub id: i64,
    pub name: String,
    pub source: String,
    /// schoolgate category name.
    pub category: String,
    pub illegal: bool,
    pub domains: i64,
    pub urls: i64,
    pub skipped: i64,
    pub rejected: i64,
    pub loaded_at: i64,
    pub loaded_by: String,
    pub sha256: String,
}

/// A list to store: its description and its normalised entries, one a line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewList {
    pub name: String,
    pub source: String,
    pub category: String,
    pub illegal: bool,
    pub domains: i64,
    pub urls: i64,
    pub skipped: i64,
    pub rejected: i64,
    pub content: Vec<u8>,
}

/// A group's policy as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyRecord {
    pub group: String,
    pub toml: String,
    pub updated_at: i64,
    pub updated_by: String,
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

const LIST_COLUMNS: &str =
    "id, name, source, category, illegal, domains, urls, skipped, rejected, loaded_at, loaded_by, sha256";

fn list_from_row(r: &AnyRow) -> Result<ListRecord> {
    Ok(ListRecord {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        source: r.try_get("source")?,
        category: r.try_get("category")?,
        illegal: r.try_get::<i64, _>("illegal")? != 0,
        domains: r.try_get("domains")?,
        urls: r.try_get("urls")?,
        skipped: r.try_get("skipped")?,
        rejected: r.try_get("rejected")?,
        loaded_at: r.try_get("loaded_at")?,
        loaded_by: r.try_get("loaded_by")?,
        sha256: r.try_get("sha256")?,
    })
}

impl Store {
    /// Stores a list, replacing any list of the same name in one transaction, with an
    /// audit entry holding the list's description before and after. An illegal-content list
    /// can only be replaced by another illegal-content list (a provider's update), never
    /// turned into an ordinary one.
    pub async fn replace_list(&self, school: SchoolId, list: &NewList, actor: &Actor, now: i64) -> Result<ListRecord> {
        let mut tx = self.write_tx().await?;
        let old = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {LIST_COLUMNS} FROM lists WHERE school_id = $1 AND name = $2"
        )))
        .bind(school.0)
        .bind(&list.name)
        .fetch_optional(&mut *tx)
        .await?
        .as_ref()
        .map(list_from_row)
        .transpose()?;
        if let Some(o) = &old
            && o.illegal
            && !list.illegal
        {
            return Err(StoreError::Conflict(format!(
                "{} is an illegal-content list; it can only be replaced by the provider's update, marked illegal-content too",
                list.name
            )));
        }
        sqlx::query("DELETE FROM lists WHERE school_id = $1 AND name = $2")
            .bind(school.0)
            .bind(&list.name)
            .execute(&mut *tx)
            .await?;
        let sha = sha256_hex(&list.content);
        let row = sqlx::query(
            "INSERT INTO lists (school_id, name, source, category, illegal, domains, urls, skipped, rejected, loaded_at, \
             loaded_by, sha256, content) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING id",
        )
        .bind(school.0)
        .bind(&list.name)
        .bind(&list.source)
        .bind(&list.category)
        .bind(i64::from(list.illegal))
        .bind(list.domains)
        .bind(list.urls)
        .bind(list.skipped)
        .bind(list.rejected)
        .bind(now)
        .bind(&actor.label)
        .bind(&sha)
        .bind(list.content.as_slice())
        .fetch_one(&mut *tx)
        .await?;
        let record = ListRecord {
            id: row.try_get("id")?,
            name: list.name.clone(),
            source: list.source.clone(),
            category: list.category.clone(),
            illegal: list.illegal,
            domains: list.domains,
            urls: list.urls,
            skipped: list.skipped,
            rejected: list.rejected,
            loaded_at: now,
            loaded_by: actor.label.clone(),
            sha256: sha,
        };
        let describe = |l: &ListRecord| {
            serde_json::json!({"category": l.category, "illegal": l.illegal, "domains": l.domains, "urls": l.urls,
                "loaded_at": l.loaded_at, "sha256": l.sha256})
        };
        let details = serde_json::json!({"before": old.as_ref().map(describe), "after": describe(&record)}).to_string();
        append_on(
            &mut tx,
            school,
            actor.entry(now, "list.import", &format!("list:{}", list.name), details),
        )
        .await?;
        tx.commit().await?;
        Ok(record)
    }

    /// Every list of a school, without entries, by name.
    pub async fn lists(&self, school: SchoolId) -> Result<Vec<ListRecord>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {LIST_COLUMNS} FROM lists WHERE school_id = $1 ORDER BY name"
        )))
        .bind(school.0)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(list_from_row).collect()
    }

    /// One list's entries, as stored.
    pub async fn list_content(&self, school: SchoolId, id: i64) -> Result<Vec<u8>> {
        let row = sqlx::query("SELECT content FROM lists WHERE school_id = $1 AND id = $2")
            .bind(school.0)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("list {id}")))?;
        Ok(row.try_get("content")?)
    }

    /// Removes an ordinary list; illegal-content lists cannot be removed (UKSIC-F-IL-03).
    pub async fn remove_list(&self, school: SchoolId, name: &str, actor: &Actor, now: i64) -> Result<()> {
        let mut tx = self.write_tx().await?;
        let old = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {LIST_COLUMNS} FROM lists WHERE school_id = $1 AND name = $2"
        )))
        .bind(school.0)
        .bind(name)
        .fetch_optional(&mut *tx)
        .await?
        .as_ref()
        .map(list_from_row)
        .transpose()?
        .ok_or_else(|| StoreError::NotFound(format!("list {name}")))?;
        if old.illegal {
            drop(tx);
            let details = serde_json::json!({"refused": "illegal-content lists cannot be removed"}).to_string();
            self.audit(
                school,
                actor.entry(now, "list.remove.refused", &format!("list:{name}"), details),
            )
            .await?;
            return Err(StoreError::Conflict(format!(
                "{name} is an illegal-content list: nobody can remove it (DfE filtering standard)"
            )));
        }
        sqlx::query("DELETE FROM lists WHERE school_id = $1 AND id = $2")
            .bind(school.0)
            .bind(old.id)
            .execute(&mut *tx)
            .await?;
        let details =
            serde_json::json!({"before": {"category": old.category, "domains": old.domains, "urls": old.urls}})
                .to_string();
        append_on(
            &mut tx,
            school,
            actor.entry(now, "list.remove", &format!("list:{name}"), details),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Every stored policy of a school, by group name.
    pub async fn policies(&self, school: SchoolId) -> Result<Vec<PolicyRecord>> {
        let rows = sqlx::query(
            "SELECT group_name, toml, updated_at, updated_by FROM policies WHERE school_id = $1 ORDER BY group_name",
        )
        .bind(school.0)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(PolicyRecord {
                    group: r.try_get("group_name")?,
                    toml: r.try_get("toml")?,
                    updated_at: r.try_get("updated_at")?,
                    updated_by: r.try_get("updated_by")?,
                })
            })
            .collect()
    }

    /// Sets a group's policy, with an audit entry holding the TOML before and after.
    pub async fn set_policy(&self, school: SchoolId, group: &str, toml: &str, actor: &Actor, now: i64) -> Result<()> {
        self.set_policy_with_reason(school, group, toml, "", actor, now).await
    }

    /// As [`Store::set_policy`], recording why (DFE-FM-1.03: decisions on what is blocked
    /// or allowed are documented, with the reason).
    pub async fn set_policy_with_reason(
        &self,
        school: SchoolId,
        group: &str,
        toml: &str,
        reason: &str,
        actor: &Actor,
        now: i64,
    ) -> Result<()> {
        let mut tx = self.write_tx().await?;
        let before: Option<String> = sqlx::query("SELECT toml FROM policies WHERE school_id = $1 AND group_name = $2")
            .bind(school.0)
            .bind(group)
            .fetch_optional(&mut *tx)
            .await?
            .map(|r| r.try_get("toml"))
            .transpose()?;
        if before.as_deref() == Some(toml) {
            return Ok(());
        }
        sqlx::query(
            "INSERT INTO policies (school_id, group_name, toml, updated_at, updated_by, revision) \
             VALUES ($1, $2, $3, $4, $5, 1) ON CONFLICT (school_id, group_name) \
             DO UPDATE SET toml = $3, updated_at = $4, updated_by = $5, revision = policies.revision + 1",
        )
        .bind(school.0)
        .bind(group)
        .bind(toml)
        .bind(now)
        .bind(&actor.label)
        .execute(&mut *tx)
        .await?;
        let details = serde_json::json!({"before": before, "after": toml, "reason": reason}).to_string();
        append_on(
            &mut tx,
            school,
            actor.entry(now, "policy.change", &format!("policy:{group}"), details),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Audit entries about one target (`policy:KS2`), newest first: a change log.
    pub async fn audit_for_target(
        &self,
        school: SchoolId,
        target: &str,
        limit: i64,
    ) -> Result<Vec<register::audit::AuditEntry>> {
        let rows = sqlx::query(
            "SELECT school_id, seq, at, actor, action, target, origin, details, prev_hash, hash FROM audit_log \
             WHERE school_id = $1 AND target = $2 ORDER BY seq DESC LIMIT $3",
        )
        .bind(school.0)
        .bind(target)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(crate::audit::entry_from_row).collect()
    }
}
