//! The online safety log in the console (issue 7): any member of staff records a concern
//! in a minute (Record a concern, in every page's header); it goes to the people its route
//! names, by email that says only its category; they work it through an append-only
//! chronology and close it with an outcome. Who may see or do what is asked of
//! `register::incidents` for every request, on facts read without the record's content.

use std::net::SocketAddr;

use axum::Form;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use register::incidents::{self, Action, Category, Involved, Part, Record, Status};
use register::people::{PersonId, PersonKind};
use register::roles::Role;
use serde::Deserialize;
use store::{IncidentFacts, NewEntry, NewIncident, NewInvolved, NewMail};

use crate::error::ConsoleError;
use crate::monitoring::uk_time;
use crate::pages::nav;
use crate::templates::{EntryRow, IncidentPage, IncidentRow, IncidentsPage, NewIncidentPage, render};
use crate::web::{CsrfToken, CurrentUser};
use crate::{AppState, now};

fn can_record(user: &CurrentUser) -> Result<(), ConsoleError> {
    match user.account.kind {
        PersonKind::Staff | PersonKind::Governor => Ok(()),
        _ => Err(ConsoleError::Forbidden("Only staff record concerns here.")),
    }
}

fn may(user: &CurrentUser, f: &IncidentFacts, action: Action) -> bool {
    let record = Record {
        concerns: f.concerns,
        people: &f.people,
        sealed_to: f.sealed_to.as_deref(),
    };
    incidents::may(user.account.person, user.authority.roles(), &record, action)
}

/// What part of the school a person on the register is, for routing.
fn involved_of(p: &store::PersonRecord) -> Involved {
    match p.kind {
        PersonKind::Pupil => Involved::Pupil,
        PersonKind::Staff | PersonKind::Governor if p.roles.contains(&Role::Headteacher) => Involved::Headteacher,
        PersonKind::Staff | PersonKind::Governor => Involved::Staff,
        PersonKind::Visitor => Involved::Other,
    }
}

/// `Given Family (group) #id`: how the form's people list names a person, so that the
/// server can tell a registered person from a name typed in.
fn person_label(given: &str, family: &str, group: &str, id: PersonId) -> String {
    format!("{given} {family} ({group}) #{}", id.0)
}

fn person_id_in(label: &str) -> Option<PersonId> {
    let (_, tail) = label.rsplit_once(" #")?;
    tail.trim().parse().ok().map(PersonId)
}

async fn form_page(
    state: &AppState,
    user: &CurrentUser,
    csrf: String,
    errors: Vec<String>,
    form: NewIncidentForm,
) -> Result<NewIncidentPage, ConsoleError> {
    let (people, _) = state
        .store()
        .search_people(user.account.school, "", false, 5000, 0)
        .await?;
    Ok(NewIncidentPage {
        title: "Record a concern".into(),
        csrf,
        nav: Some(nav(state, user).await?),
        errors,
        categories: Category::ALL
            .iter()
            .map(|c| (c.name().to_owned(), format!("{} ({})", c.label(), c.four_c().label())))
            .collect(),
        people: people
            .iter()
            .map(|p| {
                person_label(
                    &p.given_name,
                    &p.family_name,
                    p.group_name.as_deref().unwrap_or(""),
                    p.id,
                )
            })
            .collect(),
        form_what: form.what,
        form_device: form.device,
    })
}

#[derive(Debug, Deserialize, Default)]
pub(crate) struct NewIncidentForm {
    #[serde(default)]
    category: String,
    #[serde(default)]
    when: String,
    #[serde(default)]
    place: String,
    #[serde(default)]
    device: String,
    #[serde(default)]
    what: String,
    #[serde(default)]
    urgent: Option<String>,
    #[serde(default)]
    person1: String,
    #[serde(default)]
    part1: String,
    #[serde(default)]
    person2: String,
    #[serde(default)]
    part2: String,
    #[serde(default)]
    person3: String,
    #[serde(default)]
    part3: String,
}

pub(crate) async fn new_page(
    State(state): State<AppState>,
    user: CurrentUser,
    CsrfToken(csrf): CsrfToken,
) -> Result<Response, ConsoleError> {
    can_record(&user)?;
    Ok(render(&form_page(&state, &user, csrf, vec![], NewIncidentForm::default()).await?)?.into_response())
}

/// `2026-11-24T10:15` from a datetime-local field, read as UK time.
fn parse_local(s: &str) -> Option<i64> {
    let fmt = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]");
    let t = time::PrimitiveDateTime::parse(s.trim(), &fmt).ok()?;
    let as_utc = t.assume_utc().unix_timestamp();
    // The offset in force an hour either side is the same except at the change itself.
    Some(as_utc - policy::rules::uk_offset(as_utc - 3600))
}

