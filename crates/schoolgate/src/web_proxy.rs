//! The web proxy's edges in the binary: sign-ins checked against the store's accounts (with
//! the console's throttling and audit), and each sign-in handed to the DNS server's
//! attribution so that the same pupil's DNS questions carry their name.

use std::collections::HashMap;
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use register::password;
use register::people::{PersonKind, SchoolId};
use serde_json::json;
use store::{Actor, Store};

use crate::now;

/// Proxy sign-ins against the school's accounts.
#[derive(Debug, Clone)]
pub struct StoreAccounts {
    pub store: Store,
    pub school: SchoolId,
    pub limits: console::SignInLimits,
    pub attribution: Arc<dns::Attribution>,
    pub sign_in_lasts: Duration,
    pub year_start: register::agreements::YearStart,
    /// Sign-ins checked in the last few minutes, by a keyed hash of username and password.
    /// Someone held back by the agreement gate is asked about every 30 seconds; only their
    /// agreement is looked at again, not their password (nor another audit entry).
    pub recent: Arc<std::sync::Mutex<HashMap<[u8; 32], Checked>>>,
    /// Keys the hashes of `recent`; random per process.
    pub recent_key: [u8; 32],
}

/// A sign-in whose password was checked, for `recent`.
#[derive(Debug, Clone)]
pub struct Checked {
    at: Instant,
    school: SchoolId,
    person: register::people::PersonId,
    username: String,
    group: String,
    expires_at: Option<i64>,
}

/// How long a checked password stands for the agreement gate's re-checks: the proxy's own
/// sign-in cache lasts five minutes.
const RECENT: Duration = Duration::from_secs(300);

/// How long a sign-in held back by the agreement gate is trusted before it is checked again:
/// short, so that a pupil who has just signed is let through within a minute.
const UNSIGNED_RECHECK: i64 = 30;

impl StoreAccounts {
    fn recent_key(&self, username: &str, attempt: &str) -> [u8; 32] {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        h.update(self.recent_key);
        h.update(username.as_bytes());
        h.update([0]);
        h.update(attempt.as_bytes());
        h.finalize().into()
    }

    /// The group whose policy applies to a signed-in person, and until when the proxy may
    /// trust the answer. The agreement gate (DFE-CS-01): a group that requires a current
    /// agreement sends those who have not signed to the restricted policy until they do,
    /// and asks again soon, so that signing lets them through within a minute.
    async fn gated(&self, c: &Checked, t: i64) -> anyhow::Result<(String, Option<i64>)> {
        let store = &self.store;
        let gated = store
            .agreement_gates(c.school)
            .await?
            .iter()
            .any(|g| g.eq_ignore_ascii_case(&c.group));
        if gated {
            let current = store
                .agreement_current(c.school, c.person, console::uk_today(t), self.year_start)
                .await?;
            if !current {
                let soon = t + UNSIGNED_RECHECK;
                return Ok((
                    policy::gate::UNSIGNED.to_owned(),
                    Some(c.expires_at.map_or(soon, |u| u.min(soon))),
                ));
            }
        }
        Ok((c.group.clone(), c.expires_at))
    }

    async fn check_now(&self, username: String, attempt: String, client: IpAddr) -> anyhow::Result<proxy::SignIn> {
        let store = &self.store;
        let t = now();
        let key = self.recent_key(&username, &attempt);
        let known = self
            .recent
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
            .filter(|c| c.at.elapsed() < RECENT)
            .cloned();
        if let Some(c) = known {
            let (group, until) = self.gated(&c, t).await?;
            return Ok(proxy::SignIn::Person {
                username: c.username,
                group,
                until,
            });
        }
        let origin = client.to_string();
        let actor = Actor {
            label: format!("proxy-sign-in:{username}"),
            origin: origin.clone(),
        };
        let account = store.account_by_username(&username).await?;
        let school = account.as_ref().map(|a| a.school).unwrap_or(self.school);
        let target = account
            .as_ref()
            .map(|a| format!("account:{}", a.id.0))
            .unwrap_or_else(|| format!("username:{username}"));
        // Counted as a failure as it arrives and forgiven when right, as console sign-ins
        // are: a burst of guesses cannot slip in under the limit together.
        store.record_sign_in_failure(&username, &origin, t).await?;
        let (by_user, by_origin) = store
            .sign_in_failures(&username, &origin, t - self.limits.window.as_secs() as i64)
            .await?;
        let max = i64::from(self.limits.max_failures);
        if by_user > max || by_origin > max * 5 {
            let details = json!({"username": username, "failures_in_window": by_user, "from_address": by_origin});
            store
                .audit(
                    school,
                    actor.entry(t, "proxy.sign_in.locked", &target, details.to_string()),
                )
                .await?;
            return Ok(proxy::SignIn::Throttled);
        }
        let stored = account
            .as_ref()
            .map(|a| a.password_hash.clone())
            .unwrap_or_else(|| password::decoy_hash().to_owned());
        let matches = tokio::task::spawn_blocking(move || password::verify(&attempt, &stored)).await?;
        let refusal = match &account {
            None => Some("unknown username"),
            Some(_) if !matches => Some("wrong password"),
            Some(a) => a.refusal(t),
        };
        let (Some(account), None) = (account, refusal) else {
            let details = json!({"username": username, "reason": refusal});
            store
                .audit(
                    school,
                    actor.entry(t, "proxy.sign_in.failed", &target, details.to_string()),
                )
                .await?;
            return Ok(proxy::SignIn::Refused);
        };
        store.clear_sign_in_failures(&username).await?;
        let person = store.person(account.school, account.person).await?;
        let group = person.group_name.clone().unwrap_or_else(|| {
            match account.kind {
                PersonKind::Staff | PersonKind::Governor => "Staff",
                PersonKind::Visitor => "Visitors",
                PersonKind::Pupil => store::UNIDENTIFIED,
            }
            .to_owned()
        });
        let checked = Checked {
            at: Instant::now(),
            school: account.school,
            person: account.person,
            username: account.username.clone(),
            group: group.clone(),
            expires_at: account.expires_at,
        };
        {
            let mut recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
            if recent.len() > 10_000 {
                recent.retain(|_, c| c.at.elapsed() < RECENT);
            }
            recent.insert(key, checked.clone());
        }
        let (gated_group, until) = self.gated(&checked, t).await?;
        // Each checked sign-in is audited (the proxy remembers it for a few minutes, so
        // this is one entry per person per few minutes of browsing, not per request).
        let details = json!({"group": gated_group, "from_address": origin});
        store
            .audit(
                account.school,
                Actor {
                    label: format!("account:{}", account.id.0),
                    origin,
                }
                .entry(t, "proxy.sign_in", &target, details.to_string()),
            )
            .await?;
        Ok(proxy::SignIn::Person {
            username: account.username,
            group: gated_group,
            until,
        })
    }
}

