//! A real SMTP server for tests: Python's aiosmtpd, started as a separate process on a
//! loopback port, writing each message it takes into a directory the test reads. Tests
//! skip (or fail, with `SCHOOLGATE_REQUIRE_SERVICES=1`) when Python or aiosmtpd is missing.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

const SCRIPT: &str = include_str!("smtp_sink.py");

/// One message the server took.
#[derive(Debug, Clone)]
pub struct Received {
    pub mail_from: String,
    pub rcpt_tos: Vec<String>,
    /// The whole message as sent: headers and MIME parts.
    pub data: String,
    /// `user` for PLAIN/LOGIN, `xoauth2:user` for XOAUTH2, empty without AUTH.
    pub login: String,
}

/// A running SMTP server.
#[derive(Debug)]
pub struct SmtpSink {
    pub port: u16,
    child: Child,
    dir: tempfile::TempDir,
}

/// How the server checks sign-ins: none, a password, or an OAuth2 bearer token.
#[derive(Debug, Clone, Copy, Default)]
pub enum SinkAuth<'a> {
    #[default]
    None,
    Password(&'a str),
    OAuth2Token(&'a str),
}

/// A free loopback port (free when asked: a test that starts a server on it later may
/// race another process, which on a test machine does not happen in practice).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

impl SmtpSink {
    /// Starts a server on a free port, or says the test skipped.
    pub async fn start(test: &str, auth: SinkAuth<'_>) -> Option<SmtpSink> {
        SmtpSink::start_on(test, free_port(), auth).await
    }

    /// Starts a server on `port`.
    pub async fn start_on(test: &str, port: u16, auth: SinkAuth<'_>) -> Option<SmtpSink> {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let script = dir.path().join("smtp_sink.py");
        std::fs::write(&script, SCRIPT).expect("write the SMTP sink script");
        let out = dir.path().join("mail");
        std::fs::create_dir(&out).expect("mail directory");
        let mut cmd = Command::new("python3");
        cmd.arg(&script)
            .arg(port.to_string())
            .arg(&out)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        match auth {
            SinkAuth::None => {}
            SinkAuth::Password(p) => {
                cmd.env("SINK_PASSWORD", p);
            }
            SinkAuth::OAuth2Token(t) => {
                cmd.env("SINK_OAUTH_TOKEN", t);
            }
        }
        let mut child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) => return skipped(test, &format!("python3 could not be started: {e}")),
        };
        let stdout = child.stdout.take().expect("piped stdout");
        let mut lines = BufReader::new(stdout).lines();
        let ready = tokio::time::timeout(Duration::from_secs(20), lines.next_line()).await;
        if !matches!(ready, Ok(Ok(Some(ref l))) if l == "ready") {
            let mut err = String::new();
            if let Some(mut e) = child.stderr.take() {
                use tokio::io::AsyncReadExt;
                let _ = tokio::time::timeout(Duration::from_secs(2), e.read_to_string(&mut err)).await;
            }
            let _ = child.kill().await;
            let last = err.lines().last().unwrap_or("no output").to_owned();
            return skipped(test, &format!("the aiosmtpd server did not start ({last})"));
        }
        Some(SmtpSink { port, child, dir })
    }

    fn out(&self) -> PathBuf {
        self.dir.path().join("mail")
    }

    /// The messages taken so far, oldest first.
    pub fn messages(&self) -> Vec<Received> {
        let mut names: Vec<PathBuf> = std::fs::read_dir(self.out())
            .map(|d| {
                d.filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| p.extension().is_some_and(|x| x == "json"))
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
            .iter()
            .filter_map(|p| std::fs::read_to_string(p).ok())
            .filter_map(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .map(|v| Received {
                mail_from: v["mail_from"].as_str().unwrap_or_default().to_owned(),
                rcpt_tos: v["rcpt_tos"]
                    .as_array()
                    .map(|a| a.iter().filter_map(|r| r.as_str().map(str::to_owned)).collect())
                    .unwrap_or_default(),
                data: v["data"].as_str().unwrap_or_default().to_owned(),
                login: v["login"].as_str().unwrap_or_default().to_owned(),
            })
            .collect()
    }

    /// Waits up to `limit` for at least `n` messages.
    pub async fn wait_for(&self, n: usize, limit: Duration) -> Vec<Received> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let got = self.messages();
            if got.len() >= n || tokio::time::Instant::now() >= deadline {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Stops the server (its port is then closed, as a mail server that is down).
    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

fn skipped<T>(test: &str, why: &str) -> Option<T> {
    if std::env::var("SCHOOLGATE_REQUIRE_SERVICES").is_ok_and(|v| v == "1") {
        panic!("{test}: an SMTP server (python3 with aiosmtpd) is required (SCHOOLGATE_REQUIRE_SERVICES=1) but {why}");
    }
    eprintln!("SKIPPED ({test}): {why}");
    None
}