pub(crate) async fn create(
    State(state): State<AppState>,
    user: CurrentUser,
    CsrfToken(csrf): CsrfToken,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    Form(f): Form<NewIncidentForm>,
) -> Result<Response, ConsoleError> {
    can_record(&user)?;
    let school = user.account.school;
    let store = state.store();
    let t = now();
    let mut errors = Vec::new();
    let category = f.category.parse::<Category>().unwrap_or_else(|e| {
        errors.push(format!("Choose a category: {e}"));
        Category::Other
    });
    let occurred_at = if f.when.trim().is_empty() {
        t
    } else {
        parse_local(&f.when).unwrap_or_else(|| {
            errors.push("When it happened is not a date and time.".into());
            t
        })
    };
    let mut people = Vec::new();
    for (who, part) in [(&f.person1, &f.part1), (&f.person2, &f.part2), (&f.person3, &f.part3)] {
        let who = who.trim();
        if who.is_empty() {
            continue;
        }
        let part = part.parse::<Part>().unwrap_or(Part::Affected);
        match person_id_in(who) {
            Some(id) => match store.person(school, id).await {
                Ok(p) => {
                    let involved = involved_of(&p);
                    people.push(NewInvolved {
                        person: Some(id),
                        name: p.full_name(),
                        involved,
                        part,
                    });
                }
                Err(_) => errors.push(format!("{who:?} is not on the school's register.")),
            },
            None => people.push(NewInvolved {
                person: None,
                name: who.chars().take(200).collect(),
                involved: Involved::Other,
                part,
            }),
        }
    }
    let n = NewIncident {
        reported_by: user.account.person,
        occurred_at,
        place: f.place.clone(),
        device: f.device.chars().take(200).collect(),
        what: f.what.chars().take(20_000).collect(),
        category,
        people,
        urgent: f.urgent.is_some(),
        alert_id: None,
        retain_other_years: state.config().retain_other_years,
    };
    if errors.is_empty() {
        match store.create_incident(school, &n, &user.actor(addr), t).await {
            Ok(id) => {
                route_email(store, &state.config().public_url, school, id, 0, false).await?;
                return Ok(Redirect::to(&format!("/incidents?recorded={id}")).into_response());
            }
            Err(store::StoreError::Invalid(why)) => errors.push(why),
            Err(e) => return Err(e.into()),
        }
    }
    let page = form_page(&state, &user, csrf, errors, f).await?;
    Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response())
}

/// Emails the people at `stage` of the incident's route: its category and a link, nothing
/// of who or what. Nobody is emailed about an incident that is about them. Returns whether
/// the route has such a stage.
pub async fn route_email(
    store: &store::Store,
    public_url: &str,
    school: register::people::SchoolId,
    id: i64,
    stage: usize,
    escalated: bool,
) -> Result<bool, store::StoreError> {
    let (concerns, category, urgent, involved, _) = store.incident_routing(school, id).await?;
    let Some(roles) = incidents::route(concerns).get(stage) else {
        return Ok(false);
    };
    let recipients: Vec<String> = store
        .recipients(school, roles)
        .await?
        .into_iter()
        .filter(|r| !involved.contains(&r.person))
        .map(|r| r.email)
        .collect();
    let email = notify::IncidentEmail {
        school: store.school(school).await?.name,
        category: category.label().to_owned(),
        urgent,
        escalated,
        link: format!("{public_url}/incidents/{id}"),
    }
    .render()
    .map_err(|e| store::StoreError::Invalid(format!("the email could not be written: {e}")))?;
    store
        .queue_mail(
            school,
            &NewMail {
                kind: "incident".into(),
                recipients,
                subject: email.subject,
                text: email.text,
                html: email.html,
            },
            now(),
        )
        .await?;
    Ok(true)
}

/// Sends on every incident nobody on its route opened within `after` seconds to the next
/// stage of its route (the headteacher after the DSL team, the Chair after the head).
pub async fn escalate_unopened(
    store: &store::Store,
    public_url: &str,
    school: register::people::SchoolId,
    after: i64,
) -> Result<usize, store::StoreError> {
    let t = now();
    let mut sent = 0;
    for id in store.unopened_incidents(school, t - after).await? {
        let (_, _, _, _, stage) = store.incident_routing(school, id).await?;
        let next = stage + 1;
        let routed = route_email(store, public_url, school, id, next, true).await?;
        store
            .advance_route(school, id, if routed { next } else { stage }, !routed, t)
            .await?;
        sent += usize::from(routed);
    }
    Ok(sent)
}

#[derive(Debug, Deserialize, Default)]
pub(crate) struct ListQuery {
    recorded: Option<i64>,
}

pub(crate) async fn list(
    State(state): State<AppState>,
    user: CurrentUser,
    CsrfToken(csrf): CsrfToken,
    axum::extract::Query(q): axum::extract::Query<ListQuery>,
) -> Result<Response, ConsoleError> {
    let school = user.account.school;
    let store = state.store();
    let facts = store.incident_facts(school, None).await?;
    let visible: Vec<i64> = facts
        .iter()
        .filter(|f| may(&user, f, Action::See))
        .map(|f| f.id)
        .collect();
    let mut rows = Vec::new();
    for (id, created, category, status) in store.incident_summaries(school, &visible).await? {
        rows.push(IncidentRow {
            id,
            when: uk_time(created),
            category: category.label().to_owned(),
            status: status.label().to_owned(),
            open: status != Status::Closed,
        });
    }
    let mine = store
        .own_reports(school, user.account.person)
        .await?
        .into_iter()
        .map(|(id, created, category, status)| IncidentRow {
            id,
            when: uk_time(created),
            category: category.label().to_owned(),
            status: status.label().to_owned(),
            open: status != Status::Closed,
        })
        .collect();
    let past = store.incidents_past_review(school, now()).await?;
    let review = rows.iter().filter(|r| past.contains(&r.id)).cloned().collect();
    let page = IncidentsPage {
        title: "Online safety log".into(),
        review,
        csrf,
        nav: Some(nav(&state, &user).await?),
        notice: q
            .recorded
            .map(|id| format!("Your concern was recorded (number {id}) and has gone to the people who deal with it.")),
        incidents: rows,
        mine,
    };
    Ok(render(&page)?.into_response())
}

async fn facts_of(state: &AppState, user: &CurrentUser, id: i64) -> Result<IncidentFacts, ConsoleError> {
    state
        .store()
        .incident_facts(user.account.school, Some(id))
        .await?
        .into_iter()
        .next()
        .ok_or(ConsoleError::NotFound)
}

