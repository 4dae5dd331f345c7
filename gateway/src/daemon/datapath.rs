//! The data path: run-to-completion batches, one per loop turn.
//!
//! ```text
//! outbound (tun-rx):  TUN read (superpacket split) ─▶ own source? ─▶ Engine::handle_outbound
//!                     ─▶ Tunnels::encapsulate_routed (peer lock once per run) ─▶ sendmmsg
//! inbound (udp-rx):   recvmmsg ─▶ Tunnels::handle_datagram (index, decrypt, source check)
//!                     ─▶ own address? ─▶ Engine::handle_inbound ─▶ TUN write (GRO-coalesced)
//!                     (handshake messages: to the handshake thread, see super::handshakes)
//! ```
//!
//! Buffers are allocated once per worker; `now` is read once per batch; NAT
//! and tunnel counters are per worker and flushed once per batch.

use crate::health::parse_echo_reply;
use crate::io::tun::HEADROOM;
use crate::io::udp::SendBatch;
use crate::tunnel::{DatagramSink, Inbound, TunnelDrop, TunnelDropCounts, Tunnels};
use natcore::wire::Protocol;
use natcore::{Counters, Engine, Verdict};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::bulk_scheduling::SchedulingStats;
use super::liveness::Heartbeats;
use super::node_flows::NodeFlows;
use super::probes::HealthState;
use super::rx_moderation::ModerationStats;
use super::solo::SocketOwner;

/// Largest IP packet the TUN hands us after splitting, and the largest inner
/// packet a datagram can carry.
pub const MAX_PACKET: usize = 65_535;
/// Datagram slots per send batch: a full read batch plus handshake traffic.
pub const SEND_SLOTS: usize = crate::io::tun::READ_BATCH + 64;
/// WireGuard data overhead: 16 header + 16 tag.
const WG_OVERHEAD: usize = 16 + 16;

/// What the workers share.
pub struct Shared {
    pub engine: Arc<Engine>,
    pub tunnels: Arc<Tunnels>,
    /// Our own global address (TUN address, health-probe target).
    pub gateway_ip: Ipv4Addr,
    pub health: Arc<Mutex<HealthState>>,
    /// Tunnel drops summed from every worker, flushed once per batch.
    pub tunnel_drops: Mutex<TunnelDropCounts>,
    /// tun-rx's bulk scheduling, for status and metrics.
    pub scheduling: Arc<SchedulingStats>,
    /// Which thread reads the UDP socket (see [`super::solo`]).
    pub socket_owner: SocketOwner,
    /// udp-rx's receive moderation: its setting and naps.
    pub rx_moderation: ModerationStats,
    /// Each loop's last turn, for `/healthz` and `/readyz`.
    pub heartbeats: Heartbeats,
    /// TCP/UDP flows the node opened from the gateway address, whose replies
    /// may come in (see [`super::node_flows`]).
    pub node_flows: NodeFlows,
}

impl DatagramSink for SendBatch {
    fn buffer(&mut self) -> &mut [u8] {
        self.next_buffer().unwrap_or(&mut [])
    }

    fn commit(&mut self, dst: SocketAddr, len: usize) {
        // An IPv6 endpoint cannot be reached from our IPv4 socket: the
        // datagram is dropped here (the peer shows no handshake).
        let _ = SendBatch::commit(self, len, dst);
    }
}

/// Something packets can be written to (the TUN, or a test fake).
pub trait PacketOut {
    /// Writes packets, each at `HEADROOM` within its buffer whose length
    /// marks the packet's end.
    fn write_batch(&mut self, bufs: &mut [Vec<u8>]);
    /// Writes one packet (slow path).
    fn write_one(&mut self, packet: &[u8]);
}

/// Something datagrams can be sent through (the UDP socket, or a test fake).
pub trait DatagramOut {
    fn send_batch(&mut self, batch: &mut SendBatch);
}

/// Per-thread state of the outbound path.
pub struct OutboundWorker {
    counters: Counters,
    drops: TunnelDropCounts,
    reply: Vec<u8>,
    send: SendBatch,
    /// (buffer index, packet length) of packets to encrypt.
    forward: Vec<(usize, usize)>,
}

impl OutboundWorker {
    pub fn new(datagram_capacity: usize) -> Self {
        OutboundWorker {
            counters: Counters::default(),
            drops: TunnelDropCounts::default(),
            reply: vec![0; 1500],
            send: SendBatch::new(SEND_SLOTS, datagram_capacity.max(MAX_PACKET + WG_OVERHEAD)),
            forward: Vec::with_capacity(crate::io::tun::READ_BATCH),
        }
    }
}

