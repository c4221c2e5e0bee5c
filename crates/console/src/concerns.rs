//! Raising alerts (issue 6): one place where text (a search term, a message sent to the
//! ingest API, a pupil's "Worried about something?" note) or a run of blocked requests
//! becomes an alert. The school's lexicon and settings are compiled here; the match's
//! severity is set for the person's key stage and lowered by the school's dismissed false
//! positives; the alert is recorded (or folded into a recent one); and, when its severity
//! says so, an email naming only the severity and category waits in the outbox for the
//! people the route names. The console's handlers and the server's monitoring worker share
//! it.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use monitor::alert::{PatternHit, Route, Settings, Subject, fold_key};
use monitor::{Category, Matcher, normalise};
use register::people::{PersonKind, SchoolId};
use register::roles::Role;
use store::{NewAlert, NewMail, Recorded, Store, StoreError};

/// How much of the normalised text around a match a dismissal remembers.
const CONTEXT_BYTES: usize = 200;

/// Text to look at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Text {
    pub person: Option<String>,
    pub client: Option<String>,
    /// The group, when the caller knows it better than the person's record.
    pub group: Option<String>,
    /// `search`, `api:NAME` …
    pub source: String,
    pub text: String,
    /// Unix seconds.
    pub at: i64,
}

/// What the compiled lexicon and settings are, for one school.
#[derive(Debug)]
pub struct Loaded {
    pub matcher: Matcher,
    pub settings: Settings,
    /// Dismissed false positives: phrase → the contexts they were dismissed in.
    dismissals: HashMap<String, Vec<String>>,
    /// What this was built from, to tell when a reload is needed.
    stamp: String,
}

/// The alert-raising service. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Concerns {
    store: Store,
    school: SchoolId,
    school_name: String,
    console_url: String,
    loaded: Arc<RwLock<Arc<Loaded>>>,
}

/// Who an alert is about, as the records say.
#[derive(Debug, Clone)]
struct About {
    subject: Subject,
    group: String,
    is_head: bool,
}

/// The words around a match (about 60 bytes each side of `start..end` in the original),
/// normalised: what a dismissal remembers and a later match is compared with.
pub fn context_of(text: &str, start: usize, end: usize) -> String {
    let (start, end) = if start <= end && end <= text.len() {
        (start, end)
    } else {
        (0, text.len())
    };
    let mut a = start.saturating_sub(60);
    while !text.is_char_boundary(a) {
        a -= 1;
    }
    let mut b = (end + 60).min(text.len());
    while !text.is_char_boundary(b) {
        b += 1;
    }
    let n = normalise(&text[a..b]).text;
    let mut cut = n.len().min(CONTEXT_BYTES);
    while !n.is_char_boundary(cut) {
        cut -= 1;
    }
    n[..cut].to_owned()
}

impl Concerns {
    /// Compiles the school's lexicon (the shipped one, its own lines, less the categories it
    /// switched off) and reads its settings.
    pub async fn new(
        store: Store,
        school: SchoolId,
        school_name: String,
        console_url: String,
    ) -> Result<Concerns, StoreError> {
        let loaded = build(read_source(&store, school).await?)?;
        Ok(Concerns {
            store,
            school,
            school_name,
            console_url: console_url.trim_end_matches('/').to_owned(),
            loaded: Arc::new(RwLock::new(Arc::new(loaded))),
        })
    }

    pub fn school(&self) -> SchoolId {
        self.school
    }

    pub fn loaded(&self) -> Arc<Loaded> {
        self.loaded
            .read()
            .map(|l| l.clone())
            .unwrap_or_else(|p| p.into_inner().clone())
    }

