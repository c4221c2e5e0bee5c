//! Signing in and out: password, second factor, first-sign-in password change, and the
//! one-time setup link that creates a school's first administrator.
//!
//! A sign-in moves a session through stages (`store::SessionStage`): password accepted →
//! second factor (or setting one up) → new password if the account must choose one →
//! ready. Only a ready session reaches any other page.

use std::net::SocketAddr;
use std::time::Duration;

use axum::Form;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::header::SET_COOKIE;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use register::password;
use register::people::{PersonKind, SchoolId};
use register::roles::{Permission, Role};
use serde::Deserialize;
use serde_json::json;
use store::{Account, Actor, NewPerson, SessionStage};
use totp_rs::{Algorithm, Secret, TOTP};

use crate::error::ConsoleError;
use crate::templates::{
    EnrolPage, NewPasswordPage, RecoveryCodesPage, SecondFactorPage, SetupForm, SetupPage, SignInPage, render,
};
use crate::web::{
    AnySession, CsrfToken, SESSION_COOKIE, cookie, local_path, random_token, set_cookie, stage_page, token_hash,
};
use crate::{AppState, now};

const NEXT_COOKIE: &str = "sg_next";
const TOTP_STEP: u64 = 30;

#[derive(Debug, Deserialize)]
pub(crate) struct SignInQuery {
    reason: Option<String>,
    next: Option<String>,
}

pub(crate) async fn sign_in_page(
    State(state): State<AppState>,
    CsrfToken(csrf): CsrfToken,
    Query(q): Query<SignInQuery>,
) -> Result<Response, ConsoleError> {
    let minutes = state.config().idle_timeout.as_secs().div_ceil(60);
    let notice = match q.reason.as_deref() {
        Some("idle") => Some(format!(
            "You were signed out after {minutes} minute{} without activity, to keep records safe. Sign in again to carry on where you were.",
            if minutes == 1 { "" } else { "s" }
        )),
        Some("expired") => Some("Your sign-in reached its time limit. Sign in again to carry on.".to_owned()),
        Some("signed_out") if q.next.is_some() => Some("Please sign in to see that page.".to_owned()),
        Some("bye") => Some("You have signed out.".to_owned()),
        Some("setup") => {
            Some("Your administrator account is ready. Sign in with the username and password you chose.".to_owned())
        }
        _ => None,
    };
    let page = sign_in_view(
        &state,
        csrf,
        String::new(),
        local_path(q.next.as_deref()).unwrap_or_default(),
        notice,
        None,
    )
    .await?;
    Ok(render(&page)?.into_response())
}

async fn sign_in_view(
    state: &AppState,
    csrf: String,
    username: String,
    next: String,
    notice: Option<String>,
    error: Option<String>,
) -> Result<SignInPage, ConsoleError> {
    let school = state.store().school(state.inner.school).await?.name;
    Ok(SignInPage {
        title: "Sign in".into(),
        csrf,
        nav: None,
        school,
        username,
        next,
        notice,
        error,
    })
}

#[derive(Debug, Deserialize)]
pub(crate) struct SignInForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    next: String,
}

