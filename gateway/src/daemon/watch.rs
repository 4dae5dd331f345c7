//! Reload on config file change, for a ConfigMap mounted in a pod.
//!
//! Kubernetes updates a mounted ConfigMap by writing a new timestamped
//! directory and atomically swapping the `..data` symlink the file's own
//! symlink points through; the file we were given is never written in place,
//! and an inotify watch on it would keep watching the old, deleted inode. So
//! the watch polls: every interval it re-opens the path (following every
//! symlink anew) and compares the bytes with what it last saw. A config file is
//! a few KiB; reading it every couple of seconds costs nothing, and it works
//! the same for an editor's rename-over, a symlink swap or an in-place write.

use super::signals::ControlEvent;
use crate::files::{read_bounded, MAX_CONFIG_BYTES};
use std::path::PathBuf;
use std::sync::mpsc::Sender;
use std::time::Duration;

/// Default poll interval: a ConfigMap update reaches the pod's volume within
/// the kubelet's sync period (about a minute); 2 s adds nothing noticeable.
pub const DEFAULT_WATCH_INTERVAL: Duration = Duration::from_secs(2);

/// Starts the watch thread: a `Reload` event each time the content at `path`
/// changes. An unreadable file (mid-swap, or deleted) is not a change: the
/// event comes once readable content differs from the last seen.
pub fn spawn(
    path: PathBuf,
    interval: Duration,
    events: Sender<ControlEvent>,
) -> std::io::Result<()> {
    let mut last = read_bounded(&path, MAX_CONFIG_BYTES).ok();
    let mut refused = false;
    std::thread::Builder::new()
        .name("config-watch".into())
        .spawn(move || loop {
            std::thread::sleep(interval);
            let now = match read_bounded(&path, MAX_CONFIG_BYTES) {
                Ok(now) => now,
                // Not a regular file, or too large: say so once (a moment
                // mid-swap, NotFound, is normal and silent).
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    if !refused {
                        tracing::error!(path = %path.display(), error = %e, "config file not read; the running config stays");
                    }
                    refused = true;
                    continue;
                }
                Err(_) => continue,
            };
            refused = false;
            if last.as_deref() != Some(&now[..]) {
                tracing::info!(path = %path.display(), "config file changed; reloading");
                last = Some(now);
                if events.send(ControlEvent::Reload).is_err() {
                    return; // the daemon is stopping
                }
            }
        })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;
    use std::sync::mpsc::{channel, RecvTimeoutError};

    const TICK: Duration = Duration::from_millis(20);
    const PATIENCE: Duration = Duration::from_secs(2);

    /// Lays out a directory the way the kubelet mounts a ConfigMap:
    /// `config.yaml -> ..data/config.yaml`, `..data -> ..<version>`.
    fn configmap_version(dir: &std::path::Path, version: &str, content: &str) {
        let versioned = dir.join(format!("..{version}"));
        std::fs::create_dir(&versioned).unwrap();
        std::fs::write(versioned.join("config.yaml"), content).unwrap();
        // The kubelet's atomic swap: a new symlink renamed over `..data`.
        let tmp = dir.join("..data_tmp");
        symlink(format!("..{version}"), &tmp).unwrap();
        std::fs::rename(&tmp, dir.join("..data")).unwrap();
        let link = dir.join("config.yaml");
        if link.symlink_metadata().is_err() {
            symlink("..data/config.yaml", link).unwrap();
        }
    }

    #[test]
    fn a_configmap_symlink_swap_triggers_one_reload_per_change() {
        let dir = crate::files::scratch_dir("watch-swap");
        configmap_version(&dir, "v1", "cluster_id: a\n");
        let (tx, rx) = channel();
        spawn(dir.join("config.yaml"), TICK, tx).unwrap();

        assert_eq!(rx.recv_timeout(TICK * 5), Err(RecvTimeoutError::Timeout));
        configmap_version(&dir, "v2", "cluster_id: b\n");
        assert_eq!(rx.recv_timeout(PATIENCE), Ok(ControlEvent::Reload));
        // The old version directory goes away, as the kubelet removes it.
        std::fs::remove_dir_all(dir.join("..v1")).unwrap();
        assert_eq!(rx.recv_timeout(TICK * 5), Err(RecvTimeoutError::Timeout));
        configmap_version(&dir, "v3", "cluster_id: c\n");
        assert_eq!(rx.recv_timeout(PATIENCE), Ok(ControlEvent::Reload));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn same_content_or_a_missing_file_is_not_a_change() {
        let dir = crate::files::scratch_dir("watch-same");
        let file = dir.join("gateway.yaml");
        std::fs::write(&file, "cluster_id: a\n").unwrap();
        let (tx, rx) = channel();
        spawn(file.clone(), TICK, tx).unwrap();
        std::fs::write(&file, "cluster_id: a\n").unwrap(); // rewritten, same bytes
        assert_eq!(rx.recv_timeout(TICK * 5), Err(RecvTimeoutError::Timeout));
        std::fs::remove_file(&file).unwrap();
        assert_eq!(rx.recv_timeout(TICK * 5), Err(RecvTimeoutError::Timeout));
        // An editor's write-then-rename brings new content back.
        let tmp = dir.join(".gateway.yaml.swp");
        std::fs::write(&tmp, "cluster_id: b\n").unwrap();
        std::fs::rename(&tmp, &file).unwrap();
        assert_eq!(rx.recv_timeout(PATIENCE), Ok(ControlEvent::Reload));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
