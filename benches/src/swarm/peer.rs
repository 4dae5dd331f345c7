//! One emulated peer: a key, a boringtun `Tunn` toward the gateway, and its
//! own UDP socket (its own source port: a distinct endpoint for the gateway).

use super::SwarmError;
use boringtun::noise::errors::WireGuardError;
use boringtun::noise::{Packet, Tunn, TunnResult};
use boringtun::x25519::{PublicKey, StaticSecret};
use std::io::ErrorKind;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::time::Duration;

/// Largest datagram the swarm reads; the gateway sends handshakes,
/// keepalives and small health probes, all far below.
pub const DATAGRAM_MAX: usize = 2048;
/// `Tunn` output buffers: a datagram plus WireGuard's 16 + 16 bytes of
/// header and tag (boringtun panics on less), at least a handshake (148).
pub const OUT_MAX: usize = DATAGRAM_MAX + 16 + 16;
const WG_TYPE_HANDSHAKE_INIT: u8 = 1;

/// What the whole swarm saw, summed over peers.
#[derive(Debug, Default, Clone, Copy)]
pub struct Counts {
    pub initiations_sent: u64,
    pub datagrams_sent: u64,
    pub send_errors: u64,
    pub datagrams_received: u64,
    pub cookie_replies: u64,
    pub data_packets: u64,
    pub wireguard_errors: u64,
    pub expired: u64,
}

pub struct SwarmPeer {
    socket: UdpSocket,
    tunn: Tunn,
    /// When, from the start of the run, this peer's first session was up.
    pub handshaken_at: Option<Duration>,
}

/// Scratch buffers shared by every peer (one thread).
pub struct Buffers {
    datagram: Vec<u8>,
    out: Vec<u8>,
}

impl Default for Buffers {
    fn default() -> Self {
        Self {
            datagram: vec![0; DATAGRAM_MAX],
            out: vec![0; OUT_MAX],
        }
    }
}

impl SwarmPeer {
    pub fn new(
        index: usize,
        secret: StaticSecret,
        gateway_public: PublicKey,
        bind: IpAddr,
    ) -> Result<Self, SwarmError> {
        let socket =
            UdpSocket::bind(SocketAddr::new(bind, 0)).map_err(|source| SwarmError::Socket {
                peer: index,
                what: "bind",
                source,
            })?;
        socket
            .set_nonblocking(true)
            .map_err(|source| SwarmError::Socket {
                peer: index,
                what: "set_nonblocking",
                source,
            })?;
        // The index only has to be unique within this swarm (24 bits).
        let tunn = Tunn::new(secret, gateway_public, None, None, index as u32, None);
        Ok(Self {
            socket,
            tunn,
            handshaken_at: None,
        })
    }

    pub fn socket(&self) -> &UdpSocket {
        &self.socket
    }

    fn send(&self, packet: &[u8], gateway: SocketAddr, counts: &mut Counts) {
        if packet.first() == Some(&WG_TYPE_HANDSHAKE_INIT) {
            counts.initiations_sent += 1;
        }
        match self.socket.send_to(packet, gateway) {
            Ok(_) => counts.datagrams_sent += 1,
            Err(_) => counts.send_errors += 1,
        }
    }

    /// Starts the handshake (boringtun does nothing if one is in progress).
    pub fn initiate(&mut self, gateway: SocketAddr, bufs: &mut Buffers, counts: &mut Counts) {
        if let TunnResult::WriteToNetwork(packet) =
            self.tunn.format_handshake_initiation(&mut bufs.out, false)
        {
            self.send(packet, gateway, counts);
        }
    }

