//! Reading operator-supplied files (config, keys) without trusting them: a
//! FIFO or device where a file should be must not block the reader forever
//! (a reload would freeze the main loop, and SIGTERM with it), and a huge
//! file (or a symlink to /dev/zero) must not exhaust memory.

use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// The largest config file read: a config with 1,000 peers and as many
/// exports is about 400 KiB of YAML, so 4 MiB leaves ten times that.
pub const MAX_CONFIG_BYTES: u64 = 4 << 20;

/// Opens `path` for reading without blocking on a FIFO (O_NONBLOCK has no
/// effect on regular files); an error unless it is a regular file. The
/// check is on the opened file, so it holds even if the path is swapped.
pub fn open_regular(path: &Path) -> io::Result<File> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)?;
    if !file.metadata()?.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a regular file (a FIFO, device or directory)",
        ));
    }
    Ok(file)
}

/// The bytes of the regular file at `path`, at most `limit` of them.
pub fn read_bounded(path: &Path, limit: u64) -> io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    // One byte more than the limit tells "at the limit" from "over it".
    open_regular(path)?
        .take(limit + 1)
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("larger than {limit} bytes"),
        ));
    }
    Ok(bytes)
}

/// [`read_bounded`] as UTF-8 text.
pub fn read_text_bounded(path: &Path, limit: u64) -> io::Result<String> {
    String::from_utf8(read_bounded(path, limit)?)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "not UTF-8 text"))
}

/// Creates a FIFO at `path` (tests of readers that must not block on one).
#[cfg(test)]
pub(crate) fn make_fifo(path: &Path) {
    let c_path = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path, for the duration of the call.
    assert_eq!(
        unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) },
        0,
        "mkfifo {}",
        path.display()
    );
}

/// A fresh, empty directory for one unit test: `<tmp>/gw-<label>-<pid>`.
#[cfg(test)]
pub(crate) fn scratch_dir(label: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("gw-{label}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    #[test]
    fn a_fifo_is_refused_at_once_instead_of_blocking() {
        let dir = scratch_dir("files-fifo");
        let fifo = dir.join("config.yaml");
        make_fifo(&fifo);
        let started = Instant::now();
        let err = read_bounded(&fifo, MAX_CONFIG_BYTES).unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(1));
        assert!(err.to_string().contains("not a regular file"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn devices_and_oversized_files_are_refused() {
        let err = read_bounded(Path::new("/dev/zero"), 16).unwrap_err();
        assert!(err.to_string().contains("not a regular file"), "{err}");
        let dir = scratch_dir("files-big");
        let big = dir.join("big.yaml");
        std::fs::write(&big, vec![b'#'; 17]).unwrap();
        assert!(read_bounded(&big, 16)
            .unwrap_err()
            .to_string()
            .contains("larger than 16"));
        std::fs::write(&big, vec![b'#'; 16]).unwrap();
        assert_eq!(read_text_bounded(&big, 16).unwrap().len(), 16);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
