//! The registers' records: agreements and signatures, photo consent, training, hardware with
//! loans and disposals, software, confiscated devices and reviews, and the facts the due
//! list is made from.
//!
//! Rules live in `register` (is a signature current, may this device be disposed of, is a
//! review complete); this module stores what happened, in one transaction with its audit
//! entry, and reads it back for those rules. Answers, signatures and sign-offs are only
//! added, never changed, so each register is its own history.

use std::collections::HashMap;
use std::net::IpAddr;

use register::agreements::{Audience, Method, Signed, Standing, Version, YearStart, standing};
use register::assets::{Confiscation, Disposal, DisposalMethod, Hardware, HardwareRow, ImportedHardware};
use register::consent::{Answer, AnswerRow, ImportedAnswer, Purpose, Recorded};
use register::due::{AgreementFact, Facts, TrainingFact};
use register::import::RowError;
use register::people::{PersonId, PersonKind, PersonStatus, SchoolId};
use register::reviews::{ReviewKind, Signer};
use register::training::{Kind, due_on};
use serde_json::json;
use sqlx::any::AnyRow;
use sqlx::{AssertSqlSafe, Row};
use time::Date;

use crate::audit::{Actor, append_on};
use crate::people::{PERSON_COLUMNS, PERSON_FROM, person_from_row};
use crate::{PersonRecord, Result, Store, StoreError};

/// A published version of an agreement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgreementVersion {
    pub id: i64,
    pub audience: Audience,
    pub number: u32,
    pub body: String,
    pub published_on: Date,
    pub requires_resign: bool,
    pub published_by: String,
}

/// A signature as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    pub person: PersonId,
    pub audience: Audience,
    pub version: u32,
    pub signed_on: Date,
    pub method: Method,
    /// The parent or carer who signed for a pupil.
    pub signed_by: String,
    pub recorded_by: String,
}

/// A person and where they stand with one agreement they need (a pupil has two rows: their
/// own and their parents').
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgreementStanding {
    pub person: PersonRecord,
    pub audience: Audience,
    pub standing: Standing,
    pub last: Option<Signature>,
    /// Whether the person's group holds them back from the internet until they sign.
    pub gated: bool,
    pub joined: Date,
}

/// A consent answer as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsentAnswer {
    pub person: PersonId,
    pub purpose: Purpose,
    pub answer: Answer,
    pub given_on: Date,
    pub given_by: String,
    pub recorded_by: String,
    pub recorded_at: i64,
}

/// A completed training.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrainingRecord {
    pub id: i64,
    pub person: PersonId,
    pub kind: Kind,
    pub completed_on: Date,
    pub provider: String,
    pub evidence: String,
}

/// A member of staff's training: what they need and when each is due.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrainingNeed {
    pub person: PersonRecord,
    pub kind: Kind,
    pub last: Option<TrainingRecord>,
    /// `None`: done for good.
    pub due_on: Option<Date>,
}

/// A loan of a device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loan {
    pub id: i64,
    pub person: PersonId,
    pub person_name: String,
    pub lent_on: Date,
    pub due_back: Option<Date>,
    pub returned_on: Option<Date>,
}

/// A device in the hardware register.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HardwareRecord {
    pub id: i64,
    pub hardware: Hardware,
    pub last_seen: Option<i64>,
    /// The loan in force, if it is out.
    pub loan: Option<Loan>,
    pub disposal: Option<Disposal>,
}

/// A software licence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SoftwareRecord {
    pub id: i64,
    pub product: String,
    pub licence: String,
    pub seats: i64,
    pub renews_on: Option<Date>,
}

/// A confiscated device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfiscationRecord {
    pub id: i64,
    pub person: PersonId,
    pub person_name: String,
    pub taken_by: String,
    pub returned_by: Option<String>,
    pub confiscation: Confiscation,
}

/// A review and its sign-offs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReviewRecord {
    pub id: i64,
    pub kind: ReviewKind,
    pub opened_on: Date,
    pub responsible: String,
    pub findings: String,
    pub actions: String,
    /// Numbers of the checklist items looked at.
    pub checked: Vec<usize>,
    pub evidence: String,
    pub completed_on: Option<Date>,
    /// (signer, name, when)
    pub signoffs: Vec<(Signer, String, i64)>,
}

/// What a review's writers change.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReviewText {
    pub responsible: String,
    pub findings: String,
    pub actions: String,
    pub checked: Vec<usize>,
    pub evidence: String,
}

pub(crate) fn parse_day(text: &str) -> Result<Date> {
    register::import::parse_date(text).ok_or_else(|| StoreError::Corrupt(format!("day {text:?}")))
}

fn opt_day(text: Option<String>) -> Result<Option<Date>> {
    text.filter(|t| !t.is_empty()).map(|t| parse_day(&t)).transpose()
}

fn corrupt(e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

/// The school's calendar day (UK local time) at `unix`: what "today" and "on the day it was
/// recorded" mean for the registers, so that 00:30 in British Summer Time is already today.
pub fn uk_day(unix: i64) -> Date {
    let local = unix + policy::rules::uk_offset(unix);
    time::OffsetDateTime::from_unix_timestamp(local)
        .map(|t| t.date())
        .unwrap_or(Date::MIN)
}

fn day_of(unix: i64) -> Date {
    uk_day(unix)
}

fn version_from_row(r: &AnyRow) -> Result<AgreementVersion> {
    let audience: String = r.try_get("audience")?;
    Ok(AgreementVersion {
        id: r.try_get("id")?,
        audience: audience.parse().map_err(corrupt)?,
        number: u32::try_from(r.try_get::<i64, _>("number")?).map_err(corrupt)?,
        body: r.try_get("body")?,
        published_on: parse_day(&r.try_get::<String, _>("published_on")?)?,
        requires_resign: r.try_get::<i64, _>("requires_resign")? != 0,
        published_by: r.try_get("published_by")?,
    })
}

fn signature_from_row(r: &AnyRow) -> Result<Signature> {
    let audience: String = r.try_get("audience")?;
    let method: String = r.try_get("method")?;
    Ok(Signature {
        person: PersonId(r.try_get("person_id")?),
        audience: audience.parse().map_err(corrupt)?,
        version: u32::try_from(r.try_get::<i64, _>("version")?).map_err(corrupt)?,
        signed_on: parse_day(&r.try_get::<String, _>("signed_on")?)?,
        method: method.parse().map_err(corrupt)?,
        signed_by: r.try_get("signed_by")?,
        recorded_by: r.try_get("recorded_by")?,
    })
}

fn hardware_from_row(r: &AnyRow) -> Result<HardwareRecord> {
    let kind: String = r.try_get("kind")?;
    let address: Option<String> = r.try_get("address")?;
    Ok(HardwareRecord {
        id: r.try_get("id")?,
        hardware: Hardware {
            tag: r.try_get("tag")?,
            kind: kind.parse().map_err(corrupt)?,
            make: r.try_get("make")?,
            model: r.try_get("model")?,
            serial: r.try_get("serial")?,
            location: r.try_get("location")?,
            encrypted: r.try_get::<i64, _>("encrypted")? != 0,
            antimalware_current: r.try_get::<i64, _>("antimalware_current")? != 0,
            purchased_on: opt_day(r.try_get("purchased_on")?)?,
            end_of_support: opt_day(r.try_get("end_of_support")?)?,
            address: address
                .filter(|a| !a.is_empty())
                .map(|a| a.parse::<IpAddr>().map_err(corrupt))
                .transpose()?,
            group: r.try_get("group_name")?,
        },
        last_seen: r.try_get("last_seen")?,
        loan: None,
        disposal: None,
    })
}

/// The people a school has now, with the day each record was created.
async fn active_people(conn: &mut sqlx::AnyConnection, school: SchoolId) -> Result<Vec<(PersonRecord, Date)>> {
    let sql = format!(
        "SELECT {PERSON_COLUMNS}, p.created_at FROM {PERSON_FROM} \
         WHERE p.school_id = $1 AND p.status = 'active' ORDER BY p.family_name, p.given_name, p.id"
    );
    let rows = sqlx::query(AssertSqlSafe(sql))
        .bind(school.0)
        .fetch_all(&mut *conn)
        .await?;
    rows.iter()
        .map(|r| Ok((person_from_row(r)?, day_of(r.try_get("created_at")?))))
        .collect()
}

async fn person_on(conn: &mut sqlx::AnyConnection, school: SchoolId, person: PersonId) -> Result<PersonRecord> {
    let sql = format!("SELECT {PERSON_COLUMNS} FROM {PERSON_FROM} WHERE p.school_id = $1 AND p.id = $2");
    let row = sqlx::query(AssertSqlSafe(sql))
        .bind(school.0)
        .bind(person.0)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("person {}", person.0)))?;
    person_from_row(&row)
}

