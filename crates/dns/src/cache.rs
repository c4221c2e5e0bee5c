//! The answer cache: honours TTLs, caches negative answers (RFC 2308), bounded in size.

use std::sync::Arc;
use std::time::{Duration, Instant};

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

#[derive(Debug, Clone)]
struct Entry {
    answer: Arc<Message>,
    stored: Instant,
    ttl: Duration,
}

struct Expiry;

impl moka::Expiry<Key, Entry> for Expiry {
    fn expire_after_create(&self, _: &Key, e: &Entry, _: Instant) -> Option<Duration> {
        Some(e.ttl)
    }
}

/// Answers by question, until their TTL runs out.
#[derive(Clone)]
pub struct AnswerCache {
    inner: Cache<Key, Entry>,
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
                Entry {
                    answer: Arc::new(answer.clone()),
                    stored: now,
                    ttl,
                },
            );
        }
    }

    /// A cached answer with its TTLs counted down by the time it has been cached.
    pub fn get(&self, key: &Key, now: Instant) -> Option<Message> {
        let e = self.inner.get(key)?;
        let elapsed = now.saturating_duration_since(e.stored);
        if elapsed >= e.ttl {
            return None;
        }
        let spent = elapsed.as_secs() as u32;
        let mut m = (*e.answer).clone();
        for r in m
            .answers
            .iter_mut()
            .chain(m.authorities.iter_mut())
            .chain(m.additionals.iter_mut())
        {
            r.ttl = r.ttl.saturating_sub(spent);
        }
        Some(m)
    }

    pub fn len(&self) -> u64 {
        self.inner.entry_count()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