    /// Reads every datagram waiting on the socket and answers as WireGuard
    /// does (handshake completion keepalive, queued packets, cookies).
    pub fn receive(&mut self, gateway: SocketAddr, bufs: &mut Buffers, counts: &mut Counts) {
        loop {
            let (len, from) = match self.socket.recv_from(&mut bufs.datagram) {
                Ok(got) => got,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                // ICMP errors surface here (e.g. port unreachable): counted.
                Err(_) => {
                    counts.wireguard_errors += 1;
                    return;
                }
            };
            counts.datagrams_received += 1;
            let datagram = &bufs.datagram[..len];
            if matches!(
                Tunn::parse_incoming_packet(datagram),
                Ok(Packet::PacketCookieReply(_))
            ) {
                counts.cookie_replies += 1;
            }
            let mut result = self
                .tunn
                .decapsulate(Some(from.ip()), datagram, &mut bufs.out);
            // After WriteToNetwork, boringtun may hold queued packets: flush
            // with empty datagrams until Done.
            loop {
                match result {
                    TunnResult::WriteToNetwork(packet) => self.send(packet, gateway, counts),
                    TunnResult::WriteToTunnelV4(..) | TunnResult::WriteToTunnelV6(..) => {
                        counts.data_packets += 1;
                        break;
                    }
                    TunnResult::Err(_) => {
                        counts.wireguard_errors += 1;
                        break;
                    }
                    TunnResult::Done => break,
                }
                result = self.tunn.decapsulate(None, &[], &mut bufs.out);
            }
        }
    }

    /// boringtun's timers (handshake retries, keepalives): every ≤ 250 ms.
    pub fn tick(&mut self, gateway: SocketAddr, bufs: &mut Buffers, counts: &mut Counts) {
        match self.tunn.update_timers(&mut bufs.out) {
            TunnResult::WriteToNetwork(packet) => self.send(packet, gateway, counts),
            TunnResult::Err(WireGuardError::ConnectionExpired) => counts.expired += 1,
            TunnResult::Err(_) => counts.wireguard_errors += 1,
            _ => {}
        }
    }

    /// Records the first time this peer has a session; true if it has one.
    pub fn check_handshake(&mut self, elapsed: Duration) -> bool {
        if self.handshaken_at.is_none() && self.tunn.time_since_last_handshake().is_some() {
            self.handshaken_at = Some(elapsed);
        }
        self.handshaken_at.is_some()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use rand_core::OsRng;
    use std::net::Ipv4Addr;
    use std::time::Instant;

    /// A minimal responder: a boringtun `Tunn` on its own socket.
    struct Responder {
        socket: UdpSocket,
        tunn: Tunn,
    }

    impl Responder {
        fn answer(&mut self, until: Instant) {
            let mut buf = vec![0u8; DATAGRAM_MAX];
            let mut out = vec![0u8; OUT_MAX];
            self.socket
                .set_read_timeout(Some(Duration::from_millis(20)))
                .unwrap();
            while Instant::now() < until {
                let Ok((len, from)) = self.socket.recv_from(&mut buf) else {
                    continue;
                };
                let mut result = self
                    .tunn
                    .decapsulate(Some(from.ip()), &buf[..len], &mut out);
                while let TunnResult::WriteToNetwork(packet) = result {
                    self.socket.send_to(packet, from).unwrap();
                    result = self.tunn.decapsulate(None, &[], &mut out);
                }
            }
        }
    }

    #[test]
    fn completes_a_handshake_with_a_real_responder() {
        let responder_secret = StaticSecret::random_from_rng(OsRng);
        let peer_secret = StaticSecret::random_from_rng(OsRng);
        let responder_public = PublicKey::from(&responder_secret);
        let mut responder = Responder {
            socket: UdpSocket::bind("127.0.0.1:0").unwrap(),
            tunn: Tunn::new(
                responder_secret,
                PublicKey::from(&peer_secret),
                None,
                None,
                7,
                None,
            ),
        };
        let gateway = responder.socket.local_addr().unwrap();
        let mut peer =
            SwarmPeer::new(0, peer_secret, responder_public, Ipv4Addr::LOCALHOST.into()).unwrap();
        let mut bufs = Buffers::default();
        let mut counts = Counts::default();
        peer.initiate(gateway, &mut bufs, &mut counts);
        assert_eq!(counts.initiations_sent, 1);
        let start = Instant::now();
        // The responder answers the initiation in this thread, then the peer reads the reply.
        responder.answer(Instant::now() + Duration::from_millis(200));
        let deadline = Instant::now() + Duration::from_secs(2);
        while !peer.check_handshake(start.elapsed()) && Instant::now() < deadline {
            peer.receive(gateway, &mut bufs, &mut counts);
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(peer.handshaken_at.is_some(), "{counts:?}");
        assert_eq!(counts.wireguard_errors, 0);
        // The handshake response was answered with a keepalive (confirms the session).
        assert!(counts.datagrams_sent >= 2, "{counts:?}");
    }
}
