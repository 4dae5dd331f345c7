//! WireGuard keys: Curve25519 private/public keys and preshared keys, in the
//! exact text format of `wg genkey` / `wg pubkey` / `wg genpsk`.
//!
//! Contract: secret material (private and preshared keys) is never printed.
//! Their `Debug` is redacted, they have no `Display`, errors about them never
//! include the key text, and the bytes are zeroed when the value is dropped.
//! The only way to get the text of a private key is the deliberately named
//! [`PrivateKey::expose_base64`].

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use std::fmt;
use std::fs::OpenOptions;
use std::io::Read;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use zeroize::{Zeroize, Zeroizing};

/// Curve25519 keys and WireGuard preshared keys are 32 bytes.
pub const KEY_LEN: usize = 32;
/// Base64 with padding: 4 characters per 3 bytes, rounded up: 4 × ⌈32 / 3⌉ = 44.
pub const KEY_BASE64_LEN: usize = 4 * KEY_LEN.div_ceil(3);
/// Permission bits for group and others (`chmod g=,o=` clears them).
const GROUP_OTHER_MODE_BITS: u32 = 0o077;
/// A key file is 44 characters plus a newline; anything much longer is not a
/// key file, and we do not read more than this of it.
const MAX_KEY_FILE_LEN: u64 = 1024;

/// Why a key text was rejected. Never contains the key text itself.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error(
        "expected {KEY_BASE64_LEN} base64 characters encoding {KEY_LEN} bytes (the format of \
         `wg genkey` / `wg pubkey`), got {len} characters"
    )]
    WrongLength { len: usize },
    #[error(
        "not valid base64 (standard alphabet with `=` padding, the format of `wg genkey` / \
         `wg pubkey`)"
    )]
    InvalidBase64,
    #[error("the operating system random number generator failed: {0}")]
    Random(String),
}

/// Why a private or preshared key file could not be used. Names the path;
/// never contains file contents.
#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "{}: mode {mode:04o}: {what} must not be readable by group or others; run chmod 600 {}",
        path.display(),
        path.display()
    )]
    InsecurePermissions {
        path: PathBuf,
        mode: u32,
        what: &'static str,
    },
    #[error("{}: not a regular file", path.display())]
    NotAFile { path: PathBuf },
    #[error(
        "{}: file is larger than {MAX_KEY_FILE_LEN} bytes; a key file holds one {KEY_BASE64_LEN}-character base64 key",
        path.display()
    )]
    TooLarge { path: PathBuf },
    #[error("{}: {what} is not valid: {source}", path.display())]
    Invalid {
        path: PathBuf,
        what: &'static str,
        source: KeyError,
    },
}

/// wg's key text: exactly 44 characters of padded standard base64; trailing
/// whitespace (the newline `wg genkey` writes) is tolerated. The base64
/// engine also rejects non-zero unused trailing bits, as `wg` does.
fn decode_key(text: &str) -> Result<[u8; KEY_LEN], KeyError> {
    let trimmed = text.trim_end_matches(|c: char| c.is_ascii_whitespace());
    if trimmed.len() != KEY_BASE64_LEN {
        return Err(KeyError::WrongLength {
            len: trimmed.chars().count(),
        });
    }
    let mut bytes = [0u8; KEY_LEN];
    match STANDARD.decode_slice(trimmed, &mut bytes) {
        Ok(KEY_LEN) => Ok(bytes),
        _ => {
            bytes.zeroize();
            Err(KeyError::InvalidBase64)
        }
    }
}

fn encode_key(bytes: &[u8; KEY_LEN]) -> String {
    STANDARD.encode(bytes)
}

/// Clamping as `wg genkey` does it (RFC 7748 §5): clear the 3 low bits, clear
/// the top bit, set the second-highest bit.
fn clamp(mut key: [u8; KEY_LEN]) -> [u8; KEY_LEN] {
    key[0] &= 248;
    key[31] = (key[31] & 127) | 64;
    key
}

fn random_bytes() -> Result<[u8; KEY_LEN], KeyError> {
    use rand_core::{OsRng, RngCore};
    let mut bytes = [0u8; KEY_LEN];
    OsRng
        .try_fill_bytes(&mut bytes)
        .map_err(|e| KeyError::Random(e.to_string()))?;
    Ok(bytes)
}

/// A Curve25519 private key. Zeroed on drop; `Debug` is redacted.
#[derive(Clone, PartialEq, Eq)]
pub struct PrivateKey([u8; KEY_LEN]);

impl PrivateKey {
    /// A new random key, clamped like `wg genkey`.
    pub fn generate() -> Result<Self, KeyError> {
        Ok(PrivateKey(clamp(random_bytes()?)))
    }

    /// Bytes as given: `wg` accepts unclamped private keys too (it clamps
    /// when computing with them), so we store them unchanged.
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> Self {
        PrivateKey(bytes)
    }

    /// Parses `wg genkey` output (44 base64 characters, trailing newline allowed).
    pub fn from_base64(text: &str) -> Result<Self, KeyError> {
        decode_key(text).map(PrivateKey)
    }

    /// Reads a key file written by `wg genkey > FILE`. Refuses a file that
    /// group or others have any permission on.
    pub fn load_file(path: &Path) -> Result<Self, KeyFileError> {
        read_secret_file(path, "private key").map(PrivateKey)
    }

    /// The key's base64 text, exactly as `wg genkey` prints it (without the
    /// newline). Named so that every place that reveals the key stands out.
    pub fn expose_base64(&self) -> Zeroizing<String> {
        Zeroizing::new(encode_key(&self.0))
    }

