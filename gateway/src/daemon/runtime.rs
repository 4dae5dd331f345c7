//! Running the gateway: threads and their lifecycle.

use super::core::Core;
use super::datapath::{
    self, DatagramOut, InboundWorker, OutboundWorker, PacketOut, Shared, TimerWorker,
};
use super::handshakes::{
    handshake_queue, lower_thread_priority, HandshakeInbox, HandshakeQueue, Inbox,
    HANDSHAKE_QUEUE_LEN, HANDSHAKE_THREAD_NICE,
};
use super::probes::gateway_ip_of;
use super::signals::{self, ControlEvent};
use super::status::{Daemon, STATE_SAVE_RETRY};
use crate::config::{Config, ConfigError, PeerAddressing};
use crate::io::netlink::{ifindex, InstalledRoutes};
use crate::io::tun::{Tun, TunSettings, HEADROOM, IDEAL_BATCH_SIZE, SUPERPACKET};
use crate::io::udp::{RecvBatch, SendBatch, TunnelSocket, BATCH, MAX_DATAGRAM};
use crate::state::{StateDir, FLOWS_FILE};
use crate::tunnel::{PeerSpec, TunnelDropCounts};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tun_rs::{GROTable, InterruptEvent};

/// boringtun needs `update_timers` at least every 250 ms; 100 ms leaves slack.
const TIMER_TICK: Duration = Duration::from_millis(100);
/// How often an idle handshake thread looks at the stop flag.
const HANDSHAKE_POLL: Duration = Duration::from_millis(200);

/// Why the daemon could not start (or stopped).
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error("config: {0}")]
    Config(#[from] ConfigError),
    #[error("global IP allocation: {0}")]
    Ipam(#[from] natcore::ipam::IpamError),
    #[error("state directory {path}: {source}")]
    State {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("tunnel peers: {0}")]
    Tunnel(String),
    #[error("TUN device {name}: {source} (the gateway needs CAP_NET_ADMIN and /dev/net/tun)")]
    Tun {
        name: String,
        source: std::io::Error,
    },
    #[error("routes: {0}")]
    Routes(std::io::Error),
    #[error("UDP port {port}: {source}")]
    Udp { port: u16, source: std::io::Error },
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// Peer specs for the tunnel layer.
pub(crate) fn peer_specs(config: &Config, secrets: &crate::config::Secrets) -> Vec<PeerSpec> {
    config
        .peers
        .iter()
        .map(|p| PeerSpec {
            name: p.name.clone(),
            public_key: *p.public_key.as_bytes(),
            endpoint: p.endpoint.as_ref().map(|e| e.addr),
            allowed_cidrs: p.addressing.cidrs().to_vec(),
            persistent_keepalive: p.persistent_keepalive,
            preshared_key: secrets.preshared_key(&p.name).map(|k| *k.as_bytes()),
        })
        .collect()
}

/// (peer name, its gateway address) for every Globalnet peer: the probe targets.
pub(crate) fn probe_targets(config: &Config) -> Vec<(String, std::net::Ipv4Addr)> {
    config
        .peers
        .iter()
        .filter_map(|p| match &p.addressing {
            PeerAddressing::Global(block) => Some((p.name.clone(), gateway_ip_of(*block))),
            PeerAddressing::Routed(_) => None,
        })
        .collect()
}

/// Every destination routed into the TUN.
pub(crate) fn tun_routes(config: &Config) -> Vec<ipnet::Ipv4Net> {
    config
        .peers
        .iter()
        .flat_map(|p| p.addressing.cidrs().to_vec())
        .collect()
}

struct TunOut<'a> {
    tun: &'a Tun,
    gro: GROTable,
}

impl PacketOut for TunOut<'_> {
    fn write_batch(&mut self, bufs: &mut [Vec<u8>]) {
        if let Err(e) = self.tun.send_batch(&mut self.gro, bufs) {
            tracing::debug!(error = %e, "TUN write failed");
        }
    }

    fn write_one(&mut self, packet: &[u8]) {
        if let Err(e) = self.tun.send_one(packet) {
            tracing::debug!(error = %e, "TUN write failed");
        }
    }
}

struct UdpOut<'a>(&'a TunnelSocket);

impl DatagramOut for UdpOut<'_> {
    fn send_batch(&mut self, batch: &mut SendBatch) {
        let (_, failed) = self.0.send_batch(batch);
        if failed > 0 {
            tracing::debug!(failed, "datagrams refused by the kernel");
        }
    }
}

/// How the daemon runs, beyond its config file (command-line flags).
#[derive(Clone, Copy, Debug)]
pub struct RunOptions {
    /// Poll interval of the config file watch; None turns the watch off
    /// (SIGHUP and `gwctl reload` still work).
    pub config_watch: Option<std::time::Duration>,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            config_watch: Some(super::watch::DEFAULT_WATCH_INTERVAL),
        }
    }
}

