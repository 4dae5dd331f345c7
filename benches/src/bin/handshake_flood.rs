//! A bounded WireGuard handshake-initiation flood (issue 5, "abuse"):
//!
//!   handshake_flood --target 192.168.100.2:4500 --public-key-file KEY \
//!       [--bind 192.168.100.50] [--rate 120000] [--seconds 10] [--pool 2048]
//!
//! precomputes `--pool` initiations with a valid mac1 for the target's key
//! (fresh keys no peer has), then replays them at `--rate` per second with
//! `sendmmsg` for `--seconds` (at most 60), and prints one JSON line: what it
//! sent, the achieved rate, and the cookie replies that came back.
//! `tests/netns/lab_flood.sh` runs it from the lab's underlay.
//!
//! Only ever aim it at a gateway you run, inside namespaces you own.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use benches::flood::{initiations, Flood, FloodError, FloodPlan};
use boringtun::x25519::PublicKey;
use clap::Parser;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

#[derive(Parser)]
#[command(about = "Floods one WireGuard endpoint with handshake initiations, for a bounded time")]
struct Cli {
    /// The gateway's WireGuard endpoint
    #[arg(long)]
    target: SocketAddr,
    /// File holding the gateway's public key (base64, as `wg pubkey` writes it)
    #[arg(long)]
    public_key_file: PathBuf,
    /// Source address to send from (any port)
    #[arg(long, default_value = "0.0.0.0")]
    bind: IpAddr,
    /// Initiations per second
    #[arg(long, default_value_t = 120_000)]
    rate: u64,
    /// How long to flood (at most 60)
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
    /// Distinct initiations to precompute and replay
    #[arg(long, default_value_t = 2048)]
    pool: usize,
}

fn read_public_key(path: &Path) -> Result<PublicKey, FloodError> {
    let text = std::fs::read_to_string(path).map_err(|source| FloodError::KeyFile {
        path: path.to_path_buf(),
        source,
    })?;
    STANDARD
        .decode(text.trim())
        .ok()
        .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
        .map(PublicKey::from)
        .ok_or_else(|| FloodError::Key {
            path: path.to_path_buf(),
            text: text.chars().take(60).collect(),
        })
}

fn flood(cli: &Cli) -> Result<String, FloodError> {
    if !(cli.seconds > 0.0 && cli.seconds <= benches::flood::MAX_SECONDS) {
        return Err(FloodError::Duration(cli.seconds));
    }
    let target_key = read_public_key(&cli.public_key_file)?;
    let started = Instant::now();
    let pool = initiations(&target_key, cli.pool)?;
    eprintln!(
        "handshake_flood: {} initiations precomputed in {:.2} s; flooding {} at {}/s for {} s",
        pool.len(),
        started.elapsed().as_secs_f64(),
        cli.target,
        cli.rate,
        cli.seconds
    );
    let plan = FloodPlan {
        bind: SocketAddr::new(cli.bind, 0),
        target: cli.target,
        rate: cli.rate,
        duration: Duration::from_secs_f64(cli.seconds),
    };
    let report = Flood::new(plan, pool)?.run();
    eprintln!(
        "handshake_flood: sent {} in {:.2} s ({:.0}/s), {} send errors, {} cookie replies back",
        report.sent,
        report.seconds,
        report.rate_per_second,
        report.send_errors,
        report.cookie_replies
    );
    Ok(serde_json::to_string(&report).unwrap_or_default())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match flood(&cli) {
        Ok(json) => {
            println!("{json}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("handshake_flood: {e}");
            ExitCode::FAILURE
        }
    }
}
