//! schoolgate's email (issue 6): what the emails say ([`compose`]: alert emails, the daily
//! digest, the weekly summary) and how they leave ([`smtp`]: a mail server reached with a
//! password or OAuth2, as Microsoft 365 requires from the end of 2026).
//!
//! Every email schoolgate sends carries counts, severities, categories and links into the
//! console, never a pupil's name or the text that raised a concern: an email can be
//! forwarded, printed or read over a shoulder; the console checks who is reading.

pub mod compose;
pub mod smtp;

pub use compose::{AgreementReminder, AlertEmail, Digest, DigestKind, Email, IncidentEmail, TrainingReminder};
pub use smtp::{MailConfig, Mailer, SendError, TlsMode, retry_after};
