//! `gwctl diagnose`: the cross-cluster troubleshooting checklist, automated as
//! far as a gateway can see: readiness, tunnels (handshakes), health probes,
//! CIDR overlaps, path MTU, drops by reason, NAT limits, config and state.
//! Each failed check names the likely cause and the fix.
//!
//! The checks are pure functions of a snapshot (plus MTU probe answers), so
//! they are tested without a daemon.

use super::nat::{by_value, live_flows};
use super::render::{self, dump_line};
use super::{Exit, Output};
use crate::status::{ConnectionStatus, GatewayStatus, PeerView};
use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};

/// WireGuard re-handshakes every 120 s (REKEY_AFTER_TIME) while it sends
/// anything, keepalives included; a peer the daemon does not call connected
/// whose handshake is older than that has a tunnel problem, not a probe problem.
const REKEY_AFTER_SECONDS: f64 = 120.0;
/// WireGuard drops a session 180 s after its handshake (REJECT_AFTER_TIME):
/// with keepalives on, an older handshake means the tunnel is down whatever
/// the status says.
const REJECT_AFTER_SECONDS: f64 = 180.0;
/// Probe loss (over the prober's last 1000 probes) above which a tunnel counts
/// as lossy: 1 % already costs TCP a large share of its throughput.
const LOSS_LIMIT: f64 = 0.01;
/// A configuration drop reason is worth failing over when it is at least this
/// share of all packets handled.
const DROP_SHARE_LIMIT: f64 = 0.01;
/// NAT table (or one source's share of it) this full is a problem about to happen.
const NAT_FULL_RATIO: f64 = 0.8;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Pass,
    Fail,
    /// Could not be checked (nothing to check, or the check was turned off).
    Skip,
}

impl Outcome {
    fn mark(self) -> &'static str {
        match self {
            Outcome::Pass => "✓",
            Outcome::Fail => "✗",
            Outcome::Skip => "-",
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Outcome::Pass => "pass",
            Outcome::Fail => "fail",
            Outcome::Skip => "skip",
        }
    }
}

/// One checklist item.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Check {
    /// Stable identifier: ready, tunnels, health, cidr_overlap, mtu, drops, nat_limits, config.
    pub id: String,
    pub outcome: Outcome,
    pub summary: String,
    /// One line per peer / block / reason involved.
    pub details: Vec<String>,
    pub cause: Option<String>,
    pub fix: Option<String>,
}

impl Check {
    fn new(id: &str, outcome: Outcome, summary: String) -> Self {
        Check {
            id: id.to_string(),
            outcome,
            summary,
            details: Vec::new(),
            cause: None,
            fix: None,
        }
    }

    fn details(mut self, details: Vec<String>) -> Self {
        self.details = details;
        self
    }

    fn cause_fix(mut self, cause: &str, fix: &str) -> Self {
        self.cause = Some(cause.to_string());
        self.fix = Some(fix.to_string());
        self
    }
}

/// `gwctl diagnose -o json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub cluster_id: String,
    /// False when any check failed.
    pub ok: bool,
    pub checks: Vec<Check>,
}

impl Report {
    pub fn exit(&self) -> Exit {
        if self.ok {
            Exit::Ok
        } else {
            Exit::Failed
        }
    }
}

/// Answers an MTU probe for one peer: the largest IP packet size that passed.
pub type MtuProber<'a> = dyn FnMut(&str) -> Result<Option<u16>, String> + 'a;

/// Runs every check. `probe` is None when MTU probing is turned off.
pub fn diagnose(status: &GatewayStatus, probe: Option<&mut MtuProber<'_>>) -> Report {
    let checks = vec![
        ready(status),
        tunnels(status),
        health(status),
        cidr_overlap(status),
        mtu(status, probe),
        drops(status),
        nat_limits(status),
        config(status),
    ];
    Report {
        cluster_id: status.cluster_id.clone(),
        ok: checks.iter().all(|c| c.outcome != Outcome::Fail),
        checks,
    }
}

fn ready(s: &GatewayStatus) -> Check {
    if s.ready {
        Check::new(
            "ready",
            Outcome::Pass,
            format!(
                "gateway ready: tunnel device {} up (MTU {}), routes installed",
                s.tunnel_device, s.tunnel_mtu
            ),
        )
    } else {
        Check::new("ready", Outcome::Fail, format!("gateway not ready: tunnel device {} or its routes are not set up", s.tunnel_device))
            .cause_fix(
                "the daemon could not create the TUN device or install routes (no CAP_NET_ADMIN, /dev/net/tun missing, or a conflicting route)",
                "read the daemon's log; run it with CAP_NET_ADMIN and /dev/net/tun (see deploy/); check `ip route` for routes to peers' blocks via another device",
            )
    }
}