    /// Rebuilds from the store if anything changed (settings, lexicon lines, switches,
    /// dismissals); the console calls it after each change, the worker now and then.
    pub async fn reload(&self) -> Result<(), StoreError> {
        let src = read_source(&self.store, self.school).await?;
        if stamp(&src) == self.loaded().stamp {
            return Ok(());
        }
        let fresh = Arc::new(build(src)?);
        match self.loaded.write() {
            Ok(mut l) => *l = fresh,
            Err(p) => *p.into_inner() = fresh,
        }
        Ok(())
    }

    /// Who `person` is. A store that does not answer is an error (the caller tries again
    /// later), never "unknown": an alert about staff filed as unknown would reach the DSL team.
    async fn about(&self, person: Option<&str>) -> Result<About, StoreError> {
        let unknown = About {
            subject: Subject::Unknown,
            group: store::UNIDENTIFIED.to_owned(),
            is_head: false,
        };
        let Some(username) = person else { return Ok(unknown) };
        let Some(account) = self.store.account_by_username(username).await? else {
            return Ok(unknown);
        };
        let record = self.store.person(account.school, account.person).await?;
        let subject = match record.kind {
            PersonKind::Pupil => Subject::Pupil(record.year.map(|y| y.key_stage())),
            PersonKind::Staff | PersonKind::Governor => Subject::Staff,
            PersonKind::Visitor => Subject::Visitor,
        };
        Ok(About {
            subject,
            group: record.group_name.unwrap_or_else(|| store::UNIDENTIFIED.to_owned()),
            is_head: record.roles.contains(&Role::Headteacher),
        })
    }

    /// Looks for the lexicon's phrases in `t` and raises one alert for the worst of them
    /// (the reason names the others). `None`: nothing found.
    pub async fn scan(&self, t: &Text) -> Result<Option<Recorded>, StoreError> {
        let loaded = self.loaded();
        let n = normalise(&t.text);
        let found = loaded.matcher.scan_normalised(&n);
        let Some(worst) = loaded.matcher.worst(&found) else {
            return Ok(None);
        };
        let entry = &loaded.matcher.entries()[worst.entry];
        let about = self.about(t.person.as_deref()).await?;
        let mut severity = loaded
            .settings
            .severity_for(worst.severity, worst.category, about.subject);
        let mut reason = loaded.matcher.reason(worst);
        if severity != worst.severity {
            reason.push_str(&format!(
                "; {} for {}",
                if severity > worst.severity { "raised" } else { "lowered" },
                about.subject.name()
            ));
        }
        let context = context_of(&t.text, worst.start, worst.end);
        if let Some(contexts) = loaded.dismissals.get(&entry.phrase) {
            // The same words dismissed before count one step less each time; a phrase
            // dismissed three times anywhere counts one less everywhere.
            let same = contexts.iter().filter(|c| **c == context).count();
            let lower = same + usize::from(contexts.len() >= 3);
            if lower > 0 {
                severity = severity.saturating_sub(lower.min(4) as u8).max(1);
                reason.push_str(&format!("; lowered by {lower} for earlier false positives"));
            }
        }
        let mut others: Vec<&str> = found
            .iter()
            .filter(|m| m.category != worst.category)
            .map(|m| m.category.label())
            .collect();
        others.sort_unstable();
        others.dedup();
        if !others.is_empty() {
            reason.push_str(&format!("; also {}", others.join(", ")));
        }
        // With neither person nor device (the ingest API without `person`), texts from
        // different children must not fold together: each distinct text is its own.
        let who = t.person.clone().or_else(|| t.client.clone()).unwrap_or_else(|| {
            use sha2::{Digest, Sha256};
            format!("text:{}", hex::encode(&Sha256::digest(t.text.as_bytes())[..8]))
        });
        let alert = NewAlert {
            occurred_at: t.at,
            person: t.person.clone(),
            subject: about.subject.name().to_owned(),
            group: t.group.clone().unwrap_or(about.group.clone()),
            client: t.client.clone(),
            source: t.source.clone(),
            text: t.text.clone(),
            match_start: worst.start,
            match_end: worst.end,
            phrase: entry.phrase.clone(),
            category: worst.category.name().to_owned(),
            severity,
            reason,
            fold_key: fold_key(&who, &t.source, worst.category, &normalise(&entry.phrase).text),
            about_staff: about.subject == Subject::Staff,
            about_head: about.is_head,
        };
        self.file(alert, about.subject, &loaded.settings).await.map(Some)
    }

