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
use quick_cache::Equivalent;
use quick_cache::sync::Cache;

/// What a cached answer is filed under. The DO and CD bits are part of the key, so that a
/// validating client never gets an answer stripped of its signatures.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Key {
    /// Lower case, without the root's final dot: the name the policy is asked about.
    pub name: String,
    pub qtype: RecordType,
    pub qclass: DNSClass,
    pub dnssec_ok: bool,
    pub checking_disabled: bool,
}

/// A [`Key`] with a borrowed name, to look an answer up without copying the name. Its
/// fields, and so its hash, are the key's, in the same order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyRef<'a> {
    pub name: &'a str,
    pub qtype: RecordType,
    pub qclass: DNSClass,
    pub dnssec_ok: bool,
    pub checking_disabled: bool,
}

impl KeyRef<'_> {
    pub fn to_owned(self) -> Key {
        Key {
            name: self.name.to_owned(),
            qtype: self.qtype,
            qclass: self.qclass,
            dnssec_ok: self.dnssec_ok,
            checking_disabled: self.checking_disabled,
        }
    }
}

impl Equivalent<Key> for KeyRef<'_> {
    fn equivalent(&self, k: &Key) -> bool {
        self.name == k.name
            && self.qtype == k.qtype
            && self.qclass == k.qclass
            && self.dnssec_ok == k.dnssec_ok
            && self.checking_disabled == k.checking_disabled
    }
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

    /// `f` of the bytes last sent for this entry, if they are still right for this age and
    /// shape. Lent rather than copied out: a copy was an allocation on every cached answer.
    pub fn with_wire<R>(&self, shape: Shape, f: impl FnOnce(&[u8]) -> R) -> Option<R> {
        let w = self.entry.wire.load();
        let w = w.as_ref()?;
        (w.age == self.age && w.shape == shape).then(|| f(&w.bytes))
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
///
/// quick_cache rather than moka: under dnsperf moka's lookup and bookkeeping were a tenth of
/// the DNS threads' time, the largest cost in user space. quick_cache has no expiry of its
/// own, so a lookup checks the TTL and removes what has run out; what is never asked again
/// ages out of the CLOCK-Pro eviction like any cold entry, so the count stays bounded.
#[derive(Clone)]
pub struct AnswerCache {
    inner: Arc<Cache<Key, Arc<Entry>>>,
    max_ttl: Duration,
}

impl std::fmt::Debug for AnswerCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AnswerCache({} entries)", self.inner.len())
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
            inner: Arc::new(Cache::new(usize::try_from(entries.max(1)).unwrap_or(usize::MAX))),
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
    pub fn lookup(&self, key: KeyRef<'_>, now: Instant) -> Option<Hit> {
        let entry = self.inner.get(&key)?;
        let elapsed = now.saturating_duration_since(entry.stored);
        if elapsed >= entry.ttl {
            // Only if it is still the entry that ran out: an upstream answer may have
            // replaced it since it was read.
            self.inner.remove_if(&key, |e| Arc::ptr_eq(e, &entry));
            return None;
        }
        let age = u32::try_from(elapsed.as_secs()).unwrap_or(u32::MAX);
        Some(Hit { entry, age })
    }

    /// A cached answer with its TTLs counted down by the time it has been cached.
    pub fn get(&self, key: KeyRef<'_>, now: Instant) -> Option<Message> {
        self.lookup(key, now).map(|h| h.message())
    }

    pub fn len(&self) -> u64 {
        self.inner.len() as u64
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::op::Query;
    use hickory_proto::rr::rdata::A;
    use hickory_proto::rr::{Name, Record};

    fn answer(name: &str, ttl: u32) -> Message {
        let n = Name::from_ascii(format!("{name}.")).unwrap();
        let mut m = Message::response(1, hickory_proto::op::OpCode::Query);
        m.add_query(Query::query(n.clone(), RecordType::A));
        m.add_answer(Record::from_rdata(n, ttl, RData::A(A::new(10, 0, 0, 1))));
        m
    }

    fn key(name: &str) -> KeyRef<'_> {
        KeyRef {
            name,
            qtype: RecordType::A,
            qclass: DNSClass::IN,
            dnssec_ok: false,
            checking_disabled: false,
        }
    }

    #[test]
    fn a_borrowed_key_finds_what_an_owned_one_filed() {
        let cache = AnswerCache::new(100, Duration::from_secs(3600));
        let now = Instant::now();
        cache.insert(key("bbc.co.uk").to_owned(), &answer("bbc.co.uk", 300), now);
        assert!(cache.lookup(key("bbc.co.uk"), now).is_some());
        assert!(cache.lookup(key("bbc.com"), now).is_none());
        let signed = KeyRef {
            dnssec_ok: true,
            ..key("bbc.co.uk")
        };
        assert!(cache.lookup(signed, now).is_none(), "the DO bit is part of the key");
    }

    #[test]
    fn an_answer_past_its_ttl_is_not_given_and_is_dropped() {
        let cache = AnswerCache::new(100, Duration::from_secs(3600));
        let now = Instant::now();
        cache.insert(key("a.test").to_owned(), &answer("a.test", 5), now);
        let hit = cache.lookup(key("a.test"), now + Duration::from_secs(4)).unwrap();
        assert_eq!(hit.message().answers[0].ttl, 1, "counted down by its age");
        assert!(cache.lookup(key("a.test"), now + Duration::from_secs(5)).is_none());
        assert_eq!(cache.len(), 0);
    }

    #[test]
    fn the_cache_never_holds_more_than_it_was_given_room_for() {
        let cache = AnswerCache::new(1_000, Duration::from_secs(3600));
        let now = Instant::now();
        for i in 0..20_000 {
            let name = format!("host{i}.test");
            cache.insert(key(&name).to_owned(), &answer(&name, 300), now);
        }
        assert!(cache.len() <= 1_000, "{} entries", cache.len());
        assert!(cache.len() >= 500, "{} entries: most of the room is used", cache.len());
    }
}
