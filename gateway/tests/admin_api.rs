//! The admin API over a real Unix socket in a temporary directory, served
//! from a fake StatusSource: round trips, rejected reloads, hostile requests,
//! and the socket's permissions.
// Helpers outside #[test] fns may unwrap too: a panic there is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "support/fake_source.rs"]
mod fake_source;
#[path = "support/temp_dir.rs"]
mod temp_dir;

use fake_source::{sample_status, FakeSource};
use gateway::admin::{
    bind_admin, serve_admin, AdminClient, ClientError, Request, Response, MAX_REQUEST_BYTES,
};
use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use temp_dir::TempDir;

fn serve(dir: &TempDir) -> (PathBuf, Arc<FakeSource>) {
    let socket = dir.path().join("run/gateway/admin.sock");
    let source = Arc::new(FakeSource::new(sample_status()));
    serve_admin(&socket, source.clone()).unwrap();
    (socket, source)
}

/// Sends raw bytes, returns the response lines until the server closes or
/// `lines` responses arrived.
fn exchange(socket: &Path, request: &[u8], lines: usize) -> Vec<Response> {
    let mut stream = UnixStream::connect(socket).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    // The server may close before reading everything (oversized requests).
    let _ = stream.write_all(request);
    let mut reader = BufReader::new(stream);
    let mut responses = Vec::new();
    for _ in 0..lines {
        let mut line = String::new();
        // A server that closes with our request unread makes the next read
        // fail with ECONNRESET rather than return EOF: both end the exchange.
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            break;
        }
        responses.push(serde_json::from_str(&line).unwrap());
    }
    responses
}

#[test]
fn status_round_trip_returns_the_snapshot() {
    let dir = TempDir::new("adm");
    let (socket, _) = serve(&dir);
    let mut client = AdminClient::connect(&socket).unwrap();
    assert_eq!(client.status().unwrap(), sample_status());
    // Several requests on one connection.
    assert_eq!(client.status().unwrap().peers.len(), 2);
    assert_eq!(client.mtu_probe("cluster-b").unwrap(), Some(1420));
}

#[test]
fn reload_reports_summary_or_rejection() {
    let dir = TempDir::new("adm");
    let (socket, source) = serve(&dir);
    let mut client = AdminClient::connect(&socket).unwrap();
    assert_eq!(
        client.reload().unwrap(),
        "2 peers (1 changed), 3 exports (1 added)"
    );

    *source.reload_result.lock().unwrap() =
        Err("peers[1].cidrs: 242.0.0.0/16 overlaps our global block".to_string());
    match client.reload() {
        Err(ClientError::Rejected(why)) => {
            assert!(why.contains("overlaps our global block"), "{why}")
        }
        other => panic!("expected a rejection, got {other:?}"),
    }
    assert_eq!(*source.reload_calls.lock().unwrap(), 2);
}

#[test]
fn mtu_probe_errors_and_empty_results_are_distinct() {
    let dir = TempDir::new("adm");
    let (socket, source) = serve(&dir);
    source
        .mtu
        .lock()
        .unwrap()
        .push(("cluster-c".to_string(), Ok(None)));
    let mut client = AdminClient::connect(&socket).unwrap();
    assert_eq!(client.mtu_probe("cluster-c").unwrap(), None);
    match client.mtu_probe("nobody") {
        Err(ClientError::Rejected(why)) => assert!(why.contains("unknown peer"), "{why}"),
        other => panic!("expected a rejection, got {other:?}"),
    }
    let raw = exchange(&socket, b"{\"command\":\"mtu_probe\",\"peer\":\"  \"}\n", 1);
    assert!(!raw[0].ok);
    assert!(raw[0].error.as_deref().unwrap().contains("needs a peer"));
}