fn tunnels(s: &GatewayStatus) -> Check {
    if s.peers.is_empty() {
        return Check::new(
            "tunnels",
            Outcome::Skip,
            "tunnels: no peers configured".to_string(),
        );
    }
    let mut problems = Vec::new();
    let mut no_endpoint = false;
    let mut roamed = false;
    for p in &s.peers {
        let e = render::endpoint(p); // with "(config …)" when roamed
        let problem = match (p.endpoint, p.last_handshake_age_seconds) {
            (None, _) => {
                no_endpoint = true;
                Some(format!(
                    "no endpoint known, handshake {}",
                    render::age(p.last_handshake_age_seconds)
                ))
            }
            (Some(_), None) => Some(format!("never completed a handshake with {e}")),
            (Some(_), Some(age)) => {
                let overdue = p.status != ConnectionStatus::Connected && age > REKEY_AFTER_SECONDS;
                let expired =
                    p.persistent_keepalive_seconds.is_some() && age > REJECT_AFTER_SECONDS;
                (overdue || expired)
                    .then(|| format!("last handshake {} with {e}", render::age(Some(age))))
            }
        };
        if let Some(problem) = problem {
            roamed |= matches!((p.endpoint, p.configured_endpoint), (Some(used), Some(configured)) if used != configured);
            let status = match &p.status_reason {
                Some(reason) => format!("{}: {reason}", p.status.as_str()),
                None => p.status.as_str().to_string(),
            };
            problems.push(format!("{}: {problem} (status {status})", p.name));
        }
    }
    if problems.is_empty() {
        let details = s
            .peers
            .iter()
            .map(|p| {
                format!(
                    "{}: handshake {}",
                    p.name,
                    render::age(p.last_handshake_age_seconds)
                )
            })
            .collect();
        return Check::new(
            "tunnels",
            Outcome::Pass,
            match s.peers.len() {
                1 => "tunnels: the peer has an endpoint and a recent handshake".to_string(),
                n => format!("tunnels: all {n} peers have an endpoint and a recent handshake"),
            },
        )
        .details(details);
    }
    let summary = format!(
        "tunnels: {} of {} peers without a recent handshake",
        problems.len(),
        s.peers.len()
    );
    let mut cause = "UDP 4500 blocked between the gateway nodes (firewall, cloud security group, NAT), or a public key mismatch (each side must have the other's current public key)".to_string();
    let mut fix = format!(
        "open UDP {} both ways between the gateway nodes; compare the keys: `gwctl peers -o dump` on each side shows its own key on the first line and its peers' keys after",
        s.listen_port
    );
    if no_endpoint {
        cause.push_str("; a peer without an endpoint can only be reached after it contacts us");
        fix.push_str("; set peers[].endpoint for at least one side of each pair");
    }
    if roamed {
        cause.push_str("; a peer roamed to an address (\"config\" shows the configured one) that no longer answers, e.g. a NAT mapping or relay that is gone: every other handshake retry already goes to the configured endpoint");
        fix.push_str("; if the peer moved for good, set its peers[].endpoint and `gwctl reload` (used at once)");
    }
    Check::new("tunnels", Outcome::Fail, summary)
        .details(problems)
        .cause_fix(&cause, &fix)
}

