//! The filter log: what the DNS server (and later the proxy) decided, searchable by person,
//! group, verdict, category, name and time — "what did this pupil reach and try to reach
//! between 10:00 and 10:30?". Seeing it is limited to filter managers and safeguarding
//! roles, and every search is written to the audit log, since it shows what individuals did.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Query, State};
use axum::response::{IntoResponse, Response};
use register::roles::Permission;
use serde::Deserialize;
use store::EventFilter;

use crate::error::ConsoleError;
use crate::pages::nav;
use crate::templates::{EventRow, LogPage, render};
use crate::web::{CsrfToken, CurrentUser};
use crate::{AppState, now};

const PAGE: i64 = 100;

pub(crate) fn can_view(a: &register::roles::Authority) -> bool {
    a.can(Permission::FilterManager) || a.can(Permission::ViewSafeguarding)
}

#[derive(Debug, Deserialize, Default)]
pub(crate) struct LogQuery {
    #[serde(default)]
    person: String,
    #[serde(default)]
    group: String,
    #[serde(default)]
    verdict: String,
    #[serde(default)]
    category: String,
    #[serde(default)]
    name: String,
    /// `YYYY-MM-DDTHH:MM`, UTC.
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    page: Option<i64>,
}

fn some(s: &str) -> Option<String> {
    let t = s.trim();
    (!t.is_empty()).then(|| t.to_owned())
}

fn parse_time(s: &str) -> Option<i64> {
    let fmt = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]");
    time::PrimitiveDateTime::parse(s.trim(), &fmt)
        .ok()
        .map(|t| t.assume_utc().unix_timestamp() * 1000)
}

pub(crate) fn show_time(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(ms / 1000)
        .map(|t| format!("{} {:02}:{:02}:{:02}", t.date(), t.hour(), t.minute(), t.second()))
        .unwrap_or_default()
}

pub(crate) async fn log(
    State(state): State<AppState>,
    user: CurrentUser,
    CsrfToken(csrf): CsrfToken,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    Query(q): Query<LogQuery>,
) -> Result<Response, ConsoleError> {
    if !can_view(&user.authority) {
        return Err(ConsoleError::Forbidden(
            "The filter log shows what people did online; only filter managers and safeguarding roles can see it.",
        ));
    }
    let mut errors = Vec::new();
    let from_ms = some(&q.from).and_then(|t| {
        parse_time(&t).or_else(|| {
            errors.push(format!("“{t}” is not a time (use the picker, or 2026-11-24T10:00)"));
            None
        })
    });
    let to_ms = some(&q.to).and_then(|t| {
        parse_time(&t).map(|ms| ms + 59_999).or_else(|| {
            errors.push(format!("“{t}” is not a time"));
            None
        })
    });
    let filter = EventFilter {
        person: some(&q.person),
        group: some(&q.group),
        verdict: some(&q.verdict),
        category: some(&q.category),
        name: some(&q.name),
        from_ms,
        to_ms,
    };
    let page = q.page.unwrap_or(1).clamp(1, 100_000);
    let school = user.account.school;
    let (events, more) = state
        .store()
        .search_events(school, &filter, PAGE, (page - 1) * PAGE)
        .await?;
    let actor = user.actor(addr);
    let details = serde_json::json!({"person": filter.person, "group": filter.group, "verdict": filter.verdict, "category": filter.category,
        "name": filter.name, "from_ms": filter.from_ms, "to_ms": filter.to_ms, "page": page}).to_string();
    state
        .store()
        .audit(school, actor.entry(now(), "filter_log.view", "filter_log", details))
        .await?;
    let link = |p: i64| {
        let enc = |s: &str| percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string();
        format!(
            "/logs?person={}&group={}&verdict={}&category={}&name={}&from={}&to={}&page={p}",
            enc(&q.person),
            enc(&q.group),
            enc(&q.verdict),
            enc(&q.category),
            enc(&q.name),
            enc(&q.from),
            enc(&q.to)
        )
    };
    let rows = events
        .into_iter()
        .map(|e| EventRow {
            when: show_time(e.at_ms),
            who: e.person.clone().or(e.device.clone()).unwrap_or_else(|| "—".into()),
            who_link: e.person.as_ref().map(|p| {
                format!(
                    "/logs?person={}",
                    percent_encoding::utf8_percent_encode(p, percent_encoding::NON_ALPHANUMERIC)
                )
            }),
            source: if e.source == "proxy" { "Web proxy" } else { "DNS" },
            url: e.url.clone().unwrap_or_default(),
            search: e.search.clone().unwrap_or_default(),
            client: e.client,
            group: e.group,
            name: e.name,
            kind: e.kind,
            blocked: e.verdict == "block",
            verdict: e.verdict,
            category: e
                .category
                .and_then(|c| c.parse::<policy::Category>().ok())
                .map(|c| c.label().to_owned())
                .unwrap_or_default(),
            rule: e.rule,
            repeats: e.repeats,
        })
        .collect();
    let view = LogPage {
        title: "Filter log".into(),
        csrf,
        nav: Some(nav(&state, &user).await?),
        person: q.person.clone(),
        group: q.group.clone(),
        verdict: q.verdict.clone(),
        category: q.category.clone(),
        name: q.name.clone(),
        from: q.from.clone(),
        to: q.to.clone(),
        categories: policy::Category::ALL.iter().map(|c| (c.name(), c.label())).collect(),
        rows,
        errors,
        prev_link: (page > 1).then(|| link(page - 1)),
        next_link: more.then(|| link(page + 1)),
    };
    Ok(render(&view)?.into_response())
}
