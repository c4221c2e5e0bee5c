//! The monitoring worker (issue 6): reads new filter events from the store (search terms
//! and blocked requests) and raises alerts through the console's [`Concerns`]; sends what
//! waits in the outbox, retrying a failed send until the mail server takes it; and queues
//! the daily digest on school days and the weekly summary, once each however often the
//! server restarts.

use std::time::Duration;

use console::HealthBoard;
use console::concerns::{Concerns, Text};
use monitor::BlockWatch;
use register::people::SchoolId;
use register::roles::Role;
use store::{AlertScope, NewMail, Store};

use crate::config::DigestConfig;

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// How often one event may fail before it is passed over (and said so on `/healthz`), so
/// that one bad event never stops monitoring.
const EVENT_TRIES: u32 = 5;

/// Reads filter events as they are written and raises alerts from them. The cursor moves
/// past each event once it is dealt with, so an event is neither lost nor read twice.
pub async fn watch_events(concerns: Concerns, store: Store, school: SchoolId, health: HealthBoard) {
    let mut cursor = loop {
        match store.monitor_state(school).await {
            Ok((_, Some(c))) => break c,
            // First start: begin at the events written from now on, not the whole history.
            Ok((_, None)) => match store.last_event_id(school).await {
                Ok(last) => {
                    if store.set_monitor_cursor(school, last).await.is_ok() {
                        break last;
                    }
                }
                Err(e) => health.report("monitor", false, format!("cannot read filter events: {e}")),
            },
            Err(e) => health.report("monitor", false, format!("cannot read the monitor's place: {e}")),
        }
        tokio::time::sleep(Duration::from_secs(5)).await;
    };
    let mut watch = BlockWatch::new();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut last_reload = now();
    let mut failing: (i64, u32) = (0, 0);
    loop {
        tick.tick().await;
        if now() - last_reload >= 30 {
            last_reload = now();
            if let Err(e) = concerns.reload().await {
                tracing::warn!(error = %e, "monitoring settings could not be reloaded");
            }
            watch.forget_before((now() - 86_400) * 1000);
        }
        let (events, last) = match store.monitored_events(school, cursor, 2000).await {
            Ok(batch) => batch,
            Err(e) => {
                health.report("monitor", false, format!("cannot read filter events: {e}"));
                continue;
            }
        };
        let mut reached = last;
        let mut trouble = None;
        for e in &events {
            match raise(&concerns, &mut watch, e).await {
                Ok(()) => {}
                Err(err) if failing.0 == e.id && failing.1 + 1 >= EVENT_TRIES => {
                    // Nothing of the event is logged: it may carry a pupil's search.
                    tracing::error!(event = e.id, error = %err, "a filter event could not be monitored; passed over");
                    trouble = Some(format!(
                        "filter event {} passed over after {EVENT_TRIES} tries: {err}",
                        e.id
                    ));
                    failing = (0, 0);
                }
                Err(err) => {
                    failing = if failing.0 == e.id {
                        (e.id, failing.1 + 1)
                    } else {
                        (e.id, 1)
                    };
                    trouble = Some(format!("cannot record alerts (will try again): {err}"));
                    reached = e.id - 1;
                    break;
                }
            }
        }
        if reached != cursor {
            cursor = reached;
            if let Err(e) = store.set_monitor_cursor(school, cursor).await {
                tracing::warn!(error = %e, "monitor cursor not saved");
            }
        }
        match trouble {
            Some(t) => health.report("monitor", false, t),
            None => health.report("monitor", true, "reading search terms and blocked requests"),
        }
    }
}

/// The alerts one filter event raises: its search term, and its place in a run of blocks.
async fn raise(
    concerns: &Concerns,
    watch: &mut BlockWatch,
    e: &store::MonitoredEvent,
) -> Result<(), store::StoreError> {
    let at = e.at_ms / 1000;
    if let Some(search) = e.search.as_deref().filter(|s| !s.trim().is_empty()) {
        let text = Text {
            person: e.person.clone(),
            client: Some(e.client.clone()),
            group: Some(e.group.clone()),
            source: "search".into(),
            text: search.to_owned(),
            at,
        };
        concerns.scan(&text).await?;
    }
    if e.verdict == "block"
        && let Some(category) = &e.category
    {
        let who = e.person.as_deref().unwrap_or(&e.client);
        let rules = &concerns.loaded().settings.patterns;
        if let Some(hit) = watch.observe(rules, who, category, e.at_ms) {
            concerns
                .blocked_pattern(e.person.as_deref(), &e.client, &e.group, &hit, &e.name, at)
                .await?;
        }
    }
    Ok(())
}

