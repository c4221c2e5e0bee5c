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
        }
    }
}

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

    /// Events lost because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    pub fn pushed(&self) -> u64 {
        self.pushed.load(Ordering::Relaxed)
    }
}
