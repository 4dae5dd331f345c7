//! End to end through the two-cluster lab: `deploy/lab/lab up` builds the namespaces, starts
//! both gateways and demonstrates a cross-cluster request; then, against that lab,
//! `tests/netns/lab_e2e.sh` checks TCP/UDP/ICMP both ways, global source IPs, 20 MiB
//! transfers, the MSS clamp and the counted drops; `tests/netns/lab_prometheus.sh` has a real
//! Prometheus scrape both gateways (promtool-clean output, `up`, per-peer byte counters);
//! `tests/netns/lab_restart.sh` restarts cluster-a's gateway mid-transfer and checks the
//! transfers survive with the same global IPs; `tests/netns/lab_mtu.sh` checks `gwctl
//! diagnose`'s MTU probe (and that it finds a lowered peer MTU); `tests/netns/lab_secrets.sh`
//! that keys leak nowhere and the gateway holds only CAP_NET_ADMIN; `tests/netns/lab_uapi.sh`
//! that the stock `wg show` reads the gateway through its UAPI socket; `tests/netns/lab_flood.sh` floods
//! cluster-b's gateway with 110,000 handshake initiations a second for 10 s (cookie
//! replies, bounded CPU, at least half the tunnel's throughput); `tests/netns/lab_faults.sh`
//! kills a gateway with SIGKILL, makes the underlay lossy and reordering, moves a peer to
//! another address and port, fills / write-protects a state directory, checks reload verdicts
//! and starts a second gateway beside a running one. `lab down` always
//! runs afterwards. docs/reliability.md has the last figures.
//!
//! Needs root (network namespaces, TUN). Without root it is skipped on a developer machine
//! and fails under `CI=true`, so CI cannot pass by not running it. The namespaces have fixed
//! names: `.config/nextest.toml` puts this test in the serial `netns` group, and the whole
//! up → scripts → down session holds [`SESSION_LOCK`], so test runs from other checkouts (or
//! another nextest run) wait instead of tearing this lab down half-way.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests: a panic is the failure report

use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// Held for a whole lab session. `deploy/lab/lab` locks its own `/run/lock/gwlab.lock` per
/// command only, so this is a different file: holding that one would block `lab up` itself.
const SESSION_LOCK: &str = "/run/lock/gwlab-session.lock";
/// A session (build, up, the scripts, down) takes a few minutes at most.
const SESSION_LOCK_WAIT: Duration = Duration::from_secs(8 * 60);
const SESSION_LOCK_POLL: Duration = Duration::from_secs(1);

/// The scripts run against the lab, in order: those that restart gateways last, as they
/// disturb the lab (each leaves it healthy; lab_restart.sh, last, checks that too).
const LAB_SCRIPTS: [&str; 8] = [
    "tests/netns/lab_e2e.sh",
    "tests/netns/lab_mtu.sh",
    "tests/netns/lab_secrets.sh",
    "tests/netns/lab_uapi.sh",
    "tests/netns/lab_prometheus.sh",
    "tests/netns/lab_flood.sh",
    "tests/netns/lab_faults.sh",
    "tests/netns/lab_restart.sh",
];

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the gateway crate lives one level below the repository root")
        .to_path_buf()
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Variables the test harness sets for this test crate. `lab up` runs `cargo build`, and
/// some build scripts (ring's) rerun when e.g. CARGO_MANIFEST_DIR differs, so passing these
/// on would rebuild the release gateway's dependencies on every test run and again on the
/// next `lab up` from a shell.
fn is_harness_variable(name: &str) -> bool {
    const EXACT: [&str; 6] = [
        "CARGO_MANIFEST_DIR",
        "CARGO_MANIFEST_PATH",
        "CARGO_CRATE_NAME",
        "CARGO_PRIMARY_PACKAGE",
        "CARGO_TARGET_TMPDIR",
        "CARGO_BIN_NAME",
    ];
    const PREFIXES: [&str; 3] = ["CARGO_PKG_", "CARGO_BIN_EXE_", "NEXTEST_BIN_EXE_"];
    EXACT.contains(&name) || PREFIXES.iter().any(|prefix| name.starts_with(prefix))
}

/// Runs a repository script from the repository root and echoes what it printed: all of it
/// when it failed, only its last lines when it succeeded (a script's tally; `lab up`'s
/// stderr is cargo's whole compile log), so that a CI excerpt, which shows the start of the
/// output, reaches a failed script's PASS/FAIL lines.
fn run(root: &Path, script: &str, args: &[&str]) -> Output {
    let mut command = Command::new(root.join(script));
    for (name, _) in std::env::vars_os() {
        if name.to_str().is_some_and(is_harness_variable) {
            command.env_remove(name);
        }
    }
    let output = command
        .args(args)
        .current_dir(root)
        .output()
        .unwrap_or_else(|err| panic!("cannot run {script}: {err}"));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let (stdout, stderr) = if output.status.success() {
        (
            last_lines(&stdout, QUIET_LINES),
            last_lines(&stderr, QUIET_LINES),
        )
    } else {
        (stdout.into_owned(), stderr.into_owned())
    };
    println!(
        "===== {script} {} -> {}\n{stdout}{stderr}",
        args.join(" "),
        output.status
    );
    output
}

