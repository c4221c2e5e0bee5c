//! One DNS question in, one answer out: identify, decide, then block, rewrite for safe
//! search, or answer from the cache or the upstreams. No sockets here, so every rule is
//! testable with bytes.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;
use std::time::Instant;

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA, CNAME};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use policy::{Decision, LocalTime, Request, Verdict};

use crate::cache::{AnswerCache, KeyRef, Shape};
use crate::identify::{Attribution, Who};
use crate::upstream::Upstreams;

/// The name browsers ask before switching on their own DNS-over-HTTPS: NXDOMAIN tells them
/// not to (Firefox's canary domain), so their lookups stay filtered (UKSIC-F-SF-02).
pub const DOH_CANARY: &str = "use-application-dns.net";

/// How blocked names are answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockMode {
    /// A and AAAA questions get the block page's addresses; every other type gets an empty
    /// answer, so that an HTTPS/SVCB record cannot send the browser round the block page.
    BlockPage { v4: Ipv4Addr, v6: Option<Ipv6Addr> },
    /// Every question gets NXDOMAIN.
    NxDomain,
}

/// TTL of synthesised answers: short, so that unblocking takes effect quickly.
const SYNTH_TTL: u32 = 60;

/// What happened to one question, for the event log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub name: String,
    pub qtype: RecordType,
    pub who: Who,
    pub decision: Option<Decision>,
    pub rcode: ResponseCode,
    pub from_cache: bool,
}

/// Everything a question needs.
#[derive(Debug)]
pub struct Handler {
    pub engine: Arc<policy::Engine>,
    pub attribution: Arc<Attribution>,
    pub upstreams: Upstreams,
    pub cache: AnswerCache,
    pub block: BlockMode,
    /// The policy group used when a client's group has none of its own.
    pub fallback_group: String,
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// The school's local time for time rules, read afresh at most four times a second on each
/// thread: the rules go by the minute, and working it out for every question was a
/// hundredth of the socket loop's time.
fn local_time(now: Instant) -> LocalTime {
    use std::cell::Cell;
    thread_local! {
        static LAST: Cell<Option<(Instant, LocalTime)>> = const { Cell::new(None) };
    }
    LAST.with(|last| match last.get() {
        Some((at, t)) if now >= at && now.duration_since(at) < std::time::Duration::from_millis(250) => t,
        _ => {
            let t = LocalTime::uk(unix_now());
            last.set(Some((now, t)));
            t
        }
    })
}

/// A FORMERR for a message whose header could be read but nothing else.
fn format_error(request: &[u8]) -> Option<Vec<u8>> {
    // Too short for a header, or a response (QR set): answering could start a loop with
    // another server, so it is dropped.
    if request.len() < 12 || request[2] & 0x80 != 0 {
        return None;
    }
    let id = u16::from_be_bytes([request[0], request[1]]);
    let m = Message::error_msg(id, OpCode::Query, ResponseCode::FormErr);
    m.to_vec().ok()
}

/// A question part-answered without waiting: what [`Handler::prepare`] returns.
#[derive(Debug)]
pub enum Prepared {
    /// Nothing must be sent (too short to answer, or not a question).
    Drop,
    /// The answer, ready to send.
    Ready(Vec<u8>, Option<Outcome>),
    /// An allowed name that is not cached: finish with [`Handler::finish`].
    Forward(Box<Pending>),
}

/// A question waiting for an upstream.
#[derive(Debug)]
pub struct Pending {
    req: Message,
    name: String,
    who: Who,
    decision: Option<Decision>,
    udp: bool,
}

impl Handler {
    /// Answers one request. `udp` says whether the transport's size limit applies.
    /// Returns `None` for what must be dropped (too short to answer, or not a question).
    pub async fn handle(&self, request: &[u8], client: IpAddr, udp: bool) -> Option<(Vec<u8>, Option<Outcome>)> {
        match self.prepare(request, client, udp) {
            Prepared::Drop => None,
            Prepared::Ready(bytes, outcome) => Some((bytes, outcome)),
            Prepared::Forward(p) => self.finish(*p).await,
        }
    }

