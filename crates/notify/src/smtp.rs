//! Sending over SMTP (lettre). The school's mail server is named in the config file with
//! its port and TLS mode, and signed in to with a password or with OAuth2 (XOAUTH2): an
//! access token is fetched from the identity provider with the client-credentials grant
//! and kept until shortly before it expires. Microsoft 365 turns password SMTP off by
//! default from the end of December 2026, so OAuth2 is the way for most schools.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use lettre::message::{Mailbox, MultiPart, header};
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde::Deserialize;
use tokio::sync::Mutex;

use crate::compose::Email;

/// How the connection to the mail server is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum TlsMode {
    /// Plain connection upgraded with STARTTLS, which must succeed (port 587).
    #[default]
    Starttls,
    /// TLS from the first byte (port 465).
    Tls,
    /// No TLS at all: only for a relay on the same machine or the loopback address.
    None,
}

/// OAuth2 client-credentials settings (Microsoft 365: an app registration with the
/// `SMTP.SendAsApp` permission, `scope = "https://outlook.office365.com/.default"`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OAuth2Config {
    pub token_url: String,
    pub client_id: String,
    /// The secret itself, or (better) `client_secret_file`.
    pub client_secret: Option<String>,
    pub client_secret_file: Option<PathBuf>,
    pub scope: String,
}

/// The `[mail]` table of the config file.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MailConfig {
    pub server: String,
    /// Default: 587 for STARTTLS, 465 for TLS, 25 for none.
    pub port: Option<u16>,
    #[serde(default)]
    pub tls: TlsMode,
    /// The sender address ("schoolgate@school.example" or "Online safety <sg@school.example>").
    pub from: String,
    pub username: Option<String>,
    pub password: Option<String>,
    pub password_file: Option<PathBuf>,
    pub oauth2: Option<OAuth2Config>,
    /// A CA certificate (PEM) to trust for the mail server, beside the public roots.
    pub ca_file: Option<PathBuf>,
    /// Seconds to wait for the server (default 30).
    pub timeout_secs: Option<u64>,
    /// Seconds before a failed email is tried again (default 60); each later try waits
    /// twice as long as the one before, up to an hour.
    pub retry_secs: Option<u64>,
}

/// Why an email was not sent.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("mail settings: {0}")]
    Config(String),
    #[error("the OAuth2 token could not be had from {url}: {why}")]
    Token { url: String, why: String },
    #[error("the mail server {server} did not take the message: {why}")]
    Smtp { server: String, why: String },
}

/// When to try a failed email again after `attempts` tries: `first` after the first,
/// doubling each time up to an hour, never giving up (the outbox keeps it, and the
/// dashboard shows it is stuck).
pub fn retry_after(attempts: i64, first: Duration) -> Duration {
    let doublings = attempts.clamp(1, 20) - 1;
    first
        .saturating_mul(1u32 << doublings.min(12) as u32)
        .min(Duration::from_secs(3600))
        .max(first.min(Duration::from_secs(3600)))
}

#[derive(Debug)]
struct Token {
    value: String,
    until: Instant,
}

/// Sends schoolgate's emails. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Mailer {
    config: Arc<MailConfig>,
    from: Mailbox,
    password: Option<String>,
    client_secret: Option<String>,
    ca: Option<Vec<u8>>,
    token: Arc<Mutex<Option<Token>>>,
    http: reqwest::Client,
}

fn read_secret(what: &str, inline: &Option<String>, file: &Option<PathBuf>) -> Result<Option<String>, SendError> {
    match (inline, file) {
        (Some(_), Some(_)) => Err(SendError::Config(format!("give {what} or {what}_file, not both"))),
        (Some(s), None) => Ok(Some(s.clone())),
        (None, Some(path)) => std::fs::read_to_string(path)
            .map(|s| Some(s.trim().to_owned()))
            .map_err(|e| SendError::Config(format!("{what}_file {}: {e}", path.display()))),
        (None, None) => Ok(None),
    }
}

