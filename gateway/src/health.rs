//! Peer health: like Submariner's, an ICMP echo to each peer's gateway address
//! through the tunnel every interval; more than `failures_before_error`
//! consecutive losses → `error`, and it recovers by itself on the next reply.
//!
//! The gateway builds the echo itself (from its own global IP to the peer's
//! gateway IP, the first host of the peer's block) and recognises the reply by
//! its identifier, so it needs neither a ping socket nor CAP_NET_RAW. The peer's
//! kernel answers: inbound packets for a gateway's own address go to its TUN.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

/// Echo identifier of health probes ("GW" in ASCII), so replies are told apart.
pub const PROBE_IDENT: u16 = 0x4757;
/// IPv4 header 20 + ICMP echo header 8 + 8 bytes of payload (the send sequence).
pub const PROBE_LEN: usize = 20 + 8 + 8;
/// RTT statistics window, like Submariner's 1000 samples.
const WINDOW: usize = 1000;
/// RTT histogram bucket upper bounds in seconds: 0.1 ms to 2.5 s, roughly ×2.5 per step.
pub const RTT_BUCKETS: [f64; 10] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 2.5,
];
/// A probe unanswered for this long counts as lost.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// Round-trip and loss figures for one peer.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct RttStats {
    pub last: Option<Duration>,
    pub min: Option<Duration>,
    pub avg: Option<Duration>,
    pub max: Option<Duration>,
    pub sent: u64,
    pub received: u64,
    /// Lost / sent over the window, 0.0..=1.0.
    pub loss: f64,
    pub consecutive_failures: u32,
}

/// The prober of one peer.
#[derive(Debug)]
pub struct Prober {
    seq: u16,
    outstanding: Option<(u16, Instant)>,
    samples: Vec<Duration>,
    next_sample: usize,
    /// 1 = answered, 0 = lost, for the last WINDOW probes.
    outcomes: Vec<u8>,
    next_outcome: usize,
    stats: RttStats,
    /// Counts per RTT_BUCKETS bound (not cumulative), plus the running sum.
    buckets: [u64; RTT_BUCKETS.len()],
    rtt_sum: Duration,
}

impl Default for Prober {
    fn default() -> Self {
        Self::new()
    }
}

impl Prober {
    pub fn new() -> Self {
        Prober {
            seq: 0,
            outstanding: None,
            samples: Vec::with_capacity(WINDOW),
            next_sample: 0,
            outcomes: Vec::with_capacity(WINDOW),
            next_outcome: 0,
            stats: RttStats::default(),
            buckets: [0; RTT_BUCKETS.len()],
            rtt_sum: Duration::ZERO,
        }
    }

    pub fn stats(&self) -> RttStats {
        self.stats
    }

    /// Writes the next probe into `out` (≥ PROBE_LEN bytes) and returns its
    /// length; a previous probe still unanswered is counted lost first.
    pub fn next_probe(
        &mut self,
        now: Instant,
        src: Ipv4Addr,
        dst: Ipv4Addr,
        out: &mut [u8],
    ) -> Option<usize> {
        if self.outstanding.take().is_some() {
            self.record_outcome(false);
        }
        self.seq = self.seq.wrapping_add(1);
        let len = build_echo_request(src, dst, PROBE_IDENT, self.seq, out)?;
        self.outstanding = Some((self.seq, now));
        self.stats.sent += 1;
        Some(len)
    }

    /// Counts an outstanding probe older than PROBE_TIMEOUT as lost.
    pub fn expire(&mut self, now: Instant) {
        if let Some((_, sent)) = self.outstanding {
            if now.saturating_duration_since(sent) >= PROBE_TIMEOUT {
                self.outstanding = None;
                self.record_outcome(false);
            }
        }
    }

    /// Handles an echo reply with our identifier; stale or unknown sequence
    /// numbers are ignored.
    pub fn handle_reply(&mut self, now: Instant, seq: u16) -> bool {
        match self.outstanding {
            Some((s, sent)) if s == seq => {
                self.outstanding = None;
                let rtt = now.saturating_duration_since(sent);
                self.record_rtt(rtt);
                self.record_outcome(true);
                self.stats.received += 1;
                true
            }
            _ => false,
        }
    }

