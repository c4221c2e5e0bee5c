//! The proxy server: connections, sign-in, the policy decision, forwarding, tunnels and the
//! filter event for each request.

use std::convert::Infallible;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use base64::Engine as _;
use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use hyper::{Method, Request, Response, StatusCode, Uri};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use policy::{Decision, Engine, LocalTime, Subnet, Verdict};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};

use crate::page;
use crate::search::search_term;
use crate::sni::{Hello, MAX_HELLO, client_hello};

type ProxyBody = BoxBody<Bytes, hyper::Error>;

/// Settings.
#[derive(Debug, Clone)]
pub struct ProxyConfig {
    /// Connections open at once; more are closed as they arrive.
    pub max_connections: usize,
    /// A request's headers must arrive within this; it also closes idle keep-alive
    /// connections, so a slow or silent client cannot hold a connection.
    pub header_timeout: Duration,
    /// Connecting to a web server must succeed within this.
    pub connect_timeout: Duration,
    /// A tunnel's first bytes (the TLS ClientHello) must arrive within this.
    pub hello_timeout: Duration,
    /// A tunnel with nothing moving either way for this long is closed.
    pub tunnel_idle: Duration,
    /// Subnets whose devices need no sign-in, and the group they get (first match wins).
    pub open_subnets: Vec<(Subnet, String)>,
    /// Ports CONNECT may open (empty: any).
    pub connect_ports: Vec<u16>,
    /// How long a checked sign-in is trusted before the password is checked again.
    pub sign_in_cache: Duration,
    /// The group whose policy applies when a person's group has none.
    pub fallback_group: String,
    /// Shown in the browser's sign-in box.
    pub realm: String,
    /// Fixed addresses for names, looked up before DNS (a school's own servers that public
    /// DNS does not know).
    pub hosts: Vec<(String, IpAddr)>,
    /// The console's block page: blocked pages are sent there with a signed link (who, what,
    /// when), where the pupil can ask for an unblock. Without it, a page of the proxy's own.
    pub block_page: Option<BlockPage>,
}

/// Where the console's block page is, and the key its links are signed with.
#[derive(Clone)]
pub struct BlockPage {
    /// The console's address as browsers reach it (`http://10.0.0.5:8080`).
    pub console: String,
    pub key: [u8; 32],
}

impl std::fmt::Debug for BlockPage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlockPage").field("console", &self.console).finish()
    }
}

impl Default for ProxyConfig {
    fn default() -> Self {
        ProxyConfig {
            max_connections: 4096,
            header_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            hello_timeout: Duration::from_secs(10),
            tunnel_idle: Duration::from_secs(300),
            open_subnets: Vec::new(),
            connect_ports: vec![443],
            sign_in_cache: Duration::from_secs(300),
            fallback_group: "unidentified".into(),
            realm: "School web access (filtered and monitored): sign in with your school username".into(),
            hosts: Vec::new(),
            block_page: None,
        }
    }
}

/// The answer to a proxy sign-in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignIn {
    /// A person, whose group's policy applies; `until` ends a visitor's access (Unix seconds).
    Person {
        username: String,
        group: String,
        until: Option<i64>,
    },
    /// Wrong username or password, or an account that may not sign in.
    Refused,
    /// Too many failures: wait.
    Throttled,
}

/// The accounts the proxy checks sign-ins against, and where it reports who signed in from
/// which address (the DNS server attributes that address's questions to them).
pub trait Accounts: Send + Sync + 'static {
    fn check(&self, username: String, password: String, client: IpAddr)
    -> Pin<Box<dyn Future<Output = SignIn> + Send>>;
    fn signed_in(&self, client: IpAddr, username: &str, group: &str);
}

/// Where the proxy looks names up: the school's DNS path (its upstreams and cache) in the
/// binary. Without one, the machine's resolver.
pub trait Resolve: Send + Sync + 'static {
    fn addresses(&self, name: String) -> Pin<Box<dyn Future<Output = std::io::Result<Vec<IpAddr>>> + Send>>;
}

/// Counters for `/healthz`.
#[derive(Debug, Default)]
pub struct Counters {
    pub requests: AtomicU64,
    pub blocked: AtomicU64,
    pub refused_connections: AtomicU64,
    pub sign_in_failures: AtomicU64,
}

#[derive(Debug, Clone)]
struct Who {
    username: Option<String>,
    group: String,
    until: Option<i64>,
}