/// Runs the gateway until SIGTERM/SIGINT, with the default options.
pub fn run(config_path: &Path) -> Result<(), DaemonError> {
    run_with(config_path, RunOptions::default())
}

/// Runs the gateway until SIGTERM/SIGINT.
pub fn run_with(config_path: &Path, options: RunOptions) -> Result<(), DaemonError> {
    let config = Config::load(config_path)?;
    let secrets = config.load_secrets()?;
    let state = StateDir::open(&config.state_dir).map_err(|source| DaemonError::State {
        path: config.state_dir.clone(),
        source,
    })?;
    let Core { daemon, shared } =
        Core::build(config_path, &config, &secrets, &state, Instant::now())?;

    let tun = Arc::new(
        Tun::create(&TunSettings {
            name: config.tunnel.name.clone(),
            mtu: config.tunnel.mtu,
            address: config.globalnet.gateway_ip,
        })
        .map_err(|source| DaemonError::Tun {
            name: config.tunnel.name.clone(),
            source,
        })?,
    );
    let mut routes = InstalledRoutes::new(ifindex(tun.name())?).map_err(DaemonError::Routes)?;
    routes
        .sync(&tun_routes(&config))
        .map_err(DaemonError::Routes)?;
    let udp =
        Arc::new(
            TunnelSocket::bind(config.listen_port).map_err(|source| DaemonError::Udp {
                port: config.listen_port,
                source,
            })?,
        );
    tracing::info!(
        cluster = %config.cluster_id,
        tun = tun.name(),
        gateway_ip = %config.globalnet.gateway_ip,
        port = config.listen_port,
        peers = config.peers.len(),
        udp_gso = udp.offloads().0,
        udp_gro = udp.offloads().1,
        "gateway up"
    );

    let stop = Arc::new(AtomicBool::new(false));
    let interrupt = Arc::new(InterruptEvent::new()?);
    daemon.attach(shared.clone(), tun.name().to_string());
    let (events_tx, events) = mpsc::channel();
    signals::spawn(events_tx.clone())?;
    if let Some(interval) = options.config_watch {
        super::watch::spawn(config_path.to_path_buf(), interval, events_tx.clone())?;
    }
    daemon.start_operator_endpoints(events_tx);
    let (handshakes, handshake_inbox) = handshake_queue(HANDSHAKE_QUEUE_LEN, BATCH);
    let threads = vec![
        spawn_outbound(
            shared.clone(),
            tun.clone(),
            udp.clone(),
            stop.clone(),
            interrupt.clone(),
        )?,
        spawn_inbound(
            shared.clone(),
            tun.clone(),
            udp.clone(),
            stop.clone(),
            handshakes,
        )?,
        spawn_handshakes(
            shared.clone(),
            tun.clone(),
            udp.clone(),
            stop.clone(),
            handshake_inbox,
        )?,
        spawn_timers(shared.clone(), daemon.clone(), udp.clone(), stop.clone())?,
    ];
    daemon.set_ready(true);

    // Failed state saves are retried on a clock of their own: a stream of
    // events (reloads) must not postpone them.
    let mut next_retry = Instant::now() + STATE_SAVE_RETRY;
    loop {
        match events.recv_timeout(next_retry.saturating_duration_since(Instant::now())) {
            Ok(ControlEvent::Reload) => match daemon.reload(&mut routes) {
                Ok(summary) => tracing::info!("config reloaded: {summary}"),
                Err(e) => tracing::error!("config reload rejected, the running config stays: {e}"),
            },
            Ok(ControlEvent::Shutdown) | Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {}
        }
        if Instant::now() >= next_retry {
            daemon.retry_state_save();
            next_retry = Instant::now() + STATE_SAVE_RETRY;
        }
    }

    tracing::info!("stopping: saving NAT flows and global IPs");
    daemon.set_ready(false);
    stop.store(true, Ordering::SeqCst);
    let _ = interrupt.trigger();
    for t in threads {
        let _ = t.join();
    }
    let records = shared.engine.export_flows(Instant::now());
    match state.write_atomic(FLOWS_FILE, &natcore::nat::flows_to_bytes(&records)) {
        Ok(()) => tracing::info!(flows = records.len(), "NAT flows saved for the next start"),
        Err(e) => tracing::error!(error = %e, "could not save NAT flows"),
    }
    daemon.save_ipam();
    drop(routes); // removes the routes
    tracing::info!("stopped");
    Ok(())
}

