//! Forwarding to the upstream resolvers: plain DNS (UDP with a retry over TCP when the
//! answer is truncated) or DNS-over-TLS (RFC 7858, with connections kept open and reused),
//! failover between upstreams, and a health mark that a failing upstream loses and a
//! periodic probe gives back.

use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hickory_proto::op::{Message, MessageType, Query};
use rustls_pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

/// Why no upstream answered.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error("no upstream resolver is configured")]
    NoneConfigured,
    #[error("every upstream failed; the last said: {0}")]
    AllFailed(String),
}

/// Where one upstream is and how to reach it: `9.9.9.9`, `[2620:fe::fe]:53`, or over TLS
/// `tls://9.9.9.9#dns.quad9.net` (port 853 unless given; the name after `#` is the one its
/// certificate must carry, the address itself when left out).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamAddr {
    pub addr: SocketAddr,
    /// The certificate name for DNS-over-TLS; `None` for plain DNS.
    pub tls_name: Option<String>,
}

impl UpstreamAddr {
    pub fn plain(addr: SocketAddr) -> UpstreamAddr {
        UpstreamAddr { addr, tls_name: None }
    }

    pub fn tls(addr: SocketAddr, name: &str) -> UpstreamAddr {
        UpstreamAddr {
            addr,
            tls_name: Some(name.to_owned()),
        }
    }
}

impl std::fmt::Display for UpstreamAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.tls_name {
            None => write!(f, "{}", self.addr),
            Some(n) => write!(f, "tls://{}#{n}", self.addr),
        }
    }
}

impl FromStr for UpstreamAddr {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let t = text.trim();
        let bad =
            || format!("{t:?} is not an upstream such as 9.9.9.9, [2620:fe::fe]:53 or tls://9.9.9.9#dns.quad9.net");
        let (rest, tls) = match t.strip_prefix("tls://") {
            Some(r) => (r, true),
            None => (t, false),
        };
        let (host, name) = match rest.split_once('#') {
            Some((h, n)) if tls && !n.is_empty() => (h, Some(n)),
            Some(_) => return Err(bad()),
            None => (rest, None),
        };
        let port = if tls { 853 } else { 53 };
        let addr = host
            .parse::<SocketAddr>()
            .or_else(|_| host.parse::<IpAddr>().map(|ip| SocketAddr::new(ip, port)))
            .or_else(|_| {
                host.trim_start_matches('[')
                    .trim_end_matches(']')
                    .parse::<IpAddr>()
                    .map(|ip| SocketAddr::new(ip, port))
            })
            .map_err(|_| bad())?;
        if !tls {
            return Ok(UpstreamAddr::plain(addr));
        }
        let name = name.map(str::to_owned).unwrap_or_else(|| addr.ip().to_string());
        ServerName::try_from(name.clone())
            .map_err(|_| format!("{name:?} in {t:?} is not a name a certificate can carry"))?;
        Ok(UpstreamAddr::tls(addr, &name))
    }
}

/// Idle DNS-over-TLS connections kept per upstream (RFC 7858 §3.4: reuse, do not handshake
/// for every question).
const TLS_IDLE: usize = 8;

/// How long a kept DNS-over-TLS connection is trusted to still be open.
const TLS_KEEP: Duration = Duration::from_secs(10);

#[derive(Debug)]
struct Upstream {
    at: UpstreamAddr,
    healthy: AtomicBool,
    /// Kept connections and when each was last used.
    idle: Mutex<Vec<(TlsStream<TcpStream>, std::time::Instant)>>,
}

/// The upstream resolvers, tried in order, healthy ones first.
pub struct Upstreams {
    list: Vec<Upstream>,
    timeout: Duration,
    tls: Option<TlsConnector>,
    /// Questions that no upstream answered.
    pub failures: AtomicU64,
}

