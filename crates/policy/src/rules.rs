//! A group's policy as the school writes it: what it blocks, its own allow and deny lists,
//! time rules, safe search and its default.
//!
//! Policies are stored and edited as TOML (one document per group), so that a change can be
//! shown as a before-and-after diff in the audit log. [`defaults`] gives the policies
//! schoolgate ships for EYFS, KS1, KS2, Staff, Visitors and unidentified devices.

use serde::{Deserialize, Serialize};

use crate::category::{Category, CategorySet};
use crate::domain::Domain;
use crate::list::UrlEntry;

/// What happens to a site no rule speaks about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum DefaultVerdict {
    #[default]
    Allow,
    /// A walled garden: only the allow list and the allowed categories (early years).
    Deny,
}

/// Which YouTube restriction safe search uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum YoutubeMode {
    #[default]
    Strict,
    Moderate,
}

/// Days of the week, Monday first.
pub const WEEKDAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// A rule that changes what is blocked at certain times.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeRule {
    /// `block` adds the categories while the rule applies; `allow` lifts them.
    pub effect: TimeEffect,
    pub categories: Vec<String>,
    /// Days it applies (`mon`…`sun`).
    pub days: Vec<String>,
    /// Start and end, `HH:MM`, local school time; the end is not included.
    pub from: String,
    pub to: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimeEffect {
    Block,
    Allow,
}

impl TimeRule {
    /// Reads the one-line form the console uses: `block games,chat mon-fri 08:45-15:30`
    /// (days as a range `mon-fri` or a list `mon,wed,fri`).
    pub fn parse_line(line: &str) -> Result<TimeRule, String> {
        let words: Vec<&str> = line.split_whitespace().collect();
        let [effect, cats, days, times] = words.as_slice() else {
            return Err(format!("{line:?}: write a rule as `block games mon-fri 08:45-15:30`"));
        };
        let effect = match *effect {
            "block" => TimeEffect::Block,
            "allow" => TimeEffect::Allow,
            other => return Err(format!("{other:?} should be block or allow")),
        };
        let days: Vec<String> = match days.split_once('-') {
            Some((a, b)) => {
                let (Some(i), Some(j)) = (
                    WEEKDAYS.iter().position(|d| *d == a),
                    WEEKDAYS.iter().position(|d| *d == b),
                ) else {
                    return Err(format!("{days:?}: days are mon, tue, wed, thu, fri, sat, sun"));
                };
                if i > j {
                    return Err(format!("{days:?}: the first day comes after the last"));
                }
                WEEKDAYS[i..=j].iter().map(|d| d.to_string()).collect()
            }
            None => days.split(',').map(str::to_owned).collect(),
        };
        let Some((from, to)) = times.split_once('-') else {
            return Err(format!("{times:?}: write times as 08:45-15:30"));
        };
        Ok(TimeRule {
            effect,
            categories: cats.split(',').map(str::to_owned).collect(),
            days,
            from: from.into(),
            to: to.into(),
        })
    }

    /// The one-line form.
    pub fn to_line(&self) -> String {
        let effect = match self.effect {
            TimeEffect::Block => "block",
            TimeEffect::Allow => "allow",
        };
        let idx: Vec<usize> = self
            .days
            .iter()
            .filter_map(|d| WEEKDAYS.iter().position(|w| w == d))
            .collect();
        let contiguous = idx.len() > 2 && idx.windows(2).all(|w| w[1] == w[0] + 1);
        let days = if contiguous {
            format!("{}-{}", WEEKDAYS[idx[0]], WEEKDAYS[idx[idx.len() - 1]])
        } else {
            self.days.join(",")
        };
        format!(
            "{effect} {} {days} {}-{}",
            self.categories.join(","),
            self.from,
            self.to
        )
    }
}

