//! The block page and unblock requests (issue 5, UKSIC-F-SF-13). A blocked pupil lands on
//! `/blocked` — sent by the proxy with a signed link, or by DNS, whose blocked names point at
//! the console, through [`foreign_host`] — and can ask for the page; filter managers answer
//! at `/filtering/requests`, and the pupil sees the answer on the block page next time.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, Path, Query, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Form, http};
use events::blocklink::{self, Blocked};
use policy::{LocalTime, Verdict};
use register::roles::Permission;
use serde::Deserialize;
use store::{Answer, NewUnblockRequest, Scope};

use crate::error::ConsoleError;
use crate::pages::nav;
use crate::templates::{BlockedPage, OwnRequest, RequestRow, RequestsPage, render};
use crate::web::{CsrfToken, CurrentUser};
use crate::{AppState, now};

/// Who is at an address, as the DNS server knows it (a device, a proxy sign-in, a subnet).
pub trait WhoIs: Send + Sync + 'static {
    /// The username (if known) and the policy group of whoever uses `client`.
    fn who(&self, client: IpAddr) -> (Option<String>, String);
}

/// What the block page needs from the gateways.
#[derive(Clone)]
pub struct BlockPages {
    pub who: Arc<dyn WhoIs>,
    /// The key the proxy signs block-page links with.
    pub key: [u8; 32],
}

impl std::fmt::Debug for BlockPages {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BlockPages")
    }
}

#[derive(Debug, Deserialize, Default)]
pub(crate) struct BlockedQuery {
    #[serde(default)]
    url: String,
    #[serde(default)]
    group: String,
    #[serde(default)]
    person: String,
    #[serde(default)]
    at: String,
    #[serde(default)]
    sig: String,
    #[serde(default)]
    sent: Option<String>,
    #[serde(default)]
    why: String,
}

/// The requester: from a link the proxy signed, else from who the DNS server says is at
/// the address, else nobody known.
fn requester(state: &AppState, q: &BlockedQuery, client: IpAddr) -> (Option<String>, String) {
    if let Some(pages) = &state.inner.block_pages
        && let Ok(at) = q.at.parse::<i64>()
    {
        let b = Blocked {
            url: q.url.clone(),
            person: (!q.person.is_empty()).then(|| q.person.clone()),
            group: q.group.clone(),
            at,
        };
        if blocklink::verify(&pages.key, &b, &q.sig, now()) {
            return (b.person, b.group);
        }
    }
    match &state.inner.block_pages {
        Some(pages) => pages.who.who(client),
        None => (None, store::UNIDENTIFIED.to_owned()),
    }
}