async fn detail_page(
    state: &AppState,
    user: &CurrentUser,
    addr: SocketAddr,
    csrf: String,
    id: i64,
    error: Option<String>,
) -> Result<IncidentPage, ConsoleError> {
    let f = facts_of(state, user, id).await?;
    if !may(user, &f, Action::See) {
        return Err(ConsoleError::Forbidden(
            "This record is for the people who deal with it. You can see your own reports under Online safety log.",
        ));
    }
    let store = state.store();
    let i = store
        .read_incident(user.account.school, id, &user.actor(addr), false, now())
        .await?;
    let entries = store
        .incident_entries(id)
        .await?
        .into_iter()
        .map(|e| EntryRow {
            id: e.id,
            happened: uk_time(e.happened_at),
            written: (e.written_at - e.happened_at > 600).then(|| uk_time(e.written_at)),
            author: e.author,
            kind: e.kind,
            action: e.action.as_deref().map(|a| incidents::action_label(a).to_owned()),
            body: e.body,
            corrects: e.corrects,
            reason: e.reason.unwrap_or_default(),
        })
        .collect();
    Ok(IncidentPage {
        title: format!("Incident {id}"),
        csrf,
        nav: Some(nav(state, user).await?),
        id,
        category: i.category.label().to_owned(),
        four_c: i.category.four_c().label().to_owned(),
        urgent: i.urgent,
        steps: if i.urgent {
            incidents::urgent_steps(i.category, true)
                .into_iter()
                .map(str::to_owned)
                .collect()
        } else {
            incidents::urgent_steps(i.category, false)
                .into_iter()
                .map(str::to_owned)
                .collect()
        },
        status: i.status.label().to_owned(),
        closed: i.status == Status::Closed,
        outcome: i.outcome.unwrap_or_default(),
        when: uk_time(i.occurred_at),
        place: if i.place == "outside" {
            "Outside school"
        } else {
            "In school"
        }
        .to_owned(),
        device: i.device,
        what: i.what,
        people: i
            .people
            .into_iter()
            .map(|(pid, name, involved, part)| (name, involved, part.name().to_owned(), pid.map(|p| p.0)))
            .collect(),
        entries,
        actions: incidents::ACTIONS
            .iter()
            .map(|(n, l)| ((*n).to_owned(), (*l).to_owned()))
            .chain(state.config().extra_actions.iter().map(|a| (a.clone(), a.clone())))
            .collect(),
        lado: if i.concerns == incidents::Concerns::Pupils {
            String::new()
        } else {
            state.config().lado.clone()
        },
        can_add: may(user, &f, Action::Add),
        can_close: may(user, &f, Action::Close),
        error,
        ico_due: i.ico_deadline.filter(|_| i.ico_decision.is_none()).map(uk_time),
        ico_overdue: i.ico_deadline.is_some_and(|d| d < now()) && i.ico_decision.is_none(),
        ico_decision: i.ico_decision,
        review: i
            .review_at
            .map(|r| uk_time(r).split(',').next().unwrap_or_default().to_owned())
            .unwrap_or_default(),
        sealed: f.sealed_to.is_some(),
        alert: i.alert_id,
        follow_up_on: i.follow_up_on.clone().unwrap_or_default(),
        past_review: i.review_at.is_some_and(|r| r < now()),
        attachments: store
            .attachments(id)
            .await?
            .into_iter()
            .map(|(aid, name, mime, size, at)| (aid, name, mime, (size + 1023) / 1024, uk_time(at)))
            .collect(),
        views: if user
            .authority
            .roles()
            .iter()
            .any(|r| matches!(r, Role::Dsl | Role::Headteacher | Role::ChairOfGovernors))
        {
            Some(
                store
                    .views_of(user.account.school, &format!("incident:{id}"))
                    .await?
                    .into_iter()
                    .map(|(at, who, _)| (uk_time(at), who))
                    .collect(),
            )
        } else {
            None
        },
        sealed_to: f.sealed_to.iter().flatten().map(|p| p.0).collect(),
        sealable: store
            .recipients(
                user.account.school,
                &[
                    Role::Dsl,
                    Role::DeputyDsl,
                    Role::OnlineSafetyLead,
                    Role::Headteacher,
                    Role::ChairOfGovernors,
                ],
            )
            .await?
            .into_iter()
            .filter(|r| !f.people.iter().any(|(p, _)| *p == r.person))
            .map(|r| {
                let roles: Vec<&str> = r.roles.iter().map(|x| x.label()).collect();
                (r.person.0, format!("{} ({})", r.name, roles.join(", ")))
            })
            .collect(),
    })
}

pub(crate) async fn detail(
    State(state): State<AppState>,
    user: CurrentUser,
    CsrfToken(csrf): CsrfToken,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    Path(id): Path<i64>,
) -> Result<Response, ConsoleError> {
    Ok(render(&detail_page(&state, &user, addr, csrf, id, None).await?)?.into_response())
}

#[derive(Debug, Deserialize, Default)]
pub(crate) struct EntryForm {
    #[serde(default)]
    op: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    happened: String,
    #[serde(default)]
    body: String,
    /// The entry a correction corrects: empty when it is not one (a browser sends the
    /// empty field), so read as text.
    #[serde(default)]
    corrects: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    outcome: String,
    #[serde(default)]
    report: String,
    #[serde(default)]
    follow_up_on: String,
    #[serde(default)]
    years: String,
}

