//! The filtering web proxy: an explicit HTTP/1.1 forward proxy that knows who is browsing.
//!
//! A request comes in on [`server`]: the person is identified by proxy sign-in (or by a
//! subnet that needs none), policy decides on the full URL (plain HTTP) or the host and the
//! TLS server name (CONNECT, read by [`sni`] without decrypting), blocked requests get the
//! [`page`] or a 403, search terms are read by [`search`], and every request becomes a
//! filter event. HTTP itself is hyper's; only the ClientHello is read by hand.

pub mod page;
pub mod search;
pub mod server;
pub mod sni;

pub use server::{Accounts, BlockPage, Proxy, ProxyConfig, Resolve, SignIn};