fn health(s: &GatewayStatus) -> Check {
    if s.peers.is_empty() {
        return Check::new(
            "health",
            Outcome::Skip,
            "health probes: no peers configured".to_string(),
        );
    }
    let mut details = Vec::new();
    let mut failing = 0;
    for p in &s.peers {
        let r = &p.rtt;
        let figures = format!(
            "rtt avg {} max {}, loss {} ({} of {} answered)",
            render::rtt(r.avg_seconds),
            render::rtt(r.max_seconds),
            render::percent(r.loss_ratio),
            r.probes_received,
            r.probes_sent
        );
        let verdict = if r.probes_sent == 0 {
            "no probes sent yet"
        } else if r.probes_received == 0 {
            failing += 1;
            "no probe ever answered"
        } else if r.loss_ratio > LOSS_LIMIT {
            failing += 1;
            "lossy"
        } else {
            "ok"
        };
        details.push(format!("{}: {verdict}: {figures}", p.name));
    }
    if failing == 0 {
        return Check::new(
            "health",
            Outcome::Pass,
            "health probes: answered".to_string(),
        )
        .details(details);
    }
    Check::new(
        "health",
        Outcome::Fail,
        format!("health probes: {failing} of {} peers lose probes (limit {})", s.peers.len(), render::percent(LOSS_LIMIT)),
    )
    .details(details)
    .cause_fix(
        "probes are ICMP echoes to the peer gateway's global address through the tunnel: the tunnel is down (see tunnels), the peer's gateway is not ready, or the path drops or corrupts packets",
        "if the handshake is recent, run `gwctl diagnose` on the peer and check the underlay for loss (e.g. `mtr` between the gateway nodes)",
    )
}

/// Address blocks whose overlap breaks routing: ours (global block and local
/// Pod/Service CIDRs) and each peer's.
fn cidr_overlap(s: &GatewayStatus) -> Check {
    let mut blocks: Vec<(String, Ipv4Net, &'static str)> =
        vec![("our global block".to_string(), s.global_cidr, "local")];
    blocks.extend(
        s.local_cidrs
            .iter()
            .map(|c| ("our local CIDR".to_string(), *c, "local-cidr")),
    );
    for p in &s.peers {
        let kind = if p.globalnet {
            "global block"
        } else {
            "routed CIDR"
        };
        blocks.extend(
            p.cidrs
                .iter()
                .map(|c| (format!("{}'s {kind}", p.name), *c, peer_kind(p))),
        );
    }
    let mut overlaps = Vec::new();
    let mut fixes: Vec<&str> = Vec::new();
    for (i, (name_a, a, kind_a)) in blocks.iter().enumerate() {
        for (name_b, b, kind_b) in &blocks[i + 1..] {
            if name_a == name_b
                || (*kind_a == "local-cidr" && *kind_b == "local-cidr")
                || !overlap(a, b)
            {
                continue;
            }
            overlaps.push(format!("{name_a} {a} overlaps {name_b} {b}"));
            let fix = match (*kind_a, *kind_b) {
                ("local", "local-cidr") => "choose a global block (globalnet.global_cidr) inside 240.0.0.0/4 that no Pod or Service CIDR uses",
                ("local-cidr", "routed") | ("local", "routed") => {
                    "the peer's routed CIDRs collide with ours (the same default Pod CIDR on both clusters?): turn on Globalnet for that peer so it is reached through its global block"
                }
                _ => "give every cluster its own global block: change the peer's block (its globalnet.global_cidr and our peers[].global_cidr) so no two overlap",
            };
            if !fixes.contains(&fix) {
                fixes.push(fix);
            }
        }
    }
    let peers_blocks: usize = s.peers.iter().map(|p| p.cidrs.len()).sum();
    if overlaps.is_empty() {
        return Check::new(
            "cidr_overlap",
            Outcome::Pass,
            format!(
                "CIDR overlaps: none among our global block {}, {} local CIDRs and {peers_blocks} peer blocks",
                s.global_cidr,
                s.local_cidrs.len()
            ),
        );
    }
    Check::new("cidr_overlap", Outcome::Fail, format!("CIDR overlaps: {} found", overlaps.len()))
        .details(overlaps)
        .cause_fix(
            "overlapping blocks make addresses ambiguous: packets for one side are routed to the other, or dropped",
            &fixes.join("; "),
        )
}

fn peer_kind(p: &PeerView) -> &'static str {
    if p.globalnet {
        "peer-global"
    } else {
        "routed"
    }
}

fn overlap(a: &Ipv4Net, b: &Ipv4Net) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

