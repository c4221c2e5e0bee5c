//! Any bytes as the start of a CONNECT tunnel (the ClientHello reader) and as a search URL
//! (the search-term table): never a panic, and a name read is always printable.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let proxy::sni::Hello::Name(name) = proxy::sni::client_hello(data) {
        assert!(!name.is_empty() && name.bytes().all(|b| b.is_ascii_graphic()), "{name:?}");
    }
    let text = String::from_utf8_lossy(data);
    let (host, rest) = text.split_once('/').unwrap_or((&text, ""));
    if let Some(t) = proxy::search::search_term(host, &format!("/{rest}")) {
        assert!(!t.term.is_empty() && t.term.chars().count() <= 500, "{t:?}");
    }
});
