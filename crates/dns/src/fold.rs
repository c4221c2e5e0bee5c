//! Repeated answers folded on the socket's own thread, before they go to the log.
//!
//! A device asks the same names over and over (every page load asks for the same dozen
//! hosts), and under load each answer's trip to the log — an event built, queued, hashed
//! again by the writer — cost the DNS threads more than answering did. A [`Fold`] keeps,
//! for a second, one entry per distinct answer (same client, name, type, person,
//! group, decision and response code) with how many times it was given, when first and the
//! slowest latency; the log's writer folds further across threads and over a second. What a
//! log reader sees is unchanged: one row per distinct answer, with its count.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::net::IpAddr;
use std::time::{Duration, Instant, SystemTime};

use crate::handler::Outcome;

/// How long answers are folded before they go to the log. A second, because a tenth let
/// through nearly every answer of a benchmark asking 10,000 names: a name comes round
/// again only every few tenths.
pub const WINDOW: Duration = Duration::from_secs(1);
/// Distinct answers held at most (a few MiB); more sends them on early, so a client asking
/// for ever new names cannot grow the fold without bound.
pub const MAX_HELD: usize = 16_384;

/// One answer, given one or more times.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Answered {
    /// When it was first given.
    pub at: SystemTime,
    /// The slowest of its times.
    pub latency: Duration,
    pub repeats: u32,
}

impl Answered {
    /// An answer given once, now.
    pub fn once(latency: Duration) -> Answered {
        Answered {
            at: SystemTime::now(),
            latency,
            repeats: 1,
        }
    }
}

/// What makes two answers the same for the log. Hashes only the client, name and type (the
/// parts that differ most); equality compares everything.
#[derive(Debug)]
pub struct Same {
    client: IpAddr,
    outcome: Outcome,
}

impl Hash for Same {
    fn hash<H: Hasher>(&self, h: &mut H) {
        self.client.hash(h);
        self.outcome.name.hash(h);
        self.outcome.qtype.hash(h);
    }
}

impl PartialEq for Same {
    fn eq(&self, other: &Same) -> bool {
        self.client == other.client && self.outcome == other.outcome
    }
}

impl Eq for Same {}

/// The answers of one socket's loop since it last sent them to the log.
#[derive(Debug, Default)]
pub struct Fold {
    held: HashMap<Same, Answered, foldhash::fast::RandomState>,
    opened: Option<Instant>,
}

impl Fold {
    /// Counts one answer, given `latency` after its question arrived at `now`.
    pub fn add(&mut self, client: IpAddr, outcome: Outcome, latency: Duration, now: Instant) {
        self.opened.get_or_insert(now);
        self.held
            .entry(Same { client, outcome })
            .and_modify(|a| {
                a.repeats = a.repeats.saturating_add(1);
                a.latency = a.latency.max(latency);
            })
            .or_insert_with(|| Answered::once(latency));
    }

    /// Whether the held answers should go to the log now: the window has passed, or the
    /// fold is full.
    pub fn due(&self, now: Instant) -> bool {
        self.held.len() >= MAX_HELD || self.opened.is_some_and(|o| now.saturating_duration_since(o) >= WINDOW)
    }

    pub fn is_empty(&self) -> bool {
        self.held.is_empty()
    }

    pub fn len(&self) -> usize {
        self.held.len()
    }

    /// The held answers, leaving the fold empty. Takes the table whole, so that the loop
    /// hands a second's answers on without touching each one; the next table starts at the
    /// last one's size, so that it does not grow again step by step.
    pub fn take(&mut self) -> Folded {
        self.opened = None;
        let room = self.held.len();
        Folded(std::mem::replace(
            &mut self.held,
            HashMap::with_capacity_and_hasher(room, Default::default()),
        ))
    }
}

/// Answers taken from a [`Fold`].
#[derive(Debug)]
pub struct Folded(HashMap<Same, Answered, foldhash::fast::RandomState>);

impl Folded {
    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl IntoIterator for Folded {
    type Item = (Outcome, IpAddr, Answered);
    type IntoIter = std::iter::Map<
        std::collections::hash_map::IntoIter<Same, Answered>,
        fn((Same, Answered)) -> (Outcome, IpAddr, Answered),
    >;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter().map(|(s, a)| (s.outcome, s.client, a))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identify::{Source, Who};
    use hickory_proto::op::ResponseCode;
    use hickory_proto::rr::RecordType;

    fn outcome(name: &str, person: Option<&str>) -> Outcome {
        Outcome {
            name: name.into(),
            qtype: RecordType::A,
            who: Who {
                group: "ks2".into(),
                device: None,
                person: person.map(Into::into),
                source: if person.is_some() {
                    Source::SignIn
                } else {
                    Source::Subnet
                },
            },
            decision: None,
            rcode: ResponseCode::NoError,
            from_cache: true,
        }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn the_same_answer_to_the_same_client_is_one_entry_with_its_count_and_slowest_time() {
        let mut fold = Fold::default();
        let now = Instant::now();
        for ms in [1, 7, 3] {
            fold.add(
                ip("10.0.0.5"),
                outcome("bbc.co.uk", None),
                Duration::from_millis(ms),
                now,
            );
        }
        let held: Vec<_> = fold.take().into_iter().collect();
        assert_eq!(held.len(), 1);
        assert_eq!(held[0].2.repeats, 3);
        assert_eq!(held[0].2.latency, Duration::from_millis(7));
        assert!(fold.is_empty());
    }

    #[test]
    fn answers_that_differ_in_client_name_or_person_stay_apart() {
        let mut fold = Fold::default();
        let now = Instant::now();
        let d = Duration::from_micros(50);
        fold.add(ip("10.0.0.5"), outcome("bbc.co.uk", None), d, now);
        fold.add(ip("10.0.0.6"), outcome("bbc.co.uk", None), d, now);
        fold.add(ip("10.0.0.5"), outcome("bbc.com", None), d, now);
        fold.add(ip("10.0.0.5"), outcome("bbc.co.uk", Some("amy.b")), d, now);
        fold.add(ip("10.0.0.5"), outcome("bbc.co.uk", Some("amy.b")), d, now);
        assert_eq!(fold.len(), 4);
        let mut counts: Vec<u32> = fold.take().into_iter().map(|(_, _, a)| a.repeats).collect();
        counts.sort();
        assert_eq!(counts, [1, 1, 1, 2]);
    }

    #[test]
    fn held_answers_are_due_after_the_window_or_when_the_fold_is_full() {
        let mut fold = Fold::default();
        let start = Instant::now();
        assert!(!fold.due(start + WINDOW), "an empty fold is never due");
        fold.add(ip("10.0.0.5"), outcome("a.test", None), Duration::ZERO, start);
        assert!(!fold.due(start + WINDOW / 2));
        assert!(fold.due(start + WINDOW));
        assert_eq!(fold.take().len(), 1);
        assert!(!fold.due(start + WINDOW * 2), "draining starts a new window");

        for i in 0..MAX_HELD {
            fold.add(
                ip("10.0.0.5"),
                outcome(&format!("n{i}.test"), None),
                Duration::ZERO,
                start,
            );
        }
        assert!(fold.due(start), "full");
    }
}
