//! The filtering pages: each group's policy (seen by those who answer for filtering, edited
//! only by filter managers, every change audited with a reason), the lists, and a "test a
//! site" box that asks the running engine.

use axum::Form;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use policy::rules::{DefaultVerdict, TimeRule, YoutubeMode};
use policy::{Category, GroupPolicy, LocalTime, Request};
use register::roles::{Authority, Permission};
use serde::Deserialize;
use std::net::SocketAddr;

use crate::error::ConsoleError;
use crate::pages::nav;
use crate::templates::{
    CategoryRow, ChangeRow, FilteringPage, GroupPolicyPage, GroupSummaryRow, ListRow, ListsPage, TestResult, render,
};
use crate::web::{CsrfToken, CurrentUser};
use crate::{AppState, now};

/// Who may see the filtering pages: filter managers, those who run the system, and the
/// safeguarding roles that KCSIE expects to understand the filtering (KCSIE-OS-04).
pub(crate) fn can_view(a: &Authority) -> bool {
    a.can(Permission::FilterManager) || a.can(Permission::ManageSettings) || a.can(Permission::ViewSafeguarding)
}

fn require_view(user: &CurrentUser) -> Result<(), ConsoleError> {
    if can_view(&user.authority) {
        Ok(())
    } else {
        Err(ConsoleError::Forbidden(
            "Your role does not include the filtering pages.",
        ))
    }
}

fn date_time(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .map(|t| format!("{} {:02}:{:02} UTC", t.date(), t.hour(), t.minute()))
        .unwrap_or_default()
}

#[derive(Debug, Deserialize, Default)]
pub(crate) struct TestQuery {
    #[serde(default)]
    target: String,
    #[serde(default)]
    group: String,
}

pub(crate) async fn overview(
    state: State<AppState>,
    user: CurrentUser,
    csrf: CsrfToken,
) -> Result<Response, ConsoleError> {
    render_overview(state, user, csrf, TestQuery::default()).await
}

pub(crate) async fn test_site(
    state: State<AppState>,
    user: CurrentUser,
    csrf: CsrfToken,
    Query(q): Query<TestQuery>,
) -> Result<Response, ConsoleError> {
    render_overview(state, user, csrf, q).await
}

async fn render_overview(
    State(state): State<AppState>,
    user: CurrentUser,
    CsrfToken(csrf): CsrfToken,
    q: TestQuery,
) -> Result<Response, ConsoleError> {
    require_view(&user)?;
    let school = user.account.school;
    let store = state.store();
    let policies = store.policies(school).await?;
    let groups = policies
        .iter()
        .map(|p| {
            let parsed = GroupPolicy::from_toml(&p.group, &p.toml).ok();
            GroupSummaryRow {
                name: p.group.clone(),
                blocks: parsed
                    .as_ref()
                    .map(|g| {
                        g.block
                            .iter()
                            .filter_map(|c| c.parse::<Category>().ok())
                            .map(|c| c.label())
                            .collect::<Vec<_>>()
                            .join(", ")
                    })
                    .unwrap_or_else(|| "(this policy cannot be read)".into()),
                safe_search: parsed.as_ref().is_some_and(|g| g.safe_search),
                walled_garden: parsed.as_ref().is_some_and(|g| g.default == DefaultVerdict::Deny),
                updated: format!("{} by {}", date_time(p.updated_at), p.updated_by),
            }
        })
        .collect();
    let lists = store.lists(school).await?;
    let snapshot = state.inner.filter.engine.snapshot();
    let group_names: Vec<String> = snapshot.group_names().map(str::to_owned).collect();
    let test = if q.target.trim().is_empty() {
        None
    } else {
        let group_name = if q.group.is_empty() {
            "KS2".to_owned()
        } else {
            q.group.clone()
        };
        let group = snapshot
            .group(&group_name)
            .or_else(|| snapshot.group(store::UNIDENTIFIED))
            .ok_or(ConsoleError::NotFound)?;
        let (host, path) = policy::domain::split_target(&q.target);
        let d = snapshot.decide(&Request {
            host: &host,
            path: path.as_deref(),
            group,
            at: LocalTime::uk(now()),
        });
        Some(TestResult {
            target: q.target.trim().to_owned(),
            group: snapshot.group_name(group).to_owned(),
            verdict: match d.verdict {
                policy::Verdict::Allow => "Allowed",
                policy::Verdict::Block => "Blocked",
                policy::Verdict::SafeSearch(_) => "Allowed, with safe search",
            },
            blocked: d.verdict.is_blocked(),
            category: d.category.map(|c| c.label().to_owned()).unwrap_or_default(),
            rule: snapshot.rule_name(&d),
            reason: snapshot.reason(&d, q.target.trim()),
        })
    };
    let page = FilteringPage {
        title: "Filtering".into(),
        csrf,
        nav: Some(nav(&state, &user).await?),
        groups,
        lists: lists.len(),
        entries: lists.iter().map(|l| (l.domains + l.urls) as usize).sum(),
        illegal_lists: lists.iter().filter(|l| l.illegal).count(),
        test,
        test_target: q.target,
        test_group: q.group,
        group_names,
        pending_requests: state
            .store()
            .unblock_requests(user.account.school, Some("pending"), 1000)
            .await?
            .len(),
    };
    Ok(render(&page)?.into_response())
}

