//! Monitoring in the console (issue 6): the DSL's alert queue and triage, the monitoring
//! settings (the school's own lexicon lines, categories switched off, routing and pattern
//! settings, ingest tokens), a pupil's "Worried about something?" page, and the ingest API
//! other systems send text to. Who sees which alert is decided by [`scope_of`]: alerts
//! about staff are the headteacher's alone, alerts about the headteacher the Chair's.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;

use axum::Json;
use axum::body::{Body, to_bytes};
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Form, extract::Request};
use monitor::Category;
use register::roles::{Authority, Permission, Role};
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};
use store::{Alert, AlertScope, Triage};

use crate::concerns::{Text, context_of};
use crate::error::ConsoleError;
use crate::pages::nav;
use crate::templates::{
    AlertPage, AlertRow, AlertsPage, LexiconRow, MonitorSettingsPage, TokenRow, WorriedPage, render,
};
use crate::web::{CsrfToken, CurrentUser, random_token};
use crate::{AppState, now};

/// The alerts `authority` may see, if any.
pub(crate) fn scope_of(a: &Authority) -> Option<AlertScope> {
    if a.roles().contains(&Role::Headteacher) {
        Some(AlertScope::Headteacher)
    } else if a.roles().contains(&Role::ChairOfGovernors) {
        Some(AlertScope::Chair)
    } else if a.can(Permission::ViewSafeguarding) {
        Some(AlertScope::Safeguarding)
    } else {
        None
    }
}

fn scope(user: &CurrentUser) -> Result<AlertScope, ConsoleError> {
    scope_of(&user.authority).ok_or(ConsoleError::Forbidden("Only the safeguarding team can see alerts."))
}

fn can_configure(a: &Authority) -> bool {
    a.roles()
        .iter()
        .any(|r| matches!(r, Role::Headteacher | Role::Dsl | Role::OnlineSafetyLead))
}

/// A time as the school reads it: UK local time.
pub(crate) fn uk_time(unix: i64) -> String {
    let local = unix + policy::rules::uk_offset(unix);
    time::OffsetDateTime::from_unix_timestamp(local)
        .map(|t| {
            format!(
                "{} {} {} {}, {:02}:{:02}",
                t.weekday(),
                t.day(),
                t.month(),
                t.year(),
                t.hour(),
                t.minute()
            )
        })
        .unwrap_or_default()
}

fn category_label(name: &str) -> String {
    match name.parse::<Category>() {
        Ok(c) => c.label().to_owned(),
        Err(_) if name == "worried" => "Asked for help".to_owned(),
        Err(_) => name.to_owned(),
    }
}

fn source_label(source: &str) -> String {
    match source {
        "search" => "a web search".into(),
        "blocked" => "blocked requests".into(),
        "worried" => "\"Worried about something?\"".into(),
        s => match s.strip_prefix("api:") {
            Some(system) => format!("{system} (ingest API)"),
            None => s.to_owned(),
        },
    }
}

fn row(a: &Alert) -> AlertRow {
    let (before, hit, after) = monitor::alert::highlight(&a.text, a.match_start, a.match_end);
    AlertRow {
        id: a.id,
        when: uk_time(a.last_at),
        first: uk_time(a.created_at),
        who: a.person.clone().unwrap_or_else(|| {
            if a.source == "worried" {
                "anonymous".into()
            } else {
                a.client.clone().unwrap_or_else(|| "unknown".into())
            }
        }),
        has_person: a.person.is_some(),
        subject: a.subject.clone(),
        group: a.group.clone(),
        source: source_label(&a.source),
        category: category_label(&a.category),
        severity: a.severity,
        count: a.count,
        status: a.status.clone(),
        before: before.to_owned(),
        hit: hit.to_owned(),
        after: after.to_owned(),
        reason: a.reason.clone(),
        note: a.note.clone().unwrap_or_default(),
        handled_by: a.handled_by.clone().unwrap_or_default(),
        about_staff: a.about_staff,
    }
}

#[derive(Debug, Deserialize, Default)]
pub(crate) struct AlertsQuery {
    #[serde(default)]
    status: String,
    done: Option<String>,
}

