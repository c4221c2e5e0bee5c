//! The signed-in pages: dashboard and people.

use axum::extract::{Query, State};
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Redirect, Response};
use register::roles::Permission;
use serde::Deserialize;

use crate::AppState;
use crate::error::ConsoleError;
use crate::templates::{DashboardPage, GroupRow, Nav, PeoplePage, PersonRow, render};
use crate::web::{CsrfToken, CurrentUser};

const PAGE_SIZE: i64 = 50;

pub(crate) async fn home() -> Redirect {
    Redirect::to("/dashboard")
}

pub(crate) async fn not_found() -> ConsoleError {
    ConsoleError::NotFound
}

pub(crate) async fn stylesheet() -> Response {
    (
        [
            (CONTENT_TYPE, "text/css; charset=utf-8"),
            (axum::http::header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../static/app.css"),
    )
        .into_response()
}

pub(crate) async fn nav(state: &AppState, user: &CurrentUser) -> Result<Nav, ConsoleError> {
    Ok(Nav {
        name: user.account.full_name(),
        school: state.store().school(user.account.school).await?.name,
        people: user.authority.can(Permission::ViewPeople),
        filtering: crate::filtering::can_view(&user.authority),
        logs: crate::logs::can_view(&user.authority),
        alerts: crate::monitoring::scope_of(&user.authority).is_some(),
        record: matches!(
            user.account.kind,
            register::people::PersonKind::Staff | register::people::PersonKind::Governor
        ),
        registers: register::roles::RegisterAccess::of(user.account.kind, &user.authority).any(),
    })
}

pub(crate) async fn dashboard(
    State(state): State<AppState>,
    user: CurrentUser,
    CsrfToken(csrf): CsrfToken,
) -> Result<Response, ConsoleError> {
    let store = state.store();
    let school = store.school(user.account.school).await?.name;
    let groups: Vec<GroupRow> = store
        .groups_with_counts(user.account.school)
        .await?
        .into_iter()
        .map(|g| GroupRow {
            name: g.name,
            kind: g.kind.as_str(),
            people: g.people,
        })
        .collect();
    let total = groups.iter().map(|g| g.people).sum();
    let (incidents_open, ico_due, past_review, follow_ups) = crate::incidents::dashboard_summary(&state, &user).await?;
    let access = register::roles::RegisterAccess::of(user.account.kind, &user.authority);
    let due = if access.oversight {
        let items = crate::registers::due_items(&state, user.account.school).await?;
        let rows = crate::registers::due_rows(&items, &access);
        Some(rows)
    } else {
        None
    };
    // Everyone who has not signed this year's agreement is told so on their dashboard.
    let own_agreement = state
        .store()
        .agreement_current(
            user.account.school,
            user.account.person,
            crate::uk_today(crate::now()),
            state.config().year_start,
        )
        .await?;
    let page = DashboardPage {
        title: "Dashboard".into(),
        csrf,
        nav: Some(nav(&state, &user).await?),
        school,
        given_name: user.account.given_name.clone(),
        roles: user.authority.roles().iter().map(|r| r.label()).collect(),
        permissions: user.authority.permissions().iter().map(|p| p.label()).collect(),
        groups,
        total,
        second_factor: user.account.totp_secret.is_some(),
        recovery_codes_left: store.unused_recovery_codes(user.account.id).await?,
        alerts_waiting: match crate::monitoring::scope_of(&user.authority) {
            Some(scope) => Some(store.open_alert_count(user.account.school, scope).await?),
            None => None,
        },
        stuck_mail: if crate::monitoring::scope_of(&user.authority).is_some()
            || user.authority.can(Permission::ManageSettings)
        {
            store
                .stuck_mail(user.account.school)
                .await?
                .into_iter()
                .map(|m| {
                    let what = match m.kind.as_str() {
                        "alert" => "An alert email",
                        "digest" | "digest_head" => "The daily digest",
                        "weekly" | "weekly_head" => "The weekly summary",
                        _ => "An email",
                    };
                    (
                        format!("{what} of {}", crate::monitoring::uk_time(m.created_at)),
                        m.attempts,
                        m.last_error.unwrap_or_default(),
                    )
                })
                .collect()
        } else {
            Vec::new()
        },
        incidents_open,
        ico_due,
        past_review,
        follow_ups,
        due,
        unsigned: !own_agreement,
    };
    Ok(render(&page)?.into_response())
}

#[derive(Debug, Deserialize)]
pub(crate) struct PeopleQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    leavers: Option<String>,
    #[serde(default)]
    page: Option<i64>,
}

pub(crate) async fn people(
    State(state): State<AppState>,
    user: CurrentUser,
    CsrfToken(csrf): CsrfToken,
    Query(q): Query<PeopleQuery>,
) -> Result<Response, ConsoleError> {
    if !user.authority.can(Permission::ViewPeople) {
        return Err(ConsoleError::Forbidden(
            "Your role does not include seeing the people list.",
        ));
    }
    let leavers = q.leavers.is_some();
    let page = q.page.unwrap_or(1).clamp(1, 100_000);
    let (people, total) = state
        .store()
        .search_people(user.account.school, &q.q, leavers, PAGE_SIZE, (page - 1) * PAGE_SIZE)
        .await?;
    let pages = (total + PAGE_SIZE - 1) / PAGE_SIZE;
    let link = |p: i64| {
        let query = percent_encoding::utf8_percent_encode(&q.q, percent_encoding::NON_ALPHANUMERIC);
        format!("/people?q={query}{}&page={p}", if leavers { "&leavers=1" } else { "" })
    };
    let rows = people
        .into_iter()
        .map(|p| PersonRow {
            name: p.full_name(),
            kind: p.kind.label(),
            year: p.year.map(|y| y.to_string()).unwrap_or_default(),
            group: p.group_name.clone().unwrap_or_default(),
            class: p.class.clone().unwrap_or_default(),
            roles: p.roles.iter().map(|r| r.label()).collect::<Vec<_>>().join(", "),
            username: p.username.clone().unwrap_or_default(),
            leaver: p.status == register::people::PersonStatus::Leaver,
        })
        .collect();
    let view = PeoplePage {
        title: "People".into(),
        csrf,
        nav: Some(nav(&state, &user).await?),
        query: q.q.clone(),
        leavers,
        rows,
        total,
        page,
        pages,
        prev_link: (page > 1).then(|| link(page - 1)),
        next_link: (page < pages).then(|| link(page + 1)),
    };
    Ok(render(&view)?.into_response())
}
