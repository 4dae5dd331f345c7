//! The daemon's control plane: its config, IPAM and state directory, status
//! snapshots for gwctl and Prometheus, and live reload.

use super::bulk_scheduling::Availability;
use super::datapath::{tunnel_drop_counts, Shared};
use super::reload_replies::{self, ReloadReplies, REPLY_TIMEOUT};
use super::reload_summary::reload_summary;
use super::runtime::{peer_specs, probe_targets, tun_routes};
use super::setup::ipam_spec;
use super::signals::ControlEvent;
use crate::config::{Config, PeerAddressing};
use crate::io::netlink::InstalledRoutes;
use crate::keys::PublicKey;
use crate::state::{StateDir, IPAM_FILE};
use crate::status::{
    bulk_scheduling_state, ConnectionStatus, Count, DataPathView, EgressIpView, ExportView,
    GatewayStatus, IpamView, NatView, PeerView, RttView, StatusSource,
};
use crate::tunnel::PeerStatus;
use natcore::ipam::Ipam;
use natcore::nat::{Direction, TcpState, PROTOCOLS};
use natcore::wire::Protocol;
use natcore::{AddressPlan, DropReason};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How often a failed state save is retried ([`Daemon::retry_state_save`]).
pub const STATE_SAVE_RETRY: Duration = Duration::from_secs(5);

/// Mutable control-plane state, changed only by reloads.
struct Control {
    config: Config,
    ipam: Ipam,
}

/// The running gateway as the operator sees it.
pub struct Daemon {
    config_path: PathBuf,
    public_key: PublicKey,
    control: Mutex<Control>,
    state: StateDir,
    shared: OnceLock<(Arc<Shared>, String)>,
    started: Instant,
    ready: AtomicBool,
    reloads_ok: AtomicU64,
    reloads_rejected: AtomicU64,
    last_reload_error: Mutex<Option<String>>,
    state_errors: AtomicU64,
    /// The error of the latest save; None once a save succeeded. While it is
    /// set, [`Daemon::retry_state_save`] writes the allocations again.
    last_state_error: Mutex<Option<String>>,
    /// Reload requests from the admin API go through the main loop, which owns the routes.
    events: OnceLock<Sender<ControlEvent>>,
    /// Admin requests waiting for the verdict of the reload they asked for.
    reload_replies: ReloadReplies,
}

impl Daemon {
    pub fn new(
        config_path: &Path,
        config: Config,
        public_key: PublicKey,
        ipam: Ipam,
        state: StateDir,
    ) -> Self {
        Daemon {
            config_path: config_path.to_path_buf(),
            public_key,
            control: Mutex::new(Control { config, ipam }),
            state,
            shared: OnceLock::new(),
            started: Instant::now(),
            ready: AtomicBool::new(false),
            reloads_ok: AtomicU64::new(0),
            reloads_rejected: AtomicU64::new(0),
            last_reload_error: Mutex::new(None),
            state_errors: AtomicU64::new(0),
            last_state_error: Mutex::new(None),
            events: OnceLock::new(),
            reload_replies: ReloadReplies::default(),
        }
    }

    fn control(&self) -> std::sync::MutexGuard<'_, Control> {
        self.control
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn plan(&self) -> AddressPlan {
        self.control().ipam.plan()
    }

    pub fn probe_interval(&self) -> Duration {
        self.control().config.health.interval
    }