/// Handles packets read from the TUN: `bufs[i][HEADROOM..HEADROOM + sizes[i]]`.
pub fn outbound_batch(
    shared: &Shared,
    w: &mut OutboundWorker,
    now: Instant,
    bufs: &mut [Vec<u8>],
    sizes: &[usize],
    tun: &mut impl PacketOut,
    net: &mut impl DatagramOut,
) {
    w.forward.clear();
    for (i, (buf, &size)) in bufs.iter_mut().zip(sizes).enumerate() {
        let Some(packet) = buf.get_mut(HEADROOM..HEADROOM + size) else {
            continue;
        };
        if source_of(packet) == Some(shared.gateway_ip) {
            // Our own traffic (health probes, ICMP the node generates, the
            // node's connections) is already global: no NAT. The node's TCP
            // and UDP flows are remembered so that their replies get in.
            if !is_icmp(packet) {
                shared.node_flows.note_outbound(now, packet);
            }
            w.forward.push((i, size));
            continue;
        }
        match shared
            .engine
            .handle_outbound(now, packet, &mut w.reply, &mut w.counters)
        {
            Ok(Verdict::Forward { len }) => w.forward.push((i, len)),
            Ok(Verdict::Reply { len }) => tun.write_one(&w.reply[..len]),
            Err(_) => {} // counted by the engine
        }
    }
    let packets = w
        .forward
        .iter()
        .filter_map(|&(i, len)| bufs.get(i)?.get(HEADROOM..HEADROOM + len));
    shared
        .tunnels
        .encapsulate_routed(packets, &mut w.send, &mut w.drops);
    net.send_batch(&mut w.send);
    flush(shared, &mut w.counters, &mut w.drops);
}

/// Per-thread state of the inbound path.
pub struct InboundWorker {
    counters: Counters,
    drops: TunnelDropCounts,
    reply: Vec<u8>,
    send: SendBatch,
    /// Decrypted packets waiting for one coalesced TUN write.
    tun_bufs: Vec<Vec<u8>>,
    tun_len: usize,
}

impl InboundWorker {
    pub fn new(batch: usize, datagram_capacity: usize) -> Self {
        InboundWorker {
            counters: Counters::default(),
            drops: TunnelDropCounts::default(),
            reply: vec![0; 1500],
            send: SendBatch::new(SEND_SLOTS, datagram_capacity.max(MAX_PACKET + WG_OVERHEAD)),
            tun_bufs: (0..batch)
                .map(|_| Vec::with_capacity(HEADROOM + MAX_PACKET))
                .collect(),
            tun_len: 0,
        }
    }
}

/// Handles one batch of received datagrams.
pub fn inbound_batch<'d>(
    shared: &Shared,
    w: &mut InboundWorker,
    now: Instant,
    datagrams: impl IntoIterator<Item = (SocketAddr, &'d [u8])>,
    tun: &mut impl PacketOut,
    net: &mut impl DatagramOut,
) {
    for (from, datagram) in datagrams {
        if w.tun_len == w.tun_bufs.len() {
            flush_tun(w, tun);
        }
        let buf = &mut w.tun_bufs[w.tun_len];
        buf.clear();
        buf.resize(HEADROOM + datagram.len(), 0);
        let out = &mut buf[HEADROOM..];
        match shared
            .tunnels
            .handle_datagram(from, datagram, out, &mut w.send)
        {
            Inbound::Packet { len, .. } => {
                let packet = &mut buf[HEADROOM..HEADROOM + len];
                if destination_of(packet) == Some(shared.gateway_ip) {
                    // Pings, MTU probes and ICMP errors pass; TCP and UDP
                    // only as replies to what the node opened, never as new
                    // connections to the node's services.
                    if !is_icmp(packet) && !shared.node_flows.is_reply(now, packet) {
                        w.drops.add(TunnelDrop::NotForGateway);
                        continue;
                    }
                    if let Some(reply) = parse_echo_reply(packet, shared.gateway_ip) {
                        let ours = shared
                            .health
                            .lock()
                            .map(|mut health| health.handle_echo_reply(now, &reply))
                            .unwrap_or(false);
                        if ours {
                            continue;
                        }
                    }
                    // For the node itself (e.g. a peer's health probe): the
                    // kernel answers.
                    buf.truncate(HEADROOM + len);
                    w.tun_len += 1;
                    continue;
                }
                match shared
                    .engine
                    .handle_inbound(now, packet, &mut w.reply, &mut w.counters)
                {
                    Ok(Verdict::Forward { len }) => {
                        buf.truncate(HEADROOM + len);
                        w.tun_len += 1;
                    }
                    Ok(Verdict::Reply { .. }) | Err(_) => {} // counted by the engine
                }
            }
            Inbound::Control => {}
            Inbound::Dropped(reason) => w.drops.add(reason),
        }
        if w.send.is_full() {
            net.send_batch(&mut w.send);
        }
    }
    flush_tun(w, tun);
    net.send_batch(&mut w.send);
    flush(shared, &mut w.counters, &mut w.drops);
}

fn flush_tun(w: &mut InboundWorker, tun: &mut impl PacketOut) {
    if w.tun_len > 0 {
        tun.write_batch(&mut w.tun_bufs[..w.tun_len]);
        w.tun_len = 0;
    }
}

