//! SQLite and PostgreSQL storage for schoolgate, behind one API.
//!
//! A single school runs on SQLite in its data directory with nothing to set up; a trust or
//! local authority runs many schools on one PostgreSQL. Both are reached through sqlx's
//! `Any` driver, so each repository method is written once: the SQL sticks to what both
//! databases share (`$1` parameters, `RETURNING`, `ON CONFLICT`), integers are `i64`,
//! times are Unix seconds and flags are 0/1. The schema is managed by embedded, versioned
//! migrations, one set per database ([`MIGRATIONS_SQLITE`], [`MIGRATIONS_POSTGRES`]).
//! Queries that are assembled with `format!` only join this crate's own constant
//! fragments; every value goes in as a bound parameter. Every table carries its school and every method takes one, so no query can reach
//! another school's records by accident.
//!
//! ```no_run
//! # async fn f() -> Result<(), store::StoreError> {
//! let store = store::Store::open(&store::Database::Sqlite("schoolgate-data/schoolgate.db".into())).await?;
//! let school = store.create_school("Demo Primary School", 1_700_000_000).await?;
//! # Ok(()) }
//! ```

mod accounts;
mod audit;
mod events;
mod filtering;
mod incidents;
mod monitor;
mod outbox;
mod people;
mod registers;
mod schools;
mod snapshot;
mod unblock;

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::Migrator;
use sqlx::{AnyPool, AssertSqlSafe, Executor, Row};

pub use accounts::{Account, NewAccount, SessionRecord, SessionStage};
pub use audit::Actor;
pub use events::{EventFilter, EventRecord};
pub use filtering::{ListRecord, NewList, PolicyRecord, sha256_hex};
pub use incidents::{Entry, Incident, IncidentFacts, NewEntry, NewIncident, NewInvolved};
pub use monitor::{Alert, AlertCount, AlertScope, Dismissal, MonitorToken, NewAlert, Recorded, Triage};
pub use outbox::{BlockedCategory, Mail, MonitoredEvent, NewMail, Recipient};
pub use people::{GroupSummary, ImportSummary, NewPerson, PersonRecord};
pub use registers::{
    AgreementStanding, AgreementVersion, ConfiscationRecord, ConsentAnswer, HardwareRecord, Loan, ReviewRecord,
    ReviewText, Signature, SoftwareRecord, TrainingNeed, TrainingRecord, uk_day,
};
pub use schools::School;
pub use snapshot::{SnapshotError, SnapshotReport, UNIDENTIFIED};
pub use unblock::{Answer, Exception, NewUnblockRequest, Scope, UnblockRequest};

/// The SQLite schema, version by version.
pub static MIGRATIONS_SQLITE: Migrator = sqlx::migrate!("./migrations/sqlite");
/// The PostgreSQL schema, version by version.
pub static MIGRATIONS_POSTGRES: Migrator = sqlx::migrate!("./migrations/postgres");

/// Where the records live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Database {
    /// A SQLite file, created on first open.
    Sqlite(PathBuf),
    /// A PostgreSQL URL (`postgres://user@host/db`).
    Postgres(String),
}

impl Database {
    /// Reads `postgres://…`/`postgresql://…` as PostgreSQL, `sqlite:PATH` or a plain path as SQLite.
    pub fn parse(text: &str) -> Database {
        if text.starts_with("postgres://") || text.starts_with("postgresql://") {
            Database::Postgres(text.to_owned())
        } else {
            Database::Sqlite(PathBuf::from(
                text.strip_prefix("sqlite://")
                    .or(text.strip_prefix("sqlite:"))
                    .unwrap_or(text),
            ))
        }
    }

    /// The database for people to read: a PostgreSQL URL without its password.
    pub fn display(&self) -> String {
        match self {
            Database::Sqlite(p) => format!("SQLite at {}", p.display()),
            Database::Postgres(url) => match url.split_once('@') {
                Some((before, after)) => match before.rsplit_once(':') {
                    Some((user, _)) if !user.ends_with('/') => {
                        format!("PostgreSQL {user}:***@{after}")
                    }
                    _ => format!("PostgreSQL {url}"),
                },
                None => format!("PostgreSQL {url}"),
            },
        }
    }
}

/// Which database a store is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// What went wrong in the store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The database could not be opened or reached.
    #[error("cannot open {what}: {source}")]
    Open { what: String, source: sqlx::Error },
    /// The schema could not be brought up to date.
    #[error("cannot update the database schema: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A query failed.
    #[error("database error: {0}")]
    Query(#[from] sqlx::Error),
    /// A stored value is not one this version understands.
    #[error("stored record is not readable: {0}")]
    Corrupt(String),
    /// A record the caller named does not exist.
    #[error("{0} not found")]
    NotFound(String),
    /// A value would break a uniqueness rule (a username already taken, for example).
    #[error("{0}")]
    Conflict(String),
    /// A value the caller gave is not acceptable (said in words for the person who gave it).
    #[error("{0}")]
    Invalid(String),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// The handle to a school's (or a trust's) records. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
}

impl Store {
    /// Opens (and for SQLite creates) the database and brings its schema up to date.
    pub async fn open(database: &Database) -> Result<Store> {
        let store = Store::connect(database, 0).await?;
        store.migrate().await?;
        Ok(store)
    }

    /// Another handle on a database [`Store::open`] has brought up to date, with a pool of
    /// its own of at most `connections`. For a writer that should not take the console's
    /// connections, nor share their threads: the filter log's writer opens one on its own
    /// low-priority thread, so that SQLite's work for it runs at that priority too.
    pub async fn open_more(database: &Database, connections: u32) -> Result<Store> {
        Store::connect(database, connections).await
    }