/// A group's policy, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupPolicy {
    /// Categories always blocked.
    #[serde(default)]
    pub block: Vec<String>,
    /// Categories a walled garden lets through (ignored when the default is allow).
    #[serde(default)]
    pub allow_categories: Vec<String>,
    /// Domains (with their subdomains) and URL prefixes that are always allowed, except
    /// illegal content.
    #[serde(default)]
    pub allow: Vec<String>,
    /// Domains and URL prefixes that are always blocked.
    #[serde(default)]
    pub deny: Vec<String>,
    #[serde(default)]
    pub time_rules: Vec<TimeRule>,
    #[serde(default)]
    pub safe_search: bool,
    #[serde(default)]
    pub youtube: YoutubeMode,
    #[serde(default)]
    pub default: DefaultVerdict,
}

/// A policy that cannot be used, with what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("policy {group}: {message}")]
pub struct PolicyError {
    pub group: String,
    pub message: String,
}

/// One entry of an allow or deny list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListEntry {
    Domain(Domain),
    Url(UrlEntry),
}

impl ListEntry {
    pub fn parse(text: &str) -> Result<ListEntry, String> {
        let t = text.trim();
        if t.contains('/') {
            UrlEntry::parse(t)
                .map(ListEntry::Url)
                .map_err(|e| format!("{t:?}: {e}"))
        } else {
            Domain::parse(t.strip_prefix("*.").unwrap_or(t))
                .map(ListEntry::Domain)
                .map_err(|e| format!("{t:?}: {e}"))
        }
    }
}

/// A time rule checked and in minutes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompiledTimeRule {
    pub effect: TimeEffect,
    pub categories: CategorySet,
    /// Bit 0 is Monday.
    pub days: u8,
    pub from: u16,
    pub to: u16,
}

impl CompiledTimeRule {
    pub fn applies(&self, at: LocalTime) -> bool {
        self.days & (1 << at.weekday) != 0 && at.minute >= self.from && at.minute < self.to
    }
}

/// A moment in the school's local time: what time rules are written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalTime {
    /// 0 = Monday … 6 = Sunday.
    pub weekday: u8,
    /// Minutes since midnight, 0…1439.
    pub minute: u16,
}

/// `14:05 on Tuesday`: how a block page tells a pupil when.
impl std::fmt::Display for LocalTime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        const DAYS: [&str; 7] = [
            "Monday",
            "Tuesday",
            "Wednesday",
            "Thursday",
            "Friday",
            "Saturday",
            "Sunday",
        ];
        let day = DAYS.get(usize::from(self.weekday)).copied().unwrap_or("?");
        write!(f, "{:02}:{:02} on {day}", self.minute / 60, self.minute % 60)
    }
}

impl LocalTime {
    pub fn new(weekday: u8, hour: u16, minute: u16) -> LocalTime {
        LocalTime {
            weekday: weekday % 7,
            minute: (hour * 60 + minute).min(1439),
        }
    }

    /// UK local time (GMT, or BST from 01:00 UTC on the last Sunday of March to 01:00 UTC
    /// on the last Sunday of October) for a Unix time.
    pub fn uk(unix: i64) -> LocalTime {
        let offset = uk_offset(unix);
        let t = unix + offset;
        let days = t.div_euclid(86_400);
        let secs = t.rem_euclid(86_400);
        // 1970-01-01 was a Thursday (weekday 3 counting from Monday = 0).
        LocalTime {
            weekday: ((days + 3).rem_euclid(7)) as u8,
            minute: (secs / 60) as u16,
        }
    }
}

/// Seconds UK local time is ahead of UTC at `unix`: 3600 in British Summer Time, else 0.
pub fn uk_offset(unix: i64) -> i64 {
    if is_bst(unix) { 3600 } else { 0 }
}

fn is_bst(unix: i64) -> bool {
    let year = civil_year(unix);
    let start = last_sunday_utc(year, 3) + 3600;
    let end = last_sunday_utc(year, 10) + 3600;
    unix >= start && unix < end
}

/// Days from 1970-01-01 to a civil date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_year(unix: i64) -> i64 {
    let z = unix.div_euclid(86_400) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    yoe + era * 400 + i64::from(m <= 2)
}

