//! `gateway --config FILE`: the Globalnet tunnel gateway daemon.

use clap::Parser;
use std::path::PathBuf;
use std::process::ExitCode;

/// Userspace WireGuard + Globalnet double-NAT gateway for multi-cluster Kubernetes.
///
/// Reads packets from a TUN device, source-NATs them to this cluster's global
/// egress IPs, encrypts them for the peer gateway that owns the destination's
/// global block (UDP 4500), and on the way in decrypts, checks the sender's
/// block and destination-NATs exported services' global IPs.
#[derive(Parser, Debug)]
#[command(
    version,
    after_help = "Example:\n  gateway --config /etc/gateway/config/gateway.yaml\n\nSignals: SIGHUP reloads the config; SIGTERM saves NAT flows and global IPs, then exits.\nLogs: RUST_LOG=debug for more detail. Status: `gwctl peers`."
)]
struct Args {
    /// The YAML config file (see docs/configuration.md; check it with `gwctl check-config`).
    #[arg(long, short)]
    config: PathBuf,
    /// Re-read the config file when its content changes, checking every SECONDS
    /// (follows a ConfigMap's symlink swap); 0 turns the watch off.
    #[arg(long, value_name = "SECONDS", default_value_t = 2)]
    watch_interval: u64,
}

/// boringtun logs a warning per failed handshake retry (every 5 s per peer
/// while a peer is down); the gateway reports the same as peer status and
/// metrics, so only boringtun's errors reach the log unless RUST_LOG says otherwise.
const DEFAULT_LOG_FILTER: &str = "info,boringtun=error";

fn main() -> ExitCode {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(DEFAULT_LOG_FILTER)),
        )
        .with_writer(std::io::stderr)
        .init();
    let options = gateway::daemon::RunOptions {
        config_watch: (args.watch_interval > 0)
            .then(|| std::time::Duration::from_secs(args.watch_interval)),
    };
    match gateway::daemon::run_with(&args.config, options) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("gateway: {e}");
            ExitCode::FAILURE
        }
    }
}