    /// A run of blocked requests that crossed a pattern rule.
    pub async fn blocked_pattern(
        &self,
        person: Option<&str>,
        client: &str,
        group: &str,
        hit: &PatternHit,
        last_name: &str,
        at: i64,
    ) -> Result<Recorded, StoreError> {
        let loaded = self.loaded();
        let about = self.about(person).await?;
        let severity = loaded.settings.severity_for(hit.severity, hit.category, about.subject);
        let text = format!("{hit}; the last was {last_name}");
        let who = person.unwrap_or(client);
        let alert = NewAlert {
            occurred_at: at,
            person: person.map(str::to_owned),
            subject: about.subject.name().to_owned(),
            group: group.to_owned(),
            client: Some(client.to_owned()),
            source: "blocked".into(),
            match_start: 0,
            match_end: 0,
            phrase: hit.filter_category.clone(),
            category: hit.category.name().to_owned(),
            severity,
            reason: format!("pattern rule: {hit}"),
            fold_key: fold_key(who, "blocked", hit.category, &hit.filter_category),
            about_staff: about.subject == Subject::Staff,
            about_head: about.is_head,
            text,
        };
        self.file(alert, about.subject, &loaded.settings).await
    }

    /// A pupil's own message to the DSL team: always severity 4, so an adult sees it
    /// today. `person` is `None` when they chose to stay anonymous.
    pub async fn worried(
        &self,
        person: Option<&str>,
        client: &str,
        group: &str,
        message: &str,
        at: i64,
    ) -> Result<Recorded, StoreError> {
        let message = message.trim();
        if message.is_empty() {
            return Err(StoreError::Invalid(
                "Write a few words about what is worrying you, so we know how to help.".into(),
            ));
        }
        let loaded = self.loaded();
        let about = self.about(person).await?;
        let found = loaded.matcher.scan(message);
        let category = loaded
            .matcher
            .worst(&found)
            .map(|m| m.category.name())
            .unwrap_or("worried");
        let alert = NewAlert {
            occurred_at: at,
            person: person.map(str::to_owned),
            subject: about.subject.name().to_owned(),
            group: group.to_owned(),
            client: if person.is_some() {
                Some(client.to_owned())
            } else {
                None
            },
            source: "worried".into(),
            text: message.to_owned(),
            match_start: 0,
            match_end: 0,
            phrase: String::new(),
            category: category.to_owned(),
            severity: 4,
            reason: if person.is_some() {
                "asked for help with \"Worried about something?\" (named by the school sign-in on that device)".into()
            } else {
                "asked for help anonymously with \"Worried about something?\"".into()
            },
            // Every message is its own alert: a pupil writing twice has two things to say.
            fold_key: format!("worried\u{1f}{at}\u{1f}{}", rand::random::<u64>()),
            about_staff: about.subject == Subject::Staff,
            about_head: about.is_head,
        };
        self.file(alert, about.subject, &loaded.settings).await
    }

    async fn file(&self, alert: NewAlert, subject: Subject, settings: &Settings) -> Result<Recorded, StoreError> {
        let now = crate::now();
        let recorded = self
            .store
            .record_alert(self.school, &alert, settings.fold_ms() / 1000, now)
            .await?;
        let route = settings.route(recorded.severity, subject);
        // An alert about the headteacher always goes to the Chair of Governors at once: no
        // digest reaches the Chair, and the head's own copy leaves it out.
        // The email is queued once per alert (a fold that lifts an alert into the immediate
        // range sends it then; a retry after a failure sends it if it was not queued).
        if route.immediate || alert.about_head {
            self.queue_alert_email(&alert, recorded, route).await?;
        }
        Ok(recorded)
    }