pub(crate) async fn work(
    State(state): State<AppState>,
    user: CurrentUser,
    CsrfToken(csrf): CsrfToken,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    Path(id): Path<i64>,
    Form(f): Form<EntryForm>,
) -> Result<Response, ConsoleError> {
    let facts = facts_of(&state, &user, id).await?;
    let school = user.account.school;
    let who = user.actor(addr);
    let t = now();
    let result = match f.op.as_str() {
        "follow_up" => {
            if !may(&user, &facts, Action::Add) {
                return Err(ConsoleError::Forbidden("You cannot add to this record."));
            }
            let on = Some(f.follow_up_on.trim()).filter(|d| !d.is_empty());
            state.store().set_follow_up(school, id, on, &who, t).await
        }
        "keep" => {
            if !may(&user, &facts, Action::Close) {
                return Err(ConsoleError::Forbidden(
                    "Only the DSL team or the headteacher decide on keeping records.",
                ));
            }
            let years = f.years.trim().parse::<i64>().unwrap_or(1);
            state.store().extend_review(school, id, years, &f.reason, &who, t).await
        }
        "ico" => {
            if !may(&user, &facts, Action::Close) {
                return Err(ConsoleError::Forbidden(
                    "Only the DSL team or the headteacher record this decision.",
                ));
            }
            state
                .store()
                .record_ico_decision(school, id, f.report == "yes", &f.reason, &who, t)
                .await
        }
        "close" | "reopen" => {
            if !may(&user, &facts, Action::Close) {
                return Err(ConsoleError::Forbidden(
                    "Only the DSL team or the headteacher close records.",
                ));
            }
            let to = if f.op == "close" { Status::Closed } else { Status::Open };
            state
                .store()
                .set_incident_status(school, id, to, Some(&f.outcome), &who, t)
                .await
                .map(|_| ())
        }
        _ => {
            if !may(&user, &facts, Action::Add) {
                return Err(ConsoleError::Forbidden("You cannot add to this record."));
            }
            let happened_at = if f.happened.trim().is_empty() {
                Some(t)
            } else {
                parse_local(&f.happened)
            };
            let corrects = match f.corrects.trim() {
                "" => Ok(None),
                n => n.parse::<i64>().map(Some).map_err(|_| ()),
            };
            match (happened_at, corrects) {
                (None, _) => Err(store::StoreError::Invalid("The date is not a date and time.".into())),
                (_, Err(())) => Err(store::StoreError::Invalid("The entry corrected is a number.".into())),
                (Some(happened_at), Ok(corrects)) => {
                    let kind = if corrects.is_some() {
                        "correction"
                    } else {
                        f.kind.as_str()
                    };
                    let e = NewEntry {
                        happened_at,
                        kind: kind.to_owned(),
                        action: (!f.action.trim().is_empty() && kind == "action").then(|| f.action.trim().to_owned()),
                        body: f.body.chars().take(20_000).collect(),
                        corrects,
                        reason: (!f.reason.trim().is_empty()).then(|| f.reason.clone()),
                    };
                    state
                        .store()
                        .add_incident_entry(school, id, &e, &who, t)
                        .await
                        .map(|_| ())
                }
            }
        }
    };
    match result {
        Ok(()) => Ok(Redirect::to(&format!("/incidents/{id}")).into_response()),
        Err(store::StoreError::Invalid(why) | store::StoreError::Conflict(why)) => {
            let page = detail_page(&state, &user, addr, csrf, id, Some(why)).await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response())
        }
        Err(e) => Err(e.into()),
    }
}

/// The dashboard's view of the log for `user`: open records they deal with, data breaches
/// waiting for the ICO decision (the headteacher is the SIRO), records past review.
pub(crate) async fn dashboard_summary(
    state: &AppState,
    user: &CurrentUser,
) -> Result<(Option<usize>, Vec<(i64, String, bool)>, usize, Vec<(i64, String)>), ConsoleError> {
    let school = user.account.school;
    let store = state.store();
    let facts = store.incident_facts(school, None).await?;
    let visible: Vec<i64> = facts
        .iter()
        .filter(|f| may(user, f, Action::See))
        .map(|f| f.id)
        .collect();
    let deals = user.authority.roles().iter().any(|r| {
        matches!(
            r,
            Role::Dsl | Role::DeputyDsl | Role::OnlineSafetyLead | Role::Headteacher | Role::ChairOfGovernors
        )
    });
    let open = if deals {
        Some(
            store
                .incident_summaries(school, &visible)
                .await?
                .iter()
                .filter(|s| s.3 != Status::Closed)
                .count(),
        )
    } else {
        None
    };
    let t = now();
    let ico = if user.authority.roles().contains(&Role::Headteacher) {
        store
            .ico_decisions_due(school)
            .await?
            .into_iter()
            .map(|(id, d)| (id, uk_time(d), d < t))
            .collect()
    } else {
        Vec::new()
    };
    let past = if deals {
        store
            .incidents_past_review(school, t)
            .await?
            .iter()
            .filter(|id| visible.contains(id))
            .count()
    } else {
        0
    };
    let today = time::OffsetDateTime::from_unix_timestamp(t + policy::rules::uk_offset(t))
        .map(|d| d.date().to_string())
        .unwrap_or_default();
    let follow_ups = store
        .overdue_follow_ups(school, &today)
        .await?
        .into_iter()
        .filter(|(id, _)| visible.contains(id))
        .collect();
    Ok((open, ico, past, follow_ups))
}

/// Seals a record to the people ticked (`person_ID` fields), or unseals it when none are.
pub(crate) async fn seal(
    State(state): State<AppState>,
    user: CurrentUser,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    Path(id): Path<i64>,
    Form(f): Form<std::collections::HashMap<String, String>>,
) -> Result<Response, ConsoleError> {
    let facts = facts_of(&state, &user, id).await?;
    if !may(&user, &facts, Action::Close) {
        return Err(ConsoleError::Forbidden("Only the DSL or the headteacher seal records."));
    }
    let mut people: Vec<PersonId> = f
        .keys()
        .filter_map(|k| k.strip_prefix("person_").and_then(|v| v.parse().ok()).map(PersonId))
        .collect();
    // Whoever seals it keeps it.
    if !people.is_empty() && !people.contains(&user.account.person) {
        people.push(user.account.person);
    }
    state
        .store()
        .seal_incident(user.account.school, id, &people, &user.actor(addr), now())
        .await?;
    Ok(Redirect::to(&format!("/incidents/{id}")).into_response())
}

