//! The lexicon: phrases that suggest a child may be at risk, each with its category,
//! severity and language, and context words that raise or lower the severity.
//!
//! One entry a line, fields separated by `|`, `#` starts a comment:
//!
//! ```text
//! # category    | severity | language | phrase        | context (optional)
//! suicide       | 5        | en       | kill myself   | +tonight +today -joke -lol
//! self_harm     | 4        | en       | cut myself    | -hair -paper
//! self_harm     | 4        | en       | self harm     | +again !awareness !assembly
//! ```
//!
//! The phrase is matched as whole words after normalisation (see [`crate::normalise`]). Each
//! `+word` found near it raises the severity by one, each `-word` lowers it by one (never
//! below 1 or above 5), and a `!word` near it means the phrase is not a concern there at all
//! (a lesson, an awareness week). Languages are ISO 639-1 codes (`en`, `pl`, `ur`, `ar`, `ro`,
//! `pa`); Urdu written in Latin letters is `ur-latn`.

use std::fmt;
use std::str::FromStr;

/// What an entry is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Category {
    Suicide,
    SelfHarm,
    EatingDisorder,
    Bullying,
    Sexual,
    Grooming,
    Extremism,
    Violence,
    Drugs,
    Gambling,
    Hate,
    Circumvention,
}

impl Category {
    pub const ALL: [Category; 12] = [
        Category::Suicide,
        Category::SelfHarm,
        Category::EatingDisorder,
        Category::Bullying,
        Category::Sexual,
        Category::Grooming,
        Category::Extremism,
        Category::Violence,
        Category::Drugs,
        Category::Gambling,
        Category::Hate,
        Category::Circumvention,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Category::Suicide => "suicide",
            Category::SelfHarm => "self_harm",
            Category::EatingDisorder => "eating_disorder",
            Category::Bullying => "bullying",
            Category::Sexual => "sexual",
            Category::Grooming => "grooming",
            Category::Extremism => "extremism",
            Category::Violence => "violence",
            Category::Drugs => "drugs",
            Category::Gambling => "gambling",
            Category::Hate => "hate",
            Category::Circumvention => "circumvention",
        }
    }

    /// As a DSL reads it.
    pub fn label(self) -> &'static str {
        match self {
            Category::Suicide => "Suicide",
            Category::SelfHarm => "Self-harm",
            Category::EatingDisorder => "Eating disorders",
            Category::Bullying => "Bullying and abuse",
            Category::Sexual => "Sexual content",
            Category::Grooming => "Grooming and exploitation",
            Category::Extremism => "Radicalisation and extremism",
            Category::Violence => "Violence and weapons",
            Category::Drugs => "Drugs",
            Category::Gambling => "Gambling",
            Category::Hate => "Hate and discrimination",
            Category::Circumvention => "Getting round the filter",
        }
    }
}

impl FromStr for Category {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Category::ALL.into_iter().find(|c| c.name() == s.trim()).ok_or_else(|| {
            format!(
                "{s:?} is not a category (one of {})",
                Category::ALL.map(|c| c.name()).join(", ")
            )
        })
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One line of the lexicon.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub category: Category,
    /// 1 (low) to 5 (imminent risk to life).
    pub severity: u8,
    pub language: String,
    pub phrase: String,
    /// Words that raise the severity by one each when they appear near the phrase.
    pub raise: Vec<String>,
    /// Words that lower it by one.
    pub lower: Vec<String>,
    /// Words that, near the phrase, mean it is no concern (`!awareness`).
    pub except: Vec<String>,
}

/// A line that could not be read, with where it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{source_name}:{line}: {message}")]
pub struct LexiconError {
    pub source_name: String,
    pub line: usize,
    pub message: String,
}

/// Reads a lexicon file's text. Every bad line is reported (file and line), not just the
/// first, so a school fixing its own list sees all its mistakes at once.
pub fn parse(source_name: &str, text: &str) -> Result<Vec<Entry>, Vec<LexiconError>> {
    let mut entries = Vec::new();
    let mut errors = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.split('#').next().unwrap_or_default().trim();
        if line.is_empty() {
            continue;
        }
        match parse_line(line) {
            Ok(e) => entries.push(e),
            Err(message) => errors.push(LexiconError {
                source_name: source_name.to_owned(),
                line: i + 1,
                message,
            }),
        }
    }
    if errors.is_empty() { Ok(entries) } else { Err(errors) }
}