impl Mailer {
    /// Checks the settings and reads the secrets they point at.
    pub fn new(config: MailConfig) -> Result<Mailer, SendError> {
        let from: Mailbox = config
            .from
            .parse()
            .map_err(|e| SendError::Config(format!("from = {:?} is not an email address: {e}", config.from)))?;
        let password = read_secret("password", &config.password, &config.password_file)?;
        let client_secret = match &config.oauth2 {
            Some(o) => {
                let s = read_secret("client_secret", &o.client_secret, &o.client_secret_file)?;
                if s.is_none() {
                    return Err(SendError::Config(
                        "[mail.oauth2] needs client_secret or client_secret_file".into(),
                    ));
                }
                s
            }
            None => None,
        };
        if password.is_some() && config.oauth2.is_some() {
            return Err(SendError::Config("give a password or [mail.oauth2], not both".into()));
        }
        if (password.is_some() || config.oauth2.is_some()) && config.username.is_none() {
            return Err(SendError::Config("signing in needs username".into()));
        }
        let ca = match &config.ca_file {
            Some(p) => Some(std::fs::read(p).map_err(|e| SendError::Config(format!("ca_file {}: {e}", p.display())))?),
            None => None,
        };
        Ok(Mailer {
            config: Arc::new(config),
            from,
            password,
            client_secret,
            ca,
            token: Arc::new(Mutex::new(None)),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .map_err(|e| SendError::Config(e.to_string()))?,
        })
    }

    fn port(&self) -> u16 {
        self.config.port.unwrap_or(match self.config.tls {
            TlsMode::Starttls => 587,
            TlsMode::Tls => 465,
            TlsMode::None => 25,
        })
    }

    /// How long after a failed first try the next one is.
    pub fn first_retry(&self) -> Duration {
        Duration::from_secs(self.config.retry_secs.unwrap_or(60).max(1))
    }

    /// Where mail goes, for messages: `smtp.example:587`.
    pub fn server(&self) -> String {
        format!("{}:{}", self.config.server, self.port())
    }