#[test]
fn malformed_requests_get_an_error_line_and_change_nothing() {
    let dir = TempDir::new("adm");
    let (socket, source) = serve(&dir);
    let garbage: &[&[u8]] = &[
        b"{\n",
        b"not json\n",
        b"[\"reload\"]\n",
        b"{\"command\":\"reboot\"}\n",
        b"{\"command\":\"mtu_probe\"}\n",
        b"{\"command\":\"reload\",\"command\":\"status\"}\n",
        b"\xff\xfe\xfd\n",
        b"\n",
        b"{\"command\":null}\n",
    ];
    for bad in garbage {
        let responses = exchange(&socket, bad, 1);
        assert_eq!(responses.len(), 1, "{bad:?}");
        assert!(!responses[0].ok, "{bad:?}");
        assert!(responses[0].error.is_some(), "{bad:?}");
        assert!(responses[0].status.is_none() && responses[0].summary.is_none());
    }
    assert_eq!(
        *source.reload_calls.lock().unwrap(),
        0,
        "no garbage may reload"
    );

    // The connection survives a bad line: the next request is answered.
    let responses = exchange(&socket, b"nonsense\n{\"command\":\"status\"}\n", 2);
    assert_eq!(responses.len(), 2);
    assert!(!responses[0].ok);
    assert!(responses[1].ok && responses[1].status.is_some());
}

#[test]
fn oversized_request_is_refused_and_the_connection_closed() {
    let dir = TempDir::new("adm");
    let (socket, source) = serve(&dir);
    let mut big = br#"{"command":"reload","pad":""#.to_vec();
    big.resize(MAX_REQUEST_BYTES * 4, b'x');
    big.extend_from_slice(b"\"}\n");
    let responses = exchange(&socket, &big, 2);
    assert_eq!(responses.len(), 1, "one error, then the server closes");
    assert!(!responses[0].ok);
    assert!(responses[0]
        .error
        .as_deref()
        .unwrap()
        .contains("larger than"));
    assert_eq!(*source.reload_calls.lock().unwrap(), 0);

    // A request right at the limit is still served.
    let mut at_limit = br#"{"command":"status","pad":""#.to_vec();
    at_limit.resize(MAX_REQUEST_BYTES - 3, b'x');
    at_limit.extend_from_slice(b"\"}\n");
    assert_eq!(at_limit.len(), MAX_REQUEST_BYTES);
    let responses = exchange(&socket, &at_limit, 1);
    assert!(responses[0].ok, "{:?}", responses[0].error);
}

#[test]
fn last_request_without_newline_is_answered() {
    let dir = TempDir::new("adm");
    let (socket, _) = serve(&dir);
    let mut stream = UnixStream::connect(&socket).unwrap();
    stream.write_all(br#"{"command":"status"}"#).unwrap();
    stream.shutdown(std::net::Shutdown::Write).unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).unwrap();
    let response: Response = serde_json::from_str(text.trim_end()).unwrap();
    assert!(response.ok);
}

#[test]
fn socket_is_owner_only_in_a_private_directory() {
    let dir = TempDir::new("adm");
    let (socket, _) = serve(&dir);
    let meta = std::fs::symlink_metadata(&socket).unwrap();
    assert!(meta.file_type().is_socket());
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    let parent = std::fs::metadata(socket.parent().unwrap()).unwrap();
    assert_eq!(parent.permissions().mode() & 0o777, 0o700);
}

#[test]
fn stale_socket_is_replaced_but_live_socket_and_other_files_are_not() {
    let dir = TempDir::new("adm");
    let source = Arc::new(FakeSource::new(sample_status()));

    // Stale: a socket file nobody listens on (its listener was dropped).
    let stale = dir.path().join("stale.sock");
    drop(std::os::unix::net::UnixListener::bind(&stale).unwrap());
    serve_admin(&stale, source.clone()).unwrap();
    assert!(AdminClient::connect(&stale).unwrap().status().is_ok());

    // Live: the one we just started. The daemon refuses to start on exactly this kind.
    let err = serve_admin(&stale, source.clone()).unwrap_err();
    assert!(err.to_string().contains("in use"), "{err}");
    assert_eq!(err.kind(), ErrorKind::AddrInUse);

    // Not a socket: never deleted, and not "in use" (the daemon logs it and runs on).
    let file = dir.path().join("config.yaml");
    std::fs::write(&file, "precious").unwrap();
    let err = serve_admin(&file, source).unwrap_err();
    assert!(err.to_string().contains("not a socket"), "{err}");
    assert_ne!(err.kind(), ErrorKind::AddrInUse);
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "precious");
}