pub(crate) async fn alerts_page(
    State(state): State<AppState>,
    user: CurrentUser,
    CsrfToken(csrf): CsrfToken,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    Query(q): Query<AlertsQuery>,
) -> Result<Response, ConsoleError> {
    let scope = scope(&user)?;
    let status = match q.status.as_str() {
        "all" => None,
        "dismissed" | "noted" | "escalated" => Some(q.status.as_str()),
        _ => Some("new"),
    };
    let alerts = state
        .store()
        .alerts(user.account.school, scope, status, 200, &user.actor(addr), now())
        .await?;
    let page = AlertsPage {
        title: "Alerts".into(),
        csrf,
        nav: Some(nav(&state, &user).await?),
        status: status.unwrap_or("all").to_owned(),
        alerts: alerts.iter().map(row).collect(),
        notice: q.done.map(|d| format!("Alert {d} updated.")),
        configure: can_configure(&user.authority),
    };
    Ok(render(&page)?.into_response())
}

pub(crate) async fn alert_page(
    State(state): State<AppState>,
    user: CurrentUser,
    CsrfToken(csrf): CsrfToken,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    Path(id): Path<i64>,
) -> Result<Response, ConsoleError> {
    let scope = scope(&user)?;
    let a = state
        .store()
        .alert(user.account.school, id, scope, &user.actor(addr), now())
        .await?;
    let page = AlertPage {
        title: format!("Alert {id}"),
        csrf,
        nav: Some(nav(&state, &user).await?),
        a: row(&a),
        error: None,
    };
    Ok(render(&page)?.into_response())
}

#[derive(Debug, Deserialize, Default)]
pub(crate) struct TriageForm {
    #[serde(default)]
    action: String,
    #[serde(default)]
    note: String,
}

pub(crate) async fn triage(
    State(state): State<AppState>,
    user: CurrentUser,
    CsrfToken(csrf): CsrfToken,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    Path(id): Path<i64>,
    Form(form): Form<TriageForm>,
) -> Result<Response, ConsoleError> {
    let scope = scope(&user)?;
    let school = user.account.school;
    let who = user.actor(addr);
    let store = state.store();
    let triage = match form.action.as_str() {
        "dismiss" => {
            let a = store.alert(school, id, scope, &who, now()).await?;
            Triage::Dismiss {
                context: context_of(&a.text, a.match_start, a.match_end),
            }
        }
        "escalate" => Triage::Escalate(form.note.clone()),
        _ => Triage::Note(form.note.clone()),
    };
    match store.triage_alert(school, id, scope, &triage, &who, now()).await {
        Ok(()) => {}
        Err(store::StoreError::Invalid(why)) => {
            let a = store.alert(school, id, scope, &who, now()).await?;
            let page = AlertPage {
                title: format!("Alert {id}"),
                csrf,
                nav: Some(nav(&state, &user).await?),
                a: row(&a),
                error: Some(why),
            };
            return Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response());
        }
        Err(e) => return Err(e.into()),
    }
    if matches!(triage, Triage::Dismiss { .. })
        && let Some(c) = &state.inner.concerns
    {
        c.reload().await?;
    }
    if let Triage::Escalate(note) = &triage {
        // Escalating opens a record in the online safety log, linked to the alert, and
        // routed like any other; the DSL lands on it to carry on.
        let a = store.alert(school, id, scope, &who, now()).await?;
        let incident = crate::incidents::from_alert(&state, &user, &a, note, &who).await?;
        return Ok(Redirect::to(&format!("/incidents/{incident}")).into_response());
    }
    Ok(Redirect::to(&format!("/monitor/alerts?done={id}")).into_response())
}

// ---- Settings: lexicon lines, categories, routing text, ingest tokens ----

async fn settings_view(
    state: &AppState,
    user: &CurrentUser,
    csrf: String,
    errors: Vec<String>,
    new_token: Option<String>,
    settings_text: Option<String>,
) -> Result<MonitorSettingsPage, ConsoleError> {
    let school = user.account.school;
    let store = state.store();
    let off = store.categories_off(school).await?;
    let (stored, _) = store.monitor_state(school).await?;
    Ok(MonitorSettingsPage {
        title: "Monitoring settings".into(),
        csrf,
        nav: Some(nav(state, user).await?),
        errors,
        categories: Category::ALL
            .iter()
            .map(|c| {
                (
                    c.name().to_owned(),
                    c.label().to_owned(),
                    !off.iter().any(|o| o == c.name()),
                )
            })
            .collect(),
        lines: store
            .school_lexicon(school)
            .await?
            .into_iter()
            .map(|(id, line)| LexiconRow { id, line })
            .collect(),
        settings: settings_text.unwrap_or(stored),
        tokens: store
            .monitor_tokens(school)
            .await?
            .into_iter()
            .map(|t| TokenRow {
                id: t.id,
                name: t.name,
                created: uk_time(t.created_at),
                used: t.last_used_at.map(uk_time).unwrap_or_else(|| "never".into()),
                live: t.revoked_at.is_none(),
            })
            .collect(),
        new_token,
    })
}