    /// The raw bytes, for handing to the WireGuard implementation.
    pub fn as_bytes(&self) -> &[u8; KEY_LEN] {
        &self.0
    }

    /// The matching public key, as `wg pubkey` computes it.
    pub fn public_key(&self) -> PublicKey {
        // StaticSecret clamps during the scalar multiplication, like wg does.
        let secret = x25519_dalek::StaticSecret::from(self.0);
        PublicKey(x25519_dalek::PublicKey::from(&secret).to_bytes())
    }
}

impl Drop for PrivateKey {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PrivateKey(<redacted>)")
    }
}

/// A Curve25519 public key. Public: `Display` prints it as `wg pubkey` does.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PublicKey([u8; KEY_LEN]);

impl PublicKey {
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> Self {
        PublicKey(bytes)
    }

    /// Parses `wg pubkey` output (44 base64 characters, trailing newline allowed).
    pub fn from_base64(text: &str) -> Result<Self, KeyError> {
        decode_key(text).map(PublicKey)
    }

    pub fn to_base64(&self) -> String {
        encode_key(&self.0)
    }

    pub fn as_bytes(&self) -> &[u8; KEY_LEN] {
        &self.0
    }
}

impl FromStr for PublicKey {
    type Err = KeyError;
    fn from_str(text: &str) -> Result<Self, KeyError> {
        PublicKey::from_base64(text)
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_base64())
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.to_base64())
    }
}

/// A WireGuard preshared key (`wg genpsk`): 32 random bytes, secret.
/// Zeroed on drop; `Debug` is redacted.
#[derive(Clone, PartialEq, Eq)]
pub struct PresharedKey([u8; KEY_LEN]);

impl PresharedKey {
    /// A new random key, like `wg genpsk` (no clamping: it is not a curve scalar).
    pub fn generate() -> Result<Self, KeyError> {
        random_bytes().map(PresharedKey)
    }

    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> Self {
        PresharedKey(bytes)
    }

    pub fn from_base64(text: &str) -> Result<Self, KeyError> {
        decode_key(text).map(PresharedKey)
    }

    /// Reads a file written by `wg genpsk > FILE`, with the same permission
    /// rule as private keys.
    pub fn load_file(path: &Path) -> Result<Self, KeyFileError> {
        read_secret_file(path, "preshared key").map(PresharedKey)
    }

    /// The key's base64 text, as `wg genpsk` prints it (without the newline).
    pub fn expose_base64(&self) -> Zeroizing<String> {
        Zeroizing::new(encode_key(&self.0))
    }

    pub fn as_bytes(&self) -> &[u8; KEY_LEN] {
        &self.0
    }
}

impl Drop for PresharedKey {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl fmt::Debug for PresharedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PresharedKey(<redacted>)")
    }
}

/// Opens first and checks the mode of the opened file, so the check and the
/// read concern the same file even if the path is swapped in between.
fn read_secret_file(path: &Path, what: &'static str) -> Result<[u8; KEY_LEN], KeyFileError> {
    let read_error = |source| KeyFileError::Read {
        path: path.to_path_buf(),
        source,
    };
    // O_NONBLOCK: a FIFO in place of the key must be refused below, not
    // block the reader (a reload on the main loop) forever.
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(read_error)?;
    let metadata = file.metadata().map_err(read_error)?;
    if !metadata.is_file() {
        return Err(KeyFileError::NotAFile {
            path: path.to_path_buf(),
        });
    }
    let mode = metadata.permissions().mode() & 0o7777;
    if mode & GROUP_OTHER_MODE_BITS != 0 {
        return Err(KeyFileError::InsecurePermissions {
            path: path.to_path_buf(),
            mode,
            what,
        });
    }
    let mut text = Zeroizing::new(String::new());
    // One byte more than the limit tells "at the limit" from "over it".
    file.take(MAX_KEY_FILE_LEN + 1)
        .read_to_string(&mut text)
        .map_err(read_error)?;
    if text.len() as u64 > MAX_KEY_FILE_LEN {
        return Err(KeyFileError::TooLarge {
            path: path.to_path_buf(),
        });
    }
    decode_key(&text).map_err(|source| KeyFileError::Invalid {
        path: path.to_path_buf(),
        what,
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_length_is_44() {
        assert_eq!(KEY_BASE64_LEN, 44);
    }

    #[test]
    fn clamp_matches_wg() {
        let clamped = clamp([0xff; KEY_LEN]);
        assert_eq!(clamped[0], 0xf8);
        assert_eq!(clamped[31], 0x7f);
        let clamped = clamp([0x00; KEY_LEN]);
        assert_eq!(clamped[0], 0x00);
        assert_eq!(clamped[31], 0x40);
    }

    #[test]
    fn decode_rejects_non_canonical_trailing_bits() {
        // 'B' in the last data position sets bits that fall off the 32nd byte.
        let text = format!("{}B=", "A".repeat(42));
        assert_eq!(decode_key(&text), Err(KeyError::InvalidBase64));
        let text = format!("{}A=", "A".repeat(42));
        assert_eq!(decode_key(&text), Ok([0; KEY_LEN]));
    }

    #[test]
    fn a_fifo_in_place_of_a_key_is_refused_without_blocking() {
        let dir = crate::files::scratch_dir("keys-fifo");
        let fifo = dir.join("private.key");
        crate::files::make_fifo(&fifo);
        let result = PrivateKey::load_file(&fifo);
        assert!(
            matches!(result, Err(KeyFileError::NotAFile { .. })),
            "{result:?}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
