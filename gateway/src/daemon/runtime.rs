//! Running the gateway: threads and their lifecycle.

use super::core::Core;
use super::handshakes::{handshake_queue, HANDSHAKE_QUEUE_LEN};
use super::probes::gateway_ip_of;
use super::signals::{self, ControlEvent};
use super::status::STATE_SAVE_RETRY;
use super::workers::{self, TunReader, UdpReader};
use crate::config::{Config, ConfigError, PeerAddressing};
use crate::io::netlink::{ifindex, InstalledRoutes};
use crate::io::tun::{Tun, TunSettings};
use crate::io::udp::{TunnelSocket, BATCH};
use crate::state::{StateDir, FLOWS_FILE};
use crate::tunnel::PeerSpec;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

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
    #[error("admin socket: {0} (not starting a second gateway on this node)")]
    AdminSocketInUse(std::io::Error),
    #[error("environment: {0}")]
    Environment(String),
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
    let admin = super::endpoints::bind_admin(&config)?;
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
    daemon.attach(shared.clone(), tun.name().to_string());
    let (events_tx, events) = mpsc::channel();
    signals::spawn(events_tx.clone())?;
    if let Some(interval) = options.config_watch {
        super::watch::spawn(config_path.to_path_buf(), interval, events_tx.clone())?;
    }
    daemon.start_operator_endpoints(events_tx, admin);
    let reader = Arc::new(Mutex::new(TunReader::new(&shared)));
    let (handshakes, handshake_inbox) = handshake_queue(HANDSHAKE_QUEUE_LEN, BATCH);
    let udp_reader = Arc::new(Mutex::new(UdpReader::new(&shared, tun.clone(), handshakes)));
    let threads = vec![
        workers::spawn_outbound(
            shared.clone(),
            tun.clone(),
            udp.clone(),
            reader.clone(),
            udp_reader.clone(),
            stop.clone(),
        )?,
        workers::spawn_inbound(
            shared.clone(),
            udp.clone(),
            reader,
            udp_reader,
            stop.clone(),
        )?,
        workers::spawn_handshakes(
            shared.clone(),
            tun.clone(),
            udp.clone(),
            stop.clone(),
            handshake_inbox,
        )?,
        workers::spawn_timers(shared.clone(), daemon.clone(), udp.clone(), stop.clone())?,
    ];
    daemon.set_ready(true);

    // Failed state saves are retried on a clock of their own: a stream of
    // events (reloads) must not postpone them.
    let mut next_retry = Instant::now() + STATE_SAVE_RETRY;
    loop {
        match events.recv_timeout(next_retry.saturating_duration_since(Instant::now())) {
            Ok(ControlEvent::Reload) if signals::shutdown_queued(&events) => break,
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
    daemon.cancel_pending_reloads();
    stop.store(true, Ordering::SeqCst);
    join_within(threads, THREAD_STOP_WAIT);
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

/// How long shutdown waits for the worker threads before saving anyway. They
/// notice `stop` within 200 ms; one that does not is stuck (the reason a
/// liveness probe restarts us), and must not cost the NAT flows' save, which
/// has to finish inside the pod's termination grace period (30 s).
const THREAD_STOP_WAIT: Duration = Duration::from_secs(5);

/// Joins the threads that stop within `wait`; names the others in the log.
fn join_within(threads: Vec<std::thread::JoinHandle<()>>, wait: Duration) {
    let deadline = Instant::now() + wait;
    for thread in threads {
        while !thread.is_finished() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        if thread.is_finished() {
            let _ = thread.join();
        } else {
            tracing::error!(
                thread = thread.thread().name().unwrap_or("?"),
                "did not stop within {} s; saving NAT flows without waiting for it",
                wait.as_secs()
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stuck_thread_does_not_hold_up_shutdown() {
        let (release, stuck) = std::sync::mpsc::channel::<()>();
        let threads = vec![
            std::thread::spawn(|| {}),
            std::thread::spawn(move || {
                let _ = stuck.recv(); // until the test ends
            }),
        ];
        let started = Instant::now();
        join_within(threads, Duration::from_millis(200));
        let took = started.elapsed();
        assert!(
            took >= Duration::from_millis(200) && took < Duration::from_secs(2),
            "{took:?}"
        );
        drop(release);
    }
}
