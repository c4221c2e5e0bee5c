//! Text as the matcher sees it: compatibility-folded (NFKC's compatibility part), lower
//! case, accents off Latin letters and vowel marks off Arabic script, leetspeak read as
//! letters (`s3lf h4rm`), letters spaced out to dodge filters joined up (`k.i.l.l`), runs of
//! one letter cut to one (`diiie`, and `kill` too: phrases are normalised the same way), and
//! every gap between words one space. Each word remembers where in the original it came
//! from, so that an alert can quote the original words.

use unicode_normalization::char::{decompose_compatible, is_combining_mark};

/// Normalised text and where each of its words came from in the original.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Normalised {
    pub text: String,
    /// One entry a word of `text`: its byte offset there, and the original byte range it
    /// was made from. Matches are whole words, so a word is fine enough to quote.
    pub(crate) words: Vec<(u32, u32, u32)>,
}

impl Normalised {
    /// The original byte range that the whole words at normalised bytes `start..end` came
    /// from.
    pub fn original_range(&self, start: usize, end: usize) -> (usize, usize) {
        let containing = |at: usize| {
            self.words
                .partition_point(|w| w.0 as usize <= at)
                .checked_sub(1)
                .and_then(|i| self.words.get(i))
        };
        let first = containing(start).map(|w| w.1).unwrap_or(0);
        let last = containing(end.saturating_sub(1)).map(|w| w.2).unwrap_or(first);
        (first as usize, last.max(first) as usize)
    }
}

/// Characters that stand for letters inside a word (`h4rm`, `$uicide`, `@ss`).
fn leet(c: char) -> Option<char> {
    Some(match c {
        '0' => 'o',
        '1' => 'i',
        '3' => 'e',
        '4' => 'a',
        '5' => 's',
        '7' => 't',
        '8' => 'b',
        '@' => 'a',
        '$' => 's',
        _ => return None,
    })
}

/// Marks dropped after decomposition: Latin accents (so `ą`, `ș`, `é` match `a`, `s`, `e`,
/// as people type them without) and Arabic-script vowel marks, which are optional in
/// writing. Marks that are letters' vowels in other scripts (Gurmukhi, Devanagari) stay.
fn dropped_mark(c: char) -> bool {
    matches!(c, '\u{0300}'..='\u{036F}' | '\u{064B}'..='\u{065F}' | '\u{0670}' | '\u{06D6}'..='\u{06ED}')
}

/// Latin letters with no decomposition to fold: people type them without the stroke.
fn fold_letter(c: char) -> char {
    match c {
        'ł' => 'l',
        'ø' => 'o',
        'đ' => 'd',
        'ı' => 'i',
        'ħ' => 'h',
        _ => c,
    }
}

/// Characters between spaced-out letters that still make one word (`k.i.l.l`, `k-i-l-l`).
fn spacer(c: char) -> bool {
    matches!(c, '.' | '-' | '_' | '*' | ' ' | '/' | '|' | '+' | '~')
}

/// The normaliser's state as it reads the text once, front to back.
#[derive(Debug, Default)]
struct State {
    /// The normalised text as it is written: bytes of valid UTF-8 (whole characters are
    /// pushed), turned into the `String` at the end.
    out: Vec<u8>,
    words: Vec<(u32, u32, u32)>,
    /// The word being read, and where it started and ended in the original.
    word: Vec<char>,
    word_start: u32,
    word_end: u32,
    has_letter: bool,
    /// Single-letter words in a row (`k.i.l`), waiting to learn whether they spell a word.
    singles: Vec<(char, u32, u32)>,
    /// The one character between them: a run ends where it changes (`k.i.l.l m.e`).
    singles_sep: Option<char>,
    /// The gap since the last word: its length, whether it was all spacers, its last char.
    gap_len: usize,
    gap_spacer: bool,
    gap_char: char,
}