    /// Everything that needs no upstream, done at once: malformed requests, blocks, the DoH
    /// canary, and answers from the cache. The socket loop answers these itself, so that
    /// most questions cost no task and no wait.
    pub fn prepare(&self, request: &[u8], client: IpAddr, udp: bool) -> Prepared {
        self.prepare_at(request, client, udp, Instant::now())
    }

    /// [`Handler::prepare`] for a question that arrived at `now`: the socket loop reads the
    /// clock once a question and passes it on, where each step reading it again had made
    /// the clock a fiftieth of the loop's time.
    pub fn prepare_at(&self, request: &[u8], client: IpAddr, udp: bool, now: Instant) -> Prepared {
        let req = match Message::from_vec(request) {
            Ok(m) => m,
            Err(_) => {
                return match format_error(request) {
                    Some(r) => Prepared::Ready(r, None),
                    None => Prepared::Drop,
                };
            }
        };
        if req.metadata.message_type != MessageType::Query {
            return Prepared::Drop;
        }
        let id = req.metadata.id;
        let refuse = |op: OpCode, code: ResponseCode| match Message::error_msg(id, op, code).to_vec() {
            Ok(r) => Prepared::Ready(r, None),
            Err(_) => Prepared::Drop,
        };
        if req.metadata.op_code != OpCode::Query {
            return refuse(req.metadata.op_code, ResponseCode::NotImp);
        }
        let [q] = req.queries.as_slice() else {
            return refuse(OpCode::Query, ResponseCode::FormErr);
        };
        let name = query_name(q);
        let who = self.attribution.identify(client, now);
        if name == DOH_CANARY {
            let m = self.synthesised(&req, q, ResponseCode::NXDomain, vec![]);
            return self.ready(&req, m, name, who, None, false, udp);
        }
        let decision = self.decide(&name, &who, now);
        match decision.map(|d| d.verdict) {
            // No policy at all: fail closed.
            None | Some(Verdict::Block) => {
                let m = self.blocked(&req, q);
                self.ready(&req, m, name, who, decision, false, udp)
            }
            Some(Verdict::SafeSearch(target)) => match self.safe_search_now(&req, q, target) {
                Some(m) => self.ready(&req, m, name, who, decision, false, udp),
                None => Prepared::Forward(Box::new(Pending {
                    req,
                    name,
                    who,
                    decision,
                    udp,
                })),
            },
            Some(Verdict::Allow) => {
                let Some(hit) = self.cache.lookup(cache_key(&req, q, &name), now) else {
                    return Prepared::Forward(Box::new(Pending {
                        req,
                        name,
                        who,
                        decision,
                        udp,
                    }));
                };
                let shape = Shape {
                    recursion_desired: req.metadata.recursion_desired,
                    edns: req.edns.is_some(),
                };
                let limit = size_limit(&req, udp);
                let reused = hit.with_wire(shape, |wire| {
                    if wire.len() > limit {
                        return None;
                    }
                    Some((reuse(wire, request, q)?, rcode_of(wire)))
                });
                if let Some(Some((bytes, rcode))) = reused {
                    return Prepared::Ready(bytes, Some(outcome(name, q, who, decision, rcode, true)));
                }
                let mut m = hit.message();
                m.metadata.id = id;
                m.metadata.recursion_desired = req.metadata.recursion_desired;
                m.metadata.recursion_available = true;
                m.queries = vec![q.clone()];
                let ready = self.ready(&req, m, name, who, decision, true, udp);
                if let Prepared::Ready(bytes, _) = &ready
                    && !truncated(bytes)
                {
                    hit.remember(shape, bytes);
                }
                ready
            }
        }
    }

