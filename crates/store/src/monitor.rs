//! Monitoring records (issue 6): alerts, the tokens other systems send text with, a
//! school's own lexicon lines, switched-off categories, dismissed false positives and the
//! settings text. Alerts are safeguarding records: every read of one is in the audit log,
//! and nothing here writes their text anywhere but its own table.

use register::people::SchoolId;
use serde_json::json;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::audit::{Actor, append_on};
use crate::{NewMail, Result, Store, StoreError};

/// An alert to record (or fold into a recent one with the same `fold_key`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAlert {
    /// When the thing happened (Unix seconds): the search, the message, the last block.
    pub occurred_at: i64,
    /// The username, when known.
    pub person: Option<String>,
    /// `KS3`, `staff`, `unknown` … (monitor::Subject::name).
    pub subject: String,
    pub group: String,
    pub client: Option<String>,
    /// `search`, `blocked`, `worried` or `api:NAME`.
    pub source: String,
    pub text: String,
    /// The match, as a byte range of `text`.
    pub match_start: usize,
    pub match_end: usize,
    pub phrase: String,
    pub category: String,
    pub severity: u8,
    pub reason: String,
    pub fold_key: String,
    pub about_staff: bool,
    /// About the headteacher: for the Chair of Governors alone.
    pub about_head: bool,
}

/// What recording an alert did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Recorded {
    pub id: i64,
    /// Folded into an alert already open: no new email.
    pub folded: bool,
    pub count: i64,
    /// The alert's severity now (a fold keeps the highest).
    pub severity: u8,
    /// Its severity before this call (for a new alert, the same).
    pub was: u8,
}

/// An alert as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alert {
    pub id: i64,
    pub created_at: i64,
    pub last_at: i64,
    pub occurred_at: i64,
    pub count: i64,
    pub person: Option<String>,
    pub subject: String,
    pub group: String,
    pub client: Option<String>,
    pub source: String,
    pub text: String,
    pub match_start: usize,
    pub match_end: usize,
    pub phrase: String,
    pub category: String,
    pub severity: u8,
    pub reason: String,
    pub about_staff: bool,
    pub about_head: bool,
    /// `new`, `dismissed`, `noted` or `escalated`.
    pub status: String,
    pub handled_at: Option<i64>,
    pub handled_by: Option<String>,
    pub note: Option<String>,
}

/// What the DSL does with an alert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Triage {
    /// A false positive: closed, and the phrase in this context (the words around the
    /// match) counts for less next time.
    Dismiss { context: String },
    /// Looked at, with a note of what was done.
    Note(String),
    /// Serious enough for an incident (the incident log links it).
    Escalate(String),
}

/// Which alerts a reader may see (DESIGN.md, security rules): alerts about staff are for
/// the headteacher alone, and alerts about the headteacher for the Chair of Governors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertScope {
    /// The DSL team: everything but alerts about staff.
    Safeguarding,
    /// The headteacher: everything but alerts about themself.
    Headteacher,
    /// The Chair of Governors: alerts about the headteacher.
    Chair,
}

impl AlertScope {
    fn staff_clause(self) -> &'static str {
        match self {
            AlertScope::Safeguarding => "AND about_staff = 0",
            AlertScope::Headteacher => "AND about_head = 0",
            AlertScope::Chair => "AND about_head = 1",
        }
    }
}

/// Counts for the digest: one row per severity and category.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertCount {
    pub severity: u8,
    pub category: String,
    pub alerts: i64,
}

/// A token another system sends text with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MonitorToken {
    pub id: i64,
    pub name: String,
    pub created_at: i64,
    pub created_by: String,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

/// A dismissed false positive: the phrase, and the words around it when it was dismissed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dismissal {
    pub phrase: String,
    pub context: String,
}

const COLUMNS: &str = "id, created_at, last_at, occurred_at, count, person, subject, group_name, client, source, text, \
                       match_start, match_end, phrase, category, severity, reason, about_staff, about_head, status, handled_at, \
                       handled_by, note";