fn configurer(user: &CurrentUser) -> Result<(), ConsoleError> {
    if can_configure(&user.authority) {
        Ok(())
    } else {
        Err(ConsoleError::Forbidden(
            "Only the headteacher, the DSL or the online safety lead can change monitoring.",
        ))
    }
}

pub(crate) async fn settings_page(
    State(state): State<AppState>,
    user: CurrentUser,
    CsrfToken(csrf): CsrfToken,
) -> Result<Response, ConsoleError> {
    configurer(&user)?;
    Ok(render(&settings_view(&state, &user, csrf, vec![], None, None).await?)?.into_response())
}

#[derive(Debug, Deserialize, Default)]
pub(crate) struct SettingsForm {
    #[serde(default)]
    action: String,
    #[serde(default)]
    category: String,
    #[serde(default)]
    lines: String,
    #[serde(default)]
    id: Option<i64>,
    #[serde(default)]
    settings: String,
    #[serde(default)]
    name: String,
}

pub(crate) async fn save_settings(
    State(state): State<AppState>,
    user: CurrentUser,
    CsrfToken(csrf): CsrfToken,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    Form(f): Form<SettingsForm>,
) -> Result<Response, ConsoleError> {
    configurer(&user)?;
    let school = user.account.school;
    let store = state.store();
    let who = user.actor(addr);
    let t = now();
    let mut errors = Vec::new();
    let mut new_token = None;
    let mut keep_text = None;
    match f.action.as_str() {
        "category_on" | "category_off" => {
            let Ok(c) = f.category.parse::<Category>() else {
                return Err(ConsoleError::BadRequest("No such category."));
            };
            store
                .set_category_on(school, c.name(), f.action == "category_on", &who, t)
                .await?;
        }
        "add_lines" => match monitor::lexicon::parse("your lines", &f.lines) {
            Ok(entries) if entries.is_empty() => errors.push("Write at least one line.".into()),
            Ok(_) => {
                let lines: Vec<String> = f
                    .lines
                    .lines()
                    .map(|l| l.split('#').next().unwrap_or_default().trim().to_owned())
                    .filter(|l| !l.is_empty())
                    .collect();
                store.add_lexicon_lines(school, &lines, &who, t).await?;
            }
            Err(errs) => errors.extend(errs.iter().map(ToString::to_string)),
        },
        "remove_line" => {
            let id = f.id.ok_or(ConsoleError::BadRequest("Which line?"))?;
            store.remove_lexicon_line(school, id, &who, t).await?;
        }
        "settings" => match monitor::Settings::from_toml(&f.settings) {
            Ok(_) => store.set_monitor_settings(school, f.settings.trim(), &who, t).await?,
            Err(e) => {
                errors.push(format!("The settings were not saved: {e}"));
                keep_text = Some(f.settings.clone());
            }
        },
        "create_token" => {
            let token = random_token();
            let hash = hex::encode(Sha256::digest(token.as_bytes()));
            match store.create_monitor_token(school, &f.name, &hash, &who, t).await {
                Ok(_) => new_token = Some(token),
                Err(store::StoreError::Invalid(why)) => errors.push(why),
                Err(e) => return Err(e.into()),
            }
        }
        "revoke_token" => {
            let id = f.id.ok_or(ConsoleError::BadRequest("Which token?"))?;
            store.revoke_monitor_token(school, id, &who, t).await?;
        }
        _ => return Err(ConsoleError::BadRequest("Unknown action.")),
    }
    if let Some(c) = &state.inner.concerns {
        c.reload().await?;
    }
    if errors.is_empty() && new_token.is_none() {
        return Ok(Redirect::to("/monitor/settings").into_response());
    }
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let page = settings_view(&state, &user, csrf, errors, new_token, keep_text).await?;
    Ok((status, render(&page)?).into_response())
}