    pub fn attach(&self, shared: Arc<Shared>, tun_name: String) {
        let _ = self.shared.set((shared, tun_name));
    }

    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::SeqCst);
    }

    /// Writes the allocations; on failure keeps forwarding and reports it
    /// (the previous file stays intact: the write is atomic) until a later
    /// save succeeds.
    pub fn save_ipam(&self) {
        let bytes = self.control().ipam.to_bytes();
        let result = self.state.write_atomic(IPAM_FILE, &bytes);
        let mut last_error = self
            .last_state_error
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        match result {
            Ok(()) => {
                if last_error.take().is_some() {
                    tracing::info!(
                        path = %self.state.path(IPAM_FILE).display(),
                        "global IP allocations saved again after earlier failures"
                    );
                }
            }
            Err(e) => {
                self.state_errors.fetch_add(1, Ordering::Relaxed);
                let msg = format!("saving {}: {e}", self.state.path(IPAM_FILE).display());
                tracing::error!(
                    "{msg}; forwarding continues with the allocations in memory (retried every {}s)",
                    STATE_SAVE_RETRY.as_secs()
                );
                *last_error = Some(msg);
            }
        }
    }

    /// Saves the allocations again if the latest save failed (a full or
    /// read-only disk may have been fixed since); returns whether it tried.
    /// Without it, allocations made while the disk was full would stay
    /// unsaved until the next reload or graceful stop, and a crash in
    /// between would lose them.
    pub fn retry_state_save(&self) -> bool {
        let failed = self
            .last_state_error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_some();
        if failed {
            self.save_ipam();
        }
        failed
    }

    /// Starts the admin socket and metrics endpoint (see crate::admin, crate::metrics).
    pub fn start_operator_endpoints(
        self: &Arc<Self>,
        events: Sender<ControlEvent>,
        admin: Option<crate::admin::BoundAdminSocket>,
    ) {
        let _ = self.events.set(events);
        super::endpoints::start(self.clone(), &self.control().config, admin);
    }

    /// Re-reads the config file and applies what changed: peers (added,
    /// removed, changed — untouched peers keep their sessions), exports and
    /// egress (flows of untouched owners keep their IPs), routes and probes.
    pub fn reload(&self, routes: &mut InstalledRoutes) -> Result<String, String> {
        // Taken before the file is read: see reload_replies.
        let waiters = self.reload_replies.take();
        let result = self.try_reload(routes);
        reload_replies::answer(waiters, &result);
        match &result {
            Ok(_) => {
                self.reloads_ok.fetch_add(1, Ordering::Relaxed);
                *self
                    .last_reload_error
                    .lock()
                    .unwrap_or_else(|p| p.into_inner()) = None;
            }
            Err(e) => {
                self.reloads_rejected.fetch_add(1, Ordering::Relaxed);
                *self
                    .last_reload_error
                    .lock()
                    .unwrap_or_else(|p| p.into_inner()) = Some(e.clone());
            }
        }
        result
    }

    /// Answers `gwctl reload`s still waiting when the gateway stops.
    pub fn cancel_pending_reloads(&self) {
        self.reload_replies.close();
    }

    fn try_reload(&self, routes: &mut InstalledRoutes) -> Result<String, String> {
        let new = Config::load(&self.config_path).map_err(|e| e.to_string())?;
        let secrets = new.load_secrets().map_err(|e| e.to_string())?;
        let Some((shared, _)) = self.shared.get() else {
            return Err("the gateway is still starting".into());
        };
        let mut control = self.control();
        let old = &control.config;
        let restart_needed = [
            ("cluster_id", old.cluster_id != new.cluster_id),
            (
                "private_key_file",
                *secrets.public_key.as_bytes() != *self.public_key.as_bytes(),
            ),
            ("listen_port", old.listen_port != new.listen_port),
            ("tunnel", old.tunnel != new.tunnel),
            ("local", old.local != new.local),
            (
                "globalnet.global_cidr",
                old.globalnet.global_cidr != new.globalnet.global_cidr,
            ),
            ("nat", old.nat != new.nat),
            ("state_dir", old.state_dir != new.state_dir),
            ("admin_socket", old.admin_socket != new.admin_socket),
            ("uapi_socket", old.uapi_socket != new.uapi_socket),
            (
                "metrics_address",
                old.metrics_address != new.metrics_address,
            ),
        ];
        let fixed: Vec<&str> = restart_needed
            .iter()
            .filter(|(_, c)| *c)
            .map(|(f, _)| *f)
            .collect();
        if !fixed.is_empty() {
            return Err(format!(
                "{} changed: these take effect only on restart; nothing was applied",
                fixed.join(", ")
            ));
        }
        let summary = reload_summary(old, &new);
        let (ipam, notices) = control
            .ipam
            .update(ipam_spec(&new))
            .map_err(|e| e.to_string())?;
        // Validated: apply. Tunnels first (a failure there leaves all as it was).
        let change = shared
            .tunnels
            .set_peers(peer_specs(&new, &secrets))
            .map_err(|e| e.to_string())?;
        // That was the last step that can fail: a rejected reload has changed nothing.
        if old.remote_global_blocks() != new.remote_global_blocks()
            || old.routed_cidrs() != new.routed_cidrs()
        {
            shared
                .engine
                .set_routing(new.remote_global_blocks(), new.routed_cidrs());
        }
        shared.engine.set_plan(Arc::new(ipam.plan()));
        if let Err(e) = routes.sync(&tun_routes(&new)) {
            tracing::error!(error = %e, "routes could not be updated after reload");
        }
        if let Ok(mut health) = shared.health.lock() {
            health.sync(&probe_targets(&new));
        }
        for n in &notices {
            tracing::warn!("{n}");
        }
        control.ipam = ipam;
        control.config = new;
        drop(control);
        self.save_ipam();
        tracing::debug!(?change, "peer sessions after reload");
        Ok(summary)
    }

    fn peer_view(
        &self,
        shared: &Shared,
        config: &Config,
        info: crate::tunnel::PeerInfo,
    ) -> PeerView {
        let health = shared.health.lock().ok();
        let rtt = health
            .as_ref()
            .and_then(|h| h.stats(&info.name))
            .unwrap_or_default();
        let (buckets, sum, count) = health
            .as_ref()
            .and_then(|h| h.histogram(&info.name))
            .unwrap_or_default();
        let failures_allowed = config.health.failures_before_error;
        let globalnet = matches!(
            config.peer(&info.name).map(|p| &p.addressing),
            Some(PeerAddressing::Global(_))
        );
        let (mut status, mut reason) = match &info.status {
            PeerStatus::Connected => (ConnectionStatus::Connected, None),
            PeerStatus::Connecting => (ConnectionStatus::Connecting, None),
            PeerStatus::Error(why) => (ConnectionStatus::Error, Some(why.reason().to_string())),
        };
        if globalnet
            && status == ConnectionStatus::Connected
            && rtt.consecutive_failures > failures_allowed
        {
            status = ConnectionStatus::Error;
            reason = Some(format!(
                "{} health probes in a row unanswered (handshake is fine: check the peer's routes/filters for {})",
                rtt.consecutive_failures, info.name
            ));
        }
        let now_unix = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0);
        PeerView {
            name: info.name.clone(),
            public_key: PublicKey::from_bytes(info.public_key).to_base64(),
            endpoint: info.endpoint,
            configured_endpoint: info.configured_endpoint,
            cidrs: info.allowed_cidrs.clone(),
            globalnet,
            status,
            status_reason: reason,
            last_handshake_age_seconds: info.last_handshake.map(|d| d.as_secs_f64()),
            last_handshake_unix_seconds: info.last_handshake.map(|d| now_unix - d.as_secs_f64()),
            rx_bytes: info.stats.rx_bytes,
            tx_bytes: info.stats.tx_bytes,
            rx_packets: info.stats.rx_packets,
            tx_packets: info.stats.tx_packets,
            handshakes: info.stats.handshakes_completed,
            handshake_failures: info.stats.handshake_failures + info.stats.handshake_timeouts,
            configured_endpoint_retries: info.stats.configured_endpoint_retries,
            persistent_keepalive_seconds: info.persistent_keepalive,
            rtt: RttView {
                last_seconds: rtt.last.map(|d| d.as_secs_f64()),
                min_seconds: rtt.min.map(|d| d.as_secs_f64()),
                avg_seconds: rtt.avg.map(|d| d.as_secs_f64()),
                max_seconds: rtt.max.map(|d| d.as_secs_f64()),
                probes_sent: rtt.sent,
                probes_received: rtt.received,
                loss_ratio: rtt.loss,
                consecutive_failures: rtt.consecutive_failures,
                histogram_buckets: buckets,
                histogram_sum_seconds: sum.as_secs_f64(),
                histogram_count: count,
            },
        }
    }
}