impl State {
    fn emit(&mut self, chars: &[char], start: u32, end: u32) {
        if chars.is_empty() {
            return;
        }
        if !self.out.is_empty() {
            self.out.push(b' ');
        }
        self.words.push((self.out.len() as u32, start, end));
        let mut last = None;
        let mut utf8 = [0u8; 4];
        for &c in chars {
            // Runs of one letter are cut to one, here and in phrases alike.
            if last == Some(c) && c.is_alphabetic() {
                continue;
            }
            self.out.extend_from_slice(c.encode_utf8(&mut utf8).as_bytes());
            last = Some(c);
        }
    }

    /// The pending single letters: one word if three or more, else each its own.
    fn flush_singles(&mut self) {
        if self.singles.is_empty() {
            self.singles_sep = None;
            return;
        }
        let singles = std::mem::take(&mut self.singles);
        if singles.len() >= 3 {
            let chars: Vec<char> = singles.iter().map(|s| s.0).collect();
            self.emit(&chars, singles[0].1, singles[singles.len() - 1].2);
        } else {
            for &(c, s, e) in &singles {
                self.emit(&[c], s, e);
            }
        }
        self.singles = singles;
        self.singles.clear();
        self.singles_sep = None;
    }

    fn finish_word(&mut self) {
        if self.word.is_empty() {
            return;
        }
        if self.has_letter {
            for c in &mut self.word {
                if let Some(l) = leet(*c) {
                    *c = l;
                }
            }
        }
        let gap = (self.gap_len == 1 && self.gap_spacer).then_some(self.gap_char);
        if self.word.len() == 1 && self.word[0].is_alphabetic() {
            let continues = match (self.singles.len(), self.singles_sep, gap) {
                (0, _, _) => true,
                (1, None, Some(_)) => true,
                (_, Some(sep), Some(g)) => sep == g,
                _ => false,
            };
            if !continues {
                self.flush_singles();
            } else if self.singles.len() == 1 {
                self.singles_sep = gap;
            }
            self.singles.push((self.word[0], self.word_start, self.word_end));
        } else {
            self.flush_singles();
            let word = std::mem::take(&mut self.word);
            self.emit(&word, self.word_start, self.word_end);
            self.word = word;
        }
        self.word.clear();
        self.has_letter = false;
        self.gap_len = 0;
        self.gap_spacer = true;
    }

    /// `feed` for one ASCII byte, already lower-cased: most text schools scan is ASCII,
    /// and this path needs no Unicode tables.
    #[inline]
    fn feed_ascii(&mut self, b: u8, at: u32) {
        let reading = !self.word.is_empty();
        if b.is_ascii_alphanumeric() || b == b'@' || b == b'$' {
            if !reading {
                self.word_start = at;
            }
            self.word_end = at + 1;
            self.has_letter |= b.is_ascii_alphabetic();
            self.word.push(char::from(b));
        } else if reading && matches!(b, b'\'' | b'`') {
            self.word_end = at + 1;
        } else {
            self.finish_word();
            let c = char::from(b);
            self.gap_len += 1;
            self.gap_spacer &= spacer(c);
            self.gap_char = c;
        }
    }

    /// A whole word of ASCII letters, digits and `@ $` (apostrophes inside dropped), with
    /// plain ASCII after it: the common case, taken in one go rather than a character at a
    /// time. Gives exactly what feeding its bytes one by one gives.
    fn ascii_word(&mut self, run: &[u8], start: u32) {
        debug_assert!(self.word.is_empty());
        self.flush_singles();
        let table = if run.iter().any(u8::is_ascii_alphabetic) {
            &ASCII_LEET
        } else {
            &ASCII_PLAIN
        };
        if !self.out.is_empty() {
            self.out.push(b' ');
        }
        self.words
            .push((self.out.len() as u32, start, start + run.len() as u32));
        self.out.reserve(run.len());
        let mut last = 0u8;
        for &b in run {
            let c = table[usize::from(b)];
            // 0: an apostrophe, dropped. Runs of one letter are cut to one, as in `emit`.
            if c == 0 || (c == last && c.is_ascii_lowercase()) {
                continue;
            }
            self.out.push(c);
            last = c;
        }
        self.has_letter = false;
        self.gap_len = 0;
        self.gap_spacer = true;
    }