/// A sign-in attempt: the client's address and a hash of the username and password.
type Credentials = (IpAddr, [u8; 32]);

/// The running proxy's shared parts.
pub struct Proxy {
    engine: Arc<Engine>,
    accounts: Arc<dyn Accounts>,
    events: Option<events::EventQueue>,
    config: ProxyConfig,
    client: Client<HttpConnector<Resolver>, Incoming>,
    resolver: Resolver,
    /// Checked credentials by client address and a hash of username and password.
    signed: moka::sync::Cache<Credentials, Who>,
    /// Credentials just refused, so that a browser's burst of parallel requests with a
    /// wrong password counts as one failure, not a lock-out.
    refused: moka::sync::Cache<Credentials, SignIn>,
    /// One check at a time per credentials: the first request checks, the rest wait for it.
    checking: std::sync::Mutex<std::collections::HashMap<Credentials, Arc<tokio::sync::Mutex<()>>>>,
    /// Open CONNECT tunnels, limited like connections.
    tunnels: Arc<Semaphore>,
    pub counters: Counters,
}

impl std::fmt::Debug for Proxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Proxy").field("config", &self.config).finish()
    }
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn body(text: impl Into<Bytes>) -> ProxyBody {
    Full::new(text.into()).map_err(|never| match never {}).boxed()
}

fn empty() -> ProxyBody {
    Empty::new().map_err(|never| match never {}).boxed()
}

fn plain(status: StatusCode, text: &str) -> Response<ProxyBody> {
    let mut r = Response::new(body(format!("{text}\n")));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

/// Hop-by-hop headers (RFC 9110 §7.6.1), which are for this connection only and never
/// forwarded, and the headers the `Connection` header names.
fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|n| HeaderName::from_bytes(n.trim().as_bytes()).ok())
        .collect();
    for n in named {
        headers.remove(n);
    }
    for n in [
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    ] {
        headers.remove(n);
    }
}

/// `user:password` from a `Proxy-Authorization: Basic` header.
fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::PROXY_AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD.decode(encoded.trim()).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, pass) = text.split_once(':')?;
    Some((user.trim().to_owned(), pass.to_owned()))
}

/// The host and port of a CONNECT request's authority (`example.org:443`).
fn connect_target(uri: &Uri) -> Option<(String, u16)> {
    let authority = uri.authority()?;
    let port = authority.port_u16()?;
    Some((authority.host().trim_matches(['[', ']']).to_ascii_lowercase(), port))
}

/// A response body that counts the bytes it passes on and, when it ends or is dropped,
/// hands the count to `done` (which writes the filter event).
struct Counted {
    inner: Incoming,
    bytes: u64,
    done: Option<Box<dyn FnOnce(u64) + Send + Sync>>,
}

impl Body for Counted {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(d) = frame.data_ref() {
                    self.bytes += d.len() as u64;
                }
            }
            Poll::Ready(None) | Poll::Ready(Some(Err(_))) => {
                if let Some(done) = self.done.take() {
                    done(self.bytes);
                }
            }
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        if let Some(done) = self.done.take() {
            done(self.bytes);
        }
    }
}

/// Names to addresses: the configured fixed ones first, then the system's resolver.
#[derive(Clone)]
pub struct Resolver {
    hosts: Arc<std::collections::HashMap<String, IpAddr>>,
    dns: Option<Arc<dyn Resolve>>,
}

impl std::fmt::Debug for Resolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resolver").field("hosts", &self.hosts).finish()
    }
}

impl Resolver {
    async fn lookup(&self, name: &str) -> std::io::Result<std::vec::IntoIter<SocketAddr>> {
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        if let Some(ip) = self.hosts.get(&name) {
            return Ok(vec![SocketAddr::new(*ip, 0)].into_iter());
        }
        if let Ok(ip) = name.trim_matches(['[', ']']).parse::<IpAddr>() {
            return Ok(vec![SocketAddr::new(ip, 0)].into_iter());
        }
        let found: Vec<SocketAddr> = match &self.dns {
            Some(dns) => dns
                .addresses(name)
                .await?
                .into_iter()
                .map(|ip| SocketAddr::new(ip, 0))
                .collect(),
            None => tokio::net::lookup_host((name.as_str(), 0)).await?.collect(),
        };
        Ok(found.into_iter())
    }
}

