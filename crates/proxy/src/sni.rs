//! The server name a TLS client asks for (SNI), read from its ClientHello without
//! decrypting anything. A CONNECT tunnel to an allowed host that then asks for another
//! (domain fronting, some VPN apps) is caught here. Hand-written because it is ~80 lines with
//! no dependencies, reads only the first record, and is fuzzed (`fuzz/fuzz_targets/client_hello.rs`).

/// What the first bytes of a tunnel say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hello {
    /// Not enough bytes yet to tell.
    Incomplete,
    /// Not a TLS ClientHello.
    NotTls,
    /// A ClientHello without a server name (by IP address, or a client that omits it).
    NoName,
    /// The server name asked for, lower-cased.
    Name(String),
}

/// Reads big-endian numbers and slices off the front of a buffer; every read is checked.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }
    fn u8(&mut self) -> Option<usize> {
        self.take(1).map(|b| usize::from(b[0]))
    }
    fn u16(&mut self) -> Option<usize> {
        self.take(2).map(|b| usize::from(u16::from_be_bytes([b[0], b[1]])))
    }
    fn u24(&mut self) -> Option<usize> {
        self.take(3)
            .map(|b| (usize::from(b[0]) << 16) | (usize::from(b[1]) << 8) | usize::from(b[2]))
    }
    fn vec8(&mut self) -> Option<&'a [u8]> {
        let n = self.u8()?;
        self.take(n)
    }
    fn vec16(&mut self) -> Option<&'a [u8]> {
        let n = self.u16()?;
        self.take(n)
    }
}

/// The most a ClientHello may take before we stop waiting: one full TLS record.
pub const MAX_HELLO: usize = 5 + 16_384;

/// Reads the server name from the start of a TLS connection (RFC 8446 §4.1.2, RFC 6066 §3).
/// The ClientHello must sit in the first record, as every browser's does.
pub fn client_hello(buf: &[u8]) -> Hello {
    let mut r = Reader(buf);
    let Some(header) = r.take(5) else {
        return if buf.first().is_some_and(|b| *b != 0x16) {
            Hello::NotTls
        } else {
            Hello::Incomplete
        };
    };
    // A handshake record of TLS 1.0 or later.
    if header[0] != 0x16 || header[1] != 0x03 {
        return Hello::NotTls;
    }
    let len = usize::from(u16::from_be_bytes([header[3], header[4]]));
    if len > 16_384 {
        return Hello::NotTls;
    }
    let Some(record) = r.take(len) else {
        return Hello::Incomplete;
    };
    parse_hello(record).unwrap_or(Hello::NotTls)
}

fn parse_hello(record: &[u8]) -> Option<Hello> {
    let mut r = Reader(record);
    if r.u8()? != 1 {
        return None; // not a ClientHello
    }
    let body_len = r.u24()?;
    let mut body = Reader(r.take(body_len)?);
    body.take(2 + 32)?; // legacy version, random
    body.vec8()?; // session id
    body.vec16()?; // cipher suites
    body.vec8()?; // compression methods
    if body.0.is_empty() {
        return Some(Hello::NoName); // no extensions at all
    }
    let mut exts = Reader(body.vec16()?);
    while !exts.0.is_empty() {
        let kind = exts.u16()?;
        let data = exts.vec16()?;
        if kind != 0 {
            continue;
        }
        let mut list = Reader(Reader(data).vec16()?);
        while !list.0.is_empty() {
            let name_type = list.u8()?;
            let name = list.vec16()?;
            if name_type == 0 {
                let name = std::str::from_utf8(name).ok()?;
                if name.is_empty() || !name.bytes().all(|b| b.is_ascii_graphic()) {
                    return None;
                }
                return Some(Hello::Name(name.trim_end_matches('.').to_ascii_lowercase()));
            }
        }
    }
    Some(Hello::NoName)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal ClientHello with the given extensions.
    fn hello(extensions: &[u8]) -> Vec<u8> {
        let mut body = vec![0x03, 0x03];
        body.extend([7u8; 32]);
        body.push(0); // session id
        body.extend([0, 2, 0x13, 0x01]); // one cipher suite
        body.extend([1, 0]); // null compression
        body.extend((extensions.len() as u16).to_be_bytes());
        body.extend(extensions);
        let mut hs = vec![1];
        hs.extend(&(body.len() as u32).to_be_bytes()[1..]);
        hs.extend(body);
        let mut rec = vec![0x16, 0x03, 0x01];
        rec.extend((hs.len() as u16).to_be_bytes());
        rec.extend(hs);
        rec
    }

    fn sni(name: &str) -> Vec<u8> {
        let mut entry = vec![0];
        entry.extend((name.len() as u16).to_be_bytes());
        entry.extend(name.as_bytes());
        let mut list = (entry.len() as u16).to_be_bytes().to_vec();
        list.extend(entry);
        let mut ext = vec![0, 0];
        ext.extend((list.len() as u16).to_be_bytes());
        ext.extend(list);
        ext
    }

    #[test]
    fn the_server_name_is_read_after_other_extensions() {
        let mut exts = vec![0x00, 0x2b, 0x00, 0x03, 0x02, 0x03, 0x04]; // supported_versions
        exts.extend(sni("WWW.Example.ORG"));
        assert_eq!(client_hello(&hello(&exts)), Hello::Name("www.example.org".into()));
    }

    #[test]
    fn partial_hellos_ask_for_more_and_other_protocols_are_not_tls() {
        let full = hello(&sni("bbc.co.uk"));
        for cut in 0..full.len() {
            assert_eq!(client_hello(&full[..cut]), Hello::Incomplete, "cut at {cut}");
        }
        assert_eq!(client_hello(b"SSH-2.0-OpenSSH_9.6\r\n"), Hello::NotTls);
        assert_eq!(client_hello(b"GET / HTTP/1.1\r\n\r\n"), Hello::NotTls);
        assert_eq!(client_hello(&hello(&[])), Hello::NoName);
        assert_eq!(client_hello(&hello(&[0x00, 0x2b, 0x00, 0x01, 0x00])), Hello::NoName);
    }

    #[test]
    fn lies_about_lengths_are_not_tls_and_never_panic() {
        let good = hello(&sni("bbc.co.uk"));
        for i in 5..good.len() {
            for v in [0x00, 0x01, 0x7f, 0xff] {
                let mut bad = good.clone();
                bad[i] = v;
                let _ = client_hello(&bad);
            }
        }
        let mut bad = good.clone();
        bad[5] = 2; // a ServerHello
        assert_eq!(client_hello(&bad), Hello::NotTls);
        assert_eq!(client_hello(&hello(&sni("bad name"))), Hello::NotTls);
    }
}
