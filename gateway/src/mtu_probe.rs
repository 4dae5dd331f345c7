//! `gwctl diagnose`'s MTU probe: the largest IP packet that crosses the tunnel
//! to a peer and back without fragmentation — the seed's `ping -M do -s SIZE`
//! done by the gateway itself.
//!
//! Probes are ICMP echo requests with DF set, from our gateway IP to the peer's
//! gateway IP, sized exactly and numbered by their size. The peer's kernel
//! answers with an echo of the same size; a reply it had to fragment (larger
//! than its tunnel MTU) or a probe lost on the underlay (an MTU black hole)
//! does not count. Sizes are tried in rounds, all of a round at once, each
//! round narrowing the interval between the largest size that passed and the
//! smallest that did not, so a search takes a few round trips, not one per size.

use crate::health::{write_echo_request, EchoReply};
use std::collections::BTreeSet;
use std::net::Ipv4Addr;

/// Echo identifier of MTU probes ("MT"), distinct from the health probes'.
pub const MTU_PROBE_IDENT: u16 = 0x4d54;
/// Smallest size probed: the IPv4 minimum every link must carry (RFC 791).
pub const MIN_PROBE_SIZE: u16 = 576;
/// IPv4 header 20 + ICMP echo header 8: the smallest echo request.
const ECHO_HEADER_LEN: u16 = 20 + 8;
/// Sizes per round: 16 rounds the interval 576..=1500 down to 1 byte in 3 rounds.
pub const SIZES_PER_ROUND: usize = 16;
/// Each size is sent this often per round, so one lost probe is not an MTU verdict.
pub const COPIES_PER_SIZE: usize = 2;

/// Requests waiting for the timer thread to send, and the answers so far.
#[derive(Debug, Default)]
pub struct MtuProbes {
    /// (peer gateway IP, probe size) to send.
    pending: Vec<(Ipv4Addr, u16)>,
    /// (peer gateway IP, size) of the round under way: only replies to these
    /// are recorded, so echo replies a peer sends unasked (any source its
    /// routed CIDRs allow, any size) cannot grow `passed`.
    asked: BTreeSet<(Ipv4Addr, u16)>,
    /// (peer gateway IP, size) answered with an unfragmented reply of that size.
    passed: BTreeSet<(Ipv4Addr, u16)>,
}

impl MtuProbes {
    /// Queues one round of probes to `target` (replacing answers from an earlier search).
    pub fn request(&mut self, target: Ipv4Addr, sizes: &[u16]) {
        self.finish(target);
        for &size in sizes {
            self.asked.insert((target, size));
            for _ in 0..COPIES_PER_SIZE {
                self.pending.push((target, size));
            }
        }
    }

    /// Ends a search: forgets what was asked of `target` and its answers.
    pub fn finish(&mut self, target: Ipv4Addr) {
        self.asked.retain(|(ip, _)| *ip != target);
        self.passed.retain(|(ip, _)| *ip != target);
    }

    /// The probes to send now; the queue is empty afterwards.
    pub fn take_pending(&mut self) -> Vec<(Ipv4Addr, u16)> {
        std::mem::take(&mut self.pending)
    }

    /// Records an echo reply with our MTU identifier; false if it is not one
    /// (or is a fragment, or its size differs from the size it was sent with).
    pub fn handle_reply(&mut self, reply: &EchoReply) -> bool {
        if reply.ident != MTU_PROBE_IDENT {
            return false;
        }
        let answer = (reply.src, reply.seq);
        if !reply.fragment && reply.total_len == reply.seq && self.asked.contains(&answer) {
            self.passed.insert(answer);
        }
        true
    }

    /// Sizes answered so far by `target`.
    pub fn passed(&self, target: Ipv4Addr) -> Vec<u16> {
        self.passed
            .iter()
            .filter(|(ip, _)| *ip == target)
            .map(|&(_, size)| size)
            .collect()
    }
}

/// Writes an echo request of exactly `size` bytes (IP header included), DF set,
/// sequence number = size, into `out`. None if `out` is too short or `size`
/// cannot hold the headers.
pub fn write_mtu_probe(src: Ipv4Addr, dst: Ipv4Addr, size: u16, out: &mut [u8]) -> Option<usize> {
    if size < ECHO_HEADER_LEN {
        return None;
    }
    let packet = out.get_mut(..usize::from(size))?;
    write_echo_request(src, dst, MTU_PROBE_IDENT, size, packet)
}

/// Up to SIZES_PER_ROUND sizes spread over `lo..=hi`, always including `hi`.
pub fn round_sizes(lo: u16, hi: u16) -> Vec<u16> {
    if lo > hi {
        return Vec::new();
    }
    let span = u32::from(hi - lo);
    let steps = (SIZES_PER_ROUND as u32 - 1).min(span);
    let mut sizes: Vec<u16> = (0..=steps)
        .map(|i| lo + (span * i / steps.max(1)) as u16)
        .collect();
    sizes.dedup();
    sizes
}