    /// Answers a [`Prepared::Forward`] question from the upstreams.
    pub async fn finish(&self, p: Pending) -> Option<(Vec<u8>, Option<Outcome>)> {
        let Pending {
            req,
            name,
            who,
            decision,
            udp,
        } = p;
        let q = req.queries.first()?.clone();
        let (m, from_cache) = match decision.map(|d| d.verdict) {
            Some(Verdict::SafeSearch(target)) => (self.safe_search(&req, &q, target).await, false),
            _ => self.resolve(&req, &q).await,
        };
        match self.ready(&req, m, name, who, decision, from_cache, udp) {
            Prepared::Ready(bytes, outcome) => Some((bytes, outcome)),
            _ => None,
        }
    }

    /// The addresses of `name` (A and AAAA, through CNAMEs) from the cache or the upstreams,
    /// with no policy asked: for the proxy, which has decided already, so that its lookups
    /// use the school's upstreams and cache rather than the machine's resolver.
    pub async fn addresses(&self, name: &str) -> Result<Vec<IpAddr>, String> {
        let fqdn = Name::from_ascii(format!("{}.", name.trim_end_matches('.')))
            .map_err(|e| format!("{name:?} is not a host name: {e}"))?;
        let mut req = Message::query();
        req.metadata.recursion_desired = true;
        let mut found = Vec::new();
        let mut failure = None;
        for qtype in [RecordType::A, RecordType::AAAA] {
            let q = Query::query(fqdn.clone(), qtype);
            let (m, _) = self.resolve(&req, &q).await;
            if m.metadata.response_code != ResponseCode::NoError {
                failure = Some(format!("{name}: {}", m.metadata.response_code));
            }
            found.extend(m.answers.iter().filter_map(|r| match &r.data {
                RData::A(a) => Some(IpAddr::V4(a.0)),
                RData::AAAA(a) => Some(IpAddr::V6(a.0)),
                _ => None,
            }));
        }
        match (found.is_empty(), failure) {
            (false, _) => Ok(found),
            (true, Some(why)) => Err(why),
            (true, None) => Err(format!("{name} has no address")),
        }
    }

    fn decide(&self, name: &str, who: &Who, now: Instant) -> Option<Decision> {
        let snapshot = self.engine.current();
        let group = snapshot
            .group(&who.group)
            .or_else(|| snapshot.group(&self.fallback_group))?;
        Some(snapshot.decide_for(
            &Request {
                host: name,
                path: None,
                group,
                at: local_time(now),
            },
            who.person.as_deref(),
        ))
    }

    /// Encodes `response` for the client: EDNS as asked, and truncated if too big.
    #[allow(clippy::too_many_arguments)]
    fn ready(
        &self,
        req: &Message,
        mut response: Message,
        name: String,
        who: Who,
        decision: Option<Decision>,
        from_cache: bool,
        udp: bool,
    ) -> Prepared {
        // RFC 6891: an EDNS question gets an EDNS answer (with our own payload size and the
        // client's DO bit), and a plain one gets a plain answer.
        response.edns = req.edns.as_ref().map(|e| {
            let mut ours = Edns::new();
            ours.set_max_payload(1232);
            ours.set_dnssec_ok(e.flags().dnssec_ok);
            ours
        });
        let Ok(mut bytes) = response.to_vec() else {
            return Prepared::Drop;
        };
        if bytes.len() > size_limit(req, udp) {
            // Too big for this transport: the header and question with TC set, so the
            // client asks again over TCP.
            match response.truncate().to_vec() {
                Ok(b) => bytes = b,
                Err(_) => return Prepared::Drop,
            }
        }
        let Some(q) = req.queries.first() else {
            return Prepared::Drop;
        };
        let outcome = Outcome {
            name,
            qtype: q.query_type,
            who,
            decision,
            rcode: response.metadata.response_code,
            from_cache,
        };
        Prepared::Ready(bytes, Some(outcome))
    }

