//! The incident log's records (issue 7): incidents, the people in them, who they are
//! sealed to, and their append-only chronology. Who may read or change one is decided by
//! `register::incidents`; the console asks it with [`IncidentFacts`] before it reads the
//! record itself, and every reading is audited.

use register::incidents::{Category, Concerns, Involved, Part, ReportRow, Status};
use register::people::{PersonId, SchoolId};
use serde_json::json;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::audit::{Actor, append_on};
use crate::{Result, Store, StoreError};

/// Someone named in a new incident.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewInvolved {
    /// A person on the school's register, or `None` for someone outside it.
    pub person: Option<PersonId>,
    /// Their name as the reporter wrote it (kept for people outside the register).
    pub name: String,
    pub involved: Involved,
    pub part: Part,
}

/// A concern as a member of staff records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewIncident {
    pub reported_by: PersonId,
    pub occurred_at: i64,
    /// `in_school` or `outside`.
    pub place: String,
    /// The device or service, if any.
    pub device: String,
    pub what: String,
    pub category: Category,
    pub people: Vec<NewInvolved>,
    /// Illegal content or imminent risk.
    pub urgent: bool,
    /// The monitoring alert it was escalated from.
    pub alert_id: Option<i64>,
    /// Years a record not about pupils is kept before review (the school's rule).
    pub retain_other_years: i64,
}

/// What access to an incident depends on (register::incidents::Record), read without the
/// record's content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncidentFacts {
    pub id: i64,
    pub concerns: Concerns,
    pub people: Vec<(PersonId, Part)>,
    pub sealed_to: Option<Vec<PersonId>>,
    pub reported_by: PersonId,
}

/// An incident as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Incident {
    pub id: i64,
    pub created_at: i64,
    pub reported_by: PersonId,
    pub occurred_at: i64,
    pub place: String,
    pub device: String,
    pub what: String,
    pub category: Category,
    pub concerns: Concerns,
    pub urgent: bool,
    pub status: Status,
    pub outcome: Option<String>,
    pub opened_at: Option<i64>,
    pub alert_id: Option<i64>,
    /// A data breach's ICO decision: when due, what was decided, when.
    pub ico_deadline: Option<i64>,
    pub ico_decision: Option<String>,
    pub review_at: Option<i64>,
    pub follow_up_on: Option<String>,
    /// (person, name, involved, part)
    pub people: Vec<(Option<PersonId>, String, String, Part)>,
}

/// One entry of the chronology.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub id: i64,
    pub written_at: i64,
    /// When what it records happened: earlier than `written_at` for a backdated entry.
    pub happened_at: i64,
    pub author: String,
    /// `note`, `action`, `decision`, `correction` or `status`.
    pub kind: String,
    pub action: Option<String>,
    pub body: String,
    pub corrects: Option<i64>,
    pub reason: Option<String>,
}

/// A chronology entry to add.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEntry {
    pub happened_at: i64,
    pub kind: String,
    pub action: Option<String>,
    pub body: String,
    pub corrects: Option<i64>,
    pub reason: Option<String>,
}

/// Adds an entry the system writes for a change (status, decision, attachment) to a
/// chronology, in the caller's transaction.
async fn system_entry_on(
    conn: &mut sqlx::AnyConnection,
    id: i64,
    now: i64,
    happened_at: i64,
    actor: &Actor,
    kind: &str,
    body: &str,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO incident_entries (incident_id, written_at, happened_at, author, kind, body) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(id)
    .bind(now)
    .bind(happened_at)
    .bind(&actor.label)
    .bind(kind)
    .bind(body)
    .execute(conn)
    .await?;
    Ok(())
}

fn involved_name(i: Involved) -> &'static str {
    match i {
        Involved::Pupil => "pupil",
        Involved::Staff => "staff",
        Involved::Headteacher => "headteacher",
        Involved::Other => "other",
    }
}

fn parse<T: std::str::FromStr<Err = String>>(what: &str, v: &str) -> Result<T> {
    v.parse().map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
}

