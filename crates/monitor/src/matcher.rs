//! Every phrase of the lexicon found in one pass over normalised text, as whole words only:
//! *therapist* does not contain *rapist* here, nor *Scunthorpe*, *Essex* or *cocktail*
//! anything worse. Matches start at word starts, so the automaton (an anchored
//! Aho-Corasick DFA over all the phrases) is only run from the words a phrase can begin
//! with; a bitmap of those words' length, first and last byte picks them out without
//! hashing, and most words of ordinary text are passed over in a few instructions.

use aho_corasick::automaton::Automaton;
use aho_corasick::dfa::DFA;
use aho_corasick::{Anchored, MatchKind, StartKind};

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
    automaton: DFA,
    /// Which words a phrase can begin with, by [`word_key`].
    first_words: Box<[u64; 1024]>,
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
        let automaton = DFA::builder()
            .match_kind(MatchKind::Standard)
            .start_kind(StartKind::Anchored)
            .build(&patterns)
            .map_err(|e| format!("the lexicon could not be compiled: {e}"))?;
        let mut first_words = Box::new([0u64; 1024]);
        for p in &patterns {
            let first = p.split(' ').next().unwrap_or_default().as_bytes();
            if let Some(k) = word_key(first) {
                first_words[k >> 6] |= 1 << (k & 63);
            }
        }
        let norm_words = |ws: &[String]| ws.iter().map(|w| normalise(w).text).collect::<Vec<_>>();
        Ok(Matcher {
            automaton,
            first_words,
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
        let words = &n.words;
        for (w, word) in words.iter().enumerate() {
            let s = word.0 as usize;
            let e = words.get(w + 1).map_or(bytes.len(), |next| next.0 as usize - 1);
            let Some(k) = bytes.get(s..e).and_then(word_key) else {
                continue;
            };
            if self.first_words[k >> 6] & (1 << (k & 63)) == 0 {
                continue;
            }
            self.matches_from(n, s, &mut found);
        }
        found
    }

    /// Every phrase that starts at normalised byte `s` (a word start) and ends at a word end.
    fn matches_from(&self, n: &Normalised, s: usize, found: &mut Vec<Match>) {
        let bytes = n.text.as_bytes();
        let dfa = &self.automaton;
        let Ok(mut sid) = dfa.start_state(Anchored::Yes) else {
            return;
        };
        for (k, &b) in bytes[s..].iter().enumerate() {
            sid = dfa.next_state(Anchored::Yes, sid, b);
            if !dfa.is_special(sid) {
                continue;
            }
            if dfa.is_dead(sid) {
                return;
            }
            let e = s + k + 1;
            if !dfa.is_match(sid) || !(e == bytes.len() || bytes[e] == b' ') {
                continue;
            }
            for i in 0..dfa.match_len(sid) {
                let pid = dfa.match_pattern(sid, i);
                // A state's matches include phrases ending here that began later on.
                if e - dfa.pattern_len(pid) == s {
                    self.record(n, pid.as_usize(), s, e, found);
                }
            }
        }
    }

    fn record(&self, n: &Normalised, pattern: usize, s: usize, e: usize, found: &mut Vec<Match>) {
        let (start, end) = n.original_range(s, e);
        // Context words count near the phrase (the same sentence or so), not anywhere in a
        // long text.
        let near = window(&n.text, s, e);
        for &i in &self.pattern_entries[pattern] {
            let entry = &self.entries[i];
            if !self.except[i].is_empty() && self.except[i].iter().any(|w| has_word(near, w)) {
                continue;
            }
            let mut severity = i16::from(entry.severity);
            let mut context = Vec::new();
            if !self.raise[i].is_empty() || !self.lower[i].is_empty() {
                // Each word present counts once, so "cut myself on the paper accidentally"
                // is two steps less worrying than "cut myself".
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

/// A word's place in the first-word bitmap: its length (up to 15) and the low six bits of
/// its first and last bytes. Phrases' first words set their bits; a text word whose bit is
/// clear cannot begin a phrase.
fn word_key(word: &[u8]) -> Option<usize> {
    let (&first, &last) = (word.first()?, word.last()?);
    Some((word.len().min(15) << 12) | (usize::from(first & 63) << 6) | usize::from(last & 63))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::default_lexicon;

    /// The word-start filter finds exactly what a plain overlapping search over the whole
    /// normalised text, kept to whole words, finds.
    #[test]
    fn the_word_start_filter_misses_nothing_a_full_search_finds() {
        let m = Matcher::new(default_lexicon(), &[]).expect("lexicon");
        // One pattern an entry, so a pattern's index is its entry's.
        let patterns: Vec<String> = m.entries.iter().map(|e| normalise(&e.phrase).text).collect();
        let full = aho_corasick::AhoCorasick::new(&patterns).expect("automaton");
        let mut texts: Vec<String> = m.entries.iter().map(|e| format!("so {} ok", e.phrase)).collect();
        texts.push(
            m.entries
                .iter()
                .map(|e| e.phrase.as_str())
                .collect::<Vec<_>>()
                .join(" "),
        );
        texts.push("how to kill myself tonight i want to die kill myself want to die".into());
        for t in &texts {
            let n = normalise(t);
            let bytes = n.text.as_bytes();
            let whole = |s: usize, e: usize| (s == 0 || bytes[s - 1] == b' ') && (e == bytes.len() || bytes[e] == b' ');
            let mut all = Vec::new();
            let mut kept = Vec::new();
            for x in full.find_overlapping_iter(&n.text) {
                if whole(x.start(), x.end()) {
                    let span = n.original_range(x.start(), x.end());
                    all.push(span);
                    if m.except[x.pattern().as_usize()].is_empty() {
                        kept.push(span);
                    }
                }
            }
            let got: Vec<(usize, usize)> = m.scan_normalised(&n).iter().map(|f| (f.start, f.end)).collect();
            for w in &kept {
                assert!(got.contains(w), "{t:?}: {w:?} missed; got {got:?}");
            }
            for g in &got {
                assert!(all.contains(g), "{t:?}: {g:?} found but not by the full search");
            }
        }
    }
}