fn spawn_outbound(
    shared: Arc<Shared>,
    tun: Arc<Tun>,
    udp: Arc<TunnelSocket>,
    stop: Arc<AtomicBool>,
    interrupt: Arc<InterruptEvent>,
) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("tun-rx".into())
        .spawn(move || {
            let mut worker = OutboundWorker::new(shared.tunnels.datagram_capacity());
            let mut scratch = vec![0u8; SUPERPACKET];
            let mut bufs = vec![vec![0u8; HEADROOM + 65_535]; IDEAL_BATCH_SIZE];
            let mut sizes = vec![0usize; IDEAL_BATCH_SIZE];
            let mut tun_out = TunOut {
                tun: &tun,
                gro: GROTable::default(),
            };
            let mut net = UdpOut(&udp);
            while !stop.load(Ordering::Relaxed) {
                match tun.recv_batch(&mut scratch, &mut bufs, &mut sizes, &interrupt) {
                    Ok(n) => {
                        let now = Instant::now();
                        datapath::outbound_batch(
                            &shared,
                            &mut worker,
                            now,
                            &mut bufs[..n],
                            &sizes[..n],
                            &mut tun_out,
                            &mut net,
                        );
                    }
                    Err(e) if stop.load(Ordering::Relaxed) => {
                        tracing::debug!(error = %e, "TUN read interrupted for shutdown");
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "TUN read failed");
                        std::thread::sleep(Duration::from_millis(10));
                    }
                }
            }
        })
}

fn spawn_inbound(
    shared: Arc<Shared>,
    tun: Arc<Tun>,
    udp: Arc<TunnelSocket>,
    stop: Arc<AtomicBool>,
    mut handshakes: HandshakeQueue,
) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("udp-rx".into())
        .spawn(move || {
            let mut worker = InboundWorker::new(BATCH, shared.tunnels.datagram_capacity());
            let mut batch = RecvBatch::new(BATCH, MAX_DATAGRAM);
            let mut tun_out = TunOut {
                tun: &tun,
                gro: GROTable::default(),
            };
            let mut net = UdpOut(&udp);
            let mut queue_drops = TunnelDropCounts::default();
            while !stop.load(Ordering::Relaxed) {
                match udp.recv_batch(&mut batch) {
                    Ok(0) => {}
                    Ok(n) => {
                        let now = Instant::now();
                        // Handshake messages go to their own thread.
                        let datagrams = (0..n)
                            .filter_map(|i| batch.get(i))
                            .filter(|&(from, d)| !handshakes.offer(from, d, &mut queue_drops));
                        datapath::inbound_batch(
                            &shared,
                            &mut worker,
                            now,
                            datagrams,
                            &mut tun_out,
                            &mut net,
                        );
                        handshakes.hand_over(&mut queue_drops);
                        datapath::flush_tunnel_drops(&shared, &mut queue_drops);
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "UDP receive failed");
                        std::thread::sleep(Duration::from_millis(10));
                    }
                }
            }
        })
}

/// The handshake thread (see [`super::handshakes`]): the inbound path for
/// handshake messages, at a lower CPU priority than the data path.
fn spawn_handshakes(
    shared: Arc<Shared>,
    tun: Arc<Tun>,
    udp: Arc<TunnelSocket>,
    stop: Arc<AtomicBool>,
    inbox: HandshakeInbox,
) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("handshakes".into())
        .spawn(move || {
            if let Err(e) = lower_thread_priority(HANDSHAKE_THREAD_NICE) {
                tracing::warn!(error = %e, "handshake thread keeps the data path's CPU priority");
            }
            let mut worker = InboundWorker::new(BATCH, shared.tunnels.datagram_capacity());
            let mut batch = Vec::with_capacity(BATCH);
            // Handshake messages never reach the TUN; inbound_batch wants one.
            let mut tun_out = TunOut {
                tun: &tun,
                gro: GROTable::default(),
            };
            let mut net = UdpOut(&udp);
            while !stop.load(Ordering::Relaxed) {
                match inbox.recv_batch(&mut batch, BATCH, HANDSHAKE_POLL) {
                    Inbox::Messages => datapath::inbound_batch(
                        &shared,
                        &mut worker,
                        Instant::now(),
                        batch.iter().map(|m| m.datagram()),
                        &mut tun_out,
                        &mut net,
                    ),
                    Inbox::Idle => {}
                    Inbox::Closed => break,
                }
            }
        })
}

fn spawn_timers(
    shared: Arc<Shared>,
    daemon: Arc<Daemon>,
    udp: Arc<TunnelSocket>,
    stop: Arc<AtomicBool>,
) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("timers".into())
        .spawn(move || {
            let mut worker = TimerWorker::new(shared.tunnels.datagram_capacity(), Instant::now());
            let mut net = UdpOut(&udp);
            while !stop.load(Ordering::Relaxed) {
                datapath::timers_tick(
                    &shared,
                    &mut worker,
                    Instant::now(),
                    || daemon.probe_interval(),
                    &mut net,
                );
                std::thread::sleep(TIMER_TICK);
            }
        })
}