/// A person's safeguarding record: every incident and alert about them the reader may
/// see, in time order, and whether they are flagged as monitored. Audited.
pub(crate) async fn person_record(
    State(state): State<AppState>,
    user: CurrentUser,
    CsrfToken(csrf): CsrfToken,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    Path(person): Path<i64>,
) -> Result<Response, ConsoleError> {
    let person = PersonId(person);
    let Some(scope) = crate::monitoring::scope_of(&user.authority) else {
        return Err(ConsoleError::Forbidden("Only the safeguarding team can see this."));
    };
    if person == user.account.person {
        return Err(ConsoleError::Forbidden(
            "Nobody sees the safeguarding record about themself.",
        ));
    }
    let school = user.account.school;
    let store = state.store();
    let p = store.person(school, person).await?;
    let who = user.actor(addr);
    store
        .audit(
            school,
            who.entry(
                now(),
                "person.record.view",
                &format!("person:{}", person.0),
                "{}".into(),
            ),
        )
        .await?;
    let mut items: Vec<(i64, String, String, String)> = Vec::new();
    let about = store.incidents_about(school, person).await?;
    let facts = store.incident_facts(school, None).await?;
    let visible: Vec<i64> = facts
        .iter()
        .filter(|f| about.contains(&f.id) && may(&user, f, Action::See))
        .map(|f| f.id)
        .collect();
    for (id, created, category, status) in store.incident_summaries(school, &visible).await? {
        items.push((
            created,
            format!("/incidents/{id}"),
            format!("Incident {id}: {}", category.label()),
            status.label().to_owned(),
        ));
    }
    if let Some(username) = &p.username {
        for a in store.alerts_about(school, scope, username, &who, now()).await? {
            let label = a
                .category
                .parse::<monitor::Category>()
                .map(|c| c.label().to_owned())
                .unwrap_or_else(|_| "Asked for help".to_owned());
            items.push((
                a.created_at,
                format!("/monitor/alerts/{}", a.id),
                format!("Alert, severity {}: {label}", a.severity),
                a.status.clone(),
            ));
        }
    }
    items.sort_by_key(|i| std::cmp::Reverse(i.0));
    let monitored = store.monitored(school, person).await?;
    let page = crate::templates::PersonRecordPage {
        title: format!("Safeguarding record: {}", p.full_name()),
        csrf,
        nav: Some(nav(&state, &user).await?),
        id: person.0,
        name: p.full_name(),
        group: p.group_name.clone().unwrap_or_default(),
        items: items
            .into_iter()
            .map(|(t, link, what, status)| (uk_time(t), link, what, status))
            .collect(),
        monitored,
        can_flag: user
            .authority
            .roles()
            .iter()
            .any(|r| matches!(r, Role::Dsl | Role::DeputyDsl | Role::Headteacher)),
    };
    Ok(render(&page)?.into_response())
}

/// A pupil's online safety file for a new school: every record about them the reader may
/// export, with its chronology, and the monitoring alerts, as one print-ready HTML file
/// (print to PDF from the browser). Downloaded, never shown inline; audited.
pub(crate) async fn export_record(
    State(state): State<AppState>,
    user: CurrentUser,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    Path(person): Path<i64>,
) -> Result<Response, ConsoleError> {
    let person = PersonId(person);
    let Some(scope) = crate::monitoring::scope_of(&user.authority) else {
        return Err(ConsoleError::Forbidden("Only the safeguarding team can export this."));
    };
    if person == user.account.person {
        return Err(ConsoleError::Forbidden(
            "Nobody exports the safeguarding record about themself.",
        ));
    }
    let school = user.account.school;
    let store = state.store();
    let p = store.person(school, person).await?;
    let who = user.actor(addr);
    let about = store.incidents_about(school, person).await?;
    let facts = store.incident_facts(school, None).await?;
    let mut records = Vec::new();
    for f in facts
        .iter()
        .filter(|f| about.contains(&f.id) && may(&user, f, Action::Export))
    {
        let i = store.read_incident(school, f.id, &who, false, now()).await?;
        let entries = store
            .incident_entries(f.id)
            .await?
            .into_iter()
            .map(|e| {
                (
                    uk_time(e.happened_at),
                    e.author,
                    e.action
                        .as_deref()
                        .map(|a| incidents::action_label(a).to_owned())
                        .unwrap_or(e.kind),
                    e.body,
                )
            })
            .collect();
        records.push(crate::templates::ExportRecord {
            id: i.id,
            category: i.category.label().to_owned(),
            when: uk_time(i.occurred_at),
            status: i.status.label().to_owned(),
            outcome: i.outcome.unwrap_or_default(),
            what: i.what,
            entries,
        });
    }
    let alerts = match &p.username {
        Some(u) => store
            .alerts_about(school, scope, u, &who, now())
            .await?
            .into_iter()
            .map(|a| (uk_time(a.created_at), a.severity, a.category, a.status))
            .collect(),
        None => Vec::new(),
    };
    store
        .audit(
            school,
            who.entry(
                now(),
                "person.record.export",
                &format!("person:{}", person.0),
                format!("{{\"records\":{}}}", records.len()),
            ),
        )
        .await?;
    let page = crate::templates::ExportPage {
        school: store.school(school).await?.name,
        name: p.full_name(),
        born: p.date_of_birth.clone().unwrap_or_default(),
        upn: p.external_id.clone().unwrap_or_default(),
        exported: uk_time(now()),
        by: user.account.full_name(),
        records,
        alerts,
    };
    let html = askama::Template::render(&page).map_err(|e| ConsoleError::Internal(e.to_string()))?;
    let file = safe_name(&format!("online-safety-file {}.html", p.full_name()));
    Ok((
        [
            (axum::http::header::CONTENT_TYPE, "text/html; charset=utf-8".to_owned()),
            (
                axum::http::header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{file}\""),
            ),
            (
                axum::http::header::CONTENT_SECURITY_POLICY,
                "sandbox; default-src 'none'; style-src 'unsafe-inline'".to_owned(),
            ),
        ],
        html,
    )
        .into_response())
}