/// Sends what is due in the outbox, once.
pub async fn send_due(store: &Store, mailer: Option<&notify::Mailer>) -> (usize, usize) {
    let (mut sent, mut failed) = (0, 0);
    let due = match store.due_mail(now(), 50).await {
        Ok(d) => d,
        Err(e) => {
            tracing::warn!(error = %e, "outbox unreadable");
            return (0, 0);
        }
    };
    for m in due {
        let email = notify::Email {
            subject: m.subject.clone(),
            text: m.text.clone(),
            html: m.html.clone(),
        };
        let first = mailer.map(|m| m.first_retry()).unwrap_or(Duration::from_secs(3600));
        let retry_at = now() + notify::retry_after(m.attempts + 1, first).as_secs() as i64;
        let outcome = match mailer {
            Some(mailer) => mailer.send_each(&m.recipients, &email).await.map_err(|e| e.to_string()),
            None => Err("email is not set up: add a [mail] table to the config file".to_owned()),
        };
        match outcome {
            Ok(left) if left.is_empty() => {
                sent += 1;
                tracing::info!(mail = m.id, kind = %m.kind, recipients = m.recipients.len(), "email sent");
                if let Err(e) = store.mail_sent(m.id, now()).await {
                    tracing::warn!(mail = m.id, error = %e, "sent, but not marked sent");
                }
            }
            Ok(left) => {
                failed += 1;
                let why = left
                    .iter()
                    .map(|(a, e)| format!("{a}: {e}"))
                    .collect::<Vec<_>>()
                    .join("; ");
                let remaining: Vec<String> = left.into_iter().map(|(a, _)| a).collect();
                tracing::warn!(mail = m.id, kind = %m.kind, not_taken = remaining.len(), error = %why, "email not sent to everyone; will retry those");
                let _ = store.mail_partly_sent(m.id, &remaining, &why, retry_at).await;
            }
            Err(why) => {
                failed += 1;
                tracing::warn!(mail = m.id, kind = %m.kind, error = %why, "email not sent; will retry");
                let _ = store.mail_failed(m.id, &why, retry_at).await;
            }
        }
    }
    (sent, failed)
}

/// Sends the outbox every few seconds, and says on `/healthz` whether mail is getting out.
pub async fn run_outbox(store: Store, school: SchoolId, mailer: Option<notify::Mailer>, health: HealthBoard) {
    let mut tick = tokio::time::interval(Duration::from_secs(3));
    loop {
        tick.tick().await;
        send_due(&store, mailer.as_ref()).await;
        let stuck = store.stuck_mail(school).await.map(|s| s.len()).unwrap_or(0);
        let detail = match (&mailer, stuck) {
            (None, 0) => "email is not set up ([mail] in the config file)".to_owned(),
            (None, n) => format!("email is not set up; {n} emails waiting"),
            (Some(m), 0) => format!("sending through {}", m.server()),
            (Some(m), n) => format!("{n} emails not yet taken by {}; retrying", m.server()),
        };
        health.report("mail", mailer.is_some() && stuck == 0, detail);
    }
}

/// UK local midnight (as Unix seconds) of the day `unix` falls in.
fn local_midnight(unix: i64) -> i64 {
    let off = policy::rules::uk_offset(unix);
    let local = unix + off;
    local - local.rem_euclid(86_400) - off
}

fn weekday_of(unix: i64) -> u8 {
    let local = unix + policy::rules::uk_offset(unix);
    ((local.div_euclid(86_400) + 3).rem_euclid(7)) as u8
}

fn long_date(unix: i64) -> String {
    let local = unix + policy::rules::uk_offset(unix);
    time::OffsetDateTime::from_unix_timestamp(local)
        .map(|t| format!("{} {} {} {}", t.weekday(), t.day(), t.month(), t.year()))
        .unwrap_or_default()
}

fn day_key(unix: i64) -> String {
    let local = unix + policy::rules::uk_offset(unix);
    time::OffsetDateTime::from_unix_timestamp(local)
        .map(|t| t.date().to_string())
        .unwrap_or_default()
}

/// The digest time on the day `d` days before the one `at` falls in (UK local), right
/// across clock changes: found from that day's noon, which no change moves to another day.
fn digest_time_days_before(at: i64, d: i64, minute: u16) -> i64 {
    let noon = local_midnight(at) - d * 86_400 + 12 * 3600;
    local_midnight(noon) + i64::from(minute) * 60
}

