//! What a match becomes: the school's monitoring settings (routing thresholds, key-stage
//! adjustments, the folding window, blocked-pattern rules), the severity a match has for
//! the person it is about, who hears of it and how soon, and the watch over blocked
//! requests that turns a run of blocks in one severe category into an alert. Pure: the
//! caller brings the clock and keeps the alerts.

use std::collections::{HashMap, VecDeque};
use std::fmt;

use register::people::KeyStage;
use serde::Deserialize;

use crate::lexicon::Category;

/// Who an alert is about, as far as severity and routing care.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Subject {
    /// A pupil, and their key stage when their year group is known.
    Pupil(Option<KeyStage>),
    Staff,
    Visitor,
    /// Nobody known: a device nobody signed in on, or an anonymous "Worried?" message.
    Unknown,
}

impl Subject {
    /// The name settings use for it: `EYFS`, `KS1` … `KS5`, `pupil`, `staff`, `visitor`,
    /// `unknown`.
    pub fn name(self) -> &'static str {
        match self {
            Subject::Pupil(Some(ks)) => ks.group_name(),
            Subject::Pupil(None) => "pupil",
            Subject::Staff => "staff",
            Subject::Visitor => "visitor",
            Subject::Unknown => "unknown",
        }
    }

    fn from_name(s: &str) -> Option<Subject> {
        let stages = [
            KeyStage::Eyfs,
            KeyStage::Ks1,
            KeyStage::Ks2,
            KeyStage::Ks3,
            KeyStage::Ks4,
            KeyStage::Ks5,
        ];
        if let Some(ks) = stages.into_iter().find(|k| k.group_name().eq_ignore_ascii_case(s)) {
            return Some(Subject::Pupil(Some(ks)));
        }
        match s.to_ascii_lowercase().as_str() {
            "pupil" => Some(Subject::Pupil(None)),
            "staff" => Some(Subject::Staff),
            "visitor" => Some(Subject::Visitor),
            "unknown" => Some(Subject::Unknown),
            _ => None,
        }
    }
}

/// Who hears of an alert, and how soon.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    /// An email now, rather than a line in tomorrow's digest.
    pub immediate: bool,
    /// The DSL and deputies hear of it. Not for alerts about staff: those go to the
    /// headteacher alone (KCSIE: allegations about staff go to the head, not the DSL team).
    pub safeguarding_team: bool,
    pub headteacher: bool,
}

/// A severity change for one key stage (or staff, visitors …) in one category, or in all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StageRule {
    pub subject: Subject,
    /// `None`: every category.
    pub category: Option<Category>,
    pub change: i8,
}

/// Blocked requests in one filter category, so many within so long, by one person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatternRule {
    /// The filter category's name (`self_harm`, `circumvention` …).
    pub filter_category: String,
    pub blocks: u32,
    pub minutes: u32,
    /// What the alert is filed under, and how severe it is.
    pub category: Category,
    pub severity: u8,
}

/// A school's monitoring settings. [`Settings::default`] is what a school gets until it
/// changes them; [`Settings::from_toml`] reads the console's settings text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// Severity at or above which an alert is emailed at once (else it waits for the digest).
    pub immediate_from: u8,
    /// Severity at or above which the headteacher is told as well as the DSL team.
    pub headteacher_from: u8,
    /// Repeats of the same thing by the same person within this many minutes fold into one
    /// alert with a count.
    pub fold_minutes: u32,
    pub stages: Vec<StageRule>,
    pub patterns: Vec<PatternRule>,
}

impl Default for Settings {
    fn default() -> Self {
        let stage = |s: Subject, c: Option<Category>, change: i8| StageRule {
            subject: s,
            category: c,
            change,
        };
        let young = [KeyStage::Eyfs, KeyStage::Ks1, KeyStage::Ks2];
        let mut stages = Vec::new();
        // Sexual content and grooming are more alarming the younger the child; staff
        // looking up drugs, gambling or weapons are far more often preparing a lesson.
        for ks in young {
            stages.push(stage(Subject::Pupil(Some(ks)), Some(Category::Sexual), 1));
            stages.push(stage(Subject::Pupil(Some(ks)), Some(Category::Grooming), 1));
        }
        for c in [
            Category::Drugs,
            Category::Gambling,
            Category::Violence,
            Category::Extremism,
        ] {
            stages.push(stage(Subject::Staff, Some(c), -1));
        }
        let pattern = |filter: &str, blocks, minutes, category, severity| PatternRule {
            filter_category: filter.into(),
            blocks,
            minutes,
            category,
            severity,
        };
        Settings {
            immediate_from: 4,
            headteacher_from: 5,
            fold_minutes: 60,
            stages,
            patterns: vec![
                pattern("self_harm", 3, 10, Category::SelfHarm, 4),
                pattern("extremism", 3, 10, Category::Extremism, 4),
                pattern("illegal_content", 1, 10, Category::Sexual, 4),
                pattern("adult", 5, 10, Category::Sexual, 3),
                pattern("discrimination", 5, 10, Category::Hate, 3),
                pattern("violence", 5, 10, Category::Violence, 3),
                pattern("circumvention", 1, 10, Category::Circumvention, 3),
                pattern("drugs", 5, 10, Category::Drugs, 2),
                pattern("gambling", 5, 10, Category::Gambling, 2),
            ],
        }
    }
}