impl tower_service::Service<hyper_util::client::legacy::connect::dns::Name> for Resolver {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = std::io::Error;
    type Future = Pin<Box<dyn Future<Output = std::io::Result<Self::Response>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: hyper_util::client::legacy::connect::dns::Name) -> Self::Future {
        let me = self.clone();
        Box::pin(async move { me.lookup(name.as_str()).await })
    }
}

/// Joins two streams until either side closes or nothing moves for `idle`; returns the
/// bytes moved both ways.
async fn copy_until_idle<A, B>(a: A, b: B, idle: Duration) -> u64
where
    A: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send,
    B: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send,
{
    let (mut ar, mut aw) = tokio::io::split(a);
    let (mut br, mut bw) = tokio::io::split(b);
    let moved = AtomicU64::new(0);
    let last = std::sync::Mutex::new(tokio::time::Instant::now());
    let watchdog = async {
        loop {
            let since = *last.lock().unwrap_or_else(|p| p.into_inner());
            let deadline = since + idle;
            if tokio::time::Instant::now() >= deadline {
                return;
            }
            tokio::time::sleep_until(deadline).await;
        }
    };
    tokio::select! {
        _ = async {
            tokio::join!(
                pump(&mut ar, &mut bw, &moved, &last),
                pump(&mut br, &mut aw, &moved, &last)
            )
        } => {}
        _ = watchdog => {}
    }
    moved.load(Ordering::Relaxed)
}

/// One direction of a tunnel, noting each move for the idle watchdog.
async fn pump<R, W>(r: &mut R, w: &mut W, moved: &AtomicU64, last: &std::sync::Mutex<tokio::time::Instant>)
where
    R: tokio::io::AsyncRead + Unpin,
    W: tokio::io::AsyncWrite + Unpin,
{
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match r.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if w.write_all(&buf[..n]).await.is_err() {
            break;
        }
        moved.fetch_add(n as u64, Ordering::Relaxed);
        *last.lock().unwrap_or_else(|p| p.into_inner()) = tokio::time::Instant::now();
    }
    let _ = w.shutdown().await;
}

/// What one request asked and what was decided, for its filter event.
struct Record {
    client: IpAddr,
    who: Who,
    method: String,
    host: String,
    url: Option<String>,
    decision: Option<Decision>,
    rule: String,
    search: Option<String>,
    started: Instant,
}

impl Proxy {
    pub fn new(
        engine: Arc<Engine>,
        accounts: Arc<dyn Accounts>,
        events: Option<events::EventQueue>,
        config: ProxyConfig,
        dns: Option<Arc<dyn Resolve>>,
    ) -> Arc<Proxy> {
        let resolver = Resolver {
            dns,
            hosts: Arc::new(
                config
                    .hosts
                    .iter()
                    .map(|(n, ip)| (n.trim_end_matches('.').to_ascii_lowercase(), *ip))
                    .collect(),
            ),
        };
        let mut connector = HttpConnector::new_with_resolver(resolver.clone());
        connector.set_connect_timeout(Some(config.connect_timeout));
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .pool_timer(TokioTimer::new())
            .build(connector);
        let signed = moka::sync::Cache::builder()
            .max_capacity(100_000)
            .time_to_live(config.sign_in_cache)
            .build();
        let tunnels = Arc::new(Semaphore::new(config.max_connections));
        Arc::new(Proxy {
            tunnels,
            engine,
            accounts,
            events,
            config,
            client,
            resolver,
            signed,
            refused: moka::sync::Cache::builder()
                .max_capacity(10_000)
                .time_to_live(Duration::from_secs(5))
                .build(),
            checking: std::sync::Mutex::new(std::collections::HashMap::new()),
            counters: Counters::default(),
        })
    }

    /// Serves until `stop` changes.
    pub async fn serve(self: Arc<Self>, listener: TcpListener, mut stop: watch::Receiver<bool>) {
        let slots = Arc::new(Semaphore::new(self.config.max_connections));
        loop {
            let (stream, peer) = tokio::select! {
                r = listener.accept() => match r {
                    Ok(x) => x,
                    Err(e) => {
                        // Out of file descriptors, usually: wait a moment rather than spin.
                        tracing::debug!(error = %e, "proxy accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
                _ = stop.changed() => return,
            };
            let Ok(permit) = slots.clone().try_acquire_owned() else {
                self.counters.refused_connections.fetch_add(1, Ordering::Relaxed);
                drop(stream);
                continue;
            };
            let _ = stream.set_nodelay(true);
            let me = self.clone();
            let header_timeout = self.config.header_timeout;
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req| me.clone().handle(req, peer));
                let conn = hyper::server::conn::http1::Builder::new()
                    .timer(TokioTimer::new())
                    .header_read_timeout(header_timeout)
                    .max_header_size(32 * 1024)
                    .max_buf_size(64 * 1024)
                    .keep_alive(true)
                    .serve_connection(TokioIo::new(stream), service)
                    .with_upgrades();
                if let Err(e) = conn.await {
                    tracing::debug!(error = %e, %peer, "proxy connection ended with an error");
                }
                drop(permit);
            });
        }
    }