/// When the digest before the one at `at` went: the same time on the school day before.
fn previous_digest(at: i64, days: &[u8], minute: u16) -> i64 {
    for d in 1..=7 {
        let t = digest_time_days_before(at, d, minute);
        if days.contains(&weekday_of(t)) {
            return t;
        }
    }
    digest_time_days_before(at, 1, minute)
}

const DAY_NAMES: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];

/// What a digest covers.
#[derive(Debug, Clone)]
pub struct Period {
    pub kind: notify::DigestKind,
    /// The outbox key: the day (`2026-11-24`) or `week-2026-11-23`.
    pub key: String,
    pub from: i64,
    pub to: i64,
    pub label: String,
    pub since: String,
}

/// The digests due at `t`, if any (before checking whether they were already queued).
pub fn due_periods(t: i64, c: &DigestConfig) -> Vec<Period> {
    let midnight = local_midnight(t);
    let at = midnight + i64::from(c.time) * 60;
    let today = weekday_of(t);
    let mut due = Vec::new();
    if t < at {
        return due;
    }
    if c.days.contains(&today) {
        let from = previous_digest(at, &c.days, c.time);
        let since = if weekday_of(from) == (today + 6) % 7 {
            "yesterday".to_owned()
        } else {
            format!("since {}", DAY_NAMES[usize::from(weekday_of(from))])
        };
        due.push(Period {
            kind: notify::DigestKind::Daily,
            key: day_key(t),
            from,
            to: at,
            label: long_date(t),
            since,
        });
    }
    if today == c.weekly_day {
        due.push(Period {
            kind: notify::DigestKind::Weekly,
            key: format!("week-{}", day_key(t)),
            from: digest_time_days_before(at, 7, c.time),
            to: at,
            label: format!("the week to {}", long_date(t)),
            since: "last week".into(),
        });
    }
    due
}

/// Everything needed to write digests for one school.
#[derive(Debug, Clone)]
pub struct DigestWriter {
    pub store: Store,
    pub school: SchoolId,
    pub school_name: String,
    pub console_url: String,
    pub config: DigestConfig,
    /// A record unopened this long (seconds) counts as overdue.
    pub escalate_after: i64,
    pub health: Option<HealthBoard>,
    /// Counts since the server started that the digest reports when not zero: filter
    /// events dropped, DNS questions no upstream answered.
    pub counters: Option<Counters>,
    pub year_start: register::agreements::YearStart,
}

/// What the running server counts, for the digest's health section.
#[derive(Debug, Clone)]
pub struct Counters {
    pub queue: events::EventQueue,
    pub dns: Option<std::sync::Arc<dns::Handler>>,
}

impl Counters {
    fn lines(&self) -> Vec<String> {
        let mut out = Vec::new();
        let dropped = self.queue.dropped();
        if dropped > 0 {
            out.push(format!(
                "{dropped} filter events were dropped since the server started (the log could not keep up)"
            ));
        }
        if let Some(h) = &self.dns {
            let failed = h.upstreams.failures.load(std::sync::atomic::Ordering::Relaxed);
            if failed > 0 {
                out.push(format!(
                    "{failed} DNS questions got no answer from the upstream resolvers since the server started"
                ));
            }
        }
        out
    }
}

