//! gwctl: the gateway's command-line tool.
//!
//! Offline commands (keys, config check, completions) are here; commands that
//! talk to a running gateway over its admin socket join the `Command` enum
//! once the admin API exists.

use clap::{Args, CommandFactory, Parser, Subcommand, ValueEnum};
use gateway::config::{Config, ConfigError};
use gateway::keys::PrivateKey;
use std::io::{self, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use zeroize::Zeroizing;

const ABOUT: &str = "Control and inspect the multi-cluster tunnel gateway";

const LONG_ABOUT: &str = "\
Control and inspect the multi-cluster tunnel gateway: a userspace WireGuard
gateway that connects Kubernetes clusters and translates their addresses
Globalnet-style (each cluster is reached at its own global block, e.g.
242.0.0.0/16), so clusters with overlapping Pod and Service CIDRs can talk.";

const EXAMPLES: &str = "\
Examples:
  Create this gateway's key pair (the private key file must be mode 600):
    umask 077; gwctl genkey > private.key
    gwctl pubkey < private.key          # give this to the peer's config
  Check a config file before starting the gateway:
    gwctl check-config /etc/gateway/config.yaml
  Enable shell completion (bash):
    gwctl completions bash > /etc/bash_completion.d/gwctl

Configuration reference: docs/configuration.md";

#[derive(Debug, Parser)]
#[command(
    name = "gwctl",
    version,
    about = ABOUT,
    long_about = LONG_ABOUT,
    after_help = EXAMPLES,
    propagate_version = true
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// One variant per subcommand, grouped by what they work on.
#[derive(Debug, Subcommand)]
enum Command {
    // --- Keys (offline, compatible with `wg`) ---
    /// Print a new random private key, like `wg genkey`
    #[command(after_help = "Example:\n  umask 077; gwctl genkey > private.key")]
    Genkey,
    /// Read a private key on stdin and print its public key, like `wg pubkey`
    #[command(after_help = "Example:\n  gwctl pubkey < private.key")]
    Pubkey,

    // --- Configuration (offline) ---
    /// Validate a gateway config file and print every problem found
    CheckConfig(CheckConfigArgs),

    // --- Shell integration ---
    /// Print a shell completion script
    #[command(after_help = "Examples:\n  \
        gwctl completions bash > /etc/bash_completion.d/gwctl\n  \
        gwctl completions zsh > \"${fpath[1]}/_gwctl\"\n  \
        gwctl completions fish > ~/.config/fish/completions/gwctl.fish")]
    Completions {
        #[arg(value_enum)]
        shell: CompletionShell,
    },
    // --- Running gateway (admin socket): peers, exports, egress, nat, diagnose, reload ---
    #[command(flatten)]
    Status(gateway::cli::StatusCommand),
}

#[derive(Debug, Args)]
#[command(after_help = "\
Checks the YAML syntax and schema (unknown fields are errors), every value,
overlaps between the global block, local CIDRs and peers' blocks, resolves peer
endpoint host names, and reads the key files (they must be mode 600 or stricter).
Exit status: 0 when the config is valid, 1 otherwise.

Examples:
  gwctl check-config /etc/gateway/config.yaml
  gwctl check-config --skip-key-files deploy/lab/cluster-a.yaml")]
struct CheckConfigArgs {
    /// The gateway config file (YAML)
    file: PathBuf,
    /// Do not read private_key_file / preshared_key_file (e.g. when checking a
    /// config on a machine other than the gateway)
    #[arg(long)]
    skip_key_files: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum CompletionShell {
    Bash,
    Zsh,
    Fish,
}

impl From<CompletionShell> for clap_complete::Shell {
    fn from(shell: CompletionShell) -> Self {
        match shell {
            CompletionShell::Bash => clap_complete::Shell::Bash,
            CompletionShell::Zsh => clap_complete::Shell::Zsh,
            CompletionShell::Fish => clap_complete::Shell::Fish,
        }
    }
}

/// A failed command: its message goes to stderr, exit status 1.
struct Failure(String);

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Status(cmd) => {
            return gateway::cli::run(cmd, std::path::Path::new(gateway::cli::DEFAULT_SOCKET))
        }
        Command::Genkey => genkey(),
        Command::Pubkey => pubkey(),
        Command::CheckConfig(args) => check_config(&args),
        Command::Completions { shell } => completions(shell),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure(message)) => {
            // Nothing useful is left to do if stderr is gone too.
            let _ = writeln!(io::stderr(), "gwctl: {message}");
            ExitCode::FAILURE
        }
    }
}

