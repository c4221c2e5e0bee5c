//! Any bytes, read as a list in every format: never a panic; every good entry normalised.
#![no_main]

use libfuzzer_sys::fuzz_target;
use policy::ListFormat;
use policy::list::parse_list;

fuzz_target!(|data: &[u8]| {
    for format in [ListFormat::Domains, ListFormat::Hosts, ListFormat::Adblock, ListFormat::Urls] {
        let parsed = parse_list("fuzz", format, data);
        for d in &parsed.domains {
            let s = d.as_str();
            assert!(!s.is_empty() && s.len() <= 253 && s.is_ascii(), "{s:?}");
            assert_eq!(s, s.to_ascii_lowercase());
            assert_eq!(policy::Domain::parse(s).as_ref(), Ok(d), "normalising twice changes nothing");
        }
        let stored = parsed.to_normalised();
        let back = policy::ParsedList::from_normalised("stored", &stored);
        assert!(back.errors.is_empty(), "what was stored reads back: {:?}", back.errors);
    }
    let _ = ListFormat::sniff(&String::from_utf8_lossy(data));
});
