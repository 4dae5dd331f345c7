//! The built `gwctl` binary: key commands (and their agreement with `wg` when
//! it is installed), check-config output, completions, help.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod config_support;

use config_support::{lab_config, wg_available, TempDir, WG_UNCLAMPED_VECTORS, WG_VECTORS};
use std::io::Write;
use std::process::{Command, Output, Stdio};

fn gwctl(args: &[&str], stdin: &str) -> Output {
    run(env!("CARGO_BIN_EXE_gwctl"), args, stdin)
}

fn run(program: &str, args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).unwrap()
}

/// `wg genkey` / `wg pubkey` output: 44 base64 characters and a newline.
fn assert_wg_key_line(text: &str) {
    assert_eq!(text.len(), 45, "{text:?}");
    assert!(text.ends_with("=\n"), "{text:?}");
    assert!(text[..44]
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/' || b == b'='));
}

#[test]
fn genkey_prints_one_wg_format_key() {
    let output = gwctl(&["genkey"], "");
    assert!(output.status.success(), "{}", stderr(&output));
    assert_wg_key_line(&stdout(&output));
    assert_eq!(stderr(&output), "");
    let other = gwctl(&["genkey"], "");
    assert_ne!(stdout(&output), stdout(&other));
}

#[test]
fn pubkey_matches_recorded_wg_vectors() {
    for (private, public) in WG_VECTORS.iter().chain(&WG_UNCLAMPED_VECTORS) {
        let output = gwctl(&["pubkey"], &format!("{private}\n"));
        assert!(output.status.success(), "{}", stderr(&output));
        assert_eq!(stdout(&output), format!("{public}\n"));
    }
}

#[test]
fn genkey_then_pubkey_agrees_with_wg_when_installed() {
    if !wg_available() {
        eprintln!("wg not installed: covered by the recorded vectors instead");
        return;
    }
    for _ in 0..8 {
        let private = stdout(&gwctl(&["genkey"], ""));
        let ours = gwctl(&["pubkey"], &private);
        let theirs = run("wg", &["pubkey"], &private);
        assert!(
            theirs.status.success(),
            "wg rejected our key: {}",
            stderr(&theirs)
        );
        assert_eq!(stdout(&ours), stdout(&theirs));
    }
    // And keys made by wg work with us.
    let private = stdout(&run("wg", &["genkey"], ""));
    assert_eq!(
        stdout(&gwctl(&["pubkey"], &private)),
        stdout(&run("wg", &["pubkey"], &private))
    );
}

#[test]
fn pubkey_rejects_bad_input_without_echoing_it() {
    let output = gwctl(&["pubkey"], "not-a-key\n");
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(stdout(&output), "");
    assert_eq!(
        stderr(&output),
        "gwctl: stdin is not a private key: expected 44 base64 characters encoding 32 bytes (the \
         format of `wg genkey` / `wg pubkey`), got 9 characters\n"
    );
    let output = gwctl(&["pubkey"], "");
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("got 0 characters"));
}

#[test]
fn genkey_warns_when_writing_to_a_group_readable_file() {
    use std::os::unix::fs::PermissionsExt;
    let dir = TempDir::new("gwctl-genkey");
    let path = dir.write("key", "", 0o644);
    let file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_gwctl"))
        .arg("genkey")
        .stdout(file)
        .output()
        .unwrap();
    assert!(output.status.success());
    assert_eq!(
        stderr(&output),
        "gwctl: warning: writing a private key to a file with mode 0644, readable by group or \
         others; run `umask 077` first, or chmod 600 the file\n"
    );
    assert_wg_key_line(&std::fs::read_to_string(&path).unwrap());

    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    let file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_gwctl"))
        .arg("genkey")
        .stdout(file)
        .output()
        .unwrap();
    assert_eq!(stderr(&output), "");
}

#[test]
fn check_config_accepts_a_valid_config_with_a_summary() {
    let dir = TempDir::new("gwctl-check-ok");
    let key = dir.write("private.key", &format!("{}\n", WG_VECTORS[0].0), 0o600);
    let text = lab_config("cluster-a")
        .replace("@CLUSTER_B_PUBLIC_KEY@", WG_VECTORS[1].1)
        .replace(
            "/run/gwlab/cluster-a/private.key",
            &key.display().to_string(),
        );
    let config = dir.write("a.yaml", &text, 0o644);
    let config_arg = config.display().to_string();
    let output = gwctl(&["check-config", &config_arg], "");
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(
        stdout(&output),
        format!(
            "config OK: {config_arg}
  public key: {}
  cluster: cluster-a
  global block: 242.0.0.0/16 (gateway 242.0.0.1), 8 cluster egress IPs, 0 egress groups
  local: pods 10.244.0.0/16; services 10.96.0.0/16
  tunnel: gw0, MTU 1420 (underlay 1500), UDP port 4500
  exports: shared/echo-a → 10.96.0.10
  peers: cluster-b (global 243.0.0.0/16, via 192.168.100.2:4500, keepalive 10s)
  metrics: 127.0.0.1:9898; admin socket: /run/gwlab/cluster-a/admin.sock; state dir: /run/gwlab/cluster-a/state
",
            WG_VECTORS[0].1
        )
    );
}

