//! The records a school keeps, as types and rules, with no I/O.
//!
//! `register` is where schoolgate decides what a record *is* and who may do what with it:
//! people and their groups ([`people`]), the roles of DESIGN.md and the permissions they
//! carry ([`roles`]), the incident log's categories, routes and access matrix
//! ([`incidents`]), the registers the policies require — acceptable use agreements
//! ([`agreements`]), photo consent ([`consent`]), training ([`training`]), devices and
//! assets ([`assets`]), reviews ([`reviews`]) and what of all that is due ([`due`]) — the
//! rules for importing the CSV that a school's MIS exports ([`import`]), the password rule
//! and hashing ([`password`]) and the hash chain of the audit log ([`audit`]). The store persists these values and the console shows them, but
//! neither decides anything about them: a rule lives here once and is tested here, so the
//! web layer cannot drift from it.
//!
//! ```
//! use register::people::{KeyStage, YearGroup};
//!
//! let year: YearGroup = "Year 4".parse().unwrap();
//! assert_eq!(year.key_stage(), KeyStage::Ks2);
//! ```

pub mod agreements;
pub mod assets;
pub mod audit;
pub mod consent;
pub mod due;
pub mod import;
pub mod incidents;
pub mod password;
pub mod people;
pub mod reviews;
pub mod roles;
pub mod training;