impl std::fmt::Debug for Upstreams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upstreams")
            .field("list", &self.list)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl Upstreams {
    /// Plain and TLS upstreams; TLS certificates are checked against the Mozilla roots.
    pub fn new(list: &[UpstreamAddr], timeout: Duration) -> Upstreams {
        Upstreams::with_roots(list, timeout, Vec::new())
    }

    /// As [`Upstreams::new`], also trusting `extra_roots` (a school's or trust's own CA for
    /// a resolver of its own).
    pub fn with_roots(
        list: &[UpstreamAddr],
        timeout: Duration,
        extra_roots: Vec<CertificateDer<'static>>,
    ) -> Upstreams {
        let tls = list.iter().any(|u| u.tls_name.is_some()).then(|| {
            let mut roots = rustls::RootCertStore::empty();
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
            for cert in extra_roots {
                if let Err(e) = roots.add(cert) {
                    tracing::warn!(error = %e, "an extra upstream CA certificate was not usable");
                }
            }
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let config = rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .map(|b| b.with_root_certificates(roots).with_no_client_auth());
            match config {
                Ok(c) => Some(TlsConnector::from(Arc::new(c))),
                Err(e) => {
                    tracing::error!(error = %e, "no TLS for upstreams");
                    None
                }
            }
        });
        Upstreams {
            list: list
                .iter()
                .map(|at| Upstream {
                    at: at.clone(),
                    healthy: AtomicBool::new(true),
                    idle: Mutex::new(Vec::new()),
                })
                .collect(),
            timeout,
            tls: tls.flatten(),
            failures: AtomicU64::new(0),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// Each upstream and whether it is healthy, for `/healthz`.
    pub fn health(&self) -> Vec<(UpstreamAddr, bool)> {
        self.list
            .iter()
            .map(|u| (u.at.clone(), u.healthy.load(Ordering::Relaxed)))
            .collect()
    }

    /// Sends `query` (already encoded, with its own ID) to the upstreams until one answers
    /// `question`, giving up after twice the per-upstream timeout in all, so that a client
    /// gets SERVFAIL before its own patience runs out.
    pub async fn forward(&self, query: &[u8], id: u16, question: &Query) -> Result<Message, UpstreamError> {
        if self.list.is_empty() {
            return Err(UpstreamError::NoneConfigured);
        }
        match tokio::time::timeout(self.timeout * 2, self.try_each(query, id, question)).await {
            Ok(r) => r,
            Err(_) => {
                self.failures.fetch_add(1, Ordering::Relaxed);
                Err(UpstreamError::AllFailed("no answer in time".into()))
            }
        }
    }

    async fn try_each(&self, query: &[u8], id: u16, question: &Query) -> Result<Message, UpstreamError> {
        let mut last = String::new();
        // Healthy upstreams first, then the rest: a marked-down upstream may have recovered.
        let order = self
            .list
            .iter()
            .filter(|u| u.healthy.load(Ordering::Relaxed))
            .chain(self.list.iter().filter(|u| !u.healthy.load(Ordering::Relaxed)));
        for up in order {
            match self.ask(up, query, id, question).await {
                Ok(m) => {
                    up.healthy.store(true, Ordering::Relaxed);
                    return Ok(m);
                }
                Err(e) => {
                    tracing::warn!(upstream = %up.at, error = %e, "upstream resolver failed");
                    up.healthy.store(false, Ordering::Relaxed);
                    last = format!("{}: {e}", up.at);
                }
            }
        }
        self.failures.fetch_add(1, Ordering::Relaxed);
        Err(UpstreamError::AllFailed(last))
    }

    async fn ask(&self, up: &Upstream, query: &[u8], id: u16, question: &Query) -> Result<Message, String> {
        if up.at.tls_name.is_some() {
            return tokio::time::timeout(self.timeout, self.tls_exchange(up, query, id, question))
                .await
                .map_err(|_| "timed out over TLS".to_owned())?;
        }
        let addr = up.at.addr;
        let reply = tokio::time::timeout(self.timeout, udp_exchange(addr, query, id, question))
            .await
            .map_err(|_| "timed out".to_owned())??;
        if reply.metadata.truncation {
            // RFC 7766: a truncated UDP answer is asked again over TCP.
            return tokio::time::timeout(self.timeout, tcp_exchange(addr, query, id, question))
                .await
                .map_err(|_| "timed out over TCP".to_owned())?;
        }
        Ok(reply)
    }

    /// One question over a kept TLS connection, or a new one. A kept connection the server
    /// has since closed fails at once, so the question is asked again on a fresh one.
    async fn tls_exchange(&self, up: &Upstream, query: &[u8], id: u16, question: &Query) -> Result<Message, String> {
        // Resolvers close idle connections after some seconds (and NATs forget them): one
        // older than that is likely dead, so it is dropped rather than tried.
        let kept = {
            let mut idle = up.idle.lock().unwrap_or_else(|p| p.into_inner());
            idle.retain(|(_, used)| used.elapsed() < TLS_KEEP);
            idle.pop().map(|(s, _)| s)
        };
        // A kept connection gets half the time: one that died silently must leave time for
        // a fresh one.
        if let Some(mut stream) = kept
            && let Ok(Ok(m)) =
                tokio::time::timeout(self.timeout / 2, stream_exchange(&mut stream, query, id, question)).await
        {
            up.keep(stream);
            return Ok(m);
        }
        let mut stream = self.tls_connect(up).await?;
        let m = stream_exchange(&mut stream, query, id, question).await?;
        up.keep(stream);
        Ok(m)
    }

    async fn tls_connect(&self, up: &Upstream) -> Result<TlsStream<TcpStream>, String> {
        let connector = self.tls.as_ref().ok_or("TLS is not available")?;
        let name = up.at.tls_name.clone().unwrap_or_default();
        let server_name = ServerName::try_from(name).map_err(|e| e.to_string())?;
        let tcp = TcpStream::connect(up.at.addr).await.map_err(|e| e.to_string())?;
        let _ = tcp.set_nodelay(true);
        connector
            .connect(server_name, tcp)
            .await
            .map_err(|e| format!("TLS: {e}"))
    }

    /// Probes every upstream with a query for the root's NS records and updates their marks.
    pub async fn probe(&self) {
        let mut q = Message::query();
        q.metadata.id = 0x5347;
        q.metadata.recursion_desired = true;
        q.add_query(hickory_proto::op::Query::query(
            hickory_proto::rr::Name::root(),
            hickory_proto::rr::RecordType::NS,
        ));
        let Ok(bytes) = q.to_vec() else { return };
        let question = q.queries[0].clone();
        for up in &self.list {
            let ok = matches!(
                tokio::time::timeout(self.timeout, self.ask(up, &bytes, q.metadata.id, &question)).await,
                Ok(Ok(_))
            );
            up.healthy.store(ok, Ordering::Relaxed);
        }
    }
}

/// Whether `m` is the answer to the question asked: a response, with our ID, about the same
/// name, type and class. Anything else is ignored (RFC 5452), so a forged or stray datagram
/// cannot be cached as the answer to a pupil's question.
fn answers(m: &Message, id: u16, question: &Query) -> bool {
    m.metadata.message_type == MessageType::Response
        && m.metadata.id == id
        && m.queries.len() == 1
        && m.queries[0].query_type == question.query_type
        && m.queries[0].query_class == question.query_class
        && m.queries[0]
            .name
            .to_ascii()
            .eq_ignore_ascii_case(&question.name.to_ascii())
}

async fn udp_exchange(addr: SocketAddr, query: &[u8], id: u16, question: &Query) -> Result<Message, String> {
    let bind: SocketAddr = if addr.is_ipv4() {
        "0.0.0.0:0".parse().expect("literal")
    } else {
        "[::]:0".parse().expect("literal")
    };
    let sock = UdpSocket::bind(bind).await.map_err(|e| e.to_string())?;
    sock.connect(addr).await.map_err(|e| e.to_string())?;
    sock.send(query).await.map_err(|e| e.to_string())?;
    // We ask with an EDNS size of 1232 (or none, meaning 512), so a bigger datagram is not
    // an answer to us.
    let mut buf = vec![0u8; 4096];
    loop {
        let n = sock.recv(&mut buf).await.map_err(|e| e.to_string())?;
        if let Ok(m) = Message::from_vec(&buf[..n])
            && answers(&m, id, question)
        {
            return Ok(m);
        }
    }
}

impl Upstream {
    fn keep(&self, stream: TlsStream<TcpStream>) {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        if idle.len() < TLS_IDLE {
            idle.push((stream, std::time::Instant::now()));
        }
    }
}

async fn tcp_exchange(addr: SocketAddr, query: &[u8], id: u16, question: &Query) -> Result<Message, String> {
    let mut s = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    stream_exchange(&mut s, query, id, question).await
}

/// One question and its answer over a stream, each with its two-byte length (RFC 1035 §4.2.2).
async fn stream_exchange<S: AsyncRead + AsyncWrite + Unpin>(
    s: &mut S,
    query: &[u8],
    id: u16,
    question: &Query,
) -> Result<Message, String> {
    let len = u16::try_from(query.len()).map_err(|_| "query too long".to_owned())?;
    let mut framed = Vec::with_capacity(query.len() + 2);
    framed.extend_from_slice(&len.to_be_bytes());
    framed.extend_from_slice(query);
    s.write_all(&framed).await.map_err(|e| e.to_string())?;
    s.flush().await.map_err(|e| e.to_string())?;
    let mut lb = [0u8; 2];
    s.read_exact(&mut lb).await.map_err(|e| e.to_string())?;
    let mut buf = vec![0u8; usize::from(u16::from_be_bytes(lb))];
    s.read_exact(&mut buf).await.map_err(|e| e.to_string())?;
    let m = Message::from_vec(&buf).map_err(|e| e.to_string())?;
    if !answers(&m, id, question) {
        return Err("answer for another question".into());
    }
    Ok(m)
}
