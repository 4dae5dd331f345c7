//! The swarm's figures, as lines a person reads and `benches/scale/run`
//! copies into its report.

use super::run::Outcome;
use std::fmt::Write as _;
use std::time::Duration;

pub struct Context {
    /// The target: every peer handshaken within this time.
    pub target: Duration,
    pub initiations_per_second: Option<f64>,
    /// Gateway RSS with 0 peers configured, and with every peer configured
    /// before any handshake, as measured by the driver.
    pub baseline_rss_kib: Option<u64>,
    pub configured_rss_kib: Option<u64>,
}

fn seconds(d: Option<Duration>) -> String {
    d.map_or_else(
        || "never".to_string(),
        |d| format!("{:.3} s", d.as_secs_f64()),
    )
}

fn per_peer(rss: Option<u64>, baseline: Option<u64>, peers: usize) -> Option<String> {
    let grown = rss?.checked_sub(baseline?)?;
    Some(format!(
        "{:.1} KiB per peer ({} KiB over the 0-peer {} KiB)",
        grown as f64 / peers.max(1) as f64,
        grown,
        baseline?
    ))
}

pub fn render(o: &Outcome, c: &Context) -> String {
    let mut out = String::new();
    let pacing = c.initiations_per_second.map_or_else(
        || "all at once".to_string(),
        |rate| format!("{rate} per second"),
    );
    let _ = writeln!(out, "peers                          {}", o.peers);
    let _ = writeln!(out, "first initiations              {pacing}");
    let _ = writeln!(
        out,
        "handshaken, peers' view        {} / {} by {}  (median peer {})",
        o.peers_handshaken,
        o.peers,
        seconds(o.peers_done_at),
        seconds(o.peer_p50)
    );
    if o.gwctl_queries > 0 {
        let _ = writeln!(
            out,
            "handshaken, gateway's view     {} / {} by {}  (gwctl peers -o json, {} queries)",
            o.gateway_handshaken,
            o.gateway_configured,
            seconds(o.gateway_done_at),
            o.gwctl_queries
        );
    }
    let all_at = if o.gwctl_queries > 0 {
        o.gateway_done_at
    } else {
        o.peers_done_at
    };
    let met = all_at.is_some_and(|t| t <= c.target);
    let _ = writeln!(
        out,
        "target: all within {:.0} s       {}",
        c.target.as_secs_f64(),
        if met { "met" } else { "NOT met" }
    );
    let n = &o.counts;
    let _ = writeln!(
        out,
        "initiations sent               {} ({} retries after cookie replies or timeouts)",
        n.initiations_sent,
        n.initiations_sent.saturating_sub(o.peers as u64)
    );
    let _ = writeln!(out, "cookie replies (gateway busy)  {}", n.cookie_replies);
    let _ = writeln!(
        out,
        "datagrams sent / received      {} / {}  (send errors {}, WireGuard errors {}, data packets {})",
        n.datagrams_sent, n.datagrams_received, n.send_errors, n.wireguard_errors, n.data_packets
    );
    if let Some(rss) = o.gateway_rss_kib {
        let _ = writeln!(out, "gateway RSS, all handshaken    {rss} KiB");
        if let Some(text) = per_peer(Some(rss), c.baseline_rss_kib, o.peers) {
            let _ = writeln!(out, "memory per handshaken peer     {text}");
        }
    }
    if let Some(text) = per_peer(c.configured_rss_kib, c.baseline_rss_kib, o.peers) {
        let _ = writeln!(out, "memory per configured peer     {text}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn context() -> Context {
        Context {
            target: Duration::from_secs(10),
            initiations_per_second: None,
            baseline_rss_kib: Some(10_000),
            configured_rss_kib: Some(12_000),
        }
    }

    #[test]
    fn the_gateway_view_decides_the_target_when_polled() {
        let outcome = Outcome {
            peers: 1000,
            peers_done_at: Some(Duration::from_secs(2)),
            peers_handshaken: 1000,
            gateway_done_at: Some(Duration::from_secs(11)),
            gateway_handshaken: 1000,
            gateway_configured: 1000,
            gwctl_queries: 3,
            gateway_rss_kib: Some(14_000),
            ..Outcome::default()
        };
        let text = render(&outcome, &context());
        assert!(text.contains("NOT met"), "{text}");
        assert!(
            text.contains("4.0 KiB per peer (4000 KiB over the 0-peer 10000 KiB)"),
            "{text}"
        );
        assert!(
            text.contains("memory per configured peer     2.0 KiB"),
            "{text}"
        );
    }

    #[test]
    fn without_gwctl_the_peers_view_decides() {
        let outcome = Outcome {
            peers: 10,
            peers_done_at: Some(Duration::from_millis(300)),
            peers_handshaken: 10,
            ..Outcome::default()
        };
        let text = render(&outcome, &context());
        assert!(text.contains("target: all within 10 s       met"), "{text}");
        assert!(!text.contains("gateway's view"), "{text}");
    }
}
