//! Risk matching for monitoring (issue 6): text a pupil searched for or wrote is
//! [`normalise`]d, then every phrase of the [`lexicon`] is looked for at once by the
//! [`matcher`]. Pure: no I/O, no clock. [`alert`] decides severity, routing, folding and
//! the watch over blocked requests; the store keeps the alerts and `notify` sends the emails.

pub mod alert;
pub mod evaluate;
pub mod lexicon;
pub mod matcher;
pub mod normalise;

pub use alert::{BlockWatch, PatternHit, Route, Settings, Subject};
pub use lexicon::{Category, Entry, LexiconError, default_lexicon};
pub use matcher::{Match, Matcher};
pub use normalise::{Normalised, normalise};
