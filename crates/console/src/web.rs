//! What every request goes through: cookies, the CSRF check, security headers, and
//! finding out who is signed in.

use std::net::SocketAddr;

use axum::body::{Body, to_bytes};
use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::header::{COOKIE, HOST, ORIGIN, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use rand::rngs::OsRng;
use register::roles::Authority;
use sha2::{Digest, Sha256};
use store::{Account, SessionRecord, SessionStage};
use subtle::ConstantTimeEq;

use crate::error::ConsoleError;
use crate::{AppState, now};

pub(crate) const SESSION_COOKIE: &str = "sg_session";
pub(crate) const CSRF_COOKIE: &str = "sg_csrf";
const CSRF_FIELD: &str = "csrf";

/// 32 random bytes, URL-safe: session tokens, CSRF tokens, setup links.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// How a token is stored: SHA-256, hex.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

pub(crate) fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// A `Set-Cookie` value: HttpOnly and SameSite=Strict always, Secure over TLS.
pub(crate) fn set_cookie(name: &str, value: &str, secure: bool, max_age: Option<i64>) -> HeaderValue {
    let mut s = format!("{name}={value}; Path=/; HttpOnly; SameSite=Strict");
    if secure {
        s.push_str("; Secure");
    }
    if let Some(age) = max_age {
        s.push_str(&format!("; Max-Age={age}"));
    }
    HeaderValue::from_str(&s).unwrap_or_else(|_| HeaderValue::from_static("invalid=1"))
}

/// The CSRF token of this browser, for forms to carry.
#[derive(Debug, Clone)]
pub(crate) struct CsrfToken(pub String);

impl<S: Send + Sync> FromRequestParts<S> for CsrfToken {
    type Rejection = ConsoleError;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<CsrfToken>()
            .cloned()
            .ok_or(ConsoleError::Internal("csrf layer missing".into()))
    }
}

/// Every browser gets a random token in an HttpOnly cookie; every form carries it back in a
/// hidden field, and a POST whose field does not match the cookie is refused (the double-
/// submit pattern). A browser's `Origin` and `Sec-Fetch-Site` headers, when present, must
/// also say the request came from the console itself.
pub(crate) async fn csrf(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let existing = cookie(request.headers(), CSRF_COOKIE)
        .filter(|t| t.len() >= 32)
        .map(str::to_owned);
    let token = existing.clone().unwrap_or_else(random_token);
    let secure = state.config().secure_cookies();
    let unsafe_method = !matches!(*request.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    let mut request = request;
    if unsafe_method {
        if !same_origin(request.headers()) {
            return ConsoleError::Csrf.into_response();
        }
        let Some(cookie_token) = existing.as_deref() else {
            return ConsoleError::Csrf.into_response();
        };
        // A file upload is not read here (it may be large): its form carries the token in
        // its address instead (`action="…?csrf=…"`).
        let multipart = request
            .headers()
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("multipart/form-data"));
        if multipart {
            let sent = request.uri().query().and_then(|q| form_field(q.as_bytes(), CSRF_FIELD));
            if !sent.is_some_and(|s| bool::from(s.as_bytes().ct_eq(cookie_token.as_bytes()))) {
                tracing::warn!(path = %request.uri().path(), "upload refused: CSRF token missing or wrong");
                return ConsoleError::Csrf.into_response();
            }
            request.extensions_mut().insert(CsrfToken(token.clone()));
            return next.run(request).await;
        }
        let (parts, body) = request.into_parts();
        let Ok(bytes) = to_bytes(body, 256 * 1024).await else {
            return ConsoleError::Csrf.into_response();
        };
        let sent = form_field(&bytes, CSRF_FIELD);
        let ok = sent.is_some_and(|s| bool::from(s.as_bytes().ct_eq(cookie_token.as_bytes())));
        if !ok {
            tracing::warn!(path = %parts.uri.path(), "form refused: CSRF token missing or wrong");
            return ConsoleError::Csrf.into_response();
        }
        request = Request::from_parts(parts, Body::from(bytes));
    }
    request.extensions_mut().insert(CsrfToken(token.clone()));
    let mut response = next.run(request).await;
    if existing.is_none() {
        response
            .headers_mut()
            .append(SET_COOKIE, set_cookie(CSRF_COOKIE, &token, secure, None));
    }
    response
}

