//! Filter events: the batch writer that drains the queue, and the searchable log.

use events::FilterEvent;
use register::people::SchoolId;
use sqlx::any::AnyRow;
use sqlx::{AssertSqlSafe, Row};
use tokio::sync::mpsc;

use crate::{Backend, Result, Store};

/// The most events written in one statement (18 columns each, well under SQLite's limit on
/// bound parameters). Small, because SQLite runs a statement on its connection's thread
/// without a break, and a DNS thread that wakes on the same core waits for it: 500 rows
/// held one up for milliseconds.
const BATCH: usize = 100;

/// The most distinct events the writer holds before writing them, however early in its
/// gathering second: bounds its memory (about 15 MB).
const HOLD: usize = 50_000;

/// While the writer holds fewer distinct events than this, it writes them each second; with
/// more (a flood of different names) it goes on gathering for up to [`GATHER_BUSY`], so that
/// repeats fold into the rows already held instead of becoming rows of their own. Inserting
/// a row costs SQLite about ten microseconds; at a second's gathering a benchmark of 10,000
/// names asked over and over spent an eighth of the server's CPU writing them.
const BUSY: usize = 2_000;

/// How long a busy writer gathers before it writes.
const GATHER_BUSY: std::time::Duration = std::time::Duration::from_secs(5);

/// Events written in one transaction: short enough (tens of milliseconds) that the
/// console's own writes never wait long for the database.
const PER_TRANSACTION: usize = 5_000;

/// `INSERT ... VALUES (...), (...)` for `rows` events. SQLite gets plain `?` placeholders:
/// sqlx looks up the name of every numbered (`$N`) parameter, and SQLite finds a name by
/// walking the statement's list of them, so binding 7,000 numbered parameters is quadratic
/// and took half a core at 60,000 DNS answers a second (seen with `perf`).
fn insert_statement(backend: Backend, rows: usize) -> String {
    const COLUMNS: usize = 18;
    let mut sql = String::with_capacity(160 + rows * COLUMNS * 5);
    sql.push_str(
        "INSERT INTO filter_events (school_id, at_ms, source, client, device, person, group_name, name, kind, \
         verdict, category, rule, status, latency_us, url, bytes, search, repeats) VALUES ",
    );
    for row in 0..rows {
        sql.push_str(if row == 0 { "(" } else { ",(" });
        for col in 0..COLUMNS {
            if col > 0 {
                sql.push(',');
            }
            match backend {
                Backend::Sqlite => sql.push('?'),
                Backend::Postgres => {
                    sql.push('$');
                    sql.push_str(&(row * COLUMNS + col + 1).to_string());
                }
            }
        }
        sql.push(')');
    }
    sql
}

/// A filter event as the log shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRecord {
    pub at_ms: i64,
    pub source: String,
    pub client: String,
    pub device: Option<String>,
    pub person: Option<String>,
    pub group: String,
    pub name: String,
    pub kind: String,
    pub verdict: String,
    pub category: Option<String>,
    pub rule: String,
    pub status: String,
    pub latency_us: i64,
    pub url: Option<String>,
    pub bytes: Option<i64>,
    pub search: Option<String>,
    /// Identical answers this row stands for (the writer folds repeats together).
    pub repeats: i64,
}

/// What to look for in the log; empty fields match everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventFilter {
    pub person: Option<String>,
    pub group: Option<String>,
    pub verdict: Option<String>,
    pub category: Option<String>,
    /// Part of the name asked.
    pub name: Option<String>,
    pub from_ms: Option<i64>,
    pub to_ms: Option<i64>,
}

