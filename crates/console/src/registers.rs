//! The registers' pages: what is due, acceptable use agreements (and a person's own), photo
//! consent with "before you take photos", training, devices and assets, confiscated devices
//! and reviews, each with its CSV export.
//!
//! Who may see and change what is `register::roles::RegisterAccess`; the rules of each
//! register are in `register`, and the store keeps the history with an audit entry per
//! change. Pages here only gather, show and hand on.

use std::collections::BTreeSet;
use std::net::SocketAddr;

use askama::Template;
use axum::Form;
use axum::extract::{ConnectInfo, Multipart, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use register::agreements::{Audience, Method, Standing, YearStart};
use register::assets::{Disposal, DisposalMethod, Hardware, HardwareKind};
use register::consent::{Answer, Purpose, State as ConsentState};
use register::due::DueItem;
use register::people::{PersonId, PersonKind};
use register::reviews::{ReviewKind, Signer};
use register::roles::RegisterAccess;
use register::training::Kind;
use serde::Deserialize;
use store::{NewMail, ReviewText, StoreError};
use time::Date;

use crate::error::ConsoleError;
use crate::pages::nav;
use crate::templates::{Nav, render};
use crate::web::{CsrfToken, CurrentUser};
use crate::{AppState, now, uk_today};

/// The largest CSV file the importers take.
pub(crate) const MAX_CSV: usize = 2 * 1024 * 1024;

fn access(user: &CurrentUser) -> RegisterAccess {
    RegisterAccess::of(user.account.kind, &user.authority)
}

fn today() -> Date {
    uk_today(now())
}

fn start(state: &AppState) -> YearStart {
    state.config().year_start
}

fn deny(allowed: bool, why: &'static str) -> Result<(), ConsoleError> {
    if allowed {
        Ok(())
    } else {
        Err(ConsoleError::Forbidden(why))
    }
}

fn parse_day(text: &str) -> Option<Date> {
    register::import::parse_date(text.trim())
}

/// A store refusal in words for the person, or the error itself.
fn refusal(e: StoreError) -> Result<String, ConsoleError> {
    match e {
        StoreError::Invalid(why) | StoreError::Conflict(why) => Ok(why),
        other => Err(other.into()),
    }
}

/// Back to a page with a notice for the person, after a change.
fn back(to: &str, notice: &str) -> Response {
    back_with(to, "notice", notice)
}

/// Back to a page with a message in its query (`notice` or `error`), signed: the page shows
/// only messages schoolgate wrote, so a link from elsewhere cannot put words on it.
fn back_with(to: &str, field: &str, text: &str) -> Response {
    let sep = if to.contains('?') { '&' } else { '?' };
    let sig = message_sig(text);
    let text: String = form_urlencoded::byte_serialize(text.as_bytes()).collect();
    Redirect::to(&format!("{to}{sep}{field}={text}&sig={sig}")).into_response()
}

fn message_sig(text: &str) -> String {
    use sha2::{Digest, Sha256};
    static KEY: std::sync::OnceLock<[u8; 32]> = std::sync::OnceLock::new();
    let key = KEY.get_or_init(rand::random);
    let mut h = Sha256::new();
    h.update(key);
    h.update(text.as_bytes());
    hex::encode(&h.finalize()[..12])
}

/// The message if schoolgate signed it.
fn signed(text: Option<String>, sig: &Option<String>) -> Option<String> {
    text.filter(|t| sig.as_deref() == Some(message_sig(t).as_str()))
}

fn csv_response(name: &str, body: String) -> Response {
    (
        [
            (axum::http::header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (
                axum::http::header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        body,
    )
        .into_response()
}

async fn audit_export(state: &AppState, user: &CurrentUser, addr: SocketAddr, what: &str) -> Result<(), ConsoleError> {
    state
        .store()
        .audit(
            user.account.school,
            user.actor(addr)
                .entry(now(), "register.export", &format!("register:{what}"), "{}".into()),
        )
        .await?;
    Ok(())
}

/// What the person reads when a file is refused: that nothing changed, then every bad line.
fn not_imported(name: &str, errors: &[register::import::RowError]) -> Vec<String> {
    std::iter::once(format!("{name} was not imported: nothing was changed."))
        .chain(errors.iter().map(|e| e.to_string()))
        .collect()
}

/// Puts a reminder to one person in the outbox.
async fn queue_reminder(
    state: &AppState,
    school: register::people::SchoolId,
    to: String,
    mail: Result<notify::Email, askama::Error>,
) -> Result<(), ConsoleError> {
    let mail = mail.map_err(|e| ConsoleError::Internal(format!("reminder not written: {e}")))?;
    let m = NewMail {
        kind: "reminder".into(),
        recipients: vec![to],
        subject: mail.subject,
        text: mail.text,
        html: mail.html,
    };
    state.store().queue_mail(school, &m, now()).await?;
    Ok(())
}

/// Keeps an uploaded file as evidence with a register record (`owner`); the person's words
/// when the upload is refused.
async fn keep_file(
    state: &AppState,
    user: &CurrentUser,
    addr: SocketAddr,
    owner: &str,
    multipart: &mut Multipart,
) -> Result<Result<(), String>, ConsoleError> {
    let Some(dir) = state.config().attachments.clone() else {
        return Ok(Err("Files are not set up on this server.".into()));
    };
    let (name, bytes, mime) = match crate::incidents::read_upload(multipart).await {
        Ok(upload) => upload,
        Err(why) => return Ok(Err(why)),
    };
    let sha = crate::incidents::save_file(&dir, &bytes).await?;
    state
        .store()
        .add_register_file(
            user.account.school,
            owner,
            &sha,
            &crate::incidents::safe_name(&name),
            mime,
            bytes.len() as i64,
            &user.actor(addr),
            now(),
        )
        .await?;
    Ok(Ok(()))
}

/// Reads the `file` field of an upload as text.
async fn read_csv_upload(multipart: &mut Multipart) -> Result<(String, String), String> {
    let too_big = || format!("The file is over {} MiB.", MAX_CSV / 1024 / 1024);
    while let Some(field) = match multipart.next_field().await {
        Ok(f) => f,
        Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => return Err(too_big()),
        Err(_) => return Err("The upload did not arrive whole; try again.".into()),
    } {
        if field.name() != Some("file") {
            continue;
        }
        let name = field.file_name().unwrap_or("upload.csv").to_owned();
        let bytes = match field.bytes().await {
            Ok(b) => b,
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => return Err(too_big()),
            Err(_) => return Err("The upload did not arrive whole; try again.".into()),
        };
        if bytes.is_empty() {
            break;
        }
        if bytes.len() > MAX_CSV {
            return Err(too_big());
        }
        return String::from_utf8(bytes.to_vec())
            .map(|text| (name, text))
            .map_err(|_| "The file is not CSV text: save it from your spreadsheet as \"CSV UTF-8\".".into());
    }
    Err("Choose a CSV file to import.".into())
}

#[derive(Debug, Deserialize, Default)]
pub(crate) struct NoticeQuery {
    #[serde(default)]
    notice: Option<String>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    sig: Option<String>,
}

// ----- What is due -----

/// Everything due across the registers for the school, as of today.
pub(crate) async fn due_items(
    state: &AppState,
    school: register::people::SchoolId,
) -> Result<Vec<DueItem>, ConsoleError> {
    let facts = state.store().due_facts(school, today(), start(state)).await?;
    Ok(register::due::due(&facts, today(), start(state)))
}

#[derive(Debug, Clone)]
pub(crate) struct DueRow {
    pub register: &'static str,
    pub what: String,
    pub when: String,
    pub overdue: bool,
    /// The page where it is put right, when the viewer may open it.
    pub link: Option<String>,
}

pub(crate) fn due_rows(items: &[DueItem], access: &RegisterAccess) -> Vec<DueRow> {
    let t = today();
    items
        .iter()
        .map(|i| DueRow {
            register: i.register.label(),
            what: i.what.clone(),
            when: i.when(t),
            overdue: i.overdue(t),
            link: i.register.opens_for(access).then(|| i.link.clone()),
        })
        .collect()
}

#[derive(Template)]
#[template(path = "registers/due.html")]
struct DuePage {
    title: String,
    csrf: String,
    nav: Option<Nav>,
    rows: Vec<DueRow>,
    access: RegisterAccess,
    year: String,
}

pub(crate) async fn due_page(
    State(state): State<AppState>,
    user: CurrentUser,
    CsrfToken(csrf): CsrfToken,
) -> Result<Response, ConsoleError> {
    let a = access(&user);
    if !a.oversight {
        // Staff without oversight come here from the menu: send them to what they can use.
        deny(a.photos, "The registers are for staff and governors.")?;
        return Ok(Redirect::to("/registers/photos").into_response());
    }
    let items = due_items(&state, user.account.school).await?;
    let page = DuePage {
        title: "What is due".into(),
        csrf,
        nav: Some(nav(&state, &user).await?),
        rows: due_rows(&items, &a),
        access: a,
        year: start(&state).year_of(today()).to_string(),
    };
    Ok(render(&page)?.into_response())
}

// ----- A person's own agreement -----

#[derive(Template)]
#[template(path = "registers/own_agreement.html")]
struct OwnAgreementPage {
    title: String,
    csrf: String,
    nav: Option<Nav>,
    audience: String,
    version: u32,
    paragraphs: Vec<String>,
    standing: String,
    current: bool,
    signed_on: Option<String>,
    year: String,
    notice: Option<String>,
    error: Option<String>,
    published: bool,
}

pub(crate) async fn own_agreement(
    State(state): State<AppState>,
    user: CurrentUser,
    CsrfToken(csrf): CsrfToken,
    Query(q): Query<NoticeQuery>,
) -> Result<Response, ConsoleError> {
    let school = user.account.school;
    let person = state.store().person(school, user.account.person).await?;
    let audience = Audience::for_person(person.kind, person.year);
    let t = today();
    let version = state
        .store()
        .agreement_versions(school)
        .await?
        .into_iter()
        .filter(|v| v.audience == audience && v.published_on <= t)
        .max_by_key(|v| v.number);
    let standings = state.store().agreement_standings(school, t, start(&state)).await?;
    let mine = standings.into_iter().find(|s| s.person.id == person.id);
    let standing = mine.as_ref().map(|s| s.standing).unwrap_or(Standing::NotSigned);
    let page = OwnAgreementPage {
        title: "Acceptable use agreement".into(),
        csrf,
        nav: Some(nav(&state, &user).await?),
        audience: audience.label().into(),
        version: version.as_ref().map(|v| v.number).unwrap_or(0),
        paragraphs: version
            .as_ref()
            .map(|v| {
                v.body
                    .lines()
                    .map(str::to_owned)
                    .filter(|l| !l.trim().is_empty())
                    .collect()
            })
            .unwrap_or_default(),
        standing: standing.label().into(),
        current: standing == Standing::Current,
        signed_on: mine.and_then(|s| s.last).map(|s| s.signed_on.to_string()),
        year: start(&state).year_of(t).to_string(),
        notice: signed(q.notice, &q.sig),
        error: signed(q.error, &q.sig),
        published: version.is_some(),
    };
    Ok(render(&page)?.into_response())
}

#[derive(Debug, Deserialize)]
pub(crate) struct AgreeForm {
    #[serde(default)]
    agree: Option<String>,
}

pub(crate) async fn sign_own_agreement(
    State(state): State<AppState>,
    user: CurrentUser,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    Form(f): Form<AgreeForm>,
) -> Result<Response, ConsoleError> {
    if f.agree.is_none() {
        return Ok(back_with(
            "/agreement",
            "error",
            "Tick the box to say you have read and agree to the agreement.",
        ));
    }
    let store = state.store();
    match store
        .sign_agreement(
            user.account.school,
            user.account.person,
            today(),
            Method::Console,
            "",
            &user.actor(addr),
            now(),
        )
        .await
    {
        Ok(_) => Ok(back(
            "/agreement",
            "Thank you: you have signed. If the internet was limited for you, it opens again within a minute.",
        )),
        Err(e) => Ok(back_with("/agreement", "error", &refusal(e)?)),
    }
}

// ----- Agreements, for those who run them -----

#[derive(Debug, Clone)]
struct AudienceRow {
    key: &'static str,
    label: &'static str,
    version: u32,
    published_on: String,
    signed: usize,
    total: usize,
    selected: bool,
}

#[derive(Debug, Clone)]
struct StandingRow {
    id: i64,
    audience: &'static str,
    /// The name of whoever signed (a parent, a group's organiser) must be given.
    needs_name: bool,
    name: String,
    class: String,
    standing: &'static str,
    gated: bool,
    has_email: bool,
    can_parent_sign: bool,
}

#[derive(Template)]
#[template(path = "registers/agreements.html")]
struct AgreementsPage {
    title: String,
    csrf: String,
    nav: Option<Nav>,
    year: String,
    today: String,
    audiences: Vec<AudienceRow>,
    audience: Option<(&'static str, &'static str)>,
    body: String,
    gates: Vec<(String, bool)>,
    can_gate: bool,
    can_publish: bool,
    classes: Vec<String>,
    class: String,
    unsigned: Vec<StandingRow>,
    notice: Option<String>,
    error: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
pub(crate) struct AgreementsQuery {
    #[serde(default)]
    audience: Option<String>,
    #[serde(default)]
    class: Option<String>,
    #[serde(default)]
    notice: Option<String>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    sig: Option<String>,
}

pub(crate) async fn agreements(
    State(state): State<AppState>,
    user: CurrentUser,
    CsrfToken(csrf): CsrfToken,
    Query(q): Query<AgreementsQuery>,
) -> Result<Response, ConsoleError> {
    let a = access(&user);
    deny(
        a.agreements || a.gates || a.record_signatures,
        "Agreements are run by the school's leaders.",
    )?;
    let school = user.account.school;
    let store = state.store();
    let t = today();
    let versions = store.agreement_versions(school).await?;
    let standings = store.agreement_standings(school, t, start(&state)).await?;
    let selected: Option<Audience> = q.audience.as_deref().and_then(|s| s.parse().ok());
    let class = q.class.clone().unwrap_or_default();
    let audiences = Audience::ALL
        .into_iter()
        .map(|aud| {
            let latest = versions.iter().filter(|v| v.audience == aud).max_by_key(|v| v.number);
            let of: Vec<_> = standings.iter().filter(|s| s.audience == aud).collect();
            AudienceRow {
                key: aud.as_str(),
                label: aud.label(),
                version: latest.map(|v| v.number).unwrap_or(0),
                published_on: latest.map(|v| v.published_on.to_string()).unwrap_or_default(),
                signed: of.iter().filter(|s| s.standing.is_current()).count(),
                total: of.len(),
                selected: selected == Some(aud),
            }
        })
        .collect();
    let body = selected
        .and_then(|aud| versions.iter().filter(|v| v.audience == aud).max_by_key(|v| v.number))
        .map(|v| v.body.clone())
        .unwrap_or_default();
    let classes: BTreeSet<String> = standings.iter().filter_map(|s| s.person.class.clone()).collect();
    let unsigned = standings
        .iter()
        .filter(|s| !s.standing.is_current())
        .filter(|s| selected.is_none_or(|aud| s.audience == aud))
        .filter(|s| class.is_empty() || s.person.class.as_deref() == Some(class.as_str()))
        .map(|s| StandingRow {
            id: s.person.id.0,
            audience: s.audience.as_str(),
            needs_name: s.audience.signed_by_another(),
            name: s.person.full_name(),
            class: s.person.class.clone().unwrap_or_default(),
            standing: s.standing.label(),
            gated: s.gated,
            has_email: s.person.email.is_some(),
            can_parent_sign: s.audience.is_pupils() || s.audience == Audience::ParentsCarers,
        })
        .collect();
    let gate_on = store.agreement_gates(school).await?;
    let gates = store
        .groups_with_counts(school)
        .await?
        .into_iter()
        .map(|g| {
            let on = gate_on.iter().any(|x| x.eq_ignore_ascii_case(&g.name));
            (g.name, on)
        })
        .collect();
    let page = AgreementsPage {
        title: "Acceptable use agreements".into(),
        csrf,
        nav: Some(nav(&state, &user).await?),
        year: start(&state).year_of(t).to_string(),
        today: t.to_string(),
        audiences,
        audience: selected.map(|s| (s.as_str(), s.label())),
        body,
        gates,
        can_gate: a.gates,
        can_publish: a.agreements,
        classes: classes.into_iter().collect(),
        class,
        unsigned,
        notice: signed(q.notice, &q.sig),
        error: signed(q.error, &q.sig),
    };
    Ok(render(&page)?.into_response())
}

#[derive(Debug, Deserialize)]
pub(crate) struct PublishForm {
    audience: String,
    body: String,
    #[serde(default)]
    requires_resign: Option<String>,
    #[serde(default)]
    published_on: Option<String>,
}

pub(crate) async fn publish_agreement(
    State(state): State<AppState>,
    user: CurrentUser,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    Form(f): Form<PublishForm>,
) -> Result<Response, ConsoleError> {
    deny(
        access(&user).agreements,
        "Agreements are published by the school's leaders.",
    )?;
    let audience: Audience = f
        .audience
        .parse()
        .map_err(|_| ConsoleError::BadRequest("Choose who the agreement is for."))?;
    let on = match f.published_on.as_deref().filter(|d| !d.trim().is_empty()) {
        None => today(),
        Some(d) => parse_day(d).ok_or(ConsoleError::BadRequest("The date is not a date."))?,
    };
    let to = format!("/registers/agreements?audience={}", audience.as_str());
    match state
        .store()
        .publish_agreement(
            user.account.school,
            audience,
            &f.body,
            on,
            f.requires_resign.is_some(),
            &user.actor(addr),
            now(),
        )
        .await
    {
        Ok(n) => Ok(back(&to, &format!("Version {n} published for {}.", audience.label()))),
        Err(e) => Ok(back(&to, &refusal(e)?)),
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct GateForm {
    group: String,
    on: String,
}

pub(crate) async fn set_gate(
    State(state): State<AppState>,
    user: CurrentUser,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    Form(f): Form<GateForm>,
) -> Result<Response, ConsoleError> {
    deny(
        access(&user).gates,
        "Only those who manage filtering can change the gate.",
    )?;
    let school = user.account.school;
    let groups = state.store().groups_with_counts(school).await?;
    let Some(group) = groups.into_iter().find(|g| g.name.eq_ignore_ascii_case(&f.group)) else {
        return Err(ConsoleError::BadRequest("There is no such group."));
    };
    let on = f.on == "1";
    state
        .store()
        .set_agreement_gate(school, &group.name, on, &user.actor(addr), now())
        .await?;
    let notice = if on {
        format!(
            "{} now need a signed agreement for internet access; until they sign they get the restricted policy.",
            group.name
        )
    } else {
        format!("{} no longer need a signed agreement for internet access.", group.name)
    };
    Ok(back("/registers/agreements", &notice))
}

#[derive(Debug, Deserialize)]
pub(crate) struct RecordSignatureForm {
    person: i64,
    #[serde(default)]
    audience: String,
    method: String,
    #[serde(default)]
    signed_by: String,
    #[serde(default)]
    signed_on: String,
    #[serde(default)]
    back: String,
}

pub(crate) async fn record_signature(
    State(state): State<AppState>,
    user: CurrentUser,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    Form(f): Form<RecordSignatureForm>,
) -> Result<Response, ConsoleError> {
    deny(access(&user).record_signatures, "Signatures are recorded by staff.")?;
    let method = match f.method.as_str() {
        "paper" => Method::Paper,
        "parent" => Method::ParentOrCarer,
        _ => return Err(ConsoleError::BadRequest("Say how the agreement was signed.")),
    };
    let on = if f.signed_on.trim().is_empty() {
        today()
    } else {
        parse_day(&f.signed_on).ok_or(ConsoleError::BadRequest("The date is not a date."))?
    };
    if on > today() {
        return Err(ConsoleError::BadRequest("The date is in the future."));
    }
    let to = crate::web::local_path(Some(&f.back)).unwrap_or_else(|| "/registers/agreements".into());
    let audience = f.audience.parse::<Audience>().ok();
    match state
        .store()
        .sign_agreement_for(
            user.account.school,
            PersonId(f.person),
            audience,
            on,
            method,
            &f.signed_by,
            &user.actor(addr),
            now(),
        )
        .await
    {
        Ok(_) => Ok(back(&to, "Signature recorded.")),
        Err(e) => Ok(back(&to, &refusal(e)?)),
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct RemindForm {
    #[serde(default)]
    audience: String,
}

/// Emails everyone of the audience who has not signed and has an address: a link to their
/// own agreement page, nothing else.
pub(crate) async fn remind(
    State(state): State<AppState>,
    user: CurrentUser,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    Form(f): Form<RemindForm>,
) -> Result<Response, ConsoleError> {
    deny(access(&user).agreements, "Reminders are sent by the school's leaders.")?;
    let school = user.account.school;
    let selected: Option<Audience> = f.audience.parse().ok();
    let store = state.store();
    let t = today();
    let standings = store.agreement_standings(school, t, start(&state)).await?;
    let school_name = store.school(school).await?.name;
    let year = start(&state).year_of(t).to_string();
    let link = format!("{}/agreement", state.config().public_url);
    let (mut sent, mut no_email) = (0, 0);
    // The parents' agreement is signed by a parent, whose address schoolgate does not
    // keep: it goes home on paper, not to the pupil.
    for s in standings.iter().filter(|s| {
        !s.standing.is_current() && !s.audience.signed_by_another() && selected.is_none_or(|a| a == s.audience)
    }) {
        let Some(email) = s.person.email.clone() else {
            no_email += 1;
            continue;
        };
        let mail = notify::AgreementReminder {
            school: school_name.clone(),
            name: s.person.given_name.clone(),
            audience: s.audience.label().into(),
            year: year.clone(),
            gated: s.gated,
            link: link.clone(),
        }
        .render();
        queue_reminder(&state, school, email, mail).await?;
        sent += 1;
    }
    let details = serde_json::json!({"audience": f.audience, "sent": sent, "without_email": no_email});
    store
        .audit(
            school,
            user.actor(addr)
                .entry(now(), "agreement.remind", "agreements", details.to_string()),
        )
        .await?;
    let to = match selected {
        Some(a) => format!("/registers/agreements?audience={}", a.as_str()),
        None => "/registers/agreements".into(),
    };
    Ok(back(
        &to,
        &format!(
            "{sent} reminder(s) queued by email. {no_email} without an email address: remind them in person or send a paper form home."
        ),
    ))
}

pub(crate) async fn agreements_csv(
    State(state): State<AppState>,
    user: CurrentUser,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
) -> Result<Response, ConsoleError> {
    deny(access(&user).agreements, "Agreements are run by the school's leaders.")?;
    let school = user.account.school;
    let standings = state
        .store()
        .agreement_standings(school, today(), start(&state))
        .await?;
    let body = csv_text(
        &[
            "Name",
            "Identifier",
            "Kind",
            "Class",
            "Audience",
            "Standing",
            "Version",
            "Signed on",
            "How",
            "Signed by",
        ],
        standings.iter().map(|s| {
            let last = s.last.as_ref();
            vec![
                s.person.full_name(),
                s.person
                    .external_id
                    .clone()
                    .or(s.person.username.clone())
                    .unwrap_or_default(),
                s.person.kind.as_str().to_owned(),
                s.person.class.clone().unwrap_or_default(),
                s.audience.label().to_owned(),
                s.standing.label().to_owned(),
                last.map(|l| l.version.to_string()).unwrap_or_default(),
                last.map(|l| l.signed_on.to_string()).unwrap_or_default(),
                last.map(|l| l.method.label().to_owned()).unwrap_or_default(),
                last.map(|l| l.signed_by.clone()).unwrap_or_default(),
            ]
        }),
    )?;
    audit_export(&state, &user, addr, "agreements").await?;
    Ok(csv_response("agreements.csv", body))
}

// ----- Photo consent -----

#[derive(Debug, Clone)]
struct PhotoRow {
    id: i64,
    name: String,
    /// The purposes this pupil must not be photographed or published for.
    not_for: Vec<&'static str>,
}

#[derive(Template)]
#[template(path = "registers/photos.html")]
struct PhotosPage {
    title: String,
    csrf: String,
    nav: Option<Nav>,
    classes: Vec<String>,
    class: String,
    purposes: Vec<(&'static str, &'static str, bool)>,
    purpose: Option<(&'static str, Option<&'static str>)>,
    must_not: Vec<PhotoRow>,
    may: Vec<PhotoRow>,
    consent_edit: bool,
    day: String,
    notice: Option<String>,
    errors: Vec<String>,
}

#[derive(Debug, Deserialize, Default)]
pub(crate) struct PhotosQuery {
    #[serde(default)]
    class: Option<String>,
    #[serde(default)]
    purpose: Option<String>,
    #[serde(default)]
    notice: Option<String>,
    #[serde(default)]
    sig: Option<String>,
}

pub(crate) async fn photos(
    State(state): State<AppState>,
    user: CurrentUser,
    CsrfToken(csrf): CsrfToken,
    Query(q): Query<PhotosQuery>,
) -> Result<Response, ConsoleError> {
    let page = photos_page(&state, &user, csrf, q, Vec::new()).await?;
    Ok(render(&page)?.into_response())
}

async fn photos_page(
    state: &AppState,
    user: &CurrentUser,
    csrf: String,
    q: PhotosQuery,
    errors: Vec<String>,
) -> Result<PhotosPage, ConsoleError> {
    let a = access(user);
    deny(a.photos || a.consent, "Photo consent is for staff.")?;
    let school = user.account.school;
    let store = state.store();
    let t = today();
    let pupils: Vec<_> = store
        .current_people(school)
        .await?
        .into_iter()
        .filter(|p| p.kind == PersonKind::Pupil)
        .collect();
    let classes: BTreeSet<String> = pupils.iter().filter_map(|p| p.class.clone()).collect();
    let class = q.class.clone().unwrap_or_default();
    let purpose: Option<Purpose> = q.purpose.as_deref().and_then(|p| p.parse().ok());
    let answers = store.consent_answers(school).await?;
    let mut must_not = Vec::new();
    let mut may = Vec::new();
    if !class.is_empty() {
        for p in pupils.iter().filter(|p| p.class.as_deref() == Some(class.as_str())) {
            let history: Vec<_> = answers
                .get(&p.id)
                .map(|a| a.iter().map(store::ConsentAnswer::recorded).collect())
                .unwrap_or_default();
            let states = register::consent::states(&history, t, start(state));
            let row = PhotoRow {
                id: p.id.0,
                name: p.full_name(),
                not_for: Purpose::ALL
                    .iter()
                    .zip(states)
                    .filter(|(pur, s)| !s.allows() && purpose.is_none_or(|x| x == **pur))
                    .map(|(pur, _)| pur.label())
                    .collect(),
            };
            if row.not_for.is_empty() {
                may.push(row);
            } else {
                must_not.push(row);
            }
        }
    }
    Ok(PhotosPage {
        title: "Before you take photos".into(),
        csrf,
        nav: Some(nav(state, user).await?),
        classes: classes.into_iter().collect(),
        class,
        purposes: Purpose::ALL
            .iter()
            .map(|p| (p.as_str(), p.label(), purpose == Some(*p)))
            .collect(),
        purpose: purpose.map(|p| (p.label(), p.condition())),
        must_not,
        may,
        consent_edit: a.consent,
        day: t.to_string(),
        notice: signed(q.notice, &q.sig),
        errors,
    })
}

#[derive(Template)]
#[template(path = "registers/consent.html")]
struct ConsentPage {
    title: String,
    csrf: String,
    nav: Option<Nav>,
    id: i64,
    name: String,
    class: String,
    states: Vec<(&'static str, &'static str, bool, Option<&'static str>)>,
    history: Vec<(String, &'static str, &'static str, String, String)>,
    today: String,
    notice: Option<String>,
}

pub(crate) async fn consent(
    State(state): State<AppState>,
    user: CurrentUser,
    CsrfToken(csrf): CsrfToken,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    Path(id): Path<i64>,
    Query(q): Query<NoticeQuery>,
) -> Result<Response, ConsoleError> {
    deny(
        access(&user).consent,
        "Consent forms are recorded by the school office and leaders.",
    )?;
    let school = user.account.school;
    let store = state.store();
    let p = store.person(school, PersonId(id)).await?;
    if p.kind != PersonKind::Pupil {
        return Err(ConsoleError::NotFound);
    }
    let answers = store.consent_answers(school).await?.remove(&p.id).unwrap_or_default();
    store
        .audit(
            school,
            user.actor(addr)
                .entry(now(), "consent.view", &format!("person:{id}"), "{}".into()),
        )
        .await?;
    let history: Vec<_> = answers.iter().map(store::ConsentAnswer::recorded).collect();
    let states = register::consent::states(&history, today(), start(&state));
    let page = ConsentPage {
        title: format!("Photo consent: {}", p.full_name()),
        csrf,
        nav: Some(nav(&state, &user).await?),
        id,
        name: p.full_name(),
        class: p.class.clone().unwrap_or_default(),
        states: Purpose::ALL
            .iter()
            .zip(states)
            .map(|(pur, s): (&Purpose, ConsentState)| (pur.as_str(), pur.label(), s.allows(), Some(s.label())))
            .collect(),
        history: answers
            .iter()
            .rev()
            .map(|a| {
                (
                    a.given_on.to_string(),
                    a.purpose.label(),
                    a.answer.as_str(),
                    a.given_by.clone(),
                    a.recorded_by.clone(),
                )
            })
            .collect(),
        today: today().to_string(),
        notice: signed(q.notice, &q.sig),
    };
    Ok(render(&page)?.into_response())
}

#[derive(Debug, Deserialize)]
pub(crate) struct ConsentForm {
    purpose: String,
    answer: String,
    #[serde(default)]
    given_on: String,
    #[serde(default)]
    given_by: String,
}

pub(crate) async fn record_consent(
    State(state): State<AppState>,
    user: CurrentUser,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    Path(id): Path<i64>,
    Form(f): Form<ConsentForm>,
) -> Result<Response, ConsoleError> {
    deny(
        access(&user).consent,
        "Consent forms are recorded by the school office and leaders.",
    )?;
    let to = format!("/registers/consent/{id}");
    let purposes: Vec<Purpose> = if f.purpose == "all" {
        Purpose::ALL.to_vec()
    } else {
        vec![
            f.purpose
                .parse()
                .map_err(|_| ConsoleError::BadRequest("Choose a purpose."))?,
        ]
    };
    let answer = Answer::parse(&f.answer).ok_or(ConsoleError::BadRequest("Choose an answer."))?;
    let on = if f.given_on.trim().is_empty() {
        today()
    } else {
        parse_day(&f.given_on).ok_or(ConsoleError::BadRequest("The date is not a date."))?
    };
    if on > today() {
        return Ok(back(&to, "The date is in the future."));
    }
    for purpose in purposes {
        if let Err(e) = state
            .store()
            .record_consent(
                user.account.school,
                PersonId(id),
                purpose,
                answer,
                on,
                &f.given_by,
                &user.actor(addr),
                now(),
            )
            .await
        {
            return Ok(back(&to, &refusal(e)?));
        }
    }
    let notice = match answer {
        Answer::Withdrawn => "Withdrawal recorded: it applies from now.",
        _ => "Answer recorded.",
    };
    Ok(back(&to, notice))
}

pub(crate) async fn import_consent(
    State(state): State<AppState>,
    user: CurrentUser,
    CsrfToken(csrf): CsrfToken,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    mut multipart: Multipart,
) -> Result<Response, ConsoleError> {
    deny(
        access(&user).consent,
        "Consent forms are recorded by the school office and leaders.",
    )?;
    let failed = |errors: Vec<String>| async {
        let page = photos_page(&state, &user, csrf.clone(), PhotosQuery::default(), errors).await?;
        Ok::<Response, ConsoleError>((StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response())
    };
    let (name, text) = match read_csv_upload(&mut multipart).await {
        Ok(f) => f,
        Err(why) => return failed(vec![why]).await,
    };
    let answers = match register::consent::parse_consents(&name, text.as_bytes()) {
        Ok(a) => a,
        Err(rejected) => return failed(not_imported(&name, &rejected.errors)).await,
    };
    match state
        .store()
        .import_consents(user.account.school, &name, &answers, &user.actor(addr), now())
        .await?
    {
        Ok(n) => Ok(back("/registers/photos", &format!("{n} answers imported from {name}."))),
        Err(errors) => failed(not_imported(&name, &errors)).await,
    }
}

pub(crate) async fn consent_csv(
    State(state): State<AppState>,
    user: CurrentUser,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
) -> Result<Response, ConsoleError> {
    deny(
        access(&user).consent,
        "Consent forms are kept by the school office and leaders.",
    )?;
    let rows = state.store().consent_export(user.account.school).await?;
    audit_export(&state, &user, addr, "consent").await?;
    Ok(csv_response(
        "photo-consent.csv",
        register::consent::consents_csv(&rows),
    ))
}

// ----- Training -----

#[derive(Debug, Clone)]
struct TrainingRow {
    person: i64,
    /// The person's first row, which carries the anchor the due list links to.
    first: bool,
    name: String,
    kind: &'static str,
    last: String,
    evidence: String,
    /// The last completion's record, to attach a certificate to.
    record: Option<i64>,
    /// Certificates kept with the last completion: (file id, name).
    files: Vec<(i64, String)>,
    due: String,
    /// `overdue`, `soon`, `ok` or `done`.
    status: &'static str,
}

#[derive(Template)]
#[template(path = "registers/training.html")]
struct TrainingPage {
    title: String,
    csrf: String,
    nav: Option<Nav>,
    rows: Vec<TrainingRow>,
    people: Vec<(i64, String)>,
    kinds: Vec<(&'static str, &'static str)>,
    all: bool,
    today: String,
    notice: Option<String>,
}

pub(crate) async fn training(
    State(state): State<AppState>,
    user: CurrentUser,
    CsrfToken(csrf): CsrfToken,
    Query(q): Query<NoticeQuery>,
) -> Result<Response, ConsoleError> {
    let a = access(&user);
    let school = user.account.school;
    let t = today();
    let needs = state.store().training_needs(school).await?;
    let files = state.store().register_files_under(school, "training:").await?;
    let mine_only = !a.training;
    let soon = t + time::Duration::days(register::due::WINDOW_DAYS);
    let mut rows: Vec<TrainingRow> = needs
        .iter()
        .filter(|n| !mine_only || n.person.id == user.account.person)
        .map(|n| TrainingRow {
            person: n.person.id.0,
            first: false,
            name: n.person.full_name(),
            kind: n.kind.label(),
            last: n.last.as_ref().map(|l| l.completed_on.to_string()).unwrap_or_default(),
            evidence: n
                .last
                .as_ref()
                .map(|l| {
                    [l.provider.as_str(), l.evidence.as_str()]
                        .iter()
                        .filter(|s| !s.is_empty())
                        .copied()
                        .collect::<Vec<_>>()
                        .join(", ")
                })
                .unwrap_or_default(),
            record: n.last.as_ref().map(|l| l.id),
            files: n
                .last
                .as_ref()
                .map(|l| {
                    let owner = format!("training:{}", l.id);
                    files
                        .iter()
                        .filter(|f| f.0 == owner)
                        .map(|f| (f.1, f.2.clone()))
                        .collect()
                })
                .unwrap_or_default(),
            due: n.due_on.map(|d| d.to_string()).unwrap_or_default(),
            status: match n.due_on {
                None => "done",
                Some(d) if d < t => "overdue",
                Some(d) if d <= soon => "soon",
                Some(_) => "ok",
            },
        })
        .collect();
    let mut anchored = BTreeSet::new();
    for r in &mut rows {
        r.first = anchored.insert(r.person);
    }
    let people = if a.training {
        let mut seen = BTreeSet::new();
        needs
            .iter()
            .filter(|n| seen.insert(n.person.id))
            .map(|n| (n.person.id.0, n.person.full_name()))
            .collect()
    } else {
        Vec::new()
    };
    let page = TrainingPage {
        title: "Training".into(),
        csrf,
        nav: Some(nav(&state, &user).await?),
        rows,
        people,
        kinds: Kind::ALL.iter().map(|k| (k.as_str(), k.label())).collect(),
        all: a.training,
        today: t.to_string(),
        notice: signed(q.notice, &q.sig),
    };
    Ok(render(&page)?.into_response())
}

#[derive(Debug, Deserialize)]
pub(crate) struct TrainingForm {
    person: i64,
    kind: String,
    completed_on: String,
    #[serde(default)]
    provider: String,
    #[serde(default)]
    evidence: String,
}

pub(crate) async fn record_training(
    State(state): State<AppState>,
    user: CurrentUser,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    Form(f): Form<TrainingForm>,
) -> Result<Response, ConsoleError> {
    deny(access(&user).training, "Training is recorded by the school's leaders.")?;
    let kind: Kind = f
        .kind
        .parse()
        .map_err(|_| ConsoleError::BadRequest("Choose the training."))?;
    let Some(on) = parse_day(&f.completed_on).filter(|d| *d <= today()) else {
        return Ok(back(
            "/registers/training",
            "Give the day the training was completed (not in the future).",
        ));
    };
    match state
        .store()
        .record_training(
            user.account.school,
            PersonId(f.person),
            kind,
            on,
            &f.provider,
            &f.evidence,
            &user.actor(addr),
            now(),
        )
        .await
    {
        Ok(_) => Ok(back("/registers/training", "Training recorded.")),
        Err(e) => Ok(back("/registers/training", &refusal(e)?)),
    }
}

/// Keeps a certificate with a training record.
pub(crate) async fn training_evidence(
    State(state): State<AppState>,
    user: CurrentUser,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    Path(id): Path<i64>,
    mut multipart: Multipart,
) -> Result<Response, ConsoleError> {
    deny(access(&user).training, "Training is recorded by the school's leaders.")?;
    let school = user.account.school;
    if !state.store().training_records(school).await?.iter().any(|r| r.id == id) {
        return Err(ConsoleError::NotFound);
    }
    match keep_file(&state, &user, addr, &format!("training:{id}"), &mut multipart).await? {
        Ok(()) => Ok(back(
            "/registers/training",
            "Certificate kept with the training record.",
        )),
        Err(why) => Ok(back("/registers/training", &why)),
    }
}

/// Emails each member of staff whose training is overdue or due within 30 days: what is
/// due and when, and a link to their own record.
pub(crate) async fn remind_training(
    State(state): State<AppState>,
    user: CurrentUser,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
) -> Result<Response, ConsoleError> {
    deny(
        access(&user).training,
        "Training reminders are sent by the school's leaders.",
    )?;
    let school = user.account.school;
    let store = state.store();
    let t = today();
    let soon = t + time::Duration::days(register::due::WINDOW_DAYS);
    let needs = store.training_needs(school).await?;
    let school_name = store.school(school).await?.name;
    let mut by_person: std::collections::BTreeMap<i64, (store::PersonRecord, Vec<(String, String)>)> =
        Default::default();
    for n in needs {
        let Some(due) = n.due_on.filter(|d| *d <= soon) else {
            continue;
        };
        let when = if due < t {
            format!("overdue since {due}")
        } else {
            format!("due by {due}")
        };
        by_person
            .entry(n.person.id.0)
            .or_insert_with(|| (n.person.clone(), Vec::new()))
            .1
            .push((n.kind.label().to_owned(), when));
    }
    let (mut sent, mut no_email) = (0, 0);
    for (person, items) in by_person.into_values() {
        let Some(email) = person.email.clone() else {
            no_email += 1;
            continue;
        };
        let mail = notify::TrainingReminder {
            school: school_name.clone(),
            name: person.given_name.clone(),
            items,
            link: format!("{}/registers/training", state.config().public_url),
        }
        .render();
        queue_reminder(&state, school, email, mail).await?;
        sent += 1;
    }
    let details = serde_json::json!({"sent": sent, "without_email": no_email});
    store
        .audit(
            school,
            user.actor(addr)
                .entry(now(), "training.remind", "training", details.to_string()),
        )
        .await?;
    Ok(back(
        "/registers/training",
        &format!("{sent} reminder(s) queued by email; {no_email} without an email address."),
    ))
}

pub(crate) async fn training_csv(
    State(state): State<AppState>,
    user: CurrentUser,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
) -> Result<Response, ConsoleError> {
    deny(
        access(&user).training,
        "Training records are kept by the school's leaders.",
    )?;
    let needs = state.store().training_needs(user.account.school).await?;
    let body = csv_text(
        &[
            "Name",
            "Identifier",
            "Training",
            "Last completed",
            "Provider",
            "Evidence",
            "Next due",
        ],
        needs.iter().map(|n| {
            let last = n.last.as_ref();
            vec![
                n.person.full_name(),
                n.person.external_id.clone().unwrap_or_default(),
                n.kind.label().to_owned(),
                last.map(|l| l.completed_on.to_string()).unwrap_or_default(),
                last.map(|l| l.provider.clone()).unwrap_or_default(),
                last.map(|l| l.evidence.clone()).unwrap_or_default(),
                n.due_on.map(|d| d.to_string()).unwrap_or_else(|| "done".into()),
            ]
        }),
    )?;
    audit_export(&state, &user, addr, "training").await?;
    Ok(csv_response("training.csv", body))
}

// ----- Devices and assets -----

#[derive(Debug, Clone)]
struct HardwareListRow {
    id: i64,
    tag: String,
    kind: &'static str,
    model: String,
    location: String,
    encrypted: bool,
    antimalware: bool,
    with: String,
    disposed: bool,
    end_of_support: String,
}

#[derive(Template)]
#[template(path = "registers/assets.html")]
struct AssetsPage {
    title: String,
    csrf: String,
    nav: Option<Nav>,
    hardware: Vec<HardwareListRow>,
    software: Vec<(i64, String, String, i64, String)>,
    leavers: Vec<(String, i64, String)>,
    kinds: Vec<&'static str>,
    notice: Option<String>,
    errors: Vec<String>,
}

pub(crate) async fn assets(
    State(state): State<AppState>,
    user: CurrentUser,
    CsrfToken(csrf): CsrfToken,
    Query(q): Query<NoticeQuery>,
) -> Result<Response, ConsoleError> {
    let page = assets_page(&state, &user, csrf, signed(q.notice, &q.sig), Vec::new()).await?;
    Ok(render(&page)?.into_response())
}

async fn assets_page(
    state: &AppState,
    user: &CurrentUser,
    csrf: String,
    notice: Option<String>,
    errors: Vec<String>,
) -> Result<AssetsPage, ConsoleError> {
    deny(
        access(user).assets,
        "The asset register is kept by IT support and the headteacher.",
    )?;
    let school = user.account.school;
    let store = state.store();
    let hardware = store
        .hardware(school)
        .await?
        .into_iter()
        .map(|h| HardwareListRow {
            id: h.id,
            tag: h.hardware.tag.clone(),
            kind: h.hardware.kind.as_str(),
            model: format!("{} {}", h.hardware.make, h.hardware.model).trim().to_owned(),
            location: h.hardware.location.clone(),
            encrypted: h.hardware.encrypted,
            antimalware: h.hardware.antimalware_current,
            with: h.loan.as_ref().map(|l| l.person_name.clone()).unwrap_or_default(),
            disposed: h.disposal.is_some(),
            end_of_support: h.hardware.end_of_support.map(|d| d.to_string()).unwrap_or_default(),
        })
        .collect();
    let software = store
        .software(school)
        .await?
        .into_iter()
        .map(|s| {
            (
                s.id,
                s.product,
                s.licence,
                s.seats,
                s.renews_on.map(|d| d.to_string()).unwrap_or_default(),
            )
        })
        .collect();
    let leavers = store
        .leaver_checklist(school)
        .await?
        .into_iter()
        .map(|(p, h)| (p.full_name(), h.id, h.hardware.tag))
        .collect();
    Ok(AssetsPage {
        title: "Devices and assets".into(),
        csrf,
        nav: Some(nav(state, user).await?),
        hardware,
        software,
        leavers,
        kinds: HardwareKind::ALL.iter().map(|k| k.as_str()).collect(),
        notice,
        errors,
    })
}

#[derive(Debug, Deserialize)]
pub(crate) struct HardwareForm {
    tag: String,
    kind: String,
    #[serde(default)]
    make: String,
    #[serde(default)]
    model: String,
    #[serde(default)]
    serial: String,
    #[serde(default)]
    location: String,
    #[serde(default)]
    encrypted: Option<String>,
    #[serde(default)]
    antimalware: Option<String>,
    #[serde(default)]
    purchased_on: String,
    #[serde(default)]
    end_of_support: String,
    #[serde(default)]
    address: String,
    #[serde(default)]
    group: String,
}

pub(crate) async fn save_hardware(
    State(state): State<AppState>,
    user: CurrentUser,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    Form(f): Form<HardwareForm>,
) -> Result<Response, ConsoleError> {
    deny(
        access(&user).assets,
        "The asset register is kept by IT support and the headteacher.",
    )?;
    let to = "/registers/assets";
    if f.tag.trim().is_empty() {
        return Ok(back(to, "Give the device's asset tag."));
    }
    let Ok(kind) = f.kind.parse::<HardwareKind>() else {
        return Ok(back(to, "Choose what kind of device it is."));
    };
    let day = |s: &str| -> Result<Option<Date>, ()> {
        if s.trim().is_empty() {
            Ok(None)
        } else {
            parse_day(s).map(Some).ok_or(())
        }
    };
    let (Ok(purchased_on), Ok(end_of_support)) = (day(&f.purchased_on), day(&f.end_of_support)) else {
        return Ok(back(to, "A date is not a date (use YYYY-MM-DD or DD/MM/YYYY)."));
    };
    let address = match f.address.trim() {
        "" => None,
        a => match a.parse() {
            Ok(ip) => Some(ip),
            Err(_) => return Ok(back(to, "The fixed address is not an IP address.")),
        },
    };
    let h = Hardware {
        tag: f.tag.trim().to_owned(),
        kind,
        make: f.make.trim().to_owned(),
        model: f.model.trim().to_owned(),
        serial: f.serial.trim().to_owned(),
        location: f.location.trim().to_owned(),
        encrypted: f.encrypted.is_some(),
        antimalware_current: f.antimalware.is_some(),
        purchased_on,
        end_of_support,
        address,
        group: Some(f.group.trim().to_owned()).filter(|g| !g.is_empty()),
    };
    match state
        .store()
        .save_hardware(user.account.school, &h, &user.actor(addr), now())
        .await
    {
        Ok(id) => Ok(back(&format!("/registers/assets/{id}"), "Device saved.")),
        Err(e) => Ok(back(to, &refusal(e)?)),
    }
}

pub(crate) async fn import_hardware(
    State(state): State<AppState>,
    user: CurrentUser,
    CsrfToken(csrf): CsrfToken,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    mut multipart: Multipart,
) -> Result<Response, ConsoleError> {
    deny(
        access(&user).assets,
        "The asset register is kept by IT support and the headteacher.",
    )?;
    let failed = |errors: Vec<String>| async {
        let page = assets_page(&state, &user, csrf.clone(), None, errors).await?;
        Ok::<Response, ConsoleError>((StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response())
    };
    let (name, text) = match read_csv_upload(&mut multipart).await {
        Ok(f) => f,
        Err(why) => return failed(vec![why]).await,
    };
    let rows = match register::assets::parse_hardware(&name, text.as_bytes()) {
        Ok(r) => r,
        Err(rejected) => return failed(not_imported(&name, &rejected.errors)).await,
    };
    match state
        .store()
        .import_hardware(user.account.school, &name, &rows, &user.actor(addr), now())
        .await?
    {
        Ok((added, updated)) => Ok(back(
            "/registers/assets",
            &format!("{name}: {added} devices added, {updated} updated."),
        )),
        Err(errors) => failed(not_imported(&name, &errors)).await,
    }
}

pub(crate) async fn hardware_csv(
    State(state): State<AppState>,
    user: CurrentUser,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
) -> Result<Response, ConsoleError> {
    deny(
        access(&user).assets,
        "The asset register is kept by IT support and the headteacher.",
    )?;
    let rows = state.store().hardware_export(user.account.school).await?;
    audit_export(&state, &user, addr, "hardware").await?;
    Ok(csv_response("hardware.csv", register::assets::hardware_csv(&rows)))
}

pub(crate) async fn software_csv(
    State(state): State<AppState>,
    user: CurrentUser,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
) -> Result<Response, ConsoleError> {
    deny(
        access(&user).assets,
        "The asset register is kept by IT support and the headteacher.",
    )?;
    let rows = state.store().software(user.account.school).await?;
    let body = csv_text(
        &["Product", "Licence", "Seats", "Renews on"],
        rows.iter().map(|s| {
            vec![
                s.product.clone(),
                s.licence.clone(),
                s.seats.to_string(),
                s.renews_on.map(|d| d.to_string()).unwrap_or_default(),
            ]
        }),
    )?;
    audit_export(&state, &user, addr, "software").await?;
    Ok(csv_response("software.csv", body))
}

#[derive(Debug, Deserialize)]
pub(crate) struct SoftwareForm {
    product: String,
    #[serde(default)]
    licence: String,
    #[serde(default)]
    seats: String,
    #[serde(default)]
    renews_on: String,
}

pub(crate) async fn add_software(
    State(state): State<AppState>,
    user: CurrentUser,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    Form(f): Form<SoftwareForm>,
) -> Result<Response, ConsoleError> {
    deny(
        access(&user).assets,
        "The asset register is kept by IT support and the headteacher.",
    )?;
    let renews_on = match f.renews_on.trim() {
        "" => None,
        d => match parse_day(d) {
            Some(d) => Some(d),
            None => return Ok(back("/registers/assets", "The renewal date is not a date.")),
        },
    };
    let seats = f.seats.trim().parse::<i64>().unwrap_or(0);
    match state
        .store()
        .add_software(
            user.account.school,
            &f.product,
            &f.licence,
            seats,
            renews_on,
            &user.actor(addr),
            now(),
        )
        .await
    {
        Ok(_) => Ok(back("/registers/assets", "Licence added.")),
        Err(e) => Ok(back("/registers/assets", &refusal(e)?)),
    }
}

#[derive(Template)]
#[template(path = "registers/asset.html")]
struct AssetPage {
    title: String,
    csrf: String,
    nav: Option<Nav>,
    id: i64,
    facts: Vec<(&'static str, String)>,
    on_loan: Option<(String, String, String)>,
    loans: Vec<(String, String, String)>,
    disposal: Option<Vec<(&'static str, String)>>,
    people: Vec<(i64, String)>,
    methods: Vec<(&'static str, &'static str)>,
    holds_data: bool,
    today: String,
    notice: Option<String>,
}

pub(crate) async fn asset(
    State(state): State<AppState>,
    user: CurrentUser,
    CsrfToken(csrf): CsrfToken,
    Path(id): Path<i64>,
    Query(q): Query<NoticeQuery>,
) -> Result<Response, ConsoleError> {
    deny(
        access(&user).assets,
        "The asset register is kept by IT support and the headteacher.",
    )?;
    let school = user.account.school;
    let store = state.store();
    let h = store.hardware_item(school, id).await?;
    let yes = |b: bool| if b { "Yes" } else { "No" }.to_owned();
    let day = |d: Option<Date>| d.map(|d| d.to_string()).unwrap_or_else(|| "—".into());
    let hw = &h.hardware;
    let facts = vec![
        ("Asset tag", hw.tag.clone()),
        ("Kind", hw.kind.as_str().to_owned()),
        ("Make and model", format!("{} {}", hw.make, hw.model)),
        ("Serial number", hw.serial.clone()),
        ("Location", hw.location.clone()),
        ("Encrypted", yes(hw.encrypted)),
        ("Anti-malware up to date", yes(hw.antimalware_current)),
        ("Purchased", day(hw.purchased_on)),
        ("Operating system support ends", day(hw.end_of_support)),
        (
            "Fixed address (for DNS)",
            hw.address.map(|a| a.to_string()).unwrap_or_else(|| "—".into()),
        ),
        ("Filtering group", hw.group.clone().unwrap_or_else(|| "—".into())),
        (
            "Last seen",
            h.last_seen
                .map(crate::monitoring::uk_time)
                .unwrap_or_else(|| "—".into()),
        ),
    ];
    let loans = store
        .loans_of(school, id)
        .await?
        .into_iter()
        .map(|l| {
            (
                l.person_name,
                l.lent_on.to_string(),
                l.returned_on.map(|d| d.to_string()).unwrap_or_else(|| "on loan".into()),
            )
        })
        .collect();
    let people = store
        .current_people(school)
        .await?
        .into_iter()
        .map(|p| (p.id.0, format!("{} ({})", p.full_name(), p.kind.label())))
        .collect();
    let page = AssetPage {
        title: format!("Device {}", hw.tag),
        csrf,
        nav: Some(nav(&state, &user).await?),
        id,
        facts,
        on_loan: h.loan.as_ref().map(|l| {
            (
                l.person_name.clone(),
                l.lent_on.to_string(),
                l.due_back.map(|d| d.to_string()).unwrap_or_default(),
            )
        }),
        loans,
        disposal: h.disposal.as_ref().map(|d| {
            vec![
                ("Disposed of on", d.on.to_string()),
                ("Method", d.method.label().to_owned()),
                ("Collected by", d.collected_by.clone()),
                ("Certificate of destruction", d.certificate.clone()),
                ("WEEE receipt", d.weee_receipt.clone()),
            ]
        }),
        people,
        methods: DisposalMethod::ALL.iter().map(|m| (m.as_str(), m.label())).collect(),
        holds_data: hw.kind.holds_data(),
        today: today().to_string(),
        notice: signed(q.notice, &q.sig),
    };
    Ok(render(&page)?.into_response())
}

#[derive(Debug, Deserialize)]
pub(crate) struct LoanForm {
    action: String,
    #[serde(default)]
    person: Option<i64>,
    #[serde(default)]
    due_back: String,
}

pub(crate) async fn loan(
    State(state): State<AppState>,
    user: CurrentUser,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    Path(id): Path<i64>,
    Form(f): Form<LoanForm>,
) -> Result<Response, ConsoleError> {
    deny(
        access(&user).assets,
        "The asset register is kept by IT support and the headteacher.",
    )?;
    let to = format!("/registers/assets/{id}");
    let store = state.store();
    let school = user.account.school;
    let result = match f.action.as_str() {
        "lend" => {
            let Some(person) = f.person else {
                return Ok(back(&to, "Choose who the device is lent to."));
            };
            let due_back = match f.due_back.trim() {
                "" => None,
                d => match parse_day(d) {
                    Some(d) => Some(d),
                    None => return Ok(back(&to, "The return date is not a date.")),
                },
            };
            store
                .lend_hardware(
                    school,
                    id,
                    PersonId(person),
                    today(),
                    due_back,
                    &user.actor(addr),
                    now(),
                )
                .await
                .map(|_| "Loan recorded.")
        }
        "return" => store
            .return_hardware(school, id, today(), &user.actor(addr), now())
            .await
            .map(|_| "Return recorded."),
        _ => return Err(ConsoleError::BadRequest("Lend or return?")),
    };
    match result {
        Ok(notice) => Ok(back(&to, notice)),
        Err(e) => Ok(back(&to, &refusal(e)?)),
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct DisposeForm {
    disposed_on: String,
    method: String,
    #[serde(default)]
    collected_by: String,
    #[serde(default)]
    certificate: String,
    #[serde(default)]
    weee_receipt: String,
}

pub(crate) async fn dispose(
    State(state): State<AppState>,
    user: CurrentUser,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    Path(id): Path<i64>,
    Form(f): Form<DisposeForm>,
) -> Result<Response, ConsoleError> {
    deny(
        access(&user).assets,
        "The asset register is kept by IT support and the headteacher.",
    )?;
    let to = format!("/registers/assets/{id}");
    let Some(on) = parse_day(&f.disposed_on) else {
        return Ok(back(&to, "Give the day the device was disposed of."));
    };
    let Ok(method) = f.method.parse::<DisposalMethod>() else {
        return Ok(back(&to, "Choose how the device was disposed of."));
    };
    let d = Disposal {
        on,
        method,
        collected_by: f.collected_by,
        certificate: f.certificate,
        weee_receipt: f.weee_receipt,
    };
    match state
        .store()
        .dispose_hardware(user.account.school, id, &d, &user.actor(addr), now())
        .await
    {
        Ok(()) => Ok(back(&to, "Disposal recorded.")),
        Err(e) => Ok(back(&to, &format!("Not disposed of: {}.", refusal(e)?))),
    }
}

// ----- Confiscated devices -----

#[derive(Template)]
#[template(path = "registers/confiscations.html")]
struct ConfiscationsPage {
    title: String,
    csrf: String,
    nav: Option<Nav>,
    held: Vec<(i64, String, String, String, String)>,
    returned: Vec<(String, String, String, String, String)>,
    pupils: Vec<(i64, String)>,
    notice: Option<String>,
}

pub(crate) async fn confiscations(
    State(state): State<AppState>,
    user: CurrentUser,
    CsrfToken(csrf): CsrfToken,
    Query(q): Query<NoticeQuery>,
) -> Result<Response, ConsoleError> {
    deny(
        access(&user).confiscations,
        "Confiscated devices are recorded by staff.",
    )?;
    let school = user.account.school;
    let store = state.store();
    let all = store.confiscations(school).await?;
    let time = crate::monitoring::uk_time;
    let held = all
        .iter()
        .filter(|c| c.confiscation.returned_at.is_none())
        .map(|c| {
            (
                c.id,
                c.person_name.clone(),
                c.confiscation.item.clone(),
                time(c.confiscation.taken_at),
                c.confiscation.held_where.clone(),
            )
        })
        .collect();
    let returned = all
        .iter()
        .filter_map(|c| {
            let at = c.confiscation.returned_at?;
            Some((
                c.person_name.clone(),
                c.confiscation.item.clone(),
                time(c.confiscation.taken_at),
                c.confiscation.returned_to.clone().unwrap_or_default(),
                time(at),
            ))
        })
        .collect();
    let pupils = store
        .current_people(school)
        .await?
        .into_iter()
        .filter(|p| p.kind == PersonKind::Pupil)
        .map(|p| {
            let class = p.class.clone().map(|c| format!(" ({c})")).unwrap_or_default();
            (p.id.0, format!("{}{class}", p.full_name()))
        })
        .collect();
    let page = ConfiscationsPage {
        title: "Confiscated devices".into(),
        csrf,
        nav: Some(nav(&state, &user).await?),
        held,
        returned,
        pupils,
        notice: signed(q.notice, &q.sig),
    };
    Ok(render(&page)?.into_response())
}

#[derive(Debug, Deserialize)]
pub(crate) struct ConfiscateForm {
    #[serde(default)]
    person: Option<i64>,
    #[serde(default)]
    item: String,
    #[serde(default)]
    held_where: String,
    #[serde(default)]
    id: Option<i64>,
    #[serde(default)]
    returned_to: String,
}

pub(crate) async fn confiscate(
    State(state): State<AppState>,
    user: CurrentUser,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    Form(f): Form<ConfiscateForm>,
) -> Result<Response, ConsoleError> {
    deny(
        access(&user).confiscations,
        "Confiscated devices are recorded by staff.",
    )?;
    let to = "/registers/confiscations";
    let store = state.store();
    let school = user.account.school;
    let result = match (f.id, f.person) {
        (Some(id), _) => store
            .return_confiscated(school, id, &f.returned_to, &user.actor(addr), now())
            .await
            .map(|_| "Return recorded."),
        (None, Some(person)) => store
            .confiscate(
                school,
                PersonId(person),
                &f.item,
                &f.held_where,
                &user.actor(addr),
                now(),
            )
            .await
            .map(|_| "Recorded."),
        (None, None) => return Ok(back(to, "Choose the pupil.")),
    };
    match result {
        Ok(n) => Ok(back(to, n)),
        Err(e) => Ok(back(to, &refusal(e)?)),
    }
}

/// Every confiscation as CSV, for the leaders who keep the registers.
pub(crate) async fn confiscations_csv(
    State(state): State<AppState>,
    user: CurrentUser,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
) -> Result<Response, ConsoleError> {
    deny(
        access(&user).agreements,
        "The register of confiscations is exported by the school's leaders.",
    )?;
    let rows = state.store().confiscations(user.account.school).await?;
    let time = crate::monitoring::uk_time;
    let body = csv_text(
        &[
            "Pupil",
            "Device",
            "Taken",
            "Taken by",
            "Held",
            "Returned to",
            "Returned",
            "Returned by",
        ],
        rows.iter().map(|c| {
            vec![
                c.person_name.clone(),
                c.confiscation.item.clone(),
                time(c.confiscation.taken_at),
                c.taken_by.clone(),
                c.confiscation.held_where.clone(),
                c.confiscation.returned_to.clone().unwrap_or_default(),
                c.confiscation.returned_at.map(time).unwrap_or_default(),
                c.returned_by.clone().unwrap_or_default(),
            ]
        }),
    )?;
    audit_export(&state, &user, addr, "confiscations").await?;
    Ok(csv_response("confiscations.csv", body))
}

/// A CSV file from a header and rows.
fn csv_text(header: &[&str], rows: impl Iterator<Item = Vec<String>>) -> Result<String, ConsoleError> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let fail = |e: csv::Error| ConsoleError::Internal(format!("export: {e}"));
    w.write_record(header).map_err(fail)?;
    for r in rows {
        w.write_record(r.iter().map(|c| register::import::defuse(c).into_owned()))
            .map_err(fail)?;
    }
    let bytes = w.into_inner().map_err(|e| ConsoleError::Internal(e.to_string()))?;
    String::from_utf8(bytes).map_err(|e| ConsoleError::Internal(e.to_string()))
}

// ----- Reviews -----

#[derive(Template)]
#[template(path = "registers/reviews.html")]
struct ReviewsPage {
    title: String,
    csrf: String,
    nav: Option<Nav>,
    rows: Vec<(&'static str, &'static str, &'static str, String, bool, String)>,
    notice: Option<String>,
}

pub(crate) async fn reviews(
    State(state): State<AppState>,
    user: CurrentUser,
    CsrfToken(csrf): CsrfToken,
    Query(q): Query<NoticeQuery>,
) -> Result<Response, ConsoleError> {
    deny(access(&user).oversight, "Reviews are for leaders and governors.")?;
    let school = user.account.school;
    let t = today();
    let due = state.store().reviews_due(school, t, start(&state)).await?;
    let all = state.store().reviews(school).await?;
    let rows = due
        .into_iter()
        .map(|(kind, on)| {
            let last = all
                .iter()
                .filter(|r| r.kind == kind)
                .filter_map(|r| r.completed_on)
                .max()
                .map(|d| d.to_string())
                .unwrap_or_else(|| "never".into());
            (
                kind.as_str(),
                kind.label(),
                kind.standard(),
                on.to_string(),
                on < t,
                last,
            )
        })
        .collect();
    let page = ReviewsPage {
        title: "Reviews".into(),
        csrf,
        nav: Some(nav(&state, &user).await?),
        rows,
        notice: signed(q.notice, &q.sig),
    };
    Ok(render(&page)?.into_response())
}

/// Every review, with its findings, actions and sign-offs, as CSV: the evidence pack for
/// governors and inspectors.
pub(crate) async fn reviews_csv(
    State(state): State<AppState>,
    user: CurrentUser,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
) -> Result<Response, ConsoleError> {
    deny(access(&user).oversight, "Reviews are for leaders and governors.")?;
    let rows = state.store().reviews(user.account.school).await?;
    let body = csv_text(
        &[
            "Review",
            "Opened",
            "Completed",
            "Responsible",
            "Checklist done",
            "Findings",
            "Actions",
            "Evidence",
            "Signed off by",
        ],
        rows.iter().map(|r| {
            let items = r.kind.checklist();
            vec![
                r.kind.label().to_owned(),
                r.opened_on.to_string(),
                r.completed_on.map(|d| d.to_string()).unwrap_or_default(),
                r.responsible.clone(),
                r.checked
                    .iter()
                    .filter_map(|i| items.get(*i))
                    .copied()
                    .collect::<Vec<_>>()
                    .join("; "),
                r.findings.clone(),
                r.actions.clone(),
                r.evidence.clone(),
                r.signoffs
                    .iter()
                    .map(|(s, name, _)| format!("{} ({})", name, s.label()))
                    .collect::<Vec<_>>()
                    .join("; "),
            ]
        }),
    )?;
    audit_export(&state, &user, addr, "reviews").await?;
    Ok(csv_response("reviews.csv", body))
}

#[derive(Template)]
#[template(path = "registers/review.html")]
struct ReviewPage {
    title: String,
    csrf: String,
    nav: Option<Nav>,
    kind: &'static str,
    label: &'static str,
    standard: &'static str,
    /// The review in progress or last completed: id, opened on, completed on.
    review: Option<(i64, String, Option<String>)>,
    checklist: Vec<(usize, &'static str, bool)>,
    text: ReviewText,
    signoffs: Vec<(&'static str, String, String)>,
    editable: bool,
    can_write: bool,
    sign_as: Option<(&'static str, &'static str)>,
    past: Vec<(String, String)>,
    stats: Vec<(String, String)>,
    /// Evidence files kept with the review: (id, name, size in KiB).
    files: Vec<(i64, String, i64)>,
    notice: Option<String>,
}

pub(crate) async fn review(
    State(state): State<AppState>,
    user: CurrentUser,
    CsrfToken(csrf): CsrfToken,
    Path(kind): Path<String>,
    Query(q): Query<NoticeQuery>,
) -> Result<Response, ConsoleError> {
    deny(access(&user).oversight, "Reviews are for leaders and governors.")?;
    let kind: ReviewKind = kind.parse().map_err(|_| ConsoleError::NotFound)?;
    let school = user.account.school;
    let store = state.store();
    let all: Vec<_> = store
        .reviews(school)
        .await?
        .into_iter()
        .filter(|r| r.kind == kind)
        .collect();
    // The newest review of this kind: in progress, or the last completed.
    let current = all.first().cloned();
    let can_write = register::reviews::may_write(user.authority.roles());
    let signer = Signer::of(user.authority.roles());
    let editable = current.as_ref().is_some_and(|r| r.signoffs.is_empty()) && can_write;
    let sign_as = match (&current, signer) {
        (Some(r), Some(s)) if r.completed_on.is_none() && !r.signoffs.iter().any(|x| x.0 == s) => {
            Some((s.as_str(), s.label()))
        }
        _ => None,
    };
    // DFE-FM-2.04: the filtering review is pre-filled with what schoolgate knows.
    let stats = if kind == ReviewKind::FilteringMonitoring {
        let t = now();
        let counts = store
            .incident_counts(school, t - 365 * 86_400, t, t)
            .await
            .ok()
            .map(|c| c.0);
        let mut s = vec![(
            "Devices in the register".to_owned(),
            store
                .hardware(school)
                .await?
                .iter()
                .filter(|h| h.disposal.is_none())
                .count()
                .to_string(),
        )];
        if let Some(c) = counts {
            s.push(("Incidents recorded in the last year".to_owned(), c.to_string()));
        }
        s
    } else {
        Vec::new()
    };
    let checked: Vec<usize> = current.as_ref().map(|r| r.checked.clone()).unwrap_or_default();
    let files = match &current {
        Some(r) => store
            .register_files(school, &format!("review:{}", r.id))
            .await?
            .into_iter()
            .map(|(id, name, size, _)| (id, name, (size + 1023) / 1024))
            .collect(),
        None => Vec::new(),
    };
    let page = ReviewPage {
        title: format!("Review: {}", kind.label()),
        csrf,
        nav: Some(nav(&state, &user).await?),
        kind: kind.as_str(),
        label: kind.label(),
        standard: kind.standard(),
        review: current
            .as_ref()
            .map(|r| (r.id, r.opened_on.to_string(), r.completed_on.map(|d| d.to_string()))),
        checklist: kind
            .checklist()
            .iter()
            .enumerate()
            .map(|(i, item)| (i, *item, checked.contains(&i)))
            .collect(),
        text: current
            .as_ref()
            .map(|r| ReviewText {
                responsible: r.responsible.clone(),
                findings: r.findings.clone(),
                actions: r.actions.clone(),
                checked: r.checked.clone(),
                evidence: r.evidence.clone(),
            })
            .unwrap_or_default(),
        signoffs: current
            .as_ref()
            .map(|r| {
                r.signoffs
                    .iter()
                    .map(|(s, name, at)| (s.label(), name.clone(), crate::monitoring::uk_time(*at)))
                    .collect()
            })
            .unwrap_or_default(),
        editable,
        can_write,
        sign_as,
        past: all
            .iter()
            .skip(1)
            .filter_map(|r| r.completed_on.map(|d| (r.opened_on.to_string(), d.to_string())))
            .collect(),
        stats,
        files,
        notice: signed(q.notice, &q.sig),
    };
    Ok(render(&page)?.into_response())
}

/// Attaches a file (minutes, filter test results, a signed policy) to the review in progress.
pub(crate) async fn review_evidence(
    State(state): State<AppState>,
    user: CurrentUser,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    Path(kind): Path<String>,
    mut multipart: Multipart,
) -> Result<Response, ConsoleError> {
    deny(
        access(&user).oversight && register::reviews::may_write(user.authority.roles()),
        "Evidence is added by those who write the review.",
    )?;
    let kind: ReviewKind = kind.parse().map_err(|_| ConsoleError::NotFound)?;
    let to = format!("/registers/reviews/{}", kind.as_str());
    let school = user.account.school;
    let store = state.store();
    let Some(review) = store
        .reviews(school)
        .await?
        .into_iter()
        .find(|r| r.kind == kind && r.completed_on.is_none())
    else {
        return Ok(back(&to, "Open a review first."));
    };
    match keep_file(&state, &user, addr, &format!("review:{}", review.id), &mut multipart).await? {
        Ok(()) => Ok(back(&to, "File added to the review's evidence.")),
        Err(why) => Ok(back(&to, &why)),
    }
}

/// A register's evidence file, to those who may see the record it belongs to.
pub(crate) async fn register_file(
    State(state): State<AppState>,
    user: CurrentUser,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    Path(id): Path<i64>,
) -> Result<Response, ConsoleError> {
    let school = user.account.school;
    let store = state.store();
    let (owner, sha, name, mime) = store.register_file(school, id).await?;
    let allowed = match owner.split_once(':') {
        Some(("review", _)) => access(&user).oversight,
        // A certificate: for those who keep training records, and for its holder.
        Some(("training", record)) => {
            access(&user).training
                || store
                    .training_records(school)
                    .await?
                    .iter()
                    .any(|r| r.id.to_string() == record && r.person == user.account.person)
        }
        _ => false,
    };
    deny(allowed, "This file belongs to a record you cannot see.")?;
    let Some(dir) = state.config().attachments.clone() else {
        return Err(ConsoleError::NotFound);
    };
    let download = crate::incidents::file_download(&dir, &sha, &name, mime).await?;
    store
        .audit(
            school,
            user.actor(addr)
                .entry(now(), "register.file.view", &owner, format!("{{\"file\":{id}}}")),
        )
        .await?;
    Ok(download)
}

/// The review form: the checklist is up to twelve boxes, `check0` to `check11`.
#[derive(Debug, Deserialize)]
pub(crate) struct ReviewForm {
    action: String,
    #[serde(default)]
    responsible: String,
    #[serde(default)]
    findings: String,
    #[serde(default)]
    actions: String,
    #[serde(default)]
    evidence: String,
    #[serde(default)]
    check0: Option<String>,
    #[serde(default)]
    check1: Option<String>,
    #[serde(default)]
    check2: Option<String>,
    #[serde(default)]
    check3: Option<String>,
    #[serde(default)]
    check4: Option<String>,
    #[serde(default)]
    check5: Option<String>,
    #[serde(default)]
    check6: Option<String>,
    #[serde(default)]
    check7: Option<String>,
    #[serde(default)]
    check8: Option<String>,
    #[serde(default)]
    check9: Option<String>,
    #[serde(default)]
    check10: Option<String>,
    #[serde(default)]
    check11: Option<String>,
}

impl ReviewForm {
    fn checked(&self) -> Vec<usize> {
        [
            &self.check0,
            &self.check1,
            &self.check2,
            &self.check3,
            &self.check4,
            &self.check5,
            &self.check6,
            &self.check7,
            &self.check8,
            &self.check9,
            &self.check10,
            &self.check11,
        ]
        .iter()
        .enumerate()
        .filter(|(_, c)| c.is_some())
        .map(|(i, _)| i)
        .collect()
    }
}

pub(crate) async fn work_review(
    State(state): State<AppState>,
    user: CurrentUser,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    Path(kind): Path<String>,
    Form(f): Form<ReviewForm>,
) -> Result<Response, ConsoleError> {
    deny(access(&user).oversight, "Reviews are for leaders and governors.")?;
    let kind: ReviewKind = kind.parse().map_err(|_| ConsoleError::NotFound)?;
    let to = format!("/registers/reviews/{}", kind.as_str());
    let school = user.account.school;
    let store = state.store();
    let current = store.reviews(school).await?.into_iter().find(|r| r.kind == kind);
    let actor = user.actor(addr);
    let result = match f.action.as_str() {
        "open" => {
            deny(
                register::reviews::may_write(user.authority.roles()),
                "You cannot open a review.",
            )?;
            if current.as_ref().is_some_and(|r| r.completed_on.is_none()) {
                return Ok(back(&to, "A review is already open."));
            }
            store
                .open_review(school, kind, today(), &actor, now())
                .await
                .map(|_| "Review opened.")
        }
        "save" => {
            deny(
                register::reviews::may_write(user.authority.roles()),
                "You cannot change this review.",
            )?;
            let Some(r) = current.filter(|r| r.completed_on.is_none()) else {
                return Ok(back(&to, "Open a review first."));
            };
            let text = ReviewText {
                responsible: f.responsible.clone(),
                findings: f.findings.clone(),
                actions: f.actions.clone(),
                checked: f.checked(),
                evidence: f.evidence.clone(),
            };
            store
                .update_review(school, r.id, &text, &actor, now())
                .await
                .map(|_| "Saved.")
        }
        "sign" => {
            let Some(signer) = Signer::of(user.authority.roles()) else {
                return Err(ConsoleError::Forbidden(
                    "Reviews are signed off by the headteacher and the safeguarding governor.",
                ));
            };
            let Some(r) = current.filter(|r| r.completed_on.is_none()) else {
                return Ok(back(&to, "There is no open review to sign."));
            };
            store
                .sign_review(school, r.id, signer, user.account.person, &actor, now())
                .await
                .map(|done| {
                    if done {
                        "Signed off: the review is complete."
                    } else {
                        "Signed off."
                    }
                })
        }
        _ => return Err(ConsoleError::BadRequest("What should be done with the review?")),
    };
    match result {
        Ok(n) => Ok(back(&to, n)),
        Err(e) => Ok(back(&to, &refusal(e)?)),
    }
}