fn same_origin(headers: &HeaderMap) -> bool {
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok())
        && !matches!(site, "same-origin" | "none")
    {
        return false;
    }
    match (
        headers.get(ORIGIN).and_then(|v| v.to_str().ok()),
        headers.get(HOST).and_then(|v| v.to_str().ok()),
    ) {
        (Some("null"), _) => false,
        (Some(origin), Some(host)) => origin.split_once("://").map(|(_, h)| h) == Some(host),
        (Some(_), None) => false,
        (None, _) => true,
    }
}

fn form_field(body: &[u8], name: &str) -> Option<String> {
    body.split(|&b| b == b'&').find_map(|pair| {
        let mut it = pair.splitn(2, |&b| b == b'=');
        let key = it.next()?;
        (key == name.as_bytes()).then(|| {
            let raw = it.next().unwrap_or_default();
            let spaced: Vec<u8> = raw.iter().map(|&b| if b == b'+' { b' ' } else { b }).collect();
            percent_encoding::percent_decode(&spaced)
                .decode_utf8_lossy()
                .into_owned()
        })
    })
}

/// Headers that keep the console's pages from being framed, sniffed or cached.
pub(crate) async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let h = response.headers_mut();
    // A stricter policy set by the handler (an attachment's `sandbox`) stays.
    if !h.contains_key("content-security-policy") {
        h.insert("content-security-policy", HeaderValue::from_static("default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"));
    }
    h.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    h.insert("referrer-policy", HeaderValue::from_static("same-origin"));
    if !h.contains_key("cache-control") {
        h.insert("cache-control", HeaderValue::from_static("no-store"));
    }
    response
}

/// The client's address, for the audit log.
pub(crate) fn client_addr(parts: &Parts) -> String {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_string())
        .unwrap_or_else(|| "unknown".into())
}

/// A browser's sign-in session at any stage, with its account.
#[derive(Debug, Clone)]
pub(crate) struct AnySession {
    pub session: SessionRecord,
    pub account: Account,
    pub origin: String,
}

/// A fully signed-in person.
#[derive(Debug, Clone)]
pub(crate) struct CurrentUser {
    pub account: Account,
    pub authority: Authority,
}

impl CurrentUser {
    /// Who is acting, for the audit log: their account, from `addr`.
    pub(crate) fn actor(&self, addr: std::net::SocketAddr) -> store::Actor {
        store::Actor {
            label: format!("account:{} {}", self.account.id.0, self.account.username),
            origin: addr.ip().to_string(),
        }
    }
}

/// Where to send a browser that is not (or no longer) signed in.
fn to_sign_in(parts: &Parts, reason: &str) -> Response {
    let next = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/dashboard");
    let next: String = percent_encoding::utf8_percent_encode(next, percent_encoding::NON_ALPHANUMERIC).to_string();
    let mut response = Redirect::to(&format!("/sign-in?reason={reason}&next={next}")).into_response();
    response
        .headers_mut()
        .append(SET_COOKIE, set_cookie(SESSION_COOKIE, "", false, Some(0)));
    response
}

