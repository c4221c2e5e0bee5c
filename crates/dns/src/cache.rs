//! The answer cache: honours TTLs, caches negative answers (RFC 2308), bounded in size.
//!
//! Each entry also remembers the last answer it was encoded into, for as long as its TTLs
//! read the same (a second): a busy name is then answered by copying bytes and writing the
//! client's ID and question into them, instead of cloning and encoding a message each time.

use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwapOption;
use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::{DNSClass, RData, RecordType};
use moka::sync::Cache;

/// What a cached answer is filed under. The DO and CD bits are part of the key, so that a
/// validating client never gets an answer stripped of its signatures.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Key {
    pub name: String,
    pub qtype: RecordType,
    pub qclass: DNSClass,
    pub dnssec_ok: bool,
    pub checking_disabled: bool,
}

#[derive(Debug)]
struct Entry {
    answer: Message,
    stored: Instant,
    ttl: Duration,
    wire: ArcSwapOption<Wire>,
}

/// An answer as it was sent: for which age (whole seconds since it was stored) and which
/// request shape ([`Shape`]), and the bytes.
#[derive(Debug)]
struct Wire {
    age: u32,
    shape: Shape,
    bytes: Box<[u8]>,
}

/// What, besides the question, makes two answers from one cache entry differ: the
/// request's RD bit and whether it had EDNS (its DO bit is part of the [`Key`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    pub recursion_desired: bool,
    pub edns: bool,
}

struct Expiry;

impl moka::Expiry<Key, Arc<Entry>> for Expiry {
    fn expire_after_create(&self, _: &Key, e: &Arc<Entry>, _: Instant) -> Option<Duration> {
        Some(e.ttl)
    }
}

/// A cache entry found for a question.
#[derive(Debug)]
pub struct Hit {
    entry: Arc<Entry>,
    age: u32,
}

impl Hit {
    /// The answer with its TTLs counted down by the time it has been cached.
    pub fn message(&self) -> Message {
        let mut m = self.entry.answer.clone();
        for r in m
            .answers
            .iter_mut()
            .chain(m.authorities.iter_mut())
            .chain(m.additionals.iter_mut())
        {
            r.ttl = r.ttl.saturating_sub(self.age);
        }
        m
    }

    /// The bytes last sent for this entry, if they are still right for this age and shape.
    pub fn wire(&self, shape: Shape) -> Option<Arc<[u8]>> {
        let w = self.entry.wire.load();
        let w = w.as_ref()?;
        (w.age == self.age && w.shape == shape).then(|| Arc::from(&w.bytes[..]))
    }

    /// Remembers the bytes sent, for the next question in the same second.
    pub fn remember(&self, shape: Shape, bytes: &[u8]) {
        self.entry.wire.store(Some(Arc::new(Wire {
            age: self.age,
            shape,
            bytes: bytes.into(),
        })));
    }
}

/// Answers by question, until their TTL runs out.
#[derive(Clone)]
pub struct AnswerCache {
    inner: Cache<Key, Arc<Entry>>,
    max_ttl: Duration,
}

impl std::fmt::Debug for AnswerCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AnswerCache({} entries)", self.inner.entry_count())
    }
}

/// How long an answer may be cached: the smallest TTL of its records; for a negative answer
/// (NXDOMAIN, or NOERROR with no answer), the SOA's TTL and MINIMUM, whichever is smaller
/// (RFC 2308 §5). Errors and answers without a way to tell are not cached.
pub fn cacheable_ttl(m: &Message, max: Duration) -> Option<Duration> {
    let code = m.metadata.response_code;
    let negative = code == ResponseCode::NXDomain || (code == ResponseCode::NoError && m.answers.is_empty());
    let secs = if negative {
        m.authorities.iter().find_map(|r| match &r.data {
            RData::SOA(soa) => Some(r.ttl.min(soa.minimum)),
            _ => None,
        })?
    } else if code == ResponseCode::NoError {
        m.answers.iter().map(|r| r.ttl).min()?
    } else {
        return None;
    };
    (secs > 0).then(|| Duration::from_secs(u64::from(secs)).min(max))
}

impl AnswerCache {
    /// At most `entries` answers; none kept longer than `max_ttl`.
    pub fn new(entries: u64, max_ttl: Duration) -> AnswerCache {
        AnswerCache {
            inner: Cache::builder().max_capacity(entries).expire_after(Expiry).build(),
            max_ttl,
        }
    }

    pub fn insert(&self, key: Key, answer: &Message, now: Instant) {
        if let Some(ttl) = cacheable_ttl(answer, self.max_ttl) {
            self.inner.insert(
                key,
                Arc::new(Entry {
                    answer: answer.clone(),
                    stored: now,
                    ttl,
                    wire: ArcSwapOption::empty(),
                }),
            );
        }
    }

    /// The entry for `key`, while its TTL lasts.
    pub fn lookup(&self, key: &Key, now: Instant) -> Option<Hit> {
        let entry = self.inner.get(key)?;
        let elapsed = now.saturating_duration_since(entry.stored);
        if elapsed >= entry.ttl {
            return None;
        }
        let age = u32::try_from(elapsed.as_secs()).unwrap_or(u32::MAX);
        Some(Hit { entry, age })
    }

    /// A cached answer with its TTLs counted down by the time it has been cached.
    pub fn get(&self, key: &Key, now: Instant) -> Option<Message> {
        self.lookup(key, now).map(|h| h.message())
    }

    pub fn len(&self) -> u64 {
        self.inner.entry_count()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
