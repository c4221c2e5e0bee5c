//! Events that cross components, and the queue that carries them to the store.
//!
//! The DNS server and the proxy push a [`FilterEvent`] for every answer; a background writer
//! drains the [`EventQueue`] into the store in batches. The queue is bounded and pushing
//! never waits: when it is full the event is counted as dropped (and `/healthz` says so), so
//! that a slow disk never delays a pupil's DNS answer (DESIGN.md, events).
//!
//! ```
//! let (queue, mut rx) = events::EventQueue::new(2);
//! for i in 0..3 {
//!     queue.push(events::FilterEvent { name: format!("site{i}.example"), ..Default::default() });
//! }
//! assert_eq!(queue.dropped(), 1);
//! assert_eq!(rx.try_recv().map(|e| e.name).ok().as_deref(), Some("site0.example"));
//! ```

pub mod blocklink;

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::mpsc;

/// One filter decision, as the DfE filtering standard asks it to be logged (DFE-FM-3.11):
/// device, address, the individual where known, when, and what was asked and decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterEvent {
    /// Unix time in milliseconds.
    pub at_ms: i64,
    /// `dns` or `proxy`.
    pub source: &'static str,
    pub client: IpAddr,
    pub device: Option<String>,
    /// The person's username, where known.
    pub person: Option<String>,
    pub group: String,
    /// The name asked (DNS) or the host (proxy).
    pub name: String,
    /// The record type (DNS) or the method (proxy).
    pub kind: String,
    /// `allow`, `block` or `safe_search`.
    pub verdict: &'static str,
    pub category: Option<&'static str>,
    pub rule: String,
    /// How the answer went: the DNS response code, or the HTTP status.
    pub status: String,
    pub latency_us: u32,
    /// The full URL of a plain HTTP request (proxy only).
    pub url: Option<String>,
    /// Bytes that passed, both ways (proxy only).
    pub bytes: Option<u64>,
    /// The search term, when the URL was a search engine's (proxy only).
    pub search: Option<String>,
    /// How many identical answers this event stands for (see [`Coalescer`]); 1 as pushed.
    pub repeats: u32,
}

impl Default for FilterEvent {
    fn default() -> Self {
        FilterEvent {
            at_ms: 0,
            source: "dns",
            client: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            device: None,
            person: None,
            group: String::new(),
            name: String::new(),
            kind: String::new(),
            verdict: "allow",
            category: None,
            rule: String::new(),
            status: String::new(),
            latency_us: 0,
            url: None,
            bytes: None,
            search: None,
            repeats: 1,
        }
    }
}

/// Whether two DNS events record the same answer to the same question from the same asker,
/// differing at most in when and how fast.
fn same_answer(a: &FilterEvent, b: &FilterEvent) -> bool {
    a.source == b.source
        && a.client == b.client
        && a.name == b.name
        && a.kind == b.kind
        && a.verdict == b.verdict
        && a.status == b.status
        && a.device == b.device
        && a.person == b.person
        && a.group == b.group
        && a.category == b.category
        && a.rule == b.rule
}

fn answer_hash(e: &FilterEvent) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (e.client, &e.name, &e.kind, e.verdict, &e.status, &e.device, &e.person).hash(&mut h);
    h.finish()
}

/// Folds repeated DNS answers into one event each: the same device asking the same name and
/// getting the same answer several times while the writer gathers a batch (up to a second)
/// becomes one row, at the first time, with the count in `repeats` and the slowest latency.
/// Apps that retry a blocked name in a tight loop, and browsers asking again for every tab,
/// would otherwise fill the log (and the disk, and the writer's share of the CPU) with rows
/// that say nothing new; the DfE standard's minimum — device, address, individual, time and
/// what was blocked — is kept for every one (DFE-FM-3.11). Proxy events are left alone: each
/// carries its own URL and byte count. The order of first appearance is kept.
#[derive(Debug, Default)]
pub struct Coalescer {
    kept: Vec<FilterEvent>,
    /// Where the DNS events with a given hash of their question and answer are in `kept`.
    slots: std::collections::HashMap<u64, Vec<usize>>,
}

impl Coalescer {
    pub fn push(&mut self, e: FilterEvent) {
        if e.source != "dns" {
            self.kept.push(e);
            return;
        }
        let slots = self.slots.entry(answer_hash(&e)).or_default();
        match slots.iter().copied().find(|&i| same_answer(&self.kept[i], &e)) {
            Some(i) => {
                let k = &mut self.kept[i];
                k.repeats = k.repeats.saturating_add(e.repeats);
                k.latency_us = k.latency_us.max(e.latency_us);
                k.at_ms = k.at_ms.min(e.at_ms);
            }
            None => {
                slots.push(self.kept.len());
                self.kept.push(e);
            }
        }
    }

    /// Events in hand, after folding.
    pub fn len(&self) -> usize {
        self.kept.len()
    }

    pub fn is_empty(&self) -> bool {
        self.kept.is_empty()
    }

    /// The folded events, leaving the coalescer empty.
    pub fn take(&mut self) -> Vec<FilterEvent> {
        self.slots.clear();
        std::mem::take(&mut self.kept)
    }
}

/// Lets other threads have the core every [`GIVE_WAY_EVERY`] events of a long run.
///
/// Work on the log comes a second's worth at a time, milliseconds of CPU in one go. The
/// scheduler lets a running thread finish its slice before a thread it wakes may run, so a
/// DNS thread woken on the same core waited behind the writer for up to 3.5 ms (`perf sched`)
/// while the other core idled; a lower priority does not change that. Yielding every few
/// hundred events keeps such waits to a fraction of a millisecond.
pub fn give_way(done: usize) {
    if done.is_multiple_of(GIVE_WAY_EVERY) {
        std::thread::yield_now();
    }
}