fn alert_from_row(r: &AnyRow) -> Result<Alert> {
    let usize_of = |name: &str| -> Result<usize> {
        let v: i64 = r.try_get(name)?;
        usize::try_from(v).map_err(|_| StoreError::Corrupt(format!("alert {name} {v}")))
    };
    let severity: i64 = r.try_get("severity")?;
    let about_staff: i64 = r.try_get("about_staff")?;
    let about_head: i64 = r.try_get("about_head")?;
    Ok(Alert {
        id: r.try_get("id")?,
        created_at: r.try_get("created_at")?,
        last_at: r.try_get("last_at")?,
        occurred_at: r.try_get("occurred_at")?,
        count: r.try_get("count")?,
        person: r.try_get("person")?,
        subject: r.try_get("subject")?,
        group: r.try_get("group_name")?,
        client: r.try_get("client")?,
        source: r.try_get("source")?,
        text: r.try_get("text")?,
        match_start: usize_of("match_start")?,
        match_end: usize_of("match_end")?,
        phrase: r.try_get("phrase")?,
        category: r.try_get("category")?,
        severity: u8::try_from(severity.clamp(1, 5)).unwrap_or(5),
        reason: r.try_get("reason")?,
        about_staff: about_staff != 0,
        about_head: about_head != 0,
        status: r.try_get("status")?,
        handled_at: r.try_get("handled_at")?,
        handled_by: r.try_get("handled_by")?,
        note: r.try_get("note")?,
    })
}

/// Longest text kept on an alert: enough for a message or a page of chat, not a whole
/// document (the ingest API refuses more anyway).
const MAX_TEXT: usize = 16 * 1024;

impl Store {
    /// Records an alert, or folds it into an open alert with the same key whose last
    /// occurrence is within `fold_secs` (the count goes up, the highest severity stays).
    pub async fn record_alert(&self, school: SchoolId, a: &NewAlert, fold_secs: i64, now: i64) -> Result<Recorded> {
        let mut tx = self.write_tx().await?;
        // Two servers on one PostgreSQL folding the same thing at once must not both insert.
        let lock = if matches!(self.backend, crate::Backend::Postgres) {
            " FOR UPDATE"
        } else {
            ""
        };
        let sql = format!(
            "SELECT id, count, severity FROM monitor_alerts WHERE school_id = $1 AND fold_key = $2 \
             AND status = 'new' AND last_at >= $3 AND last_at <= $4 ORDER BY last_at DESC LIMIT 1{lock}"
        );
        let open = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(school.0)
            .bind(&a.fold_key)
            .bind(a.occurred_at - fold_secs)
            .bind(a.occurred_at + fold_secs)
            .fetch_optional(&mut *tx)
            .await?;
        if let Some(row) = open {
            let id: i64 = row.try_get("id")?;
            let count: i64 = row.try_get::<i64, _>("count")? + 1;
            let old: i64 = row.try_get("severity")?;
            let severity = old.max(i64::from(a.severity));
            // An occurrence reported late (an older `at`) never moves `last_at` back.
            sqlx::query(
                "UPDATE monitor_alerts SET count = count + 1, \
                 last_at = CASE WHEN last_at > $1 THEN last_at ELSE $1 END, severity = $2 \
                 WHERE id = $3 AND school_id = $4",
            )
            .bind(a.occurred_at)
            .bind(severity)
            .bind(id)
            .bind(school.0)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            return Ok(Recorded {
                id,
                folded: true,
                count,
                severity: severity.clamp(1, 5) as u8,
                was: old.clamp(1, 5) as u8,
            });
        }
        // A long text is kept as the part around the match, so the record always shows it.
        let (text, start, end) = around(&a.text, a.match_start, a.match_end, MAX_TEXT);
        let id: i64 = sqlx::query(
            "INSERT INTO monitor_alerts (school_id, created_at, last_at, occurred_at, person, subject, group_name, \
             client, source, text, match_start, match_end, phrase, category, severity, reason, fold_key, about_staff, \
             about_head) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, \
             $19) RETURNING id",
        )
        .bind(school.0)
        .bind(now)
        .bind(a.occurred_at)
        .bind(a.occurred_at)
        .bind(&a.person)
        .bind(&a.subject)
        .bind(&a.group)
        .bind(&a.client)
        .bind(&a.source)
        .bind(text)
        .bind(start as i64)
        .bind(end as i64)
        .bind(&a.phrase)
        .bind(&a.category)
        .bind(i64::from(a.severity))
        .bind(&a.reason)
        .bind(&a.fold_key)
        .bind(i64::from(a.about_staff))
        .bind(i64::from(a.about_head))
        .fetch_one(&mut *tx)
        .await?
        .try_get("id")?;
        // The audit entry says an alert exists, never what it says; for an alert about staff
        // or the headteacher, not even its category (the audit log has other readers).
        let details = if a.about_staff || a.about_head {
            "{}".to_owned()
        } else {
            json!({"category": a.category, "severity": a.severity, "source": a.source}).to_string()
        };
        append_on(
            &mut tx,
            school,
            Actor::system().entry(now, "monitor.alert", &format!("alert:{id}"), details),
        )
        .await?;
        tx.commit().await?;
        Ok(Recorded {
            id,
            folded: false,
            count: 1,
            severity: a.severity,
            was: a.severity,
        })
    }