impl Store {
    /// Everyone current at the school, by family name.
    pub async fn current_people(&self, school: SchoolId) -> Result<Vec<PersonRecord>> {
        let mut conn = self.pool.acquire().await?;
        Ok(active_people(&mut conn, school)
            .await?
            .into_iter()
            .map(|(p, _)| p)
            .collect())
    }

    // ----- Agreements -----

    /// Every published version, by audience and number.
    pub async fn agreement_versions(&self, school: SchoolId) -> Result<Vec<AgreementVersion>> {
        let rows = sqlx::query(
            "SELECT id, audience, number, body, published_on, requires_resign, published_by \
             FROM agreement_versions WHERE school_id = $1 ORDER BY audience, number",
        )
        .bind(school.0)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(version_from_row).collect()
    }

    /// Publishes a new version of an audience's agreement: the next number. With
    /// `requires_resign`, everyone who signed an earlier one must sign again from
    /// `published_on`.
    #[allow(clippy::too_many_arguments)]
    pub async fn publish_agreement(
        &self,
        school: SchoolId,
        audience: Audience,
        body: &str,
        published_on: Date,
        requires_resign: bool,
        actor: &Actor,
        now: i64,
    ) -> Result<u32> {
        if body.trim().is_empty() {
            return Err(StoreError::Invalid("the agreement has no text".into()));
        }
        let mut tx = self.write_tx().await?;
        let number: i64 = sqlx::query(
            "SELECT coalesce(max(number), 0) + 1 AS n FROM agreement_versions WHERE school_id = $1 AND audience = $2",
        )
        .bind(school.0)
        .bind(audience.as_str())
        .fetch_one(&mut *tx)
        .await?
        .try_get("n")?;
        sqlx::query(
            "INSERT INTO agreement_versions (school_id, audience, number, body, published_on, requires_resign, \
             published_by, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(school.0)
        .bind(audience.as_str())
        .bind(number)
        .bind(body.trim())
        .bind(published_on.to_string())
        .bind(i64::from(requires_resign))
        .bind(&actor.label)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(|e| {
            crate::conflict(e, || {
                "another version was published at the same moment: look at the page again first".into()
            })
        })?;
        let details = json!({"audience": audience.as_str(), "version": number, "published_on": published_on.to_string(), "requires_resign": requires_resign});
        append_on(
            &mut tx,
            school,
            actor.entry(
                now,
                "agreement.publish",
                &format!("agreement:{}", audience.as_str()),
                details.to_string(),
            ),
        )
        .await?;
        tx.commit().await?;
        u32::try_from(number).map_err(corrupt)
    }

    /// Publishes schoolgate's own text as version 1 for every audience that has none yet.
    pub async fn ensure_default_agreements(&self, school: SchoolId, today: Date, now: i64) -> Result<usize> {
        let have: Vec<Audience> = self
            .agreement_versions(school)
            .await?
            .iter()
            .map(|v| v.audience)
            .collect();
        let actor = Actor {
            label: "schoolgate".into(),
            origin: "defaults".into(),
        };
        let mut added = 0;
        for audience in Audience::ALL {
            if !have.contains(&audience) {
                self.publish_agreement(school, audience, audience.default_text(), today, false, &actor, now)
                    .await?;
                added += 1;
            }
        }
        Ok(added)
    }

    /// Records a person's signature of their own agreement: the latest version of their
    /// audience published by `signed_on`.
    #[allow(clippy::too_many_arguments)]
    pub async fn sign_agreement(
        &self,
        school: SchoolId,
        person: PersonId,
        signed_on: Date,
        method: Method,
        signed_by: &str,
        actor: &Actor,
        now: i64,
    ) -> Result<u32> {
        self.sign_agreement_for(school, person, None, signed_on, method, signed_by, actor, now)
            .await
    }

    /// Records a signature of `audience`'s agreement (the person's own when `None`) for a
    /// person: for a pupil, the parents' agreement too, signed by a named parent or carer.
    #[allow(clippy::too_many_arguments)]
    pub async fn sign_agreement_for(
        &self,
        school: SchoolId,
        person: PersonId,
        audience: Option<Audience>,
        signed_on: Date,
        method: Method,
        signed_by: &str,
        actor: &Actor,
        now: i64,
    ) -> Result<u32> {
        let mut tx = self.write_tx().await?;
        let p = person_on(&mut tx, school, person).await?;
        let audience = audience.unwrap_or_else(|| Audience::for_person(p.kind, p.year));
        if !audience.signable_by(p.kind, p.year) {
            return Err(StoreError::Invalid(format!(
                "{} does not sign the agreement for {}",
                p.full_name(),
                audience.label().to_lowercase()
            )));
        }
        let by_parent = method == Method::ParentOrCarer;
        if by_parent && !(audience.is_pupils() || audience == Audience::ParentsCarers) {
            return Err(StoreError::Invalid("a parent or carer signs only for a pupil".into()));
        }
        if (by_parent || audience.signed_by_another()) && signed_by.trim().is_empty() {
            return Err(StoreError::Invalid("give the name of the person who signed".into()));
        }
        let version: Option<i64> = sqlx::query(
            "SELECT max(number) AS n FROM agreement_versions WHERE school_id = $1 AND audience = $2 AND published_on <= $3",
        )
        .bind(school.0)
        .bind(audience.as_str())
        .bind(signed_on.to_string())
        .fetch_one(&mut *tx)
        .await?
        .try_get("n")?;
        let Some(version) = version else {
            return Err(StoreError::Invalid(format!(
                "no agreement for {} had been published by {signed_on}",
                audience.label()
            )));
        };
        sqlx::query(
            "INSERT INTO agreement_signatures (school_id, person_id, audience, version, signed_on, method, signed_by, \
             recorded_by, recorded_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(school.0)
        .bind(person.0)
        .bind(audience.as_str())
        .bind(version)
        .bind(signed_on.to_string())
        .bind(method.as_str())
        .bind(signed_by.trim())
        .bind(&actor.label)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let details = json!({"audience": audience.as_str(), "version": version, "method": method.as_str(), "signed_on": signed_on.to_string()});
        append_on(
            &mut tx,
            school,
            actor.entry(
                now,
                "agreement.sign",
                &format!("person:{}", person.0),
                details.to_string(),
            ),
        )
        .await?;
        tx.commit().await?;
        u32::try_from(version).map_err(corrupt)
    }

    /// A person's signatures, newest first.
    pub async fn signatures_of(&self, school: SchoolId, person: PersonId) -> Result<Vec<Signature>> {
        let rows = sqlx::query(
            "SELECT person_id, audience, version, signed_on, method, signed_by, recorded_by FROM agreement_signatures \
             WHERE school_id = $1 AND person_id = $2 ORDER BY signed_on DESC, id DESC",
        )
        .bind(school.0)
        .bind(person.0)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(signature_from_row).collect()
    }

    /// The groups whose people must sign before they reach the internet.
    pub async fn agreement_gates(&self, school: SchoolId) -> Result<Vec<String>> {
        let rows = sqlx::query("SELECT group_name FROM agreement_gates WHERE school_id = $1 ORDER BY group_name")
            .bind(school.0)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(|r| Ok(r.try_get("group_name")?)).collect()
    }

    /// Turns the gate on or off for a group; audited, as any change to filtering is.
    pub async fn set_agreement_gate(
        &self,
        school: SchoolId,
        group: &str,
        on: bool,
        actor: &Actor,
        now: i64,
    ) -> Result<()> {
        let mut tx = self.write_tx().await?;
        if on {
            sqlx::query("INSERT INTO agreement_gates (school_id, group_name) VALUES ($1, $2) ON CONFLICT DO NOTHING")
                .bind(school.0)
                .bind(group)
                .execute(&mut *tx)
                .await?;
        } else {
            sqlx::query("DELETE FROM agreement_gates WHERE school_id = $1 AND group_name = $2")
                .bind(school.0)
                .bind(group)
                .execute(&mut *tx)
                .await?;
        }
        let action = if on { "agreement.gate.on" } else { "agreement.gate.off" };
        append_on(
            &mut tx,
            school,
            actor.entry(now, action, &format!("group:{group}"), "{}".into()),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Where every current person stands with their agreement on `today`.
    pub async fn agreement_standings(
        &self,
        school: SchoolId,
        today: Date,
        start: YearStart,
    ) -> Result<Vec<AgreementStanding>> {
        // One connection at a time: holding one while asking for more can exhaust the pool.
        let people = {
            let mut conn = self.pool.acquire().await?;
            active_people(&mut conn, school).await?
        };
        let versions = self.agreement_versions(school).await?;
        let gates = self.agreement_gates(school).await?;
        // The latest signature of each person: rows come newest first, the first one wins.
        let rows = sqlx::query(
            "SELECT person_id, audience, version, signed_on, method, signed_by, recorded_by FROM agreement_signatures \
             WHERE school_id = $1 ORDER BY signed_on DESC, id DESC",
        )
        .bind(school.0)
        .fetch_all(&self.pool)
        .await?;
        let mut latest: HashMap<(PersonId, Audience), Signature> = HashMap::new();
        for r in &rows {
            let s = signature_from_row(r)?;
            latest.entry((s.person, s.audience)).or_insert(s);
        }
        let mut by_audience: HashMap<Audience, Vec<Version>> = HashMap::new();
        for v in versions {
            by_audience.entry(v.audience).or_default().push(Version {
                number: v.number,
                published_on: v.published_on,
                requires_resign: v.requires_resign,
            });
        }
        let mut out = Vec::with_capacity(people.len());
        for (person, joined) in people {
            let gated = person
                .group_name
                .as_deref()
                .is_some_and(|g| gates.iter().any(|x| x.eq_ignore_ascii_case(g)));
            for (i, audience) in Audience::required_of(person.kind, person.year).into_iter().enumerate() {
                let last = latest.remove(&(person.id, audience));
                let signed = last.as_ref().map(|s| Signed {
                    version: s.version,
                    on: s.signed_on,
                });
                let versions = by_audience.get(&audience).map(Vec::as_slice).unwrap_or_default();
                out.push(AgreementStanding {
                    audience,
                    standing: standing(versions, signed, today, start),
                    last,
                    // Only the person's own agreement opens the internet to them.
                    gated: gated && i == 0,
                    joined,
                    person: person.clone(),
                });
            }
        }
        Ok(out)
    }

    /// Whether one person's agreement is current, for the gate at sign-in.
    pub async fn agreement_current(
        &self,
        school: SchoolId,
        person: PersonId,
        today: Date,
        start: YearStart,
    ) -> Result<bool> {
        let p = self.person(school, person).await?;
        let audience = Audience::for_person(p.kind, p.year);
        let versions: Vec<Version> = self
            .agreement_versions(school)
            .await?
            .into_iter()
            .filter(|v| v.audience == audience)
            .map(|v| Version {
                number: v.number,
                published_on: v.published_on,
                requires_resign: v.requires_resign,
            })
            .collect();
        let last = self
            .signatures_of(school, person)
            .await?
            .into_iter()
            .find(|s| s.audience == audience)
            .map(|s| Signed {
                version: s.version,
                on: s.signed_on,
            });
        Ok(standing(&versions, last, today, start).is_current())
    }

    // ----- Photo consent -----

    /// Records a parent's or carer's answer for one purpose; a withdrawal takes effect at once.
    #[allow(clippy::too_many_arguments)]
    pub async fn record_consent(
        &self,
        school: SchoolId,
        person: PersonId,
        purpose: Purpose,
        answer: Answer,
        given_on: Date,
        given_by: &str,
        actor: &Actor,
        now: i64,
    ) -> Result<()> {
        let mut tx = self.write_tx().await?;
        let p = person_on(&mut tx, school, person).await?;
        if p.kind != PersonKind::Pupil {
            return Err(StoreError::Invalid("photo consent is recorded for pupils".into()));
        }
        insert_answer(&mut tx, school, person, purpose, answer, given_on, given_by, actor, now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Every answer recorded for the school's pupils, by pupil.
    pub async fn consent_answers(&self, school: SchoolId) -> Result<HashMap<PersonId, Vec<ConsentAnswer>>> {
        let rows = sqlx::query(
            "SELECT person_id, purpose, answer, given_on, given_by, recorded_by, recorded_at FROM consent_answers \
             WHERE school_id = $1 ORDER BY given_on, recorded_at, id",
        )
        .bind(school.0)
        .fetch_all(&self.pool)
        .await?;
        let mut out: HashMap<PersonId, Vec<ConsentAnswer>> = HashMap::new();
        for r in &rows {
            let purpose: String = r.try_get("purpose")?;
            let answer: String = r.try_get("answer")?;
            let a = ConsentAnswer {
                person: PersonId(r.try_get("person_id")?),
                purpose: purpose.parse().map_err(corrupt)?,
                answer: Answer::parse(&answer).ok_or_else(|| corrupt(format!("answer {answer}")))?,
                given_on: parse_day(&r.try_get::<String, _>("given_on")?)?,
                given_by: r.try_get("given_by")?,
                recorded_by: r.try_get("recorded_by")?,
                recorded_at: r.try_get("recorded_at")?,
            };
            out.entry(a.person).or_default().push(a);
        }
        Ok(out)
    }

    /// Imports a whole consent file in one transaction: every answer, or, if any pupil
    /// cannot be found, nothing and every such line.
    pub async fn import_consents(
        &self,
        school: SchoolId,
        origin: &str,
        answers: &[ImportedAnswer],
        actor: &Actor,
        now: i64,
    ) -> Result<std::result::Result<usize, Vec<RowError>>> {
        let mut tx = self.write_tx().await?;
        let pupils = pupils_by_identifier(&mut tx, school).await?;
        let mut errors = Vec::new();
        let mut found = Vec::with_capacity(answers.len());
        for a in answers {
            match pupils.get(&a.pupil.to_lowercase()) {
                Some(Some(id)) => found.push((*id, a)),
                Some(None) => errors.push(RowError {
                    line: a.line,
                    reason: format!("{} is the identifier of more than one pupil: use the UPN", a.pupil),
                }),
                None => errors.push(RowError {
                    line: a.line,
                    reason: format!("no current pupil has the UPN, ID or username {}", a.pupil),
                }),
            }
        }
        if !errors.is_empty() {
            errors.dedup();
            return Ok(Err(errors));
        }
        for (id, a) in &found {
            insert_answer_quiet(&mut tx, school, *id, a.purpose, a.answer, a.on, &a.given_by, actor, now).await?;
        }
        let details = json!({"file": origin, "answers": found.len()});
        append_on(
            &mut tx,
            school,
            actor.entry(now, "consent.import", "consent", details.to_string()),
        )
        .await?;
        tx.commit().await?;
        Ok(Ok(found.len()))
    }

    /// Every answer, with the pupil's identifier and name, for the CSV export.
    pub async fn consent_export(&self, school: SchoolId) -> Result<Vec<AnswerRow>> {
        let rows = sqlx::query(
            "SELECT c.purpose, c.answer, c.given_on, c.given_by, p.external_id, p.given_name, p.family_name, \
             a.username FROM consent_answers c JOIN people p ON p.id = c.person_id \
             LEFT JOIN accounts a ON a.person_id = p.id \
             WHERE c.school_id = $1 AND p.status = 'active' \
             ORDER BY p.family_name, p.given_name, c.given_on, c.recorded_at, c.id",
        )
        .bind(school.0)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let purpose: String = r.try_get("purpose")?;
                let answer: String = r.try_get("answer")?;
                let external: Option<String> = r.try_get("external_id")?;
                let username: Option<String> = r.try_get("username")?;
                Ok(AnswerRow {
                    pupil: external.or(username).unwrap_or_default(),
                    name: format!(
                        "{} {}",
                        r.try_get::<String, _>("given_name")?,
                        r.try_get::<String, _>("family_name")?
                    ),
                    purpose: purpose.parse().map_err(corrupt)?,
                    answer: Answer::parse(&answer).ok_or_else(|| corrupt(format!("answer {answer}")))?,
                    on: parse_day(&r.try_get::<String, _>("given_on")?)?,
                    given_by: r.try_get("given_by")?,
                })
            })
            .collect()
    }

    // ----- Training -----

    /// Records a completed training.
    #[allow(clippy::too_many_arguments)]
    pub async fn record_training(
        &self,
        school: SchoolId,
        person: PersonId,
        kind: Kind,
        completed_on: Date,
        provider: &str,
        evidence: &str,
        actor: &Actor,
        now: i64,
    ) -> Result<i64> {
        let mut tx = self.write_tx().await?;
        let p = person_on(&mut tx, school, person).await?;
        if !matches!(p.kind, PersonKind::Staff | PersonKind::Governor) {
            return Err(StoreError::Invalid(
                "training is recorded for staff and governors".into(),
            ));
        }
        let id: i64 = sqlx::query(
            "INSERT INTO training_records (school_id, person_id, kind, completed_on, provider, evidence, recorded_by, \
             recorded_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
        )
        .bind(school.0)
        .bind(person.0)
        .bind(kind.as_str())
        .bind(completed_on.to_string())
        .bind(provider.trim())
        .bind(evidence.trim())
        .bind(&actor.label)
        .bind(now)
        .fetch_one(&mut *tx)
        .await?
        .try_get("id")?;
        let details = json!({"kind": kind.as_str(), "completed_on": completed_on.to_string()});
        append_on(
            &mut tx,
            school,
            actor.entry(
                now,
                "training.record",
                &format!("person:{}", person.0),
                details.to_string(),
            ),
        )
        .await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Every training record, newest first.
    pub async fn training_records(&self, school: SchoolId) -> Result<Vec<TrainingRecord>> {
        let rows = sqlx::query(
            "SELECT id, person_id, kind, completed_on, provider, evidence FROM training_records \
             WHERE school_id = $1 ORDER BY completed_on DESC, id DESC",
        )
        .bind(school.0)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let kind: String = r.try_get("kind")?;
                Ok(TrainingRecord {
                    id: r.try_get("id")?,
                    person: PersonId(r.try_get("person_id")?),
                    kind: kind.parse().map_err(corrupt)?,
                    completed_on: parse_day(&r.try_get::<String, _>("completed_on")?)?,
                    provider: r.try_get("provider")?,
                    evidence: r.try_get("evidence")?,
                })
            })
            .collect()
    }

    /// Every current member of staff and governor, each training they need, and when it is due.
    pub async fn training_needs(&self, school: SchoolId) -> Result<Vec<TrainingNeed>> {
        let mut conn = self.pool.acquire().await?;
        let people = active_people(&mut conn, school).await?;
        drop(conn);
        let records = self.training_records(school).await?;
        let mut out = Vec::new();
        for (person, joined) in people {
            for kind in Kind::ALL {
                if !kind.required_of(person.kind, &person.roles) {
                    continue;
                }
                // Records are newest first: the first is the last completion.
                let last = records
                    .iter()
                    .find(|r| r.person == person.id && r.kind == kind)
                    .cloned();
                out.push(TrainingNeed {
                    due_on: due_on(kind, last.as_ref().map(|r| r.completed_on), joined),
                    person: person.clone(),
                    kind,
                    last,
                });
            }
        }
        Ok(out)
    }

    // ----- Hardware, loans, disposals -----

    /// Every device, with its loan in force and its disposal.
    pub async fn hardware(&self, school: SchoolId) -> Result<Vec<HardwareRecord>> {
        let rows = sqlx::query("SELECT * FROM hardware WHERE school_id = $1 ORDER BY disposed, tag")
            .bind(school.0)
            .fetch_all(&self.pool)
            .await?;
        let mut out: Vec<HardwareRecord> = rows.iter().map(hardware_from_row).collect::<Result<_>>()?;
        let loans = self.open_loans(school).await?;
        let disposals = self.disposals(school).await?;
        for h in &mut out {
            h.loan = loans.get(&h.id).cloned();
            h.disposal = disposals.get(&h.id).cloned();
        }
        Ok(out)
    }

    /// One device.
    pub async fn hardware_item(&self, school: SchoolId, id: i64) -> Result<HardwareRecord> {
        let row = sqlx::query("SELECT * FROM hardware WHERE school_id = $1 AND id = $2")
            .bind(school.0)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("device {id}")))?;
        let mut h = hardware_from_row(&row)?;
        h.loan = self.open_loans(school).await?.remove(&id);
        h.disposal = self.disposals(school).await?.remove(&id);
        Ok(h)
    }

    /// Every loan of a device, newest first.
    pub async fn loans_of(&self, school: SchoolId, hardware: i64) -> Result<Vec<Loan>> {
        let rows = sqlx::query(
            "SELECT l.id, l.person_id, l.lent_on, l.due_back, l.returned_on, p.given_name, p.family_name \
             FROM hardware_loans l JOIN people p ON p.id = l.person_id \
             WHERE l.school_id = $1 AND l.hardware_id = $2 ORDER BY l.lent_on DESC, l.id DESC",
        )
        .bind(school.0)
        .bind(hardware)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(loan_from_row).collect()
    }

    async fn open_loans(&self, school: SchoolId) -> Result<HashMap<i64, Loan>> {
        let rows = sqlx::query(
            "SELECT l.id, l.hardware_id, l.person_id, l.lent_on, l.due_back, l.returned_on, p.given_name, \
             p.family_name FROM hardware_loans l JOIN people p ON p.id = l.person_id \
             WHERE l.school_id = $1 AND l.returned_on IS NULL",
        )
        .bind(school.0)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get::<i64, _>("hardware_id")?, loan_from_row(r)?)))
            .collect()
    }

    async fn disposals(&self, school: SchoolId) -> Result<HashMap<i64, Disposal>> {
        let rows = sqlx::query(
            "SELECT hardware_id, disposed_on, method, collected_by, certificate, weee_receipt FROM hardware_disposals \
             WHERE school_id = $1",
        )
        .bind(school.0)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let method: String = r.try_get("method")?;
                Ok((
                    r.try_get::<i64, _>("hardware_id")?,
                    Disposal {
                        on: parse_day(&r.try_get::<String, _>("disposed_on")?)?,
                        method: method.parse::<DisposalMethod>().map_err(corrupt)?,
                        collected_by: r.try_get("collected_by")?,
                        certificate: r.try_get("certificate")?,
                        weee_receipt: r.try_get("weee_receipt")?,
                    },
                ))
            })
            .collect()
    }

    /// Adds a device, or updates the one with the same tag. A disposed device is not changed.
    pub async fn save_hardware(&self, school: SchoolId, h: &Hardware, actor: &Actor, now: i64) -> Result<i64> {
        let mut tx = self.write_tx().await?;
        let (id, _) = upsert_hardware_on(&mut tx, school, h, now).await?;
        let details = json!({"tag": h.tag, "kind": h.kind.as_str()});
        append_on(
            &mut tx,
            school,
            actor.entry(now, "asset.save", &format!("asset:{id}"), details.to_string()),
        )
        .await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Imports a whole hardware file in one transaction: every device added or updated by
    /// tag, loans recorded to the people named, or nothing and every line that cannot be.
    pub async fn import_hardware(
        &self,
        school: SchoolId,
        origin: &str,
        rows: &[ImportedHardware],
        actor: &Actor,
        now: i64,
    ) -> Result<std::result::Result<(usize, usize), Vec<RowError>>> {
        let mut tx = self.write_tx().await?;
        let people = people_by_identifier(&mut tx, school).await?;
        let mut errors = Vec::new();
        // Each row's borrower: a current person, or (an export read back in) the leaver who
        // still has the device, whose loan is left as it is.
        let mut borrowers: Vec<Option<PersonId>> = Vec::with_capacity(rows.len());
        for r in rows {
            let mut borrower = None;
            if let Some(who) = &r.loaned_to {
                match people.get(&who.to_lowercase()) {
                    Some(Some(id)) => borrower = Some(*id),
                    Some(None) => errors.push(RowError {
                        line: r.line,
                        reason: format!("{who} is the identifier of more than one person: use their username"),
                    }),
                    None if !lent_to_leaver(&mut tx, school, &r.hardware.tag, who).await? => errors.push(RowError {
                        line: r.line,
                        reason: format!("nobody current has the identifier or username {who}"),
                    }),
                    None => {}
                }
            }
            borrowers.push(borrower);
            let disposed =
                sqlx::query("SELECT 1 AS one FROM hardware WHERE school_id = $1 AND lower(tag) = $2 AND disposed = 1")
                    .bind(school.0)
                    .bind(r.hardware.tag.to_lowercase())
                    .fetch_optional(&mut *tx)
                    .await?;
            if disposed.is_some() {
                errors.push(RowError {
                    line: r.line,
                    reason: format!("{} has been disposed of and cannot be changed", r.hardware.tag),
                });
            }
        }
        if !errors.is_empty() {
            return Ok(Err(errors));
        }
        let (mut added, mut updated) = (0, 0);
        let today = day_of(now);
        for (r, borrower) in rows.iter().zip(&borrowers) {
            let (id, new) = upsert_hardware_on(&mut tx, school, &r.hardware, now).await?;
            if new {
                added += 1;
            } else {
                updated += 1;
            }
            if let Some(who) = borrower {
                let open: Option<i64> =
                    sqlx::query("SELECT person_id FROM hardware_loans WHERE hardware_id = $1 AND returned_on IS NULL")
                        .bind(id)
                        .fetch_optional(&mut *tx)
                        .await?
                        .map(|r| r.try_get("person_id"))
                        .transpose()?;
                if open != Some(who.0) {
                    close_loan_on(&mut tx, id, today, &actor.label).await?;
                    insert_loan_on(&mut tx, school, id, *who, today, None, &actor.label).await?;
                }
            }
        }
        let details = json!({"file": origin, "added": added, "updated": updated});
        append_on(
            &mut tx,
            school,
            actor.entry(now, "asset.import", "assets", details.to_string()),
        )
        .await?;
        tx.commit().await?;
        Ok(Ok((added, updated)))
    }

    /// The hardware register for the CSV export, disposed devices included.
    pub async fn hardware_export(&self, school: SchoolId) -> Result<Vec<HardwareRow>> {
        let people = self.identifiers(school).await?;
        Ok(self
            .hardware(school)
            .await?
            .into_iter()
            .map(|h| HardwareRow {
                loaned_to: h.loan.as_ref().and_then(|l| people.get(&l.person).cloned()),
                disposed_on: h.disposal.as_ref().map(|d| d.on),
                hardware: h.hardware,
            })
            .collect())
    }

    /// Lends a device to a person. A device already out must be returned first.
    #[allow(clippy::too_many_arguments)]
    pub async fn lend_hardware(
        &self,
        school: SchoolId,
        id: i64,
        person: PersonId,
        lent_on: Date,
        due_back: Option<Date>,
        actor: &Actor,
        now: i64,
    ) -> Result<()> {
        let mut tx = self.write_tx().await?;
        let h = sqlx::query("SELECT disposed FROM hardware WHERE school_id = $1 AND id = $2")
            .bind(school.0)
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("device {id}")))?;
        if h.try_get::<i64, _>("disposed")? != 0 {
            return Err(StoreError::Invalid("the device has been disposed of".into()));
        }
        person_on(&mut tx, school, person).await?;
        let out = sqlx::query("SELECT 1 AS one FROM hardware_loans WHERE hardware_id = $1 AND returned_on IS NULL")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
        if out.is_some() {
            return Err(StoreError::Invalid(
                "the device is already on loan: record its return first".into(),
            ));
        }
        insert_loan_on(&mut tx, school, id, person, lent_on, due_back, &actor.label).await?;
        let details = json!({"person": person.0, "lent_on": lent_on.to_string()});
        append_on(
            &mut tx,
            school,
            actor.entry(now, "asset.lend", &format!("asset:{id}"), details.to_string()),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Records that a device on loan came back.
    pub async fn return_hardware(
        &self,
        school: SchoolId,
        id: i64,
        returned_on: Date,
        actor: &Actor,
        now: i64,
    ) -> Result<()> {
        let mut tx = self.write_tx().await?;
        self.hardware_exists(&mut tx, school, id).await?;
        if close_loan_on(&mut tx, id, returned_on, &actor.label).await? == 0 {
            return Err(StoreError::Invalid("the device is not on loan".into()));
        }
        let details = json!({"returned_on": returned_on.to_string()});
        append_on(
            &mut tx,
            school,
            actor.entry(now, "asset.return", &format!("asset:{id}"), details.to_string()),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Marks a device disposed of, with its disposal record; refused unless the record
    /// satisfies `register::assets::Disposal::check`.
    pub async fn dispose_hardware(
        &self,
        school: SchoolId,
        id: i64,
        d: &Disposal,
        actor: &Actor,
        now: i64,
    ) -> Result<()> {
        let mut tx = self.write_tx().await?;
        let row = sqlx::query("SELECT * FROM hardware WHERE school_id = $1 AND id = $2")
            .bind(school.0)
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("device {id}")))?;
        if row.try_get::<i64, _>("disposed")? != 0 {
            return Err(StoreError::Invalid("the device has already been disposed of".into()));
        }
        let h = hardware_from_row(&row)?;
        let on_loan = sqlx::query("SELECT 1 AS one FROM hardware_loans WHERE hardware_id = $1 AND returned_on IS NULL")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?
            .is_some();
        d.check(h.hardware.kind, on_loan, day_of(now))
            .map_err(|problems| StoreError::Invalid(problems.join("; ")))?;
        sqlx::query(
            "INSERT INTO hardware_disposals (hardware_id, school_id, disposed_on, method, collected_by, certificate, \
             weee_receipt, recorded_by, recorded_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(id)
        .bind(school.0)
        .bind(d.on.to_string())
        .bind(d.method.as_str())
        .bind(d.collected_by.trim())
        .bind(d.certificate.trim())
        .bind(d.weee_receipt.trim())
        .bind(&actor.label)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE hardware SET disposed = 1, address = NULL, updated_at = $2 WHERE id = $1")
            .bind(id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        let details =
            json!({"method": d.method.as_str(), "disposed_on": d.on.to_string(), "certificate": d.certificate});
        append_on(
            &mut tx,
            school,
            actor.entry(now, "asset.dispose", &format!("asset:{id}"), details.to_string()),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn hardware_exists(&self, conn: &mut sqlx::AnyConnection, school: SchoolId, id: i64) -> Result<()> {
        sqlx::query("SELECT 1 AS one FROM hardware WHERE school_id = $1 AND id = $2")
            .bind(school.0)
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?
            .map(|_| ())
            .ok_or_else(|| StoreError::NotFound(format!("device {id}")))
    }

    /// Marks devices seen in the filter log since `since_ms`: each device's last request
    /// becomes its *last seen*. Reads only the recent part of the log (by its time index).
    pub async fn mark_devices_seen(&self, school: SchoolId, since_ms: i64) -> Result<u64> {
        let rows = sqlx::query(
            "SELECT device, max(at_ms) AS at FROM filter_events WHERE school_id = $1 AND at_ms >= $2              AND device IS NOT NULL GROUP BY device",
        )
        .bind(school.0)
        .bind(since_ms)
        .fetch_all(&self.pool)
        .await?;
        let mut seen = 0;
        for r in &rows {
            let device: String = r.try_get("device")?;
            let at: i64 = r.try_get("at")?;
            seen += sqlx::query(
                "UPDATE hardware SET last_seen = $1 WHERE school_id = $2 AND tag = $3                  AND (last_seen IS NULL OR last_seen < $1)",
            )
            .bind(at / 1000)
            .bind(school.0)
            .bind(&device)
            .execute(&self.pool)
            .await?
            .rows_affected();
        }
        Ok(seen)
    }

    /// Leavers who still have a device: the leaver checklist.
    pub async fn leaver_checklist(&self, school: SchoolId) -> Result<Vec<(PersonRecord, HardwareRecord)>> {
        let hardware = self.hardware(school).await?;
        let mut out = Vec::new();
        for h in hardware {
            if let Some(loan) = &h.loan {
                let p = self.person(school, loan.person).await?;
                if p.status == PersonStatus::Leaver {
                    out.push((p, h));
                }
            }
        }
        Ok(out)
    }

    /// Devices with a fixed address, for the DNS server: address → (asset tag, group). A
    /// device lent to a person takes that person's group, held back by the agreement gate
    /// like the person is; otherwise the group set on the device.
    pub async fn devices_with_address(
        &self,
        school: SchoolId,
        today: Date,
        start: YearStart,
    ) -> Result<HashMap<IpAddr, (String, String)>> {
        let standings = self.agreement_standings(school, today, start).await?;
        let mut out = HashMap::new();
        for h in self.hardware(school).await? {
            let Some(address) = h.hardware.address else { continue };
            if h.disposal.is_some() {
                continue;
            }
            let person_group = h.loan.as_ref().and_then(|l| {
                standings.iter().find(|s| s.person.id == l.person).and_then(|s| {
                    let group = s.person.group_name.as_deref()?;
                    Some(policy::gate::group_for(group, s.gated, s.standing.is_current()).to_owned())
                })
            });
            if let Some(group) = person_group.or(h.hardware.group.clone()) {
                out.insert(address, (h.hardware.tag.clone(), group));
            }
        }
        Ok(out)
    }

    // ----- Software -----

    /// Adds a software licence.
    #[allow(clippy::too_many_arguments)]
    pub async fn add_software(
        &self,
        school: SchoolId,
        product: &str,
        licence: &str,
        seats: i64,
        renews_on: Option<Date>,
        actor: &Actor,
        now: i64,
    ) -> Result<i64> {
        if product.trim().is_empty() {
            return Err(StoreError::Invalid("name the product".into()));
        }
        let mut tx = self.write_tx().await?;
        let id: i64 = sqlx::query(
            "INSERT INTO software (school_id, product, licence, seats, renews_on, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        )
        .bind(school.0)
        .bind(product.trim())
        .bind(licence.trim())
        .bind(seats.max(0))
        .bind(renews_on.map(|d| d.to_string()))
        .bind(now)
        .fetch_one(&mut *tx)
        .await?
        .try_get("id")?;
        let details = json!({"product": product.trim()});
        append_on(
            &mut tx,
            school,
            actor.entry(now, "software.add", &format!("software:{id}"), details.to_string()),
        )
        .await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Every software licence, soonest renewal first.
    pub async fn software(&self, school: SchoolId) -> Result<Vec<SoftwareRecord>> {
        let rows = sqlx::query(
            "SELECT id, product, licence, seats, renews_on FROM software WHERE school_id = $1 \
             ORDER BY renews_on IS NULL, renews_on, product",
        )
        .bind(school.0)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(SoftwareRecord {
                    id: r.try_get("id")?,
                    product: r.try_get("product")?,
                    licence: r.try_get("licence")?,
                    seats: r.try_get("seats")?,
                    renews_on: opt_day(r.try_get("renews_on")?)?,
                })
            })
            .collect()
    }

    // ----- Confiscated devices -----

    /// Records a device taken from a pupil.
    pub async fn confiscate(
        &self,
        school: SchoolId,
        person: PersonId,
        item: &str,
        held_where: &str,
        actor: &Actor,
        now: i64,
    ) -> Result<i64> {
        if item.trim().is_empty() || held_where.trim().is_empty() {
            return Err(StoreError::Invalid("say what was taken and where it is held".into()));
        }
        let mut tx = self.write_tx().await?;
        person_on(&mut tx, school, person).await?;
        let id: i64 = sqlx::query(
            "INSERT INTO confiscations (school_id, person_id, item, taken_at, taken_by, held_where) \
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        )
        .bind(school.0)
        .bind(person.0)
        .bind(item.trim())
        .bind(now)
        .bind(&actor.label)
        .bind(held_where.trim())
        .fetch_one(&mut *tx)
        .await?
        .try_get("id")?;
        append_on(
            &mut tx,
            school,
            actor.entry(
                now,
                "confiscation.take",
                &format!("person:{}", person.0),
                json!({"confiscation": id}).to_string(),
            ),
        )
        .await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Records a confiscated device's return.
    pub async fn return_confiscated(&self, school: SchoolId, id: i64, to: &str, actor: &Actor, now: i64) -> Result<()> {
        let mut tx = self.write_tx().await?;
        let row = sqlx::query(
            "SELECT person_id, item, taken_at, held_where, returned_to, returned_at FROM confiscations \
             WHERE id = $1 AND school_id = $2",
        )
        .bind(id)
        .bind(school.0)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("confiscation {id}")))?;
        let person = PersonId(row.try_get("person_id")?);
        let held = Confiscation {
            item: row.try_get("item")?,
            taken_at: row.try_get("taken_at")?,
            held_where: row.try_get("held_where")?,
            returned_to: row.try_get("returned_to")?,
            returned_at: row.try_get("returned_at")?,
        };
        held.check_return(to, now).map_err(StoreError::Invalid)?;
        // Guarded, so that of two returns recorded at once only one counts.
        let done = sqlx::query(
            "UPDATE confiscations SET returned_to = $1, returned_at = $2, returned_by = $3 \
             WHERE id = $4 AND school_id = $5 AND returned_at IS NULL",
        )
        .bind(to.trim())
        .bind(now)
        .bind(&actor.label)
        .bind(id)
        .bind(school.0)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::Invalid("the device has already been returned".into()));
        }
        append_on(
            &mut tx,
            school,
            actor.entry(
                now,
                "confiscation.return",
                &format!("person:{}", person.0),
                json!({"confiscation": id}).to_string(),
            ),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Every confiscation, those still held first.
    pub async fn confiscations(&self, school: SchoolId) -> Result<Vec<ConfiscationRecord>> {
        let rows = sqlx::query(
            "SELECT c.*, p.given_name, p.family_name FROM confiscations c JOIN people p ON p.id = c.person_id \
             WHERE c.school_id = $1 ORDER BY c.returned_at IS NOT NULL, c.taken_at DESC",
        )
        .bind(school.0)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(ConfiscationRecord {
                    id: r.try_get("id")?,
                    person: PersonId(r.try_get("person_id")?),
                    person_name: format!(
                        "{} {}",
                        r.try_get::<String, _>("given_name")?,
                        r.try_get::<String, _>("family_name")?
                    ),
                    taken_by: r.try_get("taken_by")?,
                    returned_by: r.try_get("returned_by")?,
                    confiscation: Confiscation {
                        item: r.try_get("item")?,
                        taken_at: r.try_get("taken_at")?,
                        held_where: r.try_get("held_where")?,
                        returned_to: r.try_get("returned_to")?,
                        returned_at: r.try_get("returned_at")?,
                    },
                })
            })
            .collect()
    }

    // ----- Reviews -----

    /// Opens a review.
    pub async fn open_review(
        &self,
        school: SchoolId,
        kind: ReviewKind,
        opened_on: Date,
        actor: &Actor,
        now: i64,
    ) -> Result<i64> {
        let mut tx = self.write_tx().await?;
        let open = sqlx::query("SELECT id FROM reviews WHERE school_id = $1 AND kind = $2 AND completed_on IS NULL")
            .bind(school.0)
            .bind(kind.as_str())
            .fetch_optional(&mut *tx)
            .await?;
        if open.is_some() {
            return Err(StoreError::Invalid("a review of this is already open".into()));
        }
        let id: i64 = sqlx::query(
            "INSERT INTO reviews (school_id, kind, opened_on, created_at, updated_at) VALUES ($1, $2, $3, $4, $4) RETURNING id",
        )
        .bind(school.0)
        .bind(kind.as_str())
        .bind(opened_on.to_string())
        .bind(now)
        .fetch_one(&mut *tx)
        .await?
        .try_get("id")?;
        append_on(
            &mut tx,
            school,
            actor.entry(
                now,
                "review.open",
                &format!("review:{id}"),
                json!({"kind": kind.as_str()}).to_string(),
            ),
        )
        .await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Saves a review's findings, actions and checklist. A signed-off review is closed to
    /// changes; so is one either signer has signed, which would otherwise sign off words
    /// they never saw.
    pub async fn update_review(
        &self,
        school: SchoolId,
        id: i64,
        text: &ReviewText,
        actor: &Actor,
        now: i64,
    ) -> Result<()> {
        let mut tx = self.write_tx().await?;
        let signed = sqlx::query("SELECT count(*) AS n FROM review_signoffs WHERE review_id = $1")
            .bind(id)
            .fetch_one(&mut *tx)
            .await?
            .try_get::<i64, _>("n")?;
        if signed > 0 {
            return Err(StoreError::Invalid(
                "the review has been signed and can no longer be changed".into(),
            ));
        }
        let checked: Vec<String> = text.checked.iter().map(usize::to_string).collect();
        let done = sqlx::query(
            "UPDATE reviews SET responsible = $1, findings = $2, actions = $3, checked = $4, evidence = $5, \
             updated_at = $6 WHERE id = $7 AND school_id = $8",
        )
        .bind(text.responsible.trim())
        .bind(text.findings.trim())
        .bind(text.actions.trim())
        .bind(checked.join(","))
        .bind(text.evidence.trim())
        .bind(now)
        .bind(id)
        .bind(school.0)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("review {id}")));
        }
        append_on(
            &mut tx,
            school,
            actor.entry(now, "review.update", &format!("review:{id}"), "{}".into()),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Signs a review off as `signer`; the second sign-off completes it.
    pub async fn sign_review(
        &self,
        school: SchoolId,
        id: i64,
        signer: Signer,
        person: PersonId,
        actor: &Actor,
        now: i64,
    ) -> Result<bool> {
        let mut tx = self.write_tx().await?;
        let p = person_on(&mut tx, school, person).await?;
        if !p.roles.contains(&signer.role()) {
            return Err(StoreError::Invalid(format!(
                "only the {} signs as that",
                signer.label().to_lowercase()
            )));
        }
        let review = sqlx::query("SELECT findings FROM reviews WHERE id = $1 AND school_id = $2")
            .bind(id)
            .bind(school.0)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("review {id}")))?;
        if review.try_get::<String, _>("findings")?.trim().is_empty() {
            return Err(StoreError::Invalid(
                "record the findings before signing off (DFE-FM-2.03)".into(),
            ));
        }
        sqlx::query(
            "INSERT INTO review_signoffs (review_id, signer, person_id, name, signed_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(id)
        .bind(signer.as_str())
        .bind(person.0)
        .bind(p.full_name())
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(|e| {
            crate::conflict(e, || {
                format!("the {} has already signed", signer.label().to_lowercase())
            })
        })?;
        let signers: Vec<Signer> = sqlx::query("SELECT signer FROM review_signoffs WHERE review_id = $1")
            .bind(id)
            .fetch_all(&mut *tx)
            .await?
            .iter()
            .map(|r| r.try_get::<String, _>("signer")?.parse::<Signer>().map_err(corrupt))
            .collect::<Result<_>>()?;
        let complete = register::reviews::complete(&signers);
        if complete {
            sqlx::query("UPDATE reviews SET completed_on = $1, updated_at = $2 WHERE id = $3")
                .bind(day_of(now).to_string())
                .bind(now)
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        let details = json!({"signer": signer.as_str(), "complete": complete});
        append_on(
            &mut tx,
            school,
            actor.entry(now, "review.sign", &format!("review:{id}"), details.to_string()),
        )
        .await?;
        tx.commit().await?;
        Ok(complete)
    }

    /// Every review, newest first, with its sign-offs.
    pub async fn reviews(&self, school: SchoolId) -> Result<Vec<ReviewRecord>> {
        let rows = sqlx::query("SELECT * FROM reviews WHERE school_id = $1 ORDER BY opened_on DESC, id DESC")
            .bind(school.0)
            .fetch_all(&self.pool)
            .await?;
        let signs = sqlx::query(
            "SELECT s.review_id, s.signer, s.name, s.signed_at FROM review_signoffs s \
             JOIN reviews r ON r.id = s.review_id WHERE r.school_id = $1 ORDER BY s.signed_at",
        )
        .bind(school.0)
        .fetch_all(&self.pool)
        .await?;
        let mut by_review: HashMap<i64, Vec<(Signer, String, i64)>> = HashMap::new();
        for s in &signs {
            let signer: String = s.try_get("signer")?;
            by_review.entry(s.try_get("review_id")?).or_default().push((
                signer.parse().map_err(corrupt)?,
                s.try_get("name")?,
                s.try_get("signed_at")?,
            ));
        }
        rows.iter()
            .map(|r| {
                let id: i64 = r.try_get("id")?;
                let kind: String = r.try_get("kind")?;
                let checked: String = r.try_get("checked")?;
                Ok(ReviewRecord {
                    id,
                    kind: kind.parse().map_err(corrupt)?,
                    opened_on: parse_day(&r.try_get::<String, _>("opened_on")?)?,
                    responsible: r.try_get("responsible")?,
                    findings: r.try_get("findings")?,
                    actions: r.try_get("actions")?,
                    checked: checked.split(',').filter_map(|n| n.parse().ok()).collect(),
                    evidence: r.try_get("evidence")?,
                    completed_on: opt_day(r.try_get("completed_on")?)?,
                    signoffs: by_review.remove(&id).unwrap_or_default(),
                })
            })
            .collect()
    }

    /// When each kind of review is next due.
    pub async fn reviews_due(
        &self,
        school: SchoolId,
        today: Date,
        start: YearStart,
    ) -> Result<Vec<(ReviewKind, Date)>> {
        let reviews = self.reviews(school).await?;
        Ok(ReviewKind::ALL
            .into_iter()
            .map(|k| {
                let last = reviews
                    .iter()
                    .filter(|r| r.kind == k)
                    .filter_map(|r| r.completed_on)
                    .max();
                (k, register::reviews::next_due(last, today, start))
            })
            .collect())
    }

    // ----- Evidence files -----

    /// Keeps a file as evidence with a register record (`owner`, such as `review:12`).
    #[allow(clippy::too_many_arguments)]
    pub async fn add_register_file(
        &self,
        school: SchoolId,
        owner: &str,
        sha256: &str,
        name: &str,
        mime: &str,
        size: i64,
        actor: &Actor,
        now: i64,
    ) -> Result<i64> {
        let mut tx = self.write_tx().await?;
        let id: i64 = sqlx::query(
            "INSERT INTO register_files (school_id, owner, sha256, name, mime, size, added_at, added_by) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
        )
        .bind(school.0)
        .bind(owner)
        .bind(sha256)
        .bind(name)
        .bind(mime)
        .bind(size)
        .bind(now)
        .bind(&actor.label)
        .fetch_one(&mut *tx)
        .await?
        .try_get("id")?;
        let details = json!({"file": id, "name": name, "size": size});
        append_on(
            &mut tx,
            school,
            actor.entry(now, "register.file.add", owner, details.to_string()),
        )
        .await?;
        tx.commit().await?;
        Ok(id)
    }

    /// The files kept with a record: (id, name, size, added at).
    pub async fn register_files(&self, school: SchoolId, owner: &str) -> Result<Vec<(i64, String, i64, i64)>> {
        let rows = sqlx::query(
            "SELECT id, name, size, added_at FROM register_files WHERE school_id = $1 AND owner = $2 ORDER BY id",
        )
        .bind(school.0)
        .bind(owner)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get("id")?,
                    r.try_get("name")?,
                    r.try_get("size")?,
                    r.try_get("added_at")?,
                ))
            })
            .collect()
    }

    /// The files kept with every record whose owner starts with `prefix` (`training:`):
    /// (owner, id, name).
    pub async fn register_files_under(&self, school: SchoolId, prefix: &str) -> Result<Vec<(String, i64, String)>> {
        let rows = sqlx::query(
            "SELECT owner, id, name FROM register_files WHERE school_id = $1 AND substr(owner, 1, $2) = $3 ORDER BY id",
        )
        .bind(school.0)
        .bind(i64::try_from(prefix.len()).unwrap_or(0))
        .bind(prefix)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("owner")?, r.try_get("id")?, r.try_get("name")?)))
            .collect()
    }

    /// One file: (owner, sha256, name, mime).
    pub async fn register_file(&self, school: SchoolId, id: i64) -> Result<(String, String, String, String)> {
        let r = sqlx::query("SELECT owner, sha256, name, mime FROM register_files WHERE school_id = $1 AND id = $2")
            .bind(school.0)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("file {id}")))?;
        Ok((
            r.try_get("owner")?,
            r.try_get("sha256")?,
            r.try_get("name")?,
            r.try_get("mime")?,
        ))
    }

    // ----- What is due -----

    /// Everything the due list is made from, as of `today`.
    pub async fn due_facts(&self, school: SchoolId, today: Date, start: YearStart) -> Result<Facts> {
        let mut facts = Facts::default();
        let standings = self.agreement_standings(school, today, start).await?;
        let versions = self.agreement_versions(school).await?;
        for s in &standings {
            let version_published = versions
                .iter()
                .filter(|v| v.audience == s.audience && v.requires_resign && v.published_on <= today)
                .map(|v| v.published_on)
                .max();
            facts.agreements.push(AgreementFact {
                audience: s.audience,
                standing: s.standing,
                version_published,
                joined: s.joined,
            });
        }
        let answers = self.consent_answers(school).await?;
        let mut gaps: HashMap<String, (usize, Date)> = HashMap::new();
        for s in standings
            .iter()
            .filter(|s| s.person.kind == PersonKind::Pupil && s.audience.is_pupils())
        {
            let history: Vec<Recorded> = answers
                .get(&s.person.id)
                .map(|a| a.iter().map(ConsentAnswer::recorded).collect())
                .unwrap_or_default();
            let states = register::consent::states(&history, today, start);
            if states.iter().any(|st| st.needs_asking()) {
                let class = s.person.class.clone().unwrap_or_else(|| "No class".into());
                let e = gaps.entry(class).or_insert((0, s.joined));
                e.0 += 1;
                e.1 = e.1.min(s.joined);
            }
        }
        let mut gaps: Vec<(String, usize, Date)> = gaps.into_iter().map(|(c, (n, d))| (c, n, d)).collect();
        gaps.sort();
        facts.consent_gaps = gaps;
        for need in self.training_needs(school).await? {
            if let Some(due) = need.due_on {
                facts.training.push(TrainingFact {
                    person: need.person.full_name(),
                    person_id: need.person.id.0,
                    kind: need.kind,
                    due_on: due,
                });
            }
        }
        facts.reviews = self.reviews_due(school, today, start).await?;
        // Counted, never named: the due list is seen by people who may not open the records.
        let horizon = unix_of(today + time::Duration::days(register::due::WINDOW_DAYS));
        for (from, to, soon) in [(i64::MIN, unix_of(today), false), (unix_of(today), horizon, true)] {
            let row = sqlx::query(
                "SELECT count(*) AS n, min(review_at) AS earliest FROM incidents \
                 WHERE school_id = $1 AND review_at >= $2 AND review_at < $3",
            )
            .bind(school.0)
            .bind(from)
            .bind(to)
            .fetch_one(&self.pool)
            .await?;
            let n: i64 = row.try_get("n")?;
            if let (true, Some(earliest)) = (n > 0, row.try_get::<Option<i64>, _>("earliest")?) {
                let found = Some((usize::try_from(n).unwrap_or(0), day_of(earliest)));
                if soon {
                    facts.retention_soon = found;
                } else {
                    facts.retention = found;
                }
            }
        }
        facts.software = self
            .software(school)
            .await?
            .into_iter()
            .filter_map(|s| s.renews_on.map(|d| (s.id, s.product, d)))
            .collect();
        for h in self.hardware(school).await? {
            if h.disposal.is_some() {
                continue;
            }
            if let Some(eos) = h.hardware.end_of_support {
                facts.end_of_support.push((h.id, h.hardware.tag.clone(), eos));
            }
            if let Some(loan) = &h.loan
                && let Some(back) = loan.due_back
            {
                facts
                    .loans
                    .push((h.id, h.hardware.tag.clone(), loan.person_name.clone(), back));
            }
        }
        Ok(facts)
    }

    /// Each person's identifier for exports: MIS identifier, else username.
    async fn identifiers(&self, school: SchoolId) -> Result<HashMap<PersonId, String>> {
        let rows = sqlx::query(
            "SELECT p.id, p.external_id, a.username FROM people p LEFT JOIN accounts a ON a.person_id = p.id \
             WHERE p.school_id = $1",
        )
        .bind(school.0)
        .fetch_all(&self.pool)
        .await?;
        let mut out = HashMap::new();
        for r in &rows {
            let external: Option<String> = r.try_get("external_id")?;
            let username: Option<String> = r.try_get("username")?;
            if let Some(id) = external.or(username) {
                out.insert(PersonId(r.try_get("id")?), id);
            }
        }
        Ok(out)
    }
}