impl proxy::Accounts for StoreAccounts {
    fn check(
        &self,
        username: String,
        password: String,
        client: IpAddr,
    ) -> Pin<Box<dyn Future<Output = proxy::SignIn> + Send>> {
        let me = self.clone();
        Box::pin(async move {
            match me.check_now(username, password, client).await {
                Ok(answer) => answer,
                Err(e) => {
                    // The store is unreachable: nobody gets in until it is back (fail closed).
                    tracing::error!(error = %e, "proxy sign-in could not be checked");
                    proxy::SignIn::Refused
                }
            }
        })
    }

    fn signed_in(&self, client: IpAddr, username: &str, group: &str) {
        self.attribution
            .record_sign_in(client, username, group, self.sign_in_lasts, Instant::now());
    }
}

/// The proxy's name lookups, through the DNS server's cache and upstreams: the school's
/// resolvers (DNS-over-TLS where configured) rather than whatever the machine uses.
#[derive(Debug)]
pub struct DnsLookups(pub Arc<dns::Handler>);

impl proxy::Resolve for DnsLookups {
    fn addresses(&self, name: String) -> Pin<Box<dyn Future<Output = std::io::Result<Vec<IpAddr>>> + Send>> {
        let handler = self.0.clone();
        Box::pin(async move {
            handler
                .addresses(&name)
                .await
                .map_err(|why| std::io::Error::new(std::io::ErrorKind::NotFound, why))
        })
    }
}

/// Who the DNS server says is at an address, for the console's block page.
#[derive(Debug)]
pub struct AttributionWho(pub Arc<dns::Attribution>);

impl console::unblock::WhoIs for AttributionWho {
    fn who(&self, client: IpAddr) -> (Option<String>, String) {
        let who = self.0.identify(client, Instant::now());
        (who.person, who.group)
    }
}

/// What the proxy is joined to in the running server.
pub struct Parts {
    pub accounts: StoreAccounts,
    pub engine: Arc<policy::Engine>,
    pub queue: events::EventQueue,
    /// Name lookups through the DNS path, when the DNS handler could be built.
    pub resolver: Option<Arc<dyn proxy::Resolve>>,
    pub block_page: proxy::BlockPage,
}

/// Starts the proxy on `proxy.listen`; returns the banner line and the address.
pub async fn start(
    config: &crate::config::FileConfig,
    parts: Parts,
    health: &console::HealthBoard,
    stop: tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<(String, std::net::SocketAddr)> {
    use anyhow::Context;
    let Parts {
        accounts,
        engine,
        queue,
        resolver,
        block_page,
    } = parts;
    let c = &config.proxy;
    let listener = tokio::net::TcpListener::bind(c.listen)
        .await
        .with_context(|| format!("cannot listen on {} for the web proxy", c.listen))?;
    let addr = listener.local_addr()?;
    let settings = proxy::ProxyConfig {
        max_connections: c.max_connections,
        header_timeout: c.header_timeout,
        connect_timeout: c.connect_timeout,
        open_subnets: c.open_subnets.iter().map(|s| (s.subnet, s.group.clone())).collect(),
        connect_ports: c.connect_ports.clone(),
        fallback_group: store::UNIDENTIFIED.into(),
        block_page: Some(block_page),
        hosts: c.hosts.iter().map(|(n, ip)| (n.clone(), *ip)).collect(),
        ..proxy::ProxyConfig::default()
    };
    let server = proxy::Proxy::new(engine, Arc::new(accounts), Some(queue), settings, resolver);
    tokio::spawn(server.clone().serve(listener, stop));
    let line = format!("listening on {addr} (HTTP and HTTPS via CONNECT; sign in with a school account)");
    health.report("proxy", true, line.clone());
    let h = health.clone();
    tokio::spawn(async move {
        use std::sync::atomic::Ordering::Relaxed;
        let mut tick = tokio::time::interval(Duration::from_secs(30));
        loop {
            tick.tick().await;
            let c = &server.counters;
            h.report(
                "proxy",
                true,
                format!(
                    "listening on {addr}; {} requests so far, {} blocked, {} failed sign-ins, {} connections refused \
                     (too many at once)",
                    c.requests.load(Relaxed),
                    c.blocked.load(Relaxed),
                    c.sign_in_failures.load(Relaxed),
                    c.refused_connections.load(Relaxed),
                ),
            );
        }
    });
    Ok((line, addr))
}