#[test]
fn check_config_lists_every_error_and_fails() {
    let dir = TempDir::new("gwctl-check-bad");
    let text = lab_config("cluster-b")
        .replace("listen_port: 4500", "listen_port: 0")
        .replace("global_cidr: 243.0.0.0/16", "global_cidr: 242.0.0.0/16");
    let config = dir.write("b.yaml", &text, 0o644);
    let config_arg = config.display().to_string();
    let output = gwctl(&["check-config", &config_arg], "");
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(stdout(&output), "");
    assert_eq!(
        stderr(&output),
        format!(
            "gwctl: {config_arg}: 3 errors in config:
  listen_port: 0 is out of range 1..=65535
  peers[0].public_key: \"@CLUSTER_A_PUBLIC_KEY@\" is a placeholder that was not replaced by the peer's public key (`gwctl pubkey < its private key`)
  peers[0].global_cidr: 242.0.0.0/16 overlaps globalnet.global_cidr (242.0.0.0/16), this cluster's own global block
"
        )
    );
}

#[test]
fn check_config_reports_syntax_errors_as_file_line_column() {
    let dir = TempDir::new("gwctl-check-syntax");
    let config = dir.write("c.yaml", "cluster_id: a\nlocal:\n  pods: []\n", 0o644);
    let config_arg = config.display().to_string();
    let output = gwctl(&["check-config", &config_arg], "");
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        stderr(&output),
        format!(
            "gwctl: {config_arg}:3:3: local: unknown field `pods`, expected `pod_cidrs` or \
             `service_cidrs`\n"
        )
    );
}

#[test]
fn check_config_checks_key_file_permissions_unless_skipped() {
    let dir = TempDir::new("gwctl-check-keys");
    let key = dir.write("private.key", &format!("{}\n", WG_VECTORS[0].0), 0o644);
    let text = lab_config("cluster-a")
        .replace("@CLUSTER_B_PUBLIC_KEY@", WG_VECTORS[1].1)
        .replace(
            "/run/gwlab/cluster-a/private.key",
            &key.display().to_string(),
        );
    let config = dir.write("a.yaml", &text, 0o644);
    let config_arg = config.display().to_string();
    let output = gwctl(&["check-config", &config_arg], "");
    assert_eq!(output.status.code(), Some(1));
    let k = key.display();
    assert_eq!(
        stderr(&output),
        format!(
            "gwctl: {config_arg}: 1 error in config:\n  private_key_file: {k}: mode 0644: private \
             key must not be readable by group or others; run chmod 600 {k}\n"
        )
    );
    let output = gwctl(&["check-config", "--skip-key-files", &config_arg], "");
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stdout(&output).contains("(key files not read: --skip-key-files)"));
}

#[test]
fn completions_for_each_shell() {
    for (shell, marker) in [
        ("bash", "_gwctl()"),
        ("zsh", "#compdef gwctl"),
        ("fish", "complete -c gwctl"),
    ] {
        let output = gwctl(&["completions", shell], "");
        assert!(output.status.success(), "{shell}: {}", stderr(&output));
        let script = stdout(&output);
        assert!(script.contains(marker), "{shell}: no {marker:?}");
        assert!(
            script.contains("check-config"),
            "{shell}: subcommands missing"
        );
    }
    let output = gwctl(&["completions", "powershell"], "");
    assert_eq!(output.status.code(), Some(2));
}

#[test]
fn help_explains_commands_with_examples() {
    let output = gwctl(&["--help"], "");
    assert!(output.status.success());
    let help = stdout(&output);
    for expected in [
        "Globalnet-style",
        "genkey",
        "pubkey",
        "check-config",
        "completions",
        "Examples:",
        "umask 077; gwctl genkey > private.key",
        "docs/configuration.md",
    ] {
        assert!(
            help.contains(expected),
            "--help lacks {expected:?}:\n{help}"
        );
    }
    let help = stdout(&gwctl(&["check-config", "--help"], ""));
    assert!(help.contains("--skip-key-files"), "{help}");
    assert!(
        help.contains("Exit status: 0 when the config is valid"),
        "{help}"
    );
}