/// The search: `round(sizes)` sends one round and returns the sizes that
/// passed. Starts with `MIN_PROBE_SIZE..=max` and narrows until the answer is
/// exact; None when not even MIN_PROBE_SIZE passes (the tunnel is down or the
/// peer does not answer).
pub fn search(max: u16, mut round: impl FnMut(&[u16]) -> Vec<u16>) -> Option<u16> {
    let (mut passed, mut lo, mut hi) = (None::<u16>, MIN_PROBE_SIZE.min(max), max);
    let first_lo = lo;
    // Each round shrinks the interval by about SIZES_PER_ROUND; 8 rounds bound
    // a peer whose answers are inconsistent (loss) instead of looping.
    for _ in 0..8 {
        let sizes = round_sizes(lo, hi);
        if sizes.is_empty() {
            break;
        }
        let ok = round(&sizes);
        let best = sizes.iter().copied().filter(|s| ok.contains(s)).max();
        let Some(best) = best else {
            // Nothing passed: the limit is the best of an earlier round, or
            // (first round) nothing comes back at all.
            debug_assert!(passed.is_some() || lo == first_lo);
            break;
        };
        passed = Some(passed.map_or(best, |p| p.max(best)));
        // The first size above `best` in this round failed: the limit is below it.
        let next_failed = sizes.iter().copied().find(|&s| s > best);
        match next_failed {
            Some(failed) if failed > best + 1 => {
                lo = best + 1;
                hi = failed - 1;
            }
            _ => break, // best is `hi`, or its neighbour failed: exact
        }
    }
    passed
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::health::parse_echo_reply;

    /// A path that passes exactly the sizes ≤ limit.
    fn path(limit: u16, rounds: &mut usize) -> impl FnMut(&[u16]) -> Vec<u16> + '_ {
        move |sizes| {
            *rounds += 1;
            sizes.iter().copied().filter(|&s| s <= limit).collect()
        }
    }

    #[test]
    fn search_finds_the_exact_limit_in_a_few_rounds() {
        for limit in [576, 577, 1000, 1279, 1379, 1419, 1420] {
            let mut rounds = 0;
            assert_eq!(
                search(1420, path(limit, &mut rounds)),
                Some(limit),
                "limit {limit}"
            );
            assert!(rounds <= 3, "limit {limit} took {rounds} rounds");
        }
    }

    #[test]
    fn a_path_that_passes_everything_reports_the_maximum_in_one_round() {
        let mut rounds = 0;
        assert_eq!(search(1420, path(9000, &mut rounds)), Some(1420));
        assert_eq!(rounds, 1);
    }

    #[test]
    fn nothing_answered_is_none() {
        let mut rounds = 0;
        assert_eq!(search(1420, path(100, &mut rounds)), None);
        assert_eq!(rounds, 1);
    }

    #[test]
    fn round_sizes_cover_the_interval_and_end_at_hi() {
        let sizes = round_sizes(576, 1420);
        assert_eq!(sizes.len(), SIZES_PER_ROUND);
        assert_eq!((sizes[0], *sizes.last().unwrap()), (576, 1420));
        assert!(sizes.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(round_sizes(10, 12), vec![10, 11, 12]);
        assert_eq!(round_sizes(7, 7), vec![7]);
        assert!(round_sizes(8, 7).is_empty());
    }

    #[test]
    fn a_probe_has_its_size_and_the_reply_is_matched_by_size() {
        let (a, b) = (Ipv4Addr::new(242, 0, 0, 1), Ipv4Addr::new(243, 0, 0, 1));
        let mut buf = vec![0u8; 2000];
        let len = write_mtu_probe(a, b, 1400, &mut buf).unwrap();
        assert_eq!(len, 1400);
        let p = &mut buf[..len];
        assert_eq!(u16::from_be_bytes([p[2], p[3]]), 1400);
        assert_eq!(p[6] & 0x40, 0x40, "DF set");
        assert!(natcore::checksum::ipv4_header_valid(&p[..20]));
        // The kernel's reply: addresses swapped, type 0.
        p.copy_within(12..16, 16);
        p[12..16].copy_from_slice(&b.octets());
        p[20] = 0;
        let reply = parse_echo_reply(p, a).unwrap();
        let mut probes = MtuProbes::default();
        probes.request(b, &[1400]);
        assert_eq!(probes.take_pending(), vec![(b, 1400); COPIES_PER_SIZE]);
        assert!(probes.handle_reply(&reply));
        assert_eq!(probes.passed(b), vec![1400]);
        // A fragment (MF set) is an answer, but not a pass.
        let mut probes = MtuProbes::default();
        p[6] |= 0x20;
        assert!(probes.handle_reply(&parse_echo_reply(p, a).unwrap()));
        assert!(probes.passed(b).is_empty());
    }

    #[test]
    fn only_answers_to_the_round_under_way_are_kept() {
        let (a, b) = (Ipv4Addr::new(242, 0, 0, 1), Ipv4Addr::new(243, 0, 0, 1));
        let reply_of = |size: u16| {
            let mut buf = vec![0u8; 2000];
            let len = write_mtu_probe(a, b, size, &mut buf).unwrap();
            let p = &mut buf[..len];
            p.copy_within(12..16, 16);
            p[12..16].copy_from_slice(&b.octets());
            p[20] = 0;
            parse_echo_reply(p, a).unwrap()
        };
        let mut probes = MtuProbes::default();
        // Unasked replies (no search, then sizes not in the round) are
        // consumed but not kept: a peer cannot grow the set.
        for size in 600..1400 {
            assert!(probes.handle_reply(&reply_of(size)));
        }
        assert!(probes.passed(b).is_empty());
        probes.request(b, &[1000, 1400]);
        for size in [999, 1000, 1001, 1400] {
            probes.handle_reply(&reply_of(size));
        }
        assert_eq!(probes.passed(b), vec![1000, 1400]);
        probes.finish(b);
        assert!(probes.passed(b).is_empty() && probes.asked.is_empty());
    }

    #[test]
    fn sizes_too_small_or_too_large_for_the_buffer_are_refused() {
        let (a, b) = (Ipv4Addr::new(242, 0, 0, 1), Ipv4Addr::new(243, 0, 0, 1));
        let mut buf = [0u8; 100];
        assert_eq!(write_mtu_probe(a, b, 27, &mut buf), None);
        assert_eq!(write_mtu_probe(a, b, 101, &mut buf), None);
        assert_eq!(write_mtu_probe(a, b, 28, &mut buf), Some(28));
    }
}