impl FromRequestParts<AppState> for AnySession {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let Some(token) = cookie(&parts.headers, SESSION_COOKIE).filter(|t| !t.is_empty()) else {
            return Err(to_sign_in(parts, "signed_out"));
        };
        let store = state.store();
        let internal = |e: store::StoreError| ConsoleError::from(e).into_response();
        let Some(session) = store.session(&token_hash(token)).await.map_err(internal)? else {
            return Err(to_sign_in(parts, "signed_out"));
        };
        let origin = client_addr(parts);
        let t = now();
        let config = state.config();
        let idle = t - session.last_seen_at > config.idle_timeout.as_secs() as i64;
        let expired = t - session.created_at > config.session_lifetime.as_secs() as i64;
        if idle || expired {
            store.end_session(session.id, t).await.map_err(internal)?;
            let (action, reason) = if idle {
                ("session.idle_lock", "idle")
            } else {
                ("session.expired", "expired")
            };
            let actor = store::Actor {
                label: format!("account:{}", session.account.0),
                origin: origin.clone(),
            };
            let details = serde_json::json!({"session": session.id, "last_seen_at": session.last_seen_at}).to_string();
            store
                .audit(
                    session.school,
                    actor.entry(t, action, &format!("account:{}", session.account.0), details),
                )
                .await
                .map_err(internal)?;
            return Err(to_sign_in(parts, reason));
        }
        let account = store.account(session.account).await.map_err(internal)?;
        if account.refusal(t).is_some() {
            store.end_session(session.id, t).await.map_err(internal)?;
            return Err(to_sign_in(parts, "signed_out"));
        }
        store.touch_session(session.id, t).await.map_err(internal)?;
        Ok(AnySession {
            session,
            account,
            origin,
        })
    }
}

impl FromRequestParts<AppState> for CurrentUser {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let s = AnySession::from_request_parts(parts, state).await?;
        if let Some(page) = stage_page(s.session.stage) {
            return Err(Redirect::to(page).into_response());
        }
        let authority = s.account.authority();
        Ok(CurrentUser {
            account: s.account,
            authority,
        })
    }
}

/// The page a session at this stage must visit before any other.
pub(crate) fn stage_page(stage: SessionStage) -> Option<&'static str> {
    match stage {
        SessionStage::SecondFactor => Some("/sign-in/second-factor"),
        SessionStage::Enrol => Some("/sign-in/enrol"),
        SessionStage::ChangePassword => Some("/sign-in/new-password"),
        SessionStage::Ready => None,
    }
}

/// A `next` link from a query string, if it stays inside the console.
pub(crate) fn local_path(next: Option<&str>) -> Option<String> {
    let n = next?;
    // Browsers drop tabs and newlines from URLs and treat `\` as `/`, so any of them could
    // turn `/x` into `//evil.example`: refuse them outright, and any encoded slash too.
    let lower = n.to_ascii_lowercase();
    let safe = n.starts_with('/')
        && !n.starts_with("//")
        && !n.chars().any(|c| c.is_control() || c.is_whitespace() || c == '\\')
        && !lower.contains("%2f")
        && !lower.contains("%5c")
        && !lower.contains("%09")
        && !lower.contains("%0a")
        && !lower.contains("%0d")
        && !n.starts_with("/sign-");
    safe.then(|| n.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_fields_are_read_percent_decoded() {
        assert_eq!(form_field(b"a=1&csrf=ab%2Bc+d&b=2", "csrf").as_deref(), Some("ab+c d"));
        assert_eq!(form_field(b"csrfx=1", "csrf"), None);
        assert_eq!(form_field(b"", "csrf"), None);
    }

    #[test]
    fn cross_site_requests_are_not_same_origin() {
        let mut h = HeaderMap::new();
        h.insert(HOST, HeaderValue::from_static("127.0.0.1:8080"));
        assert!(
            same_origin(&h),
            "no Origin: a non-browser client, checked by the token alone"
        );
        h.insert(ORIGIN, HeaderValue::from_static("http://127.0.0.1:8080"));
        assert!(same_origin(&h));
        h.insert(ORIGIN, HeaderValue::from_static("http://evil.example"));
        assert!(!same_origin(&h));
        h.insert(ORIGIN, HeaderValue::from_static("http://127.0.0.1:8080"));
        h.insert("sec-fetch-site", HeaderValue::from_static("cross-site"));
        assert!(!same_origin(&h));
    }

    #[test]
    fn next_links_stay_inside_the_console() {
        assert_eq!(local_path(Some("/people?q=a")).as_deref(), Some("/people?q=a"));
        for bad in [
            "https://evil.example/",
            "//evil.example",
            "/\\evil",
            "people",
            "/sign-out",
            "/\t/evil.example",
            "/\n/evil.example",
            "/%2F/evil.example",
            "/%09/evil.example",
        ] {
            assert_eq!(local_path(Some(bad)), None, "{bad}");
        }
    }
}
