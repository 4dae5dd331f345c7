//! The swarm's event loop: start every peer's handshake (all at once or
//! paced), answer the gateway, run boringtun's timers, and watch both sides
//! until every peer is handshaken or the time limit passes.

use super::gateway_view::{rss_kib, Gwctl};
use super::peer::{Buffers, Counts, SwarmPeer};
use super::poll::{ensure_open_files, Poller};
use super::SwarmError;
use boringtun::x25519::{PublicKey, StaticSecret};
use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

/// boringtun wants its timers run at least every 250 ms.
const TICK: Duration = Duration::from_millis(100);
/// Longest wait in poll(): bounds how late a paced initiation or a tick is.
const POLL_WAIT: Duration = Duration::from_millis(5);

pub struct RunConfig {
    pub gateway: SocketAddr,
    pub gateway_public: PublicKey,
    pub bind: IpAddr,
    /// None: every initiation at once.
    pub initiations_per_second: Option<f64>,
    /// Give up after this long.
    pub limit: Duration,
    /// Poll the gateway's view every `gwctl_interval`.
    pub gwctl: Option<Gwctl>,
    pub gwctl_interval: Duration,
    pub gateway_pid: Option<u32>,
}

#[derive(Debug, Default)]
pub struct Outcome {
    pub peers: usize,
    /// Every peer's own session was up at this time (peers' view).
    pub peers_done_at: Option<Duration>,
    pub peers_handshaken: usize,
    /// 50th and 100th percentile of the peers' handshake times.
    pub peer_p50: Option<Duration>,
    /// When `gwctl peers` first showed every peer handshaken.
    pub gateway_done_at: Option<Duration>,
    pub gateway_handshaken: usize,
    pub gateway_configured: usize,
    pub gwctl_queries: u64,
    /// Gateway RSS when every peer was handshaken (or at the end).
    pub gateway_rss_kib: Option<u64>,
    pub counts: Counts,
    pub elapsed: Duration,
}

/// When the `i`-th initiation is due.
fn due(i: usize, rate: Option<f64>) -> Duration {
    match rate {
        Some(per_second) if per_second > 0.0 => Duration::from_secs_f64(i as f64 / per_second),
        _ => Duration::ZERO,
    }
}

pub fn run(keys: Vec<StaticSecret>, config: &RunConfig) -> Result<Outcome, SwarmError> {
    ensure_open_files(keys.len())?;
    let mut peers = keys
        .into_iter()
        .enumerate()
        .map(|(i, key)| SwarmPeer::new(i, key, config.gateway_public, config.bind))
        .collect::<Result<Vec<_>, _>>()?;
    let mut poller = Poller::new(peers.iter().map(|p| p.socket().as_raw_fd()));
    let mut bufs = Buffers::default();
    let mut outcome = Outcome {
        peers: peers.len(),
        ..Outcome::default()
    };
    let mut counts = Counts::default();
    let mut ready = Vec::new();
    let mut initiated = 0;
    let mut next_tick = TICK;
    let mut next_query = Duration::ZERO;
    let start = Instant::now();
    loop {
        let elapsed = start.elapsed();
        while initiated < peers.len() && due(initiated, config.initiations_per_second) <= elapsed {
            peers[initiated].initiate(config.gateway, &mut bufs, &mut counts);
            initiated += 1;
        }

        poller.wait(POLL_WAIT, &mut ready)?;
        for &i in &ready {
            peers[i].receive(config.gateway, &mut bufs, &mut counts);
        }

        let elapsed = start.elapsed();
        if elapsed >= next_tick {
            next_tick = elapsed + TICK;
            for peer in &mut peers[..initiated] {
                peer.tick(config.gateway, &mut bufs, &mut counts);
            }
        }
        outcome.peers_handshaken = peers
            .iter_mut()
            .map(|p| p.check_handshake(elapsed))
            .filter(|&done| done)
            .count();
        if outcome.peers_handshaken == peers.len() && outcome.peers_done_at.is_none() {
            outcome.peers_done_at = Some(elapsed);
        }

        if let Some(gwctl) = &config.gwctl {
            if elapsed >= next_query {
                next_query = elapsed + config.gwctl_interval;
                let (done, configured) = gwctl.handshaken()?;
                outcome.gwctl_queries += 1;
                outcome.gateway_handshaken = done;
                outcome.gateway_configured = configured;
                if done == configured && done >= peers.len() && outcome.gateway_done_at.is_none() {
                    // The answer reflects the state at some point of the
                    // query: take its end, the later bound.
                    outcome.gateway_done_at = Some(start.elapsed());
                }
            }
        }

        let finished = outcome.peers_done_at.is_some()
            && (config.gwctl.is_none() || outcome.gateway_done_at.is_some());
        if finished || start.elapsed() >= config.limit {
            break;
        }
    }
    outcome.elapsed = start.elapsed();
    outcome.gateway_rss_kib = config.gateway_pid.and_then(rss_kib);
    let mut times: Vec<Duration> = peers.iter().filter_map(|p| p.handshaken_at).collect();
    times.sort();
    outcome.peer_p50 = times.get(times.len() / 2).copied();
    outcome.counts = counts;
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn initiations_are_paced_by_the_rate() {
        assert_eq!(due(0, Some(100.0)), Duration::ZERO);
        assert_eq!(due(50, Some(100.0)), Duration::from_millis(500));
        assert_eq!(due(999, None), Duration::ZERO);
        assert_eq!(due(999, Some(0.0)), Duration::ZERO);
    }
}
