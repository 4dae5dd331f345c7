//! Many WireGuard peers in one process, for the scale benchmark: 1,000 peers
//! configured on one gateway, all handshaken within 10 s.
//!
//!   peer_swarm keys --count 1000 --dir DIR
//!       writes DIR/swarm.keys (private keys) and DIR/peers.yaml (the
//!       gateway's `peers:` section for them)
//!   peer_swarm run --keys DIR/swarm.keys --gateway 192.168.251.1:4500 \
//!       --gateway-public-key FILE [--gwctl PATH --socket PATH] [--gateway-pid PID] ...
//!       handshakes every peer, reports how long until all were handshaken
//!       (its own view, and the gateway's through `gwctl peers -o json`)
//!
//! `benches/scale/run` drives it against a real gateway in network namespaces.

use benches::swarm::gateway_view::Gwctl;
use benches::swarm::report::{self, Context};
use benches::swarm::run::{run, RunConfig};
use benches::swarm::{keys, SwarmError};
use clap::{Args, Parser, Subcommand};
use std::net::{IpAddr, SocketAddr};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

#[derive(Parser)]
#[command(about = "Emulates many WireGuard peers against one gateway")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Generate the peers' keys and the gateway's `peers:` section
    Keys {
        #[arg(long, default_value_t = 1000)]
        count: usize,
        #[arg(long)]
        dir: PathBuf,
    },
    /// Handshake every peer with the gateway and report the times
    Run(RunArgs),
}

#[derive(Args)]
struct RunArgs {
    /// Private keys, one per line (from `peer_swarm keys`)
    #[arg(long)]
    keys: PathBuf,
    /// The gateway's WireGuard endpoint
    #[arg(long)]
    gateway: SocketAddr,
    /// File holding the gateway's public key (base64)
    #[arg(long)]
    gateway_public_key: PathBuf,
    /// Address the peers' sockets bind to (each gets its own port)
    #[arg(long, default_value = "0.0.0.0")]
    bind: IpAddr,
    /// Pace the first initiations (default: all at once)
    #[arg(long)]
    initiations_per_second: Option<f64>,
    /// Give up after this many seconds
    #[arg(long, default_value_t = 30.0)]
    limit_seconds: f64,
    /// The target the report checks
    #[arg(long, default_value_t = 10.0)]
    target_seconds: f64,
    /// gwctl, to watch the gateway's view (with --socket)
    #[arg(long, requires = "socket")]
    gwctl: Option<PathBuf>,
    /// The gateway's admin socket
    #[arg(long, requires = "gwctl")]
    socket: Option<PathBuf>,
    #[arg(long, default_value_t = 100)]
    gwctl_interval_ms: u64,
    /// The gateway's PID, to read its RSS once every peer is handshaken
    #[arg(long)]
    gateway_pid: Option<u32>,
    /// Gateway RSS with 0 peers (KiB), for memory per peer
    #[arg(long)]
    baseline_rss_kib: Option<u64>,
    /// Gateway RSS with every peer configured, before any handshake (KiB)
    #[arg(long)]
    configured_rss_kib: Option<u64>,
}

fn write_file(path: &Path, text: &str, mode: u32) -> Result<(), SwarmError> {
    let file_error = |source| SwarmError::File {
        path: path.to_path_buf(),
        source,
    };
    std::fs::write(path, text).map_err(file_error)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(file_error)
}

fn write_keys(count: usize, dir: &Path) -> Result<(), SwarmError> {
    if count == 0 || count > keys::MAX_PEERS {
        return Err(SwarmError::Count(count));
    }
    std::fs::create_dir_all(dir).map_err(|source| SwarmError::File {
        path: dir.to_path_buf(),
        source,
    })?;
    let secrets = keys::generate(count);
    write_file(
        &dir.join("swarm.keys"),
        &keys::private_keys_text(&secrets),
        0o600,
    )?;
    write_file(&dir.join("peers.yaml"), &keys::peers_yaml(&secrets), 0o644)?;
    println!(
        "{count} peers: {} and {}",
        dir.join("swarm.keys").display(),
        dir.join("peers.yaml").display()
    );
    Ok(())
}

fn run_swarm(args: RunArgs) -> Result<bool, SwarmError> {
    let secrets = keys::read_private_keys(&args.keys)?;
    if secrets.is_empty() || secrets.len() > keys::MAX_PEERS {
        return Err(SwarmError::Count(secrets.len()));
    }
    let config = RunConfig {
        gateway: args.gateway,
        gateway_public: keys::read_public_key(&args.gateway_public_key)?,
        bind: args.bind,
        initiations_per_second: args.initiations_per_second,
        limit: Duration::from_secs_f64(args.limit_seconds.max(0.0)),
        gwctl: args
            .gwctl
            .zip(args.socket)
            .map(|(program, socket)| Gwctl { program, socket }),
        gwctl_interval: Duration::from_millis(args.gwctl_interval_ms.max(1)),
        gateway_pid: args.gateway_pid,
    };
    let outcome = run(secrets, &config)?;
    let context = Context {
        target: Duration::from_secs_f64(args.target_seconds.max(0.0)),
        initiations_per_second: args.initiations_per_second,
        baseline_rss_kib: args.baseline_rss_kib,
        configured_rss_kib: args.configured_rss_kib,
    };
    print!("{}", report::render(&outcome, &context));
    let all = outcome.peers_done_at.is_some()
        && (config.gwctl.is_none() || outcome.gateway_done_at.is_some());
    Ok(all)
}

fn main() -> ExitCode {
    let result = match Cli::parse().command {
        Command::Keys { count, dir } => write_keys(count, &dir).map(|()| true),
        Command::Run(args) => run_swarm(args),
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!("peer_swarm: not every peer was handshaken within --limit-seconds");
            ExitCode::FAILURE
        }
        Err(error) => {
            eprintln!("peer_swarm: {error}");
            ExitCode::from(2)
        }
    }
}
