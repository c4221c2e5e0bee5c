//! Unblock requests and the exceptions answering them create (UKSIC-F-SF-13: users can ask
//! for access, and each request reaches the filter manager): a pupil asks from the block
//! page, a filter manager allows it for that person, their group or everyone (until an
//! optional expiry) or declines it with a reason, and the requester sees the answer on the
//! block page next time. Every step is in the audit log.

use register::people::SchoolId;
use serde_json::json;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::audit::{Actor, append_on};
use crate::{Result, Store, StoreError};

/// Requests one person (or client address, when nobody is known) may file in an hour:
/// enough for a real lesson, not enough to flood the queue.
const MAX_PER_HOUR: i64 = 20;

/// A request as the block page sends it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewUnblockRequest {
    /// The username, when the requester is known.
    pub person: Option<String>,
    pub client: String,
    pub group: String,
    /// The site or page, as a list entry (`games.example` or `games.example/quiz`).
    pub target: String,
    pub why: String,
}

/// A request as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnblockRequest {
    pub id: i64,
    pub created_at: i64,
    pub person: Option<String>,
    pub client: String,
    pub group: String,
    pub target: String,
    pub why: String,
    /// `pending`, `allowed` or `declined`.
    pub status: String,
    pub decided_at: Option<i64>,
    pub decided_by: Option<String>,
    /// `person`, `group` or `everyone` for an allowed request.
    pub scope: Option<String>,
    pub scope_value: Option<String>,
    pub expires_at: Option<i64>,
    /// The reason given for a decline.
    pub answer: Option<String>,
}

/// Who an allowed request unblocks the site for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    Person(String),
    Group(String),
    Everyone,
}

impl Scope {
    fn parts(&self) -> (&'static str, Option<&str>) {
        match self {
            Scope::Person(p) => ("person", Some(p)),
            Scope::Group(g) => ("group", Some(g)),
            Scope::Everyone => ("everyone", None),
        }
    }
}

/// How a filter manager answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    Allow {
        scope: Scope,
        /// The list entry to allow (the request's target, or a wider or narrower one).
        entry: String,
        expires_at: Option<i64>,
    },
    Decline {
        reason: String,
    },
}

/// An exception in force.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exception {
    pub id: i64,
    pub scope: Scope,
    pub entry: String,
    pub expires_at: Option<i64>,
    pub request_id: Option<i64>,
}

const COLUMNS: &str = "id, created_at, person, client, group_name, target, why, status, decided_at, decided_by, scope, \
                       scope_value, expires_at, answer";

fn request_from_row(r: &AnyRow) -> Result<UnblockRequest> {
    Ok(UnblockRequest {
        id: r.try_get("id")?,
        created_at: r.try_get("created_at")?,
        person: r.try_get("person")?,
        client: r.try_get("client")?,
        group: r.try_get("group_name")?,
        target: r.try_get("target")?,
        why: r.try_get("why")?,
        status: r.try_get("status")?,
        decided_at: r.try_get("decided_at")?,
        decided_by: r.try_get("decided_by")?,
        scope: r.try_get("scope")?,
        scope_value: r.try_get("scope_value")?,
        expires_at: r.try_get("expires_at")?,
        answer: r.try_get("answer")?,
    })
}

impl Store {
    /// Files a request; the same person (or address) asking again for the same target
    /// while it waits gets the waiting request's ID, not a second one.
    pub async fn create_unblock_request(&self, school: SchoolId, r: &NewUnblockRequest, now: i64) -> Result<i64> {
        let why = r.why.trim();
        if r.target.trim().is_empty() {
            return Err(StoreError::Invalid(
                "an unblock request needs the address that was blocked".into(),
            ));
        }
        let mut tx = self.write_tx().await?;
        let who = r.person.clone().unwrap_or_else(|| r.client.clone());
        let existing = sqlx::query(
            "SELECT id FROM unblock_requests WHERE school_id = $1 AND status = 'pending' AND target = $2 \
             AND coalesce(person, client) = $3",
        )
        .bind(school.0)
        .bind(&r.target)
        .bind(&who)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(row) = existing {
            return Ok(row.try_get("id")?);
        }
        let recent: i64 = sqlx::query(
            "SELECT count(*) AS n FROM unblock_requests WHERE school_id = $1 AND coalesce(person, client) = $2 \
             AND created_at > $3",
        )
        .bind(school.0)
        .bind(&who)
        .bind(now - 3600)
        .fetch_one(&mut *tx)
        .await?
        .try_get("n")?;
        if recent >= MAX_PER_HOUR {
            return Err(StoreError::Conflict(
                "That is a lot of requests in one hour. Please ask your teacher instead.".into(),
            ));
        }
        let id: i64 = sqlx::query(
            "INSERT INTO unblock_requests (school_id, created_at, person, client, group_name, target, why) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        )
        .bind(school.0)
        .bind(now)
        .bind(&r.person)
        .bind(&r.client)
        .bind(&r.group)
        .bind(&r.target)
        .bind(why.chars().take(1000).collect::<String>())
        .fetch_one(&mut *tx)
        .await?
        .try_get("id")?;
        let actor = Actor {
            label: r
                .person
                .as_ref()
                .map(|p| format!("person:{p}"))
                .unwrap_or_else(|| "unidentified".into()),
            origin: r.client.clone(),
        };
        let details = json!({"target": r.target, "group": r.group}).to_string();
        append_on(
            &mut tx,
            school,
            actor.entry(now, "unblock.request", &format!("unblock_request:{id}"), details),
        )
        .await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Requests with `status` (all when `None`), oldest waiting first for `pending`,
    /// newest first otherwise.
    pub async fn unblock_requests(
        &self,
        school: SchoolId,
        status: Option<&str>,
        limit: i64,
    ) -> Result<Vec<UnblockRequest>> {
        let order = if status == Some("pending") { "ASC" } else { "DESC" };
        let sql = format!(
            "SELECT {COLUMNS} FROM unblock_requests WHERE school_id = $1 AND ($2 = '' OR status = $2) \
             ORDER BY created_at {order}, id {order} LIMIT $3"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(school.0)
            .bind(status.unwrap_or(""))
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(request_from_row).collect()
    }

    pub async fn unblock_request(&self, school: SchoolId, id: i64) -> Result<UnblockRequest> {
        let sql = format!("SELECT {COLUMNS} FROM unblock_requests WHERE school_id = $1 AND id = $2");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(school.0)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("unblock request {id}")))?;
        request_from_row(&row)
    }

    /// One person's (or, for nobody known, one address's) recent requests, newest first:
    /// what the block page shows them.
    pub async fn unblock_requests_of(&self, school: SchoolId, who: &str, limit: i64) -> Result<Vec<UnblockRequest>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM unblock_requests WHERE school_id = $1 AND coalesce(person, client) = $2 \
             ORDER BY created_at DESC, id DESC LIMIT $3"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(school.0)
            .bind(who)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(request_from_row).collect()
    }