impl DigestWriter {
    async fn digest(&self, p: &Period, scope: AlertScope) -> anyhow::Result<notify::Digest> {
        let counts = self.store.alert_counts(self.school, scope, p.from, p.to).await?;
        let alerts = counts
            .iter()
            .map(|c| notify::compose::AlertLine {
                severity: c.severity,
                category: c
                    .category
                    .parse::<monitor::Category>()
                    .map(|k| k.label().to_owned())
                    .unwrap_or_else(|_| "Asked for help".into()),
                alerts: c.alerts,
            })
            .collect();
        let staff_alerts = if scope == AlertScope::Headteacher {
            let all: i64 = counts.iter().map(|c| c.alerts).sum();
            let team: i64 = self
                .store
                .alert_counts(self.school, AlertScope::Safeguarding, p.from, p.to)
                .await?
                .iter()
                .map(|c| c.alerts)
                .sum();
            Some(all - team)
        } else {
            None
        };
        let blocked = self
            .store
            .top_blocked(self.school, p.from * 1000, p.to * 1000, 5)
            .await?
            .into_iter()
            .map(|b| notify::compose::BlockedLine {
                category: b
                    .category
                    .parse::<policy::Category>()
                    .map(|c| c.label().to_owned())
                    .unwrap_or(b.category),
                blocks: b.blocks,
                people: b.people,
            })
            .collect();
        let mut health = Vec::new();
        if let Some(board) = &self.health {
            for (name, c) in board.snapshot() {
                if !c.up && name != "mail" {
                    health.push(format!("{name}: {}", c.detail));
                }
            }
        }
        if let Some(c) = &self.counters {
            health.extend(c.lines());
        }
        let stale = self.store.stale_lists(self.school, now() - 8 * 86_400).await?;
        if !stale.is_empty() {
            health.push(format!("Lists not updated for over a week: {}", stale.join(", ")));
        }
        let stuck = self.store.stuck_mail(self.school).await?.len();
        if stuck > 0 {
            health.push(format!("{stuck} earlier emails have not been sent yet"));
        }
        Ok(notify::Digest {
            kind: p.kind,
            school: self.school_name.clone(),
            period: p.label.clone(),
            since: p.since.clone(),
            console: self.console_url.clone(),
            alerts,
            open_alerts: self.store.open_alert_count(self.school, scope).await?,
            staff_alerts,
            incidents: Some(
                self.store
                    .incident_counts(self.school, p.from, p.to, now() - self.escalate_after)
                    .await?,
            ),
            blocked,
            health,
            due: if p.kind == notify::DigestKind::Weekly || weekday_of(p.to) == self.config.weekly_day {
                Some(self.due_lines().await?)
            } else {
                None
            },
        })
    }

    /// The due list for an email: counted per register, with no names in it.
    async fn due_lines(&self) -> anyhow::Result<Vec<String>> {
        let today = console::uk_today(now());
        let facts = self.store.due_facts(self.school, today, self.year_start).await?;
        let items = register::due::due(&facts, today, self.year_start);
        let mut per: std::collections::BTreeMap<register::due::Register, (usize, usize)> = Default::default();
        for i in &items {
            let e = per.entry(i.register).or_default();
            if i.overdue(today) {
                e.0 += 1;
            } else {
                e.1 += 1;
            }
        }
        Ok(per
            .into_iter()
            .map(|(r, (overdue, soon))| match (overdue, soon) {
                (0, s) => format!("{}: {s} due in the next 30 days", r.label()),
                (o, 0) => format!("{}: {o} overdue", r.label()),
                (o, s) => format!("{}: {o} overdue, {s} due in the next 30 days", r.label()),
            })
            .collect())
    }

    /// The digest's recipients: the headteacher's copy (which counts alerts about staff)
    /// and everyone else's.
    async fn recipients(&self, kind: notify::DigestKind) -> anyhow::Result<(Vec<String>, Vec<String>)> {
        let heads: Vec<String> = self
            .store
            .recipients(self.school, &[Role::Headteacher])
            .await?
            .into_iter()
            .map(|r| r.email.to_ascii_lowercase())
            .collect();
        let mut all: Vec<String> = if self.config.recipients.is_empty() {
            self.store
                .recipients(self.school, &[Role::Headteacher, Role::Dsl, Role::ItAdministrator])
                .await?
                .into_iter()
                .map(|r| r.email)
                .collect()
        } else {
            self.config.recipients.clone()
        };
        if kind == notify::DigestKind::Weekly {
            all.extend(
                self.store
                    .recipients(self.school, &[Role::SafeguardingGovernor])
                    .await?
                    .into_iter()
                    .map(|r| r.email),
            );
        }
        all.sort();
        all.dedup();
        let (head, others): (Vec<String>, Vec<String>) =
            all.into_iter().partition(|e| heads.contains(&e.to_ascii_lowercase()));
        Ok((head, others))
    }

    /// Writes the digest for `p` into the outbox (once per period unless `again`).
    /// Returns the IDs of the emails queued.
    pub async fn queue(&self, p: &Period, again: bool) -> anyhow::Result<Vec<i64>> {
        let (head, others) = self.recipients(p.kind).await?;
        let base = match p.kind {
            notify::DigestKind::Daily => "digest",
            notify::DigestKind::Weekly => "weekly",
        };
        // With nobody at all to send to, the everyone-else copy is still queued: its failed
        // send ("nobody to send to") is what shows the school the digest needs recipients.
        let nobody = head.is_empty() && others.is_empty();
        let copies = [
            (format!("{base}_head"), head, AlertScope::Headteacher),
            (base.to_owned(), others, AlertScope::Safeguarding),
        ];
        let mut mails = Vec::new();
        for (kind, to, scope) in copies {
            if to.is_empty() && !(nobody && kind == base) {
                continue;
            }
            let email = self.digest(p, scope).await?.render()?;
            mails.push(NewMail {
                kind,
                recipients: to,
                subject: email.subject,
                text: email.text,
                html: email.html,
            });
        }
        if again {
            let mut ids = Vec::new();
            for m in &mails {
                ids.push(self.store.queue_mail(self.school, m, now()).await?);
            }
            return Ok(ids);
        }
        Ok(self
            .store
            .queue_digest(self.school, base, &p.key, &mails, now())
            .await?
            .unwrap_or_default())
    }
}

