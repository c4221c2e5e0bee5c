//! Email waits here until a mail server has taken it: an alert email, a daily digest or a
//! weekly summary is written to the outbox first and sent from it, so a server that is
//! down loses nothing (the sender retries, and the dashboard shows what is stuck). Also the
//! figures the digest is made of, read from the rest of the store.

use register::people::SchoolId;
use register::roles::Role;
use sqlx::Row;

use crate::{Result, Store, split_names};

/// An email to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMail {
    /// `alert`, `digest` or `weekly`.
    pub kind: String,
    pub recipients: Vec<String>,
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// An email in the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mail {
    pub id: i64,
    pub school: SchoolId,
    pub kind: String,
    pub recipients: Vec<String>,
    pub subject: String,
    pub text: String,
    pub html: String,
    pub created_at: i64,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub sent_at: Option<i64>,
}

/// Someone who receives schoolgate's emails.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipient {
    pub person: register::people::PersonId,
    pub name: String,
    pub email: String,
    pub roles: Vec<Role>,
}

/// A filter category people were blocked from, for the digest: how many blocks, and how
/// many different people (the names stay in the console).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockedCategory {
    pub category: String,
    pub blocks: i64,
    pub people: i64,
}

/// A filter event the monitor reads: search terms and blocked requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MonitoredEvent {
    pub id: i64,
    pub at_ms: i64,
    pub client: String,
    pub person: Option<String>,
    pub group: String,
    pub verdict: String,
    pub category: Option<String>,
    pub name: String,
    pub search: Option<String>,
}

fn mail_from_row(r: &sqlx::any::AnyRow) -> Result<Mail> {
    let recipients: String = r.try_get("recipients")?;
    Ok(Mail {
        id: r.try_get("id")?,
        school: SchoolId(r.try_get("school_id")?),
        kind: r.try_get("kind")?,
        recipients: recipients
            .split(',')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        subject: r.try_get("subject")?,
        text: r.try_get("text_body")?,
        html: r.try_get("html_body")?,
        created_at: r.try_get("created_at")?,
        attempts: r.try_get("attempts")?,
        last_error: r.try_get("last_error")?,
        sent_at: r.try_get("sent_at")?,
    })
}

const MAIL_COLUMNS: &str =
    "id, school_id, kind, recipients, subject, text_body, html_body, created_at, attempts, last_error, sent_at";

/// Writes an email into the outbox on `conn` (a transaction of the caller's, so that the
/// email and what it is about are written together), due now.
pub(crate) async fn insert_mail_on(
    conn: &mut sqlx::AnyConnection,
    school: SchoolId,
    m: &NewMail,
    now: i64,
) -> Result<i64> {
    Ok(sqlx::query(
        "INSERT INTO mail_outbox (school_id, kind, recipients, subject, text_body, html_body, created_at, \
         next_attempt_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7) RETURNING id",
    )
    .bind(school.0)
    .bind(&m.kind)
    .bind(m.recipients.join(","))
    .bind(&m.subject)
    .bind(&m.text)
    .bind(&m.html)
    .bind(now)
    .fetch_one(conn)
    .await?
    .try_get("id")?)
}

impl Store {
    /// Puts an email in the outbox, due now.
    pub async fn queue_mail(&self, school: SchoolId, m: &NewMail, now: i64) -> Result<i64> {
        let mut conn = self.pool.acquire().await?;
        insert_mail_on(&mut conn, school, m, now).await
    }

    /// Queues the copies of a digest of `kind` for `period`, unless it was queued already
    /// (a restart, or two servers on one database, never sends a day's digest twice; the
    /// claim and the emails are one transaction, so a crash between them loses nothing).
    /// Returns the emails' IDs when this call queued them.
    pub async fn queue_digest(
        &self,
        school: SchoolId,
        kind: &str,
        period: &str,
        mails: &[NewMail],
        now: i64,
    ) -> Result<Option<Vec<i64>>> {
        let mut tx = self.write_tx().await?;
        let claimed = sqlx::query(
            "INSERT INTO digest_runs (school_id, kind, period, queued_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT DO NOTHING",
        )
        .bind(school.0)
        .bind(kind)
        .bind(period)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        if claimed.rows_affected() == 0 {
            return Ok(None);
        }
        let mut ids = Vec::new();
        for m in mails {
            ids.push(insert_mail_on(&mut tx, school, m, now).await?);
        }
        tx.commit().await?;
        Ok(Some(ids))
    }

