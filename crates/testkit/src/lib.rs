//! Test-only helpers: real databases, a real browser and a real SMTP server, or a clear word that they are
//! missing.
//!
//! Tests that need PostgreSQL or Chromium run whenever it is present and say that they
//! skipped when it is not; CI installs and starts both, so there they always run. Set
//! `SCHOOLGATE_TEST_POSTGRES` to a server URL (default `postgres://postgres@127.0.0.1:5432/postgres`)
//! and `SCHOOLGATE_REQUIRE_SERVICES=1` to turn a skip into a failure.

pub mod browser;
pub use thirtyfour;
pub mod server;
pub mod smtp;

use std::time::Duration;

use rand::Rng;
use sqlx::Connection;
use sqlx::postgres::PgConnection;

/// A database for one test: a SQLite file in a temporary directory, or a fresh PostgreSQL
/// database that is dropped when this value is.
#[derive(Debug)]
pub struct TestDatabase {
    /// `sqlite` or `postgres`, for messages.
    pub label: &'static str,
    /// What to pass to `store::Database::parse`.
    pub url: String,
    _dir: Option<tempfile::TempDir>,
    pg_drop: Option<(String, String)>,
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Some((server, name)) = self.pg_drop.take() {
            // Drop runs outside any runtime the test may have: use a small one of our own.
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread().enable_all().build();
                if let Ok(rt) = rt {
                    rt.block_on(async {
                        if let Ok(mut c) = PgConnection::connect(&server).await {
                            let sql = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
                            let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(&mut c).await;
                        }
                    });
                }
            })
            .join();
        }
    }
}

/// A SQLite database in a new temporary directory.
pub fn sqlite() -> TestDatabase {
    let dir = tempfile::tempdir().expect("a temporary directory for the test database");
    let url = dir.path().join("schoolgate.db").display().to_string();
    TestDatabase {
        label: "sqlite",
        url,
        _dir: Some(dir),
        pg_drop: None,
    }
}

/// The PostgreSQL server tests use.
pub fn postgres_server() -> String {
    std::env::var("SCHOOLGATE_TEST_POSTGRES").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

fn services_required() -> bool {
    std::env::var("SCHOOLGATE_REQUIRE_SERVICES").is_ok_and(|v| v == "1")
}

/// A fresh, empty PostgreSQL database, or `None` (with a message saying the test skipped
/// PostgreSQL) when no server answers.
pub async fn postgres(test: &str) -> Option<TestDatabase> {
    let server = postgres_server();
    let conn = tokio::time::timeout(Duration::from_secs(3), PgConnection::connect(&server)).await;
    let mut conn = match conn {
        Ok(Ok(c)) => c,
        Ok(Err(e)) => return skipped(test, &format!("PostgreSQL at {server} refused: {e}")),
        Err(_) => return skipped(test, &format!("PostgreSQL at {server} did not answer")),
    };
    let name = format!("sg_test_{:016x}", rand::thread_rng().r#gen::<u64>());
    let sql = format!("CREATE DATABASE \"{name}\"");
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
        .execute(&mut conn)
        .await
        .expect("create a test database");
    let url = match server.rsplit_once('/') {
        Some((base, _)) => format!("{base}/{name}"),
        None => panic!("SCHOOLGATE_TEST_POSTGRES must end in /DATABASE: {server}"),
    };
    Some(TestDatabase {
        label: "postgres",
        url,
        _dir: None,
        pg_drop: Some((server, name)),
    })
}

fn skipped<T>(test: &str, why: &str) -> Option<T> {
    if services_required() {
        panic!("{test}: PostgreSQL is required (SCHOOLGATE_REQUIRE_SERVICES=1) but {why}");
    }
    eprintln!("SKIPPED (PostgreSQL part of {test}): {why}");
    None
}

/// Every database a store test should run against: SQLite always, PostgreSQL when reachable.
pub async fn databases(test: &str) -> Vec<TestDatabase> {
    let mut dbs = vec![sqlite()];
    dbs.extend(postgres(test).await);
    dbs
}

/// A free TCP port on loopback (for a server that must be told its port in advance).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}
