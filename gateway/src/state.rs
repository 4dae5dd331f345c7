//! The state directory: files replaced atomically (write a temporary file,
//! fsync it, rename over the old one, fsync the directory), so a crash or a
//! full disk leaves either the old file or the new one — never half of each.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// Global IP allocations (natcore IPAM's text format).
pub const IPAM_FILE: &str = "ipam.state";
/// Established NAT flows saved on graceful shutdown.
pub const FLOWS_FILE: &str = "flows.state";

/// A directory of state files.
#[derive(Clone, Debug)]
pub struct StateDir {
    dir: PathBuf,
}

impl StateDir {
    /// Creates the directory (mode 0700) if needed.
    pub fn open(dir: &Path) -> io::Result<Self> {
        fs::create_dir_all(dir)?;
        Ok(StateDir {
            dir: dir.to_path_buf(),
        })
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Reads a state file; `Ok(None)` when it does not exist yet.
    pub fn read(&self, name: &str) -> io::Result<Option<Vec<u8>>> {
        match fs::read(self.path(name)) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Replaces `name` with `bytes` atomically and durably.
    pub fn write_atomic(&self, name: &str, bytes: &[u8]) -> io::Result<()> {
        let target = self.path(name);
        let tmp = self.path(&format!(".{name}.tmp"));
        let result = (|| {
            let mut f = OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&tmp)?;
            f.write_all(bytes)?;
            f.sync_all()?;
            fs::rename(&tmp, &target)?;
            File::open(&self.dir)?.sync_all()
        })();
        if result.is_err() {
            // Leave the previous file untouched; do not leave debris either.
            let _ = fs::remove_file(&tmp);
        }
        result
    }

    /// Removes a state file; absent is fine.
    pub fn remove(&self, name: &str) -> io::Result<()> {
        match fs::remove_file(self.path(name)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_read_replace_remove() {
        let d = crate::files::scratch_dir("state-rw");
        let s = StateDir::open(&d).unwrap();
        assert_eq!(s.read("x").unwrap(), None);
        s.write_atomic("x", b"one").unwrap();
        s.write_atomic("x", b"two").unwrap();
        assert_eq!(s.read("x").unwrap().as_deref(), Some(&b"two"[..]));
        assert!(!s.path(".x.tmp").exists());
        s.remove("x").unwrap();
        s.remove("x").unwrap();
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn failed_write_keeps_previous_file() {
        let d = crate::files::scratch_dir("state-fail");
        let s = StateDir::open(&d).unwrap();
        s.write_atomic("x", b"good").unwrap();
        // A directory where the temporary file should go makes the write fail.
        fs::create_dir(s.path(".x.tmp")).unwrap();
        assert!(s.write_atomic("x", b"bad").is_err());
        assert_eq!(s.read("x").unwrap().as_deref(), Some(&b"good"[..]));
        fs::remove_dir_all(&d).unwrap();
    }
}
