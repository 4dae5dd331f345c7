//! End to end through the two-cluster lab: `deploy/lab/lab up` builds the namespaces, starts
//! both gateways and demonstrates a cross-cluster request; `tests/netns/lab_e2e.sh` then
//! checks TCP/UDP/ICMP both ways, global source IPs, 20 MiB transfers, the MSS clamp and the
//! counted drops; `lab down` always runs afterwards.
//!
//! Needs root (network namespaces, TUN). Without root it is skipped on a developer machine
//! and fails under `CI=true`, so CI cannot pass by not running it. The namespaces have fixed
//! names: `.config/nextest.toml` puts this test in the serial `netns` group.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests: a panic is the failure report

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

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

/// Runs a repository script from the repository root and echoes what it printed, so a
/// failing run shows the scripts' PASS/FAIL lines and error messages.
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
    println!(
        "===== {script} {} -> {}\n{}{}",
        args.join(" "),
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    );
    output
}

/// Tears the lab down when dropped, whether the test passed or panicked.
struct LabGuard {
    root: PathBuf,
}

impl Drop for LabGuard {
    fn drop(&mut self) {
        let down = run(&self.root, "deploy/lab/lab", &["down"]);
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
    let _lab = LabGuard { root: root.clone() };

    let up = run(&root, "deploy/lab/lab", &["up"]);
    assert!(
        up.status.success(),
        "deploy/lab/lab up failed ({}); its output is above",
        up.status
    );
    let e2e = run(&root, "tests/netns/lab_e2e.sh", &[]);
    assert!(
        e2e.status.success(),
        "tests/netns/lab_e2e.sh failed ({}); see its FAIL lines above",
        e2e.status
    );
}
