//! Two complete gateway cores in one process: each built from the lab's own
//! config (deploy/lab/cluster-{a,b}.yaml) by the daemon's constructor, with
//! the real data path (`outbound_batch`, `inbound_batch`, `timers_tick`), a
//! fake TUN that records what the gateway writes, and an in-memory network
//! between the two UDP "sockets". No root, no devices, no threads.
//!
//! The fake TUN also plays the node's kernel for the one thing the gateway
//! relies on it for: answering ICMP echo requests to the gateway's own
//! address (the peer's health probes).
// Each test binary uses a different part of it; `pub` is for them, not an API.
#![allow(dead_code, unreachable_pub)]

use std::collections::VecDeque;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use gateway::config::{Config, Secrets};
use gateway::daemon::core::Core;
use gateway::daemon::datapath::{
    self, DatagramOut, InboundWorker, OutboundWorker, PacketOut, TimerWorker,
};
use gateway::io::tun::HEADROOM;
use gateway::io::udp::{SendBatch, BATCH};
use gateway::keys::PrivateKey;
use gateway::state::StateDir;
use gateway::tunnel::{PeerInfo, TunnelDrop};
use natcore::{DropReason, StatsSnapshot};

/// The lab's pods: both clusters use the same Pod CIDR.
pub const POD: Ipv4Addr = Ipv4Addr::new(10, 244, 1, 10);
/// The lab's exported ClusterIP, the same in both clusters.
pub const CLUSTER_IP: Ipv4Addr = Ipv4Addr::new(10, 96, 0, 10);
/// B's export (deploy/lab/cluster-b.yaml) and A's.
pub const B_EXPORT: &str = "shared/echo";
pub const A_EXPORT: &str = "shared/echo-a";
/// Underlay addresses, as in the lab.
pub const A_UNDERLAY: &str = "192.168.100.1:4500";
pub const B_UNDERLAY: &str = "192.168.100.2:4500";
/// Tunnel MTU of the lab configs (underlay 1500 − 80).
pub const TUNNEL_MTU: u16 = 1500 - 80;

/// A datagram on the fake underlay.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Datagram {
    pub from: SocketAddr,
    pub to: SocketAddr,
    pub bytes: Vec<u8>,
}

impl Datagram {
    /// WireGuard message type (1 initiation, 2 response, 3 cookie, 4 data).
    pub fn kind(&self) -> u8 {
        self.bytes.first().copied().unwrap_or(0)
    }

    pub fn is_initiation(&self) -> bool {
        self.kind() == 1
    }

    pub fn is_response(&self) -> bool {
        self.kind() == 2
    }
}

/// The fake UDP socket: sending appends to the network.
struct Net<'a> {
    from: SocketAddr,
    wire: &'a mut VecDeque<Datagram>,
}

impl DatagramOut for Net<'_> {
    fn send_batch(&mut self, batch: &mut SendBatch) {
        for (to, bytes) in batch.iter() {
            self.wire.push_back(Datagram {
                from: self.from,
                to,
                bytes: bytes.to_vec(),
            });
        }
        batch.clear();
    }
}

/// The fake TUN: what the gateway writes towards the cluster.
struct Tun<'a> {
    written: &'a mut Vec<Vec<u8>>,
}

impl PacketOut for Tun<'_> {
    fn write_batch(&mut self, bufs: &mut [Vec<u8>]) {
        for buf in bufs {
            self.written.push(buf[HEADROOM..].to_vec());
        }
    }

    fn write_one(&mut self, packet: &[u8]) {
        self.written.push(packet.to_vec());
    }
}

/// A directory under the target's test scratch space, removed on drop.
struct ScratchDir(PathBuf);

