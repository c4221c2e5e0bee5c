//! People: creating, finding and importing them.

use std::collections::{HashMap, HashSet};

use register::import::{ImportBatch, ImportedPerson};
use register::people::{GroupId, GroupKind, PersonId, PersonKind, PersonStatus, SchoolId, YearGroup};
use register::roles::{Permission, Role};
use serde_json::json;
use sqlx::any::AnyRow;
use sqlx::{AssertSqlSafe, Row};

use crate::audit::{Actor, append_on};
use crate::schools::ensure_group_on;
use crate::{Result, Store, StoreError, join_names, split_names};

/// A person to add.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPerson {
    pub kind: PersonKind,
    pub external_id: Option<String>,
    pub given_name: String,
    pub family_name: String,
    pub year: Option<YearGroup>,
    pub email: Option<String>,
    pub date_of_birth: Option<String>,
    pub class: Option<String>,
    pub job_title: Option<String>,
    pub roles: Vec<Role>,
    pub permissions: Vec<Permission>,
    /// For visitors: when their access ends (Unix seconds).
    pub expires_at: Option<i64>,
}

impl NewPerson {
    /// The group a person of this kind and year belongs to: the key stage for pupils.
    pub fn default_group(&self) -> (&'static str, GroupKind) {
        default_group(self.kind, self.year)
    }
}

fn default_group(kind: PersonKind, year: Option<YearGroup>) -> (&'static str, GroupKind) {
    match (kind, year) {
        (PersonKind::Pupil, Some(y)) => (y.key_stage().group_name(), GroupKind::Pupil),
        (PersonKind::Pupil, None) => ("Pupils", GroupKind::Pupil),
        (PersonKind::Staff | PersonKind::Governor, _) => ("Staff", GroupKind::Staff),
        (PersonKind::Visitor, _) => ("Visitors", GroupKind::Visitor),
    }
}

/// A person as stored, with their group's name and their username if they have an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonRecord {
    pub id: PersonId,
    pub school: SchoolId,
    pub kind: PersonKind,
    pub external_id: Option<String>,
    pub given_name: String,
    pub family_name: String,
    pub year: Option<YearGroup>,
    pub group: Option<GroupId>,
    pub group_name: Option<String>,
    pub email: Option<String>,
    pub date_of_birth: Option<String>,
    pub class: Option<String>,
    pub job_title: Option<String>,
    pub roles: Vec<Role>,
    pub permissions: Vec<Permission>,
    pub status: PersonStatus,
    pub expires_at: Option<i64>,
    pub username: Option<String>,
}

impl PersonRecord {
    pub fn full_name(&self) -> String {
        format!("{} {}", self.given_name, self.family_name)
    }
}

/// A group with how many active people are in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupSummary {
    pub id: GroupId,
    pub name: String,
    pub kind: GroupKind,
    pub people: i64,
}

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportSummary {
    pub added: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub leavers: u64,
}

pub(crate) const PERSON_COLUMNS: &str = "p.id, p.school_id, p.kind, p.external_id, p.given_name, p.family_name, p.year_group, \
    p.group_id, g.name AS group_name, p.email, p.date_of_birth, p.class, p.job_title, p.roles, p.permissions, \
    p.status, p.expires_at, a.username";
pub(crate) const PERSON_FROM: &str =
    "people p LEFT JOIN groups g ON g.id = p.group_id LEFT JOIN accounts a ON a.person_id = p.id";

impl Store {
    /// Adds a person to their default group, with an audit entry.
    pub async fn insert_person(
        &self,
        school: SchoolId,
        person: &NewPerson,
        actor: &Actor,
        now: i64,
    ) -> Result<PersonId> {
        let mut tx = self.write_tx().await?;
        let id = insert_person_on(&mut tx, school, person, now).await?;
        append_on(
            &mut tx,
            school,
            actor.entry(now, "person.create", &format!("person:{}", id.0), describe_new(person)),
        )
        .await?;
        tx.commit().await?;
        Ok(id)
    }

