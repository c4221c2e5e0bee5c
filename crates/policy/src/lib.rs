//! The filter's classification engine: categorised lists and each group's policy compiled
//! into an immutable [`Snapshot`] that answers "may this group reach this site?" with an
//! explained [`Decision`].
//!
//! The central choice is to key everything by 64-bit fingerprints of domain suffixes,
//! computed in one right-to-left pass over the requested name ([`domain::suffix_fingerprints`]).
//! Every rule kind — illegal-content lists, the group's allow and deny lists, categorised
//! lists — is then a probe into a compact [`index::FingerprintIndex`] with a filter in
//! front, so a decision costs one hash and a handful of mostly-cached probes, allocates
//! nothing and takes no lock. Precedence is DESIGN.md's: illegal content, the group's allow
//! list, its deny list, the categories it blocks (at that time), then its default; within a
//! kind the most specific entry wins. Safe search is applied to whatever is allowed.
//! Lookups go through an [`Engine`], which swaps in a new snapshot atomically when lists or
//! policies change; a snapshot that cannot be built leaves the old one in place.
//!
//! ```
//! use policy::{Category, GroupPolicy, LocalTime, ListFormat, ListInfo, Request, SnapshotBuilder, Verdict};
//!
//! let mut b = SnapshotBuilder::new(42);
//! let games = policy::list::parse_list("games", ListFormat::Domains, "coolmathgames.example\n".as_bytes());
//! b.add_list(ListInfo::new("ut1/games", "ut1", Category::Games, false), &games);
//! let ks2 = GroupPolicy { block: vec!["games".into()], ..GroupPolicy::default() };
//! b.add_group("KS2", &ks2.check("KS2").unwrap(), false);
//! let snapshot = b.build();
//! let group = snapshot.group("KS2").unwrap();
//! let d = snapshot.decide(&Request { host: "www.coolmathgames.example", path: None, group, at: LocalTime::new(0, 10, 0) });
//! assert_eq!(d.verdict, Verdict::Block);
//! assert_eq!(d.category, Some(Category::Games));
//! ```

pub mod category;
pub mod decision;
pub mod domain;
pub mod gate;
pub mod index;
pub mod list;
pub mod mapping;
pub mod net;
pub mod rules;
pub mod safesearch;
mod snapshot;

pub use category::{Category, CategorySet};
pub use decision::{Decision, GroupId, ListId, Rule, Verdict};
pub use domain::{Domain, normalise_path};
pub use list::{ListFormat, ParsedList, UrlEntry};
pub use mapping::CategoryMap;
pub use net::Subnet;
pub use rules::{GroupPolicy, LocalTime};
pub use snapshot::{Engine, ListInfo, Request, Snapshot, SnapshotBuilder, SnapshotStats};