/// Adds a worker's counts into the shared totals (once per batch).
fn flush(shared: &Shared, counters: &mut Counters, drops: &mut TunnelDropCounts) {
    shared.engine.flush(counters);
    flush_tunnel_drops(shared, drops);
}

/// Adds tunnel drops counted outside the workers above (e.g. a full
/// handshake queue) into the shared totals, and clears them.
pub fn flush_tunnel_drops(shared: &Shared, drops: &mut TunnelDropCounts) {
    if drops.total() > 0 {
        if let Ok(mut total) = shared.tunnel_drops.lock() {
            total.merge(drops);
        }
        drops.clear();
    }
}

/// Per-thread state of the timer path.
pub struct TimerWorker {
    out: SendBatch,
    drops: TunnelDropCounts,
    counters: Counters,
    /// When NAT expiry and health probes are next due.
    next_probe: Instant,
}

impl TimerWorker {
    /// The first NAT expiry and probes are due at `now`.
    pub fn new(datagram_capacity: usize, now: Instant) -> Self {
        TimerWorker {
            out: SendBatch::new(SEND_SLOTS, datagram_capacity),
            drops: TunnelDropCounts::default(),
            counters: Counters::default(),
            next_probe: now,
        }
    }
}

/// One turn of the timer thread, which calls it every ~100 ms: the tunnels'
/// timers (keepalives, handshake retries, rekeying; boringtun needs them at
/// least every 250 ms), NAT flow expiry when due; and, once
/// `probe_interval()` has passed since the last time, one health probe per
/// peer.
pub fn timers_tick(
    shared: &Shared,
    w: &mut TimerWorker,
    now: Instant,
    probe_interval: impl FnOnce() -> Duration,
    net: &mut impl DatagramOut,
) {
    shared.tunnels.update_timers(&mut w.out, &mut w.drops);
    if let Ok(mut health) = shared.health.lock() {
        // `gwctl diagnose`'s MTU probes, queued by the admin thread.
        health.send_mtu_probes(shared.gateway_ip, &shared.tunnels, &mut w.out, &mut w.drops);
    }
    send_control(net, &mut w.out);
    expire_flows(shared, now, &mut w.counters);
    if now < w.next_probe {
        return;
    }
    w.next_probe = now + probe_interval();
    if let Ok(mut health) = shared.health.lock() {
        health.probe_all(
            now,
            shared.gateway_ip,
            &shared.tunnels,
            &mut w.out,
            &mut w.drops,
        );
    }
    send_control(net, &mut w.out);
    if w.drops.total() > 0 {
        if let Ok(mut total) = shared.tunnel_drops.lock() {
            total.merge(&w.drops);
        }
        w.drops.clear();
    }
}

/// NAT sweep calls per timer tick at most: 16 × `SWEEP_BUDGET` (4,096) =
/// 65,536 flows visited per 100 ms tick, so a pass over 1M flows takes ~1.6 s
/// and an expired flow stops counting against `nat.max_flows` and the
/// per-source limit within seconds. Each call holds the flow registry for
/// ≈ 0.1–0.2 ms and releases it, so new flows are not held up.
const SWEEPS_PER_TICK: usize = 16;

/// Expires idle NAT flows and fragments: sweeps while the engine has work
/// due (`poll_timeout` ≤ now), within [`SWEEPS_PER_TICK`].
fn expire_flows(shared: &Shared, now: Instant, counters: &mut Counters) {
    for _ in 0..SWEEPS_PER_TICK {
        match shared.engine.poll_timeout() {
            Some(due) if due <= now => shared.engine.handle_timeout(now, counters),
            _ => break,
        }
    }
    shared.engine.flush(counters);
}

/// Sends datagrams the tunnel layer produced outside the data path (timers,
/// probes) through `net`.
pub fn send_control(net: &mut impl DatagramOut, batch: &mut SendBatch) {
    if !batch.is_empty() {
        net.send_batch(batch);
    }
}

fn source_of(packet: &[u8]) -> Option<Ipv4Addr> {
    let b: [u8; 4] = packet.get(12..16)?.try_into().ok()?;
    (packet.first()? >> 4 == 4).then(|| Ipv4Addr::from(b))
}

/// The IPv4 protocol byte says ICMP.
fn is_icmp(packet: &[u8]) -> bool {
    packet.get(9) == Some(&Protocol::Icmp.number())
}

fn destination_of(packet: &[u8]) -> Option<Ipv4Addr> {
    let b: [u8; 4] = packet.get(16..20)?.try_into().ok()?;
    (packet.first()? >> 4 == 4).then(|| Ipv4Addr::from(b))
}

/// Tunnel drop totals by label, for status.
pub fn tunnel_drop_counts(shared: &Shared) -> Vec<(&'static str, u64)> {
    shared
        .tunnel_drops
        .lock()
        .map(|d| d.iter().map(|(r, n)| (r.as_str(), n)).collect())
        .unwrap_or_default()
}

#[allow(dead_code)]
fn _assert_send_sync(s: &Shared) -> &(dyn Send + Sync) {
    s as &(dyn Send + Sync)
}
