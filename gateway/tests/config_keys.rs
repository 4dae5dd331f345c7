//! Keys: wg-compatible text format and derivation, redaction, key-file
//! permission checks, and `Config::load_secrets`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod config_support;

use config_support::{TempDir, MINIMAL, WG_UNCLAMPED_VECTORS, WG_VECTORS};
use gateway::config::Config;
use gateway::keys::{KeyError, KeyFileError, PresharedKey, PrivateKey, PublicKey};

#[test]
fn public_key_matches_wg_pubkey_vectors() {
    for (private, public) in WG_VECTORS.iter().chain(&WG_UNCLAMPED_VECTORS) {
        let key = PrivateKey::from_base64(private).unwrap();
        assert_eq!(key.public_key().to_base64(), *public, "private {private}");
    }
}

#[test]
fn base64_round_trips_exactly() {
    for (private, public) in WG_VECTORS {
        assert_eq!(
            *PrivateKey::from_base64(private).unwrap().expose_base64(),
            private
        );
        let parsed: PublicKey = public.parse().unwrap();
        assert_eq!(parsed.to_string(), public);
        assert_eq!(PublicKey::from_bytes(*parsed.as_bytes()), parsed);
    }
}

#[test]
fn trailing_newline_is_tolerated() {
    let (private, public) = WG_VECTORS[0];
    let key = PrivateKey::from_base64(&format!("{private}\n")).unwrap();
    assert_eq!(key.public_key().to_base64(), public);
    assert!(PublicKey::from_base64(&format!("{public}\r\n")).is_ok());
}

#[test]
fn malformed_keys_are_rejected() {
    let (private, _) = WG_VECTORS[0];
    assert_eq!(
        PrivateKey::from_base64(&private[..43]).unwrap_err(),
        KeyError::WrongLength { len: 43 }
    );
    assert_eq!(
        PrivateKey::from_base64(&format!(" {private}")).unwrap_err(),
        KeyError::WrongLength { len: 45 }
    );
    // URL-safe alphabet is not wg's.
    let url_safe = private.replace('+', "-");
    assert_eq!(
        PrivateKey::from_base64(&url_safe).unwrap_err(),
        KeyError::InvalidBase64
    );
    // No padding: 43 + one more data character.
    let unpadded = format!("{}A", &private[..43]);
    assert_eq!(
        PublicKey::from_base64(&unpadded).unwrap_err(),
        KeyError::InvalidBase64
    );
}

#[test]
fn generated_keys_are_clamped_like_wg_genkey_and_distinct() {
    let a = PrivateKey::generate().unwrap();
    let b = PrivateKey::generate().unwrap();
    assert_ne!(a.as_bytes(), b.as_bytes());
    for key in [&a, &b] {
        let bytes = key.as_bytes();
        assert_eq!(bytes[0] & 0b111, 0, "low 3 bits cleared");
        assert_eq!(bytes[31] & 0x80, 0, "top bit cleared");
        assert_eq!(bytes[31] & 0x40, 0x40, "second-highest bit set");
        assert_eq!(key.expose_base64().len(), 44);
    }
    assert_ne!(
        PresharedKey::generate().unwrap(),
        PresharedKey::generate().unwrap()
    );
}

#[test]
fn debug_never_prints_secret_material() {
    let (private, public) = WG_VECTORS[0];
    let key = PrivateKey::from_base64(private).unwrap();
    assert_eq!(format!("{key:?}"), "PrivateKey(<redacted>)");
    assert_eq!(format!("{key:#?}"), "PrivateKey(<redacted>)");
    let psk = PresharedKey::from_base64(private).unwrap();
    assert_eq!(format!("{psk:?}"), "PresharedKey(<redacted>)");
    // Public keys are public.
    let public_key = key.public_key();
    assert_eq!(format!("{public_key:?}"), format!("PublicKey({public})"));
}

fn write_key(dir: &TempDir, name: &str, mode: u32) -> std::path::PathBuf {
    dir.write(name, &format!("{}\n", WG_VECTORS[0].0), mode)
}

#[test]
fn private_key_file_with_mode_600_or_400_loads() {
    let dir = TempDir::new("keys-ok");
    for mode in [0o600, 0o400] {
        let path = write_key(&dir, &format!("key-{mode:o}"), mode);
        let key = PrivateKey::load_file(&path).unwrap();
        assert_eq!(key.public_key().to_base64(), WG_VECTORS[0].1);
    }
}