fn mtu(s: &GatewayStatus, probe: Option<&mut MtuProber<'_>>) -> Check {
    let Some(probe) = probe else {
        return Check::new(
            "mtu",
            Outcome::Skip,
            "MTU: not probed (--no-mtu-probe)".to_string(),
        );
    };
    let connected: Vec<&PeerView> = s
        .peers
        .iter()
        .filter(|p| p.status == ConnectionStatus::Connected)
        .collect();
    if connected.is_empty() {
        return Check::new(
            "mtu",
            Outcome::Skip,
            "MTU: no connected peer to probe".to_string(),
        );
    }
    let mut details = Vec::new();
    let mut short: Vec<(String, Option<u16>)> = Vec::new();
    let mut probed = 0;
    for p in connected {
        match probe(&p.name) {
            Ok(Some(size)) if size >= s.tunnel_mtu => {
                probed += 1;
                details.push(format!(
                    "{}: {size} bytes pass (tunnel MTU {})",
                    p.name, s.tunnel_mtu
                ));
            }
            Ok(largest) => {
                probed += 1;
                let passing = largest.map_or_else(
                    || "no probe size passes".to_string(),
                    |n| format!("only {n} passes"),
                );
                details.push(format!(
                    "{}: tunnel MTU {} but {passing}",
                    p.name, s.tunnel_mtu
                ));
                short.push((p.name.clone(), largest));
            }
            Err(why) => details.push(format!("{}: could not probe: {why}", p.name)),
        }
    }
    if short.is_empty() {
        let outcome = if probed == 0 {
            Outcome::Skip
        } else {
            Outcome::Pass
        };
        let summary = if probed == 0 {
            "MTU: no peer could be probed".to_string()
        } else {
            format!("MTU: packets of the tunnel MTU ({}) pass", s.tunnel_mtu)
        };
        return Check::new("mtu", outcome, summary).details(details);
    }
    let smallest = short.iter().filter_map(|(_, n)| *n).min();
    let fix = match smallest {
        Some(n) => format!(
            "tunnel MTU {} but only {n} passes → lower tunnel.mtu to {n} or fix the underlay MTU (1420 suits a 1500-byte underlay: 1500 − 80 of WireGuard over UDP/IPv6)",
            s.tunnel_mtu
        ),
        None => "no probe size passed: something drops DF packets or ICMP on the path; check the underlay (e.g. `ping -M do -s 1372` between the gateway nodes) and firewalls".to_string(),
    };
    let count = match short.len() {
        1 => "1 peer cannot".to_string(),
        n => format!("{n} peers cannot"),
    };
    Check::new("mtu", Outcome::Fail, format!("MTU: {count} carry tunnel-MTU packets"))
        .details(details)
        .cause_fix(
            "the underlay between the gateways has a smaller MTU than the tunnel assumes (cloud VPN, IPsec, VXLAN or PPPoE on the path): large packets vanish while small ones pass — intermittent timeouts on large payloads",
            &fix,
        )
}

/// What a drop reason means and what to do, for the reasons an operator can
/// act on; `None` for malformed or unsupported traffic, which is noise.
fn drop_hint(reason: &str) -> Option<&'static str> {
    Some(match reason {
        "not_exported" => "peers send to global IPs of ours that no service has: the service they want is not exported in this cluster — add it to globalnet.exports (see `gwctl exports`), or the peer uses a stale global IP",
        "no_route" => "local pods send to global addresses no peer owns: no peer's global_cidr (or routed_cidrs) holds them, or that cluster was removed (see SUBNETS in `gwctl peers`)",
        "spoofed_source" => "a peer sends packets from addresses outside its block: its global block in our config (peers[].global_cidr) differs from the one it uses (its globalnet.global_cidr)",
        "ports_exhausted" => "every egress port toward one destination is in use: add cluster_egress_ips (more pool IPs), or give the busy source its own egress group",
        "no_egress_ip" => "a local source has no egress IP: the cluster egress pool is empty — set cluster_egress_ips to 1 or more",
        "flow_limit" => "the NAT table is full: raise nat.max_flows, or find the source holding the flows (`gwctl nat`, top talkers)",
        "source_flow_limit" => "one source reached its flow limit: see top talkers in `gwctl nat`; raise nat.max_flows_per_source if the load is legitimate",
        "not_local_source" => "packets from outside our Pod/Service CIDRs reach the gateway: a Pod or Service CIDR is missing from the config (local.pod_cidrs / local.service_cidrs)",
        "not_ours" => "peers send to addresses outside our global block (raw Pod IPs, or our old block): the peer's config lists a wrong block for us, or an app uses a Pod IP instead of a global IP",
        "no_flow" => "replies arrive for egress flows that no longer exist: normal right after a restart; steady growth means flows expire too early",
        "under_load" => "handshake initiations beyond the rate limit (100 a second), answered with cookie replies instead: many peers (re)connecting at once, or a flood of initiations — see their sources with `tcpdump -ni any udp port 4500`; established tunnels carry on",
        "handshake_queue_full" => "handshake messages dropped unread: more arrive than the handshake thread answers even with cookie replies, i.e. a flood; peers retry every 5 s — find the sources (`tcpdump -ni any udp port 4500`) and filter them before the gateway",
        "bad_mac" => "handshake messages not made for our public key: a peer (find it with `tcpdump -ni any udp port 4500`) has a wrong or old public key for this cluster in its config — compare with this gateway's public key (`gwctl peers -o dump`: first line, second column)",
        "unknown_peer" => "handshakes from a public key we have no peer for (or data for a session we never had): a peer rotated its key, or a new cluster was added on its side only — update peers[].public_key here and `gwctl reload`",
        "handshake_rejected" => "handshake messages that fail after the key check: a pre-shared key that differs between the two sides, or forged messages",
        "replay" => "replayed data or handshake initiations not newer than the last: a peer whose clock stepped back (no NTP, VM snapshot) is refused until its clock passes the old value — fix its clock, or restart this gateway",
        "not_for_gateway" => "peers open TCP/UDP connections to this gateway's own global IP, which lets in only pings and replies to connections the node opened (so the node's services stay unreachable through the tunnel): something on the other side scans or misuses the gateway address",
        "too_big" => "DF packets larger than the tunnel MTU, answered with frag-needed: if senders ignore it (ICMP blocked), lower the Pod MTU",
        _ => return None,
    })
}