#[test]
fn a_socket_bound_before_it_is_served_is_in_use_and_answers_once_served() {
    // The daemon binds before it creates its TUN device and serves once it is up.
    let dir = TempDir::new("adm");
    let path = dir.path().join("admin.sock");
    let bound = bind_admin(&path).unwrap();
    let err = bind_admin(&path)
        .err()
        .expect("a second bind must be refused");
    assert_eq!(err.kind(), ErrorKind::AddrInUse, "{err}");
    // A client that connected in between waits in the backlog and gets its answer.
    let early = std::thread::spawn({
        let path = path.clone();
        move || AdminClient::connect(&path).unwrap().status().is_ok()
    });
    std::thread::sleep(Duration::from_millis(50));
    bound
        .serve(Arc::new(FakeSource::new(sample_status())))
        .unwrap();
    assert!(early.join().unwrap());
}

#[test]
fn client_explains_an_unreachable_gateway() {
    let dir = TempDir::new("adm");
    let missing = dir.path().join("nothing-here.sock");
    let err = AdminClient::connect(&missing).unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, ClientError::Unreachable { .. }));
    assert!(text.contains("nothing-here.sock"), "{text}");
    assert!(text.contains("Is the gateway running"), "{text}");
    assert!(text.contains("--socket"), "{text}");

    // A socket file with no listener: refused.
    let stale = dir.path().join("stale.sock");
    drop(std::os::unix::net::UnixListener::bind(&stale).unwrap());
    let text = AdminClient::connect(&stale).unwrap_err().to_string();
    assert!(text.contains("nothing listens"), "{text}");
}

#[test]
fn client_rejects_a_server_speaking_nonsense() {
    let dir = TempDir::new("adm");
    let socket = dir.path().join("liar.sock");
    let listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    std::thread::spawn(move || {
        for reply in [
            &b"this is not json\n"[..],
            b"{\"ok\":true}\n",
            b"{\"ok\":false}\n",
            b"{\"ok\":tr",
        ] {
            let (mut conn, _) = listener.accept().unwrap();
            let mut line = String::new();
            BufReader::new(conn.try_clone().unwrap())
                .read_line(&mut line)
                .unwrap();
            conn.write_all(reply).unwrap();
        }
    });
    for expected in [
        "malformed response",
        "without a status",
        "no error",
        "truncated",
    ] {
        let err = AdminClient::connect(&socket).unwrap().status().unwrap_err();
        assert!(matches!(err, ClientError::Protocol { .. }), "{err:?}");
        assert!(err.to_string().contains(expected), "{err} / {expected}");
    }
}

#[test]
fn request_wire_format_is_the_documented_one() {
    // docs/admin-api.md promises these exact lines.
    let dir = TempDir::new("adm");
    let (socket, _) = serve(&dir);
    let responses = exchange(
        &socket,
        b"{\"command\":\"status\"}\n{\"command\":\"reload\"}\n{\"command\":\"mtu_probe\",\"peer\":\"cluster-b\"}\n",
        3,
    );
    assert!(responses[0].ok && responses[0].status.is_some());
    assert_eq!(
        responses[1].summary.as_deref(),
        Some("2 peers (1 changed), 3 exports (1 added)")
    );
    let probe = responses[2].mtu_probe.as_ref().unwrap();
    assert_eq!(
        (probe.peer.as_str(), probe.largest_passing),
        ("cluster-b", Some(1420))
    );
    let _ = Request::Status; // the same types the daemon uses
}

#[test]
fn connections_beyond_the_cap_are_told_busy_and_slots_come_back() {
    const CAP: usize = 16; // server.rs MAX_CONNECTIONS
    let dir = TempDir::new("adm");
    let (socket, _) = serve(&dir);
    // Each idle client holds a slot; a served request proves the slot is held.
    let mut idle: Vec<AdminClient> = (0..CAP)
        .map(|_| {
            let mut c = AdminClient::connect(&socket).unwrap();
            c.status().unwrap();
            c
        })
        .collect();
    let responses = exchange(&socket, b"{\"command\":\"status\"}\n", 1);
    assert_eq!(responses.len(), 1);
    assert!(responses[0].error.as_deref().unwrap().contains("busy"));

    idle.truncate(CAP - 1); // closing one frees its slot
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let responses = exchange(&socket, b"{\"command\":\"status\"}\n", 1);
        if responses[0].ok {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "slot never came back");
        std::thread::sleep(Duration::from_millis(10));
    }
}