    /// Cumulative histogram (upper bound, count ≤ bound), sum and count of all
    /// RTT samples since start, for Prometheus.
    pub fn histogram(&self) -> (Vec<(f64, u64)>, Duration, u64) {
        let mut cumulative = 0;
        let buckets = RTT_BUCKETS
            .iter()
            .zip(self.buckets.iter())
            .map(|(&bound, &n)| {
                cumulative += n;
                (bound, cumulative)
            })
            .collect();
        (buckets, self.rtt_sum, self.stats.received)
    }

    fn record_rtt(&mut self, rtt: Duration) {
        let secs = rtt.as_secs_f64();
        if let Some(i) = RTT_BUCKETS.iter().position(|&bound| secs <= bound) {
            self.buckets[i] += 1;
        }
        self.rtt_sum += rtt;
        if self.samples.len() < WINDOW {
            self.samples.push(rtt);
        } else {
            self.samples[self.next_sample] = rtt;
        }
        self.next_sample = (self.next_sample + 1) % WINDOW;
        let n = self.samples.len() as u32;
        let sum: Duration = self.samples.iter().sum();
        self.stats.last = Some(rtt);
        self.stats.min = self.samples.iter().min().copied();
        self.stats.max = self.samples.iter().max().copied();
        self.stats.avg = sum.checked_div(n);
    }

    fn record_outcome(&mut self, answered: bool) {
        let v = u8::from(answered);
        if self.outcomes.len() < WINDOW {
            self.outcomes.push(v);
        } else {
            self.outcomes[self.next_outcome] = v;
        }
        self.next_outcome = (self.next_outcome + 1) % WINDOW;
        let lost = self.outcomes.iter().filter(|&&o| o == 0).count();
        self.stats.loss = lost as f64 / self.outcomes.len() as f64;
        self.stats.consecutive_failures = if answered {
            0
        } else {
            self.stats.consecutive_failures.saturating_add(1)
        };
    }
}

/// An ICMP echo reply addressed to us, as far as the probes care.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EchoReply {
    pub src: Ipv4Addr,
    pub ident: u16,
    pub seq: u16,
    /// The IPv4 total length: MTU probes check the reply kept their size.
    pub total_len: u16,
    /// More-fragments set or a nonzero offset: the peer had to fragment it.
    pub fragment: bool,
}

/// If `packet` is an ICMP echo reply addressed to `own_ip`, its fields.
pub fn parse_echo_reply(packet: &[u8], own_ip: Ipv4Addr) -> Option<EchoReply> {
    let header: &[u8; 20] = packet.get(..20)?.try_into().ok()?;
    let ihl = usize::from(header[0] & 0x0f) * 4;
    let icmp = packet.get(ihl..)?;
    let is_echo_reply = header[0] >> 4 == 4 && header[9] == 1 && icmp.first() == Some(&0);
    let dst = Ipv4Addr::new(header[16], header[17], header[18], header[19]);
    if !is_echo_reply || dst != own_ip {
        return None;
    }
    let flags_offset = u16::from_be_bytes([header[6], header[7]]);
    Some(EchoReply {
        src: Ipv4Addr::new(header[12], header[13], header[14], header[15]),
        ident: u16::from_be_bytes([*icmp.get(4)?, *icmp.get(5)?]),
        seq: u16::from_be_bytes([*icmp.get(6)?, *icmp.get(7)?]),
        total_len: u16::from_be_bytes([header[2], header[3]]),
        // MF (0x2000) or a fragment offset (low 13 bits).
        fragment: flags_offset & 0x3fff != 0,
    })
}

/// If `packet` is an ICMP echo reply to one of our health probes (our
/// identifier, addressed to `own_ip`), its source and sequence number.
pub fn parse_probe_reply(packet: &[u8], own_ip: Ipv4Addr) -> Option<(Ipv4Addr, u16)> {
    let reply = parse_echo_reply(packet, own_ip)?;
    (reply.ident == PROBE_IDENT).then_some((reply.src, reply.seq))
}

/// Builds a health probe: an IPv4 ICMP echo request (DF set, TTL 64) with 8
/// bytes of payload.
pub fn build_echo_request(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    ident: u16,
    seq: u16,
    out: &mut [u8],
) -> Option<usize> {
    write_echo_request(src, dst, ident, seq, out.get_mut(..PROBE_LEN)?)
}