#[derive(Debug, Deserialize, Default)]
pub(crate) struct FlagForm {
    #[serde(default)]
    reason: String,
    #[serde(default)]
    review_on: String,
}

pub(crate) async fn flag_monitored(
    State(state): State<AppState>,
    user: CurrentUser,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    Path(person): Path<i64>,
    Form(f): Form<FlagForm>,
) -> Result<Response, ConsoleError> {
    let allowed = user
        .authority
        .roles()
        .iter()
        .any(|r| matches!(r, Role::Dsl | Role::DeputyDsl | Role::Headteacher));
    if !allowed || person == user.account.person.0 {
        return Err(ConsoleError::Forbidden("Only the DSL team flags pupils as monitored."));
    }
    match state
        .store()
        .flag_monitored(
            user.account.school,
            PersonId(person),
            &f.reason,
            &f.review_on,
            &user.actor(addr),
            now(),
        )
        .await
    {
        Ok(()) => {}
        Err(store::StoreError::Invalid(_)) => {
            return Err(ConsoleError::BadRequest(
                "Say why the pupil is monitored, and give the date to review it.",
            ));
        }
        Err(e) => return Err(e.into()),
    }
    Ok(Redirect::to(&format!("/people/{person}/record")).into_response())
}

/// The incident category for a monitoring category.
fn category_for_alert(alert_category: &str) -> Category {
    match alert_category {
        "suicide" | "self_harm" | "eating_disorder" => Category::SelfHarmContent,
        "bullying" | "hate" => Category::OnlineBullying,
        "grooming" => Category::Grooming,
        "extremism" => Category::Radicalisation,
        "sexual" | "violence" | "drugs" | "gambling" => Category::HarmfulContent,
        "circumvention" => Category::Circumvention,
        _ => Category::Other,
    }
}

/// Opens a record in the log for an alert the DSL escalated: the person it is about (when
/// on the register), what was written and why it was flagged, linked to the alert.
pub(crate) async fn from_alert(
    state: &AppState,
    user: &CurrentUser,
    a: &store::Alert,
    note: &str,
    who: &store::Actor,
) -> Result<i64, ConsoleError> {
    let school = user.account.school;
    let store = state.store();
    let mut people = Vec::new();
    if let Some(username) = &a.person
        && let Some(account) = store.account_by_username(username).await?
    {
        let p = store.person(school, account.person).await?;
        let involved = involved_of(&p);
        // Who wrote or searched it is the one the concern is for; for staff that makes it a
        // matter for the headteacher, as the alert already was.
        let part = if involved == Involved::Pupil {
            Part::Affected
        } else {
            Part::Responsible
        };
        people.push(NewInvolved {
            person: Some(p.id),
            name: p.full_name(),
            involved,
            part,
        });
    }
    let what = format!(
        "Escalated from monitoring alert {} ({}).\n\nWhat was written: {}\n\nWhy it was flagged: {}{}",
        a.id,
        a.source,
        a.text,
        a.reason,
        if note.trim().is_empty() {
            String::new()
        } else {
            format!("\n\nNote: {}", note.trim())
        }
    );
    let n = NewIncident {
        reported_by: user.account.person,
        occurred_at: a.occurred_at,
        place: "in_school".into(),
        device: String::new(),
        what,
        category: category_for_alert(&a.category),
        people,
        urgent: a.severity >= 5,
        alert_id: Some(a.id),
        retain_other_years: state.config().retain_other_years,
    };
    let id = store.create_incident(school, &n, who, now()).await?;
    route_email(store, &state.config().public_url, school, id, 0, false).await?;
    Ok(id)
}

/// The largest file that can be attached.
pub const MAX_ATTACHMENT: usize = 10 * 1024 * 1024;

/// What a file is, from its first bytes (never from its name or what the browser says):
/// images, PDF, Word and Excel documents, plain text. Anything else — HTML above all,
/// which a browser would run — is refused.
fn sniff(name: &str, bytes: &[u8]) -> Option<&'static str> {
    let lower = name.to_ascii_lowercase();
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some("image/jpeg")
    } else if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
        Some("image/gif")
    } else if bytes.len() > 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        Some("image/webp")
    } else if bytes.starts_with(b"%PDF-") {
        Some("application/pdf")
    } else if bytes.starts_with(b"PK\x03\x04") && lower.ends_with(".docx") {
        Some("application/vnd.openxmlformats-officedocument.wordprocessingml.document")
    } else if bytes.starts_with(b"PK\x03\x04") && lower.ends_with(".xlsx") {
        Some("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    } else if lower.ends_with(".txt") && !bytes.contains(&0) && std::str::from_utf8(bytes).is_ok() {
        let head = String::from_utf8_lossy(&bytes[..bytes.len().min(512)]).to_ascii_lowercase();
        (!head.contains("<html") && !head.contains("<script") && !head.contains("<!doctype")).then_some("text/plain")
    } else {
        None
    }
}

/// A file name safe to put in a header: letters, digits, dots, dashes, spaces.
pub(crate) fn safe_name(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
    let cleaned: String = base
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ' ') {
                c
            } else {
                '_'
            }
        })
        .take(100)
        .collect();
    if cleaned.trim().is_empty() {
        "attachment".to_owned()
    } else {
        cleaned
    }
}

fn attachment_path(dir: &std::path::Path, sha: &str) -> std::path::PathBuf {
    dir.join(&sha[..2]).join(sha)
}

/// Stores an uploaded file under its SHA-256 in the attachments directory, once; returns
/// the hash.
pub(crate) async fn save_file(dir: &std::path::Path, bytes: &[u8]) -> Result<String, ConsoleError> {
    use sha2::{Digest, Sha256};
    let sha = hex::encode(Sha256::digest(bytes));
    let path = attachment_path(dir, &sha);
    if !path.exists() {
        let write = async {
            let parent = path.parent().unwrap_or(dir);
            tokio::fs::create_dir_all(parent).await?;
            // Written whole, then renamed: a file under its hash is always complete.
            let tmp = parent.join(format!(".{sha}.{}", rand::random::<u64>()));
            tokio::fs::write(&tmp, bytes).await?;
            tokio::fs::rename(&tmp, &path).await
        };
        write
            .await
            .map_err(|e| ConsoleError::Internal(format!("attachment not stored: {e}")))?;
    }
    Ok(sha)
}

