//! The sockets: UDP and TCP listeners in front of the [`Handler`], with the limits that keep
//! a hostile or broken client from taking the server down for everyone else.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::{Semaphore, watch};

use crate::batch;
use crate::fold::{self, Answered, Fold, Folded};
use crate::handler::{Handler, Outcome, Prepared};

/// Limits and sizes.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Open TCP connections at once; more are closed as they arrive.
    pub max_tcp_connections: usize,
    /// A TCP connection with nothing to say for this long is closed.
    pub tcp_idle: Duration,
    /// Questions a second one client may ask; more are dropped (0 = no limit).
    pub per_client_qps: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_tcp_connections: 256,
            tcp_idle: Duration::from_secs(10),
            per_client_qps: 0,
        }
    }
}

/// Where answered questions go: the event log. Must not block.
pub trait EventSink: Send + Sync + 'static {
    /// One answer to `client`, given `answered.repeats` times (see [`fold`]).
    fn record(&self, outcome: Outcome, client: IpAddr, answered: Answered);

    /// A socket loop's folded answers, about a second's worth. The loop waits for this, so
    /// a sink whose `record` does real work should hand them to another thread: recording
    /// thousands of answers in the loop held every question behind it for milliseconds.
    fn record_folded(&self, folded: Folded) {
        for (o, client, a) in folded {
            self.record(o, client, a);
        }
    }
}

/// Counters for `/healthz` and the metrics.
#[derive(Debug, Default)]
pub struct Counters {
    pub queries: AtomicU64,
    /// Questions dropped because too many were already in hand.
    pub busy: AtomicU64,
    pub rate_limited: AtomicU64,
    pub tcp_refused: AtomicU64,
}

/// A running DNS server's shared parts.
pub struct DnsServer {
    pub handler: Arc<Handler>,
    pub limits: Limits,
    pub counters: Arc<Counters>,
    sink: Option<Arc<dyn EventSink>>,
    rate: Mutex<HashMap<IpAddr, (u64, u32)>>,
    /// Questions in hand at once over UDP: bounds the memory a flood of questions about
    /// names whose servers never answer can take.
    in_flight: Arc<Semaphore>,
}

impl std::fmt::Debug for DnsServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DnsServer").field("limits", &self.limits).finish()
    }
}

/// Whose allowance a question counts against: an IPv4 address, or an IPv6 client's /64,
/// since one device can take any address in its network's /64 (privacy addresses) and would
/// otherwise get a fresh allowance with each.
fn rate_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) if v6.to_ipv4_mapped().is_none() => {
            IpAddr::V6(std::net::Ipv6Addr::from(u128::from(v6) & !((1u128 << 64) - 1)))
        }
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// The UDP sockets of one address: one per core, all bound with `SO_REUSEPORT`, so that the
/// kernel spreads clients over them and each core's loop has its own queue.
#[derive(Debug)]
pub struct UdpSockets(Vec<UdpSocket>);

impl UdpSockets {
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        match self.0.first() {
            Some(s) => s.local_addr(),
            None => Err(std::io::Error::other("no UDP socket")),
        }
    }
}

fn reuseport_udp(addr: SocketAddr) -> std::io::Result<UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.set_reuse_port(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    UdpSocket::from_std(socket.into())
}

/// Binds the TCP listener and the UDP sockets on one address (port 0 picks a free port for
/// both). TCP is bound first and without `SO_REUSEPORT`: it fails if another server has the
/// port, and with port 0 it picks a port no other server of ours holds, so that the UDP
/// sockets (which share their port with each other) never join another server's group.
pub async fn bind(addr: SocketAddr) -> std::io::Result<(UdpSockets, TcpListener)> {
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let mut last = None;
    for _ in 0..20 {
        let tcp = TcpListener::bind(addr).await?;
        let bound = tcp.local_addr()?;
        let group = (0..cores.clamp(1, 16))
            .map(|_| reuseport_udp(bound))
            .collect::<std::io::Result<Vec<_>>>();
        match group {
            Ok(sockets) => return Ok((UdpSockets(sockets), tcp)),
            // Port 0 gave a TCP port whose UDP twin is taken by someone else: try another.
            Err(e) if addr.port() == 0 && e.kind() == std::io::ErrorKind::AddrInUse => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| std::io::Error::other("no free port for DNS")))
}

impl DnsServer {
    pub fn new(handler: Arc<Handler>, limits: Limits, sink: Option<Arc<dyn EventSink>>) -> Arc<DnsServer> {
        Arc::new(DnsServer {
            handler,
            limits,
            counters: Arc::new(Counters::default()),
            sink,
            rate: Mutex::new(HashMap::new()),
            in_flight: Arc::new(Semaphore::new(10_000)),
        })
    }

