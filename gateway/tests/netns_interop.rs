//! Interop with stock WireGuard implementations: `tests/netns/interop.sh` puts our gateway and
//! a wireguard-go or boringtun-cli peer (configured only with `wg`) in network namespaces and
//! checks ping, HTTP and 8 MiB transfers both ways, with each side initiating the handshake
//! in turn, plus `wg show` and `gwctl peers`. See docs/interop.md.
//!
//! Needs root and the stock implementations (scripts/setup installs them: wireguard-go from
//! Debian, boringtun-cli from crates.io into /opt/gwtools/bin). Without them a developer
//! machine skips with a message; under `CI=true` the test fails instead, so CI cannot pass
//! by not running it. The namespaces have fixed names (gwi-*): the script serialises runs
//! with a lock file, and `.config/nextest.toml` puts `netns_` tests in the serial group.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests: a panic is the failure report

use std::path::{Path, PathBuf};
use std::process::Command;

/// Where scripts/setup installs boringtun-cli when it is not on PATH.
const GWTOOLS_BORINGTUN_CLI: &str = "/opt/gwtools/bin/boringtun-cli";

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

fn on_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
}

fn boringtun_cli() -> Option<PathBuf> {
    on_path("boringtun-cli").or_else(|| {
        let installed = PathBuf::from(GWTOOLS_BORINGTUN_CLI);
        installed.is_file().then_some(installed)
    })
}

/// Whether the test can run here; `Err` names what is missing. Under CI=true a missing
/// requirement is a failure, elsewhere a skip.
fn requirements(implementation: &str) -> Result<(), String> {
    if !is_root() {
        return Err("root (network namespaces, TUN devices)".into());
    }
    let mut missing: Vec<String> = ["wg", "tcpdump", "curl", "python3", "flock"]
        .into_iter()
        .filter(|tool| on_path(tool).is_none())
        .map(|tool| format!("{tool} (scripts/setup)"))
        .collect();
    match implementation {
        "wireguard-go" if on_path("wireguard-go").is_none() => {
            missing.push("wireguard-go (scripts/setup: apt package wireguard-go)".into());
        }
        "boringtun-cli" if boringtun_cli().is_none() => missing.push(format!(
            "boringtun-cli on PATH or at {GWTOOLS_BORINGTUN_CLI} (scripts/setup: cargo install \
             boringtun-cli --locked --root /opt/gwtools)"
        )),
        _ => {}
    }
    if missing.is_empty() {
        Ok(())
    } else {
        Err(missing.join(", "))
    }
}

fn run_interop(implementation: &str) {
    if let Err(missing) = requirements(implementation) {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("interop test with {implementation} needs {missing}, and CI=true: CI must not skip it");
        }
        println!("skipped: the interop test with {implementation} needs {missing}");
        return;
    }
    let root = repo_root();
    let mut command = Command::new(root.join("tests/netns/interop.sh"));
    // Cargo builds the package's binaries for its integration tests.
    command
        .arg(implementation)
        .env("GATEWAY_BIN", env!("CARGO_BIN_EXE_gateway"))
        .env("GWCTL_BIN", env!("CARGO_BIN_EXE_gwctl"))
        .current_dir(&root);
    if let Some(boringtun) = boringtun_cli() {
        command.env("BORINGTUN_CLI", boringtun);
    }
    let output = command
        .output()
        .unwrap_or_else(|err| panic!("cannot run tests/netns/interop.sh: {err}"));
    println!(
        "===== tests/netns/interop.sh {implementation} -> {}\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    );
    assert!(
        output.status.success(),
        "tests/netns/interop.sh {implementation} failed ({}); see its FAIL lines above",
        output.status
    );
}

#[test]
fn netns_interop_wireguard_go() {
    run_interop("wireguard-go");
}

#[test]
fn netns_interop_boringtun_cli() {
    run_interop("boringtun-cli");
}