fn drops(s: &GatewayStatus) -> Check {
    let nonzero: Vec<_> = by_value(&s.nat.drops_total)
        .into_iter()
        .filter(|c| c.value > 0)
        .collect();
    if nonzero.is_empty() {
        return Check::new("drops", Outcome::Pass, "drops: none".to_string());
    }
    let dropped = nonzero
        .iter()
        .fold(0u64, |sum, c| sum.saturating_add(c.value));
    let handled = s
        .nat
        .translations_outbound_total
        .saturating_add(s.nat.translations_inbound_total)
        .saturating_add(dropped);
    let share = |n: u64| n as f64 / handled.max(1) as f64;
    const SHOWN: usize = 5;
    let mut details = Vec::new();
    let mut hints = Vec::new();
    let mut alarming = Vec::new();
    for c in nonzero.iter().take(SHOWN) {
        details.push(format!(
            "{}: {} packets ({} of all)",
            c.label,
            c.value,
            render::percent(share(c.value))
        ));
        if let Some(hint) = drop_hint(&c.label) {
            hints.push(format!("{}: {hint}", c.label));
            if share(c.value) >= DROP_SHARE_LIMIT {
                alarming.push(c.label.clone());
            }
        }
    }
    if nonzero.len() > SHOWN {
        details.push(format!(
            "… {} more reasons (`gwctl nat`)",
            nonzero.len() - SHOWN
        ));
    }
    let summary = format!(
        "drops: {dropped} packets since start, top reason {}",
        nonzero[0].label
    );
    let mut check = Check::new(
        "drops",
        if alarming.is_empty() {
            Outcome::Pass
        } else {
            Outcome::Fail
        },
        summary,
    )
    .details(details);
    if !alarming.is_empty() {
        check.cause = Some(format!(
            "{} at or above {} of all packets",
            alarming.join(", "),
            render::percent(DROP_SHARE_LIMIT)
        ));
    }
    if !hints.is_empty() {
        check.fix = Some(hints.join("\n"));
    }
    check
}

fn nat_limits(s: &GatewayStatus) -> Check {
    let nat = &s.nat;
    if nat.max_flows == 0 {
        return Check::new(
            "nat_limits",
            Outcome::Skip,
            "NAT limits: not reported".to_string(),
        );
    }
    let flows = live_flows(nat);
    let fill = flows as f64 / nat.max_flows as f64;
    let busiest = by_value(&nat.top_talkers).into_iter().next();
    let mut details = vec![format!(
        "{flows} of {} flows ({})",
        nat.max_flows,
        render::percent(fill)
    )];
    let mut problems = Vec::new();
    if fill >= NAT_FULL_RATIO {
        problems.push("the flow table");
    }
    if let Some(top) = &busiest {
        if nat.max_flows_per_source > 0 {
            let share = top.value as f64 / nat.max_flows_per_source as f64;
            details.push(format!(
                "busiest source {} holds {} of {} per-source flows ({})",
                top.label,
                top.value,
                nat.max_flows_per_source,
                render::percent(share)
            ));
            if share >= NAT_FULL_RATIO {
                problems.push("the busiest source's flow limit");
            }
        }
    }
    if problems.is_empty() {
        return Check::new(
            "nat_limits",
            Outcome::Pass,
            format!(
                "NAT limits: {} of the flow table in use",
                render::percent(fill)
            ),
        )
        .details(details);
    }
    Check::new(
        "nat_limits",
        Outcome::Fail,
        format!("NAT limits: {} at {}% or more", problems.join(" and "), NAT_FULL_RATIO * 100.0),
    )
    .details(details)
    .cause_fix(
        "many concurrent connections (or a client leaking them): new flows will be dropped (flow_limit / source_flow_limit)",
        "find the top talker (`gwctl nat`); if the load is legitimate raise nat.max_flows / nat.max_flows_per_source in the config and restart the gateway (a reload does not apply nat changes)",
    )
}