const LAB_COMMAND: &str = "deploy/lab/lab";
/// Lines of a successful command's output that are still shown.
const QUIET_LINES: usize = 5;
/// Last lines of a failed script's stdout and stderr quoted in the failure message.
const FAILURE_CONTEXT_LINES: usize = 15;

fn last_lines(text: &str, count: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.len().saturating_sub(count);
    let mut kept = lines[start..].join("\n");
    if !kept.is_empty() {
        kept.push('\n');
    }
    kept
}

/// What a failed script said, for the failure message: its FAIL lines, then its last lines
/// (its tally, or the error that stopped it early).
fn failure_summary(script: &str, output: &Output) -> String {
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let fail_lines: Vec<&str> = stdout
        .lines()
        .chain(stderr.lines())
        .filter(|line| line.starts_with("FAIL"))
        .collect();
    format!(
        "--- {script} ({})\n{}\n... last lines of its output:\n{}{}",
        output.status,
        fail_lines.join("\n"),
        last_lines(&stdout, FAILURE_CONTEXT_LINES),
        last_lines(&stderr, FAILURE_CONTEXT_LINES),
    )
}

/// An exclusive `flock` on [`SESSION_LOCK`], released when the file is closed (dropped).
struct SessionLock {
    _file: File,
}

impl SessionLock {
    fn acquire() -> SessionLock {
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(SESSION_LOCK)
            .unwrap_or_else(|err| panic!("cannot open {SESSION_LOCK}: {err}"));
        let started = Instant::now();
        let mut said = false;
        loop {
            // SAFETY: flock on a descriptor we own; it only reads the fd and flags.
            if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
                return SessionLock { _file: file };
            }
            let err = std::io::Error::last_os_error();
            assert_eq!(
                err.raw_os_error(),
                Some(libc::EWOULDBLOCK),
                "flock {SESSION_LOCK}: {err}"
            );
            assert!(
                started.elapsed() < SESSION_LOCK_WAIT,
                "another lab session held {SESSION_LOCK} for {SESSION_LOCK_WAIT:?}"
            );
            if !said {
                println!("another lab session holds {SESSION_LOCK}; waiting for it");
                said = true;
            }
            std::thread::sleep(SESSION_LOCK_POLL);
        }
    }
}

/// Tears the lab down when dropped, whether the test passed or panicked.
struct LabGuard {
    root: PathBuf,
}

impl Drop for LabGuard {
    fn drop(&mut self) {
        let down = run(&self.root, LAB_COMMAND, &["down"]);
        if !down.status.success() && !std::thread::panicking() {
            panic!("deploy/lab/lab down failed: {}", down.status);
        }
    }
}

#[test]
fn netns_lab_end_to_end() {
    if !is_root() {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!(
                "netns_lab_end_to_end needs root (network namespaces, TUN devices) and CI=true: \
                 run the tests as root; CI must not skip it"
            );
        }
        println!("skipped: needs root");
        return;
    }
    let root = repo_root();
    let session_started = Instant::now();
    let _session = SessionLock::acquire();
    let waited = session_started.elapsed();
    let _lab = LabGuard { root: root.clone() };

    let started = Instant::now();
    let up = run(&root, LAB_COMMAND, &["up"]);
    let mut timings = vec![format!("lab up {:.1} s", started.elapsed().as_secs_f64())];
    assert!(
        up.status.success(),
        "deploy/lab/lab up failed ({}); its output is above",
        up.status
    );
    // Every script runs even when one fails: their PASS/FAIL lines together say more.
    let mut failed = Vec::new();
    for script in LAB_SCRIPTS {
        let started = Instant::now();
        let output = run(&root, script, &[]);
        timings.push(format!("{script} {:.1} s", started.elapsed().as_secs_f64()));
        if !output.status.success() {
            failed.push(failure_summary(script, &output));
        }
    }
    let timings = format!(
        "timings: waited {:.1} s for {SESSION_LOCK}; {}",
        waited.as_secs_f64(),
        timings.join(", ")
    );
    println!("{timings}");
    assert!(
        failed.is_empty(),
        "{} of {} lab scripts failed (their whole output is above):\n{}\n{timings}",
        failed.len(),
        LAB_SCRIPTS.len(),
        failed.join("\n")
    );
}