pub(crate) async fn lists(
    State(state): State<AppState>,
    user: CurrentUser,
    CsrfToken(csrf): CsrfToken,
) -> Result<Response, ConsoleError> {
    require_view(&user)?;
    let lists = state
        .store()
        .lists(user.account.school)
        .await?
        .into_iter()
        .map(|l| ListRow {
            // The block page must never say which illegal-content list matched; here, for the
            // people who run the filter, the list itself is named but its entries never are.
            name: l.name,
            category: l
                .category
                .parse::<Category>()
                .map(|c| c.label().to_owned())
                .unwrap_or(l.category),
            domains: l.domains,
            urls: l.urls,
            loaded: date_time(l.loaded_at),
            loaded_by: l.loaded_by,
            illegal: l.illegal,
        })
        .collect();
    let page = ListsPage {
        title: "Filter lists".into(),
        csrf,
        nav: Some(nav(&state, &user).await?),
        lists,
    };
    Ok(render(&page)?.into_response())
}

#[derive(Debug, Deserialize, Default)]
pub(crate) struct SavedQuery {
    #[serde(default)]
    saved: Option<String>,
}

pub(crate) async fn group_page(
    State(state): State<AppState>,
    user: CurrentUser,
    CsrfToken(csrf): CsrfToken,
    Path(group): Path<String>,
    Query(q): Query<SavedQuery>,
) -> Result<Response, ConsoleError> {
    require_view(&user)?;
    let record = state
        .store()
        .policies(user.account.school)
        .await?
        .into_iter()
        .find(|p| p.group == group)
        .ok_or(ConsoleError::NotFound)?;
    let policy = GroupPolicy::from_toml(&group, &record.toml).map_err(|e| ConsoleError::Internal(e.to_string()))?;
    let page = group_view(&state, &user, csrf, &group, &policy, vec![], q.saved.is_some()).await?;
    Ok(render(&page)?.into_response())
}

async fn group_view(
    state: &AppState,
    user: &CurrentUser,
    csrf: String,
    group: &str,
    p: &GroupPolicy,
    errors: Vec<String>,
    saved: bool,
) -> Result<GroupPolicyPage, ConsoleError> {
    let categories = Category::ALL
        .iter()
        .filter(|c| **c != Category::IllegalContent)
        .map(|c| CategoryRow {
            name: c.name(),
            label: c.label(),
            about: c.about(),
            blocked: p.block.iter().any(|b| b == c.name()),
            allowed: p.allow_categories.iter().any(|b| b == c.name()),
        })
        .collect();
    let changes = state
        .store()
        .audit_for_target(user.account.school, &format!("policy:{group}"), 20)
        .await?
        .into_iter()
        .map(|e| {
            let details: serde_json::Value = serde_json::from_str(&e.details).unwrap_or_default();
            ChangeRow {
                when: date_time(e.at),
                who: e.actor,
                what: match e.action.as_str() {
                    "policy.change" => "Changed".into(),
                    "policy.change.refused" => "Refused: would allow illegal content".into(),
                    other => other.to_owned(),
                },
                reason: details["reason"].as_str().unwrap_or_default().to_owned(),
            }
        })
        .collect();
    Ok(GroupPolicyPage {
        title: format!("Filtering for {group}"),
        csrf,
        nav: Some(nav(state, user).await?),
        group: group.to_owned(),
        can_edit: user.authority.can(Permission::FilterManager),
        categories,
        allow: p.allow.join("\n"),
        deny: p.deny.join("\n"),
        time_rules: p
            .time_rules
            .iter()
            .map(TimeRule::to_line)
            .collect::<Vec<_>>()
            .join("\n"),
        safe_search: p.safe_search,
        youtube_moderate: p.youtube == YoutubeMode::Moderate,
        walled_garden: p.default == DefaultVerdict::Deny,
        errors,
        saved,
        changes,
    })
}

