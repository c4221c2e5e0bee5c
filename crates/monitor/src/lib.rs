//! Risk matching for monitoring (issue 6): text a pupil searched for or wrote is
//! [`normalise`]d, then every phrase of the [`lexicon`] is looked for at once by the
//! [`matcher`]. Pure: no I/O, no clock; the alerts, their routing and the emails live
//! elsewhere.

pub mod lexicon;
pub mod matcher;
pub mod normalise;

pub use lexicon::{Category, Entry, LexiconError, default_lexicon};
pub use matcher::{Match, Matcher};
pub use normalise::{Normalised, normalise};