/// Fills all of `packet` (at least 28 bytes, at most 65535) with an IPv4 ICMP
/// echo request, DF set, TTL 64, the payload a repeated "gw-probe".
pub fn write_echo_request(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    ident: u16,
    seq: u16,
    packet: &mut [u8],
) -> Option<usize> {
    let len = packet.len();
    let total_len = u16::try_from(len).ok().filter(|&l| l >= 28)?;
    let p = packet;
    p.fill(0);
    p[0] = 0x45;
    p[2..4].copy_from_slice(&total_len.to_be_bytes());
    p[6] = 0x40; // DF: probes must not be fragmented, like the seed's `ping -M do`.
    p[8] = 64;
    p[9] = 1;
    p[12..16].copy_from_slice(&src.octets());
    p[16..20].copy_from_slice(&dst.octets());
    let ip_sum = natcore::checksum::fold(natcore::checksum::ones_complement_sum(&p[..20], 0));
    p[10..12].copy_from_slice(&ip_sum.to_be_bytes());
    p[20] = 8; // echo request
    p[24..26].copy_from_slice(&ident.to_be_bytes());
    p[26..28].copy_from_slice(&seq.to_be_bytes());
    for (byte, fill) in p[28..].iter_mut().zip(b"gw-probe".iter().cycle()) {
        *byte = *fill;
    }
    let icmp_sum = natcore::checksum::fold(natcore::checksum::ones_complement_sum(&p[20..], 0));
    p[22..24].copy_from_slice(&icmp_sum.to_be_bytes());
    Some(len)
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: Ipv4Addr = Ipv4Addr::new(242, 0, 0, 1);
    const B: Ipv4Addr = Ipv4Addr::new(243, 0, 0, 1);

    /// Turns a request into the reply a kernel would send.
    fn reply_to(request: &[u8]) -> Vec<u8> {
        let mut r = request.to_vec();
        r[12..16].copy_from_slice(&B.octets());
        r[16..20].copy_from_slice(&A.octets());
        r[20] = 0;
        r
    }

    #[test]
    fn probe_reply_round_trip_measures_rtt() {
        let t0 = Instant::now();
        let mut p = Prober::new();
        let mut buf = [0u8; 64];
        let len = p.next_probe(t0, A, B, &mut buf).unwrap();
        assert!(natcore::checksum::ipv4_header_valid(&buf[..20]));
        let reply = reply_to(&buf[..len]);
        let (from, seq) = parse_probe_reply(&reply, A).unwrap();
        assert_eq!(from, B);
        assert!(p.handle_reply(t0 + Duration::from_millis(3), seq));
        let s = p.stats();
        assert_eq!(s.avg, Some(Duration::from_millis(3)));
        assert_eq!((s.sent, s.received, s.consecutive_failures), (1, 1, 0));
        assert_eq!(s.loss, 0.0);
        let (buckets, sum, count) = p.histogram();
        assert_eq!((sum, count), (Duration::from_millis(3), 1));
        assert_eq!(buckets[4], (0.0025, 0), "3 ms is above the 2.5 ms bound");
        assert_eq!(buckets[5], (0.005, 1));
        // A duplicate reply is not counted twice.
        assert!(!p.handle_reply(t0 + Duration::from_millis(4), seq));
    }

    #[test]
    fn losses_accumulate_and_recover() {
        let mut t = Instant::now();
        let mut p = Prober::new();
        let mut buf = [0u8; 64];
        for _ in 0..6 {
            p.next_probe(t, A, B, &mut buf).unwrap();
            t += Duration::from_secs(3);
            p.expire(t);
        }
        assert_eq!(p.stats().consecutive_failures, 6);
        assert_eq!(p.stats().loss, 1.0);
        let len = p.next_probe(t, A, B, &mut buf).unwrap();
        let (_, seq) = parse_probe_reply(&reply_to(&buf[..len]), A).unwrap();
        assert!(p.handle_reply(t + Duration::from_millis(1), seq));
        assert_eq!(p.stats().consecutive_failures, 0);
        assert!((p.stats().loss - 6.0 / 7.0).abs() < 1e-9);
    }

    #[test]
    fn foreign_packets_are_not_probe_replies() {
        let mut buf = [0u8; 64];
        let len = build_echo_request(B, A, 0x1234, 1, &mut buf).unwrap();
        let mut r = buf[..len].to_vec();
        r[20] = 0;
        assert_eq!(parse_probe_reply(&r, A), None, "other identifier");
        assert_eq!(parse_probe_reply(&reply_to(&buf[..len]), B), None);
        assert_eq!(parse_probe_reply(&[0x45, 0, 0], A), None, "truncated");
        assert_eq!(parse_probe_reply(&[], A), None);
    }
}
