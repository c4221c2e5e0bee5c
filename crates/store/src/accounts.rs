//! Accounts, their second factor, sign-in sessions, failed sign-ins and setup links.
//!
//! Secrets that stand for a sign-in (session tokens, setup links, recovery codes) are
//! stored only as SHA-256 hashes: they are long random values, so a fast hash is enough,
//! and a copy of the database does not let anyone sign in.

use register::people::{AccountId, PersonId, PersonKind, PersonStatus, SchoolId};
use register::roles::{Authority, Permission, Role};
use sqlx::any::AnyRow;
use sqlx::{AssertSqlSafe, Row};

use crate::audit::append_on;
use crate::{Actor, Result, Store, StoreError, split_names};

/// An account with what sign-in needs to know about its person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub id: AccountId,
    pub school: SchoolId,
    pub person: PersonId,
    pub username: String,
    pub password_hash: String,
    pub must_change_password: bool,
    pub totp_secret: Option<String>,
    pub totp_last_step: Option<i64>,
    pub disabled: bool,
    pub given_name: String,
    pub family_name: String,
    pub kind: PersonKind,
    pub status: PersonStatus,
    pub expires_at: Option<i64>,
    pub roles: Vec<Role>,
    pub permissions: Vec<Permission>,
}

impl Account {
    pub fn authority(&self) -> Authority {
        Authority::new(&self.roles, &self.permissions)
    }

    /// Why this account may not sign in now, if it may not.
    pub fn refusal(&self, now: i64) -> Option<&'static str> {
        if self.disabled {
            Some("account disabled")
        } else if self.status == PersonStatus::Leaver {
            Some("person has left")
        } else if self.expires_at.is_some_and(|t| t <= now) {
            Some("visitor account expired")
        } else {
            None
        }
    }

    pub fn full_name(&self) -> String {
        format!("{} {}", self.given_name, self.family_name)
    }
}

/// A new account for an existing person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAccount {
    pub person: PersonId,
    pub username: String,
    pub password_hash: String,
    pub must_change_password: bool,
}

/// How far a signed-in browser has got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionStage {
    /// Password accepted; the second factor is still to come.
    SecondFactor,
    /// Password accepted; a second factor is required but not yet set up.
    Enrol,
    /// Signed in, but the account must choose a new password first.
    ChangePassword,
    /// Fully signed in.
    Ready,
}

impl SessionStage {
    pub fn as_str(self) -> &'static str {
        match self {
            SessionStage::SecondFactor => "second_factor",
            SessionStage::Enrol => "enrol",
            SessionStage::ChangePassword => "change_password",
            SessionStage::Ready => "ready",
        }
    }

    fn parse(s: &str) -> Result<SessionStage> {
        Ok(match s {
            "second_factor" => SessionStage::SecondFactor,
            "enrol" => SessionStage::Enrol,
            "change_password" => SessionStage::ChangePassword,
            "ready" => SessionStage::Ready,
            other => return Err(StoreError::Corrupt(format!("session stage {other:?}"))),
        })
    }
}

/// A sign-in session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    pub id: i64,
    pub school: SchoolId,
    pub account: AccountId,
    pub stage: SessionStage,
    pub created_at: i64,
    pub last_seen_at: i64,
    pub ended_at: Option<i64>,
}

const ACCOUNT_SELECT: &str = "SELECT a.id, a.school_id, a.person_id, a.username, a.password_hash, a.must_change_password, \
    a.totp_secret, a.totp_last_step, a.disabled, p.given_name, p.family_name, p.kind, p.status, p.expires_at, p.roles, \
    p.permissions FROM accounts a JOIN people p ON p.id = a.person_id";