pub(crate) async fn sign_in(
    State(state): State<AppState>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    CsrfToken(csrf): CsrfToken,
    Form(form): Form<SignInForm>,
) -> Result<Response, ConsoleError> {
    let store = state.store();
    let limits = &state.config().sign_in;
    let origin = addr.ip().to_string();
    let username = form.username.trim().to_owned();
    let t = now();
    let account = store.account_by_username(&username).await?;
    let school = account.as_ref().map(|a| a.school).unwrap_or(state.inner.school);
    let actor = Actor {
        label: format!("sign-in:{username}"),
        origin: origin.clone(),
    };
    let next = local_path(Some(&form.next)).unwrap_or_default();

    // The attempt counts as a failure from the moment it arrives, and is forgiven only when
    // the password turns out right: a burst of simultaneous guesses cannot all slip in under
    // the limit before any of them is recorded.
    store.record_sign_in_failure(&username, &origin, t).await?;
    let (by_user, by_origin) = store
        .sign_in_failures(&username, &origin, t - limits.window.as_secs() as i64)
        .await?;
    let max = i64::from(limits.max_failures);
    if by_user > max || by_origin > max * 5 {
        let details =
            json!({"username": username, "failures_in_window": by_user, "from_address": by_origin}).to_string();
        store
            .audit(
                school,
                actor.entry(t, "sign_in.locked", &target(&account, &username), details),
            )
            .await?;
        let minutes = limits.window.as_secs().div_ceil(60);
        let error = format!(
            "Too many failed attempts. Sign-in for this account is paused for up to {minutes} minutes; try again then, or ask your schoolgate administrator."
        );
        let page = sign_in_view(&state, csrf, username, next, None, Some(error)).await?;
        return Ok((StatusCode::TOO_MANY_REQUESTS, render(&page)?).into_response());
    }
    if by_user > i64::from(limits.slow_after) {
        // Each failure past the first few costs the guesser more time (DFE-CS-04).
        let steps = (by_user - i64::from(limits.slow_after)) as u32;
        tokio::time::sleep(limits.slow_step.saturating_mul(steps).min(Duration::from_secs(5))).await;
    }

    let stored = account
        .as_ref()
        .map(|a| a.password_hash.clone())
        .unwrap_or_else(|| password::decoy_hash().to_owned());
    let attempt = form.password.clone();
    let matches = tokio::task::spawn_blocking(move || password::verify(&attempt, &stored))
        .await
        .map_err(|e| ConsoleError::Internal(e.to_string()))?;
    let refusal = match &account {
        None => Some("unknown username"),
        Some(_) if !matches => Some("wrong password"),
        Some(a) => a.refusal(t),
    };
    let (Some(account), None) = (account.clone(), refusal) else {
        let details = json!({"username": username, "reason": refusal}).to_string();
        store
            .audit(
                school,
                actor.entry(t, "sign_in.failed", &target(&account, &username), details),
            )
            .await?;
        let page = sign_in_view(
            &state,
            csrf,
            username,
            next,
            None,
            Some("The username or password is not right.".into()),
        )
        .await?;
        return Ok((StatusCode::UNAUTHORIZED, render(&page)?).into_response());
    };

    store.clear_sign_in_failures(&username).await?;
    let stage = first_stage(&state, &account);
    let token = random_token();
    let session = store
        .create_session(&account, &token_hash(&token), stage, &origin, t)
        .await?;
    let actor = account_actor(&account, &origin);
    let details = json!({"session": session, "next_stage": stage.as_str()}).to_string();
    store
        .audit(
            account.school,
            actor.entry(t, "sign_in", &format!("account:{}", account.id.0), details),
        )
        .await?;

    let secure = state.config().secure_cookies();
    let destination = stage_page(stage).map(str::to_owned).unwrap_or_else(|| {
        if next.is_empty() {
            "/dashboard".into()
        } else {
            next.clone()
        }
    });
    let mut response = Redirect::to(&destination).into_response();
    response
        .headers_mut()
        .append(SET_COOKIE, set_cookie(SESSION_COOKIE, &token, secure, None));
    // A fresh CSRF token for the signed-in browser, so that one seen before sign-in is useless.
    response.headers_mut().append(
        SET_COOKIE,
        set_cookie(crate::web::CSRF_COOKIE, &random_token(), secure, None),
    );
    if stage != SessionStage::Ready && !next.is_empty() {
        response
            .headers_mut()
            .append(SET_COOKIE, set_cookie(NEXT_COOKIE, &percent(&next), secure, Some(3600)));
    }
    Ok(response)
}

fn target(account: &Option<Account>, username: &str) -> String {
    match account {
        Some(a) => format!("account:{}", a.id.0),
        None => format!("username:{username}"),
    }
}

fn account_actor(account: &Account, origin: &str) -> Actor {
    Actor {
        label: format!("account:{} {}", account.id.0, account.username),
        origin: origin.to_owned(),
    }
}