    /// Answers a waiting request: in one transaction, the request's new state, the
    /// exception an allow creates, and the audit entry (UKSIC-F-SF-03: no change without a
    /// record of who, when and why).
    pub async fn answer_unblock_request(
        &self,
        school: SchoolId,
        id: i64,
        answer: &Answer,
        actor: &Actor,
        now: i64,
    ) -> Result<()> {
        let mut tx = self.write_tx().await?;
        let sql = format!("SELECT {COLUMNS} FROM unblock_requests WHERE school_id = $1 AND id = $2");
        let request = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(school.0)
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?
            .as_ref()
            .map(request_from_row)
            .transpose()?
            .ok_or_else(|| StoreError::NotFound(format!("unblock request {id}")))?;
        if request.status != "pending" {
            return Err(StoreError::Conflict(format!(
                "this request was already answered ({})",
                request.status
            )));
        }
        let details = match answer {
            Answer::Allow {
                scope,
                entry,
                expires_at,
            } => {
                if expires_at.is_some_and(|t| t <= now) {
                    return Err(StoreError::Invalid("the end of the exception is already past".into()));
                }
                let (kind, value) = scope.parts();
                let updated = sqlx::query(
                    "UPDATE unblock_requests SET status = 'allowed', decided_at = $1, decided_by = $2, scope = $3, \
                     scope_value = $4, expires_at = $5 WHERE school_id = $6 AND id = $7 AND status = 'pending'",
                )
                .bind(now)
                .bind(&actor.label)
                .bind(kind)
                .bind(value)
                .bind(*expires_at)
                .bind(school.0)
                .bind(id)
                .execute(&mut *tx)
                .await?;
                // Two filter managers answering at once: only the first answer counts.
                if updated.rows_affected() != 1 {
                    return Err(StoreError::Conflict(
                        "this request was answered by someone else just now".into(),
                    ));
                }
                sqlx::query(
                    "INSERT INTO filter_exceptions (school_id, scope, scope_value, entry, expires_at, created_at, \
                     created_by, request_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(school.0)
                .bind(kind)
                .bind(value)
                .bind(entry)
                .bind(*expires_at)
                .bind(now)
                .bind(&actor.label)
                .bind(id)
                .execute(&mut *tx)
                .await?;
                json!({"decision": "allow", "target": request.target, "entry": entry, "scope": kind,
                    "scope_value": value, "expires_at": expires_at, "requested_by": request.person})
            }
            Answer::Decline { reason } => {
                let updated = sqlx::query(
                    "UPDATE unblock_requests SET status = 'declined', decided_at = $1, decided_by = $2, answer = $3 \
                     WHERE school_id = $4 AND id = $5 AND status = 'pending'",
                )
                .bind(now)
                .bind(&actor.label)
                .bind(reason.trim())
                .bind(school.0)
                .bind(id)
                .execute(&mut *tx)
                .await?;
                if updated.rows_affected() != 1 {
                    return Err(StoreError::Conflict(
                        "this request was answered by someone else just now".into(),
                    ));
                }
                json!({"decision": "decline", "target": request.target, "reason": reason.trim(),
                    "requested_by": request.person})
            }
        };
        let action = match answer {
            Answer::Allow { .. } => "unblock.allow",
            Answer::Decline { .. } => "unblock.decline",
        };
        append_on(
            &mut tx,
            school,
            actor.entry(now, action, &format!("unblock_request:{id}"), details.to_string()),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The exceptions in force at `now`.
    pub async fn active_exceptions(&self, school: SchoolId, now: i64) -> Result<Vec<Exception>> {
        let rows = sqlx::query(
            "SELECT id, scope, scope_value, entry, expires_at, request_id FROM filter_exceptions \
             WHERE school_id = $1 AND (expires_at IS NULL OR expires_at > $2) ORDER BY id",
        )
        .bind(school.0)
        .bind(now)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .filter_map(|r| {
                let kind: String = r.try_get("scope").ok()?;
                let value: Option<String> = r.try_get("scope_value").ok()?;
                let scope = match (kind.as_str(), value) {
                    ("person", Some(p)) => Scope::Person(p),
                    ("group", Some(g)) => Scope::Group(g),
                    ("everyone", _) => Scope::Everyone,
                    _ => return None,
                };
                Some(Ok(Exception {
                    id: r.try_get("id").ok()?,
                    scope,
                    entry: r.try_get("entry").ok()?,
                    expires_at: r.try_get("expires_at").ok()?,
                    request_id: r.try_get("request_id").ok()?,
                }))
            })
            .collect()
    }
}