pub(crate) async fn save_group(
    State(state): State<AppState>,
    user: CurrentUser,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    CsrfToken(csrf): CsrfToken,
    Path(group): Path<String>,
    Form(form): Form<Vec<(String, String)>>,
) -> Result<Response, ConsoleError> {
    if !user.authority.can(Permission::FilterManager) {
        return Err(ConsoleError::Forbidden(
            "Only filter managers can change filtering (DfE filtering standard: changes are controlled).",
        ));
    }
    let school = user.account.school;
    let store = state.store();
    if !store.policies(school).await?.iter().any(|p| p.group == group) {
        return Err(ConsoleError::NotFound);
    }
    let field = |name: &str| {
        form.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim().to_owned())
            .unwrap_or_default()
    };
    let all = |name: &str| {
        form.iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .collect::<Vec<_>>()
    };
    let lines = |text: String| {
        text.lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    let mut errors = Vec::new();
    let mut time_rules = Vec::new();
    for line in lines(field("time_rules")) {
        match TimeRule::parse_line(&line) {
            Ok(r) => time_rules.push(r),
            Err(e) => errors.push(format!("Time rule: {e}")),
        }
    }
    let policy = GroupPolicy {
        block: all("block"),
        allow_categories: all("allow_category"),
        allow: lines(field("allow")),
        deny: lines(field("deny")),
        time_rules,
        safe_search: !field("safe_search").is_empty(),
        youtube: if field("youtube") == "moderate" {
            YoutubeMode::Moderate
        } else {
            YoutubeMode::Strict
        },
        default: if field("default") == "deny" {
            DefaultVerdict::Deny
        } else {
            DefaultVerdict::Allow
        },
    };
    let reason = field("reason");
    if reason.is_empty() {
        errors.push(
            "Say why you are making this change: the reason goes into the change log (DfE filtering standard).".into(),
        );
    }
    let actor = user.actor(addr);
    match policy.check(&group) {
        Err(e) => errors.push(e.message),
        Ok(checked) => {
            let conflicts = state.inner.filter.engine.snapshot().illegal_conflicts(&checked.allow);
            if !conflicts.is_empty() {
                let details = serde_json::json!({"allow": conflicts, "reason": reason}).to_string();
                store
                    .audit(
                        school,
                        actor.entry(now(), "policy.change.refused", &format!("policy:{group}"), details),
                    )
                    .await?;
                errors.push(format!(
                    "{} would allow illegal content, which nobody can allow. The attempt has been recorded.",
                    conflicts.join(", ")
                ));
            }
        }
    }
    if !errors.is_empty() {
        let page = group_view(&state, &user, csrf, &group, &policy, errors, false).await?;
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response());
    }
    store
        .set_policy_with_reason(school, &group, &policy.to_toml(), &reason, &actor, now())
        .await?;
    reload(&state, school).await?;
    Ok(Redirect::to(&format!("/filtering/groups/{group}?saved=1")).into_response())
}

/// Rebuilds the engine's snapshot from the store; on failure the old one stays.
pub(crate) async fn reload(state: &AppState, school: register::people::SchoolId) -> Result<(), ConsoleError> {
    let filter = &state.inner.filter;
    match state.store().build_snapshot(school, filter.seed, false).await {
        Ok((snapshot, _)) => {
            filter.engine.replace(snapshot);
            Ok(())
        }
        Err(e) => Err(ConsoleError::Internal(format!(
            "the filter could not be rebuilt; the previous one stays in force: {e}"
        ))),
    }
}