    async fn queue_alert_email(&self, alert: &NewAlert, r: Recorded, route: Route) -> Result<(), StoreError> {
        let mut roles = Vec::new();
        if alert.about_head {
            roles.push(Role::ChairOfGovernors);
        } else {
            if route.safeguarding_team {
                roles.extend([Role::Dsl, Role::DeputyDsl]);
            }
            if route.headteacher {
                roles.push(Role::Headteacher);
            }
        }
        let recipients: Vec<String> = self
            .store
            .recipients(self.school, &roles)
            .await?
            .into_iter()
            .map(|r| r.email)
            .collect();
        let category = alert
            .category
            .parse::<Category>()
            .map(|c| c.label().to_owned())
            .unwrap_or_else(|_| "Asked for help".to_owned());
        let email = notify::AlertEmail {
            school: self.school_name.clone(),
            severity: r.severity,
            category,
            link: format!("{}/monitor/alerts/{}", self.console_url, r.id),
            about_staff: alert.about_staff,
        }
        .render()
        .map_err(|e| StoreError::Invalid(format!("the alert email could not be written: {e}")))?;
        let mail = NewMail {
            kind: "alert".into(),
            recipients,
            subject: email.subject,
            text: email.text,
            html: email.html,
        };
        self.store
            .queue_alert_mail_once(self.school, r.id, &mail, crate::now())
            .await?;
        Ok(())
    }
}

/// What a school's monitoring is built from, read from the store once.
struct Source {
    settings: String,
    lines: Vec<(i64, String)>,
    off: Vec<String>,
    dismissals: Vec<store::Dismissal>,
}

async fn read_source(store: &Store, school: SchoolId) -> Result<Source, StoreError> {
    Ok(Source {
        settings: store.monitor_state(school).await?.0,
        lines: store.school_lexicon(school).await?,
        off: store.categories_off(school).await?,
        dismissals: store.dismissals(school).await?,
    })
}

/// A fingerprint of the source: when it is unchanged, nothing needs compiling again.
fn stamp(src: &Source) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(src.settings.as_bytes());
    for (id, line) in &src.lines {
        h.update(format!("\n{id}:{line}").as_bytes());
    }
    h.update(format!("\noff:{}", src.off.join(",")).as_bytes());
    h.update(format!("\ndismissed:{}", src.dismissals.len()).as_bytes());
    hex::encode(h.finalize())
}

fn build(src: Source) -> Result<Loaded, StoreError> {
    let stamp = stamp(&src);
    let settings = if src.settings.trim().is_empty() {
        Settings::default()
    } else {
        // Checked when saved; a stored text this version cannot read keeps the defaults
        // rather than switching monitoring off.
        Settings::from_toml(&src.settings).unwrap_or_else(|e| {
            tracing::warn!(error = %e, "stored monitoring settings are unreadable; using the defaults");
            Settings::default()
        })
    };
    let mut entries = monitor::default_lexicon();
    let text: String = src.lines.iter().map(|(_, l)| format!("{l}\n")).collect();
    match monitor::lexicon::parse("school lexicon", &text) {
        Ok(mut own) => entries.append(&mut own),
        Err(errors) => tracing::warn!(errors = errors.len(), "stored lexicon lines are unreadable; left out"),
    }
    let off: Vec<Category> = src.off.iter().filter_map(|c| c.parse().ok()).collect();
    let matcher = Matcher::new(entries, &off).map_err(StoreError::Invalid)?;
    let mut dismissals: HashMap<String, Vec<String>> = HashMap::new();
    for d in src.dismissals {
        dismissals.entry(d.phrase).or_default().push(d.context);
    }
    Ok(Loaded {
        matcher,
        settings,
        dismissals,
        stamp,
    })
}