impl ScratchDir {
    fn new(label: &str) -> ScratchDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("core-{}-{n}-{label}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        ScratchDir(dir)
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// One gateway: the core and its workers, and what it wrote to its TUN.
pub struct Gateway {
    pub core: Core,
    pub config: Config,
    pub underlay: SocketAddr,
    /// Packets written to the TUN (towards pods and services), oldest first,
    /// except health-probe requests, which the fake kernel answered.
    pub tun: Vec<Vec<u8>>,
    /// Health-probe requests the fake kernel answered.
    pub probes_answered: usize,
    /// Answers from the fake kernel waiting to be read from the TUN.
    kernel_replies: Vec<Vec<u8>>,
    outbound: OutboundWorker,
    inbound: InboundWorker,
    timers: TimerWorker,
    _scratch: ScratchDir,
}

impl Gateway {
    /// Gateway `cluster` ("cluster-a" or "cluster-b") from the lab config,
    /// with `peer_public_key` for its placeholder and scratch paths for the
    /// lab's /run/gwlab ones. `edit` may change the YAML text.
    fn from_lab_config(
        cluster: &str,
        placeholder: &str,
        private_key: PrivateKey,
        peer_public_key: &str,
        now: Instant,
        edit: &dyn Fn(String) -> String,
    ) -> Gateway {
        let scratch = ScratchDir::new(cluster);
        let lab = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../deploy/lab")
            .join(format!("{cluster}.yaml"));
        let text = std::fs::read_to_string(&lab)
            .unwrap()
            .replace(placeholder, peer_public_key)
            .replace(
                &format!("/run/gwlab/{cluster}"),
                scratch.0.to_str().unwrap(),
            );
        let text = edit(text);
        let config_path = scratch.0.join("gateway.yaml");
        std::fs::write(&config_path, &text).unwrap();
        let config = Config::from_yaml(&text).unwrap();
        let secrets = Secrets {
            public_key: private_key.public_key(),
            private_key,
            preshared_keys: Default::default(),
        };
        let state = StateDir::open(&config.state_dir).unwrap();
        let core = Core::build(&config_path, &config, &secrets, &state, now).unwrap();
        let capacity = core.shared.tunnels.datagram_capacity();
        Gateway {
            underlay: own_underlay(cluster),
            outbound: OutboundWorker::new(capacity),
            inbound: InboundWorker::new(BATCH, capacity),
            timers: TimerWorker::new(capacity, now),
            core,
            config,
            tun: Vec::new(),
            probes_answered: 0,
            kernel_replies: Vec::new(),
            _scratch: scratch,
        }
    }

    /// The global IP of export `service`.
    pub fn export_ip(&self, service: &str) -> Ipv4Addr {
        let plan = self.core.shared.engine.plan();
        plan.ingress
            .iter()
            .find(|i| i.service == service)
            .unwrap_or_else(|| panic!("no export {service} in {plan:?}"))
            .global_ip
    }

    /// The cluster egress pool.
    pub fn egress_pool(&self) -> Vec<Ipv4Addr> {
        self.core.shared.engine.plan().pool.clone()
    }

    /// The gateway's own global address.
    pub fn gateway_ip(&self) -> Ipv4Addr {
        self.core.shared.gateway_ip
    }

    /// NAT counters (flushed by every batch).
    pub fn nat(&self) -> StatsSnapshot {
        self.core.shared.engine.stats()
    }

    pub fn nat_drops(&self, reason: DropReason) -> u64 {
        self.nat().drops(reason)
    }

    /// Tunnel drops summed from every worker.
    pub fn tunnel_drops(&self, reason: TunnelDrop) -> u64 {
        self.core.shared.tunnel_drops.lock().unwrap().get(reason)
    }

    /// The only peer, as gwctl shows it.
    pub fn peer(&self) -> PeerInfo {
        self.core.shared.tunnels.peers().remove(0)
    }

    /// Packets written to the TUN since the last call.
    pub fn take_tun(&mut self) -> Vec<Vec<u8>> {
        std::mem::take(&mut self.tun)
    }

    /// Packets read from the TUN (pods and services sending): the outbound
    /// path, as the tun-rx thread runs it.
    fn read_from_tun(&mut self, packets: &[Vec<u8>], now: Instant, wire: &mut VecDeque<Datagram>) {
        if packets.is_empty() {
            return;
        }
        let mut bufs: Vec<Vec<u8>> = packets
            .iter()
            .map(|p| {
                let mut buf = vec![0u8; HEADROOM + 65_535];
                buf[HEADROOM..HEADROOM + p.len()].copy_from_slice(p);
                buf
            })
            .collect();
        let sizes: Vec<usize> = packets.iter().map(Vec::len).collect();
        let mut tun = Tun {
            written: &mut self.tun,
        };
        let mut net = Net {
            from: self.underlay,
            wire,
        };
        datapath::outbound_batch(
            &self.core.shared,
            &mut self.outbound,
            now,
            &mut bufs,
            &sizes,
            &mut tun,
            &mut net,
        );
        self.answer_probes();
    }

    /// Datagrams received on the UDP socket: the inbound path, as the udp-rx
    /// thread runs it (one batch).
    fn receive(&mut self, datagrams: &[Datagram], now: Instant, wire: &mut VecDeque<Datagram>) {
        let mut tun = Tun {
            written: &mut self.tun,
        };
        let mut net = Net {
            from: self.underlay,
            wire,
        };
        datapath::inbound_batch(
            &self.core.shared,
            &mut self.inbound,
            now,
            datagrams.iter().map(|d| (d.from, d.bytes.as_slice())),
            &mut tun,
            &mut net,
        );
        self.answer_probes();
    }

    /// One turn of the timer thread.
    fn tick(&mut self, now: Instant, wire: &mut VecDeque<Datagram>) {
        let mut net = Net {
            from: self.underlay,
            wire,
        };
        let interval = self.config.health.interval;
        datapath::timers_tick(
            &self.core.shared,
            &mut self.timers,
            now,
            || interval,
            &mut net,
        );
    }

    /// The kernel answers echo requests to the gateway's own address.
    fn answer_probes(&mut self) {
        let own = self.gateway_ip();
        let mut kept = Vec::with_capacity(self.tun.len());
        for packet in self.tun.drain(..) {
            match echo_request_to(&packet, own) {
                Some(reply) => {
                    self.kernel_replies.push(reply);
                    self.probes_answered += 1;
                }
                None => kept.push(packet),
            }
        }
        self.tun = kept;
    }
}

fn own_underlay(cluster: &str) -> SocketAddr {
    match cluster {
        "cluster-a" => A_UNDERLAY.parse().unwrap(),
        _ => B_UNDERLAY.parse().unwrap(),
    }
}

/// The echo reply the kernel sends for `packet`, if it is an echo request
/// to `own` (IPv4 without options, ICMP type 8).
fn echo_request_to(packet: &[u8], own: Ipv4Addr) -> Option<Vec<u8>> {
    let is_request = packet.len() >= 28
        && packet[0] == 0x45
        && packet[9] == 1
        && packet[20] == 8
        && packet[16..20] == own.octets();
    if !is_request {
        return None;
    }
    let src = Ipv4Addr::new(packet[12], packet[13], packet[14], packet[15]);
    let ident = u16::from_be_bytes([packet[24], packet[25]]);
    let seq = u16::from_be_bytes([packet[26], packet[27]]);
    Some(natcore::testing::icmp_echo(
        own,
        src,
        false,
        ident,
        seq,
        &packet[28..],
    ))
}

/// Clusters A and B and the underlay between them.
pub struct Lab {
    pub a: Gateway,
    pub b: Gateway,
    pub wire: VecDeque<Datagram>,
    /// Datagrams the network lost (a filter) or no gateway listens for.
    pub lost: Vec<Datagram>,
    /// Every datagram delivered, in order.
    pub delivered: Vec<Datagram>,
    started: Instant,
}

/// Which side.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    A,
    B,
}

impl Lab {
    /// The lab's two gateways, as deploy/lab/lab configures them.
    pub fn new() -> Lab {
        Lab::with_config_edit(&|text| text)
    }