/// The settings text, as the console edits it:
///
/// ```toml
/// immediate_from = 4      # email at once from this severity
/// headteacher_from = 5    # and to the headteacher too from this one
/// fold_minutes = 60
///
/// [[stage]]
/// who = "KS1"             # EYFS, KS1 … KS5, pupil, staff, visitor, unknown
/// category = "sexual"     # leave out for every category
/// change = 1
///
/// [[pattern]]
/// filter_category = "self_harm"
/// blocks = 3
/// minutes = 10
/// category = "self_harm"
/// severity = 4
/// ```
///
/// A text with `[[stage]]` or `[[pattern]]` tables replaces the default ones of that kind;
/// without them the defaults stand.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SettingsText {
    immediate_from: Option<u8>,
    headteacher_from: Option<u8>,
    fold_minutes: Option<u32>,
    stage: Option<Vec<StageText>>,
    pattern: Option<Vec<PatternText>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StageText {
    who: String,
    category: Option<String>,
    change: i8,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PatternText {
    filter_category: String,
    blocks: u32,
    minutes: u32,
    category: String,
    severity: u8,
}

fn severity(what: &str, n: u8) -> Result<u8, String> {
    if (1..=5).contains(&n) {
        Ok(n)
    } else {
        Err(format!("{what} is {n}; a severity is 1 to 5"))
    }
}

impl Settings {
    pub fn from_toml(text: &str) -> Result<Settings, String> {
        let raw: SettingsText = toml::from_str(text).map_err(|e| e.to_string())?;
        let mut s = Settings::default();
        if let Some(n) = raw.immediate_from {
            s.immediate_from = severity("immediate_from", n)?;
        }
        if let Some(n) = raw.headteacher_from {
            s.headteacher_from = severity("headteacher_from", n)?;
        }
        if let Some(m) = raw.fold_minutes {
            s.fold_minutes = m.min(7 * 24 * 60);
        }
        if let Some(stages) = raw.stage {
            s.stages = stages
                .into_iter()
                .enumerate()
                .map(|(i, t)| {
                    let at = format!("stage {}", i + 1);
                    let subject = Subject::from_name(&t.who).ok_or_else(|| {
                        format!(
                            "{at}: who = {:?} is not EYFS, KS1 … KS5, pupil, staff, visitor or unknown",
                            t.who
                        )
                    })?;
                    let category = t
                        .category
                        .map(|c| c.parse::<Category>())
                        .transpose()
                        .map_err(|e| format!("{at}: {e}"))?;
                    if !(-4..=4).contains(&t.change) {
                        return Err(format!("{at}: change = {} is more than a severity scale", t.change));
                    }
                    Ok(StageRule {
                        subject,
                        category,
                        change: t.change,
                    })
                })
                .collect::<Result<_, String>>()?;
        }
        if let Some(patterns) = raw.pattern {
            s.patterns = patterns
                .into_iter()
                .enumerate()
                .map(|(i, t)| {
                    let at = format!("pattern {}", i + 1);
                    if t.blocks == 0 || t.minutes == 0 {
                        return Err(format!("{at}: blocks and minutes must be at least 1"));
                    }
                    Ok(PatternRule {
                        filter_category: t.filter_category.trim().to_owned(),
                        blocks: t.blocks.min(1000),
                        minutes: t.minutes.min(24 * 60),
                        category: t.category.parse().map_err(|e| format!("{at}: {e}"))?,
                        severity: severity(&format!("{at}: severity"), t.severity)?,
                    })
                })
                .collect::<Result<_, String>>()?;
        }
        Ok(s)
    }

    /// The severity a match of `severity` in `category` has when it is about `subject`.
    pub fn severity_for(&self, severity: u8, category: Category, subject: Subject) -> u8 {
        let change: i16 = self
            .stages
            .iter()
            .filter(|r| r.subject == subject && r.category.is_none_or(|c| c == category))
            .map(|r| i16::from(r.change))
            .sum();
        (i16::from(severity) + change).clamp(1, 5) as u8
    }

    /// Who hears of an alert of `severity` about `subject`.
    pub fn route(&self, severity: u8, subject: Subject) -> Route {
        let immediate = severity >= self.immediate_from;
        if subject == Subject::Staff {
            return Route {
                immediate,
                safeguarding_team: false,
                headteacher: true,
            };
        }
        Route {
            immediate,
            safeguarding_team: true,
            headteacher: severity >= self.headteacher_from,
        }
    }

    /// The folding window in milliseconds.
    pub fn fold_ms(&self) -> i64 {
        i64::from(self.fold_minutes) * 60_000
    }
}

/// A run of blocked requests that crossed a pattern rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatternHit {
    pub category: Category,
    pub severity: u8,
    pub blocks: u32,
    pub minutes: u32,
    pub filter_category: String,
}