fn protocol_label(p: Protocol) -> &'static str {
    match p {
        Protocol::Icmp => "icmp",
        Protocol::Tcp => "tcp",
        Protocol::Udp => "udp",
    }
}

fn counts<const N: usize>(values: &[u64; N], label: impl Fn(usize) -> &'static str) -> Vec<Count> {
    values
        .iter()
        .enumerate()
        .map(|(i, &value)| Count {
            label: label(i).to_string(),
            value,
        })
        .collect()
}

impl StatusSource for Daemon {
    fn status(&self) -> GatewayStatus {
        let control = self.control();
        let config = &control.config;
        let ipam = &control.ipam;
        let (peers, nat_stats, tunnel_drops, tun_name) = match self.shared.get() {
            Some((shared, tun)) => (
                shared
                    .tunnels
                    .peers()
                    .into_iter()
                    .map(|p| self.peer_view(shared, config, p))
                    .collect(),
                Some(shared.engine.stats()),
                tunnel_drop_counts(shared),
                tun.clone(),
            ),
            None => (Vec::new(), None, Vec::new(), config.tunnel.name.clone()),
        };
        let plan = ipam.plan();
        let exports = plan
            .ingress
            .iter()
            .map(|i| ExportView {
                service: i.service.clone(),
                global_ip: i.global_ip,
                target: i.target,
                headless: i.headless,
            })
            .collect();
        let ports = |ip| {
            nat_stats
                .as_ref()
                .and_then(|s| {
                    s.table
                        .egress_ports_in_use
                        .iter()
                        .find(|(g, _)| *g == ip)
                        .map(|(_, n)| *n)
                })
                .unwrap_or(0)
        };
        let mut egress: Vec<EgressIpView> = plan
            .pool
            .iter()
            .map(|&ip| EgressIpView {
                global_ip: ip,
                owner: "cluster".into(),
                sources: Vec::new(),
                ports_in_use: ports(ip),
            })
            .collect();
        for g in &plan.groups {
            egress.extend(g.ips.iter().map(|&ip| EgressIpView {
                global_ip: ip,
                owner: g.name.clone(),
                sources: g.sources.clone(),
                ports_in_use: ports(ip),
            }));
        }
        for i in plan.ingress.iter().filter(|i| i.headless) {
            egress.push(EgressIpView {
                global_ip: i.global_ip,
                owner: i.service.clone(),
                sources: vec![ipnet::Ipv4Net::from(i.target)],
                ports_in_use: ports(i.global_ip),
            });
        }
        let c = ipam.counts();
        let ipam_view = IpamView {
            cidr: Some(ipam.block()),
            cluster_egress: u64::from(c.cluster_egress),
            egress_groups: u64::from(c.egress_group),
            ingress: u64::from(c.ingress) + u64::from(c.headless_pod),
            available: u64::from(ipam.available_count()),
        };
        let nat = match &nat_stats {
            Some(s) => {
                let mut drops: Vec<Count> = DropReason::ALL
                    .iter()
                    .map(|r| Count {
                        label: r.as_str().into(),
                        value: s.drops(*r),
                    })
                    .collect();
                drops.extend(tunnel_drops.iter().map(|(l, v)| Count {
                    label: (*l).into(),
                    value: *v,
                }));
                NatView {
                    flows: counts(&s.table.live_flows, |i| protocol_label(PROTOCOLS[i])),
                    tcp_states: counts(&s.table.live_tcp, |i| TcpState::ALL[i].as_str()),
                    flows_created_total: counts(&s.totals.flows_created, |i| {
                        protocol_label(PROTOCOLS[i])
                    }),
                    flows_expired_total: counts(&s.totals.flows_expired, |i| {
                        protocol_label(PROTOCOLS[i])
                    }),
                    translations_outbound_total: s.totals.translated[Direction::Outbound as usize],
                    translations_inbound_total: s.totals.translated[Direction::Inbound as usize],
                    mss_clamped_total: s.totals.mss_clamped,
                    fragmentation_needed_sent_total: s.totals.frag_needed_sent,
                    drops_total: drops,
                    top_talkers: s
                        .table
                        .top_talkers
                        .iter()
                        .map(|(ip, n)| Count {
                            label: ip.to_string(),
                            value: *n,
                        })
                        .collect(),
                    max_flows: config.nat.max_flows as u64,
                    max_flows_per_source: config.nat.max_flows_per_source as u64,
                }
            }
            None => NatView::default(),
        };
        GatewayStatus {
            cluster_id: config.cluster_id.clone(),
            public_key: self.public_key.to_base64(),
            listen_port: config.listen_port,
            gateway_ip: config.globalnet.gateway_ip,
            global_cidr: config.globalnet.global_cidr,
            local_cidrs: config.local_cidrs(),
            tunnel_device: tun_name,
            tunnel_mtu: config.tunnel.mtu,
            uptime_seconds: self.started.elapsed().as_secs_f64(),
            // Ready means forwarding: set up, and no data-path loop stuck.
            ready: StatusSource::ready(self),
            peers,
            exports,
            egress,
            ipam: ipam_view,
            nat,
            config_reloads_ok: self.reloads_ok.load(Ordering::Relaxed),
            config_reloads_rejected: self.reloads_rejected.load(Ordering::Relaxed),
            last_reload_error: self.last_reload_error.lock().ok().and_then(|e| e.clone()),
            state_save_errors: self.state_errors.load(Ordering::Relaxed),
            last_state_error: self.last_state_error.lock().ok().and_then(|e| e.clone()),
            data_path: self
                .shared
                .get()
                .map(|(shared, _)| data_path_view(shared))
                .unwrap_or_default(),
        }
    }