    fn allowed(&self, ip: IpAddr) -> bool {
        let limit = self.limits.per_client_qps;
        if limit == 0 {
            return true;
        }
        let second = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let mut map = self.rate.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() > 100_000 {
            map.retain(|_, (s, _)| *s == second);
        }
        let e = map.entry(rate_key(ip)).or_insert((second, 0));
        if e.0 != second {
            *e = (second, 0);
        }
        e.1 += 1;
        e.1 <= limit
    }

    async fn answer(self: &Arc<Self>, packet: &[u8], client: IpAddr, udp: bool) -> Option<Vec<u8>> {
        self.counters.queries.fetch_add(1, Ordering::Relaxed);
        let started = Instant::now();
        let (bytes, outcome) = self.handler.handle(packet, client, udp).await?;
        self.log(outcome, client, started);
        Some(bytes)
    }

    fn log(&self, outcome: Option<Outcome>, client: IpAddr, started: Instant) {
        if let (Some(sink), Some(o)) = (&self.sink, outcome) {
            sink.record(o, client, Answered::once(started.elapsed()));
        }
    }

    /// Sends a loop's folded answers to the log.
    fn flush(&self, fold: &mut Fold) {
        let folded = fold.take();
        if let Some(sink) = &self.sink {
            sink.record_folded(folded);
        }
    }