impl fmt::Display for PatternHit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.blocks == 1 {
            write!(f, "a blocked request in {}", self.filter_category)
        } else {
            write!(
                f,
                "{} blocked requests in {} within {} minutes",
                self.blocks, self.filter_category, self.minutes
            )
        }
    }
}

/// Watches blocked requests person by person, and says when one person's blocks in a
/// category cross a rule. After a hit that person's count in that rule starts again, so a
/// long run gives one hit per `blocks` (which folding then counts on one alert).
#[derive(Debug, Default)]
pub struct BlockWatch {
    recent: HashMap<(String, usize), VecDeque<i64>>,
}

impl BlockWatch {
    pub fn new() -> BlockWatch {
        BlockWatch::default()
    }

    /// One blocked request by `person` in `filter_category` at `at_ms`.
    pub fn observe(
        &mut self,
        rules: &[PatternRule],
        person: &str,
        filter_category: &str,
        at_ms: i64,
    ) -> Option<PatternHit> {
        let mut hit: Option<PatternHit> = None;
        for (i, rule) in rules.iter().enumerate() {
            if rule.filter_category != filter_category {
                continue;
            }
            let window = i64::from(rule.minutes) * 60_000;
            let times = self.recent.entry((person.to_owned(), i)).or_default();
            while times.front().is_some_and(|&t| t <= at_ms - window) {
                times.pop_front();
            }
            times.push_back(at_ms);
            if times.len() >= rule.blocks as usize {
                times.clear();
                let this = PatternHit {
                    category: rule.category,
                    severity: rule.severity,
                    blocks: rule.blocks,
                    minutes: rule.minutes,
                    filter_category: rule.filter_category.clone(),
                };
                if hit.as_ref().is_none_or(|h| this.severity > h.severity) {
                    hit = Some(this);
                }
            }
        }
        hit
    }

    /// Forgets blocks older than `before_ms`, so a long-running server keeps only what a
    /// window can still use.
    pub fn forget_before(&mut self, before_ms: i64) {
        self.recent.retain(|_, times| {
            while times.front().is_some_and(|&t| t < before_ms) {
                times.pop_front();
            }
            !times.is_empty()
        });
    }

    /// People and rules being watched.
    pub fn len(&self) -> usize {
        self.recent.len()
    }

    pub fn is_empty(&self) -> bool {
        self.recent.is_empty()
    }
}

/// What makes two alerts "the same thing by the same person": folding joins alerts with
/// equal keys inside the window.
pub fn fold_key(who: &str, source: &str, category: Category, what: &str) -> String {
    format!("{who}\u{1f}{source}\u{1f}{category}\u{1f}{what}")
}

