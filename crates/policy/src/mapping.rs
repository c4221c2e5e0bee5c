//! How the sources' category names map onto schoolgate's categories.
//!
//! UT1 names its categories in French and English (`agressif`, `drogue`, `redirector`,
//! `liste_blanche`), Sinfonietta and the Block List Project in English. [`CategoryMap::default`]
//! is schoolgate's table (documented in `docs/categories.md`); a school changes it with a
//! `categories.toml` whose `[map]` table names a source category, optionally with its source
//! (`"ut1/blog"`), and a schoolgate category or `"ignore"`.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::category::Category;

/// What a source category becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Category(Category),
    /// Not imported at all.
    Ignore,
}

/// Source category names → schoolgate categories.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CategoryMap {
    map: BTreeMap<String, Target>,
}

/// schoolgate's table: (source category, schoolgate category).
pub const DEFAULT_MAP: &[(&str, &str)] = &[
    ("adult", "adult"),
    ("porn", "adult"),
    ("pornography", "adult"),
    ("mixed_adult", "adult_themes"),
    ("lingerie", "adult_themes"),
    ("agressif", "discrimination"),
    ("aggressive", "discrimination"),
    ("hate", "discrimination"),
    ("violence", "violence"),
    ("dangerous_material", "violence"),
    ("weapons", "violence"),
    ("drogue", "drugs"),
    ("drugs", "drugs"),
    ("vaping", "drugs"),
    ("extremism", "extremism"),
    ("self_harm", "self_harm"),
    ("suicide", "self_harm"),
    ("gambling", "gambling"),
    ("arjel", "gambling"),
    ("hacking", "hacking"),
    ("ddos", "hacking"),
    ("malware", "malware"),
    ("cryptojacking", "malware"),
    ("ransomware", "malware"),
    ("stalkerware", "malware"),
    ("dialer", "malware"),
    ("redirect", "malware"),
    ("phishing", "phishing"),
    ("scam", "phishing"),
    ("redirector", "circumvention"),
    ("strict_redirector", "circumvention"),
    ("strong_redirector", "circumvention"),
    ("proxy", "circumvention"),
    ("vpn", "circumvention"),
    ("doh", "circumvention"),
    ("residential-proxies", "circumvention"),
    ("remote-control", "circumvention"),
    ("social_networks", "social_networks"),
    ("facebook", "social_networks"),
    ("tiktok", "social_networks"),
    ("twitter", "social_networks"),
    ("whatsapp", "social_networks"),
    ("youtube", "streaming"),
    ("games", "games"),
    ("fortnite", "games"),
    ("educational_games", "education"),
    ("dating", "dating"),
    ("chat", "chat"),
    ("forums", "chat"),
    ("webmail", "webmail"),
    ("mail", "webmail"),
    ("filehosting", "file_sharing"),
    ("download", "file_sharing"),
    ("warez", "piracy"),
    ("piracy", "piracy"),
    ("torrent", "piracy"),
    ("audio-video", "streaming"),
    ("radio", "streaming"),
    ("shopping", "shopping"),
    ("publicite", "advertising"),
    ("ads", "advertising"),
    ("marketingware", "advertising"),
    ("fakenews", "misinformation"),
    ("tricheur", "cheating"),
    ("tricheur_pix", "cheating"),
    ("examen_pix", "cheating"),
    ("sect", "cults"),
    ("ai", "generative_ai"),
    ("bitcoin", "finance"),
    ("crypto", "finance"),
    ("financial", "finance"),
    ("bank", "finance"),
    ("press", "news"),
    ("sports", "sport"),
    ("jobsearch", "jobs"),
    ("liste_blanche", "education"),
    ("liste_bu", "education"),
    ("child", "child_friendly"),
    ("sexual_education", "sex_education"),
    ("celebrity", "other"),
    ("cooking", "other"),
    ("cleaning", "other"),
    ("astrology", "other"),
    ("blog", "other"),
    ("manga", "other"),
    ("mobile-phone", "other"),
    ("translation", "other"),
    ("update", "other"),
    ("webhosting", "other"),
    ("dynamic-dns", "other"),
    ("shortener", "other"),
    ("associations_religieuses", "other"),
    ("special", "ignore"),
    ("reaffected", "ignore"),
    ("exceptions_liste_bu", "ignore"),
];