impl Store {
    /// Creates an account, with an audit entry.
    pub async fn create_account(
        &self,
        school: SchoolId,
        new: &NewAccount,
        actor: &Actor,
        now: i64,
    ) -> Result<AccountId> {
        let mut tx = self.write_tx().await?;
        let row = sqlx::query(
            "INSERT INTO accounts (school_id, person_id, username, password_hash, must_change_password, created_at, \
             password_changed_at) VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING id",
        )
        .bind(school.0)
        .bind(new.person.0)
        .bind(&new.username)
        .bind(&new.password_hash)
        .bind(i64::from(new.must_change_password))
        .bind(now)
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| crate::conflict(e, || format!("the username {:?} is already taken", new.username)))?;
        let id = AccountId(row.try_get("id")?);
        let details = serde_json::json!({"person": new.person.0, "username": new.username}).to_string();
        append_on(
            &mut tx,
            school,
            actor.entry(now, "account.create", &format!("account:{}", id.0), details),
        )
        .await?;
        tx.commit().await?;
        Ok(id)
    }

    /// The account with this username (any case), in any school.
    pub async fn account_by_username(&self, username: &str) -> Result<Option<Account>> {
        let row = sqlx::query(AssertSqlSafe(format!("{ACCOUNT_SELECT} WHERE lower(a.username) = $1")))
            .bind(username.trim().to_lowercase())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(account_from_row).transpose()
    }

    pub async fn account(&self, id: AccountId) -> Result<Account> {
        let row = sqlx::query(AssertSqlSafe(format!("{ACCOUNT_SELECT} WHERE a.id = $1")))
            .bind(id.0)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref()
            .map(account_from_row)
            .transpose()?
            .ok_or_else(|| StoreError::NotFound(format!("account {}", id.0)))
    }

    /// Sets a new password (already hashed), clearing the must-change flag.
    pub async fn set_password(
        &self,
        account: &Account,
        hash: &str,
        must_change: bool,
        actor: &Actor,
        now: i64,
    ) -> Result<()> {
        let mut tx = self.write_tx().await?;
        sqlx::query(
            "UPDATE accounts SET password_hash = $2, must_change_password = $3, password_changed_at = $4 WHERE id = $1",
        )
        .bind(account.id.0)
        .bind(hash)
        .bind(i64::from(must_change))
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let details = serde_json::json!({"must_change": must_change}).to_string();
        append_on(
            &mut tx,
            account.school,
            actor.entry(now, "account.password", &format!("account:{}", account.id.0), details),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Turns the second factor on with a new secret and recovery codes (hashed).
    pub async fn enrol_second_factor(
        &self,
        account: &Account,
        secret: &str,
        first_step: i64,
        recovery_code_hashes: &[String],
        actor: &Actor,
        now: i64,
    ) -> Result<()> {
        let mut tx = self.write_tx().await?;
        sqlx::query("UPDATE accounts SET totp_secret = $2, totp_last_step = $3 WHERE id = $1")
            .bind(account.id.0)
            .bind(secret)
            .bind(first_step)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM recovery_codes WHERE account_id = $1")
            .bind(account.id.0)
            .execute(&mut *tx)
            .await?;
        for h in recovery_code_hashes {
            sqlx::query("INSERT INTO recovery_codes (school_id, account_id, code_hash) VALUES ($1, $2, $3)")
                .bind(account.school.0)
                .bind(account.id.0)
                .bind(h)
                .execute(&mut *tx)
                .await?;
        }
        let details = serde_json::json!({"recovery_codes": recovery_code_hashes.len()}).to_string();
        append_on(
            &mut tx,
            account.school,
            actor.entry(
                now,
                "account.second_factor.enrol",
                &format!("account:{}", account.id.0),
                details,
            ),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Records that a TOTP time step was used, if it is later than the last one used:
    /// returns false for a replayed code.
    pub async fn claim_totp_step(&self, account: AccountId, step: i64) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE accounts SET totp_last_step = $2 WHERE id = $1 AND (totp_last_step IS NULL OR totp_last_step < $2)",
        )
        .bind(account.0)
        .bind(step)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Uses up a recovery code, given its hash: true if it was valid and unused.
    pub async fn use_recovery_code(&self, account: AccountId, code_hash: &str, now: i64) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE recovery_codes SET used_at = $3 WHERE account_id = $1 AND code_hash = $2 AND used_at IS NULL",
        )
        .bind(account.0)
        .bind(code_hash)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn unused_recovery_codes(&self, account: AccountId) -> Result<i64> {
        Ok(
            sqlx::query("SELECT count(*) AS n FROM recovery_codes WHERE account_id = $1 AND used_at IS NULL")
                .bind(account.0)
                .fetch_one(&self.pool)
                .await?
                .try_get("n")?,
        )
    }

    // --- sessions -------------------------------------------------------------------

    pub async fn create_session(
        &self,
        account: &Account,
        token_hash: &str,
        stage: SessionStage,
        origin: &str,
        now: i64,
    ) -> Result<i64> {
        let row = sqlx::query(
            "INSERT INTO sessions (school_id, account_id, token_hash, stage, origin, created_at, last_seen_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING id",
        )
        .bind(account.school.0)
        .bind(account.id.0)
        .bind(token_hash)
        .bind(stage.as_str())
        .bind(origin)
        .bind(now)
        .fetch_one(&self.pool)
        .await?;
        Ok(row.try_get("id")?)
    }

    /// The open session with this token hash.
    pub async fn session(&self, token_hash: &str) -> Result<Option<SessionRecord>> {
        let row = sqlx::query(
            "SELECT id, school_id, account_id, stage, created_at, last_seen_at, ended_at FROM sessions \
             WHERE token_hash = $1 AND ended_at IS NULL",
        )
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            let stage: String = r.try_get("stage")?;
            Ok(SessionRecord {
                id: r.try_get("id")?,
                school: SchoolId(r.try_get("school_id")?),
                account: AccountId(r.try_get("account_id")?),
                stage: SessionStage::parse(&stage)?,
                created_at: r.try_get("created_at")?,
                last_seen_at: r.try_get("last_seen_at")?,
                ended_at: r.try_get("ended_at")?,
            })
        })
        .transpose()
    }

    pub async fn touch_session(&self, id: i64, now: i64) -> Result<()> {
        sqlx::query("UPDATE sessions SET last_seen_at = $2 WHERE id = $1")
            .bind(id)
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn set_session_stage(&self, id: i64, stage: SessionStage, now: i64) -> Result<()> {
        sqlx::query("UPDATE sessions SET stage = $2, last_seen_at = $3 WHERE id = $1")
            .bind(id)
            .bind(stage.as_str())
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn end_session(&self, id: i64, now: i64) -> Result<()> {
        sqlx::query("UPDATE sessions SET ended_at = $2 WHERE id = $1 AND ended_at IS NULL")
            .bind(id)
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Ends every open session of an account (after a password change, say), but `keep`.
    pub async fn end_other_sessions(&self, account: AccountId, keep: i64, now: i64) -> Result<u64> {
        let done =
            sqlx::query("UPDATE sessions SET ended_at = $3 WHERE account_id = $1 AND id <> $2 AND ended_at IS NULL")
                .bind(account.0)
                .bind(keep)
                .bind(now)
                .execute(&self.pool)
                .await?;
        Ok(done.rows_affected())
    }

    // --- failed sign-ins ------------------------------------------------------------

    pub async fn record_sign_in_failure(&self, username: &str, origin: &str, now: i64) -> Result<()> {
        sqlx::query("INSERT INTO sign_in_failures (username, origin, at) VALUES ($1, $2, $3)")
            .bind(username.trim().to_lowercase())
            .bind(origin)
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Failed sign-ins for a username and from an address since `since`.
    pub async fn sign_in_failures(&self, username: &str, origin: &str, since: i64) -> Result<(i64, i64)> {
        let row = sqlx::query(
            "SELECT (SELECT count(*) FROM sign_in_failures WHERE username = $1 AND at >= $3) AS by_user, \
                    (SELECT count(*) FROM sign_in_failures WHERE origin = $2 AND at >= $3) AS by_origin",
        )
        .bind(username.trim().to_lowercase())
        .bind(origin)
        .bind(since)
        .fetch_one(&self.pool)
        .await?;
        Ok((row.try_get("by_user")?, row.try_get("by_origin")?))
    }

    /// Forgets a username's failures after a successful sign-in (the audit log keeps them).
    pub async fn clear_sign_in_failures(&self, username: &str) -> Result<()> {
        sqlx::query("DELETE FROM sign_in_failures WHERE username = $1")
            .bind(username.trim().to_lowercase())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    // --- setup links ----------------------------------------------------------------

    pub async fn create_setup_token(
        &self,
        school: SchoolId,
        token_hash: &str,
        now: i64,
        expires_at: i64,
    ) -> Result<()> {
        sqlx::query("INSERT INTO setup_tokens (school_id, token_hash, created_at, expires_at) VALUES ($1, $2, $3, $4)")
            .bind(school.0)
            .bind(token_hash)
            .bind(now)
            .bind(expires_at)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The school a setup link is for, if the link is unused and unexpired.
    pub async fn setup_token_school(&self, token_hash: &str, now: i64) -> Result<Option<SchoolId>> {
        let row = sqlx::query(
            "SELECT school_id FROM setup_tokens WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2",
        )
        .bind(token_hash)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| Ok(SchoolId(r.try_get("school_id")?))).transpose()
    }

    /// Marks a setup link used; false if it was already used or has expired, so that two
    /// browsers racing on one link cannot both create an administrator.
    pub async fn consume_setup_token(&self, token_hash: &str, now: i64) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE setup_tokens SET used_at = $2 WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2",
        )
        .bind(token_hash)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// How many accounts a school has (zero means it still needs its first administrator).
    pub async fn account_count(&self, school: SchoolId) -> Result<i64> {
        Ok(sqlx::query("SELECT count(*) AS n FROM accounts WHERE school_id = $1")
            .bind(school.0)
            .fetch_one(&self.pool)
            .await?
            .try_get("n")?)
    }
}

fn account_from_row(r: &AnyRow) -> Result<Account> {
    let corrupt = |e: register::people::UnknownValue| StoreError::Corrupt(e.to_string());
    let kind: String = r.try_get("kind")?;
    let status: String = r.try_get("status")?;
    let roles: String = r.try_get("roles")?;
    let permissions: String = r.try_get("permissions")?;
    Ok(Account {
        id: AccountId(r.try_get("id")?),
        school: SchoolId(r.try_get("school_id")?),
        person: PersonId(r.try_get("person_id")?),
        username: r.try_get("username")?,
        password_hash: r.try_get("password_hash")?,
        must_change_password: r.try_get::<i64, _>("must_change_password")? != 0,
        totp_secret: r.try_get("totp_secret")?,
        totp_last_step: r.try_get("totp_last_step")?,
        disabled: r.try_get::<i64, _>("disabled")? != 0,
        given_name: r.try_get("given_name")?,
        family_name: r.try_get("family_name")?,
        kind: kind.parse().map_err(corrupt)?,
        status: status.parse().map_err(corrupt)?,
        expires_at: r.try_get("expires_at")?,
        roles: split_names(&roles)?,
        permissions: split_names(&permissions)?,
    })
}

impl Store {
    /// Uses a setup link to create a school's first administrator: the link is marked used,
    /// the person added and the account created in one transaction, so a failure (a username
    /// taken meanwhile, say) leaves the link usable. Returns false when the link is unknown,
    /// used or expired. The link decides the school.
    pub async fn create_first_administrator(
        &self,
        token_hash: &str,
        person: &crate::NewPerson,
        username: &str,
        password_hash: &str,
        actor: &Actor,
        now: i64,
    ) -> Result<bool> {
        let mut tx = self.write_tx().await?;
        let used = sqlx::query(
            "UPDATE setup_tokens SET used_at = $2 WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2 \
             RETURNING school_id",
        )
        .bind(token_hash)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(used) = used else { return Ok(false) };
        let school = SchoolId(used.try_get("school_id")?);
        let person_id = crate::people::insert_person_on(&mut tx, school, person, now).await?;
        append_on(
            &mut tx,
            school,
            actor.entry(
                now,
                "person.create",
                &format!("person:{}", person_id.0),
                crate::people::describe_new(person),
            ),
        )
        .await?;
        let row = sqlx::query(
            "INSERT INTO accounts (school_id, person_id, username, password_hash, must_change_password, created_at, \
             password_changed_at) VALUES ($1, $2, $3, $4, 0, $5, $5) RETURNING id",
        )
        .bind(school.0)
        .bind(person_id.0)
        .bind(username)
        .bind(password_hash)
        .bind(now)
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| crate::conflict(e, || format!("the username {username:?} is already taken")))?;
        let id: i64 = row.try_get("id")?;
        let details =
            serde_json::json!({"person": person_id.0, "username": username, "first_administrator": true}).to_string();
        append_on(
            &mut tx,
            school,
            actor.entry(now, "account.create", &format!("account:{id}"), details),
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }
}