#[test]
fn private_key_file_readable_by_others_is_refused() {
    let dir = TempDir::new("keys-mode");
    for mode in [0o644, 0o640, 0o604, 0o610, 0o601] {
        let path = write_key(&dir, &format!("key-{mode:o}"), mode);
        let error = PrivateKey::load_file(&path).unwrap_err();
        assert!(
            matches!(error, KeyFileError::InsecurePermissions { mode: m, .. } if m == mode),
            "{error:?}"
        );
        let message = error.to_string();
        let p = path.display();
        assert_eq!(
            message,
            format!(
                "{p}: mode 0{mode:o}: private key must not be readable by group or others; run \
                 chmod 600 {p}"
            )
        );
        assert!(!message.contains(WG_VECTORS[0].0));
    }
}

#[test]
fn key_file_errors_never_contain_the_file_contents() {
    let dir = TempDir::new("keys-bad");
    // A key with one character missing: what is there is still secret.
    let truncated = &WG_VECTORS[0].0[..43];
    let path = dir.write("truncated", truncated, 0o600);
    let error = PrivateKey::load_file(&path).unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "{}: private key is not valid: expected 44 base64 characters encoding 32 bytes (the \
             format of `wg genkey` / `wg pubkey`), got 43 characters",
            path.display()
        )
    );
    assert!(!format!("{error:?}").contains(truncated));

    let big = dir.write("big", &"A".repeat(2000), 0o600);
    assert_eq!(
        PrivateKey::load_file(&big).unwrap_err().to_string(),
        format!(
            "{}: file is larger than 1024 bytes; a key file holds one 44-character base64 key",
            big.display()
        )
    );

    let missing = dir.path().join("missing");
    assert_eq!(
        PrivateKey::load_file(&missing).unwrap_err().to_string(),
        format!(
            "cannot read {}: No such file or directory (os error 2)",
            missing.display()
        )
    );
    assert_eq!(
        PrivateKey::load_file(dir.path()).unwrap_err().to_string(),
        format!("{}: not a regular file", dir.path().display())
    );
}

fn config_with_keys(private_key_file: &std::path::Path, peers: &str) -> Config {
    let text = MINIMAL.replace(
        "/etc/gateway/private.key",
        &private_key_file.display().to_string(),
    );
    Config::from_yaml(&format!("{text}{peers}")).unwrap()
}

#[test]
fn load_secrets_reads_private_and_preshared_keys() {
    let dir = TempDir::new("secrets-ok");
    let key = write_key(&dir, "private.key", 0o600);
    let psk_text = PresharedKey::generate().unwrap();
    let psk = dir.write(
        "b.psk",
        &format!("{}\n", psk_text.expose_base64().as_str()),
        0o600,
    );
    let peers = format!(
        "peers:\n  - name: cluster-b\n    public_key: \"{}\"\n    global_cidr: 243.0.0.0/16\n    \
         preshared_key_file: {}\n",
        WG_VECTORS[1].1,
        psk.display()
    );
    let secrets = config_with_keys(&key, &peers).load_secrets().unwrap();
    assert_eq!(secrets.public_key.to_base64(), WG_VECTORS[0].1);
    assert_eq!(secrets.preshared_key("cluster-b"), Some(&psk_text));
    assert_eq!(secrets.preshared_key("cluster-c"), None);
    let debug = format!("{secrets:?}");
    assert!(!debug.contains(WG_VECTORS[0].0), "{debug}");
}

#[test]
fn load_secrets_reports_every_key_file_problem() {
    let dir = TempDir::new("secrets-bad");
    let key = write_key(&dir, "private.key", 0o644);
    let psk = write_key(&dir, "b.psk", 0o640);
    let peers = format!(
        "peers:\n  - name: cluster-b\n    public_key: \"{}\"\n    global_cidr: 243.0.0.0/16\n    \
         preshared_key_file: {}\n",
        WG_VECTORS[1].1,
        psk.display()
    );
    let error = config_with_keys(&key, &peers).load_secrets().unwrap_err();
    let errors: Vec<String> = error
        .field_errors()
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        errors,
        vec![
            format!(
                "private_key_file: {k}: mode 0644: private key must not be readable by group or \
                 others; run chmod 600 {k}",
                k = key.display()
            ),
            format!(
                "peers[0].preshared_key_file: {p}: mode 0640: preshared key must not be readable \
                 by group or others; run chmod 600 {p}",
                p = psk.display()
            ),
        ]
    );
}

#[test]
fn load_secrets_refuses_our_own_key_as_a_peer() {
    let dir = TempDir::new("secrets-self");
    let key = write_key(&dir, "private.key", 0o600);
    let peers = format!(
        "peers:\n  - name: cluster-b\n    public_key: \"{}\"\n    global_cidr: 243.0.0.0/16\n",
        WG_VECTORS[0].1
    );
    let error = config_with_keys(&key, &peers).load_secrets().unwrap_err();
    assert_eq!(
        error.to_string(),
        "1 error in config:\n  peers[0].public_key: is this gateway's own public key (derived \
         from private_key_file); a peer needs the other gateway's key"
    );
}
