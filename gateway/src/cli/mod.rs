//! The `gwctl` commands that talk to a running gateway over its admin socket:
//! `peers`, `exports`, `egress`, `nat`, `diagnose`, `reload`.
//!
//! gwctl splices them in with two lines:
//!
//! ```text
//! #[derive(clap::Subcommand)]
//! enum Command {
//!     // ... genkey, pubkey, completions, check-config ...
//!     #[command(flatten)]
//!     Status(gateway::cli::StatusCommand),
//! }
//! // in main:
//! Command::Status(cmd) => gateway::cli::run(cmd, std::path::Path::new(gateway::cli::DEFAULT_SOCKET)),
//! ```
//!
//! Each command has its own `--socket PATH` (so gwctl must not define a global
//! one) and `-o table|json|dump`. Exit status: 0 fine, 1 the gateway answered
//! but something is wrong (a peer not connected, a check failed, a reload
//! rejected), 2 the gateway could not be reached.

pub mod diagnose;
pub mod egress;
pub mod exports;
pub mod nat;
pub mod peers;
pub mod render;

use crate::admin::{AdminClient, ClientError};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Where the daemon listens unless its config says otherwise.
pub const DEFAULT_SOCKET: &str = "/run/gateway/admin.sock";

/// How a command prints.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    /// Aligned columns for people.
    #[default]
    Table,
    /// JSON for programs (the admin API's field names).
    Json,
    /// Tab-separated lines with a fixed column order, like `wg show dump`.
    Dump,
}

/// Options every status command takes.
#[derive(Clone, Debug, Default, PartialEq, Eq, clap::Args)]
pub struct Target {
    /// Admin socket of the gateway [default: /run/gateway/admin.sock]
    #[arg(long, value_name = "PATH")]
    pub socket: Option<PathBuf>,
    /// Output format
    #[arg(short = 'o', long = "output", value_enum, default_value_t = Output::Table)]
    pub output: Output,
}

/// The commands that ask a running gateway.
#[derive(Clone, Debug, PartialEq, Eq, clap::Subcommand)]
pub enum StatusCommand {
    /// Show the connections to other clusters (like `subctl show connections` and `wg show`)
    #[command(
        long_about = "Show one row per peer gateway: its cluster, the endpoint in use, the \
                      subnets reached through it (its global block), the status (connected, \
                      connecting, error — with the reason), the age of the last WireGuard \
                      handshake, bytes received and sent, and the health probes' average RTT \
                      and loss.\n\nExits 1 when any peer is not connected, 2 when the gateway \
                      cannot be reached.",
        after_help = "Examples:\n  gwctl peers\n  gwctl peers -o json | jq '.[] | select(.status != \"connected\")'\n  gwctl peers -o dump    # tab-separated, stable columns (docs/admin-api.md)\n  gwctl peers --socket /var/run/gateway/admin.sock"
    )]
    Peers {
        #[command(flatten)]
        target: Target,
    },
    /// Show exported services and the global IPs other clusters reach them at
    #[command(
        long_about = "Show each exported service, the global ingress IP peers connect to, and \
                      the target it is translated to (the Service's cluster IP, or a pod IP for \
                      a headless service, which gets one global IP per pod).",
        after_help = "Examples:\n  gwctl exports\n  gwctl exports -o json"
    )]
    Exports {
        #[command(flatten)]
        target: Target,
    },
    /// Show the global egress IPs: the cluster pool and egress groups
    #[command(
        long_about = "Show the global IPs local sources leave the cluster with: the cluster egress \
                      pool (used by every local Pod and Service CIDR) and dedicated egress \
                      groups (with the sources they serve), the NAT ports in use on each, and \
                      how much of the global block is allocated.",
        after_help = "Examples:\n  gwctl egress\n  gwctl egress -o dump | sort -t$'\\t' -k4 -n"
    )]
    Egress {
        #[command(flatten)]
        target: Target,
    },
    /// Show the NAT table: flows, limits, top talkers, drops by reason
    #[command(
        long_about = "Show live NAT flows by protocol and TCP state, flows created and expired, \
                      packets translated, MSS clamps and fragmentation-needed replies, the \
                      sources holding the most flows, and dropped packets by reason.",
        after_help = "Examples:\n  gwctl nat\n  gwctl nat -o dump | grep '^drops'"
    )]
    Nat {
        #[command(flatten)]
        target: Target,
    },
    /// Run the troubleshooting checklist and explain what fails
    #[command(
        long_about = "Check, from this gateway: that it is ready (TUN device and routes); that \
                      every peer has an endpoint and a recent handshake; that health probes are \
                      answered; that no CIDRs overlap (local, global and peer blocks); that \
                      packets of the tunnel MTU pass to each connected peer (sends DF probes \
                      through the tunnel); drops by reason; NAT table limits; config reloads \
                      and state saving. Each failed check prints its likely cause and the fix.\n\n\
                      Exits 1 when any check fails, 2 when the gateway cannot be reached.",
        after_help = "Examples:\n  gwctl diagnose\n  gwctl diagnose --no-mtu-probe     # send no probe traffic\n  gwctl diagnose -o json | jq '.checks[] | select(.outcome == \"fail\")'"
    )]
    Diagnose {
        #[command(flatten)]
        target: Target,
        /// Do not send MTU probes through the tunnels
        #[arg(long)]
        no_mtu_probe: bool,
    },
    /// Ask the gateway to re-read its config file (same as SIGHUP)
    #[command(
        long_about = "Ask the gateway to re-read its config file, as SIGHUP does. A valid config \
                      is applied as a whole and a summary of the changes is printed; an invalid \
                      one is rejected as a whole, the reason is printed, the gateway keeps \
                      running the previous config and gwctl exits 1.",
        after_help = "Examples:\n  gwctl check-config /etc/gateway/config.yaml && gwctl reload"
    )]
    Reload {
        #[command(flatten)]
        target: Target,
    },
}