/// `text` cut into the part before the match, the match and the part after, on character
/// boundaries, for highlighting. Out-of-range offsets give no highlight rather than a panic.
pub fn highlight(text: &str, start: usize, end: usize) -> (&str, &str, &str) {
    if start <= end && end <= text.len() && text.is_char_boundary(start) && text.is_char_boundary(end) {
        (&text[..start], &text[start..end], &text[end..])
    } else {
        (text, "", "")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn severity_routes_to_an_immediate_email_or_the_digest() {
        let s = Settings::default();
        let pupil = Subject::Pupil(Some(KeyStage::Ks3));
        let five = s.route(5, pupil);
        assert!(five.immediate && five.safeguarding_team && five.headteacher);
        let four = s.route(4, pupil);
        assert!(four.immediate && four.safeguarding_team && !four.headteacher);
        let three = s.route(3, pupil);
        assert!(!three.immediate && three.safeguarding_team);
        // Alerts about staff reach the headteacher alone, whatever the severity.
        for sev in 1..=5 {
            let r = s.route(sev, Subject::Staff);
            assert!(r.headteacher && !r.safeguarding_team);
            assert_eq!(r.immediate, sev >= 4);
        }
    }

    #[test]
    fn key_stage_changes_severity() {
        let s = Settings::default();
        let ks1 = Subject::Pupil(Some(KeyStage::Ks1));
        let ks4 = Subject::Pupil(Some(KeyStage::Ks4));
        assert_eq!(s.severity_for(3, Category::Sexual, ks1), 4);
        assert_eq!(s.severity_for(3, Category::Sexual, ks4), 3);
        assert_eq!(s.severity_for(3, Category::Drugs, Subject::Staff), 2);
        assert_eq!(s.severity_for(5, Category::Grooming, ks1), 5, "never above 5");
        assert_eq!(s.severity_for(1, Category::Drugs, Subject::Staff), 1, "never below 1");
    }

    #[test]
    fn settings_text_replaces_defaults_and_names_its_mistakes() {
        let s = Settings::from_toml(
            "immediate_from = 3\nfold_minutes = 15\n\
             [[stage]]\nwho = \"ks2\"\nchange = 1\n",
        )
        .expect("reads");
        assert_eq!(s.immediate_from, 3);
        assert_eq!(s.fold_ms(), 15 * 60_000);
        assert_eq!(s.stages.len(), 1);
        assert_eq!(
            s.severity_for(2, Category::Gambling, Subject::Pupil(Some(KeyStage::Ks2))),
            3
        );
        assert_eq!(s.patterns, Settings::default().patterns, "patterns keep their defaults");

        let bad = Settings::from_toml("immediate_from = 7").expect_err("7 is no severity");
        assert!(bad.contains("1 to 5"), "{bad}");
        let bad = Settings::from_toml("[[stage]]\nwho = \"year 9\"\nchange = 1").expect_err("who");
        assert!(bad.starts_with("stage 1:"), "{bad}");
        let bad = Settings::from_toml(
            "[[pattern]]\nfilter_category = \"adult\"\nblocks = 0\nminutes = 5\ncategory = \"sexual\"\nseverity = 3",
        )
        .expect_err("zero blocks");
        assert!(bad.contains("at least 1"), "{bad}");
        assert!(Settings::from_toml("imediate_from = 4").is_err(), "typos are refused");
    }

    #[test]
    fn repeated_blocks_in_a_severe_category_within_the_window_make_a_hit() {
        let rules = Settings::default().patterns;
        let mut w = BlockWatch::new();
        let min = 60_000;
        // Two self-harm blocks, then the third eleven minutes after the first: no hit yet.
        assert_eq!(w.observe(&rules, "amy", "self_harm", 0), None);
        assert_eq!(w.observe(&rules, "amy", "self_harm", 5 * min), None);
        assert_eq!(w.observe(&rules, "amy", "self_harm", 11 * min), None);
        // Someone else's blocks never count towards Amy's.
        assert_eq!(w.observe(&rules, "ben", "self_harm", 12 * min), None);
        let hit = w
            .observe(&rules, "amy", "self_harm", 12 * min)
            .expect("three in ten minutes");
        assert_eq!((hit.category, hit.severity), (Category::SelfHarm, 4));
        assert_eq!(hit.to_string(), "3 blocked requests in self_harm within 10 minutes");
        // The count starts again after a hit.
        assert_eq!(w.observe(&rules, "amy", "self_harm", 13 * min), None);
        // One circumvention attempt is enough; games blocks are nobody's concern.
        assert!(w.observe(&rules, "ben", "circumvention", 0).is_some());
        assert_eq!(w.observe(&rules, "ben", "games", 0), None);
        w.forget_before(100 * min);
        assert!(w.is_empty());
    }

    #[test]
    fn highlight_never_panics_on_bad_offsets() {
        assert_eq!(highlight("i want to die", 7, 13), ("i want ", "to die", ""));
        assert_eq!(highlight("żółw", 1, 2), ("żółw", "", ""));
        assert_eq!(highlight("abc", 2, 9), ("abc", "", ""));
    }
}