    async fn identify(&self, req: &Request<Incoming>, client: IpAddr) -> Result<Who, Response<ProxyBody>> {
        if let Some((_, group)) = self.config.open_subnets.iter().find(|(s, _)| s.contains(client)) {
            return Ok(Who {
                username: None,
                group: group.clone(),
                until: None,
            });
        }
        let Some((user, pass)) = basic_credentials(req.headers()) else {
            return Err(self.sign_in_needed("Sign in with your school username and password to use the web."));
        };
        let key = {
            let mut h = Sha256::new();
            h.update(user.to_lowercase().as_bytes());
            h.update([0]);
            h.update(pass.as_bytes());
            (client, <[u8; 32]>::from(h.finalize()))
        };
        if let Some(who) = self.signed.get(&key)
            && who.until.is_none_or(|t| t > unix_now())
        {
            return Ok(who);
        }
        // A browser sends several requests at once; only the first checks the password.
        let gate = self
            .checking
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(key)
            .or_default()
            .clone();
        let _turn = gate.lock().await;
        let answer = match (self.signed.get(&key), self.refused.get(&key)) {
            (Some(who), _) if who.until.is_none_or(|t| t > unix_now()) => {
                self.forget_check(&key);
                return Ok(who);
            }
            (_, Some(refusal)) => refusal,
            _ => {
                let a = self.accounts.check(user, pass, client).await;
                if a != SignIn::Throttled && !matches!(a, SignIn::Person { .. }) {
                    self.refused.insert(key, a.clone());
                }
                a
            }
        };
        self.forget_check(&key);
        match answer {
            SignIn::Person { username, group, until } => {
                self.accounts.signed_in(client, &username, &group);
                let who = Who {
                    username: Some(username),
                    group,
                    until,
                };
                self.signed.insert(key, who.clone());
                Ok(who)
            }
            SignIn::Refused => {
                self.counters.sign_in_failures.fetch_add(1, Ordering::Relaxed);
                Err(self.sign_in_needed("That username or password is not right."))
            }
            SignIn::Throttled => {
                self.counters.sign_in_failures.fetch_add(1, Ordering::Relaxed);
                Err(self.sign_in_needed(
                    "Too many failed attempts: sign-in is paused for a few minutes. Ask your teacher if you need help.",
                ))
            }
        }
    }

    fn forget_check(&self, key: &Credentials) {
        let mut checking = self.checking.lock().unwrap_or_else(|p| p.into_inner());
        if checking.get(key).is_some_and(|g| Arc::strong_count(g) <= 2) {
            checking.remove(key);
        }
    }

    fn sign_in_needed(&self, why: &str) -> Response<ProxyBody> {
        let mut r = plain(StatusCode::PROXY_AUTHENTICATION_REQUIRED, why);
        let realm = self.config.realm.replace(['"', '\\'], "");
        if let Ok(v) = HeaderValue::from_str(&format!("Basic realm=\"{realm}\", charset=\"UTF-8\"")) {
            r.headers_mut().insert(header::PROXY_AUTHENTICATE, v);
        }
        r
    }

    fn decide(&self, host: &str, path: Option<&str>, who: &Who) -> Option<Decision> {
        let snapshot = self.engine.snapshot();
        let group = snapshot
            .group(&who.group)
            .or_else(|| snapshot.group(&self.config.fallback_group))?;
        Some(snapshot.decide_for(
            &policy::Request {
                host,
                path,
                group,
                at: LocalTime::uk(unix_now()),
            },
            who.username.as_deref(),
        ))
    }

    fn rule_name(&self, d: Option<&Decision>) -> String {
        match d {
            Some(d) => self.engine.snapshot().rule_name(d),
            None => "no policy for this group: failing closed".into(),
        }
    }

