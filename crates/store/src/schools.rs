//! Schools and their groups.

use register::people::{GroupId, GroupKind, SchoolId};
use sqlx::Row;

use crate::{Result, Store, StoreError};

/// A school as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct School {
    pub id: SchoolId,
    pub name: String,
    pub created_at: i64,
}

impl Store {
    pub async fn create_school(&self, name: &str, now: i64) -> Result<SchoolId> {
        let row = sqlx::query("INSERT INTO schools (name, created_at) VALUES ($1, $2) RETURNING id")
            .bind(name)
            .bind(now)
            .fetch_one(&self.pool)
            .await?;
        Ok(SchoolId(row.try_get("id")?))
    }

    pub async fn schools(&self) -> Result<Vec<School>> {
        let rows = sqlx::query("SELECT id, name, created_at FROM schools ORDER BY id")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                Ok(School {
                    id: SchoolId(r.try_get("id")?),
                    name: r.try_get("name")?,
                    created_at: r.try_get("created_at")?,
                })
            })
            .collect()
    }

    pub async fn school(&self, id: SchoolId) -> Result<School> {
        self.schools()
            .await?
            .into_iter()
            .find(|s| s.id == id)
            .ok_or_else(|| StoreError::NotFound(format!("school {}", id.0)))
    }

    /// The group of that name, created with `kind` if the school has none.
    pub async fn ensure_group(&self, school: SchoolId, name: &str, kind: GroupKind) -> Result<GroupId> {
        let mut conn = self.pool.acquire().await?;
        ensure_group_on(&mut conn, school, name, kind).await
    }
}

pub(crate) async fn ensure_group_on(
    conn: &mut sqlx::AnyConnection,
    school: SchoolId,
    name: &str,
    kind: GroupKind,
) -> Result<GroupId> {
    sqlx::query(
        "INSERT INTO groups (school_id, name, kind) VALUES ($1, $2, $3) ON CONFLICT (school_id, name) DO NOTHING",
    )
    .bind(school.0)
    .bind(name)
    .bind(kind.as_str())
    .execute(&mut *conn)
    .await?;
    let row = sqlx::query("SELECT id FROM groups WHERE school_id = $1 AND name = $2")
        .bind(school.0)
        .bind(name)
        .fetch_one(&mut *conn)
        .await?;
    Ok(GroupId(row.try_get("id")?))
}
