//! A state directory the gateway cannot write (issue 5, "faults": disk full or
//! unwritable): the core still builds and serves, the failure is reported
//! (counter, latest error) while the previous file stays as it was, and once
//! the directory is writable again a retry saves the allocations and clears
//! the error — nothing waits for a reload or a restart. The lab version, with
//! a full tmpfs and a read-only mount under a running gateway, is
//! tests/netns/lab_faults.sh.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests: a panic is the failure report

use gateway::config::{Config, Secrets};
use gateway::daemon::core::Core;
use gateway::keys::PrivateKey;
use gateway::state::{StateDir, IPAM_FILE};
use gateway::status::StatusSource;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The lab's cluster-a config with its paths under `dir`.
fn lab_config(dir: &Path) -> (PathBuf, Config, Secrets) {
    let lab = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/lab/cluster-a.yaml");
    let peer = PrivateKey::generate().unwrap().public_key().to_base64();
    let text = std::fs::read_to_string(lab)
        .unwrap()
        .replace("@CLUSTER_B_PUBLIC_KEY@", &peer)
        .replace("/run/gwlab/cluster-a", dir.to_str().unwrap());
    let path = dir.join("gateway.yaml");
    std::fs::write(&path, &text).unwrap();
    let private_key = PrivateKey::generate().unwrap();
    let secrets = Secrets {
        public_key: private_key.public_key(),
        private_key,
        preshared_keys: Default::default(),
    };
    (path, Config::from_yaml(&text).unwrap(), secrets)
}

fn scratch(label: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("state-save-{}-{label}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn a_failed_save_is_reported_keeps_the_old_file_and_is_retried_until_it_succeeds() {
    let dir = scratch("retry");
    let (path, config, secrets) = lab_config(&dir);
    let state = StateDir::open(&config.state_dir).unwrap();
    // A previous run's file...
    drop(Core::build(&path, &config, &secrets, &state, Instant::now()).unwrap());
    let previous = std::fs::read(state.path(IPAM_FILE)).unwrap();
    // ...and a directory where the temporary file of the atomic write goes:
    // every save fails now (as on a full or read-only disk).
    let blocker = state.path(&format!(".{IPAM_FILE}.tmp"));
    std::fs::create_dir(&blocker).unwrap();

    let core = Core::build(&path, &config, &secrets, &state, Instant::now()).unwrap();
    let status = core.daemon.status();
    assert_eq!(status.state_save_errors, 1, "the save at start failed");
    let error = status.last_state_error.unwrap();
    assert!(error.contains("ipam.state"), "{error}");
    assert_eq!(std::fs::read(state.path(IPAM_FILE)).unwrap(), previous);
    // The allocations are in force all the same.
    assert_eq!(status.exports.len(), 1);

    // Still unwritable: a retry fails again and is counted.
    assert!(core.daemon.retry_state_save());
    assert_eq!(core.daemon.status().state_save_errors, 2);
    assert_eq!(std::fs::read(state.path(IPAM_FILE)).unwrap(), previous);

    // Writable again: the retry saves and clears the error; the count stays.
    std::fs::remove_dir(&blocker).unwrap();
    assert!(core.daemon.retry_state_save());
    let status = core.daemon.status();
    assert_eq!(status.state_save_errors, 2);
    assert_eq!(status.last_state_error, None);
    let saved = std::fs::read_to_string(state.path(IPAM_FILE)).unwrap();
    assert!(
        saved.contains(&format!(
            "ingress shared/echo-a {}",
            status.exports[0].global_ip
        )),
        "{saved}"
    );

    // Nothing to retry now: no write happens.
    std::fs::remove_file(state.path(IPAM_FILE)).unwrap();
    assert!(!core.daemon.retry_state_save());
    assert!(!state.path(IPAM_FILE).exists());
    std::fs::remove_dir_all(&dir).unwrap();
}