impl ConsentAnswer {
    /// The answer as the consent rules read it.
    pub fn recorded(&self) -> Recorded {
        Recorded {
            purpose: self.purpose,
            answer: self.answer,
            on: self.given_on,
            recorded_at: self.recorded_at,
        }
    }
}

fn unix_of(day: Date) -> i64 {
    day.midnight().assume_utc().unix_timestamp()
}

fn loan_from_row(r: &AnyRow) -> Result<Loan> {
    Ok(Loan {
        id: r.try_get("id")?,
        person: PersonId(r.try_get("person_id")?),
        person_name: format!(
            "{} {}",
            r.try_get::<String, _>("given_name")?,
            r.try_get::<String, _>("family_name")?
        ),
        lent_on: parse_day(&r.try_get::<String, _>("lent_on")?)?,
        due_back: opt_day(r.try_get("due_back")?)?,
        returned_on: opt_day(r.try_get("returned_on")?)?,
    })
}

#[allow(clippy::too_many_arguments)]
async fn insert_answer(
    conn: &mut sqlx::AnyConnection,
    school: SchoolId,
    person: PersonId,
    purpose: Purpose,
    answer: Answer,
    given_on: Date,
    given_by: &str,
    actor: &Actor,
    now: i64,
) -> Result<()> {
    insert_answer_quiet(conn, school, person, purpose, answer, given_on, given_by, actor, now).await?;
    let details = json!({"purpose": purpose.as_str(), "answer": answer.as_str(), "given_on": given_on.to_string()});
    append_on(
        conn,
        school,
        actor.entry(
            now,
            "consent.record",
            &format!("person:{}", person.0),
            details.to_string(),
        ),
    )
    .await?;
    Ok(())
}