    /// [`State::ascii_word`] in one pass for the commonest case (no single letters waiting
    /// to be joined): scans the word at `bytes[i..]` and writes it as it goes. Returns where
    /// the word ends, or `None` (with nothing written) when it needs the careful path: a
    /// single letter, or a word running on into non-ASCII letters.
    fn ascii_word_fused(&mut self, bytes: &[u8], i: usize) -> Option<usize> {
        debug_assert!(self.word.is_empty() && self.singles.is_empty());
        let mark = self.out.len();
        if mark != 0 {
            self.out.push(b' ');
        }
        let text_start = self.out.len();
        let (mut j, mut last, mut letters, mut alpha, mut leety) = (i, 0u8, 0usize, false, false);
        while let Some(&c) = bytes.get(j) {
            match ASCII_CLASS[usize::from(c)] {
                LETTER => {
                    letters += 1;
                    alpha = true;
                    let l = c | 0x20;
                    if l != last {
                        self.out.push(l);
                        last = l;
                    }
                }
                LEETY => {
                    letters += 1;
                    leety = true;
                    self.out.push(c);
                    last = c;
                }
                APOSTROPHE => {}
                _ => break,
            }
            j += 1;
        }
        if letters < 2 || bytes.get(j).is_some_and(|c| !c.is_ascii()) {
            self.out.truncate(mark);
            return None;
        }
        if alpha && leety {
            // Leetspeak in a word with letters (`h4rm`): written again, read as letters.
            self.out.truncate(text_start);
            let mut last = 0u8;
            for &b in &bytes[i..j] {
                let c = ASCII_LEET[usize::from(b)];
                if c == 0 || (c == last && c.is_ascii_lowercase()) {
                    continue;
                }
                self.out.push(c);
                last = c;
            }
        }
        self.words.push((text_start as u32, i as u32, j as u32));
        self.has_letter = false;
        self.gap_len = 0;
        self.gap_spacer = true;
        Some(j)
    }

    #[inline]
    fn feed(&mut self, l: char, start: u32, end: u32) {
        let reading = !self.word.is_empty();
        // An apostrophe inside a word is dropped, so `don't` and `dont` read the same.
        if reading && matches!(l, '\'' | '\u{2019}' | '`') {
            self.word_end = end;
            return;
        }
        // Marks that stay (Gurmukhi vowel signs) belong to the letter before them. ASCII,
        // most of what is scanned, is classified without Unicode tables.
        let in_word = if l.is_ascii() {
            l.is_ascii_alphanumeric() || matches!(l, '@' | '$')
        } else {
            l.is_alphanumeric() || (reading && is_combining_mark(l))
        };
        if in_word {
            if !reading {
                self.word_start = start;
            }
            self.word_end = end;
            if l.is_ascii() {
                self.has_letter |= l.is_ascii_alphabetic();
                self.word.push(l);
            } else {
                self.has_letter |= l.is_alphabetic();
                self.word.push(fold_letter(l));
            }
        } else {
            self.finish_word();
            self.gap_len += 1;
            self.gap_spacer &= spacer(l);
            self.gap_char = l;
        }
    }
}

fn word_byte(b: u8) -> bool {
    WORD_BYTE[usize::from(b)]
}

/// ASCII bytes that belong to a word: letters, digits, `@` and `$` (leetspeak).
const WORD_BYTE: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 128 {
        let c = b as u8;
        t[b] = c.is_ascii_alphanumeric() || c == b'@' || c == b'$';
        b += 1;
    }
    t
};

const OTHER: u8 = 0;
const APOSTROPHE: u8 = 1;
const LETTER: u8 = 2;
/// Digits, `@` and `$`: kept as they are, or read as letters in a word with letters.
const LEETY: u8 = 3;

