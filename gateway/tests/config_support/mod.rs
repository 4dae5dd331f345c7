//! Shared by the config_* integration tests.
#![allow(dead_code, unreachable_pub)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Key pairs computed with Debian's wireguard-tools 1.0.20210914
/// (`wg genkey`, then `wg pubkey`), recorded so the tests do not need `wg`.
pub const WG_VECTORS: [(&str, &str); 2] = [
    (
        "+KrHLzuU0fUqAqSU/oY83gJOxJK52M2xfvoamUFHNVA=",
        "5Jo+T6ezwR3kvfd+xAVRXujQ2YFBAlSsjGm/SU9kl2Q=",
    ),
    (
        "uB4npMPYMk1lwrXaCt5+G9buioYCkJI856ZNfHLthkU=",
        "+zRPWqZ1e8W6hc/c/W82M0F4L7iJsqy9EuSqpCjSD34=",
    ),
];

/// Unclamped private keys given to `wg pubkey`: it clamps before use, and so must we.
pub const WG_UNCLAMPED_VECTORS: [(&str, &str); 2] = [
    (
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        "L+V9o0fNYkMVKNqsX7spBzD/9oSvxM/C7ZCZX1jLO3Q=",
    ),
    (
        "f/////////////////////////////////////////8=",
        "5Xahpv7Hk3ivt/GRrNozlq1W94TOM2WOlnrp5GF29yc=",
    ),
];

/// A minimal valid config; tests edit it to break one rule at a time.
pub const MINIMAL: &str = "\
cluster_id: cluster-a
private_key_file: /etc/gateway/private.key
local:
  pod_cidrs: [10.244.0.0/16]
  service_cidrs: [10.96.0.0/16]
globalnet:
  global_cidr: 242.0.0.0/16
";

pub fn lab_config(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../deploy/lab")
        .join(format!("{name}.yaml"));
    std::fs::read_to_string(&path).unwrap()
}

/// A directory under the system temp dir, removed when dropped.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(label: &str) -> TempDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let unique = NEXT.fetch_add(1, Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("gateway-{label}-{}-{unique}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    /// Writes `contents` to `name` and sets exactly `mode` (not subject to umask).
    pub fn write(&self, name: &str, contents: &str, mode: u32) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let path = self.0.join(name);
        std::fs::write(&path, contents).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Is `wg` (wireguard-tools) installed?
pub fn wg_available() -> bool {
    std::process::Command::new("wg")
        .arg("--version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}