impl Store {
    /// Writes events in one transaction.
    pub async fn insert_events(&self, school: SchoolId, events: &[FilterEvent]) -> Result<()> {
        let mut tx = self.write_tx().await?;
        for chunk in events.chunks(BATCH) {
            let sql = insert_statement(self.backend, chunk.len());
            // Only placeholders are formatted into the statement; every value is bound.
            let mut q = sqlx::query(AssertSqlSafe(sql));
            for e in chunk {
                q = q
                    .bind(school.0)
                    .bind(e.at_ms)
                    .bind(e.source)
                    .bind(e.client.to_string())
                    .bind(e.device.clone())
                    .bind(e.person.clone())
                    .bind(e.group.clone())
                    .bind(e.name.clone())
                    .bind(e.kind.clone())
                    .bind(e.verdict)
                    .bind(e.category)
                    .bind(e.rule.clone())
                    .bind(e.status.clone())
                    .bind(i64::from(e.latency_us))
                    .bind(e.url.clone())
                    .bind(e.bytes.map(|b| i64::try_from(b).unwrap_or(i64::MAX)))
                    .bind(e.search.clone())
                    .bind(i64::from(e.repeats));
            }
            q.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Drains the event queue into the store until the queue closes. It looks at the queue
    /// ten times a second and takes what is there, folding repeated DNS answers together as
    /// it goes ([`events::Coalescer`]); once it has held events for a second (five when it
    /// holds [`BUSY`] distinct ones or more, and at once when it holds [`HOLD`]) it writes
    /// them in transactions of [`PER_TRANSACTION`]. Looking
    /// rather than waiting on the queue means an answer's event wakes nobody: waking the
    /// writer for each one cost the DNS threads a tenth of their time (futex and eventfd
    /// calls, seen with `perf`). Fewer, larger transactions, and one row for a device asking
    /// the same thing many times, keep the writer's share of the CPU small at hundreds of
    /// thousands of answers a second; an event reaches the log within about a second, or
    /// five under a flood. A
    /// failed write is logged with the count lost, never retried forever.
    pub async fn run_event_writer(&self, school: SchoolId, mut rx: mpsc::Receiver<FilterEvent>) {
        use tokio::sync::mpsc::error::TryRecvError;
        const LOOK: std::time::Duration = std::time::Duration::from_millis(100);
        const GATHER: std::time::Duration = std::time::Duration::from_secs(1);
        let mut held = events::Coalescer::default();
        let mut holding_since: Option<tokio::time::Instant> = None;
        let mut look = tokio::time::interval(LOOK);
        look.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            look.tick().await;
            let mut closed = false;
            while held.len() < HOLD {
                match rx.try_recv() {
                    Ok(e) => {
                        held.push(e);
                        events::give_way(held.len());
                    }
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => {
                        closed = true;
                        break;
                    }
                }
            }
            if held.is_empty() {
                if closed {
                    return;
                }
                continue;
            }
            let since = *holding_since.get_or_insert_with(tokio::time::Instant::now);
            let gathered = since.elapsed();
            let due = gathered >= GATHER_BUSY || (gathered >= GATHER && held.len() < BUSY);
            if closed || held.len() >= HOLD || due {
                for batch in held.take().chunks(PER_TRANSACTION) {
                    if let Err(e) = self.insert_events(school, batch).await {
                        tracing::error!(error = %e, lost = batch.len(), "filter events could not be written");
                    }
                }
                holding_since = None;
            }
            if closed {
                return;
            }
        }
    }

    /// The newest events matching `filter`, one page, and whether there are more.
    pub async fn search_events(
        &self,
        school: SchoolId,
        f: &EventFilter,
        limit: i64,
        offset: i64,
    ) -> Result<(Vec<EventRecord>, bool)> {
        let mut sql = String::from(
            "SELECT at_ms, source, client, device, person, group_name, name, kind, verdict, category, rule, status, latency_us, \
             url, bytes, search, repeats FROM filter_events WHERE school_id = $1",
        );
        let mut binds: Vec<String> = Vec::new();
        let mut add = |clause: &str, value: String, sql: &mut String| {
            binds.push(value);
            sql.push_str(&clause.replace('?', &format!("${}", binds.len() + 1)));
        };
        if let Some(p) = &f.person {
            add(" AND person = ?", p.clone(), &mut sql);
        }
        if let Some(g) = &f.group {
            add(" AND group_name = ?", g.clone(), &mut sql);
        }
        if let Some(v) = &f.verdict {
            add(" AND verdict = ?", v.clone(), &mut sql);
        }
        if let Some(c) = &f.category {
            add(" AND category = ?", c.clone(), &mut sql);
        }
        if let Some(n) = &f.name {
            let escaped: String = n
                .to_lowercase()
                .chars()
                .flat_map(|c| {
                    if matches!(c, '%' | '_' | '\\') {
                        vec!['\\', c]
                    } else {
                        vec![c]
                    }
                })
                .collect();
            add(" AND lower(name) LIKE ? ESCAPE '\\'", format!("%{escaped}%"), &mut sql);
        }
        let time_from = binds.len() + 2;
        sql.push_str(&format!(
            " AND at_ms >= ${time_from} AND at_ms <= ${} ORDER BY at_ms DESC, id DESC LIMIT ${} OFFSET ${}",
            time_from + 1,
            time_from + 2,
            time_from + 3
        ));
        // Only placeholders and fixed clauses are formatted in; every value is bound.
        let mut q = sqlx::query(AssertSqlSafe(sql)).bind(school.0);
        for b in binds {
            q = q.bind(b);
        }
        let rows = q
            .bind(f.from_ms.unwrap_or(0))
            .bind(f.to_ms.unwrap_or(i64::MAX))
            .bind(limit + 1)
            .bind(offset)
            .fetch_all(&self.pool)
            .await?;
        let more = rows.len() as i64 > limit;
        let events = rows
            .iter()
            .take(limit as usize)
            .map(event_from_row)
            .collect::<Result<_>>()?;
        Ok((events, more))
    }
}

fn event_from_row(r: &AnyRow) -> Result<EventRecord> {
    Ok(EventRecord {
        at_ms: r.try_get("at_ms")?,
        source: r.try_get("source")?,
        client: r.try_get("client")?,
        device: r.try_get("device")?,
        person: r.try_get("person")?,
        group: r.try_get("group_name")?,
        name: r.try_get("name")?,
        kind: r.try_get("kind")?,
        verdict: r.try_get("verdict")?,
        category: r.try_get("category")?,
        rule: r.try_get("rule")?,
        status: r.try_get("status")?,
        latency_us: r.try_get("latency_us")?,
        url: r.try_get("url")?,
        bytes: r.try_get("bytes")?,
        search: r.try_get("search")?,
        repeats: r.try_get("repeats")?,
    })
}