#[allow(clippy::too_many_arguments)]
async fn insert_answer_quiet(
    conn: &mut sqlx::AnyConnection,
    school: SchoolId,
    person: PersonId,
    purpose: Purpose,
    answer: Answer,
    given_on: Date,
    given_by: &str,
    actor: &Actor,
    now: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO consent_answers (school_id, person_id, purpose, answer, given_on, given_by, recorded_by, \
         recorded_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(school.0)
    .bind(person.0)
    .bind(purpose.as_str())
    .bind(answer.as_str())
    .bind(given_on.to_string())
    .bind(given_by.trim())
    .bind(&actor.label)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Current people by lower-case MIS identifier and username.
async fn people_by_identifier(
    conn: &mut sqlx::AnyConnection,
    school: SchoolId,
) -> Result<HashMap<String, Option<PersonId>>> {
    identifier_map(conn, school, false).await
}

/// Current pupils by lower-case UPN, MIS identifier and username.
async fn pupils_by_identifier(
    conn: &mut sqlx::AnyConnection,
    school: SchoolId,
) -> Result<HashMap<String, Option<PersonId>>> {
    identifier_map(conn, school, true).await
}

/// Whether the device tagged `tag` is on loan to a leaver known by `who`.
async fn lent_to_leaver(conn: &mut sqlx::AnyConnection, school: SchoolId, tag: &str, who: &str) -> Result<bool> {
    let row = sqlx::query(
        "SELECT 1 AS one FROM hardware h JOIN hardware_loans l ON l.hardware_id = h.id AND l.returned_on IS NULL \
         JOIN people p ON p.id = l.person_id LEFT JOIN accounts a ON a.person_id = p.id \
         WHERE h.school_id = $1 AND lower(h.tag) = $2 AND p.status = 'leaver' \
         AND (lower(coalesce(p.external_id, '')) = $3 OR lower(coalesce(a.username, '')) = $3)",
    )
    .bind(school.0)
    .bind(tag.to_lowercase())
    .bind(who.to_lowercase())
    .fetch_optional(&mut *conn)
    .await?;
    Ok(row.is_some())
}

/// Current people by lower-case identifier and username; `None` where a key names more than
/// one person (a pupil and a member of staff may share an MIS number), so that nobody is
/// picked by chance.
async fn identifier_map(
    conn: &mut sqlx::AnyConnection,
    school: SchoolId,
    pupils_only: bool,
) -> Result<HashMap<String, Option<PersonId>>> {
    let rows = sqlx::query(
        "SELECT p.id, p.external_id, a.username FROM people p LEFT JOIN accounts a ON a.person_id = p.id \
         WHERE p.school_id = $1 AND p.status = 'active' AND ($2 = 0 OR p.kind = 'pupil')",
    )
    .bind(school.0)
    .bind(i64::from(pupils_only))
    .fetch_all(&mut *conn)
    .await?;
    let mut out = HashMap::new();
    for r in &rows {
        let id = PersonId(r.try_get("id")?);
        for key in [r.try_get::<Option<String>, _>("external_id")?, r.try_get("username")?]
            .into_iter()
            .flatten()
        {
            out.entry(key.to_lowercase())
                .and_modify(|known: &mut Option<PersonId>| {
                    if *known != Some(id) {
                        *known = None;
                    }
                })
                .or_insert(Some(id));
        }
    }
    Ok(out)
}

async fn upsert_hardware_on(
    conn: &mut sqlx::AnyConnection,
    school: SchoolId,
    h: &Hardware,
    now: i64,
) -> Result<(i64, bool)> {
    let existing = sqlx::query("SELECT id, disposed FROM hardware WHERE school_id = $1 AND lower(tag) = $2")
        .bind(school.0)
        .bind(h.tag.to_lowercase())
        .fetch_optional(&mut *conn)
        .await?;
    let day = |d: Option<Date>| d.map(|d| d.to_string());
    match existing {
        Some(row) => {
            let id: i64 = row.try_get("id")?;
            if row.try_get::<i64, _>("disposed")? != 0 {
                return Err(StoreError::Invalid(format!("{} has been disposed of", h.tag)));
            }
            sqlx::query(
                "UPDATE hardware SET kind = $1, make = $2, model = $3, serial = $4, location = $5, encrypted = $6, \
                 antimalware_current = $7, purchased_on = $8, end_of_support = $9, address = $10, group_name = $11, \
                 updated_at = $12 WHERE id = $13",
            )
            .bind(h.kind.as_str())
            .bind(&h.make)
            .bind(&h.model)
            .bind(&h.serial)
            .bind(&h.location)
            .bind(i64::from(h.encrypted))
            .bind(i64::from(h.antimalware_current))
            .bind(day(h.purchased_on))
            .bind(day(h.end_of_support))
            .bind(h.address.map(|a| a.to_string()))
            .bind(h.group.clone())
            .bind(now)
            .bind(id)
            .execute(&mut *conn)
            .await?;
            Ok((id, false))
        }
        None => {
            let id: i64 = sqlx::query(
                "INSERT INTO hardware (school_id, tag, kind, make, model, serial, location, encrypted, \
                 antimalware_current, purchased_on, end_of_support, address, group_name, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $14) RETURNING id",
            )
            .bind(school.0)
            .bind(h.tag.trim())
            .bind(h.kind.as_str())
            .bind(&h.make)
            .bind(&h.model)
            .bind(&h.serial)
            .bind(&h.location)
            .bind(i64::from(h.encrypted))
            .bind(i64::from(h.antimalware_current))
            .bind(day(h.purchased_on))
            .bind(day(h.end_of_support))
            .bind(h.address.map(|a| a.to_string()))
            .bind(h.group.clone())
            .bind(now)
            .fetch_one(&mut *conn)
            .await?
            .try_get("id")?;
            Ok((id, true))
        }
    }
}

async fn insert_loan_on(
    conn: &mut sqlx::AnyConnection,
    school: SchoolId,
    hardware: i64,
    person: PersonId,
    lent_on: Date,
    due_back: Option<Date>,
    by: &str,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO hardware_loans (school_id, hardware_id, person_id, lent_on, due_back, lent_by) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(school.0)
    .bind(hardware)
    .bind(person.0)
    .bind(lent_on.to_string())
    .bind(due_back.map(|d| d.to_string()))
    .bind(by)
    .execute(&mut *conn)
    .await
    .map_err(|e| crate::conflict(e, || "the device is already on loan: record its return first".into()))?;
    Ok(())
}

async fn close_loan_on(conn: &mut sqlx::AnyConnection, hardware: i64, on: Date, by: &str) -> Result<u64> {
    Ok(sqlx::query(
        "UPDATE hardware_loans SET returned_on = $1, returned_by = $2 WHERE hardware_id = $3 AND returned_on IS NULL",
    )
    .bind(on.to_string())
    .bind(by)
    .bind(hardware)
    .execute(&mut *conn)
    .await?
    .rows_affected())
}