    /// Like `new`, with `edit` applied to both configs' YAML text.
    pub fn with_config_edit(edit: &dyn Fn(String) -> String) -> Lab {
        let a_key = PrivateKey::generate().unwrap();
        let b_key = PrivateKey::generate().unwrap();
        let (a_public, b_public) = (
            a_key.public_key().to_base64(),
            b_key.public_key().to_base64(),
        );
        let started = Instant::now();
        let a = Gateway::from_lab_config(
            "cluster-a",
            "@CLUSTER_B_PUBLIC_KEY@",
            a_key,
            &b_public,
            started,
            edit,
        );
        let b = Gateway::from_lab_config(
            "cluster-b",
            "@CLUSTER_A_PUBLIC_KEY@",
            b_key,
            &a_public,
            started,
            edit,
        );
        // Each side sends to where the other's config says it is.
        let endpoint = |g: &Gateway| g.config.peers[0].endpoint.as_ref().unwrap().addr;
        assert_eq!((a.underlay, b.underlay), (endpoint(&b), endpoint(&a)));
        Lab {
            a,
            b,
            wire: VecDeque::new(),
            lost: Vec::new(),
            delivered: Vec::new(),
            started,
        }
    }

    /// The data path's clock: real time, or boringtun's simulated clock
    /// (the same offset for natcore and the probes) under `simulated-time`.
    pub fn now(&self) -> Instant {
        #[cfg(feature = "simulated-time")]
        {
            self.started + gateway::tunnel::simulated_time::elapsed()
        }
        #[cfg(not(feature = "simulated-time"))]
        {
            Instant::now()
        }
    }

    pub fn side(&mut self, side: Side) -> &mut Gateway {
        match side {
            Side::A => &mut self.a,
            Side::B => &mut self.b,
        }
    }

    /// `packets` leave pods or services of `side` towards its gateway's TUN,
    /// in one read batch. Datagrams go on the wire; nothing is delivered yet.
    pub fn send(&mut self, side: Side, packets: &[Vec<u8>]) {
        let now = self.now();
        let gateway = match side {
            Side::A => &mut self.a,
            Side::B => &mut self.b,
        };
        gateway.read_from_tun(packets, now, &mut self.wire);
    }