    fn log(&self, r: Record, status: StatusCode, bytes: u64) {
        self.counters.requests.fetch_add(1, Ordering::Relaxed);
        let blocked = r.decision.is_none_or(|d| d.verdict.is_blocked());
        if blocked {
            self.counters.blocked.fetch_add(1, Ordering::Relaxed);
        }
        let Some(queue) = &self.events else { return };
        let at_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        queue.push(events::FilterEvent {
            at_ms,
            source: "proxy",
            client: r.client,
            device: None,
            person: r.who.username,
            group: r.who.group,
            name: r.host,
            kind: r.method,
            verdict: r.decision.map(|d| d.verdict.name()).unwrap_or("block"),
            category: r.decision.and_then(|d| d.category).map(|c| c.name()),
            rule: r.rule,
            status: status.as_u16().to_string(),
            latency_us: u32::try_from(r.started.elapsed().as_micros()).unwrap_or(u32::MAX),
            url: r.url,
            bytes: Some(bytes),
            search: r.search,
            repeats: 1,
        });
    }

    async fn handle(
        self: Arc<Self>,
        req: Request<Incoming>,
        peer: SocketAddr,
    ) -> Result<Response<ProxyBody>, Infallible> {
        let started = Instant::now();
        let client = peer.ip();
        if req.method() != Method::CONNECT && req.uri().authority().is_none() {
            // Asked as a web server, not as a proxy.
            return Ok(plain(
                StatusCode::BAD_REQUEST,
                "This is the school's web proxy. Set it as your browser's proxy (or use the proxy.pac address your school gives you).",
            ));
        }
        let who = match self.identify(&req, client).await {
            Ok(w) => w,
            Err(response) => return Ok(response),
        };
        if req.method() == Method::CONNECT {
            return Ok(self.connect(req, client, who, started).await);
        }
        Ok(self.forward(req, client, who, started).await)
    }

    async fn forward(
        self: &Arc<Self>,
        mut req: Request<Incoming>,
        client: IpAddr,
        who: Who,
        started: Instant,
    ) -> Response<ProxyBody> {
        let uri = req.uri().clone();
        if uri.scheme_str() != Some("http") {
            return plain(
                StatusCode::BAD_REQUEST,
                "Only http:// addresses are fetched directly; https:// goes through CONNECT.",
            );
        }
        let host = uri
            .host()
            .unwrap_or_default()
            .trim_matches(['[', ']'])
            .to_ascii_lowercase();
        // Policy and the web server must see the same page: the path as the server will read
        // it (escapes and dot segments resolved), and that is the path forwarded.
        let path = policy::normalise_path(uri.path_and_query().map(|p| p.as_str()).unwrap_or("/"));
        // The authority without any user:password part, which is never logged or forwarded.
        let authority = match uri.port_u16() {
            Some(port) => format!("{}:{port}", uri.host().unwrap_or_default()),
            None => uri.host().unwrap_or_default().to_owned(),
        };
        let url = format!("http://{authority}{path}");
        let decision = self.decide(&host, Some(&path), &who);
        let search = search_term(&host, &path).map(|s| s.term);
        let mut record = Record {
            client,
            who: who.clone(),
            method: req.method().as_str().to_owned(),
            host: host.clone(),
            url: Some(url.clone()),
            decision,
            rule: self.rule_name(decision.as_ref()),
            search,
            started,
        };
        let verdict = decision.map(|d| d.verdict).unwrap_or(Verdict::Block);
        if verdict == Verdict::Block {
            let response = self.block_page(&url, &host, decision.as_ref(), &who);
            self.log(record, response.status(), 0);
            return response;
        }
        strip_hop_by_hop(req.headers_mut());
        // The Host header always names the host policy allowed: a request for an allowed
        // address with another site's name in Host (shared hosting, a CDN) must not reach
        // that other site.
        match HeaderValue::from_str(&authority) {
            Ok(v) => {
                req.headers_mut().insert(header::HOST, v);
            }
            Err(_) => return plain(StatusCode::BAD_REQUEST, "That address cannot be fetched."),
        }
        match Uri::builder()
            .scheme("http")
            .authority(authority.as_str())
            .path_and_query(path.as_str())
            .build()
        {
            Ok(to) => *req.uri_mut() = to,
            Err(_) => return plain(StatusCode::BAD_REQUEST, "That address cannot be fetched."),
        }
        req.headers_mut()
            .append(header::VIA, HeaderValue::from_static("1.1 schoolgate"));
        if let Verdict::SafeSearch(safe_host) = verdict {
            // As the DNS server does: the same request, sent to the host that serves the
            // engine with safe search locked on (the Host header still names the engine).
            let port = uri.port_u16().map(|p| format!(":{p}")).unwrap_or_default();
            if let Ok(to) = Uri::builder()
                .scheme("http")
                .authority(format!("{safe_host}{port}"))
                .path_and_query(path.as_str())
                .build()
            {
                *req.uri_mut() = to;
            }
            if safe_host.contains("youtube") {
                let mode = if safe_host.starts_with("restrictmoderate") {
                    "Moderate"
                } else {
                    "Strict"
                };
                req.headers_mut()
                    .insert("youtube-restrict", HeaderValue::from_static(mode));
            }
        }
        match self.client.request(req).await {
            Ok(response) => {
                let (mut parts, incoming) = response.into_parts();
                strip_hop_by_hop(&mut parts.headers);
                parts
                    .headers
                    .append(header::VIA, HeaderValue::from_static("1.1 schoolgate"));
                let status = parts.status;
                let me = self.clone();
                let counted = Counted {
                    inner: incoming,
                    bytes: 0,
                    done: Some(Box::new(move |bytes| me.log(record, status, bytes))),
                };
                Response::from_parts(parts, counted.boxed())
            }
            Err(e) => {
                tracing::debug!(error = %e, host = %host, "proxy upstream request failed");
                let response = plain(
                    StatusCode::BAD_GATEWAY,
                    &format!("The web server for {host} could not be reached."),
                );
                record.rule.push_str(" (upstream failed)");
                self.log(record, response.status(), 0);
                response
            }
        }
    }