/// Midnight UTC at the start of the last Sunday of a month.
fn last_sunday_utc(year: i64, month: i64) -> i64 {
    let last_day = days_from_civil(year, month + 1, 1) - 1;
    let weekday = (last_day + 3).rem_euclid(7); // 6 = Sunday
    (last_day - (weekday + 1) % 7) * 86_400
}

fn minutes(text: &str) -> Option<u16> {
    let (h, m) = text.trim().split_once(':')?;
    let (h, m): (u16, u16) = (h.parse().ok()?, m.parse().ok()?);
    if text.trim() == "24:00" {
        return Some(1440);
    }
    (h < 24 && m < 60).then_some(h * 60 + m)
}

/// A policy checked and ready to compile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedPolicy {
    pub block: CategorySet,
    pub allow_categories: CategorySet,
    pub allow: Vec<ListEntry>,
    pub deny: Vec<ListEntry>,
    pub time_rules: Vec<CompiledTimeRule>,
    pub safe_search: bool,
    pub youtube: YoutubeMode,
    pub default: DefaultVerdict,
}

fn categories(group: &str, names: &[String]) -> Result<CategorySet, PolicyError> {
    names
        .iter()
        .map(|n| {
            n.parse::<Category>().map_err(|_| PolicyError {
                group: group.into(),
                message: format!("{n:?} is not a category"),
            })
        })
        .collect()
}

impl GroupPolicy {
    /// Reads a policy from its TOML text.
    pub fn from_toml(group: &str, text: &str) -> Result<GroupPolicy, PolicyError> {
        toml::from_str(text).map_err(|e| PolicyError {
            group: group.into(),
            message: e.to_string(),
        })
    }

    pub fn to_toml(&self) -> String {
        toml::to_string(self).unwrap_or_default()
    }

    /// Checks every name, entry and time. Illegal content cannot be allowed: it is not a
    /// category a policy may name at all (UKSIC-F-IL-03).
    pub fn check(&self, group: &str) -> Result<CheckedPolicy, PolicyError> {
        let err = |message: String| PolicyError {
            group: group.into(),
            message,
        };
        let block = categories(group, &self.block)?;
        let allow_categories = categories(group, &self.allow_categories)?;
        if allow_categories.contains(Category::IllegalContent) {
            return Err(err(
                "illegal content cannot be allowed, by anyone (DfE filtering standard)".into(),
            ));
        }
        let entries = |list: &[String], what: &str| -> Result<Vec<ListEntry>, PolicyError> {
            list.iter()
                .map(|e| ListEntry::parse(e).map_err(|m| err(format!("{what} list: {m}"))))
                .collect()
        };
        let allow = entries(&self.allow, "allow")?;
        let deny = entries(&self.deny, "deny")?;
        let mut time_rules = Vec::new();
        for (i, r) in self.time_rules.iter().enumerate() {
            let cats = categories(group, &r.categories)?;
            if r.effect == TimeEffect::Allow && cats.contains(Category::IllegalContent) {
                return Err(err("illegal content cannot be allowed at any time".into()));
            }
            let mut days = 0u8;
            for d in &r.days {
                let i = WEEKDAYS
                    .iter()
                    .position(|w| w.eq_ignore_ascii_case(d.trim()))
                    .ok_or_else(|| err(format!("{d:?} is not a day (mon…sun)")))?;
                days |= 1 << i;
            }
            let (Some(from), Some(to)) = (minutes(&r.from), minutes(&r.to)) else {
                return Err(err(format!("time rule {}: times are HH:MM, such as 08:45", i + 1)));
            };
            if from >= to {
                return Err(err(format!("time rule {}: {} is not before {}", i + 1, r.from, r.to)));
            }
            time_rules.push(CompiledTimeRule {
                effect: r.effect,
                categories: cats,
                days,
                from,
                to,
            });
        }
        Ok(CheckedPolicy {
            block,
            allow_categories,
            allow,
            deny,
            time_rules,
            safe_search: self.safe_search,
            youtube: self.youtube,
            default: self.default,
        })
    }
}

fn names(cs: &[Category]) -> Vec<String> {
    cs.iter().map(|c| c.name().to_owned()).collect()
}