impl Store {
    /// Records an incident, with its first chronology entry, routed to the first stage of
    /// its route. Returns its ID. The audit entry names the category, not the people.
    pub async fn create_incident(&self, school: SchoolId, n: &NewIncident, actor: &Actor, now: i64) -> Result<i64> {
        let what = n.what.trim();
        if what.is_empty() {
            return Err(StoreError::Invalid("Say what happened, in your own words.".into()));
        }
        if !matches!(n.place.as_str(), "in_school" | "outside") {
            return Err(StoreError::Invalid(
                "Say whether it happened in school or outside.".into(),
            ));
        }
        if n.occurred_at > now + 300 {
            return Err(StoreError::Invalid("When it happened cannot be in the future.".into()));
        }
        let concerns =
            register::incidents::concerns(&n.people.iter().map(|p| (p.involved, p.part)).collect::<Vec<_>>());
        let mut tx = self.write_tx().await?;
        let mut born_days = Vec::new();
        for p in n.people.iter().filter(|p| p.involved == Involved::Pupil) {
            let Some(person) = p.person else { continue };
            let dob: Option<String> = sqlx::query("SELECT date_of_birth FROM people WHERE id = $1 AND school_id = $2")
                .bind(person.0)
                .bind(school.0)
                .fetch_optional(&mut *tx)
                .await?
                .map(|r| r.try_get("date_of_birth"))
                .transpose()?
                .flatten();
            let fmt = time::macros::format_description!("[year]-[month]-[day]");
            if let Some(d) = dob.and_then(|d| time::Date::parse(&d, &fmt).ok()) {
                born_days.push(i64::from(d.to_julian_day()) - 2_440_588);
            }
        }
        let review_at = register::incidents::review_at(concerns, &born_days, now, n.retain_other_years);
        let ico_deadline =
            (n.category == Category::DataBreach).then_some(now + register::incidents::ICO_DECISION_HOURS * 3600);
        let id: i64 = sqlx::query(
            "INSERT INTO incidents (school_id, created_at, reported_by, occurred_at, place, device, what, category, \
             concerns, urgent, routed_at, alert_id, review_at, ico_deadline) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $2, $11, $12, $13) RETURNING id",
        )
        .bind(school.0)
        .bind(now)
        .bind(n.reported_by.0)
        .bind(n.occurred_at)
        .bind(&n.place)
        .bind(n.device.trim())
        .bind(what)
        .bind(n.category.name())
        .bind(concerns.name())
        .bind(i64::from(n.urgent))
        .bind(n.alert_id)
        .bind(review_at)
        .bind(ico_deadline)
        .fetch_one(&mut *tx)
        .await?
        .try_get("id")?;
        for p in &n.people {
            sqlx::query(
                "INSERT INTO incident_people (incident_id, person_id, name, involved, part) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(id)
            .bind(p.person.map(|x| x.0))
            .bind(p.name.trim())
            .bind(involved_name(p.involved))
            .bind(p.part.name())
            .execute(&mut *tx)
            .await?;
        }
        system_entry_on(&mut tx, id, now, n.occurred_at, actor, "status", "Recorded").await?;
        let details = if concerns == Concerns::Pupils {
            json!({"category": n.category.name(), "urgent": n.urgent}).to_string()
        } else {
            "{}".to_owned()
        };
        append_on(
            &mut tx,
            school,
            actor.entry(now, "incident.create", &format!("incident:{id}"), details),
        )
        .await?;
        tx.commit().await?;
        Ok(id)
    }

    /// What access to each of the school's incidents depends on, newest first.
    pub async fn incident_facts(&self, school: SchoolId, only: Option<i64>) -> Result<Vec<IncidentFacts>> {
        let rows = sqlx::query(
            "SELECT id, concerns, sealed, reported_by FROM incidents WHERE school_id = $1 AND ($2 = 0 OR id = $2) \
             ORDER BY created_at DESC, id DESC",
        )
        .bind(school.0)
        .bind(only.unwrap_or(0))
        .fetch_all(&self.pool)
        .await?;
        let mut out = Vec::new();
        for r in &rows {
            let id: i64 = r.try_get("id")?;
            let people = sqlx::query("SELECT person_id, part FROM incident_people WHERE incident_id = $1")
                .bind(id)
                .fetch_all(&self.pool)
                .await?
                .iter()
                .filter_map(|p| {
                    let person: Option<i64> = p.try_get("person_id").ok()?;
                    let part: String = p.try_get("part").ok()?;
                    Some((PersonId(person?), part.parse().ok()?))
                })
                .collect();
            let sealed: i64 = r.try_get("sealed")?;
            let sealed_to = if sealed != 0 {
                Some(
                    sqlx::query("SELECT person_id FROM incident_sealed WHERE incident_id = $1")
                        .bind(id)
                        .fetch_all(&self.pool)
                        .await?
                        .iter()
                        .map(|p| Ok(PersonId(p.try_get("person_id")?)))
                        .collect::<Result<Vec<_>>>()?,
                )
            } else {
                None
            };
            out.push(IncidentFacts {
                id,
                concerns: parse("concerns", &r.try_get::<String, _>("concerns")?)?,
                people,
                sealed_to,
                reported_by: PersonId(r.try_get("reported_by")?),
            });
        }
        Ok(out)
    }

    /// One incident, read by `reader` (the caller has checked they may): audited, and the
    /// first reading by anyone but the reporter marks it opened (which stops escalation).
    pub async fn read_incident(
        &self,
        school: SchoolId,
        id: i64,
        reader: &Actor,
        by_reporter: bool,
        now: i64,
    ) -> Result<Incident> {
        let r = sqlx::query(
            "SELECT id, created_at, reported_by, occurred_at, place, device, what, category, concerns, urgent, status, \
             outcome, opened_at, alert_id, ico_deadline, ico_decision, review_at, follow_up_on FROM incidents \
             WHERE school_id = $1 AND id = $2",
        )
        .bind(school.0)
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("incident {id}")))?;
        let people = sqlx::query("SELECT person_id, name, involved, part FROM incident_people WHERE incident_id = $1")
            .bind(id)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|p| {
                Ok((
                    p.try_get::<Option<i64>, _>("person_id")?.map(PersonId),
                    p.try_get("name")?,
                    p.try_get("involved")?,
                    parse("part", &p.try_get::<String, _>("part")?)?,
                ))
            })
            .collect::<Result<Vec<_>>>()?;
        let urgent: i64 = r.try_get("urgent")?;
        let incident = Incident {
            id,
            created_at: r.try_get("created_at")?,
            reported_by: PersonId(r.try_get("reported_by")?),
            occurred_at: r.try_get("occurred_at")?,
            place: r.try_get("place")?,
            device: r.try_get("device")?,
            what: r.try_get("what")?,
            category: parse("category", &r.try_get::<String, _>("category")?)?,
            concerns: parse("concerns", &r.try_get::<String, _>("concerns")?)?,
            urgent: urgent != 0,
            status: parse("status", &r.try_get::<String, _>("status")?)?,
            outcome: r.try_get("outcome")?,
            opened_at: r.try_get("opened_at")?,
            alert_id: r.try_get("alert_id")?,
            ico_deadline: r.try_get("ico_deadline")?,
            ico_decision: r.try_get("ico_decision")?,
            review_at: r.try_get("review_at")?,
            follow_up_on: r.try_get("follow_up_on")?,
            people,
        };
        if !by_reporter && incident.opened_at.is_none() {
            sqlx::query("UPDATE incidents SET opened_at = $1 WHERE id = $2 AND opened_at IS NULL")
                .bind(now)
                .bind(id)
                .execute(&self.pool)
                .await?;
        }
        self.audit(
            school,
            reader.entry(now, "incident.view", &format!("incident:{id}"), "{}".into()),
        )
        .await?;
        Ok(incident)
    }

    /// The chronology, in the order things happened (a backdated entry sorts into place).
    pub async fn incident_entries(&self, id: i64) -> Result<Vec<Entry>> {
        let rows = sqlx::query(
            "SELECT id, written_at, happened_at, author, kind, action, body, corrects, reason FROM incident_entries \
             WHERE incident_id = $1 ORDER BY happened_at, id",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(entry_from_row).collect()
    }

    /// Adds to the chronology. A correction must name the entry it corrects and why.
    pub async fn add_incident_entry(
        &self,
        school: SchoolId,
        id: i64,
        e: &NewEntry,
        actor: &Actor,
        now: i64,
    ) -> Result<i64> {
        if e.body.trim().is_empty() {
            return Err(StoreError::Invalid("Write what happened or was done.".into()));
        }
        if !matches!(e.kind.as_str(), "note" | "action" | "decision" | "correction") {
            return Err(StoreError::Invalid(format!("{:?} is not a kind of entry", e.kind)));
        }
        if e.kind == "correction" && (e.corrects.is_none() || e.reason.as_deref().is_none_or(|r| r.trim().is_empty())) {
            return Err(StoreError::Invalid(
                "A correction names the entry it corrects and says why.".into(),
            ));
        }
        if e.happened_at > now + 300 {
            return Err(StoreError::Invalid("An entry cannot be dated in the future.".into()));
        }
        let mut tx = self.write_tx().await?;
        let exists = sqlx::query("SELECT 1 AS one FROM incidents WHERE id = $1 AND school_id = $2")
            .bind(id)
            .bind(school.0)
            .fetch_optional(&mut *tx)
            .await?;
        if exists.is_none() {
            return Err(StoreError::NotFound(format!("incident {id}")));
        }
        let entry: i64 = sqlx::query(
            "INSERT INTO incident_entries (incident_id, written_at, happened_at, author, kind, action, body, corrects, \
             reason) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
        )
        .bind(id)
        .bind(now)
        .bind(e.happened_at)
        .bind(&actor.label)
        .bind(&e.kind)
        .bind(&e.action)
        .bind(e.body.trim())
        .bind(e.corrects)
        .bind(e.reason.as_deref().map(str::trim))
        .fetch_one(&mut *tx)
        .await?
        .try_get("id")?;
        // A first entry by someone working it moves it from open to in progress.
        sqlx::query("UPDATE incidents SET status = 'in_progress' WHERE id = $1 AND status = 'open'")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        append_on(
            &mut tx,
            school,
            actor.entry(
                now,
                "incident.entry",
                &format!("incident:{id}"),
                json!({"kind": e.kind, "action": e.action}).to_string(),
            ),
        )
        .await?;
        tx.commit().await?;
        Ok(entry)
    }

    /// Moves an incident to `to` (closing needs an outcome; reopening is recorded).
    pub async fn set_incident_status(
        &self,
        school: SchoolId,
        id: i64,
        to: Status,
        outcome: Option<&str>,
        actor: &Actor,
        now: i64,
    ) -> Result<()> {
        let mut tx = self.write_tx().await?;
        let status: String = sqlx::query("SELECT status FROM incidents WHERE id = $1 AND school_id = $2")
            .bind(id)
            .bind(school.0)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("incident {id}")))?
            .try_get("status")?;
        let from: Status = parse("status", &status)?;
        if !from.may_become(to) {
            return Err(StoreError::Conflict(format!(
                "An incident that is {} cannot become {}.",
                from.label().to_lowercase(),
                to.label().to_lowercase()
            )));
        }
        let outcome = outcome.map(str::trim).filter(|o| !o.is_empty());
        if to == Status::Closed && outcome.is_none() {
            return Err(StoreError::Invalid("Say the outcome when closing an incident.".into()));
        }
        sqlx::query("UPDATE incidents SET status = $1, outcome = $2 WHERE id = $3")
            .bind(to.name())
            .bind(if to == Status::Closed { outcome } else { None })
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let body = match (from, to) {
            (Status::Closed, Status::Open) => "Reopened".to_owned(),
            (_, Status::Closed) => format!("Closed: {}", outcome.unwrap_or_default()),
            _ => format!("Now {}", to.label().to_lowercase()),
        };
        system_entry_on(&mut tx, id, now, now, actor, "status", &body).await?;
        append_on(
            &mut tx,
            school,
            actor.entry(
                now,
                "incident.status",
                &format!("incident:{id}"),
                json!({"from": from.name(), "to": to.name()}).to_string(),
            ),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// (id, when recorded, category, status) of the incidents `ids`, newest first: the list
    /// a reader is shown once the register has said which they may see.
    pub async fn incident_summaries(&self, school: SchoolId, ids: &[i64]) -> Result<Vec<(i64, i64, Category, Status)>> {
        let mut out: Vec<(i64, i64, Category, Status)> = Vec::new();
        for chunk in ids.chunks(500) {
            let list = chunk.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
            let sql = format!(
                "SELECT id, created_at, category, status FROM incidents WHERE school_id = $1 AND id IN ({list}) \
                 ORDER BY created_at DESC, id DESC"
            );
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(school.0)
                .fetch_all(&self.pool)
                .await?;
            for r in &rows {
                out.push((
                    r.try_get("id")?,
                    r.try_get("created_at")?,
                    parse("category", &r.try_get::<String, _>("category")?)?,
                    parse("status", &r.try_get::<String, _>("status")?)?,
                ));
            }
        }
        out.sort_by(|a, b| b.1.cmp(&a.1).then(b.0.cmp(&a.0)));
        Ok(out)
    }

    /// What routing an incident needs, without its content: whom it concerns, its category,
    /// whether urgent, the registered people in it, and the stage of its route it is at.
    pub async fn incident_routing(
        &self,
        school: SchoolId,
        id: i64,
    ) -> Result<(Concerns, Category, bool, Vec<PersonId>, usize)> {
        let r = sqlx::query(
            "SELECT concerns, category, urgent, route_stage FROM incidents WHERE school_id = $1 AND id = $2",
        )
        .bind(school.0)
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("incident {id}")))?;
        let people =
            sqlx::query("SELECT person_id FROM incident_people WHERE incident_id = $1 AND person_id IS NOT NULL")
                .bind(id)
                .fetch_all(&self.pool)
                .await?
                .iter()
                .map(|p| Ok(PersonId(p.try_get("person_id")?)))
                .collect::<Result<Vec<_>>>()?;
        let urgent: i64 = r.try_get("urgent")?;
        let stage: i64 = r.try_get("route_stage")?;
        Ok((
            parse("concerns", &r.try_get::<String, _>("concerns")?)?,
            parse("category", &r.try_get::<String, _>("category")?)?,
            urgent != 0,
            people,
            usize::try_from(stage).unwrap_or(0),
        ))
    }

    /// Incidents nobody on their route has opened since before `before`, still open: the
    /// ones to send on to the next stage.
    pub async fn unopened_incidents(&self, school: SchoolId, before: i64) -> Result<Vec<i64>> {
        let rows = sqlx::query(
            "SELECT id FROM incidents WHERE school_id = $1 AND opened_at IS NULL AND status <> 'closed' \
             AND routed_at < $2 ORDER BY id",
        )
        .bind(school.0)
        .bind(before)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| Ok(r.try_get("id")?)).collect()
    }

    /// Moves an incident on to `stage` of its route (audited), or, past the last stage,
    /// only restarts its clock so it is not sent again at once.
    pub async fn advance_route(&self, school: SchoolId, id: i64, stage: usize, last: bool, now: i64) -> Result<()> {
        let mut tx = self.write_tx().await?;
        sqlx::query("UPDATE incidents SET route_stage = $1, routed_at = $2 WHERE id = $3 AND school_id = $4")
            .bind(stage as i64)
            .bind(now)
            .bind(id)
            .bind(school.0)
            .execute(&mut *tx)
            .await?;
        if !last {
            append_on(
                &mut tx,
                school,
                Actor::system().entry(
                    now,
                    "incident.escalate",
                    &format!("incident:{id}"),
                    json!({"stage": stage}).to_string(),
                ),
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Records whether a data breach is reported to the ICO, and why (a decision in the
    /// chronology too). The deadline stops showing once decided.
    pub async fn record_ico_decision(
        &self,
        school: SchoolId,
        id: i64,
        report: bool,
        reason: &str,
        actor: &Actor,
        now: i64,
    ) -> Result<()> {
        if reason.trim().is_empty() {
            return Err(StoreError::Invalid(
                "Say why: the ICO may ask how the decision was made.".into(),
            ));
        }
        let decision = if report {
            "reported to the ICO"
        } else {
            "not reported to the ICO"
        };
        let mut tx = self.write_tx().await?;
        let done = sqlx::query(
            "UPDATE incidents SET ico_decision = $1, ico_decided_at = $2 WHERE id = $3 AND school_id = $4 \
             AND ico_deadline IS NOT NULL AND ico_decision IS NULL",
        )
        .bind(decision)
        .bind(now)
        .bind(id)
        .bind(school.0)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::Conflict(
                "There is no ICO decision waiting on this record.".into(),
            ));
        }
        system_entry_on(
            &mut tx,
            id,
            now,
            now,
            actor,
            "decision",
            &format!("Data breach {decision}: {}", reason.trim()),
        )
        .await?;
        append_on(
            &mut tx,
            school,
            actor.entry(
                now,
                "incident.ico_decision",
                &format!("incident:{id}"),
                json!({"report": report}).to_string(),
            ),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Data breaches waiting for the ICO decision: (id, deadline), soonest first.
    pub async fn ico_decisions_due(&self, school: SchoolId) -> Result<Vec<(i64, i64)>> {
        let rows = sqlx::query(
            "SELECT id, ico_deadline FROM incidents WHERE school_id = $1 AND ico_deadline IS NOT NULL \
             AND ico_decision IS NULL ORDER BY ico_deadline",
        )
        .bind(school.0)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("id")?, r.try_get("ico_deadline")?)))
            .collect()
    }

    /// Records past their review date, for a decision (never deleted here).
    pub async fn incidents_past_review(&self, school: SchoolId, now: i64) -> Result<Vec<i64>> {
        let rows = sqlx::query("SELECT id FROM incidents WHERE school_id = $1 AND review_at < $2 ORDER BY review_at")
            .bind(school.0)
            .bind(now)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(|r| Ok(r.try_get("id")?)).collect()
    }

    /// The governors' report's rows for incidents recorded in `[from, to)`: no names, no
    /// text — category, month, the key stages of the pupils involved, actions, time to close.
    pub async fn incident_report_rows(&self, school: SchoolId, from: i64, to: i64) -> Result<Vec<ReportRow>> {
        let rows = sqlx::query(
            "SELECT id, created_at, category, status FROM incidents WHERE school_id = $1 AND created_at >= $2 \
             AND created_at < $3 ORDER BY created_at",
        )
        .bind(school.0)
        .bind(from)
        .bind(to)
        .fetch_all(&self.pool)
        .await?;
        let mut out = Vec::new();
        for r in &rows {
            let id: i64 = r.try_get("id")?;
            let created: i64 = r.try_get("created_at")?;
            let status: String = r.try_get("status")?;
            let mut groups: Vec<String> = Vec::new();
            let people = sqlx::query(
                "SELECT ip.involved, p.year_group FROM incident_people ip LEFT JOIN people p ON p.id = ip.person_id \
                 WHERE ip.incident_id = $1",
            )
            .bind(id)
            .fetch_all(&self.pool)
            .await?;
            for p in &people {
                let involved: String = p.try_get("involved")?;
                let year: Option<i64> = p.try_get("year_group")?;
                let g = match (
                    involved.as_str(),
                    year.and_then(register::people::YearGroup::from_number),
                ) {
                    ("pupil", Some(y)) => y.key_stage().group_name().to_owned(),
                    ("pupil", None) => "pupil".to_owned(),
                    ("staff" | "headteacher", _) => "staff".to_owned(),
                    _ => "other".to_owned(),
                };
                if !groups.contains(&g) {
                    groups.push(g);
                }
            }
            let entries = self.incident_entries(id).await?;
            let actions = entries.iter().filter_map(|e| e.action.clone()).collect();
            let time_to_close = (status == "closed")
                .then(|| {
                    entries
                        .iter()
                        .rev()
                        .find(|e| e.kind == "status" && e.body.starts_with("Closed"))
                        .map(|e| e.written_at - created)
                })
                .flatten();
            let month = time::OffsetDateTime::from_unix_timestamp(created)
                .map(|t| format!("{}-{:02}", t.year(), u8::from(t.month())))
                .unwrap_or_default();
            out.push(ReportRow {
                created_at: created,
                month,
                category: parse("category", &r.try_get::<String, _>("category")?)?,
                groups,
                actions,
                time_to_close,
            });
        }
        Ok(out)
    }

    /// For the digest: incidents recorded in `[from, to)`, and those still open that nobody
    /// on their route has opened though routed before `unopened_before`. Counts only.
    pub async fn incident_counts(
        &self,
        school: SchoolId,
        from: i64,
        to: i64,
        unopened_before: i64,
    ) -> Result<(i64, i64)> {
        let opened: i64 = sqlx::query(
            "SELECT count(*) AS n FROM incidents WHERE school_id = $1 AND created_at >= $2 AND created_at < $3",
        )
        .bind(school.0)
        .bind(from)
        .bind(to)
        .fetch_one(&self.pool)
        .await?
        .try_get("n")?;
        let overdue: i64 = sqlx::query(
            "SELECT count(*) AS n FROM incidents WHERE school_id = $1 AND status <> 'closed' AND opened_at IS NULL \
             AND routed_at < $2",
        )
        .bind(school.0)
        .bind(unopened_before)
        .fetch_one(&self.pool)
        .await?
        .try_get("n")?;
        Ok((opened, overdue))
    }

    /// Seals a record so that only `people` see it (still within what their roles allow),
    /// or unseals it with an empty list.
    pub async fn seal_incident(
        &self,
        school: SchoolId,
        id: i64,
        people: &[PersonId],
        actor: &Actor,
        now: i64,
    ) -> Result<()> {
        let mut tx = self.write_tx().await?;
        let done = sqlx::query("UPDATE incidents SET sealed = $1 WHERE id = $2 AND school_id = $3")
            .bind(i64::from(!people.is_empty()))
            .bind(id)
            .bind(school.0)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("incident {id}")));
        }
        sqlx::query("DELETE FROM incident_sealed WHERE incident_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        for p in people {
            sqlx::query("INSERT INTO incident_sealed (incident_id, person_id) VALUES ($1, $2)")
                .bind(id)
                .bind(p.0)
                .execute(&mut *tx)
                .await?;
        }
        let ids: Vec<i64> = people.iter().map(|p| p.0).collect();
        append_on(
            &mut tx,
            school,
            actor.entry(
                now,
                "incident.seal",
                &format!("incident:{id}"),
                json!({"people": ids}).to_string(),
            ),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Incidents naming `person` (any part), newest first: for their page, once the
    /// register has said which the reader may see.
    pub async fn incidents_about(&self, school: SchoolId, person: PersonId) -> Result<Vec<i64>> {
        let rows = sqlx::query(
            "SELECT DISTINCT i.id, i.created_at FROM incidents i JOIN incident_people ip ON ip.incident_id = i.id \
             WHERE i.school_id = $1 AND ip.person_id = $2 ORDER BY i.created_at DESC",
        )
        .bind(school.0)
        .bind(person.0)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| Ok(r.try_get("id")?)).collect()
    }

    /// Flags a pupil as monitored, with why and the date to review it (`YYYY-MM-DD`);
    /// a new flag ends the one before.
    pub async fn flag_monitored(
        &self,
        school: SchoolId,
        person: PersonId,
        reason: &str,
        review_on: &str,
        actor: &Actor,
        now: i64,
    ) -> Result<()> {
        if reason.trim().is_empty() {
            return Err(StoreError::Invalid("Say why the pupil is monitored.".into()));
        }
        let fmt = time::macros::format_description!("[year]-[month]-[day]");
        if time::Date::parse(review_on.trim(), &fmt).is_err() {
            return Err(StoreError::Invalid("Give the date to review it.".into()));
        }
        let mut tx = self.write_tx().await?;
        sqlx::query(
            "UPDATE monitored_pupils SET ended_at = $1 WHERE school_id = $2 AND person_id = $3 AND ended_at IS NULL",
        )
        .bind(now)
        .bind(school.0)
        .bind(person.0)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO monitored_pupils (school_id, person_id, reason, review_on, set_by, set_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(school.0)
        .bind(person.0)
        .bind(reason.trim())
        .bind(review_on.trim())
        .bind(&actor.label)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        append_on(
            &mut tx,
            school,
            actor.entry(
                now,
                "person.monitored",
                &format!("person:{}", person.0),
                json!({"review_on": review_on.trim()}).to_string(),
            ),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// A pupil's current monitored flag: (reason, review date, set by).
    pub async fn monitored(&self, school: SchoolId, person: PersonId) -> Result<Option<(String, String, String)>> {
        let row = sqlx::query(
            "SELECT reason, review_on, set_by FROM monitored_pupils WHERE school_id = $1 AND person_id = $2 \
             AND ended_at IS NULL ORDER BY id DESC LIMIT 1",
        )
        .bind(school.0)
        .bind(person.0)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| Ok((r.try_get("reason")?, r.try_get("review_on")?, r.try_get("set_by")?)))
            .transpose()
    }

    /// Records a file attached to an incident (the caller has stored it under its hash).
    #[allow(clippy::too_many_arguments)]
    pub async fn add_attachment(
        &self,
        school: SchoolId,
        id: i64,
        sha256: &str,
        name: &str,
        mime: &str,
        size: i64,
        actor: &Actor,
        now: i64,
    ) -> Result<i64> {
        let mut tx = self.write_tx().await?;
        let exists = sqlx::query("SELECT 1 AS one FROM incidents WHERE id = $1 AND school_id = $2")
            .bind(id)
            .bind(school.0)
            .fetch_optional(&mut *tx)
            .await?;
        if exists.is_none() {
            return Err(StoreError::NotFound(format!("incident {id}")));
        }
        let aid: i64 = sqlx::query(
            "INSERT INTO incident_attachments (incident_id, sha256, name, mime, size, added_at, added_by) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        )
        .bind(id)
        .bind(sha256)
        .bind(name)
        .bind(mime)
        .bind(size)
        .bind(now)
        .bind(&actor.label)
        .fetch_one(&mut *tx)
        .await?
        .try_get("id")?;
        system_entry_on(
            &mut tx,
            id,
            now,
            now,
            actor,
            "note",
            &format!("Attached a file ({mime}, {} KiB)", (size + 1023) / 1024),
        )
        .await?;
        append_on(
            &mut tx,
            school,
            actor.entry(
                now,
                "incident.attach",
                &format!("incident:{id}"),
                json!({"attachment": aid, "mime": mime}).to_string(),
            ),
        )
        .await?;
        tx.commit().await?;
        Ok(aid)
    }

    /// An incident's attachments: (id, name, mime, size, when added).
    pub async fn attachments(&self, id: i64) -> Result<Vec<(i64, String, String, i64, i64)>> {
        let rows = sqlx::query(
            "SELECT id, name, mime, size, added_at FROM incident_attachments WHERE incident_id = $1 ORDER BY id",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get("id")?,
                    r.try_get("name")?,
                    r.try_get("mime")?,
                    r.try_get("size")?,
                    r.try_get("added_at")?,
                ))
            })
            .collect()
    }

    /// One attachment of incident `id`: (sha256, name, mime).
    pub async fn attachment(&self, id: i64, attachment: i64) -> Result<(String, String, String)> {
        let r = sqlx::query("SELECT sha256, name, mime FROM incident_attachments WHERE id = $1 AND incident_id = $2")
            .bind(attachment)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("attachment {attachment}")))?;
        Ok((r.try_get("sha256")?, r.try_get("name")?, r.try_get("mime")?))
    }

    /// Sets (or with `None` clears) the date of the next follow-up, `YYYY-MM-DD`.
    pub async fn set_follow_up(
        &self,
        school: SchoolId,
        id: i64,
        on: Option<&str>,
        actor: &Actor,
        now: i64,
    ) -> Result<()> {
        let fmt = time::macros::format_description!("[year]-[month]-[day]");
        if let Some(d) = on
            && time::Date::parse(d.trim(), &fmt).is_err()
        {
            return Err(StoreError::Invalid("The follow-up date is not a date.".into()));
        }
        let mut tx = self.write_tx().await?;
        sqlx::query("UPDATE incidents SET follow_up_on = $1 WHERE id = $2 AND school_id = $3")
            .bind(on.map(str::trim))
            .bind(id)
            .bind(school.0)
            .execute(&mut *tx)
            .await?;
        append_on(
            &mut tx,
            school,
            actor.entry(
                now,
                "incident.follow_up",
                &format!("incident:{id}"),
                json!({"on": on}).to_string(),
            ),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Open incidents whose follow-up date is before `today` (`YYYY-MM-DD`): (id, date).
    pub async fn overdue_follow_ups(&self, school: SchoolId, today: &str) -> Result<Vec<(i64, String)>> {
        let rows = sqlx::query(
            "SELECT id, follow_up_on FROM incidents WHERE school_id = $1 AND status <> 'closed' \
             AND follow_up_on IS NOT NULL AND follow_up_on < $2 ORDER BY follow_up_on",
        )
        .bind(school.0)
        .bind(today)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("id")?, r.try_get("follow_up_on")?)))
            .collect()
    }

    /// Keeps a record past its review date for `years` more, recorded in its chronology
    /// (the decision records past review wait for).
    pub async fn extend_review(
        &self,
        school: SchoolId,
        id: i64,
        years: i64,
        reason: &str,
        actor: &Actor,
        now: i64,
    ) -> Result<()> {
        if reason.trim().is_empty() {
            return Err(StoreError::Invalid("Say why the record is kept.".into()));
        }
        let mut tx = self.write_tx().await?;
        sqlx::query("UPDATE incidents SET review_at = $1 WHERE id = $2 AND school_id = $3")
            .bind(now + years.clamp(1, 25) * (365 * 86_400 + 6 * 3600))
            .bind(id)
            .bind(school.0)
            .execute(&mut *tx)
            .await?;
        system_entry_on(
            &mut tx,
            id,
            now,
            now,
            actor,
            "decision",
            &format!(
                "Kept for {} more years at review: {}",
                years.clamp(1, 25),
                reason.trim()
            ),
        )
        .await?;
        append_on(
            &mut tx,
            school,
            actor.entry(
                now,
                "incident.review",
                &format!("incident:{id}"),
                json!({"years": years}).to_string(),
            ),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// A reporter's own reports: (id, when recorded, category, status). Nothing else.
    pub async fn own_reports(&self, school: SchoolId, person: PersonId) -> Result<Vec<(i64, i64, Category, Status)>> {
        let rows = sqlx::query(
            "SELECT id, created_at, category, status FROM incidents WHERE school_id = $1 AND reported_by = $2 \
             ORDER BY created_at DESC",
        )
        .bind(school.0)
        .bind(person.0)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get("id")?,
                    r.try_get("created_at")?,
                    parse("category", &r.try_get::<String, _>("category")?)?,
                    parse("status", &r.try_get::<String, _>("status")?)?,
                ))
            })
            .collect()
    }
}

fn entry_from_row(r: &AnyRow) -> Result<Entry> {
    Ok(Entry {
        id: r.try_get("id")?,
        written_at: r.try_get("written_at")?,
        happened_at: r.try_get("happened_at")?,
        author: r.try_get("author")?,
        kind: r.try_get("kind")?,
        action: r.try_get("action")?,
        body: r.try_get("body")?,
        corrects: r.try_get("corrects")?,
        reason: r.try_get("reason")?,
    })
}
