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

use crate::cache::{AnswerCache, Key};
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
#[derive(Debug, Clone)]
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

impl Handler {
    /// Answers one request. `udp_limit` is the transport's size limit (`None` over TCP).
    /// Returns `None` for what must be dropped (too short to answer, or not a question).
    pub async fn handle(&self, request: &[u8], client: IpAddr, udp: bool) -> Option<(Vec<u8>, Option<Outcome>)> {
        let req = match Message::from_vec(request) {
            Ok(m) => m,
            Err(_) => return format_error(request).map(|r| (r, None)),
        };
        if req.metadata.message_type != MessageType::Query {
            return None;
        }
        let id = req.metadata.id;
        if req.metadata.op_code != OpCode::Query {
            return Message::error_msg(id, req.metadata.op_code, ResponseCode::NotImp)
                .to_vec()
                .ok()
                .map(|r| (r, None));
        }
        let [q] = req.queries.as_slice() else {
            return Message::error_msg(id, OpCode::Query, ResponseCode::FormErr)
                .to_vec()
                .ok()
                .map(|r| (r, None));
        };
        let name = q.name.to_ascii().trim_end_matches('.').to_ascii_lowercase();
        let who = self.attribution.identify(client, Instant::now());
        let (mut response, decision, from_cache) = self.answer(&req, q, &name, &who).await;
        // RFC 6891: an EDNS question gets an EDNS answer (with our own payload size and the
        // client's DO bit), and a plain one gets a plain answer.
        response.edns = req.edns.as_ref().map(|e| {
            let mut ours = Edns::new();
            ours.set_max_payload(1232);
            ours.set_dnssec_ok(e.flags().dnssec_ok);
            ours
        });
        let rcode = response.metadata.response_code;
        // Over UDP: what the client can take, but never more than the 1232 bytes we advertise
        // (DNS flag day 2020), so that schoolgate cannot be used to amplify an attack.
        let limit = if udp {
            req.edns
                .as_ref()
                .map(|e| usize::from(e.max_payload().clamp(512, 1232)))
                .unwrap_or(512)
        } else {
            65_535
        };
        let mut bytes = response.to_vec().ok()?;
        if bytes.len() > limit {
            // Too big for this transport: the header and question with TC set, so the
            // client asks again over TCP.
            bytes = response.truncate().to_vec().ok()?;
        }
        let outcome = Outcome {
            name,
            qtype: q.query_type,
            who,
            decision,
            rcode,
            from_cache,
        };
        Some((bytes, Some(outcome)))
    }

    async fn answer(&self, req: &Message, q: &Query, name: &str, who: &Who) -> (Message, Option<Decision>, bool) {
        if name == DOH_CANARY {
            return (self.synthesised(req, q, ResponseCode::NXDomain, vec![]), None, false);
        }
        let snapshot = self.engine.snapshot();
        let group = snapshot
            .group(&who.group)
            .or_else(|| snapshot.group(&self.fallback_group));
        let decision = group.map(|g| {
            snapshot.decide(&Request {
                host: name,
                path: None,
                group: g,
                at: LocalTime::uk(unix_now()),
            })
        });
        match decision.map(|d| d.verdict) {
            // No policy at all: fail closed.
            None | Some(Verdict::Block) => (self.blocked(req, q), decision, false),
            Some(Verdict::SafeSearch(target)) => (self.safe_search(req, q, target).await, decision, false),
            Some(Verdict::Allow) => {
                let (m, cached) = self.resolve(req, q).await;
                (m, decision, cached)
            }
        }
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

    /// A CNAME to the engine's safe host, followed by the safe host's own records.
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
        let mut answers = vec![cname];
        answers.extend(resolved.answers.iter().cloned());
        let rcode = resolved.metadata.response_code;
        let mut m = self.synthesised(req, q, rcode, answers);
        m.insert_authorities(resolved.authorities.clone());
        m
    }

    /// From the cache, or forwarded upstream (and cached). Returns whether it was cached.
    async fn resolve(&self, req: &Message, q: &Query) -> (Message, bool) {
        let key = Key {
            name: q.name.to_ascii().to_ascii_lowercase(),
            qtype: q.query_type,
            qclass: q.query_class,
            dnssec_ok: req.edns.as_ref().is_some_and(|e| e.flags().dnssec_ok),
            checking_disabled: req.metadata.checking_disabled,
        };
        let now = Instant::now();
        if let Some(mut m) = self.cache.get(&key, now) {
            m.metadata.id = req.metadata.id;
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
                self.cache.insert(key, &reply, now);
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