/// A stored file as a download with its sniffed type, never shown inline: an uploaded file
/// can never run as a page of the console.
pub(crate) async fn file_download(
    dir: &std::path::Path,
    sha: &str,
    name: &str,
    mime: String,
) -> Result<Response, ConsoleError> {
    if sha.len() != 64 || !sha.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ConsoleError::Internal(format!("a stored file has a bad hash: {sha}")));
    }
    let bytes = tokio::fs::read(attachment_path(dir, sha))
        .await
        .map_err(|e| ConsoleError::Internal(format!("stored file {sha} unreadable: {e}")))?;
    let headers = [
        (axum::http::header::CONTENT_TYPE, mime),
        (
            axum::http::header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{}\"", safe_name(name)),
        ),
        (axum::http::header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_owned()),
        (
            axum::http::header::CONTENT_SECURITY_POLICY,
            "sandbox; default-src 'none'".to_owned(),
        ),
        (axum::http::header::CACHE_CONTROL, "no-store".to_owned()),
    ];
    Ok((headers, bytes).into_response())
}

/// The `file` field of an upload: its name, bytes and sniffed type, or why it is refused.
pub(crate) async fn read_upload(
    multipart: &mut axum::extract::Multipart,
) -> Result<(String, Vec<u8>, &'static str), String> {
    let too_big = || format!("The file is over {} MiB.", MAX_ATTACHMENT / 1024 / 1024);
    let mut file: Option<(String, Vec<u8>)> = None;
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => return Err(too_big()),
            Err(_) => return Err("The upload did not arrive whole; try again.".into()),
        };
        if field.name() != Some("file") {
            continue;
        }
        let name = field.file_name().unwrap_or("attachment").to_owned();
        match field.bytes().await {
            Ok(b) => file = Some((name, b.to_vec())),
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => return Err(too_big()),
            Err(_) => return Err("The upload did not arrive whole; try again.".into()),
        }
    }
    let Some((name, bytes)) = file.filter(|(_, b)| !b.is_empty()) else {
        return Err("Choose a file to attach.".into());
    };
    if bytes.len() > MAX_ATTACHMENT {
        return Err(too_big());
    }
    let Some(mime) = sniff(&name, &bytes) else {
        return Err("Attach a picture (PNG, JPEG, GIF, WebP), a PDF, a Word or Excel document, or a text file.".into());
    };
    Ok((name, bytes, mime))
}

pub(crate) async fn attach(
    State(state): State<AppState>,
    user: CurrentUser,
    CsrfToken(csrf): CsrfToken,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    Path(id): Path<i64>,
    mut multipart: axum::extract::Multipart,
) -> Result<Response, ConsoleError> {
    let facts = facts_of(&state, &user, id).await?;
    if !may(&user, &facts, Action::Add) {
        return Err(ConsoleError::Forbidden("You cannot add to this record."));
    }
    let Some(dir) = state.config().attachments.clone() else {
        return Err(ConsoleError::BadRequest("Attachments are not set up on this server."));
    };
    let (name, bytes, mime) = match read_upload(&mut multipart).await {
        Ok(upload) => upload,
        Err(why) => {
            let page = detail_page(&state, &user, addr, csrf, id, Some(why)).await?;
            return Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&page)?).into_response());
        }
    };
    let sha = save_file(&dir, &bytes).await?;
    state
        .store()
        .add_attachment(
            user.account.school,
            id,
            &sha,
            &safe_name(&name),
            mime,
            bytes.len() as i64,
            &user.actor(addr),
            now(),
        )
        .await?;
    Ok(Redirect::to(&format!("/incidents/{id}")).into_response())
}

/// An attachment, always as a download with its sniffed type, never shown inline: an
/// uploaded file can never run as a page of the console.
pub(crate) async fn attachment(
    State(state): State<AppState>,
    user: CurrentUser,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    Path((id, aid)): Path<(i64, i64)>,
) -> Result<Response, ConsoleError> {
    let facts = facts_of(&state, &user, id).await?;
    if !may(&user, &facts, Action::See) {
        return Err(ConsoleError::Forbidden(
            "This record is for the people who deal with it.",
        ));
    }
    let Some(dir) = state.config().attachments.clone() else {
        return Err(ConsoleError::NotFound);
    };
    let store = state.store();
    let (sha, name, mime) = store.attachment(id, aid).await?;
    let download = file_download(&dir, &sha, &name, mime).await?;
    store
        .audit(
            user.account.school,
            user.actor(addr).entry(
                now(),
                "incident.attachment.view",
                &format!("incident:{id}"),
                format!("{{\"attachment\":{aid}}}"),
            ),
        )
        .await?;
    Ok(download)
}

/// Who may read the governors' report (counts only, no names).
fn may_report(user: &CurrentUser) -> Result<(), ConsoleError> {
    let ok = user.authority.roles().iter().any(|r| {
        matches!(
            r,
            Role::Headteacher | Role::Dsl | Role::DeputyDsl | Role::ChairOfGovernors | Role::SafeguardingGovernor
        )
    });
    if ok {
        Ok(())
    } else {
        Err(ConsoleError::Forbidden(
            "The governors' report is for the headteacher, the DSL and the safeguarding governors.",
        ))
    }
}