// ---- "Worried about something?" ----

/// Messages one address may send in ten minutes: plenty for a child with something to
/// say, not a flood.
const WORRIED_PER_TEN_MINUTES: usize = 5;

/// Recent "Worried?" messages by address.
#[derive(Debug, Default)]
pub(crate) struct WorriedLimit(Mutex<HashMap<IpAddr, Vec<i64>>>);

impl WorriedLimit {
    fn allow(&self, ip: IpAddr, now: i64) -> bool {
        let mut m = self.0.lock().unwrap_or_else(|p| p.into_inner());
        m.retain(|_, times| {
            times.retain(|&t| t > now - 600);
            !times.is_empty()
        });
        let times = m.entry(ip).or_default();
        if times.len() >= WORRIED_PER_TEN_MINUTES {
            return false;
        }
        times.push(now);
        true
    }
}

fn who_is(state: &AppState, ip: IpAddr) -> (Option<String>, String) {
    match &state.inner.block_pages {
        Some(p) => p.who.who(ip),
        None => (None, store::UNIDENTIFIED.to_owned()),
    }
}

pub(crate) async fn worried_page(
    State(state): State<AppState>,
    CsrfToken(csrf): CsrfToken,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
) -> Result<Response, ConsoleError> {
    let (person, _) = who_is(&state, addr.ip());
    let page = WorriedPage {
        title: "Worried about something?".into(),
        csrf,
        nav: None,
        known: person.is_some(),
        sent: false,
        error: None,
        message: String::new(),
    };
    Ok(render(&page)?.into_response())
}

#[derive(Debug, Deserialize, Default)]
pub(crate) struct WorriedForm {
    #[serde(default)]
    message: String,
    #[serde(default)]
    anonymous: Option<String>,
    #[serde(default)]
    name: String,
}

pub(crate) async fn worried(
    State(state): State<AppState>,
    CsrfToken(csrf): CsrfToken,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    Form(f): Form<WorriedForm>,
) -> Result<Response, ConsoleError> {
    let (person, group) = who_is(&state, addr.ip());
    let anonymous = f.anonymous.is_some();
    let mut page = WorriedPage {
        title: "Worried about something?".into(),
        csrf,
        nav: None,
        known: person.is_some(),
        sent: false,
        error: None,
        message: f.message.clone(),
    };
    let Some(concerns) = &state.inner.concerns else {
        page.error = Some("This is not working right now. Please talk to a teacher or another adult you trust.".into());
        return Ok((StatusCode::SERVICE_UNAVAILABLE, render(&page)?).into_response());
    };
    if !state.inner.worried.allow(addr.ip(), now()) {
        page.error = Some(
            "You have sent several messages just now, and they have all reached us. If you need help now, \
             talk to a teacher or another adult you trust."
                .into(),
        );
        return Ok((StatusCode::TOO_MANY_REQUESTS, render(&page)?).into_response());
    }
    let mut message: String = f.message.trim().chars().take(4000).collect();
    let name = f.name.trim();
    if person.is_none() && !anonymous && !name.is_empty() {
        message = format!(
            "{message}\n\n(Name given: {})",
            name.chars().take(100).collect::<String>()
        );
    }
    let who = if anonymous { None } else { person.as_deref() };
    let group = if anonymous { store::UNIDENTIFIED } else { group.as_str() };
    match concerns
        .worried(who, &addr.ip().to_string(), group, &message, now())
        .await
    {
        Ok(_) => {
            page.sent = true;
            page.message.clear();
            Ok(render(&page)?.into_response())
        }
        Err(store::StoreError::Invalid(why)) => {
            page.error = Some(why);
            Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response())
        }
        Err(e) => Err(e.into()),
    }
}

// ---- Ingest API ----

/// The largest body the ingest API takes: a long message or a page of chat.
pub const MAX_INGEST_BYTES: usize = 64 * 1024;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Submission {
    text: String,
    /// The username of the person who wrote it.
    person: Option<String>,
    /// What kind of system: `chat`, `email`, `device` …
    source: Option<String>,
    /// When it was written: RFC 3339, or Unix seconds.
    at: Option<serde_json::Value>,
}