    pub async fn person(&self, school: SchoolId, id: PersonId) -> Result<PersonRecord> {
        let sql = format!("SELECT {PERSON_COLUMNS} FROM {PERSON_FROM} WHERE p.school_id = $1 AND p.id = $2");
        let row = sqlx::query(AssertSqlSafe(sql.as_str()))
            .bind(school.0)
            .bind(id.0)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref()
            .map(person_from_row)
            .transpose()?
            .ok_or_else(|| StoreError::NotFound(format!("person {}", id.0)))
    }

    /// People whose name, identifier, email or username contains `query` (any case),
    /// active people first, by surname. Returns one page and the number of matches.
    pub async fn search_people(
        &self,
        school: SchoolId,
        query: &str,
        include_leavers: bool,
        limit: i64,
        offset: i64,
    ) -> Result<(Vec<PersonRecord>, i64)> {
        let pattern = format!("%{}%", escape_like(&query.trim().to_lowercase()));
        let filter = "p.school_id = $1 AND ($2 = 1 OR p.status = 'active') AND ( \
            lower(p.given_name || ' ' || p.family_name) LIKE $3 ESCAPE '\\' \
            OR lower(p.family_name || ' ' || p.given_name) LIKE $3 ESCAPE '\\' \
            OR lower(coalesce(p.external_id, '')) LIKE $3 ESCAPE '\\' \
            OR lower(coalesce(p.email, '')) LIKE $3 ESCAPE '\\' \
            OR lower(coalesce(a.username, '')) LIKE $3 ESCAPE '\\' \
            OR lower(coalesce(g.name, '')) LIKE $3 ESCAPE '\\')";
        let leavers = i64::from(include_leavers);
        let total: i64 = sqlx::query(AssertSqlSafe(format!(
            "SELECT count(*) AS n FROM {PERSON_FROM} WHERE {filter}"
        )))
        .bind(school.0)
        .bind(leavers)
        .bind(&pattern)
        .fetch_one(&self.pool)
        .await?
        .try_get("n")?;
        let sql = format!(
            "SELECT {PERSON_COLUMNS} FROM {PERSON_FROM} WHERE {filter} \
             ORDER BY p.status, p.family_name, p.given_name, p.id LIMIT $4 OFFSET $5"
        );
        let rows = sqlx::query(AssertSqlSafe(sql.as_str()))
            .bind(school.0)
            .bind(leavers)
            .bind(&pattern)
            .bind(limit)
            .bind(offset)
            .fetch_all(&self.pool)
            .await?;
        let people = rows.iter().map(person_from_row).collect::<Result<_>>()?;
        Ok((people, total))
    }