/// A school term: `2026-autumn` (September to December), `2027-spring` (January to March),
/// `2027-summer` (April to August), as Unix times (UTC midnights) and a label.
fn term(name: &str) -> Option<(i64, i64, String)> {
    let (year, season) = name.split_once('-')?;
    let year: i32 = year.parse().ok()?;
    let (from, to, label) = match season {
        "autumn" => ((year, 9), (year + 1, 1), "Autumn"),
        "spring" => ((year, 1), (year, 4), "Spring"),
        "summer" => ((year, 4), (year, 9), "Summer"),
        _ => return None,
    };
    let at = |(y, m): (i32, u8)| -> Option<i64> {
        let month = time::Month::try_from(m).ok()?;
        Some(
            time::Date::from_calendar_date(y, month, 1)
                .ok()?
                .midnight()
                .assume_utc()
                .unix_timestamp(),
        )
    };
    Some((at(from)?, at(to)?, format!("{label} term {year}")))
}

/// The term `unix` falls in, by name.
fn term_of(unix: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp(unix).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    match u8::from(t.month()) {
        9..=12 => format!("{}-autumn", t.year()),
        1..=3 => format!("{}-spring", t.year()),
        _ => format!("{}-summer", t.year()),
    }
}

#[derive(Debug, Deserialize, Default)]
pub(crate) struct ReportQuery {
    term: Option<String>,
}

async fn term_report(
    state: &AppState,
    user: &CurrentUser,
    q: &ReportQuery,
) -> Result<(String, String, incidents::TermReport), ConsoleError> {
    may_report(user)?;
    let name = q.term.clone().unwrap_or_else(|| term_of(now()));
    let (from, to, label) = term(&name).ok_or(ConsoleError::BadRequest("That is not a term (say 2026-autumn)."))?;
    let rows = state
        .store()
        .incident_report_rows(user.account.school, from, to)
        .await?;
    Ok((name, label, incidents::TermReport::from_rows(&rows)))
}

pub(crate) async fn report(
    State(state): State<AppState>,
    user: CurrentUser,
    CsrfToken(csrf): CsrfToken,
    axum::extract::Query(q): axum::extract::Query<ReportQuery>,
) -> Result<Response, ConsoleError> {
    let (name, label, r) = term_report(&state, &user, &q).await?;
    let bars = |items: &[(String, usize)]| -> Vec<(String, usize, u32)> {
        let max = items.iter().map(|i| i.1).max().unwrap_or(1).max(1);
        items
            .iter()
            .map(|(k, n)| (k.clone(), *n, (*n * 100 / max) as u32))
            .collect()
    };
    let page = crate::templates::ReportPage {
        title: "Governors' report".into(),
        csrf,
        nav: Some(nav(&state, &user).await?),
        term: name,
        label,
        total: r.total,
        closed: r.closed,
        median: r.median_days_to_close.map(|d| format!("{d:.1}")),
        sections: vec![
            ("By category".to_owned(), bars(&r.by_category)),
            ("By key stage".to_owned(), bars(&r.by_group)),
            ("By month".to_owned(), bars(&r.by_month)),
            ("Actions taken".to_owned(), bars(&r.actions)),
        ],
    };
    Ok(render(&page)?.into_response())
}

/// The report as CSV; every export is in the audit log.
pub(crate) async fn report_csv(
    State(state): State<AppState>,
    user: CurrentUser,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    axum::extract::Query(q): axum::extract::Query<ReportQuery>,
) -> Result<Response, ConsoleError> {
    let (name, _, r) = term_report(&state, &user, &q).await?;
    state
        .store()
        .audit(
            user.account.school,
            user.actor(addr)
                .entry(now(), "incident.report.export", &format!("term:{name}"), "{}".into()),
        )
        .await?;
    let disposition = format!("attachment; filename=\"online-safety-{name}.csv\"");
    Ok((
        [
            (axum::http::header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (axum::http::header::CONTENT_DISPOSITION, disposition),
        ],
        r.csv(),
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn people_labels_carry_their_id_and_typed_names_do_not() {
        let l = person_label("Amy", "Ames", "KS3", PersonId(42));
        assert_eq!(person_id_in(&l), Some(PersonId(42)));
        assert_eq!(person_id_in("a boy from another school"), None);
        assert_eq!(person_id_in("odd # name"), None);
    }

    #[test]
    fn files_are_known_by_their_first_bytes_and_html_never_passes() {
        assert_eq!(sniff("a.png", b"\x89PNG\r\n\x1a\n...."), Some("image/png"));
        assert_eq!(sniff("photo.html", b"\xFF\xD8\xFF\xE0"), Some("image/jpeg"));
        assert_eq!(sniff("doc.pdf", b"%PDF-1.7"), Some("application/pdf"));
        assert_eq!(sniff("page.html", b"<html><script>alert(1)</script>"), None);
        assert_eq!(sniff("notes.txt", b"<!DOCTYPE html><p>hi"), None);
        assert_eq!(sniff("notes.txt", b"what she said at break"), Some("text/plain"));
        assert_eq!(sniff("x.exe", b"MZ\x90\x00"), None);
        assert_eq!(safe_name("../../etc/passwd"), "passwd");
        assert_eq!(safe_name("screen shot \"1\".png"), "screen shot _1_.png");
    }

    #[test]
    fn terms_are_named_and_bounded() {
        let (from, to, label) = term("2026-autumn").expect("term");
        assert_eq!(label, "Autumn term 2026");
        assert_eq!(term_of(from), "2026-autumn");
        assert_eq!(term_of(to), "2027-spring");
        assert_eq!(term_of(to - 1), "2026-autumn");
        assert!(term("2026-winter").is_none());
        assert!(term("autumn").is_none());
    }

    #[test]
    fn form_times_are_uk_time() {
        // 24 November: GMT.
        assert_eq!(parse_local("2026-11-24T10:15"), Some(1_795_515_300));
        // 16 June: BST, an hour ahead.
        assert_eq!(parse_local("2026-06-16T10:15"), Some(1_781_601_300));
        assert_eq!(parse_local("yesterday"), None);
    }
}