/// What part an ASCII byte plays in a word.
const ASCII_CLASS: [u8; 256] = {
    let mut t = [OTHER; 256];
    let mut b = 0;
    while b < 128 {
        let c = b as u8;
        t[b] = if c.is_ascii_alphabetic() {
            LETTER
        } else if c.is_ascii_digit() || c == b'@' || c == b'$' {
            LEETY
        } else if c == b'\'' || c == b'`' {
            APOSTROPHE
        } else {
            OTHER
        };
        b += 1;
    }
    t
};

/// What each byte of an ASCII word becomes: lower case, apostrophes 0 (dropped); in
/// [`ASCII_LEET`] leetspeak is read as letters too (for words with a letter in them).
const ASCII_PLAIN: [u8; 256] = ascii_table(false);
const ASCII_LEET: [u8; 256] = ascii_table(true);

const fn ascii_table(leet: bool) -> [u8; 256] {
    let mut t = [0u8; 256];
    let mut b = 0;
    while b < 128 {
        let c = (b as u8).to_ascii_lowercase();
        t[b] = match c {
            b'\'' | b'`' => 0,
            b'0' if leet => b'o',
            b'1' if leet => b'i',
            b'3' if leet => b'e',
            b'4' if leet => b'a',
            b'5' if leet => b's',
            b'7' if leet => b't',
            b'8' if leet => b'b',
            b'@' if leet => b'a',
            b'$' if leet => b's',
            _ => c,
        };
        b += 1;
    }
    t
}

/// Normalises `text` (see the module docs).
pub fn normalise(text: &str) -> Normalised {
    normalise_with(text, true)
}