fn percent(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// The stage a session starts in once the password is accepted.
fn first_stage(state: &AppState, account: &Account) -> SessionStage {
    if account.totp_secret.is_some() {
        SessionStage::SecondFactor
    } else if state.config().second_factor.requires(&account.authority()) {
        SessionStage::Enrol
    } else {
        after_second_factor(account)
    }
}

fn after_second_factor(account: &Account) -> SessionStage {
    if account.must_change_password {
        SessionStage::ChangePassword
    } else {
        SessionStage::Ready
    }
}

/// Where a session goes after finishing a stage: the next stage's page, or the page the
/// person first asked for.
fn continue_to(stage: SessionStage, headers: &HeaderMap) -> String {
    stage_page(stage).map(str::to_owned).unwrap_or_else(|| {
        cookie(headers, NEXT_COOKIE)
            .map(|v| percent_encoding::percent_decode_str(v).decode_utf8_lossy().into_owned())
            .and_then(|v| local_path(Some(&v)))
            .unwrap_or_else(|| "/dashboard".into())
    })
}

fn redirect_clearing_next(to: &str) -> Response {
    let mut r = Redirect::to(to).into_response();
    r.headers_mut()
        .append(SET_COOKIE, set_cookie(NEXT_COOKIE, "", false, Some(0)));
    r
}

fn wrong_stage(s: &AnySession, want: SessionStage) -> Option<Response> {
    (s.session.stage != want).then(|| Redirect::to(stage_page(s.session.stage).unwrap_or("/dashboard")).into_response())
}

// --- second factor -------------------------------------------------------------------

pub(crate) async fn second_factor_page(s: AnySession, CsrfToken(csrf): CsrfToken) -> Result<Response, ConsoleError> {
    if let Some(r) = wrong_stage(&s, SessionStage::SecondFactor) {
        return Ok(r);
    }
    Ok(render(&SecondFactorPage {
        title: "Security code".into(),
        csrf,
        nav: None,
        error: None,
    })?
    .into_response())
}

#[derive(Debug, Deserialize)]
pub(crate) struct CodeForm {
    #[serde(default)]
    code: String,
    #[serde(default)]
    secret: String,
}

fn totp_for(secret_b32: &str, username: &str) -> Option<TOTP> {
    let bytes = Secret::Encoded(secret_b32.to_owned()).to_bytes().ok()?;
    TOTP::new(
        Algorithm::SHA1,
        6,
        1,
        TOTP_STEP,
        bytes,
        Some("schoolgate".into()),
        username.replace(':', ""),
    )
    .ok()
}

/// The time step a code belongs to, allowing one step of clock drift either way.
fn matching_step(totp: &TOTP, code: &str, t: i64) -> Option<i64> {
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let now_step = t.max(0) as u64 / TOTP_STEP;
    [now_step.saturating_sub(1), now_step, now_step + 1]
        .into_iter()
        .find(|&step| totp.generate(step * TOTP_STEP) == code)
        .map(|s| s as i64)
}

pub(crate) async fn second_factor(
    State(state): State<AppState>,
    headers: HeaderMap,
    s: AnySession,
    CsrfToken(csrf): CsrfToken,
    Form(form): Form<CodeForm>,
) -> Result<Response, ConsoleError> {
    if let Some(r) = wrong_stage(&s, SessionStage::SecondFactor) {
        return Ok(r);
    }
    let store = state.store();
    let t = now();
    let account = &s.account;
    let actor = account_actor(account, &s.origin);
    let limits = &state.config().sign_in;
    // Second-factor failures are counted apart from password failures, so that signing in
    // again with the right password does not wipe them: otherwise someone holding the
    // password could guess codes for ever. Like passwords, an attempt counts from the moment
    // it arrives and is forgiven only when it succeeds.
    let key = format!("second-factor:{}", account.username);
    store.record_sign_in_failure(&key, &s.origin, t).await?;
    let (failures, _) = store
        .sign_in_failures(&key, &s.origin, t - limits.window.as_secs() as i64)
        .await?;
    if failures > i64::from(limits.max_failures) {
        store.end_session(s.session.id, t).await?;
        store
            .audit(
                account.school,
                actor.entry(t, "sign_in.locked", &format!("account:{}", account.id.0), "{}".into()),
            )
            .await?;
        return Ok(Redirect::to("/sign-in?reason=signed_out").into_response());
    }
    let by_code = match account
        .totp_secret
        .as_deref()
        .and_then(|secret| totp_for(secret, &account.username))
    {
        Some(totp) => match matching_step(&totp, &form.code, t) {
            Some(step) => store.claim_totp_step(account.id, step).await?,
            None => false,
        },
        None => false,
    };
    let ok = by_code
        || store
            .use_recovery_code(account.id, &recovery_hash(&form.code), t)
            .await?;
    if !ok {
        store
            .audit(
                account.school,
                actor.entry(
                    t,
                    "sign_in.second_factor_failed",
                    &format!("account:{}", account.id.0),
                    "{}".into(),
                ),
            )
            .await?;
        let page = SecondFactorPage {
            title: "Security code".into(),
            csrf,
            nav: None,
            error: Some(
                "That code is not right, or has already been used. Wait for the next code and try again.".into(),
            ),
        };
        return Ok((StatusCode::UNAUTHORIZED, render(&page)?).into_response());
    }
    store.clear_sign_in_failures(&key).await?;
    let how = if by_code { "code" } else { "recovery_code" };
    store
        .audit(
            account.school,
            actor.entry(
                t,
                "sign_in.second_factor",
                &format!("account:{}", account.id.0),
                json!({"by": how}).to_string(),
            ),
        )
        .await?;
    let stage = after_second_factor(account);
    store.set_session_stage(s.session.id, stage, t).await?;
    Ok(redirect_clearing_next(&continue_to(stage, &headers)))
}

fn recovery_hash(code: &str) -> String {
    let normal: String = code
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .flat_map(|c| c.to_lowercase())
        .collect();
    token_hash(&normal)
}

fn new_recovery_codes() -> Vec<String> {
    (0..10)
        .map(|_| {
            let p = password::generate();
            // Two groups of five from a generated password: 50 bits, easy to type.
            p.split('-').take(2).collect::<Vec<_>>().join("-")
        })
        .collect()
}

pub(crate) async fn enrol_page(s: AnySession, CsrfToken(csrf): CsrfToken) -> Result<Response, ConsoleError> {
    if let Some(r) = wrong_stage(&s, SessionStage::Enrol) {
        return Ok(r);
    }
    let secret = Secret::generate_secret().to_encoded().to_string();
    Ok(render(&enrol_view(csrf, &s.account, secret, None)?)?.into_response())
}

fn enrol_view(
    csrf: String,
    account: &Account,
    secret: String,
    error: Option<String>,
) -> Result<EnrolPage, ConsoleError> {
    let totp =
        totp_for(&secret, &account.username).ok_or(ConsoleError::Internal("bad generated TOTP secret".into()))?;
    let qr = qrcode::QrCode::new(totp.get_url().as_bytes()).map_err(|e| ConsoleError::Internal(e.to_string()))?;
    let qr_svg = qr
        .render::<qrcode::render::svg::Color>()
        .min_dimensions(200, 200)
        .build();
    Ok(EnrolPage {
        title: "Set up security codes".into(),
        csrf,
        nav: None,
        secret,
        qr_svg,
        error,
    })
}

pub(crate) async fn enrol(
    State(state): State<AppState>,
    headers: HeaderMap,
    s: AnySession,
    CsrfToken(csrf): CsrfToken,
    Form(form): Form<CodeForm>,
) -> Result<Response, ConsoleError> {
    if let Some(r) = wrong_stage(&s, SessionStage::Enrol) {
        return Ok(r);
    }
    let t = now();
    let step = totp_for(&form.secret, &s.account.username).and_then(|totp| matching_step(&totp, &form.code, t));
    let Some(step) = step else {
        let error = Some(
            "That code does not match. Check the app shows schoolgate, wait for a new code, and try again.".into(),
        );
        let secret = if totp_for(&form.secret, &s.account.username).is_some() {
            form.secret
        } else {
            Secret::generate_secret().to_encoded().to_string()
        };
        return Ok((
            StatusCode::UNPROCESSABLE_ENTITY,
            render(&enrol_view(csrf, &s.account, secret, error)?)?,
        )
            .into_response());
    };
    let codes = new_recovery_codes();
    let hashes: Vec<String> = codes.iter().map(|c| recovery_hash(c)).collect();
    let actor = account_actor(&s.account, &s.origin);
    state
        .store()
        .enrol_second_factor(&s.account, &form.secret, step, &hashes, &actor, t)
        .await?;
    let stage = after_second_factor(&s.account);
    state.store().set_session_stage(s.session.id, stage, t).await?;
    let page = RecoveryCodesPage {
        title: "Recovery codes".into(),
        csrf,
        nav: None,
        codes,
        next: continue_to(stage, &headers),
    };
    let mut response = render(&page)?.into_response();
    response
        .headers_mut()
        .append(SET_COOKIE, set_cookie(NEXT_COOKIE, "", false, Some(0)));
    Ok(response)
}

// --- new password --------------------------------------------------------------------

pub(crate) async fn new_password_page(s: AnySession, CsrfToken(csrf): CsrfToken) -> Result<Response, ConsoleError> {
    if let Some(r) = wrong_stage(&s, SessionStage::ChangePassword) {
        return Ok(r);
    }
    Ok(render(&NewPasswordPage {
        title: "New password".into(),
        csrf,
        nav: None,
        error: None,
    })?
    .into_response())
}

#[derive(Debug, Deserialize)]
pub(crate) struct NewPasswordForm {
    #[serde(default)]
    password: String,
    #[serde(default)]
    confirm: String,
}

pub(crate) async fn new_password(
    State(state): State<AppState>,
    headers: HeaderMap,
    s: AnySession,
    CsrfToken(csrf): CsrfToken,
    Form(form): Form<NewPasswordForm>,
) -> Result<Response, ConsoleError> {
    if let Some(r) = wrong_stage(&s, SessionStage::ChangePassword) {
        return Ok(r);
    }
    let school = state.store().school(s.account.school).await?.name;
    let context = [
        s.account.username.as_str(),
        s.account.given_name.as_str(),
        s.account.family_name.as_str(),
        school.as_str(),
        "schoolgate",
    ];
    let problem = if form.password != form.confirm {
        Some("The two passwords are different.".to_owned())
    } else if password::verify(&form.password, &s.account.password_hash) {
        Some("Choose a password different from the one you were given.".to_owned())
    } else {
        password::check_strength(&form.password, &context)
            .err()
            .map(|e| capitalise(&e.to_string()))
    };
    if let Some(error) = problem {
        let page = NewPasswordPage {
            title: "New password".into(),
            csrf,
            nav: None,
            error: Some(error),
        };
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response());
    }
    let t = now();
    let pw = form.password.clone();
    let hash = tokio::task::spawn_blocking(move || password::hash(&pw))
        .await
        .map_err(|e| ConsoleError::Internal(e.to_string()))?;
    state
        .store()
        .set_password(&s.account, &hash, false, &account_actor(&s.account, &s.origin), t)
        .await?;
    state.store().end_other_sessions(s.account.id, s.session.id, t).await?;
    state
        .store()
        .set_session_stage(s.session.id, SessionStage::Ready, t)
        .await?;
    Ok(redirect_clearing_next(&continue_to(SessionStage::Ready, &headers)))
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect::<String>() + ".",
        None => String::new(),
    }
}