/// `http://host/path?query` split into the host and the path (query included), if it is a
/// web address at all.
fn split_url(url: &str) -> Option<(String, String)> {
    let rest = url.strip_prefix("http://").or_else(|| url.strip_prefix("https://"))?;
    let (authority, path) = match rest.find(['/', '?']) {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let host = authority.rsplit_once('@').map(|(_, h)| h).unwrap_or(authority);
    // A port after the host (`example.org:8080`, `[::1]:8080`), but not the colons inside
    // a bracketed IPv6 address.
    let host = match host.rsplit_once(':') {
        Some((h, port)) if port.chars().all(|c| c.is_ascii_digit()) && (!h.starts_with('[') || h.ends_with(']')) => h,
        _ => host,
    };
    if host.is_empty() {
        return None;
    }
    let path = if path.starts_with('?') {
        format!("/{path}")
    } else {
        path.to_owned()
    };
    Some((host.to_ascii_lowercase(), path))
}

/// The list entry an unblock request asks for: the page without its query, or the site.
fn target_of(host: &str, path: &str) -> String {
    let path = path.split(['?', '#']).next().unwrap_or("/");
    if path == "/" || path.is_empty() {
        host.to_owned()
    } else {
        format!("{host}{}", path.trim_end_matches('/'))
    }
}

async fn block_view(
    state: &AppState,
    q: &BlockedQuery,
    client: IpAddr,
    csrf: String,
    error: Option<String>,
) -> Result<Response, ConsoleError> {
    let Some((host, path)) = split_url(&q.url) else {
        return Err(ConsoleError::BadRequest("That is not a web address."));
    };
    let (person, group) = requester(state, q, client);
    let snapshot = state.inner.filter.engine.snapshot();
    let group_id = snapshot.group(&group).or_else(|| snapshot.group(store::UNIDENTIFIED));
    let decision = group_id.map(|g| {
        snapshot.decide_for(
            &policy::Request {
                host: &host,
                path: Some(&path),
                group: g,
                at: LocalTime::uk(now()),
            },
            person.as_deref(),
        )
    });
    let blocked = decision.is_none_or(|d| d.verdict == Verdict::Block);
    let illegal = decision.is_some_and(|d| d.is_illegal());
    let reason = match &decision {
        Some(d) => snapshot.reason(d, &host),
        None => "There is no filtering policy for your group yet.".to_owned(),
    };
    let who_key = person.clone().unwrap_or_else(|| client.to_string());
    let requests = state
        .store()
        .unblock_requests_of(state.inner.school, &who_key, 5)
        .await?
        .into_iter()
        .map(|r| OwnRequest {
            target: r.target,
            outcome: match r.status.as_str() {
                "allowed" => "unblocked".into(),
                "declined" => "not unblocked".into(),
                _ => "waiting for an answer".into(),
            },
            note: match (r.status.as_str(), r.expires_at) {
                ("declined", _) => r.answer.unwrap_or_default(),
                ("allowed", Some(t)) => format!("until {}", crate::logs::show_time(t * 1000)),
                _ => String::new(),
            },
        })
        .collect();
    let page = BlockedPage {
        title: if blocked {
            "Blocked".into()
        } else {
            "Not blocked".into()
        },
        csrf,
        nav: None,
        blocked,
        url: q.url.clone(),
        category: decision
            .filter(|d| !d.is_illegal())
            .and_then(|d| d.category)
            .map(|c| c.label().to_owned())
            .unwrap_or_default(),
        reason,
        when: LocalTime::uk(now()).to_string(),
        who: person.clone().unwrap_or_default(),
        can_request: !illegal,
        sent: q.sent.is_some(),
        unsigned: group == policy::gate::UNSIGNED,
        sign_url: format!("{}/agreement", state.config().public_url),
        error,
        link_group: q.group.clone(),
        link_person: q.person.clone(),
        link_at: q.at.clone(),
        link_sig: q.sig.clone(),
        requests,
    };
    let status = if blocked { StatusCode::FORBIDDEN } else { StatusCode::OK };
    Ok((status, render(&page)?).into_response())
}

pub(crate) async fn blocked_page(
    State(state): State<AppState>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    CsrfToken(csrf): CsrfToken,
    Query(q): Query<BlockedQuery>,
) -> Result<Response, ConsoleError> {
    block_view(&state, &q, addr.ip(), csrf, None).await
}

pub(crate) async fn request_unblock(
    State(state): State<AppState>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    CsrfToken(csrf): CsrfToken,
    Form(q): Form<BlockedQuery>,
) -> Result<Response, ConsoleError> {
    let Some((host, path)) = split_url(&q.url) else {
        return Err(ConsoleError::BadRequest("That is not a web address."));
    };
    if q.why.trim().is_empty() {
        return block_view(
            &state,
            &q,
            addr.ip(),
            csrf,
            Some("Say why you need the page, so that a teacher can decide.".into()),
        )
        .await;
    }
    let (person, group) = requester(&state, &q, addr.ip());
    // Illegal content has no request form, and a hand-made request is refused too: it must
    // not reach anyone's queue with an "Allow" button beside it.
    let snapshot = state.inner.filter.engine.snapshot();
    if let Some(g) = snapshot.group(&group).or_else(|| snapshot.group(store::UNIDENTIFIED)) {
        let d = snapshot.decide(&policy::Request {
            host: &host,
            path: Some(&path),
            group: g,
            at: LocalTime::uk(now()),
        });
        if d.is_illegal() {
            return Err(ConsoleError::Forbidden("Nobody in school can unblock this page."));
        }
    }
    let request = NewUnblockRequest {
        person,
        client: addr.ip().to_string(),
        group,
        target: target_of(&host, &path),
        why: q.why.clone(),
    };
    match state
        .store()
        .create_unblock_request(state.inner.school, &request, now())
        .await
    {
        Ok(_) => {}
        Err(store::StoreError::Conflict(why)) => return block_view(&state, &q, addr.ip(), csrf, Some(why)).await,
        Err(e) => return Err(e.into()),
    }
    let back = form_urlencoded::Serializer::new(String::new())
        .append_pair("url", &q.url)
        .append_pair("group", &q.group)
        .append_pair("person", &q.person)
        .append_pair("at", &q.at)
        .append_pair("sig", &q.sig)
        .append_pair("sent", "1")
        .finish();
    Ok(Redirect::to(&format!("/blocked?{back}")).into_response())
}

fn can_answer(user: &CurrentUser) -> Result<(), ConsoleError> {
    if user.authority.can(Permission::FilterManager) {
        Ok(())
    } else {
        Err(ConsoleError::Forbidden(
            "Only filter managers answer unblock requests (DfE filtering standard: changes are controlled).",
        ))
    }
}

fn row(r: store::UnblockRequest) -> RequestRow {
    RequestRow {
        id: r.id,
        when: crate::logs::show_time(r.created_at * 1000),
        who: r.person.clone().unwrap_or_else(|| "someone not signed in".into()),
        has_person: r.person.is_some(),
        group: r.group,
        client: r.client,
        target: r.target,
        why: r.why,
        outcome: match (r.status.as_str(), &r.scope, &r.scope_value) {
            ("allowed", Some(scope), value) => format!(
                "allowed for {}{}",
                match scope.as_str() {
                    "everyone" => "everyone".to_owned(),
                    _ => value.clone().unwrap_or_default(),
                },
                r.expires_at
                    .map(|t| format!(" until {}", crate::logs::show_time(t * 1000)))
                    .unwrap_or_default()
            ),
            ("declined", _, _) => format!("declined: {}", r.answer.unwrap_or_default()),
            (s, _, _) => s.to_owned(),
        },
        decided_by: r.decided_by.unwrap_or_default(),
    }
}

async fn queue_view(
    state: &AppState,
    user: &CurrentUser,
    csrf: String,
    notice: Option<String>,
    errors: Vec<String>,
) -> Result<RequestsPage, ConsoleError> {
    let school = user.account.school;
    let pending = state.store().unblock_requests(school, Some("pending"), 200).await?;
    let answered = state
        .store()
        .unblock_requests(school, None, 50)
        .await?
        .into_iter()
        .filter(|r| r.status != "pending")
        .map(row)
        .collect();
    Ok(RequestsPage {
        title: "Unblock requests".into(),
        csrf,
        nav: Some(nav(state, user).await?),
        notice,
        errors,
        pending: pending.into_iter().map(row).collect(),
        answered,
    })
}

#[derive(Debug, Deserialize, Default)]
pub(crate) struct QueueQuery {
    done: Option<String>,
}

pub(crate) async fn requests_page(
    State(state): State<AppState>,
    user: CurrentUser,
    CsrfToken(csrf): CsrfToken,
    Query(q): Query<QueueQuery>,
) -> Result<Response, ConsoleError> {
    can_answer(&user)?;
    let notice = q.done.map(|d| format!("Answered: {d}."));
    Ok(render(&queue_view(&state, &user, csrf, notice, vec![]).await?)?.into_response())
}

#[derive(Debug, Deserialize, Default)]
pub(crate) struct AnswerForm {
    #[serde(default)]
    action: String,
    #[serde(default)]
    entry: String,
    #[serde(default)]
    scope: String,
    #[serde(default)]
    expires: String,
    #[serde(default)]
    reason: String,
}

pub(crate) async fn answer_request(
    State(state): State<AppState>,
    user: CurrentUser,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    CsrfToken(csrf): CsrfToken,
    Path(id): Path<i64>,
    Form(form): Form<AnswerForm>,
) -> Result<Response, ConsoleError> {
    can_answer(&user)?;
    let school = user.account.school;
    let store = state.store();
    let request = store.unblock_request(school, id).await?;
    let actor = user.actor(addr);
    let t = now();
    let mut errors = Vec::new();
    let answer = if form.action == "decline" {
        if form.reason.trim().is_empty() {
            errors.push("Give a reason for declining: the person who asked will see it.".to_owned());
        }
        Answer::Decline {
            reason: form.reason.trim().to_owned(),
        }
    } else {
        let entry = form.entry.trim().to_owned();
        match policy::rules::ListEntry::parse(&entry) {
            Err(e) => errors.push(format!("{entry:?}: {e}")),
            Ok(parsed) => {
                let conflicts = state.inner.filter.engine.snapshot().illegal_conflicts(&[parsed]);
                if !conflicts.is_empty() {
                    let details = serde_json::json!({"entry": entry, "request": id}).to_string();
                    store
                        .audit(
                            school,
                            actor.entry(t, "unblock.allow.refused", &format!("unblock_request:{id}"), details),
                        )
                        .await?;
                    errors.push(format!(
                        "{} would allow illegal content, which nobody can allow. The attempt has been recorded.",
                        conflicts.join(", ")
                    ));
                }
            }
        }
        let scope = match (form.scope.as_str(), &request.person) {
            ("person", Some(p)) => Scope::Person(p.clone()),
            ("person", None) => {
                errors.push("Nobody was signed in when this was asked: allow it for a group or everyone.".into());
                Scope::Everyone
            }
            ("everyone", _) => Scope::Everyone,
            _ => {
                // The group whose policy actually applied: a group with no policy of its own
                // was given the unidentified one, and that is where the exception belongs.
                let snapshot = state.inner.filter.engine.snapshot();
                if snapshot.group(&request.group).is_some() {
                    Scope::Group(request.group.clone())
                } else {
                    Scope::Group(store::UNIDENTIFIED.to_owned())
                }
            }
        };
        let expires_at = match form.expires.as_str() {
            "1h" => Some(t + 3600),
            "1d" => Some(t + 86_400),
            "7d" => Some(t + 7 * 86_400),
            "30d" => Some(t + 30 * 86_400),
            _ => None,
        };
        Answer::Allow {
            scope,
            entry,
            expires_at,
        }
    };
    if !errors.is_empty() {
        let page = queue_view(&state, &user, csrf, None, errors).await?;
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response());
    }
    match store.answer_unblock_request(school, id, &answer, &actor, t).await {
        Ok(()) => {}
        Err(store::StoreError::Conflict(why) | store::StoreError::Invalid(why)) => {
            let page = queue_view(&state, &user, csrf, None, vec![why]).await?;
            return Ok((StatusCode::CONFLICT, render(&page)?).into_response());
        }
        Err(e) => return Err(e.into()),
    }
    if matches!(answer, Answer::Allow { .. }) {
        // In force at once, not at the next reload check.
        crate::filtering::reload(&state, school).await?;
    }
    let done = form_urlencoded::byte_serialize(request.target.as_bytes()).collect::<String>();
    Ok(Redirect::to(&format!("/filtering/requests?done={done}")).into_response())
}