/// Categories every pupil policy blocks: the UKSIC inappropriate-content list, circumvention,
/// and what the policies say pupils should not use in school.
const HARMFUL: [Category; 13] = [
    Category::Adult,
    Category::Discrimination,
    Category::Drugs,
    Category::Extremism,
    Category::Gambling,
    Category::Hacking,
    Category::Malware,
    Category::Phishing,
    Category::Piracy,
    Category::SelfHarm,
    Category::Violence,
    Category::Circumvention,
    Category::Cults,
];

const PUPIL_EXTRA: [Category; 11] = [
    Category::AdultThemes,
    Category::SocialNetworks,
    Category::Dating,
    Category::Chat,
    Category::Webmail,
    Category::FileSharing,
    Category::Misinformation,
    Category::Cheating,
    Category::GenerativeAi,
    Category::Advertising,
    Category::Shopping,
];

fn teaching_hours(effect: TimeEffect, categories: &[Category], from: &str, to: &str) -> TimeRule {
    TimeRule {
        effect,
        categories: names(categories),
        days: ["mon", "tue", "wed", "thu", "fri"]
            .iter()
            .map(|d| d.to_string())
            .collect(),
        from: from.into(),
        to: to.into(),
    }
}

/// Sites early years children may use: the walled garden's allow list.
pub const EYFS_ALLOW: [&str; 8] = [
    "bbc.co.uk",
    "bbci.co.uk",
    "cbeebies.com",
    "topmarks.co.uk",
    "phonicsplay.co.uk",
    "ictgames.com",
    "oxfordowl.co.uk",
    "pbskids.org",
];