    fn synthesised(&self, req: &Message, q: &Query, rcode: ResponseCode, answers: Vec<Record>) -> Message {
        let mut m = Message::response(req.metadata.id, OpCode::Query);
        m.metadata.recursion_desired = req.metadata.recursion_desired;
        m.metadata.recursion_available = true;
        m.metadata.response_code = rcode;
        m.add_query(q.clone());
        m.insert_answers(answers);
        m
    }

    fn blocked(&self, req: &Message, q: &Query) -> Message {
        match self.block {
            BlockMode::NxDomain => self.synthesised(req, q, ResponseCode::NXDomain, vec![]),
            BlockMode::BlockPage { v4, v6 } => {
                let answers = match (q.query_type, v6) {
                    (RecordType::A, _) => vec![Record::from_rdata(q.name.clone(), SYNTH_TTL, RData::A(A(v4)))],
                    (RecordType::AAAA, Some(v6)) => {
                        vec![Record::from_rdata(q.name.clone(), SYNTH_TTL, RData::AAAA(AAAA(v6)))]
                    }
                    _ => vec![],
                };
                self.synthesised(req, q, ResponseCode::NoError, answers)
            }
        }
    }

    /// A CNAME to the engine's safe host, followed by the safe host's own records: at once
    /// when those are cached (or not needed), else `None`.
    fn safe_search_now(&self, req: &Message, q: &Query, target: &'static str) -> Option<Message> {
        let Ok(safe) = Name::from_ascii(format!("{target}.")) else {
            return Some(self.synthesised(req, q, ResponseCode::ServFail, vec![]));
        };
        let cname = Record::from_rdata(q.name.clone(), SYNTH_TTL, RData::CNAME(CNAME(safe.clone())));
        if q.query_type == RecordType::CNAME {
            return Some(self.synthesised(req, q, ResponseCode::NoError, vec![cname]));
        }
        let inner = Query::query(safe, q.query_type);
        let cached = self
            .cache
            .get(cache_key(req, &inner, &query_name(&inner)), Instant::now())?;
        Some(self.with_cname(req, q, cname, &cached))
    }

    async fn safe_search(&self, req: &Message, q: &Query, target: &'static str) -> Message {
        let Ok(safe) = Name::from_ascii(format!("{target}.")) else {
            return self.synthesised(req, q, ResponseCode::ServFail, vec![]);
        };
        let cname = Record::from_rdata(q.name.clone(), SYNTH_TTL, RData::CNAME(CNAME(safe.clone())));
        if q.query_type == RecordType::CNAME {
            return self.synthesised(req, q, ResponseCode::NoError, vec![cname]);
        }
        let inner = Query::query(safe, q.query_type);
        let (resolved, _) = self.resolve(req, &inner).await;
        self.with_cname(req, q, cname, &resolved)
    }

    fn with_cname(&self, req: &Message, q: &Query, cname: Record, resolved: &Message) -> Message {
        let mut answers = vec![cname];
        answers.extend(resolved.answers.iter().cloned());
        let rcode = resolved.metadata.response_code;
        let mut m = self.synthesised(req, q, rcode, answers);
        m.insert_authorities(resolved.authorities.clone());
        m
    }