fn parse_line(line: &str) -> Result<Entry, String> {
    let fields: Vec<&str> = line.split('|').map(str::trim).collect();
    if !(4..=5).contains(&fields.len()) {
        return Err(format!(
            "expected `category | severity | language | phrase | context`, found {} fields",
            fields.len()
        ));
    }
    let category: Category = fields[0].parse()?;
    let severity: u8 = fields[1]
        .parse()
        .ok()
        .filter(|s| (1..=5).contains(s))
        .ok_or_else(|| format!("severity {:?} is not a number from 1 to 5", fields[1]))?;
    let language = fields[2].to_ascii_lowercase();
    if language.is_empty() || !language.chars().all(|c| c.is_ascii_lowercase() || c == '-') {
        return Err(format!("language {:?} is not a code such as en or ur-latn", fields[2]));
    }
    let phrase = fields[3].to_owned();
    if crate::normalise::normalise(&phrase).text.is_empty() {
        return Err("the phrase is empty once punctuation is removed".into());
    }
    let mut raise = Vec::new();
    let mut lower = Vec::new();
    let mut except = Vec::new();
    for word in fields.get(4).copied().unwrap_or_default().split_whitespace() {
        let (sign, w) = word.split_at(word.chars().next().map_or(0, char::len_utf8));
        match sign {
            "+" if !w.is_empty() => raise.push(w.to_owned()),
            "-" if !w.is_empty() => lower.push(w.to_owned()),
            "!" if !w.is_empty() => except.push(w.to_owned()),
            _ => return Err(format!("context word {word:?} must start with +, - or !")),
        }
    }
    Ok(Entry {
        category,
        severity,
        language,
        phrase,
        raise,
        lower,
        except,
    })
}

/// The lexicon shipped with schoolgate (`lexicon/default.txt`).
pub fn default_lexicon() -> Vec<Entry> {
    // Checked by a test; an unreadable shipped lexicon is a build-time mistake.
    parse("default.txt", include_str!("../lexicon/default.txt")).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_read_and_every_bad_one_is_reported_with_its_line() {
        let text = "# a comment\n\
                    suicide | 5 | en | kill myself | +tonight -joke\n\
                    \n\
                    selfharm | 4 | en | cut myself\n\
                    bullying | 9 | en | loser\n\
                    drugs | 2 | EN | weed | tonight\n\
                    gambling | 2 | en | ... \n";
        let errors = parse("school.txt", text).expect_err("bad lines");
        let lines: Vec<usize> = errors.iter().map(|e| e.line).collect();
        assert_eq!(lines, [4, 5, 6, 7]);
        assert!(
            errors[0]
                .to_string()
                .starts_with("school.txt:4: \"selfharm\" is not a category")
        );
        assert!(errors[1].message.contains("1 to 5"));
        assert!(errors[2].message.contains("must start with +, - or !"));
        let ok = parse(
            "ok.txt",
            "suicide | 5 | en | kill myself | +tonight -joke !minecraft # end\n",
        )
        .expect("reads");
        assert_eq!(ok[0].raise, ["tonight"]);
        assert_eq!(ok[0].lower, ["joke"]);
        assert_eq!(ok[0].except, ["minecraft"]);
    }

    #[test]
    fn the_shipped_lexicon_reads_cleanly_and_covers_every_category() {
        let text = include_str!("../lexicon/default.txt");
        let entries = parse("default.txt", text).unwrap_or_else(|e| panic!("{e:?}"));
        for c in Category::ALL {
            assert!(entries.iter().any(|e| e.category == c), "no entry for {c}");
        }
        let english = entries.iter().filter(|e| e.language == "en").count();
        assert!(english >= 200, "English in depth: {english} entries");
        for lang in ["pl", "ur", "ur-latn", "ar", "ro", "pa"] {
            for severe in [Category::Suicide, Category::SelfHarm, Category::Grooming] {
                assert!(
                    entries.iter().any(|e| e.language == lang && e.category == severe),
                    "{lang} has no {severe} entry"
                );
            }
        }
    }
}
