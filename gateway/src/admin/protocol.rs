//! The admin API wire format: newline-delimited JSON over a Unix socket.
//! One request line in, one response line out, as many times as the client
//! likes on one connection. docs/admin-api.md is the user-facing description
//! and states the stability promise; keep the two in step.

use crate::status::GatewayStatus;
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Longest request line accepted, newline included. Requests are tiny
/// (`{"command":"mtu_probe","peer":"..."}`); 64 KiB is generous and still
/// bounds what one connection can make the daemon buffer.
pub const MAX_REQUEST_BYTES: usize = 64 * 1024;

/// Longest response line a client accepts: a status snapshot of a busy gateway
/// (hundreds of peers, thousands of exports) fits many times over in 64 MiB.
pub const MAX_RESPONSE_BYTES: usize = 64 * 1024 * 1024;

/// What a client asks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum Request {
    /// A full [`GatewayStatus`] snapshot.
    Status,
    /// Re-read the config file, like SIGHUP.
    Reload,
    /// Path-MTU probe through the tunnel to one peer's gateway address.
    MtuProbe { peer: String },
}

/// The result of an MTU probe.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MtuProbeResult {
    pub peer: String,
    /// Largest IP packet size (bytes, DF set) that got an answer; `null` when none did.
    pub largest_passing: Option<u16>,
}

/// One response line. Exactly one of the optional fields is present: `error`
/// when `ok` is false, otherwise the one that answers the request's command.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Response {
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<Box<GatewayStatus>>,
    /// What a reload changed (`reload`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtu_probe: Option<MtuProbeResult>,
}

impl Response {
    pub fn error(message: impl Into<String>) -> Self {
        Response {
            ok: false,
            error: Some(message.into()),
            ..Response::default()
        }
    }

    pub fn status(status: GatewayStatus) -> Self {
        Response {
            ok: true,
            status: Some(Box::new(status)),
            ..Response::default()
        }
    }

    pub fn reloaded(summary: String) -> Self {
        Response {
            ok: true,
            summary: Some(summary),
            ..Response::default()
        }
    }

    pub fn mtu_probe(peer: String, largest_passing: Option<u16>) -> Self {
        Response {
            ok: true,
            mtu_probe: Some(MtuProbeResult {
                peer,
                largest_passing,
            }),
            ..Response::default()
        }
    }
}

/// Why a request line could not be understood. Its message is what the client
/// sees in `{"ok":false,"error":...}`.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum RequestError {
    #[error("request larger than {MAX_REQUEST_BYTES} bytes")]
    TooLarge,
    #[error("request is not UTF-8")]
    NotUtf8,
    #[error("empty request: send one JSON object per line, e.g. {{\"command\":\"status\"}}")]
    Empty,
    #[error("malformed request: {0}")]
    Malformed(String),
}

/// Parses one request line (with or without its trailing newline).
pub fn parse_request(line: &[u8]) -> Result<Request, RequestError> {
    if line.len() > MAX_REQUEST_BYTES {
        return Err(RequestError::TooLarge);
    }
    let text = std::str::from_utf8(line).map_err(|_| RequestError::NotUtf8)?;
    let text = text.trim();
    if text.is_empty() {
        return Err(RequestError::Empty);
    }
    // Only an object: serde would also accept `["reload"]` for a tagged enum,
    // and a request nobody meant to send must not reload the daemon.
    if !text.starts_with('{') {
        return Err(RequestError::Malformed(
            "a request is a JSON object such as {\"command\":\"status\"}".to_string(),
        ));
    }
    serde_json::from_str(text).map_err(|e| RequestError::Malformed(e.to_string()))
}

/// Serialises a value as one line: compact JSON and a newline. serde_json
/// escapes control characters, so the line never contains a raw newline.
pub fn to_line<T: Serialize>(value: &T) -> Result<Vec<u8>, serde_json::Error> {
    let mut line = serde_json::to_vec(value)?;
    line.push(b'\n');
    Ok(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_have_the_documented_shape() {
        assert_eq!(
            parse_request(br#"{"command":"status"}"#),
            Ok(Request::Status)
        );
        assert_eq!(
            parse_request(b"{\"command\":\"reload\"}\n"),
            Ok(Request::Reload)
        );
        assert_eq!(
            parse_request(br#"{"command":"mtu_probe","peer":"cluster-b"}"#),
            Ok(Request::MtuProbe {
                peer: "cluster-b".into()
            })
        );
        let line = to_line(&Request::MtuProbe { peer: "x".into() }).unwrap();
        assert_eq!(line, b"{\"command\":\"mtu_probe\",\"peer\":\"x\"}\n");
    }

    #[test]
    fn bad_requests_are_errors_not_panics() {
        assert_eq!(parse_request(b"  \n"), Err(RequestError::Empty));
        assert_eq!(parse_request(&[0xff, 0xfe]), Err(RequestError::NotUtf8));
        assert!(matches!(
            parse_request(b"{"),
            Err(RequestError::Malformed(_))
        ));
        assert!(matches!(
            parse_request(br#"{"command":"format_disk"}"#),
            Err(RequestError::Malformed(_))
        ));
        assert!(matches!(
            parse_request(br#"{"command":"mtu_probe"}"#),
            Err(RequestError::Malformed(_))
        ));
        assert!(matches!(
            parse_request(b"[1,2]"),
            Err(RequestError::Malformed(_))
        ));
        let big = vec![b' '; MAX_REQUEST_BYTES + 1];
        assert_eq!(parse_request(&big), Err(RequestError::TooLarge));
    }

    #[test]
    fn unknown_fields_are_ignored_both_ways() {
        // docs/admin-api.md: additive changes must not break old peers.
        assert_eq!(
            parse_request(br#"{"command":"status","since":"v2"}"#),
            Ok(Request::Status)
        );
        let response: Response =
            serde_json::from_str(r#"{"ok":true,"summary":"x","added_later":[1,2]}"#).unwrap();
        assert_eq!(response.summary.as_deref(), Some("x"));
        let err = parse_request(br#"{"command":"reboot"}"#)
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("malformed request: unknown variant `reboot`, expected one of `status`, `reload`, `mtu_probe`"), "{err}");
    }

    #[test]
    fn error_response_omits_the_other_fields() {
        let line = to_line(&Response::error("nope")).unwrap();
        assert_eq!(line, b"{\"ok\":false,\"error\":\"nope\"}\n");
        let line = to_line(&Response::mtu_probe("b".into(), None)).unwrap();
        assert_eq!(
            line,
            b"{\"ok\":true,\"mtu_probe\":{\"peer\":\"b\",\"largest_passing\":null}}\n"
        );
    }
}