fn config(s: &GatewayStatus) -> Check {
    let mut details = Vec::new();
    let mut causes = Vec::new();
    let mut fixes = Vec::new();
    if let Some(e) = &s.last_reload_error {
        details.push(format!("last reload rejected: {e}"));
        causes
            .push("the config file on disk is invalid; the gateway still runs the previous config");
        fixes.push("fix the config file (`gwctl check-config FILE`) and run `gwctl reload`");
    }
    // `last_state_error` is the latest save's: None once a save succeeded
    // again (the gateway retries), which makes earlier errors history.
    if let Some(error) = &s.last_state_error {
        details.push(format!(
            "{} state save errors, last: {error}",
            s.state_save_errors
        ));
        causes.push("global IP allocations cannot be persisted (the gateway retries every few seconds): a crash now may change exported services' global IPs");
        fixes.push(
            "check that the state directory exists, is writable by the daemon and has free space",
        );
    }
    if details.is_empty() {
        let check = Check::new(
            "config",
            Outcome::Pass,
            format!(
                "config and state: {} reloads applied, {} rejected earlier, state saved",
                s.config_reloads_ok, s.config_reloads_rejected
            ),
        );
        if s.state_save_errors > 0 {
            return check.details(vec![format!(
                "{} state save errors earlier; the latest save succeeded",
                s.state_save_errors
            )]);
        }
        return check;
    }
    Check::new(
        "config",
        Outcome::Fail,
        "config and state: problems".to_string(),
    )
    .details(details)
    .cause_fix(&causes.join("; "), &fixes.join("; "))
}

pub fn render(report: &Report, output: Output) -> String {
    match output {
        Output::Json => render::json(report),
        Output::Dump => report
            .checks
            .iter()
            .map(|c| {
                dump_line(&[
                    c.id.clone(),
                    c.outcome.as_str().to_string(),
                    c.summary.clone(),
                ])
            })
            .collect(),
        Output::Table => table(report),
    }
}

fn table(report: &Report) -> String {
    let mut out = format!("diagnosing gateway {}\n\n", report.cluster_id);
    for c in &report.checks {
        out.push_str(&format!("{} {}\n", c.outcome.mark(), c.summary));
        for d in &c.details {
            out.push_str(&format!("    {d}\n"));
        }
        if c.outcome == Outcome::Fail {
            if let Some(cause) = &c.cause {
                out.push_str(&format!("    cause: {cause}\n"));
            }
        }
        // A passing drops check still explains its reasons, as hints.
        let label = match (c.outcome, c.id.as_str()) {
            (Outcome::Fail, _) => Some("fix:  "),
            (_, "drops") => Some("hint: "),
            _ => None,
        };
        if let (Some(label), Some(fix)) = (label, &c.fix) {
            for (i, line) in fix.lines().enumerate() {
                let label = if i == 0 { label } else { "      " };
                out.push_str(&format!("    {label}{line}\n"));
            }
        }
    }
    let failed = report
        .checks
        .iter()
        .filter(|c| c.outcome == Outcome::Fail)
        .count();
    out.push('\n');
    if failed == 0 {
        out.push_str("all checks passed\n");
    } else {
        let plural = if failed == 1 { "" } else { "s" };
        out.push_str(&format!(
            "{failed} check{plural} failed: see the causes and fixes above\n"
        ));
    }
    out.push_str(
        "not checked from here: cross-cluster DNS (clusterset.local), the remote service's endpoints, the peer's own view (run gwctl diagnose there too)\n",
    );
    out
}