/// See [`give_way`].
pub const GIVE_WAY_EVERY: usize = 256;

/// The sending end: cheap to clone, never waits.
#[derive(Debug, Clone)]
pub struct EventQueue {
    tx: mpsc::Sender<FilterEvent>,
    dropped: Arc<AtomicU64>,
    pushed: Arc<AtomicU64>,
}

impl EventQueue {
    /// A queue holding at most `capacity` events, and its receiving end.
    pub fn new(capacity: usize) -> (EventQueue, mpsc::Receiver<FilterEvent>) {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        (
            EventQueue {
                tx,
                dropped: Arc::new(AtomicU64::new(0)),
                pushed: Arc::new(AtomicU64::new(0)),
            },
            rx,
        )
    }

    /// Queues an event, or counts it as dropped if the queue is full.
    pub fn push(&self, e: FilterEvent) {
        self.pushed.fetch_add(1, Ordering::Relaxed);
        if self.tx.try_send(e).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Counts `n` events lost before they reached the queue (a producer that gathers events
    /// and found the writer too far behind to take more).
    pub fn lost(&self, n: u64) {
        self.pushed.fetch_add(n, Ordering::Relaxed);
        self.dropped.fetch_add(n, Ordering::Relaxed);
    }

    /// Events lost because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    pub fn pushed(&self) -> u64 {
        self.pushed.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn coalesce(events: &mut Vec<FilterEvent>) {
        let mut c = Coalescer::default();
        for e in events.drain(..) {
            c.push(e);
        }
        *events = c.take();
    }

    fn dns(at_ms: i64, client: [u8; 4], name: &str, verdict: &'static str, latency_us: u32) -> FilterEvent {
        FilterEvent {
            at_ms,
            client: IpAddr::from(client),
            name: name.into(),
            kind: "A".into(),
            verdict,
            status: "NoError".into(),
            group: "ks3".into(),
            latency_us,
            ..Default::default()
        }
    }

    #[test]
    fn repeated_answers_to_one_device_become_one_event_with_a_count() {
        let mut batch = vec![
            dns(100, [10, 0, 0, 1], "tiktok.com", "block", 40),
            dns(120, [10, 0, 0, 1], "bbc.co.uk", "allow", 900),
            dns(130, [10, 0, 0, 1], "tiktok.com", "block", 70),
            dns(150, [10, 0, 0, 2], "tiktok.com", "block", 10),
            dns(90, [10, 0, 0, 1], "tiktok.com", "block", 30),
        ];
        coalesce(&mut batch);
        let got: Vec<_> = batch
            .iter()
            .map(|e| (e.at_ms, e.client.to_string(), e.name.as_str(), e.repeats, e.latency_us))
            .collect();
        assert_eq!(
            got,
            vec![
                (90, "10.0.0.1".to_owned(), "tiktok.com", 3, 70),
                (120, "10.0.0.1".to_owned(), "bbc.co.uk", 1, 900),
                (150, "10.0.0.2".to_owned(), "tiktok.com", 1, 10),
            ],
            "first time, count and slowest latency; another device keeps its own row"
        );
    }

    #[test]
    fn anything_that_differs_in_what_was_asked_or_answered_keeps_its_own_event() {
        let base = dns(100, [10, 0, 0, 1], "example.org", "allow", 5);
        let variants = [
            FilterEvent {
                kind: "AAAA".into(),
                ..base.clone()
            },
            FilterEvent {
                verdict: "block",
                ..base.clone()
            },
            FilterEvent {
                status: "NXDomain".into(),
                ..base.clone()
            },
            FilterEvent {
                person: Some("jsmith".into()),
                ..base.clone()
            },
            FilterEvent {
                device: Some("ipad-12".into()),
                ..base.clone()
            },
            FilterEvent {
                group: "staff".into(),
                ..base.clone()
            },
            FilterEvent {
                category: Some("games"),
                ..base.clone()
            },
            FilterEvent {
                rule: "another rule".into(),
                ..base.clone()
            },
            FilterEvent {
                name: "www.example.org".into(),
                ..base.clone()
            },
        ];
        let mut batch = vec![base.clone()];
        batch.extend(variants.iter().cloned());
        let n = batch.len();
        coalesce(&mut batch);
        assert_eq!(batch.len(), n);
        assert!(batch.iter().all(|e| e.repeats == 1));
    }

    #[test]
    fn events_lost_before_the_queue_and_at_a_full_queue_are_both_counted() {
        let (queue, _rx) = EventQueue::new(1);
        queue.push(dns(1, [10, 0, 0, 5], "a.test", "allow", 10));
        queue.push(dns(2, [10, 0, 0, 5], "b.test", "allow", 10));
        assert_eq!(
            (queue.pushed(), queue.dropped()),
            (2, 1),
            "the second found the queue full"
        );
        queue.lost(40);
        assert_eq!((queue.pushed(), queue.dropped()), (42, 41));
    }

    #[test]
    fn proxy_requests_are_never_folded_together() {
        let request = FilterEvent {
            source: "proxy",
            name: "example.org".into(),
            url: Some("http://example.org/".into()),
            bytes: Some(10),
            ..Default::default()
        };
        let mut batch = vec![request.clone(), request.clone()];
        coalesce(&mut batch);
        assert_eq!(batch, vec![request.clone(), request]);
    }
}