/// Requests for names that are not the console's own: a DNS block answered with the
/// console's address brings the browser here asking for the blocked site. They are sent to
/// the block page for that address instead of being served as console pages.
pub(crate) async fn foreign_host(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    // The PAC file is asked for under any name (WPAD looks for `wpad.<domain>`): a block
    // page instead would leave browsers going direct.
    let pac = matches!(request.uri().path(), "/proxy.pac" | "/wpad.dat");
    if pac || is_ours(&host, &state.config().public_url) {
        return next.run(request).await;
    }
    let name = host.rsplit_once(':').map(|(h, _)| h).unwrap_or(&host);
    let path = request.uri().path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let url = format!("http://{name}{path}");
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("url", &url)
        .finish();
    let location = format!("{}/blocked?{query}", state.config().public_url.trim_end_matches('/'));
    match http::HeaderValue::from_str(&location) {
        Ok(v) => (StatusCode::FOUND, [(header::LOCATION, v)]).into_response(),
        Err(_) => StatusCode::BAD_REQUEST.into_response(),
    }
}

/// Whether a Host header names the console: its public host, an address, or localhost.
/// No Host at all (HTTP/1.0) is treated as ours.
fn is_ours(host: &str, public_url: &str) -> bool {
    if host.is_empty() {
        return true;
    }
    let bare = |h: &str| -> String {
        let h = h.trim().to_ascii_lowercase();
        if h.starts_with('[') {
            return h
                .split(']')
                .next()
                .unwrap_or_default()
                .trim_start_matches('[')
                .to_owned();
        }
        h.rsplit_once(':').map(|(h, _)| h.to_owned()).unwrap_or(h)
    };
    let name = bare(host);
    let public = bare(
        public_url
            .split("://")
            .nth(1)
            .unwrap_or(public_url)
            .split('/')
            .next()
            .unwrap_or_default(),
    );
    name == public || name == "localhost" || name.parse::<IpAddr>().is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_split_into_host_and_path_and_targets_drop_the_query() {
        assert_eq!(
            split_url("http://Games.Example:8080/play/level?x=1"),
            Some(("games.example".into(), "/play/level?x=1".into()))
        );
        assert_eq!(
            split_url("https://user@site.example"),
            Some(("site.example".into(), "/".into()))
        );
        assert_eq!(
            split_url("http://site.example?q=1"),
            Some(("site.example".into(), "/?q=1".into()))
        );
        assert_eq!(split_url("http://[::1]:8080/x"), Some(("[::1]".into(), "/x".into())));
        assert_eq!(split_url("http://[::1]/x"), Some(("[::1]".into(), "/x".into())));
        assert_eq!(split_url("javascript:alert(1)"), None);
        assert_eq!(split_url("http:///x"), None);
        assert_eq!(
            target_of("games.example", "/play/level/?x=1"),
            "games.example/play/level"
        );
        assert_eq!(target_of("games.example", "/?x=1"), "games.example");
    }

    #[test]
    fn the_consoles_own_names_are_recognised() {
        let public = "https://console.school.example:8443";
        for ours in [
            "console.school.example:8443",
            "CONSOLE.school.example",
            "10.0.0.5:8080",
            "[::1]:8080",
            "localhost",
            "",
        ] {
            assert!(is_ours(ours, public), "{ours}");
        }
        for theirs in [
            "games.example",
            "games.example:80",
            "console.school.example.evil.example",
        ] {
            assert!(!is_ours(theirs, public), "{theirs}");
        }
    }
}
