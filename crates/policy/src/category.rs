//! schoolgate's own content categories, and sets of them.
//!
//! The names follow the UK Safer Internet Centre's *Appropriate Filtering* definitions
//! (UKSIC-F-IC-01…11) where they have one, plus what a school needs on top: circumvention
//! (UKSIC-F-SF-02), social networks, games, generative AI (DFE-FM-1.08) and others. Lists
//! from outside sources map onto these through a [`crate::mapping::CategoryMap`].

use std::fmt;
use std::str::FromStr;

macro_rules! categories {
    ($( $variant:ident = $bit:literal, $name:literal, $label:literal, $about:literal; )*) => {
        /// A content category. At most 64, so that a set of them is one `u64`.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[repr(u8)]
        pub enum Category { $( $variant = $bit, )* }

        impl Category {
            pub const ALL: &'static [Category] = &[ $( Category::$variant, )* ];

            /// The name used in configuration and logs (`self_harm`).
            pub fn name(self) -> &'static str {
                match self { $( Category::$variant => $name, )* }
            }

            /// The words a teacher reads (`Self-harm and suicide`).
            pub fn label(self) -> &'static str {
                match self { $( Category::$variant => $label, )* }
            }

            /// One sentence on what the category holds.
            pub fn about(self) -> &'static str {
                match self { $( Category::$variant => $about, )* }
            }
        }
    };
}

categories! {
    IllegalContent = 0, "illegal_content", "Illegal content", "child sexual abuse images and unlawful terrorist content (IWF and CTIRU lists)";
    Adult = 1, "adult", "Pornography", "sexual acts or explicit images";
    AdultThemes = 2, "adult_themes", "Adult themes", "lingerie and sites mixing adult content with other material";
    Discrimination = 3, "discrimination", "Discrimination and hate", "content that promotes prejudice or hatred against people for who they are";
    Drugs = 4, "drugs", "Drugs", "content that promotes the illegal use of drugs or other substances";
    Extremism = 5, "extremism", "Extremism", "content that promotes terrorism, terrorist ideologies, violence or intolerance";
    Gambling = 6, "gambling", "Gambling", "sites that let people gamble";
    Hacking = 7, "hacking", "Hacking", "content that promotes breaking into or attacking computer systems";
    Malware = 8, "malware", "Malware", "sites that host or spread malicious software";
    Phishing = 9, "phishing", "Phishing and scams", "sites that trick people into giving away passwords, money or personal details";
    Piracy = 10, "piracy", "Piracy", "illegal copies of films, music, games and software";
    SelfHarm = 11, "self_harm", "Self-harm and suicide", "content that promotes or shows self-harm, suicide or eating disorders";
    Violence = 12, "violence", "Violence", "content that shows or promotes physical force meant to hurt or kill, and weapons";
    Circumvention = 13, "circumvention", "Getting round the filter", "proxies, VPNs, anonymisers and DNS-over-HTTPS resolvers that get round filtering";
    SocialNetworks = 14, "social_networks", "Social networks", "social networking sites and apps";
    Games = 15, "games", "Games", "online games";
    Dating = 16, "dating", "Dating", "dating sites and apps";
    Chat = 17, "chat", "Chat", "chat rooms and instant messaging";
    Webmail = 18, "webmail", "Personal email", "personal webmail services";
    FileSharing = 19, "file_sharing", "File sharing", "file hosting and download sites";
    Streaming = 20, "streaming", "Audio and video", "music, video and radio streaming";
    Shopping = 21, "shopping", "Shopping", "online shops";
    Advertising = 22, "advertising", "Advertising", "advertising and tracking";
    Misinformation = 23, "misinformation", "Misinformation", "sites known for fake news, misinformation and conspiracy theories";
    Cheating = 24, "cheating", "Cheating", "sites that help cheat in games or tests";
    Cults = 25, "cults", "Cults", "sects and cults";
    GenerativeAi = 26, "generative_ai", "Generative AI", "AI chat and image generators";
    Finance = 27, "finance", "Finance and crypto", "banks, trading and cryptocurrency";
    News = 28, "news", "News", "newspapers and news sites";
    Sport = 29, "sport", "Sport", "sport";
    Jobs = 30, "jobs", "Jobs", "job search";
    Education = 31, "education", "Education", "educational sites known to be safe";
    ChildFriendly = 32, "child_friendly", "For children", "sites made for children under ten";
    SexEducation = 33, "sex_education", "Sex education", "sex and relationships education (often mistaken for pornography)";
    Other = 34, "other", "Other", "sites in a source category that has no schoolgate equivalent";
}

impl Category {
    fn bit(self) -> u64 {
        1u64 << (self as u8)
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// A name that is not a category.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown category {0:?}")]
pub struct UnknownCategory(pub String);

impl FromStr for Category {
    type Err = UnknownCategory;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Category::ALL
            .iter()
            .copied()
            .find(|c| c.name() == s)
            .ok_or_else(|| UnknownCategory(s.to_owned()))
    }
}

/// A set of categories, as one word.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct CategorySet(u64);

impl CategorySet {
    pub const EMPTY: CategorySet = CategorySet(0);

    pub fn of(categories: &[Category]) -> CategorySet {
        categories.iter().fold(CategorySet::EMPTY, |s, c| s.with(*c))
    }

    pub fn with(self, c: Category) -> CategorySet {
        CategorySet(self.0 | c.bit())
    }

    pub fn union(self, other: CategorySet) -> CategorySet {
        CategorySet(self.0 | other.0)
    }

    pub fn intersection(self, other: CategorySet) -> CategorySet {
        CategorySet(self.0 & other.0)
    }

    /// The categories of `self` that are not in `other`.
    pub fn without(self, other: CategorySet) -> CategorySet {
        CategorySet(self.0 & !other.0)
    }

    pub fn contains(self, c: Category) -> bool {
        self.0 & c.bit() != 0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The first category of the set in [`Category::ALL`] order: the one a decision names.
    /// The order puts the most serious categories first.
    pub fn first(self) -> Option<Category> {
        Category::ALL.iter().copied().find(|c| self.contains(*c))
    }

    pub fn iter(self) -> impl Iterator<Item = Category> {
        Category::ALL.iter().copied().filter(move |c| self.contains(*c))
    }

    pub fn bits(self) -> u64 {
        self.0
    }
}

impl FromIterator<Category> for CategorySet {
    fn from_iter<T: IntoIterator<Item = Category>>(iter: T) -> Self {
        iter.into_iter().fold(CategorySet::EMPTY, |s, c| s.with(c))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_bits_are_unique() {
        let mut seen = 0u64;
        for &c in Category::ALL {
            assert_eq!(c.name().parse::<Category>(), Ok(c));
            assert_eq!(seen & c.bit(), 0, "{c:?} shares a bit");
            seen |= c.bit();
        }
    }

    #[test]
    fn sets_name_their_most_serious_category_first() {
        let s = CategorySet::of(&[Category::Games, Category::SelfHarm]);
        assert_eq!(s.first(), Some(Category::SelfHarm));
        assert!(s.contains(Category::Games) && !s.contains(Category::Adult));
        assert_eq!(s.iter().count(), 2);
    }
}
