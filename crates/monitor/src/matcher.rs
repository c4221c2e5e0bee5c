//! Every phrase of the lexicon found in one pass over normalised text (an Aho-Corasick
//! DFA), kept only where it stands as whole words: *therapist* does not contain *rapist*
//! here, nor *Scunthorpe*, *Essex* or *cocktail* anything worse.

use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind};

use crate::lexicon::{Category, Entry};
use crate::normalise::{Normalised, normalise};

/// One phrase found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Match {
    /// Index into the matcher's entries.
    pub entry: usize,
    pub category: Category,
    /// After the entry's context words.
    pub severity: u8,
    /// Byte range in the original text, for highlighting.
    pub start: usize,
    pub end: usize,
    /// The context words that changed the severity, as the lexicon writes them
    /// (`+tonight`, `-joke`): the alert's reason names them.
    pub context: Vec<String>,
}

/// The compiled lexicon.
#[derive(Debug)]
pub struct Matcher {
    automaton: AhoCorasick,
    entries: Vec<Entry>,
    /// For each pattern, the entries it stands for (two languages may share a phrase).
    pattern_entries: Vec<Vec<usize>>,
    raise: Vec<Vec<String>>,
    lower: Vec<Vec<String>>,
    except: Vec<Vec<String>>,
}

impl Matcher {
    /// Compiles `entries`, leaving out the categories a school switched off.
    pub fn new(entries: Vec<Entry>, switched_off: &[Category]) -> Result<Matcher, String> {
        let entries: Vec<Entry> = entries
            .into_iter()
            .filter(|e| !switched_off.contains(&e.category))
            .collect();
        let mut patterns: Vec<String> = Vec::new();
        let mut pattern_entries: Vec<Vec<usize>> = Vec::new();
        for (i, e) in entries.iter().enumerate() {
            let p = normalise(&e.phrase).text;
            match patterns.iter().position(|q| *q == p) {
                Some(at) => pattern_entries[at].push(i),
                None => {
                    patterns.push(p);
                    pattern_entries.push(vec![i]);
                }
            }
        }
        let automaton = AhoCorasick::builder()
            .kind(Some(AhoCorasickKind::DFA))
            .match_kind(MatchKind::Standard)
            .build(&patterns)
            .map_err(|e| format!("the lexicon could not be compiled: {e}"))?;
        let norm_words = |ws: &[String]| ws.iter().map(|w| normalise(w).text).collect::<Vec<_>>();
        Ok(Matcher {
            automaton,
            raise: entries.iter().map(|e| norm_words(&e.raise)).collect(),
            lower: entries.iter().map(|e| norm_words(&e.lower)).collect(),
            except: entries.iter().map(|e| norm_words(&e.except)).collect(),
            entries,
            pattern_entries,
        })
    }

    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// The phrases in `text`.
    pub fn scan(&self, text: &str) -> Vec<Match> {
        self.scan_normalised(&normalise(text))
    }

    /// The phrases in text already normalised.
    pub fn scan_normalised(&self, n: &Normalised) -> Vec<Match> {
        let bytes = n.text.as_bytes();
        let mut found = Vec::new();
        for m in self.automaton.find_overlapping_iter(bytes) {
            let (s, e) = (m.start(), m.end());
            let whole = (s == 0 || bytes[s - 1] == b' ') && (e == bytes.len() || bytes[e] == b' ');
            if !whole {
                continue;
            }
            let (start, end) = n.original_range(s, e);
            for &i in &self.pattern_entries[m.pattern().as_usize()] {
                let entry = &self.entries[i];
                let mut severity = i16::from(entry.severity);
                let mut context = Vec::new();
                if !self.except[i].is_empty() && self.except[i].iter().any(|w| has_word(window(&n.text, s, e), w)) {
                    continue;
                }
                if !self.raise[i].is_empty() || !self.lower[i].is_empty() {
                    // Context counts near the phrase (the same sentence or so), not anywhere in
                    // a long text: each word present counts once, so "cut myself on the paper
                    // accidentally" is two steps less worrying than "cut myself".
                    let near = window(&n.text, s, e);
                    for (k, w) in self.raise[i].iter().enumerate() {
                        if has_word(near, w) {
                            severity += 1;
                            context.push(format!("+{}", entry.raise[k]));
                        }
                    }
                    for (k, w) in self.lower[i].iter().enumerate() {
                        if has_word(near, w) {
                            severity -= 1;
                            context.push(format!("-{}", entry.lower[k]));
                        }
                    }
                }
                found.push(Match {
                    entry: i,
                    category: entry.category,
                    severity: severity.clamp(1, 5) as u8,
                    start,
                    end,
                    context,
                });
            }
        }
        found
    }

    /// The match an alert should be about: the most severe, the longest phrase among equals.
    pub fn worst<'m>(&self, found: &'m [Match]) -> Option<&'m Match> {
        found
            .iter()
            .max_by_key(|m| (m.severity, m.end - m.start, std::cmp::Reverse(m.start)))
    }

    /// Why a match has its severity, for the alert: the phrase, and the context words that
    /// moved it.
    pub fn reason(&self, m: &Match) -> String {
        let e = &self.entries[m.entry];
        let mut r = format!(
            "\"{}\" ({}, {}): severity {}",
            e.phrase,
            m.category.label(),
            e.language,
            e.severity
        );
        if !m.context.is_empty() {
            r.push_str(&format!(
                ", {} by {}",
                if m.severity > e.severity {
                    "raised"
                } else if m.severity < e.severity {
                    "lowered"
                } else {
                    "changed"
                },
                m.context.join(" ")
            ));
        }
        r
    }
}

/// How far either side of a phrase its context words are looked for, in normalised bytes.
const CONTEXT: usize = 160;

fn window(text: &str, start: usize, end: usize) -> &str {
    let mut a = start.saturating_sub(CONTEXT);
    while !text.is_char_boundary(a) {
        a -= 1;
    }
    let mut b = (end + CONTEXT).min(text.len());
    while !text.is_char_boundary(b) {
        b += 1;
    }
    &text[a..b]
}

/// Whether `word` stands as a whole word in `text` (both normalised).
fn has_word(text: &str, word: &str) -> bool {
    let bytes = text.as_bytes();
    text.match_indices(word).any(|(at, w)| {
        (at == 0 || bytes[at - 1] == b' ') && (at + w.len() == bytes.len() || bytes[at + w.len()] == b' ')
    })
}