    /// Every group of the school with its count of active people, in a fixed order.
    pub async fn groups_with_counts(&self, school: SchoolId) -> Result<Vec<GroupSummary>> {
        let rows = sqlx::query(
            "SELECT g.id, g.name, g.kind, \
             (SELECT count(*) FROM people p WHERE p.group_id = g.id AND p.status = 'active') AS people \
             FROM groups g WHERE g.school_id = $1 ORDER BY g.id",
        )
        .bind(school.0)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let kind: String = r.try_get("kind")?;
                Ok(GroupSummary {
                    id: GroupId(r.try_get("id")?),
                    name: r.try_get("name")?,
                    kind: kind
                        .parse()
                        .map_err(|e: register::people::UnknownValue| StoreError::Corrupt(e.to_string()))?,
                    people: r.try_get("people")?,
                })
            })
            .collect()
    }

    /// Imports a whole MIS export in one transaction: adds new people, updates known ones
    /// by identifier, and marks as leavers the active people of the file's kinds that it no
    /// longer lists (their accounts are disabled: DFE-CS-06). Every change is audited.
    ///
    /// A file that would make more than a quarter of a kind (and more than ten people)
    /// leavers is refused unless `allow_many_leavers`: that is what importing a list of new
    /// starters by mistake looks like, and it would lock most of the school out.
    pub async fn import_people(
        &self,
        school: SchoolId,
        origin: &str,
        batch: &ImportBatch,
        actor: &Actor,
        now: i64,
        allow_many_leavers: bool,
    ) -> Result<ImportSummary> {
        let mut tx = self.write_tx().await?;
        let mut summary = ImportSummary::default();
        let mut listed: HashSet<(PersonKind, String)> = HashSet::new();
        let mut added: HashMap<PersonKind, u64> = HashMap::new();
        for p in &batch.people {
            listed.insert((p.kind, p.identifier.clone()));
            let existing = sqlx::query(AssertSqlSafe(format!(
                "SELECT {PERSON_COLUMNS} FROM {PERSON_FROM} WHERE p.school_id = $1 AND p.kind = $2 AND p.external_id = $3"
            )))
            .bind(school.0)
            .bind(p.kind.as_str())
            .bind(&p.identifier)
            .fetch_optional(&mut *tx)
            .await?;
            match existing.as_ref().map(person_from_row).transpose()? {
                None => {
                    let new = new_person_from_import(p);
                    let id = insert_person_on(&mut tx, school, &new, now).await?;
                    let entry = actor.entry(now, "person.create", &format!("person:{}", id.0), describe_new(&new));
                    append_on(&mut tx, school, entry).await?;
                    summary.added += 1;
                    *added.entry(p.kind).or_default() += 1;
                }
                Some(old) => {
                    if update_from_import(&mut tx, school, &old, p, actor, now).await? {
                        summary.updated += 1;
                    } else {
                        summary.unchanged += 1;
                    }
                }
            }
        }
        for kind in &batch.kinds {
            let rows = sqlx::query(AssertSqlSafe(format!(
                "SELECT {PERSON_COLUMNS} FROM {PERSON_FROM} WHERE p.school_id = $1 AND p.kind = $2 AND p.status = 'active' \
                 AND p.external_id IS NOT NULL"
            )))
            .bind(school.0)
            .bind(kind.as_str())
            .fetch_all(&mut *tx)
            .await?;
            // Those this import has just added are not counted among those the school had.
            let known = rows.len() as u64 - added.get(kind).copied().unwrap_or(0);
            let mut leavers_of_kind = 0;
            for row in &rows {
                let old = person_from_row(row)?;
                let Some(ext) = &old.external_id else {
                    continue;
                };
                if listed.contains(&(*kind, ext.clone())) {
                    continue;
                }
                sqlx::query("UPDATE people SET status = 'leaver', left_at = $3, updated_at = $3 WHERE school_id = $1 AND id = $2")
                    .bind(school.0)
                    .bind(old.id.0)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query("UPDATE accounts SET disabled = 1 WHERE school_id = $1 AND person_id = $2")
                    .bind(school.0)
                    .bind(old.id.0)
                    .execute(&mut *tx)
                    .await?;
                let details = json!({"reason": format!("not in {origin}"), "name": old.full_name()}).to_string();
                append_on(
                    &mut tx,
                    school,
                    actor.entry(now, "person.leaver", &format!("person:{}", old.id.0), details),
                )
                .await?;
                summary.leavers += 1;
                leavers_of_kind += 1;
            }
            if !allow_many_leavers && leavers_of_kind > 10 && leavers_of_kind * 4 > known {
                return Err(StoreError::Conflict(format!(
                    "{origin} does not list {leavers_of_kind} of the {known} {kind}s schoolgate knows, so they would all be \
                     marked as leavers. If the file is the full export and they have really left, import it again allowing \
                     many leavers; nothing was changed",
                    kind = kind.as_str()
                )));
            }
        }
        let details = json!({
            "file": origin, "rows": batch.people.len(), "added": summary.added, "updated": summary.updated,
            "unchanged": summary.unchanged, "leavers": summary.leavers,
        })
        .to_string();
        append_on(&mut tx, school, actor.entry(now, "people.import", "people", details)).await?;
        tx.commit().await?;
        Ok(summary)
    }
}