    fn block_page(&self, url: &str, host: &str, decision: Option<&Decision>, who: &Who) -> Response<ProxyBody> {
        if let Some(page) = &self.config.block_page {
            let blocked = events::blocklink::Blocked {
                url: url.to_owned(),
                person: who.username.clone(),
                group: who.group.clone(),
                at: unix_now(),
            };
            let sig = events::blocklink::sign(&page.key, &blocked);
            let query = form_urlencoded::Serializer::new(String::new())
                .append_pair("url", &blocked.url)
                .append_pair("group", &blocked.group)
                .append_pair("person", blocked.person.as_deref().unwrap_or(""))
                .append_pair("at", &blocked.at.to_string())
                .append_pair("sig", &sig)
                .finish();
            let location = format!("{}/blocked?{query}", page.console.trim_end_matches('/'));
            if let Ok(v) = HeaderValue::from_str(&location) {
                let mut r = Response::new(body("This page is blocked at school.\n"));
                *r.status_mut() = StatusCode::FOUND;
                r.headers_mut().insert(header::LOCATION, v);
                r.headers_mut()
                    .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
                return r;
            }
        }
        let snapshot = self.engine.snapshot();
        let reason = match decision {
            Some(d) => snapshot.reason(d, host),
            None => "There is no filtering policy for your group, so nothing can be reached until one is set.".into(),
        };
        let category = decision
            .filter(|d| !d.is_illegal())
            .and_then(|d| d.category)
            .map(|c| c.label());
        let when = LocalTime::uk(unix_now()).to_string();
        let html = page::render(&page::Blocked {
            url,
            category,
            reason: &reason,
            when: &when,
            who: who.username.as_deref(),
        });
        let mut r = Response::new(body(html));
        *r.status_mut() = StatusCode::FORBIDDEN;
        let h = r.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        );
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        r
    }

    async fn connect(
        self: &Arc<Self>,
        req: Request<Incoming>,
        client: IpAddr,
        who: Who,
        started: Instant,
    ) -> Response<ProxyBody> {
        let Some((host, port)) = connect_target(req.uri()) else {
            return plain(StatusCode::BAD_REQUEST, "CONNECT needs a host and a port.");
        };
        let decision = self.decide(&host, None, &who);
        let mut record = Record {
            client,
            who: who.clone(),
            method: "CONNECT".into(),
            host: host.clone(),
            url: None,
            decision,
            rule: self.rule_name(decision.as_ref()),
            search: None,
            started,
        };
        let verdict = decision.map(|d| d.verdict).unwrap_or(Verdict::Block);
        if verdict == Verdict::Block {
            self.log(record, StatusCode::FORBIDDEN, 0);
            return plain(StatusCode::FORBIDDEN, &format!("{host} is blocked at school."));
        }
        if !self.config.connect_ports.is_empty() && !self.config.connect_ports.contains(&port) {
            record.rule = format!("CONNECT to port {port} is not allowed");
            record.decision = None;
            self.log(record, StatusCode::FORBIDDEN, 0);
            return plain(
                StatusCode::FORBIDDEN,
                &format!("Port {port} cannot be reached through the proxy."),
            );
        }
        // An open tunnel outlives its HTTP connection (hyper hands it over at the upgrade),
        // so tunnels count against the connection limit on their own.
        let Ok(permit) = self.tunnels.clone().try_acquire_owned() else {
            self.counters.refused_connections.fetch_add(1, Ordering::Relaxed);
            return plain(
                StatusCode::SERVICE_UNAVAILABLE,
                "The proxy is busy; try again in a moment.",
            );
        };
        // Safe search: the tunnel goes to the engine's safe host, as a DNS answer would send it.
        let dial = match verdict {
            Verdict::SafeSearch(safe) => safe.to_owned(),
            _ => host.clone(),
        };
        let dialled = async {
            let addrs: Vec<SocketAddr> = self
                .resolver
                .lookup(&dial)
                .await?
                .map(|a| SocketAddr::new(a.ip(), port))
                .collect();
            TcpStream::connect(addrs.as_slice()).await
        };
        let upstream = match tokio::time::timeout(self.config.connect_timeout, dialled).await {
            Ok(Ok(s)) => s,
            Ok(Err(_)) | Err(_) => {
                record.rule.push_str(" (upstream failed)");
                self.log(record, StatusCode::BAD_GATEWAY, 0);
                return plain(StatusCode::BAD_GATEWAY, &format!("{host} could not be reached."));
            }
        };
        let _ = upstream.set_nodelay(true);
        let me = self.clone();
        tokio::spawn(async move {
            match hyper::upgrade::on(req).await {
                Ok(upgraded) => me.tunnel(TokioIo::new(upgraded), upstream, record).await,
                Err(e) => tracing::debug!(error = %e, "CONNECT upgrade failed"),
            }
            drop(permit);
        });
        Response::new(empty())
    }

    /// Reads the ClientHello, checks its server name against policy when it differs from the
    /// CONNECT host, then joins the two sides.
    async fn tunnel(&self, mut client: TokioIo<hyper::upgrade::Upgraded>, mut upstream: TcpStream, mut record: Record) {
        let mut hello = Vec::with_capacity(2048);
        let mut chunk = [0u8; 4096];
        let deadline = tokio::time::Instant::now() + self.config.hello_timeout;
        let seen = loop {
            match client_hello(&hello) {
                Hello::Incomplete if hello.len() < MAX_HELLO => {}
                Hello::Incomplete => break Hello::NotTls,
                other => break other,
            }
            match tokio::time::timeout_at(deadline, client.read(&mut chunk)).await {
                Ok(Ok(n)) if n > 0 => hello.extend_from_slice(&chunk[..n]),
                _ => {
                    // Closed or silent before saying anything: nothing was tunnelled.
                    return;
                }
            }
        };
        match &seen {
            Hello::NotTls => {
                // Only TLS goes through: a tunnel for anything else (SSH, a VPN) would carry
                // whatever it liked past the filter (UKSIC-F-SF-02).
                record.decision = None;
                record.rule = "not TLS inside CONNECT: circumvention".into();
                self.log(record, StatusCode::FORBIDDEN, 0);
                return;
            }
            Hello::Name(name) if *name != record.host => {
                // Anything short of a plain allow is refused: a name that needs safe search
                // must not ride a tunnel to some other address (fronting for the engine).
                let decision = self.decide(name, None, &record.who);
                if decision.is_none_or(|d| d.verdict != Verdict::Allow) {
                    record.rule = format!(
                        "TLS server name {name} differs from CONNECT {}: {}",
                        record.host,
                        self.rule_name(decision.as_ref())
                    );
                    record.host = name.clone();
                    record.decision = decision;
                    self.log(record, StatusCode::FORBIDDEN, 0);
                    return;
                }
            }
            _ => {}
        }
        if upstream.write_all(&hello).await.is_err() {
            return;
        }
        let sent = hello.len() as u64;
        let moved = copy_until_idle(client, upstream, self.config.tunnel_idle).await;
        self.log(record, StatusCode::OK, sent + moved);
    }
}