    async fn access_token(&self) -> Result<String, SendError> {
        let Some(o) = &self.config.oauth2 else {
            return Err(SendError::Config("no [mail.oauth2] settings".into()));
        };
        let mut cached = self.token.lock().await;
        if let Some(t) = cached.as_ref().filter(|t| t.until > Instant::now()) {
            return Ok(t.value.clone());
        }
        let fail = |why: String| SendError::Token {
            url: o.token_url.clone(),
            why,
        };
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", o.client_id.as_str()),
            ("client_secret", self.client_secret.as_deref().unwrap_or_default()),
            ("scope", o.scope.as_str()),
        ];
        let resp = self
            .http
            .post(&o.token_url)
            .form(&form)
            .send()
            .await
            .map_err(|e| fail(e.to_string()))?;
        let status = resp.status();
        let body: serde_json::Value = resp.json().await.map_err(|e| fail(format!("{status}: {e}")))?;
        if !status.is_success() {
            let why = body["error_description"]
                .as_str()
                .or(body["error"].as_str())
                .unwrap_or("refused");
            return Err(fail(format!("{status}: {why}")));
        }
        let value = body["access_token"]
            .as_str()
            .ok_or_else(|| fail("the answer has no access_token".into()))?
            .to_owned();
        let lasts = body["expires_in"].as_u64().unwrap_or(3600);
        // Renew a minute early, so a token never expires between fetching and using it.
        *cached = Some(Token {
            value: value.clone(),
            until: Instant::now() + Duration::from_secs(lasts.saturating_sub(60).max(1)),
        });
        Ok(value)
    }

    async fn transport(&self) -> Result<AsyncSmtpTransport<Tokio1Executor>, SendError> {
        let host = self.config.server.clone();
        let tls_params = || -> Result<TlsParameters, SendError> {
            let mut b = TlsParameters::builder(host.clone());
            if let Some(pem) = &self.ca {
                let cert = Certificate::from_pem(pem).map_err(|e| SendError::Config(format!("ca_file: {e}")))?;
                b = b.add_root_certificate(cert);
            }
            b.build_rustls().map_err(|e| SendError::Config(e.to_string()))
        };
        let tls = match self.config.tls {
            TlsMode::Starttls => Tls::Required(tls_params()?),
            TlsMode::Tls => Tls::Wrapper(tls_params()?),
            TlsMode::None => Tls::None,
        };
        let mut b = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
            .port(self.port())
            .tls(tls)
            .timeout(Some(Duration::from_secs(self.config.timeout_secs.unwrap_or(30))));
        if let Some(user) = &self.config.username {
            if self.config.oauth2.is_some() {
                let token = self.access_token().await?;
                b = b
                    .credentials(Credentials::new(user.clone(), token))
                    .authentication(vec![Mechanism::Xoauth2]);
            } else if let Some(p) = &self.password {
                b = b
                    .credentials(Credentials::new(user.clone(), p.clone()))
                    .authentication(vec![Mechanism::Plain, Mechanism::Login]);
            }
        }
        Ok(b.build())
    }

    /// Sends `email` to `to`, each recipient seeing only themself (one message per
    /// recipient, so one bad address does not stop the rest). Succeeds when every
    /// recipient's message was taken; else the first error.
    pub async fn send(&self, to: &[String], email: &Email) -> Result<(), SendError> {
        match self.send_each(to, email).await?.into_iter().next() {
            None => Ok(()),
            Some((_, e)) => Err(e),
        }
    }

    /// Sends to each recipient in turn and says which were not taken, and why. An error
    /// that stops every message (settings, the OAuth2 token, nobody to send to) is `Err`.
    pub async fn send_each(&self, to: &[String], email: &Email) -> Result<Vec<(String, SendError)>, SendError> {
        if to.is_empty() {
            return Err(SendError::Config(
                "nobody to send to: give the headteacher, DSL and technician an email address, or set \
                 [digest] recipients"
                    .into(),
            ));
        }
        let transport = self.transport().await?;
        let smtp = |why: String| SendError::Smtp {
            server: self.server(),
            why,
        };
        let mut failed = Vec::new();
        for addr in to {
            let mailbox: Mailbox = match addr.parse() {
                Ok(m) => m,
                Err(e) => {
                    failed.push((
                        addr.clone(),
                        SendError::Config(format!("{addr:?} is not an email address: {e}")),
                    ));
                    continue;
                }
            };
            let msg = Message::builder()
                .from(self.from.clone())
                .to(mailbox)
                .subject(&email.subject)
                .header(AutoSubmitted)
                .multipart(MultiPart::alternative_plain_html(
                    email.text.clone(),
                    email.html.clone(),
                ));
            let msg = match msg {
                Ok(m) => m,
                Err(e) => {
                    failed.push((addr.clone(), smtp(e.to_string())));
                    continue;
                }
            };
            if let Err(e) = transport.send(msg).await {
                // lettre's message carries the server's reply; keep the chain for the dashboard.
                let mut why = e.to_string();
                let mut src = std::error::Error::source(&e);
                while let Some(s) = src {
                    why.push_str(": ");
                    why.push_str(&s.to_string());
                    src = s.source();
                }
                failed.push((addr.clone(), smtp(why)));
            }
        }
        Ok(failed)
    }
}

/// `Auto-Submitted: auto-generated` (RFC 3834): out-of-office replies are not sent back.
#[derive(Debug, Clone, Copy)]
struct AutoSubmitted;

impl header::Header for AutoSubmitted {
    fn name() -> header::HeaderName {
        header::HeaderName::new_from_ascii_str("Auto-Submitted")
    }

    fn parse(_: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(AutoSubmitted)
    }

    fn display(&self) -> header::HeaderValue {
        header::HeaderValue::new(Self::name(), "auto-generated".into())
    }
}