// --- sign out ------------------------------------------------------------------------

pub(crate) async fn sign_out(
    State(state): State<AppState>,
    headers: HeaderMap,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
) -> Result<Response, ConsoleError> {
    let t = now();
    if let Some(token) = cookie(&headers, SESSION_COOKIE)
        && let Some(session) = state.store().session(&token_hash(token)).await?
    {
        state.store().end_session(session.id, t).await?;
        let actor = Actor {
            label: format!("account:{}", session.account.0),
            origin: addr.ip().to_string(),
        };
        state
            .store()
            .audit(
                session.school,
                actor.entry(t, "sign_out", &format!("account:{}", session.account.0), "{}".into()),
            )
            .await?;
    }
    let mut r = Redirect::to("/sign-in?reason=bye").into_response();
    r.headers_mut().append(
        SET_COOKIE,
        set_cookie(SESSION_COOKIE, "", state.config().secure_cookies(), Some(0)),
    );
    Ok(r)
}

// --- first administrator -------------------------------------------------------------

const SETUP_ROLES: [Role; 4] = [
    Role::Headteacher,
    Role::ItAdministrator,
    Role::Dsl,
    Role::OnlineSafetyLead,
];

fn setup_roles() -> Vec<(&'static str, &'static str)> {
    SETUP_ROLES.iter().map(|r| (r.as_str(), r.label())).collect()
}