    fn reload(&self) -> Result<String, String> {
        let Some(events) = self.events.get() else {
            return Err("the gateway is still starting".into());
        };
        let waiter = self.reload_replies.register();
        events
            .send(ControlEvent::Reload)
            .map_err(|_| "the gateway is stopping".to_string())?;
        waiter.wait(REPLY_TIMEOUT)
    }

    fn ready(&self) -> bool {
        self.ready.load(Ordering::SeqCst) && self.liveness().is_ok()
    }

    fn liveness(&self) -> Result<(), String> {
        match self.shared.get() {
            Some((shared, _)) => shared.heartbeats.check(Instant::now()),
            // Still starting (restoring state, creating the TUN): alive.
            None => Ok(()),
        }
    }

    fn mtu_probe(&self, peer: &str) -> Result<Option<u16>, String> {
        let (shared, _) = self.shared.get().ok_or("the gateway is still starting")?;
        let max = self.control().config.tunnel.mtu;
        super::probes::require_probe_target(&shared.health, peer)?;
        super::probes::require_session_keys(&shared.tunnels, peer)?;
        super::probes::mtu_search(&shared.health, peer, max)
    }
}

fn data_path_view(shared: &Shared) -> DataPathView {
    let scheduling = shared.scheduling.snapshot();
    DataPathView {
        bulk_scheduling: match scheduling.availability {
            Availability::Enabled => bulk_scheduling_state::ENABLED,
            Availability::Disabled => bulk_scheduling_state::DISABLED,
            Availability::Refused => bulk_scheduling_state::REFUSED,
        }
        .to_string(),
        tun_rx_bulk: scheduling.bulk,
        tun_rx_bulk_entered_total: scheduling.bulk_entered,
        longest_turn_gap_seconds: shared
            .heartbeats
            .longest_gaps()
            .iter()
            .map(|(which, gap)| (which.thread_name().to_string(), gap.as_secs_f64()))
            .collect(),
        rx_moderation_nap_us: shared
            .rx_moderation
            .nap()
            .map_or(0, |nap| nap.as_micros() as u64),
        rx_moderation_naps_total: shared.rx_moderation.naps(),
        solo: shared.socket_owner.is_solo(),
        solo_switches_total: shared.socket_owner.switches(),
    }
}