    /// From the cache, or forwarded upstream (and cached). Returns whether it was cached.
    async fn resolve(&self, req: &Message, q: &Query) -> (Message, bool) {
        let name = query_name(q);
        let key = cache_key(req, q, &name);
        let now = Instant::now();
        if let Some(mut m) = self.cache.get(key, now) {
            m.metadata.id = req.metadata.id;
            m.metadata.recursion_desired = req.metadata.recursion_desired;
            m.metadata.recursion_available = true;
            m.queries = vec![q.clone()];
            return (m, true);
        }
        // A fresh, random ID upstream: an answer for another question cannot be matched to it.
        let upstream_id: u16 = rand_id();
        let mut upq = Message::query();
        upq.metadata.id = upstream_id;
        upq.metadata.recursion_desired = true;
        upq.metadata.checking_disabled = req.metadata.checking_disabled;
        upq.metadata.authentic_data = req.metadata.authentic_data;
        upq.add_query(q.clone());
        if let Some(e) = &req.edns {
            let mut ours = Edns::new();
            ours.set_max_payload(1232);
            ours.set_dnssec_ok(e.flags().dnssec_ok);
            upq.set_edns(ours);
        }
        let Ok(bytes) = upq.to_vec() else {
            return (self.synthesised(req, q, ResponseCode::ServFail, vec![]), false);
        };
        match self.upstreams.forward(&bytes, upstream_id, q).await {
            Ok(mut reply) => {
                self.cache.insert(key.to_owned(), &reply, now);
                reply.metadata.id = req.metadata.id;
                reply.metadata.recursion_desired = req.metadata.recursion_desired;
                reply.metadata.recursion_available = true;
                (reply, false)
            }
            Err(_) => (self.synthesised(req, q, ResponseCode::ServFail, vec![]), false),
        }
    }
}

fn rand_id() -> u16 {
    rand::random()
}

/// The name asked about as policy and the cache see it: lower case, without the root's dot.
fn query_name(q: &Query) -> String {
    let mut name = q.name.to_ascii();
    if name.ends_with('.') {
        name.pop();
    }
    name.make_ascii_lowercase();
    name
}

fn cache_key<'a>(req: &Message, q: &Query, name: &'a str) -> KeyRef<'a> {
    KeyRef {
        name,
        qtype: q.query_type,
        qclass: q.query_class,
        dnssec_ok: req.edns.as_ref().is_some_and(|e| e.flags().dnssec_ok),
        checking_disabled: req.metadata.checking_disabled,
    }
}

/// The most an answer may take: what a UDP client can take, but never more than the 1232
/// bytes we advertise (DNS flag day 2020), so that schoolgate cannot be used to amplify an
/// attack; over TCP, a whole message.
fn size_limit(req: &Message, udp: bool) -> usize {
    if udp {
        req.edns
            .as_ref()
            .map(|e| usize::from(e.max_payload().clamp(512, 1232)))
            .unwrap_or(512)
    } else {
        65_535
    }
}

fn truncated(bytes: &[u8]) -> bool {
    bytes.get(2).is_some_and(|b| b & 0x02 != 0)
}

/// `wire` (an answer sent before for the same cache entry and request shape) made into the
/// answer to `request`: its ID, and its question exactly as asked (a client that varies the
/// case of names, as some do against spoofing, must see its own back). Both messages begin
/// with the 12-byte header and the uncompressed question; if the request's question is not
/// laid out so, `None`, and the answer is encoded the long way.
fn reuse(wire: &[u8], request: &[u8], q: &Query) -> Option<Vec<u8>> {
    let name_len: usize = q.name.iter().map(|label| label.len() + 1).sum::<usize>() + 1;
    let end = 12 + name_len + 4;
    let asked = request.get(12..end)?;
    let ours = wire.get(12..end)?;
    let (asked_name, asked_rest) = asked.split_at(name_len);
    let (our_name, our_rest) = ours.split_at(name_len);
    if !asked_name.eq_ignore_ascii_case(our_name) || asked_rest != our_rest {
        return None;
    }
    let mut bytes = wire.to_vec();
    bytes[..2].copy_from_slice(request.get(..2)?);
    bytes[12..end].copy_from_slice(asked);
    Some(bytes)
}

/// The response code in an encoded answer's header.
fn rcode_of(wire: &[u8]) -> ResponseCode {
    ResponseCode::from_low(wire.get(3).map_or(0, |b| b & 0x0f))
}

fn outcome(
    name: String,
    q: &Query,
    who: Who,
    decision: Option<Decision>,
    rcode: ResponseCode,
    from_cache: bool,
) -> Outcome {
    Outcome {
        name,
        qtype: q.query_type,
        who,
        decision,
        rcode,
        from_cache,
    }
}
