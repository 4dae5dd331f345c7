//! The gateway's core built from a config: IPAM → NAT engine → tunnels →
//! health probes, wired into the data path's [`Shared`] and the control
//! plane's [`Daemon`]. Everything [`run`](super::run) builds before it opens
//! a TUN device or a socket or starts a thread, so tests can build two
//! gateways in one process and connect them with fakes.

use super::bulk_scheduling::{self, SchedulingStats};
use super::datapath::Shared;
use super::liveness::Heartbeats;
use super::node_flows::NodeFlows;
use super::probes::HealthState;
use super::runtime::{peer_specs, probe_targets, DaemonError};
use super::rx_moderation::{self, ModerationStats};
use super::setup::{engine_config, ipam_spec};
use super::solo::SocketOwner;
use super::status::Daemon;
use crate::config::{Config, Secrets};
use crate::state::{StateDir, FLOWS_FILE, IPAM_FILE};
use crate::tunnel::{TunnelDropCounts, TunnelLimits, Tunnels};
use natcore::ipam::Ipam;
use natcore::Engine;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// One gateway without its I/O: the control plane and what the data path
/// workers share.
pub struct Core {
    /// Status, reload and IPAM persistence (gwctl's and Prometheus' view).
    pub daemon: Arc<Daemon>,
    /// The NAT engine, the tunnels and the health probes.
    pub shared: Arc<Shared>,
}

impl Core {
    /// Builds the core for `config` (read from `config_path`, which reloads
    /// read again). Global IPs saved in `state` are re-reserved (conflicts are
    /// logged) and the allocations written back; NAT flows saved by the last
    /// graceful stop are imported at `now` and their file removed, so a crash
    /// later cannot resurrect them.
    pub fn build(
        config_path: &Path,
        config: &Config,
        secrets: &Secrets,
        state: &StateDir,
        now: Instant,
    ) -> Result<Core, DaemonError> {
        let state_err = |source| DaemonError::State {
            path: config.state_dir.clone(),
            source,
        };
        // The environment first: a bad setting must not cost the saved NAT
        // flows, which are read (and the file removed) below.
        let rx_nap = rx_moderation::nap_from_env().map_err(DaemonError::Environment)?;
        let socket_owner = SocketOwner::new(SocketOwner::enabled_from_env())?;

        // Global IPs: re-reserve what the state file says, report conflicts.
        let saved = state.read(IPAM_FILE).map_err(state_err)?;
        let (ipam, notices) = Ipam::reconcile(ipam_spec(config), saved.as_deref())?;
        for notice in &notices {
            tracing::warn!("{notice}");
        }
        let daemon = Arc::new(Daemon::new(
            config_path,
            config.clone(),
            secrets.public_key,
            ipam,
            state.clone(),
        ));
        daemon.save_ipam();

        let engine = Arc::new(Engine::new(engine_config(config), Arc::new(daemon.plan())));
        if let Some(bytes) = state.read(FLOWS_FILE).map_err(state_err)? {
            match natcore::nat::flows_from_bytes(&bytes) {
                Ok(records) => {
                    let report = engine.import_flows(now, &records);
                    tracing::info!(
                        imported = report.imported,
                        skipped = report.skipped.len(),
                        "restored NAT flows from the last graceful stop"
                    );
                }
                Err(e) => {
                    tracing::warn!(error = %e, "saved NAT flows unreadable; starting with an empty table")
                }
            }
            // Used once: a crash later must not resurrect stale flows.
            if let Err(e) = state.remove(FLOWS_FILE) {
                tracing::warn!(error = %e, "could not remove the consumed flow file");
            }
        }

        // The TUN hands us packets up to its MTU: carry them all (the
        // default assumes a 1500-byte underlay). A new MTU needs a restart.
        let limits = TunnelLimits {
            max_packet_len: usize::from(config.tunnel.mtu),
            ..TunnelLimits::default()
        };
        let tunnels = Arc::new(
            Tunnels::new(
                *secrets.private_key.as_bytes(),
                limits,
                peer_specs(config, secrets),
            )
            .map_err(|e| DaemonError::Tunnel(e.to_string()))?,
        );
        let mut health = HealthState::default();
        health.sync(&probe_targets(config));
        let shared = Arc::new(Shared {
            engine,
            tunnels,
            gateway_ip: config.globalnet.gateway_ip,
            health: Arc::new(Mutex::new(health)),
            tunnel_drops: Mutex::new(TunnelDropCounts::default()),
            scheduling: Arc::new(SchedulingStats::new(
                bulk_scheduling::availability_from_env(),
            )),
            socket_owner,
            rx_moderation: ModerationStats::new(rx_nap),
            heartbeats: Heartbeats::new(Instant::now()),
            node_flows: NodeFlows::default(),
        });
        Ok(Core { daemon, shared })
    }
}