/// The policies schoolgate ships, by group name. README.md says what each blocks and why.
pub fn defaults() -> Vec<(&'static str, GroupPolicy)> {
    let pupil_block: Vec<Category> = HARMFUL.iter().chain(PUPIL_EXTRA.iter()).copied().collect();
    let mut pupil_and_games = pupil_block.clone();
    pupil_and_games.push(Category::Games);
    let base = GroupPolicy {
        block: names(&pupil_and_games),
        allow_categories: vec![],
        allow: vec![],
        deny: vec![],
        time_rules: vec![],
        safe_search: true,
        youtube: YoutubeMode::Strict,
        default: DefaultVerdict::Allow,
    };
    let eyfs = GroupPolicy {
        allow_categories: names(&[Category::ChildFriendly, Category::Education]),
        allow: EYFS_ALLOW.iter().map(|s| s.to_string()).collect(),
        default: DefaultVerdict::Deny,
        ..base.clone()
    };
    let ks1 = base.clone();
    let ks2 = GroupPolicy {
        block: names(&pupil_block),
        time_rules: vec![
            teaching_hours(TimeEffect::Block, &[Category::Games], "08:45", "12:00"),
            teaching_hours(TimeEffect::Block, &[Category::Games], "13:00", "15:30"),
        ],
        ..base.clone()
    };
    let staff = GroupPolicy {
        block: names(&HARMFUL),
        time_rules: vec![teaching_hours(
            TimeEffect::Block,
            &[Category::SocialNetworks, Category::Dating, Category::Gambling],
            "08:45",
            "15:30",
        )],
        safe_search: false,
        ..base.clone()
    };
    let mut visitor_block: Vec<Category> = HARMFUL.to_vec();
    visitor_block.extend([Category::AdultThemes, Category::Dating, Category::FileSharing]);
    let visitors = GroupPolicy {
        block: names(&visitor_block),
        ..base.clone()
    };
    // The agreement gate's walled garden: the early years' education sites and the
    // education category, nothing else, until the agreement is signed.
    let unsigned = GroupPolicy {
        allow_categories: names(&[Category::Education]),
        allow: EYFS_ALLOW.iter().map(|s| s.to_string()).collect(),
        default: DefaultVerdict::Deny,
        ..base.clone()
    };
    let unidentified = GroupPolicy {
        block: names(&pupil_and_games),
        ..base
    };
    vec![
        ("EYFS", eyfs),
        ("KS1", ks1),
        ("KS2", ks2),
        ("Staff", staff),
        ("Visitors", visitors),
        ("unidentified", unidentified),
        (crate::gate::UNSIGNED, unsigned),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_policies_check_and_round_trip_through_toml() {
        for (name, p) in defaults() {
            p.check(name).unwrap_or_else(|e| panic!("{e}"));
            let again = GroupPolicy::from_toml(name, &p.to_toml()).expect("round trip");
            assert_eq!(again, p, "{name}");
        }
    }

    #[test]
    fn bad_policies_say_what_is_wrong() {
        for (text, needle) in [
            ("block = [\"nonsense\"]", "\"nonsense\" is not a category"),
            ("allow_categories = [\"illegal_content\"]", "cannot be allowed"),
            ("allow = [\"bad..host\"]", "allow list"),
            (
                "[[time_rules]]\neffect = \"block\"\ncategories = [\"games\"]\ndays = [\"funday\"]\nfrom = \"08:00\"\nto = \"09:00\"",
                "not a day",
            ),
            (
                "[[time_rules]]\neffect = \"block\"\ncategories = [\"games\"]\ndays = [\"mon\"]\nfrom = \"09:00\"\nto = \"08:00\"",
                "not before",
            ),
            (
                "[[time_rules]]\neffect = \"allow\"\ncategories = [\"illegal_content\"]\ndays = [\"mon\"]\nfrom = \"08:00\"\nto = \"09:00\"",
                "cannot be allowed",
            ),
        ] {
            let p = GroupPolicy::from_toml("KS2", text).expect("parses");
            let e = p.check("KS2").expect_err(text);
            assert!(e.to_string().contains(needle), "{e}");
        }
        assert!(
            GroupPolicy::from_toml("KS2", "blok = []").is_err(),
            "unknown keys are errors"
        );
    }

    #[test]
    fn time_rules_read_and_write_their_one_line_form() {
        let r = TimeRule::parse_line("block games,chat mon-fri 08:45-15:30").expect("valid");
        assert_eq!(r.days, ["mon", "tue", "wed", "thu", "fri"]);
        assert_eq!(r.to_line(), "block games,chat mon-fri 08:45-15:30");
        let r = TimeRule::parse_line("allow games mon,wed 12:00-13:00").expect("valid");
        assert_eq!(r.to_line(), "allow games mon,wed 12:00-13:00");
        for bad in [
            "block games",
            "maybe games mon 08:00-09:00",
            "block games fri-mon 08:00-09:00",
            "block games mon 0800",
        ] {
            assert!(TimeRule::parse_line(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn uk_local_time_follows_british_summer_time() {
        // 2026-03-29 is the last Sunday of March: BST starts at 01:00 UTC.
        let before = 1_774_746_000 - 60; // 2026-03-29 00:59 UTC
        assert_eq!(LocalTime::uk(before), LocalTime::new(6, 0, 59));
        assert_eq!(LocalTime::uk(before + 60), LocalTime::new(6, 2, 0));
        // 2026-11-24 10:30 UTC is a Tuesday, GMT.
        assert_eq!(LocalTime::uk(1_795_516_200), LocalTime::new(1, 10, 30));
        // 2026-07-01 12:00 UTC is a Wednesday, 13:00 BST.
        assert_eq!(LocalTime::uk(1_782_907_200), LocalTime::new(2, 13, 0));
    }

    #[test]
    fn time_rules_apply_from_their_start_until_just_before_their_end() {
        let p = GroupPolicy {
            time_rules: vec![teaching_hours(TimeEffect::Block, &[Category::Games], "08:45", "15:30")],
            ..defaults()[3].1.clone()
        };
        let r = p.check("Staff").expect("valid").time_rules[0];
        assert!(!r.applies(LocalTime::new(0, 8, 44)));
        assert!(r.applies(LocalTime::new(0, 8, 45)));
        assert!(r.applies(LocalTime::new(4, 15, 29)));
        assert!(!r.applies(LocalTime::new(4, 15, 30)));
        assert!(!r.applies(LocalTime::new(5, 10, 0)), "not on Saturday");
    }
}
