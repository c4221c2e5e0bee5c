//! Forwarding to the upstream resolvers: UDP with a retry over TCP when the answer is
//! truncated, failover between upstreams, and a health mark that a failing upstream loses
//! and a periodic probe gives back.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use hickory_proto::op::{Message, MessageType, Query};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

/// Why no upstream answered.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error("no upstream resolver is configured")]
    NoneConfigured,
    #[error("every upstream failed; the last said: {0}")]
    AllFailed(String),
}

#[derive(Debug)]
struct Upstream {
    addr: SocketAddr,
    healthy: AtomicBool,
}

/// The upstream resolvers, tried in order, healthy ones first.
#[derive(Debug)]
pub struct Upstreams {
    list: Vec<Upstream>,
    timeout: Duration,
    /// Questions that no upstream answered.
    pub failures: AtomicU64,
}

impl Upstreams {
    pub fn new(addrs: &[SocketAddr], timeout: Duration) -> Upstreams {
        Upstreams {
            list: addrs
                .iter()
                .map(|&addr| Upstream {
                    addr,
                    healthy: AtomicBool::new(true),
                })
                .collect(),
            timeout,
            failures: AtomicU64::new(0),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// Each upstream and whether it is healthy, for `/healthz`.
    pub fn health(&self) -> Vec<(SocketAddr, bool)> {
        self.list
            .iter()
            .map(|u| (u.addr, u.healthy.load(Ordering::Relaxed)))
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
            match self.ask(up.addr, query, id, question).await {
                Ok(m) => {
                    up.healthy.store(true, Ordering::Relaxed);
                    return Ok(m);
                }
                Err(e) => {
                    tracing::warn!(upstream = %up.addr, error = %e, "upstream resolver failed");
                    up.healthy.store(false, Ordering::Relaxed);
                    last = format!("{}: {e}", up.addr);
                }
            }
        }
        self.failures.fetch_add(1, Ordering::Relaxed);
        Err(UpstreamError::AllFailed(last))
    }

    async fn ask(&self, addr: SocketAddr, query: &[u8], id: u16, question: &Query) -> Result<Message, String> {
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
                tokio::time::timeout(self.timeout, udp_exchange(up.addr, &bytes, q.metadata.id, &question)).await,
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

async fn tcp_exchange(addr: SocketAddr, query: &[u8], id: u16, question: &Query) -> Result<Message, String> {
    let mut s = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    let len = u16::try_from(query.len()).map_err(|_| "query too long".to_owned())?;
    s.write_all(&len.to_be_bytes()).await.map_err(|e| e.to_string())?;
    s.write_all(query).await.map_err(|e| e.to_string())?;
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