    /// Alerts with `status` (all when `None`), newest first, that `scope` may see. Listing
    /// is a read of safeguarding records, so it is audited.
    pub async fn alerts(
        &self,
        school: SchoolId,
        scope: AlertScope,
        status: Option<&str>,
        limit: i64,
        reader: &Actor,
        now: i64,
    ) -> Result<Vec<Alert>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM monitor_alerts WHERE school_id = $1 AND ($2 = '' OR status = $2) {} \
             ORDER BY last_at DESC, id DESC LIMIT $3",
            scope.staff_clause()
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(school.0)
            .bind(status.unwrap_or(""))
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        let alerts = rows.iter().map(alert_from_row).collect::<Result<Vec<_>>>()?;
        let details = json!({"status": status.unwrap_or("all"), "shown": alerts.len()}).to_string();
        self.audit(school, reader.entry(now, "monitor.alerts.list", "alerts", details))
            .await?;
        Ok(alerts)
    }

    /// Alerts about one person (by username) that `scope` may see, newest first; audited
    /// as a reading of their record.
    pub async fn alerts_about(
        &self,
        school: SchoolId,
        scope: AlertScope,
        username: &str,
        reader: &Actor,
        now: i64,
    ) -> Result<Vec<Alert>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM monitor_alerts WHERE school_id = $1 AND person = $2 {} ORDER BY last_at DESC LIMIT 500",
            scope.staff_clause()
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(school.0)
            .bind(username)
            .fetch_all(&self.pool)
            .await?;
        let alerts = rows.iter().map(alert_from_row).collect::<Result<Vec<_>>>()?;
        self.audit(
            school,
            reader.entry(
                now,
                "monitor.alerts.about",
                &format!("person:{username}"),
                json!({"shown": alerts.len()}).to_string(),
            ),
        )
        .await?;
        Ok(alerts)
    }

    /// One alert, for `reader`; the read is audited. An alert outside the reader's scope is
    /// "not found", as if it did not exist.
    pub async fn alert(&self, school: SchoolId, id: i64, scope: AlertScope, reader: &Actor, now: i64) -> Result<Alert> {
        let sql = format!(
            "SELECT {COLUMNS} FROM monitor_alerts WHERE school_id = $1 AND id = $2 {}",
            scope.staff_clause()
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(school.0)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("alert {id}")))?;
        let alert = alert_from_row(&row)?;
        self.audit(
            school,
            reader.entry(now, "monitor.alert.read", &format!("alert:{id}"), "{}".into()),
        )
        .await?;
        Ok(alert)
    }

    /// Dismisses, notes or escalates an alert. A dismissal is remembered with the words
    /// around the match, so the same phrase in the same context counts for less next time.
    pub async fn triage_alert(
        &self,
        school: SchoolId,
        id: i64,
        scope: AlertScope,
        triage: &Triage,
        actor: &Actor,
        now: i64,
    ) -> Result<()> {
        let mut tx = self.write_tx().await?;
        let sql = format!(
            "SELECT phrase, note FROM monitor_alerts WHERE school_id = $1 AND id = $2 {}",
            scope.staff_clause()
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(school.0)
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("alert {id}")))?;
        let phrase: String = row.try_get("phrase")?;
        let old_note: Option<String> = row.try_get("note")?;
        let (status, note) = match triage {
            Triage::Dismiss { .. } => ("dismissed", None),
            Triage::Note(n) | Triage::Escalate(n) => {
                let n = n.trim();
                if n.is_empty() && matches!(triage, Triage::Note(_)) {
                    return Err(StoreError::Invalid(
                        "Write what was done, so the record says it.".into(),
                    ));
                }
                let status = if matches!(triage, Triage::Note(_)) {
                    "noted"
                } else {
                    "escalated"
                };
                (status, Some(n.to_owned()))
            }
        };
        let note = match (old_note, note) {
            (Some(old), Some(new)) if !new.is_empty() => Some(format!("{old}\n\n{new}")),
            (old, new) => new.filter(|n| !n.is_empty()).or(old),
        };
        sqlx::query(
            "UPDATE monitor_alerts SET status = $1, handled_at = $2, handled_by = $3, note = $4 \
             WHERE id = $5 AND school_id = $6",
        )
        .bind(status)
        .bind(now)
        .bind(&actor.label)
        .bind(&note)
        .bind(id)
        .bind(school.0)
        .execute(&mut *tx)
        .await?;
        if let Triage::Dismiss { context } = triage {
            sqlx::query(
                "INSERT INTO monitor_dismissals (school_id, phrase, context, at, by_actor) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(school.0)
            .bind(&phrase)
            .bind(context)
            .bind(now)
            .bind(&actor.label)
            .execute(&mut *tx)
            .await?;
        }
        append_on(
            &mut tx,
            school,
            actor.entry(
                now,
                &format!("monitor.alert.{status}"),
                &format!("alert:{id}"),
                "{}".into(),
            ),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Alerts raised in `[from, to)` counted by severity and category, for the digest. The
    /// headteacher's copy counts alerts about staff; everyone else's leaves them out.
    pub async fn alert_counts(
        &self,
        school: SchoolId,
        scope: AlertScope,
        from: i64,
        to: i64,
    ) -> Result<Vec<AlertCount>> {
        let sql = format!(
            "SELECT severity, category, count(*) AS n FROM monitor_alerts WHERE school_id = $1 \
             AND created_at >= $2 AND created_at < $3 {} GROUP BY severity, category \
             ORDER BY severity DESC, n DESC, category",
            scope.staff_clause()
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(school.0)
            .bind(from)
            .bind(to)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                let s: i64 = r.try_get("severity")?;
                Ok(AlertCount {
                    severity: s.clamp(1, 5) as u8,
                    category: r.try_get("category")?,
                    alerts: r.try_get("n")?,
                })
            })
            .collect()
    }

    /// Queues `mail` about alert `id` unless an email about it was queued already, in one
    /// transaction: a retry after a failure never sends twice, and never loses the email.
    pub async fn queue_alert_mail_once(&self, school: SchoolId, id: i64, mail: &NewMail, now: i64) -> Result<bool> {
        let mut tx = self.write_tx().await?;
        let claimed = sqlx::query(
            "UPDATE monitor_alerts SET emailed_at = $1 WHERE id = $2 AND school_id = $3 AND emailed_at IS NULL",
        )
        .bind(now)
        .bind(id)
        .bind(school.0)
        .execute(&mut *tx)
        .await?;
        if claimed.rows_affected() == 0 {
            return Ok(false);
        }
        crate::outbox::insert_mail_on(&mut tx, school, mail, now).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Alerts still waiting for the DSL (status `new`) that `scope` may see.
    pub async fn open_alert_count(&self, school: SchoolId, scope: AlertScope) -> Result<i64> {
        let sql = format!(
            "SELECT count(*) AS n FROM monitor_alerts WHERE school_id = $1 AND status = 'new' {}",
            scope.staff_clause()
        );
        Ok(sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(school.0)
            .fetch_one(&self.pool)
            .await?
            .try_get("n")?)
    }

    /// The school's dismissed false positives.
    pub async fn dismissals(&self, school: SchoolId) -> Result<Vec<Dismissal>> {
        let rows = sqlx::query("SELECT phrase, context FROM monitor_dismissals WHERE school_id = $1 ORDER BY id")
            .bind(school.0)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                Ok(Dismissal {
                    phrase: r.try_get("phrase")?,
                    context: r.try_get("context")?,
                })
            })
            .collect()
    }

    /// Makes a token for another system (a chat service, an email gateway, a device
    /// agent) to send text with; the caller shows `token` once and keeps only its hash.
    pub async fn create_monitor_token(
        &self,
        school: SchoolId,
        name: &str,
        token_hash: &str,
        actor: &Actor,
        now: i64,
    ) -> Result<i64> {
        let name = name.trim();
        if name.is_empty() || name.len() > 80 {
            return Err(StoreError::Invalid(
                "Name the system the token is for (up to 80 characters).".into(),
            ));
        }
        let mut tx = self.write_tx().await?;
        let id: i64 = sqlx::query(
            "INSERT INTO monitor_tokens (school_id, name, token_hash, created_at, created_by) \
             VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .bind(school.0)
        .bind(name)
        .bind(token_hash)
        .bind(now)
        .bind(&actor.label)
        .fetch_one(&mut *tx)
        .await?
        .try_get("id")?;
        append_on(
            &mut tx,
            school,
            actor.entry(
                now,
                "monitor.token.create",
                &format!("monitor_token:{id}"),
                json!({"name": name}).to_string(),
            ),
        )
        .await?;
        tx.commit().await?;
        Ok(id)
    }

    /// The school and system name a token stands for, if it is live; marks it used.
    pub async fn monitor_token(&self, token_hash: &str, now: i64) -> Result<Option<(SchoolId, String)>> {
        let row =
            sqlx::query("SELECT id, school_id, name FROM monitor_tokens WHERE token_hash = $1 AND revoked_at IS NULL")
                .bind(token_hash)
                .fetch_optional(&self.pool)
                .await?;
        let Some(row) = row else { return Ok(None) };
        let id: i64 = row.try_get("id")?;
        sqlx::query("UPDATE monitor_tokens SET last_used_at = $1 WHERE id = $2")
            .bind(now)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(Some((SchoolId(row.try_get("school_id")?), row.try_get("name")?)))
    }

    pub async fn monitor_tokens(&self, school: SchoolId) -> Result<Vec<MonitorToken>> {
        let rows = sqlx::query(
            "SELECT id, name, created_at, created_by, last_used_at, revoked_at FROM monitor_tokens \
             WHERE school_id = $1 ORDER BY id",
        )
        .bind(school.0)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(MonitorToken {
                    id: r.try_get("id")?,
                    name: r.try_get("name")?,
                    created_at: r.try_get("created_at")?,
                    created_by: r.try_get("created_by")?,
                    last_used_at: r.try_get("last_used_at")?,
                    revoked_at: r.try_get("revoked_at")?,
                })
            })
            .collect()
    }

    pub async fn revoke_monitor_token(&self, school: SchoolId, id: i64, actor: &Actor, now: i64) -> Result<()> {
        let mut tx = self.write_tx().await?;
        let done = sqlx::query(
            "UPDATE monitor_tokens SET revoked_at = $1 WHERE id = $2 AND school_id = $3 AND revoked_at IS NULL",
        )
        .bind(now)
        .bind(id)
        .bind(school.0)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("live token {id}")));
        }
        append_on(
            &mut tx,
            school,
            actor.entry(now, "monitor.token.revoke", &format!("monitor_token:{id}"), "{}".into()),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The settings text (empty: the defaults) and the event cursor (`None` before the
    /// monitor first ran).
    pub async fn monitor_state(&self, school: SchoolId) -> Result<(String, Option<i64>)> {
        let row = sqlx::query("SELECT settings, event_cursor FROM monitor_state WHERE school_id = $1")
            .bind(school.0)
            .fetch_optional(&self.pool)
            .await?;
        Ok(match row {
            Some(r) => (r.try_get("settings")?, r.try_get("event_cursor")?),
            None => (String::new(), None),
        })
    }

    /// Saves the settings text, which the caller has checked (monitor::Settings::from_toml).
    pub async fn set_monitor_settings(&self, school: SchoolId, text: &str, actor: &Actor, now: i64) -> Result<()> {
        let mut tx = self.write_tx().await?;
        sqlx::query(
            "INSERT INTO monitor_state (school_id, settings, updated_at, updated_by) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (school_id) DO UPDATE SET settings = $2, updated_at = $3, updated_by = $4",
        )
        .bind(school.0)
        .bind(text)
        .bind(now)
        .bind(&actor.label)
        .execute(&mut *tx)
        .await?;
        append_on(
            &mut tx,
            school,
            actor.entry(
                now,
                "monitor.settings",
                "monitor_settings",
                json!({"text": text}).to_string(),
            ),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Moves the cursor past the filter events the monitor has read.
    pub async fn set_monitor_cursor(&self, school: SchoolId, cursor: i64) -> Result<()> {
        sqlx::query(
            "INSERT INTO monitor_state (school_id, event_cursor) VALUES ($1, $2) \
             ON CONFLICT (school_id) DO UPDATE SET event_cursor = $2",
        )
        .bind(school.0)
        .bind(cursor)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The school's own lexicon lines (id, line), as added in the console.
    pub async fn school_lexicon(&self, school: SchoolId) -> Result<Vec<(i64, String)>> {
        let rows = sqlx::query("SELECT id, line FROM monitor_lexicon WHERE school_id = $1 ORDER BY id")
            .bind(school.0)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("id")?, r.try_get("line")?)))
            .collect()
    }

    /// Adds lexicon lines the caller has checked (monitor::lexicon::parse).
    pub async fn add_lexicon_lines(&self, school: SchoolId, lines: &[String], actor: &Actor, now: i64) -> Result<()> {
        let mut tx = self.write_tx().await?;
        for line in lines {
            let id: i64 = sqlx::query(
                "INSERT INTO monitor_lexicon (school_id, line, added_at, added_by) VALUES ($1, $2, $3, $4) RETURNING id",
            )
            .bind(school.0)
            .bind(line)
            .bind(now)
            .bind(&actor.label)
            .fetch_one(&mut *tx)
            .await?
            .try_get("id")?;
            append_on(
                &mut tx,
                school,
                actor.entry(
                    now,
                    "monitor.lexicon.add",
                    &format!("lexicon:{id}"),
                    // The category only: a school's own phrase may name someone.
                    json!({"category": line.split('|').next().unwrap_or_default().trim()}).to_string(),
                ),
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn remove_lexicon_line(&self, school: SchoolId, id: i64, actor: &Actor, now: i64) -> Result<()> {
        let mut tx = self.write_tx().await?;
        let line: Option<String> = sqlx::query("SELECT line FROM monitor_lexicon WHERE id = $1 AND school_id = $2")
            .bind(id)
            .bind(school.0)
            .fetch_optional(&mut *tx)
            .await?
            .map(|r| r.try_get("line"))
            .transpose()?;
        let line = line.ok_or_else(|| StoreError::NotFound(format!("lexicon line {id}")))?;
        sqlx::query("DELETE FROM monitor_lexicon WHERE id = $1 AND school_id = $2")
            .bind(id)
            .bind(school.0)
            .execute(&mut *tx)
            .await?;
        append_on(
            &mut tx,
            school,
            actor.entry(
                now,
                "monitor.lexicon.remove",
                &format!("lexicon:{id}"),
                json!({"category": line.split('|').next().unwrap_or_default().trim()}).to_string(),
            ),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Categories the school switched off.
    pub async fn categories_off(&self, school: SchoolId) -> Result<Vec<String>> {
        let rows = sqlx::query("SELECT category FROM monitor_categories_off WHERE school_id = $1 ORDER BY category")
            .bind(school.0)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(|r| Ok(r.try_get("category")?)).collect()
    }

    pub async fn set_category_on(
        &self,
        school: SchoolId,
        category: &str,
        on: bool,
        actor: &Actor,
        now: i64,
    ) -> Result<()> {
        let mut tx = self.write_tx().await?;
        let sql = if on {
            "DELETE FROM monitor_categories_off WHERE school_id = $1 AND category = $2"
        } else {
            "INSERT INTO monitor_categories_off (school_id, category) VALUES ($1, $2) ON CONFLICT DO NOTHING"
        };
        sqlx::query(sql).bind(school.0).bind(category).execute(&mut *tx).await?;
        append_on(
            &mut tx,
            school,
            actor.entry(
                now,
                if on {
                    "monitor.category.on"
                } else {
                    "monitor.category.off"
                },
                &format!("category:{category}"),
                "{}".into(),
            ),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}

/// At most `max` bytes of `text` around `start..end` (cut on character boundaries), and
/// the match's offsets within it.
fn around(text: &str, start: usize, end: usize, max: usize) -> (&str, usize, usize) {
    let (start, end) = if start <= end && end <= text.len() {
        (start, end)
    } else {
        (0, 0)
    };
    if text.len() <= max {
        return (text, start, end);
    }
    let mut from = start.saturating_sub(max.saturating_sub(end - start) / 2);
    while !text.is_char_boundary(from) {
        from -= 1;
    }
    let mut to = (from + max).min(text.len());
    while !text.is_char_boundary(to) {
        to -= 1;
    }
    let (s, e) = (start.saturating_sub(from), end.saturating_sub(from).min(to - from));
    (&text[from..to], s.min(e), e)
}

#[cfg(test)]
mod tests {
    use super::around;

    #[test]
    fn a_long_text_keeps_the_part_around_the_match() {
        let text = format!("{}kill myself{}", "a ".repeat(20_000), " b".repeat(20_000));
        let at = text.find("kill").expect("there");
        let (kept, s, e) = around(&text, at, at + 11, 16 * 1024);
        assert!(kept.len() <= 16 * 1024);
        assert_eq!(&kept[s..e], "kill myself");
        assert_eq!(around("short", 0, 5, 100), ("short", 0, 5));
        assert_eq!(around("bad offsets", 9, 99, 100), ("bad offsets", 0, 0));
        let (k, s, e) = around("żółw żółw żółw", 0, 0, 5);
        assert!(k.len() <= 5 && s <= e);
    }
}