    /// Serves UDP until `stop` changes: a receive loop per socket (one per core), each on a
    /// thread and runtime of its own. Questions answered without an upstream (blocks, cache
    /// hits) are answered in the loop; only those that wait for an upstream become a task,
    /// on the runtime that called this, so that one slow upstream never holds up the others.
    /// Own threads because on the shared runtime the loops sometimes shared one worker while
    /// the other idled, and waited behind the event writer and the console's tasks: the
    /// pupils' answers should wait for nothing but the network.
    pub async fn serve_udp(self: Arc<Self>, sockets: UdpSockets, stop: watch::Receiver<bool>) {
        let main = tokio::runtime::Handle::current();
        let mut running = Vec::new();
        for (i, socket) in sockets.0.into_iter().enumerate() {
            let socket = match socket.into_std() {
                Ok(s) => s,
                Err(e) => {
                    tracing::error!(error = %e, "a DNS socket could not be moved to its thread");
                    continue;
                }
            };
            let (finished, done) = tokio::sync::oneshot::channel::<()>();
            let (me, stop, main) = (self.clone(), stop.clone(), main.clone());
            let spawned = std::thread::Builder::new().name(format!("dns-udp-{i}")).spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build();
                match runtime {
                    Ok(rt) => rt.block_on(async move {
                        match UdpSocket::from_std(socket) {
                            Ok(s) => me.udp_loop(Arc::new(s), stop, main).await,
                            Err(e) => tracing::error!(error = %e, "a DNS socket could not be served"),
                        }
                    }),
                    Err(e) => tracing::error!(error = %e, "no runtime for a DNS socket"),
                }
                let _ = finished.send(());
            });
            match spawned {
                Ok(_) => running.push(done),
                Err(e) => tracing::error!(error = %e, "no thread for a DNS socket"),
            }
        }
        for done in running {
            let _ = done.await;
        }
    }

    /// One socket's receive loop; questions for an upstream are finished on `main`. It
    /// reads a batch at a time ([`batch`]) until the socket is empty before it waits again,
    /// so that a busy socket costs two system calls a batch and no trip through the runtime;
    /// the fold goes to the log every [`fold::WINDOW`], and when the loop stops.
    async fn udp_loop(
        self: Arc<Self>,
        socket: Arc<UdpSocket>,
        mut stop: watch::Receiver<bool>,
        main: tokio::runtime::Handle,
    ) {
        /// Batches read in one go before the loop looks at `stop` again.
        const BURST: usize = 8;
        let mut received = batch::Received::default();
        let mut out = batch::Outgoing::default();
        let mut fold = Fold::default();
        let mut tick = tokio::time::interval(fold::WINDOW / 4);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            for _ in 0..BURST {
                let n = match received.read(&socket) {
                    Ok(0) => break,
                    Ok(n) => n,
                    // An ICMP error for an earlier reply, reported once: read on.
                    Err(e) => {
                        tracing::debug!(error = %e, "udp receive failed");
                        continue;
                    }
                };
                // Counted here and added once a batch, before its answers go: the counter is
                // shared by every core's loop, and adding to it for each question moved it
                // between the cores each time.
                let mut asked = 0;
                for i in 0..n {
                    if let Some((packet, peer)) = received.get(i) {
                        self.udp_question(packet, peer, &socket, &main, &mut fold, &mut asked, &mut out);
                    }
                }
                if asked > 0 {
                    self.counters.queries.fetch_add(asked, Ordering::Relaxed);
                }
                out.send(&socket).await;
            }
            if fold.due(Instant::now()) {
                self.flush(&mut fold);
            }
            tokio::select! {
                biased;
                _ = stop.changed() => {
                    self.flush(&mut fold);
                    return;
                }
                r = socket.readable() => if let Err(e) = r {
                    tracing::debug!(error = %e, "udp socket failed");
                },
                _ = tick.tick(), if !fold.is_empty() => {}
            }
        }
    }

    /// One question from `peer`: answered into `out` if it needs no upstream, else handed to
    /// `main`.
    #[allow(clippy::too_many_arguments)]
    fn udp_question(
        self: &Arc<Self>,
        packet: &[u8],
        peer: SocketAddr,
        socket: &Arc<UdpSocket>,
        main: &tokio::runtime::Handle,
        fold: &mut Fold,
        asked: &mut u64,
        out: &mut batch::Outgoing,
    ) {
        if !self.allowed(peer.ip()) {
            self.counters.rate_limited.fetch_add(1, Ordering::Relaxed);
            return;
        }
        *asked += 1;
        let started = Instant::now();
        let pending = match self.handler.prepare_at(packet, peer.ip(), true, started) {
            Prepared::Drop => return,
            Prepared::Ready(reply, outcome) => {
                out.push(reply, peer);
                if let (Some(_), Some(o)) = (&self.sink, outcome) {
                    fold.add(peer.ip(), o, started.elapsed(), started);
                }
                return;
            }
            Prepared::Forward(p) => p,
        };
        let Ok(permit) = self.in_flight.clone().try_acquire_owned() else {
            self.counters.busy.fetch_add(1, Ordering::Relaxed);
            return;
        };
        let (me, sock) = (self.clone(), socket.clone());
        // The reply goes out on this thread's socket from the main runtime: a UDP send
        // is as good as always ready, so it needs nothing from this thread's reactor.
        main.spawn(async move {
            if let Some((reply, outcome)) = me.handler.finish(*pending).await {
                let _ = sock.send_to(&reply, peer).await;
                me.log(outcome, peer.ip(), started);
            }
            drop(permit);
        });
    }

    /// Serves TCP until `stop` changes.
    pub async fn serve_tcp(self: Arc<Self>, listener: TcpListener, mut stop: watch::Receiver<bool>) {
        let slots = Arc::new(Semaphore::new(self.limits.max_tcp_connections));
        loop {
            let (stream, peer) = tokio::select! {
                r = listener.accept() => match r {
                    Ok(x) => x,
                    Err(_) => continue,
                },
                _ = stop.changed() => return,
            };
            let Ok(permit) = slots.clone().try_acquire_owned() else {
                self.counters.tcp_refused.fetch_add(1, Ordering::Relaxed);
                drop(stream);
                continue;
            };
            let me = self.clone();
            tokio::spawn(async move {
                me.connection(stream, peer).await;
                drop(permit);
            });
        }
    }

    async fn connection(self: Arc<Self>, mut stream: TcpStream, peer: SocketAddr) {
        loop {
            let mut len = [0u8; 2];
            match tokio::time::timeout(self.limits.tcp_idle, stream.read_exact(&mut len)).await {
                Ok(Ok(_)) => {}
                _ => return,
            }
            let n = usize::from(u16::from_be_bytes(len));
            let mut packet = vec![0u8; n];
            match tokio::time::timeout(self.limits.tcp_idle, stream.read_exact(&mut packet)).await {
                Ok(Ok(_)) => {}
                _ => return,
            }
            if !self.allowed(peer.ip()) {
                self.counters.rate_limited.fetch_add(1, Ordering::Relaxed);
                return;
            }
            let Some(reply) = self.answer(&packet, peer.ip(), false).await else {
                return;
            };
            let Ok(rl) = u16::try_from(reply.len()) else { return };
            if stream.write_all(&rl.to_be_bytes()).await.is_err() || stream.write_all(&reply).await.is_err() {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ipv6_network_shares_one_allowance_and_ipv4_addresses_each_have_their_own() {
        let ip = |s: &str| s.parse::<IpAddr>().expect("address");
        assert_eq!(
            rate_key(ip("2001:db8:1:2:aaaa::1")),
            rate_key(ip("2001:db8:1:2:bbbb::9"))
        );
        assert_ne!(rate_key(ip("2001:db8:1:2::1")), rate_key(ip("2001:db8:1:3::1")));
        assert_ne!(rate_key(ip("10.0.0.1")), rate_key(ip("10.0.0.2")));
        assert_eq!(
            rate_key(ip("::ffff:10.0.0.1")),
            ip("10.0.0.1"),
            "IPv4 seen through IPv6"
        );
    }
}