    /// Whether a digest of `kind` was queued for `period`.
    pub async fn digest_queued(&self, school: SchoolId, kind: &str, period: &str) -> Result<bool> {
        Ok(
            sqlx::query("SELECT 1 AS one FROM digest_runs WHERE school_id = $1 AND kind = $2 AND period = $3")
                .bind(school.0)
                .bind(kind)
                .bind(period)
                .fetch_optional(&self.pool)
                .await?
                .is_some(),
        )
    }

    /// Emails due to be (re)tried, oldest first.
    pub async fn due_mail(&self, now: i64, limit: i64) -> Result<Vec<Mail>> {
        let sql = format!(
            "SELECT {MAIL_COLUMNS} FROM mail_outbox WHERE sent_at IS NULL AND next_attempt_at <= $1 \
             ORDER BY next_attempt_at, id LIMIT $2"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(now)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(mail_from_row).collect()
    }

    pub async fn mail(&self, id: i64) -> Result<Option<Mail>> {
        let sql = format!("SELECT {MAIL_COLUMNS} FROM mail_outbox WHERE id = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(mail_from_row).transpose()
    }

    pub async fn mail_sent(&self, id: i64, now: i64) -> Result<()> {
        sqlx::query("UPDATE mail_outbox SET sent_at = $1, attempts = attempts + 1, last_error = NULL WHERE id = $2")
            .bind(now)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Records a failed attempt; the mail is tried again at `retry_at`.
    pub async fn mail_failed(&self, id: i64, error: &str, retry_at: i64) -> Result<()> {
        sqlx::query(
            "UPDATE mail_outbox SET attempts = attempts + 1, last_error = $1, next_attempt_at = $2 WHERE id = $3",
        )
        .bind(error.chars().take(500).collect::<String>())
        .bind(retry_at)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Records a try that reached some recipients but not `remaining`: only they are tried
    /// again, so nobody gets the same email twice.
    pub async fn mail_partly_sent(&self, id: i64, remaining: &[String], error: &str, retry_at: i64) -> Result<()> {
        sqlx::query(
            "UPDATE mail_outbox SET recipients = $1, attempts = attempts + 1, last_error = $2, next_attempt_at = $3 \
             WHERE id = $4",
        )
        .bind(remaining.join(","))
        .bind(error.chars().take(500).collect::<String>())
        .bind(retry_at)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Emails that have failed at least once and are not sent yet, for the dashboard.
    pub async fn stuck_mail(&self, school: SchoolId) -> Result<Vec<Mail>> {
        let sql = format!(
            "SELECT {MAIL_COLUMNS} FROM mail_outbox WHERE school_id = $1 AND sent_at IS NULL AND attempts > 0 \
             ORDER BY id"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(school.0)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(mail_from_row).collect()
    }

    /// Current people with an email address and any of `roles`.
    pub async fn recipients(&self, school: SchoolId, roles: &[Role]) -> Result<Vec<Recipient>> {
        let rows = sqlx::query(
            "SELECT id, given_name, family_name, email, roles FROM people WHERE school_id = $1 AND status = 'active' \
             AND email IS NOT NULL AND email <> '' AND roles <> '' ORDER BY family_name, given_name",
        )
        .bind(school.0)
        .fetch_all(&self.pool)
        .await?;
        let mut out = Vec::new();
        for r in &rows {
            let have: Vec<Role> = split_names(&r.try_get::<String, _>("roles")?)?;
            if have.iter().any(|h| roles.contains(h)) {
                let given: String = r.try_get("given_name")?;
                let family: String = r.try_get("family_name")?;
                out.push(Recipient {
                    person: register::people::PersonId(r.try_get("id")?),
                    name: format!("{given} {family}"),
                    email: r.try_get("email")?,
                    roles: have,
                });
            }
        }
        Ok(out)
    }

    /// The filter categories most blocked in `[from_ms, to_ms)`, with how many people tried.
    pub async fn top_blocked(
        &self,
        school: SchoolId,
        from_ms: i64,
        to_ms: i64,
        limit: i64,
    ) -> Result<Vec<BlockedCategory>> {
        let rows = sqlx::query(
            "SELECT category, sum(repeats) AS blocks, count(DISTINCT coalesce(person, client)) AS people \
             FROM filter_events WHERE school_id = $1 AND verdict = 'block' AND at_ms >= $2 AND at_ms < $3 \
             AND category IS NOT NULL GROUP BY category ORDER BY blocks DESC, category LIMIT $4",
        )
        .bind(school.0)
        .bind(from_ms)
        .bind(to_ms)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(BlockedCategory {
                    category: r.try_get("category")?,
                    blocks: r.try_get("blocks")?,
                    people: r.try_get("people")?,
                })
            })
            .collect()
    }

    /// Lists not reloaded since `before` (Unix seconds), by name: the digest's "lists out of
    /// date".
    pub async fn stale_lists(&self, school: SchoolId, before: i64) -> Result<Vec<String>> {
        let rows = sqlx::query("SELECT name FROM lists WHERE school_id = $1 AND loaded_at < $2 ORDER BY name")
            .bind(school.0)
            .bind(before)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(|r| Ok(r.try_get("name")?)).collect()
    }

    /// Filter events after `after_id` that the monitor reads: those with a search term, and
    /// blocked requests. Returns them and the highest ID looked at.
    ///
    /// Both queries read by ID alone: `+school_id` keeps the planner off the indexes that
    /// begin with the school. SQLite took them for the equality, then walked every event the
    /// school ever logged and sorted them by ID, each second: 0.37 s a time at 1.4 million
    /// events, an eighth of a benchmarked server's CPU and growing with the log. By ID it
    /// reads only the batch.
    pub async fn monitored_events(
        &self,
        school: SchoolId,
        after_id: i64,
        limit: i64,
    ) -> Result<(Vec<MonitoredEvent>, i64)> {
        let last: Option<i64> = sqlx::query(
            "SELECT max(id) AS m FROM (SELECT id FROM filter_events WHERE +school_id = $1 AND id > $2 \
             ORDER BY id LIMIT $3) AS batch",
        )
        .bind(school.0)
        .bind(after_id)
        .bind(limit)
        .fetch_one(&self.pool)
        .await?
        .try_get("m")?;
        let Some(last) = last else {
            return Ok((Vec::new(), after_id));
        };
        let rows = sqlx::query(
            "SELECT id, at_ms, client, person, group_name, verdict, category, name, search FROM filter_events \
             WHERE +school_id = $1 AND id > $2 AND id <= $3 AND (search IS NOT NULL OR verdict = 'block') ORDER BY id",
        )
        .bind(school.0)
        .bind(after_id)
        .bind(last)
        .fetch_all(&self.pool)
        .await?;
        let events = rows
            .iter()
            .map(|r| {
                Ok(MonitoredEvent {
                    id: r.try_get("id")?,
                    at_ms: r.try_get("at_ms")?,
                    client: r.try_get("client")?,
                    person: r.try_get("person")?,
                    group: r.try_get("group_name")?,
                    verdict: r.try_get("verdict")?,
                    category: r.try_get("category")?,
                    name: r.try_get("name")?,
                    search: r.try_get("search")?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok((events, last))
    }

    /// The highest filter event ID so far: where a new monitor starts reading.
    pub async fn last_event_id(&self, school: SchoolId) -> Result<i64> {
        let m: Option<i64> = sqlx::query("SELECT max(id) AS m FROM filter_events WHERE school_id = $1")
            .bind(school.0)
            .fetch_one(&self.pool)
            .await?
            .try_get("m")?;
        Ok(m.unwrap_or(0))
    }
}