fn api_error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({"error": message.into()}))).into_response()
}

/// `POST /api/v1/monitor/text` with `Authorization: Bearer TOKEN` and a JSON body
/// `{"text": "...", "person": "username", "source": "chat", "at": "2026-11-24T10:00:00Z"}`.
pub(crate) async fn ingest(State(state): State<AppState>, headers: HeaderMap, request: Request<Body>) -> Response {
    let t = now();
    let token = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|v| !v.is_empty());
    let Some(token) = token else {
        return api_error(
            StatusCode::UNAUTHORIZED,
            "send the system's token as `Authorization: Bearer TOKEN` (made in Monitoring settings)",
        );
    };
    let hash = hex::encode(Sha256::digest(token.as_bytes()));
    let (school, system) = match state.store().monitor_token(&hash, t).await {
        Ok(Some(found)) => found,
        Ok(None) => return api_error(StatusCode::UNAUTHORIZED, "that token is not known, or was revoked"),
        Err(e) => {
            tracing::error!(error = %e, "ingest token check failed");
            return api_error(StatusCode::SERVICE_UNAVAILABLE, "the store is not answering; try again");
        }
    };
    let Some(concerns) = state.inner.concerns.as_ref().filter(|c| c.school() == school) else {
        return api_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "monitoring is not running for this school on this server",
        );
    };
    if !headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"))
    {
        return api_error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "send JSON (Content-Type: application/json)",
        );
    }
    let Ok(bytes) = to_bytes(request.into_body(), MAX_INGEST_BYTES).await else {
        return api_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "the body is over {} KiB; send long text in parts",
                MAX_INGEST_BYTES / 1024
            ),
        );
    };
    let s: Submission = match serde_json::from_slice(&bytes) {
        Ok(s) => s,
        Err(e) => {
            return api_error(
                StatusCode::BAD_REQUEST,
                format!("the body is not the JSON expected: {e}"),
            );
        }
    };
    if s.text.trim().is_empty() {
        return api_error(StatusCode::BAD_REQUEST, "`text` is empty");
    }
    let at = match &s.at {
        None => t,
        Some(serde_json::Value::Number(n)) => match n.as_i64() {
            Some(v) if (0..=t + 300).contains(&v) => v,
            _ => return api_error(StatusCode::BAD_REQUEST, "`at` is not a Unix time in the past"),
        },
        Some(serde_json::Value::String(v)) => {
            match time::OffsetDateTime::parse(v, &time::format_description::well_known::Rfc3339) {
                Ok(d) if d.unix_timestamp() <= t + 300 => d.unix_timestamp(),
                Ok(_) => return api_error(StatusCode::BAD_REQUEST, "`at` is in the future"),
                Err(e) => return api_error(StatusCode::BAD_REQUEST, format!("`at` is not an RFC 3339 time: {e}")),
            }
        }
        Some(_) => {
            return api_error(
                StatusCode::BAD_REQUEST,
                "`at` must be an RFC 3339 string or Unix seconds",
            );
        }
    };
    if let Some(p) = &s.person {
        match state.store().account_by_username(p).await {
            Ok(Some(a)) if a.school == school => {}
            Ok(_) => return api_error(StatusCode::BAD_REQUEST, format!("no person has the username {p:?}")),
            Err(e) => {
                tracing::error!(error = %e, "ingest person lookup failed");
                return api_error(StatusCode::SERVICE_UNAVAILABLE, "the store is not answering; try again");
            }
        }
    }
    let source = match s.source.as_deref().map(str::trim).filter(|v| !v.is_empty()) {
        Some(kind) => format!("api:{system} ({})", kind.chars().take(40).collect::<String>()),
        None => format!("api:{system}"),
    };
    let text = Text {
        person: s.person,
        client: None,
        group: None,
        source,
        text: s.text,
        at,
    };
    match concerns.scan(&text).await {
        Ok(None) => (StatusCode::ACCEPTED, Json(json!({"accepted": true, "alert": null}))).into_response(),
        Ok(Some(r)) => (
            StatusCode::ACCEPTED,
            Json(json!({"accepted": true, "alert": {"id": r.id, "severity": r.severity, "folded": r.folded}})),
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "ingest could not record an alert");
            api_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "the alert could not be recorded; try again",
            )
        }
    }
}