    /// Delivers everything in flight (and what that provokes) until the
    /// network is quiet, losing what `drop` selects. Each gateway receives
    /// what is in flight for it as one batch; fake-kernel answers go out
    /// after every round.
    pub fn deliver_all_except(&mut self, mut drop: impl FnMut(&Datagram) -> bool) {
        for _ in 0..10_000 {
            self.flush_kernel_replies();
            if self.wire.is_empty() {
                return;
            }
            let now = self.now();
            let in_flight: Vec<Datagram> = self.wire.drain(..).collect();
            let mut to_a = Vec::new();
            let mut to_b = Vec::new();
            for d in in_flight {
                if drop(&d) {
                    self.lost.push(d);
                } else if d.to == self.a.underlay {
                    to_a.push(d);
                } else if d.to == self.b.underlay {
                    to_b.push(d);
                } else {
                    self.lost.push(d);
                }
            }
            if !to_a.is_empty() {
                self.a.receive(&to_a, now, &mut self.wire);
            }
            if !to_b.is_empty() {
                self.b.receive(&to_b, now, &mut self.wire);
            }
            self.delivered.extend(to_a);
            self.delivered.extend(to_b);
        }
        panic!("the network never went quiet");
    }

    pub fn deliver_all(&mut self) {
        self.deliver_all_except(|_| false);
    }

    /// Sends `packets` from `side` and delivers until quiet.
    pub fn exchange(&mut self, side: Side, packets: &[Vec<u8>]) {
        self.send(side, packets);
        self.deliver_all();
    }

    /// One turn of both gateways' timer threads.
    pub fn tick(&mut self) {
        let now = self.now();
        self.a.tick(now, &mut self.wire);
        self.b.tick(now, &mut self.wire);
    }

    fn flush_kernel_replies(&mut self) {
        let now = self.now();
        for side in [Side::A, Side::B] {
            let gateway = match side {
                Side::A => &mut self.a,
                Side::B => &mut self.b,
            };
            let replies = std::mem::take(&mut gateway.kernel_replies);
            gateway.read_from_tun(&replies, now, &mut self.wire);
        }
    }

    /// Simulated time since the lab started.
    pub fn elapsed(&self) -> Duration {
        self.now() - self.started
    }
}

/// Fields of an IPv4 TCP/UDP packet (no IP options) or ICMP echo.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fields {
    pub protocol: u8,
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    /// Ports (TCP/UDP), or (identifier, sequence) for ICMP echo.
    pub src_port: u16,
    pub dst_port: u16,
}

pub fn fields(packet: &[u8]) -> Fields {
    assert_eq!(packet[0], 0x45, "IPv4 without options");
    let word = |at: usize| u16::from_be_bytes([packet[at], packet[at + 1]]);
    let protocol = packet[9];
    let (src_port, dst_port) = match protocol {
        1 => (word(24), word(26)),
        _ => (word(20), word(22)),
    };
    Fields {
        protocol,
        src: Ipv4Addr::new(packet[12], packet[13], packet[14], packet[15]),
        dst: Ipv4Addr::new(packet[16], packet[17], packet[18], packet[19]),
        src_port,
        dst_port,
    }
}

/// The MSS option of a TCP SYN, if any.
pub fn tcp_mss(packet: &[u8]) -> Option<u16> {
    let data_offset = usize::from(packet[20 + 12] >> 4) * 4;
    let options = &packet[20 + 20..20 + data_offset];
    let mut i = 0;
    while i < options.len() {
        match options[i] {
            0 => return None,
            1 => i += 1,
            2 => return Some(u16::from_be_bytes([options[i + 2], options[i + 3]])),
            _ => i += usize::from(options.get(i + 1).copied().unwrap_or(1).max(2)),
        }
    }
    None
}

impl Lab {
    /// Encrypts inner `packets` from `side` straight to its only peer,
    /// bypassing its NAT and routing (a misbehaving or hostile peer).
    pub fn inject_inner(&mut self, side: Side, packets: &[Vec<u8>]) {
        let gateway = match side {
            Side::A => &mut self.a,
            Side::B => &mut self.b,
        };
        let tunnels = &gateway.core.shared.tunnels;
        let peer = tunnels.peers()[0].id;
        let mut batch = SendBatch::new(packets.len() + 1, tunnels.datagram_capacity());
        let mut drops = gateway::tunnel::TunnelDropCounts::default();
        tunnels.encapsulate_batch(
            peer,
            packets.iter().map(Vec::as_slice),
            &mut batch,
            &mut drops,
        );
        assert_eq!(drops.total(), 0, "{drops:?}");
        let mut net = Net {
            from: gateway.underlay,
            wire: &mut self.wire,
        };
        net.send_batch(&mut batch);
    }
}