fn normalise_with(text: &str, whole_words: bool) -> Normalised {
    let mut st = State {
        out: Vec::with_capacity(text.len()),
        words: Vec::with_capacity(text.len() / 5),
        gap_spacer: true,
        gap_char: ' ',
        ..State::default()
    };
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if whole_words && b == b' ' && st.word.is_empty() {
            // The commonest gap: what `feed_ascii` does for a space between words.
            st.gap_len += 1;
            st.gap_char = ' ';
            i += 1;
            continue;
        }
        if whole_words && st.word.is_empty() && st.singles.is_empty() && word_byte(b) {
            if let Some(j) = st.ascii_word_fused(bytes, i) {
                i = j;
                continue;
            }
        } else if whole_words && st.word.is_empty() && word_byte(b) {
            let mut j = i + 1;
            let mut letters = 1;
            while j < bytes.len() {
                let c = bytes[j];
                if word_byte(c) {
                    letters += 1;
                } else if !matches!(c, b'\'' | b'`') {
                    break;
                }
                j += 1;
            }
            // Single letters may be part of a spaced-out word, and a word running into
            // non-ASCII letters goes on past the run: both take the careful path.
            if letters > 1 && bytes.get(j).is_none_or(u8::is_ascii) {
                st.ascii_word(&bytes[i..j], i as u32);
                i = j;
                continue;
            }
        }
        if b.is_ascii() {
            st.feed_ascii(b.to_ascii_lowercase(), i as u32);
            i += 1;
            continue;
        }
        let Some(c) = text.get(i..).and_then(|rest| rest.chars().next()) else {
            break;
        };
        let (start, end) = (i as u32, (i + c.len_utf8()) as u32);
        decompose_compatible(c, |d| {
            if !dropped_mark(d) {
                for l in d.to_lowercase() {
                    st.feed(l, start, end);
                }
            }
        });
        i += c.len_utf8();
    }
    st.finish_word();
    st.flush_singles();
    Normalised {
        // Only whole characters were written; should that ever be wrong, a replacement
        // character is better than a panic on a pupil's text.
        text: String::from_utf8(st.out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()),
        words: st.words,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> String {
        normalise(s).text
    }

    #[test]
    fn case_accents_and_compatibility_forms_fold() {
        assert_eq!(n("Żółć ŚMIERĆ"), "zolc smierc");
        assert_eq!(n("ＦＵＬＬ width ﬁne"), "ful width fine");
        assert_eq!(n("sinucidere ȘI moarte"), "sinucidere si moarte");
        assert_eq!(n("الانتحَار"), "الانتحار", "Arabic vowel marks are optional");
        assert_eq!(n("ਖੁਦਕੁਸ਼ੀ"), n("ਖੁਦਕੁਸ਼ੀ"), "Gurmukhi keeps its vowel signs");
        assert!(n("ਖੁਦਕੁਸ਼ੀ").contains('\u{0A41}'));
    }

    #[test]
    fn leetspeak_spacing_and_repeats_are_read_through() {
        assert_eq!(n("s3lf h4rm"), "self harm");
        assert_eq!(n("$uicide"), "suicide");
        assert_eq!(n("k.i.l.l myself"), "kil myself");
        assert_eq!(n("k-i-l-l"), "kil");
        assert_eq!(n("k i l l"), "kil");
        assert_eq!(n("I want to diiiie"), "i want to die");
        assert_eq!(n("kill"), "kil", "phrases fold the same way");
        assert_eq!(n("year 2024, room 101"), "year 2024 rom 101", "numbers stay numbers");
        assert_eq!(n("a b"), "a b", "two single letters are not a spaced-out word");
        assert_eq!(
            n("k.i.l.l m.y.s.e.l.f"),
            "kil myself",
            "a run ends where its separator changes"
        );
        assert_eq!(n("Hello,   world!!"), "helo world");
        assert_eq!(n("don't"), n("dont"));
        assert_eq!(n("I’ll"), "il");
    }

    #[test]
    fn every_word_points_back_into_the_original() {
        let original = "I'm   going to K.I.L.L myself";
        let norm = normalise(original);
        let at = norm.text.find("kil").expect("joined");
        let (s, e) = norm.original_range(at, at + 3);
        assert_eq!(&original[s..e], "K.I.L.L");
        let at = norm.text.find("myself").expect("word");
        let (s, e) = norm.original_range(at, at + "myself".len());
        assert_eq!(&original[s..e], "myself");
    }

    #[test]
    fn whole_ascii_words_read_exactly_as_their_characters_would() {
        let mut samples: Vec<String> = [
            "I'm   going to K.I.L.L myself",
            "s3lf h4rm $$$ @@ 1337 h4x0r",
            "dogs' tails don't wag",
            "ab\u{e9}cd caf\u{e9} na\u{ef}ve",
            "Hello,   world!! aaa-bbb a.b.c.d x y z",
            "'quoted' `ticks`",
            "2024 year9 9year h3ll0 w0rld",
            "end with letters abc",
            "k i l l m e now",
            "\u{2019}twas",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        // Every pairing of some awkward pieces, so boundaries meet each other.
        let pieces = [
            "a", "ab", "4b", "b4", "'", "`", " ", ".", "\u{e9}", "x1", "$", "@", "-", "zz", "\n",
        ];
        for a in pieces {
            for b in pieces {
                for c in pieces {
                    samples.push(format!("{a}{b}{c}"));
                    samples.push(format!("{a} {b}.{c}"));
                }
            }
        }
        for s in &samples {
            assert_eq!(normalise_with(s, true), normalise_with(s, false), "{s:?}");
        }
    }

    #[test]
    fn any_text_normalises_without_panicking() {
        for s in [
            "",
            " ",
            "\u{0300}",
            "💀💀💀",
            "a\u{0301}\u{0301}",
            "\u{FDFA}",
            "$$$",
            "@",
            "k.",
            ".k.i",
        ] {
            let norm = normalise(s);
            let (a, b) = norm.original_range(0, norm.text.len());
            assert!(a <= b && b <= s.len(), "{s:?}");
        }
    }
}