fn escape_like(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn new_person_from_import(p: &ImportedPerson) -> NewPerson {
    NewPerson {
        kind: p.kind,
        external_id: Some(p.identifier.clone()),
        given_name: p.given_name.clone(),
        family_name: p.family_name.clone(),
        year: p.year,
        email: p.email.clone(),
        date_of_birth: p.date_of_birth.map(|d| d.to_string()),
        class: p.class.clone(),
        job_title: p.job_title.clone(),
        roles: p.roles.clone().unwrap_or_default(),
        permissions: Vec::new(),
        expires_at: None,
    }
}

pub(crate) async fn insert_person_on(
    conn: &mut sqlx::AnyConnection,
    school: SchoolId,
    p: &NewPerson,
    now: i64,
) -> Result<PersonId> {
    let (group_name, group_kind) = p.default_group();
    let group = ensure_group_on(conn, school, group_name, group_kind).await?;
    let row = sqlx::query(
        "INSERT INTO people (school_id, kind, external_id, given_name, family_name, year_group, group_id, email, \
         date_of_birth, class, job_title, roles, permissions, status, expires_at, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, 'active', $14, $15, $15) RETURNING id",
    )
    .bind(school.0)
    .bind(p.kind.as_str())
    .bind(&p.external_id)
    .bind(&p.given_name)
    .bind(&p.family_name)
    .bind(p.year.map(YearGroup::number))
    .bind(group.0)
    .bind(&p.email)
    .bind(&p.date_of_birth)
    .bind(&p.class)
    .bind(&p.job_title)
    .bind(join_names(p.roles.iter().map(|r| r.as_str())))
    .bind(join_names(p.permissions.iter().map(|r| r.as_str())))
    .bind(p.expires_at)
    .bind(now)
    .fetch_one(&mut *conn)
    .await
    .map_err(|e| {
        crate::conflict(e, || {
            format!(
                "a {} with identifier {:?} already exists",
                p.kind.as_str(),
                p.external_id
            )
        })
    })?;
    Ok(PersonId(row.try_get("id")?))
}

/// Applies an import row to a known person; returns whether anything changed.
async fn update_from_import(
    conn: &mut sqlx::AnyConnection,
    school: SchoolId,
    old: &PersonRecord,
    p: &ImportedPerson,
    actor: &Actor,
    now: i64,
) -> Result<bool> {
    let roles = p.roles.clone().unwrap_or_else(|| old.roles.clone());
    let dob = p
        .date_of_birth
        .map(|d| d.to_string())
        .or_else(|| old.date_of_birth.clone());
    let (group_name, group_kind) = default_group(p.kind, p.year);
    let changed = old.given_name != p.given_name
        || old.family_name != p.family_name
        || old.year != p.year
        || old.email != p.email
        || old.date_of_birth != dob
        || old.class != p.class
        || old.job_title != p.job_title
        || old.roles != roles
        || old.status != PersonStatus::Active
        || old.group_name.as_deref() != Some(group_name);
    if !changed {
        return Ok(false);
    }
    let group = ensure_group_on(conn, school, group_name, group_kind).await?;
    sqlx::query(
        "UPDATE people SET given_name = $3, family_name = $4, year_group = $5, group_id = $6, email = $7, \
         date_of_birth = $8, class = $9, job_title = $10, roles = $11, status = 'active', left_at = NULL, updated_at = $12 \
         WHERE school_id = $1 AND id = $2",
    )
    .bind(school.0)
    .bind(old.id.0)
    .bind(&p.given_name)
    .bind(&p.family_name)
    .bind(p.year.map(YearGroup::number))
    .bind(group.0)
    .bind(&p.email)
    .bind(&dob)
    .bind(&p.class)
    .bind(&p.job_title)
    .bind(join_names(roles.iter().map(|r| r.as_str())))
    .bind(now)
    .execute(&mut *conn)
    .await?;
    if old.status == PersonStatus::Leaver {
        // A returning pupil or member of staff: their account comes back with them.
        sqlx::query("UPDATE accounts SET disabled = 0 WHERE school_id = $1 AND person_id = $2")
            .bind(school.0)
            .bind(old.id.0)
            .execute(&mut *conn)
            .await?;
    }
    let details = json!({
        "before": describe_record(old),
        "after": {
            "given_name": p.given_name, "family_name": p.family_name, "year": p.year.map(|y| y.to_string()),
            "group": group_name, "email": p.email, "date_of_birth": dob, "class": p.class,
            "job_title": p.job_title, "roles": roles.iter().map(|r| r.as_str()).collect::<Vec<_>>(), "status": "active",
        }
    })
    .to_string();
    append_on(
        conn,
        school,
        actor.entry(now, "person.update", &format!("person:{}", old.id.0), details),
    )
    .await?;
    Ok(true)
}

pub(crate) fn describe_new(p: &NewPerson) -> String {
    json!({"after": {
        "kind": p.kind.as_str(), "external_id": p.external_id, "given_name": p.given_name, "family_name": p.family_name,
        "year": p.year.map(|y| y.to_string()), "group": p.default_group().0, "email": p.email,
        "date_of_birth": p.date_of_birth, "class": p.class, "job_title": p.job_title,
        "roles": p.roles.iter().map(|r| r.as_str()).collect::<Vec<_>>(),
        "permissions": p.permissions.iter().map(|r| r.as_str()).collect::<Vec<_>>(),
        "expires_at": p.expires_at,
    }})
    .to_string()
}

fn describe_record(p: &PersonRecord) -> serde_json::Value {
    json!({
        "given_name": p.given_name, "family_name": p.family_name, "year": p.year.map(|y| y.to_string()),
        "group": p.group_name, "email": p.email, "date_of_birth": p.date_of_birth, "class": p.class,
        "job_title": p.job_title, "roles": p.roles.iter().map(|r| r.as_str()).collect::<Vec<_>>(),
        "status": p.status.as_str(),
    })
}

pub(crate) fn person_from_row(r: &AnyRow) -> Result<PersonRecord> {
    let corrupt = |e: register::people::UnknownValue| StoreError::Corrupt(e.to_string());
    let kind: String = r.try_get("kind")?;
    let status: String = r.try_get("status")?;
    let year: Option<i64> = r.try_get("year_group")?;
    let roles: String = r.try_get("roles")?;
    let permissions: String = r.try_get("permissions")?;
    Ok(PersonRecord {
        id: PersonId(r.try_get("id")?),
        school: SchoolId(r.try_get("school_id")?),
        kind: kind.parse().map_err(corrupt)?,
        external_id: r.try_get("external_id")?,
        given_name: r.try_get("given_name")?,
        family_name: r.try_get("family_name")?,
        year: match year {
            Some(n) => Some(YearGroup::from_number(n).ok_or_else(|| StoreError::Corrupt(format!("year group {n}")))?),
            None => None,
        },
        group: r.try_get::<Option<i64>, _>("group_id")?.map(GroupId),
        group_name: r.try_get("group_name")?,
        email: r.try_get("email")?,
        date_of_birth: r.try_get("date_of_birth")?,
        class: r.try_get("class")?,
        job_title: r.try_get("job_title")?,
        roles: split_names(&roles)?,
        permissions: split_names(&permissions)?,
        status: status.parse().map_err(corrupt)?,
        expires_at: r.try_get("expires_at")?,
        username: r.try_get("username")?,
    })
}