    /// Opens the database and applies migrations up to `version` only: what an older
    /// schoolgate would have left behind. For upgrade tests.
    #[doc(hidden)]
    pub async fn open_at_version(database: &Database, version: i64) -> Result<Store> {
        let store = Store::connect(database, 0).await?;
        let all = match store.backend {
            Backend::Sqlite => &MIGRATIONS_SQLITE,
            Backend::Postgres => &MIGRATIONS_POSTGRES,
        };
        let older = Migrator {
            migrations: std::borrow::Cow::Owned(
                all.migrations
                    .iter()
                    .filter(|m| m.version <= version)
                    .cloned()
                    .collect(),
            ),
            ..Migrator::DEFAULT
        };
        older.run(&store.pool).await?;
        Ok(store)
    }

    /// A pool of at most `connections`, or the backend's usual number for 0.
    async fn connect(database: &Database, connections: u32) -> Result<Store> {
        let most = |usual: u32| if connections == 0 { usual } else { connections };
        sqlx::any::install_default_drivers();
        let open_err = |source| StoreError::Open {
            what: database.display(),
            source,
        };
        let (url, backend) = match database {
            Database::Sqlite(path) => (format!("sqlite://{}?mode=rwc", path.display()), Backend::Sqlite),
            Database::Postgres(url) => (url.clone(), Backend::Postgres),
        };
        let options = AnyConnectOptions::from_str(&url).map_err(open_err)?;
        let pool = match backend {
            Backend::Sqlite => {
                AnyPoolOptions::new()
                    .max_connections(most(8))
                    .after_connect(|conn, _| {
                        Box::pin(async move {
                            // WAL lets the console read while the event writer writes; the busy
                            // timeout makes writers queue instead of failing.
                            conn.execute("PRAGMA journal_mode = WAL").await?;
                            conn.execute("PRAGMA busy_timeout = 10000").await?;
                            conn.execute("PRAGMA foreign_keys = ON").await?;
                            conn.execute("PRAGMA synchronous = NORMAL").await?;
                            Ok(())
                        })
                    })
                    .connect_with(options)
                    .await
            }
            Backend::Postgres => {
                AnyPoolOptions::new()
                    .max_connections(most(16))
                    .acquire_timeout(Duration::from_secs(10))
                    .connect_with(options)
                    .await
            }
        }
        .map_err(open_err)?;
        Ok(Store { pool, backend })
    }

    /// Applies every migration this version has that the database lacks.
    pub async fn migrate(&self) -> Result<()> {
        match self.backend {
            Backend::Sqlite => MIGRATIONS_SQLITE.run(&self.pool).await?,
            Backend::Postgres => MIGRATIONS_POSTGRES.run(&self.pool).await?,
        }
        Ok(())
    }

    /// The versions of the applied migrations, oldest first.
    pub async fn schema_versions(&self) -> Result<Vec<i64>> {
        let rows: Vec<(i64,)> =
            sqlx::query_as("SELECT version FROM _sqlx_migrations WHERE success = true ORDER BY version")
                .fetch_all(&self.pool)
                .await?;
        Ok(rows.into_iter().map(|r| r.0).collect())
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// A transaction for writing. On SQLite it takes the write lock at once (`BEGIN
    /// IMMEDIATE`): a transaction that reads first and writes later would otherwise fail with
    /// SQLITE_BUSY whenever another writer (the event writer, say) committed in between,
    /// without waiting for the busy timeout.
    pub(crate) async fn write_tx(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>> {
        Ok(match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        })
    }

    /// Whether the database answers.
    pub async fn ping(&self) -> bool {
        sqlx::query("SELECT 1").execute(&self.pool).await.is_ok()
    }

    /// A value from SQLite's `PRAGMA` (for checks and tests); `None` on PostgreSQL.
    pub async fn sqlite_pragma(&self, name: &str) -> Result<Option<String>> {
        if self.backend != Backend::Sqlite || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Ok(None);
        }
        let row = sqlx::query(AssertSqlSafe(format!("PRAGMA {name}")))
            .fetch_optional(&self.pool)
            .await?;
        Ok(row
            .map(|r| {
                r.try_get::<String, _>(0)
                    .or_else(|_| r.try_get::<i64, _>(0).map(|n| n.to_string()))
            })
            .transpose()?)
    }

    /// Runs raw SQL: for tests that must go around the repository API (tampering with the
    /// audit log, for example). Not for product code.
    #[doc(hidden)]
    pub async fn execute_raw(&self, sql: &str) -> Result<u64> {
        Ok(self.pool.execute(AssertSqlSafe(sql.to_owned())).await?.rows_affected())
    }

    /// Waits for in-flight queries and closes every connection.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Turns a unique-key violation into a [`StoreError::Conflict`] with a message for people.
fn conflict(err: sqlx::Error, message: impl FnOnce() -> String) -> StoreError {
    match &err {
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict(message()),
        _ => StoreError::Query(err),
    }
}

/// Joins enum names for a TEXT column (`"dsl;teacher"`).
fn join_names<'a>(names: impl IntoIterator<Item = &'a str>) -> String {
    names.into_iter().collect::<Vec<_>>().join(";")
}

/// Splits a TEXT column written by [`join_names`] back into values.
fn split_names<T: FromStr>(text: &str) -> Result<Vec<T>>
where
    T::Err: std::fmt::Display,
{
    text.split(';')
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<T>().map_err(|e| StoreError::Corrupt(e.to_string())))
        .collect()
}
