//! A real `schoolgate serve` process on free ports in a temporary data directory.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// A running server; killed when dropped unless [`Server::stop`] was called.
#[derive(Debug)]
pub struct Server {
    child: Option<Child>,
    /// `http://127.0.0.1:PORT`
    pub url: String,
    /// Everything `serve` printed before "Press Ctrl-C to stop."
    pub banner: Vec<String>,
    pub data: PathBuf,
    _dir: Option<tempfile::TempDir>,
    lines: mpsc::Receiver<String>,
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// How to start a server.
#[derive(Debug, Default, Clone)]
pub struct ServerOptions {
    pub demo: bool,
    /// Text of a configuration file to pass with `--config`.
    pub config: Option<String>,
    /// Use this data directory instead of a new temporary one.
    pub data: Option<PathBuf>,
    /// The DNS address to ask for [default: a free port].
    pub dns: Option<String>,
    /// The proxy address to ask for [default: a free port].
    pub proxy: Option<String>,
    pub extra_args: Vec<String>,
}

impl Server {
    /// Starts `bin serve` and waits for its banner; panics with what it printed if it exits.
    pub fn start(bin: &str, options: ServerOptions) -> Server {
        let (dir, data) = match &options.data {
            Some(d) => (None, d.clone()),
            None => {
                let dir = tempfile::tempdir().expect("a temporary data directory");
                let data = dir.path().join("data");
                (Some(dir), data)
            }
        };
        let mut cmd = Command::new(bin);
        // Free ports for every listener; an upstream on loopback that answers nothing, so no
        // test ever sends a question off this machine.
        let dns = options.dns.clone().unwrap_or_else(|| "127.0.0.1:0".into());
        let proxy = options.proxy.clone().unwrap_or_else(|| "127.0.0.1:0".into());
        cmd.args([
            "serve",
            "--console",
            "127.0.0.1:0",
            "--dns",
            &dns,
            "--proxy",
            &proxy,
            "--upstream",
            "127.0.0.1:9",
            "--data",
        ])
        .arg(&data);
        if options.demo {
            cmd.arg("--demo");
        }
        if let Some(text) = &options.config {
            let path = data.with_extension("toml");
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).expect("config directory");
            }
            std::fs::write(&path, text).expect("write the test config");
            cmd.arg("--config").arg(&path);
        }
        cmd.args(&options.extra_args);
        cmd.env("SCHOOLGATE_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("cannot start {bin}: {e}"));
        let (tx, rx) = mpsc::channel();
        let stdout = child.stdout.take().expect("stdout is piped");
        let stderr = child.stderr.take().expect("stderr is piped");
        let tx2 = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = tx2.send(format!("stderr: {line}"));
            }
        });
        let mut banner = Vec::new();
        loop {
            match rx.recv_timeout(Duration::from_secs(60)) {
                Ok(line) if line.starts_with("Press Ctrl-C") => break,
                Ok(line) => banner.push(line),
                Err(_) => {
                    let status = child.try_wait().ok().flatten();
                    panic!(
                        "serve did not start (exit: {status:?}); it printed:\n{}",
                        banner.join("\n")
                    );
                }
            }
        }
        let url = banner
            .iter()
            .find_map(|l| l.split("listening on ").nth(1))
            .map(|rest| format!("http://{}", rest.trim_end_matches(')')))
            .unwrap_or_else(|| panic!("no console address in:\n{}", banner.join("\n")));
        Server {
            child: Some(child),
            url,
            banner,
            data,
            _dir: dir,
            lines: rx,
        }
    }

    /// The address a banner line (`  Proxy:    listening on 127.0.0.1:40123 (…`) gives.
    pub fn listening(&self, label: &str) -> std::net::SocketAddr {
        self.banner
            .iter()
            .find(|l| l.trim_start().starts_with(label))
            .and_then(|l| l.split("listening on ").nth(1))
            .and_then(|rest| rest.split([' ', ',']).next())
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("no {label} address in:\n{}", self.banner.join("\n")))
    }

    /// The demo password printed for `username`.
    pub fn demo_password(&self, username: &str) -> String {
        self.banner
            .iter()
            .find_map(|l| {
                let words: Vec<&str> = l.split_whitespace().collect();
                let at = words.iter().position(|w| *w == username)?;
                words.get(at + 1).map(|p| p.to_string())
            })
            .unwrap_or_else(|| panic!("no demo password for {username} in:\n{}", self.banner.join("\n")))
    }

    /// The setup link printed for a school without an administrator.
    pub fn setup_link(&self) -> Option<String> {
        self.banner
            .iter()
            .map(|l| l.trim())
            .find(|l| l.contains("/setup/"))
            .map(str::to_owned)
    }

    pub fn data_dir(&self) -> &Path {
        &self.data
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(|c| c.id()).unwrap_or(0)
    }

    /// Sends SIGTERM and waits for the process: returns its exit status and what it
    /// printed after the banner.
    pub fn stop(mut self) -> (std::process::ExitStatus, Vec<String>) {
        let mut child = self.child.take().expect("server still running");
        let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
        let status = child.wait().expect("wait for serve");
        let rest: Vec<String> =
            std::iter::from_fn(|| self.lines.recv_timeout(Duration::from_millis(500)).ok()).collect();
        (status, rest)
    }
}
