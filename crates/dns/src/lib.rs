//! The filtering DNS server: every school device that uses schoolgate as its resolver is
//! filtered here.
//!
//! A question goes through [`identify`] (which device or person is asking, and so which
//! group's policy applies), then the policy engine, then [`handler`]: blocked names get the
//! block page's address or NXDOMAIN, search engines get a CNAME to their safe-search host,
//! the DoH canary gets NXDOMAIN, and everything else is answered from the [`cache`] or
//! forwarded to the [`upstream`] resolvers (plain DNS or DNS-over-TLS). [`server`] holds
//! the sockets and the limits, reading and answering UDP a [`batch`] at a time; [`fold`]
//! gathers repeated answers before they go to the log.
//! Wire format is hickory-proto's; nothing here parses packets by hand.

pub mod batch;
pub mod cache;
pub mod fold;
pub mod handler;
pub mod identify;
pub mod server;
pub mod upstream;

pub use fold::{Answered, Folded};
pub use handler::{BlockMode, Handler, Outcome, Pending, Prepared};
pub use identify::{Attribution, Subnet, Who};
pub use server::{DnsServer, EventSink, Limits, UdpSockets, bind};
pub use upstream::{UpstreamAddr, Upstreams};
