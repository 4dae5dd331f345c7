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
}

fn main() -> ExitCode {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    match gateway::daemon::run(&args.config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("gateway: {e}");
            ExitCode::FAILURE
        }
    }
}