/// A mapping file that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{origin}: {message}")]
pub struct MapError {
    pub origin: String,
    pub message: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MapFile {
    #[serde(default)]
    map: BTreeMap<String, String>,
}

fn target(name: &str) -> Option<Target> {
    if name == "ignore" {
        Some(Target::Ignore)
    } else {
        name.parse().ok().map(Target::Category)
    }
}

impl Default for CategoryMap {
    fn default() -> Self {
        let map = DEFAULT_MAP
            .iter()
            .map(|(from, to)| {
                (
                    from.to_string(),
                    target(to).expect("the default table names real categories"),
                )
            })
            .collect();
        CategoryMap { map }
    }
}

impl CategoryMap {
    /// The default table with a school's `categories.toml` laid over it.
    pub fn with_overrides(origin: &str, text: &str) -> Result<CategoryMap, MapError> {
        let err = |message: String| MapError {
            origin: origin.to_owned(),
            message,
        };
        let file: MapFile = toml::from_str(text).map_err(|e| err(e.to_string()))?;
        let mut m = CategoryMap::default();
        for (from, to) in file.map {
            let t = target(&to).ok_or_else(|| {
                err(format!(
                    "{from:?} maps to {to:?}, which is not a schoolgate category (see docs/categories.md) or \"ignore\""
                ))
            })?;
            m.map.insert(from, t);
        }
        Ok(m)
    }

    /// The target for a source's category: `source/category` first, then `category`.
    pub fn resolve(&self, source: &str, category: &str) -> Option<Target> {
        self.map
            .get(&format!("{source}/{category}"))
            .or_else(|| self.map.get(category))
            .copied()
    }

    pub fn entries(&self) -> impl Iterator<Item = (&str, Target)> {
        self.map.iter().map(|(k, v)| (k.as_str(), *v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_table_maps_the_shared_sources() {
        let m = CategoryMap::default();
        assert_eq!(
            m.resolve("ut1", "agressif"),
            Some(Target::Category(Category::Discrimination))
        );
        assert_eq!(m.resolve("ut1", "drogue"), Some(Target::Category(Category::Drugs)));
        assert_eq!(m.resolve("ut1", "doh"), Some(Target::Category(Category::Circumvention)));
        assert_eq!(
            m.resolve("ut1", "liste_blanche"),
            Some(Target::Category(Category::Education))
        );
        assert_eq!(
            m.resolve("blocklistproject", "tiktok"),
            Some(Target::Category(Category::SocialNetworks))
        );
        assert_eq!(m.resolve("ut1", "no_such_thing"), None);
    }

    #[test]
    fn every_category_folder_of_the_shared_data_has_a_mapping() {
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data/blocklists");
        let Ok(sources) = std::fs::read_dir(root) else {
            eprintln!("SKIPPED: {root} is not here");
            return;
        };
        let m = CategoryMap::default();
        for source in sources.flatten().filter(|e| e.path().is_dir()) {
            let source_name = source.file_name().to_string_lossy().into_owned();
            for cat in std::fs::read_dir(source.path()).into_iter().flatten().flatten() {
                let p = cat.path();
                if p.join("domains").exists() || p.join("urls").exists() {
                    let name = cat.file_name().to_string_lossy().into_owned();
                    assert!(
                        m.resolve(&source_name, &name).is_some(),
                        "{source_name}/{name} has no mapping"
                    );
                }
            }
        }
    }

    #[test]
    fn a_school_can_change_the_table() {
        let m = CategoryMap::with_overrides(
            "categories.toml",
            "[map]\n\"ut1/blog\" = \"social_networks\"\nshopping = \"ignore\"\n",
        )
        .expect("valid");
        assert_eq!(
            m.resolve("ut1", "blog"),
            Some(Target::Category(Category::SocialNetworks))
        );
        assert_eq!(m.resolve("other", "blog"), Some(Target::Category(Category::Other)));
        assert_eq!(m.resolve("ut1", "shopping"), Some(Target::Ignore));
        let e = CategoryMap::with_overrides("c.toml", "[map]\nblog = \"nonsense\"\n").expect_err("bad");
        assert!(e.to_string().contains("not a schoolgate category"));
        assert!(
            CategoryMap::with_overrides("c.toml", "[mapp]\n").is_err(),
            "unknown tables are errors"
        );
    }
}