fn write_stdout(bytes: &[u8]) -> Result<(), Failure> {
    let mut stdout = io::stdout().lock();
    stdout
        .write_all(bytes)
        .and_then(|()| stdout.flush())
        .map_err(|e| Failure(format!("cannot write to stdout: {e}")))
}

fn genkey() -> Result<(), Failure> {
    warn_if_stdout_is_readable_file();
    let key = PrivateKey::generate().map_err(|e| Failure(format!("cannot generate a key: {e}")))?;
    let mut line = key.expose_base64();
    line.push('\n');
    write_stdout(line.as_bytes())
}

/// Like `wg genkey`: redirecting a key into a file that others can read is
/// almost always a mistake (the umask was not 077).
fn warn_if_stdout_is_readable_file() {
    let Ok(metadata) = std::fs::metadata("/proc/self/fd/1") else {
        return;
    };
    let mode = metadata.permissions().mode() & 0o777;
    if metadata.is_file() && mode & 0o077 != 0 {
        let _ = writeln!(
            io::stderr(),
            "gwctl: warning: writing a private key to a file with mode {mode:04o}, readable by \
             group or others; run `umask 077` first, or chmod 600 the file"
        );
    }
}

/// A key is 44 characters and a newline; more than this is not a key.
const MAX_PUBKEY_INPUT: u64 = 1024;

fn pubkey() -> Result<(), Failure> {
    let mut input = Zeroizing::new(String::new());
    io::stdin()
        .lock()
        .take(MAX_PUBKEY_INPUT)
        .read_to_string(&mut input)
        .map_err(|e| Failure(format!("cannot read a private key from stdin: {e}")))?;
    let key = PrivateKey::from_base64(&input)
        .map_err(|e| Failure(format!("stdin is not a private key: {e}")))?;
    write_stdout(format!("{}\n", key.public_key()).as_bytes())
}

fn completions(shell: CompletionShell) -> Result<(), Failure> {
    // Into a buffer first: clap_complete panics if a write fails (closed pipe).
    let mut script = Vec::new();
    clap_complete::generate(
        clap_complete::Shell::from(shell),
        &mut Cli::command(),
        "gwctl",
        &mut script,
    );
    write_stdout(&script)
}

fn check_config(args: &CheckConfigArgs) -> Result<(), Failure> {
    let file = &args.file;
    let config = Config::load(file).map_err(|e| Failure(describe(file, &e)))?;
    let mut report = format!("config OK: {}\n", file.display());
    if args.skip_key_files {
        report.push_str("  (key files not read: --skip-key-files)\n");
    } else {
        let secrets = config
            .load_secrets()
            .map_err(|e| Failure(describe(file, &e)))?;
        report.push_str(&format!("  public key: {}\n", secrets.public_key));
    }
    for line in config.summary().lines() {
        report.push_str(&format!("  {line}\n"));
    }
    write_stdout(report.as_bytes())
}

/// `FILE:LINE:COLUMN: message` for syntax errors (editors jump there), and
/// one line per field error otherwise.
fn describe(file: &Path, error: &ConfigError) -> String {
    let file = file.display();
    match error {
        ConfigError::Syntax {
            location: Some(at),
            message,
        } => format!("{file}:{}:{}: {message}", at.line, at.column),
        ConfigError::Syntax {
            location: None,
            message,
        } => format!("{file}: {message}"),
        ConfigError::Read { .. } => error.to_string(),
        ConfigError::Invalid(_) => format!("{file}: {error}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