/// Queues each school day's digest and the weekly summary at their time.
pub async fn run_digests(writer: DigestWriter) {
    let mut tick = tokio::time::interval(Duration::from_secs(30));
    loop {
        tick.tick().await;
        for p in due_periods(now(), &writer.config) {
            let kind = match p.kind {
                notify::DigestKind::Daily => "digest",
                notify::DigestKind::Weekly => "weekly",
            };
            match writer.store.digest_queued(writer.school, kind, &p.key).await {
                Ok(false) => match writer.queue(&p, false).await {
                    Ok(ids) => tracing::info!(period = %p.key, kind, emails = ids.len(), "digest queued"),
                    Err(e) => tracing::warn!(period = %p.key, error = %e, "digest not written; will try again"),
                },
                Ok(true) => {}
                Err(e) => tracing::warn!(error = %e, "digest runs unreadable"),
            }
        }
    }
}

/// The period `schoolgate digest send --now` covers: the last 24 hours.
pub fn on_demand(t: i64) -> Period {
    Period {
        kind: notify::DigestKind::Daily,
        key: format!("now-{t}"),
        from: t - 86_400,
        to: t,
        label: long_date(t),
        since: "in the last 24 hours".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Tuesday 24 November 2026, 08:00 UTC (GMT): past a 07:30 digest time.
    const TUE_0800: i64 = 1_795_478_400 + 8 * 3600;

    #[test]
    fn the_digest_is_due_after_its_time_on_school_days_only() {
        let c = DigestConfig::default();
        assert_eq!(weekday_of(TUE_0800), 1, "a Tuesday");
        let due = due_periods(TUE_0800, &c);
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].key, "2026-11-24");
        assert_eq!(due[0].since, "yesterday");
        assert_eq!(due[0].to - due[0].from, 86_400);
        assert_eq!(due[0].label, "Tuesday 24 November 2026");
        assert!(due_periods(TUE_0800 - 3600, &c).is_empty(), "07:00 is before 07:30");
        // Saturday: nothing. Monday: the digest covers the weekend, and the weekly summary.
        assert!(due_periods(TUE_0800 + 4 * 86_400, &c).is_empty());
        let monday = due_periods(TUE_0800 + 6 * 86_400, &c);
        assert_eq!(monday.len(), 2);
        assert_eq!(monday[0].since, "since Friday");
        assert_eq!(monday[0].to - monday[0].from, 3 * 86_400);
        assert_eq!(monday[1].since, "last week");
        assert_eq!(monday[1].key, "week-2026-11-30");
    }

    #[test]
    fn periods_meet_exactly_across_a_clock_change() {
        let c = DigestConfig::default();
        // Monday 30 March 2026 08:00 BST (07:00 UTC): the clocks went forward on Sunday 29th.
        let monday = 1_774_828_800 + 7 * 3600;
        assert_eq!(day_key(monday), "2026-03-30");
        let due = due_periods(monday, &c);
        let friday = 1_774_569_600 + 7 * 3600 + 30 * 60; // Friday 27 March 07:30 GMT
        assert_eq!(due[0].from, friday, "starts where Friday's digest ended");
        assert_eq!(due[0].to, monday - 30 * 60, "07:30 BST");
        assert_eq!(due[0].since, "since Friday");
    }

    #[test]
    fn summer_time_moves_the_digest_with_the_clocks() {
        let c = DigestConfig::default();
        // Tuesday 16 June 2026 06:45 UTC is 07:45 BST: due.
        let june = 1_781_568_000 + 6 * 3600 + 45 * 60;
        assert_eq!(day_key(june), "2026-06-16");
        assert_eq!(due_periods(june, &c).len(), 1);
        // 06:15 UTC is 07:15 BST: not yet.
        assert!(due_periods(june - 30 * 60, &c).is_empty());
    }
}
