//! Many datagrams a system call: `recvmmsg` to read what waits on a socket, `sendmmsg` to
//! send the answers that came of it. On a busy server each system call's fixed cost (entry,
//! file lookup, the C library's wrapper) was paid twice a question; batched, it is paid twice
//! a batch. At a trickle a batch is one question, answered as soon as it is read.

use std::io::{IoSlice, IoSliceMut};
use std::net::SocketAddr;
use std::os::fd::AsRawFd;

use nix::sys::socket::{MsgFlags, MultiHeaders, SockaddrStorage, recvmmsg, sendmmsg};
use tokio::io::Interest;
use tokio::net::UdpSocket;

/// Datagrams read in one call, at most.
pub const BATCH: usize = 32;
/// The room for each: larger than any question a client should send over UDP; a longer
/// datagram is cut short, and then fails to parse like any other bad question.
const ROOM: usize = 4096;

/// Buffers for reading a batch, kept from call to call.
pub struct Received {
    bufs: Vec<u8>,
    headers: MultiHeaders<SockaddrStorage>,
    /// Each datagram's length and sender (`None`: no address, so no answer).
    got: Vec<(usize, Option<SocketAddr>)>,
}

impl std::fmt::Debug for Received {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Received({} datagrams)", self.got.len())
    }
}

impl Default for Received {
    fn default() -> Self {
        Received {
            bufs: vec![0; BATCH * ROOM],
            headers: MultiHeaders::preallocate(BATCH, None),
            got: Vec::with_capacity(BATCH),
        }
    }
}

fn socket_addr(s: &SockaddrStorage) -> Option<SocketAddr> {
    if let Some(v4) = s.as_sockaddr_in() {
        return Some(SocketAddr::from(*v4));
    }
    s.as_sockaddr_in6().map(|v6| SocketAddr::from(*v6))
}

impl Received {
    /// Reads what is waiting on `socket`, up to [`BATCH`] datagrams, without waiting; `Ok(0)`
    /// when nothing is. Clears the socket's readiness when it is empty, as tokio needs.
    pub fn read(&mut self, socket: &UdpSocket) -> std::io::Result<usize> {
        let Received { bufs, headers, got } = self;
        got.clear();
        let fd = socket.as_raw_fd();
        let read = socket.try_io(Interest::READABLE, || {
            let mut slices: Vec<[IoSliceMut<'_>; 1]> = bufs.chunks_mut(ROOM).map(|b| [IoSliceMut::new(b)]).collect();
            let results = recvmmsg(fd, headers, slices.iter_mut(), MsgFlags::MSG_DONTWAIT, None)?;
            got.extend(results.map(|r| (r.bytes.min(ROOM), r.address.as_ref().and_then(socket_addr))));
            Ok(())
        });
        match read {
            Ok(()) => Ok(got.len()),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => Ok(0),
            Err(e) => Err(e),
        }
    }

    /// The `i`th datagram read, and who sent it; `None` for one that cannot be answered.
    pub fn get(&self, i: usize) -> Option<(&[u8], SocketAddr)> {
        let &(len, from) = self.got.get(i)?;
        Some((self.bufs.get(i * ROOM..i * ROOM + len)?, from?))
    }
}

/// Answers waiting to be sent, in one call when the batch is done.
pub struct Outgoing {
    replies: Vec<(Vec<u8>, SocketAddr)>,
    headers: MultiHeaders<SockaddrStorage>,
}

impl std::fmt::Debug for Outgoing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Outgoing({} answers)", self.replies.len())
    }
}

impl Default for Outgoing {
    fn default() -> Self {
        Outgoing {
            replies: Vec::with_capacity(BATCH),
            headers: MultiHeaders::preallocate(BATCH, None),
        }
    }
}

impl Outgoing {
    pub fn push(&mut self, reply: Vec<u8>, to: SocketAddr) {
        self.replies.push((reply, to));
    }

    /// Sends every waiting answer: as many as the socket takes in one call, the rest (a full
    /// send buffer, or an error on one of them) one by one, waiting for room.
    pub async fn send(&mut self, socket: &UdpSocket) {
        if self.replies.is_empty() {
            return;
        }
        let fd = socket.as_raw_fd();
        let Outgoing { replies, headers } = self;
        let sent = socket
            .try_io(Interest::WRITABLE, || {
                let slices: Vec<[IoSlice<'_>; 1]> = replies.iter().map(|(r, _)| [IoSlice::new(r)]).collect();
                let addrs: Vec<Option<SockaddrStorage>> = replies.iter().map(|(_, to)| Some((*to).into())).collect();
                Ok(sendmmsg(fd, headers, slices.iter(), addrs, [], MsgFlags::MSG_DONTWAIT)?.count())
            })
            .unwrap_or(0);
        for (reply, to) in replies.drain(..).skip(sent) {
            if let Err(e) = socket.send_to(&reply, to).await {
                tracing::debug!(error = %e, "udp send failed");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_batch_is_read_whole_with_each_sender_and_every_answer_reaches_its_own_client() {
        let server = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
        let to = server.local_addr().expect("addr");
        let a = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
        let b = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
        // More than a batch, from two clients, so that a second read must pick up the rest.
        for i in 0..40u8 {
            let from = if i % 2 == 0 { &a } else { &b };
            from.send_to(&[i; 3], to).await.expect("send");
        }
        let (mut received, mut out) = (Received::default(), Outgoing::default());
        let mut seen = Vec::new();
        while seen.len() < 40 {
            server.readable().await.expect("readable");
            let n = received.read(&server).expect("read");
            assert!(n <= BATCH);
            for i in 0..n {
                let (packet, from) = received.get(i).expect("a sender");
                let want = if packet[0] % 2 == 0 { &a } else { &b };
                assert_eq!(from, want.local_addr().expect("addr"), "datagram {}", packet[0]);
                assert_eq!(packet.len(), 3);
                seen.push(packet[0]);
                out.push(vec![packet[0], 0xff], from);
            }
            out.send(&server).await;
        }
        assert_eq!(seen, (0..40).collect::<Vec<u8>>(), "each once, in order");
        assert_eq!(
            received.read(&server).expect("read"),
            0,
            "an empty socket reads nothing, and does not wait"
        );
        for (client, parity) in [(&a, 0), (&b, 1)] {
            for i in (parity..40u8).step_by(2) {
                let mut buf = [0u8; 16];
                let (n, from) = tokio::time::timeout(std::time::Duration::from_secs(5), client.recv_from(&mut buf))
                    .await
                    .expect("an answer")
                    .expect("recv");
                assert_eq!((&buf[..n], from), (&[i, 0xff][..], to));
            }
        }
    }
}