async fn setup_school(state: &AppState, token: &str) -> Result<SchoolId, ConsoleError> {
    state
        .store()
        .setup_token_school(&token_hash(token), now())
        .await?
        .ok_or(ConsoleError::NotFound)
}

pub(crate) async fn setup_page(
    State(state): State<AppState>,
    Path(token): Path<String>,
    CsrfToken(csrf): CsrfToken,
) -> Result<Response, ConsoleError> {
    let school = setup_school(&state, &token).await?;
    let school = state.store().school(school).await?.name;
    let page = SetupPage {
        title: "Set up".into(),
        csrf,
        nav: None,
        school,
        form: SetupForm::default(),
        errors: vec![],
        roles: setup_roles(),
    };
    Ok(render(&page)?.into_response())
}

pub(crate) async fn setup(
    State(state): State<AppState>,
    Path(token): Path<String>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    CsrfToken(csrf): CsrfToken,
    Form(mut form): Form<SetupForm>,
) -> Result<Response, ConsoleError> {
    let school_id = setup_school(&state, &token).await?;
    let school = state.store().school(school_id).await?.name;
    form.username = form.username.trim().to_lowercase();
    let mut errors = Vec::new();
    if form.given_name.trim().is_empty() || form.family_name.trim().is_empty() {
        errors.push("Enter your first and last name.".to_owned());
    }
    if !register::import::looks_like_email(form.email.trim()) {
        errors.push("Enter your school email address.".to_owned());
    }
    let role: Option<Role> = form.role.parse().ok().filter(|r| SETUP_ROLES.contains(r));
    if role.is_none() {
        errors.push("Choose your role.".to_owned());
    }
    if form.username.len() < 3
        || !form
            .username
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
    {
        errors.push("Choose a username of at least 3 letters, digits, dots, dashes or underscores.".to_owned());
    } else if state.store().account_by_username(&form.username).await?.is_some() {
        errors.push("That username is already taken.".to_owned());
    }
    if form.password != form.confirm {
        errors.push("The two passwords are different.".to_owned());
    } else {
        let context = [
            form.username.as_str(),
            form.given_name.as_str(),
            form.family_name.as_str(),
            school.as_str(),
            "schoolgate",
        ];
        if let Err(e) = password::check_strength(&form.password, &context) {
            errors.push(capitalise(&e.to_string()));
        }
    }
    if let (true, Some(role)) = (errors.is_empty(), role) {
        let t = now();
        let actor = Actor {
            label: "setup-link".into(),
            origin: addr.ip().to_string(),
        };
        let person = NewPerson {
            kind: PersonKind::Staff,
            external_id: None,
            given_name: form.given_name.trim().to_owned(),
            family_name: form.family_name.trim().to_owned(),
            year: None,
            email: Some(form.email.trim().to_owned()),
            date_of_birth: None,
            class: None,
            job_title: None,
            roles: vec![role],
            permissions: vec![
                Permission::ManagePeople,
                Permission::ManageSettings,
                Permission::ViewAudit,
            ],
            expires_at: None,
        };
        let pw = form.password.clone();
        let hash = tokio::task::spawn_blocking(move || password::hash(&pw))
            .await
            .map_err(|e| ConsoleError::Internal(e.to_string()))?;
        let created = state
            .store()
            .create_first_administrator(&token_hash(&token), &person, &form.username, &hash, &actor, t)
            .await;
        match created {
            Ok(true) => return Ok(Redirect::to("/sign-in?reason=setup").into_response()),
            Ok(false) => return Err(ConsoleError::NotFound),
            Err(store::StoreError::Conflict(why)) => errors.push(capitalise(&why)),
            Err(e) => return Err(e.into()),
        }
    }
    form.password.clear();
    form.confirm.clear();
    let page = SetupPage {
        title: "Set up".into(),
        csrf,
        nav: None,
        school,
        form,
        errors,
        roles: setup_roles(),
    };
    Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totp_codes_match_their_step_and_one_either_side_only() {
        let secret = Secret::generate_secret().to_encoded().to_string();
        let totp = totp_for(&secret, "head").expect("valid secret");
        let t = 1_790_000_000;
        let step = t / 30;
        assert_eq!(matching_step(&totp, &totp.generate(t as u64), t), Some(step));
        assert_eq!(matching_step(&totp, &totp.generate((t - 30) as u64), t), Some(step - 1));
        assert_eq!(matching_step(&totp, &totp.generate((t + 30) as u64), t), Some(step + 1));
        assert_eq!(matching_step(&totp, &totp.generate((t - 90) as u64), t), None);
        assert_eq!(matching_step(&totp, "12345", t), None);
        assert_eq!(matching_step(&totp, "abcdef", t), None);
    }

    #[test]
    fn recovery_codes_are_matched_whatever_their_case_and_spacing() {
        let codes = new_recovery_codes();
        assert_eq!(codes.len(), 10);
        let c = &codes[0];
        assert_eq!(
            recovery_hash(c),
            recovery_hash(&format!(" {} ", c.to_uppercase().replace('-', " ")))
        );
    }
}