impl StatusCommand {
    pub fn target(&self) -> &Target {
        match self {
            StatusCommand::Peers { target }
            | StatusCommand::Exports { target }
            | StatusCommand::Egress { target }
            | StatusCommand::Nat { target }
            | StatusCommand::Diagnose { target, .. }
            | StatusCommand::Reload { target } => target,
        }
    }
}

/// gwctl's exit statuses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    Ok = 0,
    /// The gateway answered, and something is wrong.
    Failed = 1,
    /// The gateway could not be reached (or answered gibberish).
    Unreachable = 2,
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> Self {
        ExitCode::from(exit as u8)
    }
}

/// Runs a command against the gateway whose admin socket is `--socket`, or
/// `default_socket` when the command has none; prints to stdout / stderr.
pub fn run(cmd: StatusCommand, default_socket: &Path) -> ExitCode {
    let stdout = std::io::stdout();
    let stderr = std::io::stderr();
    run_with(&cmd, default_socket, &mut stdout.lock(), &mut stderr.lock()).into()
}

/// [`run`] with the output streams given (tests capture them). Write errors
/// (a closed pipe: `gwctl peers | head -1`) are ignored.
pub fn run_with(
    cmd: &StatusCommand,
    default_socket: &Path,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Exit {
    let target = cmd.target();
    let socket = target.socket.as_deref().unwrap_or(default_socket);
    let output = target.output;
    let result =
        AdminClient::connect(socket).and_then(|mut client| execute(cmd, output, &mut client));
    match result {
        Ok((text, exit)) => {
            let _ = out.write_all(text.as_bytes());
            let _ = out.flush();
            exit
        }
        Err(ClientError::Rejected(why)) if matches!(cmd, StatusCommand::Reload { .. }) => {
            let text = match output {
                Output::Table => format!("reload rejected: {why}\nthe gateway keeps running its previous configuration\n"),
                Output::Json => render::json(&serde_json::json!({ "ok": false, "error": why })),
                Output::Dump => render::dump_line(&["rejected".to_string(), why]),
            };
            let _ = out.write_all(text.as_bytes());
            Exit::Failed
        }
        Err(e) => {
            let _ = writeln!(err, "gwctl: {e}");
            Exit::Unreachable
        }
    }
}

fn execute(
    cmd: &StatusCommand,
    output: Output,
    client: &mut AdminClient,
) -> Result<(String, Exit), ClientError> {
    match cmd {
        StatusCommand::Reload { .. } => {
            let summary = client.reload()?;
            let text = match output {
                Output::Table => format!("reloaded: {summary}\n"),
                Output::Json => {
                    render::json(&serde_json::json!({ "ok": true, "summary": summary }))
                }
                Output::Dump => render::dump_line(&["ok".to_string(), summary]),
            };
            Ok((text, Exit::Ok))
        }
        StatusCommand::Diagnose { no_mtu_probe, .. } => {
            let status = client.status()?;
            let mut probe = |peer: &str| client.mtu_probe(peer).map_err(|e| e.to_string());
            let probe: Option<&mut diagnose::MtuProber<'_>> = if *no_mtu_probe {
                None
            } else {
                Some(&mut probe)
            };
            let report = diagnose::diagnose(&status, probe);
            Ok((diagnose::render(&report, output), report.exit()))
        }
        StatusCommand::Peers { .. } => {
            let status = client.status()?;
            Ok((peers::render(&status, output), peers::exit(&status)))
        }
        StatusCommand::Exports { .. } => Ok((exports::render(&client.status()?, output), Exit::Ok)),
        StatusCommand::Egress { .. } => Ok((egress::render(&client.status()?, output), Exit::Ok)),
        StatusCommand::Nat { .. } => Ok((nat::render(&client.status()?, output), Exit::Ok)),
    }
}
