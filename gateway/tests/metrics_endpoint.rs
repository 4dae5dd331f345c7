//! The metrics endpoint on 127.0.0.1:0 with a fake StatusSource: names,
//! types and labels, both exposition formats, promtool, health endpoints, and
//! hostile HTTP.
// Helpers outside #[test] fns may unwrap too: a panic there is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "support/fake_source.rs"]
mod fake_source;

use fake_source::{sample_status, FakeSource};
use gateway::metrics::serve_metrics_on;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

const OPENMETRICS_ACCEPT: &str =
    "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

fn serve(source: FakeSource) -> (SocketAddr, Arc<FakeSource>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let source = Arc::new(source);
    serve_metrics_on(listener, source.clone()).unwrap();
    (addr, source)
}

struct Reply {
    code: u16,
    headers: String,
    body: String,
}

fn send(addr: SocketAddr, raw: &[u8]) -> Reply {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    // The server may answer and close before reading everything we send.
    let _ = stream.write_all(raw);
    let mut bytes = Vec::new();
    let _ = stream.read_to_end(&mut bytes);
    let text = String::from_utf8(bytes).unwrap();
    let (head, body) = text
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no HTTP head in {text:?}"));
    let code = head.split(' ').nth(1).unwrap().parse().unwrap();
    Reply {
        code,
        headers: head.to_string(),
        body: body.to_string(),
    }
}

fn get(addr: SocketAddr, path: &str, accept: Option<&str>) -> Reply {
    let accept = accept
        .map(|a| format!("Accept: {a}\r\n"))
        .unwrap_or_default();
    send(
        addr,
        format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n{accept}\r\n").as_bytes(),
    )
}

fn scrape_openmetrics(source: FakeSource) -> String {
    let (addr, _) = serve(source);
    let reply = get(addr, "/metrics", Some(OPENMETRICS_ACCEPT));
    assert_eq!(reply.code, 200);
    assert!(
        reply
            .headers
            .contains("Content-Type: application/openmetrics-text; version=1.0.0; charset=utf-8"),
        "{}",
        reply.headers
    );
    reply.body
}

/// Every planned metric (briefs/metrics-names.md) with its OpenMetrics type.
const PLANNED: &[(&str, &str)] = &[
    ("gateway_peer_rx_bytes", "counter"),
    ("gateway_peer_tx_bytes", "counter"),
    ("gateway_peer_rx_packets", "counter"),
    ("gateway_peer_tx_packets", "counter"),
    ("gateway_peer_handshakes", "counter"),
    ("gateway_peer_handshake_failures", "counter"),
    ("gateway_peer_configured_endpoint_retries", "counter"),
    ("gateway_peer_last_handshake_timestamp_seconds", "gauge"),
    ("gateway_peer_connection_status", "gauge"),
    ("gateway_peer_rtt_seconds", "histogram"),
    ("gateway_nat_flows", "gauge"),
    ("gateway_nat_flows_created", "counter"),
    ("gateway_nat_flows_expired", "counter"),
    ("gateway_egress_ports_in_use", "gauge"),
    ("gateway_global_ips_allocated", "gauge"),
    ("gateway_global_ips_available", "gauge"),
    ("gateway_mss_clamped", "counter"),
    ("gateway_fragmentation_needed_sent", "counter"),
    ("gateway_packets_dropped", "counter"),
    ("gateway_config_reloads", "counter"),
    ("gateway_tun_rx_bulk_scheduling", "gauge"),
    ("gateway_tun_rx_bulk_mode", "gauge"),
    ("gateway_tun_rx_bulk_mode_entered", "counter"),
    ("gateway_udp_rx_moderation_nap_seconds", "gauge"),
    ("gateway_udp_rx_moderation_naps", "counter"),
    ("gateway_data_path_solo", "gauge"),
    ("gateway_data_path_solo_switches", "counter"),
];

const PEER_B: &str =
    r#"local_cluster="cluster-a",remote_cluster="cluster-b",remote_endpoint_ip="192.0.2.20""#;
const PEER_C: &str =
    r#"local_cluster="cluster-a",remote_cluster="cluster-c",remote_endpoint_ip="198.51.100.7""#;

#[test]
fn openmetrics_has_every_planned_metric_with_its_type() {
    let body = scrape_openmetrics(FakeSource::new(sample_status()));
    assert!(body.ends_with("# EOF\n"), "OpenMetrics must end with # EOF");
    assert_eq!(body.matches("# EOF").count(), 1);
    for (name, kind) in PLANNED {
        assert!(
            body.contains(&format!("\n# TYPE {name} {kind}\n")),
            "{name} {kind}"
        );
        assert!(body.contains(&format!("# HELP {name} ")), "{name} help");
        let sample = if *kind == "counter" {
            format!("{name}_total")
        } else {
            name.to_string()
        };
        assert!(
            body.lines().any(|l| l.starts_with(&sample)),
            "{sample} has no sample"
        );
    }
    // Counters are exposed only as `_total`.
    assert!(!body
        .lines()
        .any(|l| l.starts_with("gateway_peer_rx_bytes{")));
}

#[test]
fn per_peer_samples_carry_submariner_label_meanings() {
    let body = scrape_openmetrics(FakeSource::new(sample_status()));
    for line in [
        format!("gateway_peer_rx_bytes_total{{{PEER_B}}} 1298137661"),
        format!("gateway_peer_tx_bytes_total{{{PEER_C}}} 2048000"),
        format!("gateway_peer_handshake_failures_total{{{PEER_C}}} 14"),
        format!("gateway_peer_configured_endpoint_retries_total{{{PEER_C}}} 2"),
        format!("gateway_peer_last_handshake_timestamp_seconds{{{PEER_B}}} 1700000000.0"),
        format!("gateway_peer_connection_status{{{PEER_B},status=\"connected\"}} 1.0"),
        format!("gateway_peer_connection_status{{{PEER_B},status=\"error\"}} 0.0"),
        format!("gateway_peer_connection_status{{{PEER_C},status=\"error\"}} 1.0"),
        format!("gateway_peer_connection_status{{{PEER_C},status=\"connecting\"}} 0.0"),
        format!("gateway_peer_rtt_seconds_count{{{PEER_C}}} 3400"),
        format!("gateway_peer_rtt_seconds_bucket{{le=\"+Inf\",{PEER_C}}} 3400"),
        format!("gateway_peer_rtt_seconds_bucket{{le=\"0.001\",{PEER_B}}} 360"),
        format!("gateway_peer_rtt_seconds_bucket{{le=\"0.0025\",{PEER_B}}} 3600"),
        "gateway_nat_flows{protocol=\"tcp\"} 2301.0".to_string(),
        "gateway_nat_flows_created_total{protocol=\"icmp\"} 977".to_string(),
        "gateway_egress_ports_in_use{global_ip=\"242.0.0.20\"} 42.0".to_string(),
        "gateway_global_ips_allocated{cidr=\"242.0.0.0/16\",kind=\"cluster_egress\"} 2.0"
            .to_string(),
        "gateway_global_ips_allocated{cidr=\"242.0.0.0/16\",kind=\"egress_group\"} 1.0".to_string(),
        "gateway_global_ips_allocated{cidr=\"242.0.0.0/16\",kind=\"ingress\"} 2.0".to_string(),
        "gateway_global_ips_available{cidr=\"242.0.0.0/16\"} 65529.0".to_string(),
        "gateway_packets_dropped_total{reason=\"not_exported\"} 25".to_string(),
        "gateway_config_reloads_total{result=\"ok\"} 3".to_string(),
        "gateway_config_reloads_total{result=\"rejected\"} 1".to_string(),
        "gateway_mss_clamped_total 90000".to_string(),
        "gateway_fragmentation_needed_sent_total 3".to_string(),
        "gateway_ready 1.0".to_string(),
        "gateway_tun_rx_bulk_scheduling{state=\"enabled\"} 1.0".to_string(),
        "gateway_tun_rx_bulk_scheduling{state=\"refused\"} 0.0".to_string(),
        "gateway_tun_rx_bulk_mode 1.0".to_string(),
        "gateway_tun_rx_bulk_mode_entered_total 7".to_string(),
        "gateway_udp_rx_moderation_nap_seconds 0.0001".to_string(),
        "gateway_udp_rx_moderation_naps_total 4321".to_string(),
        "gateway_data_path_solo 1.0".to_string(),
        "gateway_data_path_solo_switches_total 12".to_string(),
    ] {
        assert!(body.lines().any(|l| l == line), "missing line: {line}");
    }
}

#[test]
fn unknown_endpoint_and_missing_values_are_empty_or_zero() {
    let mut status = sample_status();
    status.peers[1].endpoint = None;
    status.peers[1].last_handshake_unix_seconds = None;
    status.ipam.cidr = None;
    let body = scrape_openmetrics(FakeSource::new(status));
    let peer_c = r#"local_cluster="cluster-a",remote_cluster="cluster-c",remote_endpoint_ip="""#;
    assert!(body.contains(&format!(
        "gateway_peer_last_handshake_timestamp_seconds{{{peer_c}}} 0.0\n"
    )));
    assert!(body.contains("gateway_global_ips_available{cidr=\"\"} 65529.0\n"));
}

#[test]
fn malformed_histogram_and_duplicates_are_repaired_not_exposed() {
    let mut status = sample_status();
    let rtt = &mut status.peers[0].rtt;
    // Unsorted bounds, a NaN bound, counts above the total, an explicit +Inf.
    rtt.histogram_buckets = vec![
        (0.01, 5),
        (0.005, 9),
        (f64::NAN, 1),
        (0.1, 50),
        (f64::INFINITY, 50),
    ];
    rtt.histogram_count = 20;
    status.peers.push(status.peers[0].clone()); // duplicate peer name
    status.nat.flows.push(gateway::status::Count {
        label: "tcp".into(),
        value: 9,
    }); // duplicate label
    let body = scrape_openmetrics(FakeSource::new(status));
    let buckets: Vec<&str> = body
        .lines()
        .filter(|l| l.starts_with("gateway_peer_rtt_seconds_bucket") && l.contains(PEER_B))
        .collect();
    assert_eq!(
        buckets,
        [
            format!("gateway_peer_rtt_seconds_bucket{{le=\"0.01\",{PEER_B}}} 5"),
            format!("gateway_peer_rtt_seconds_bucket{{le=\"0.1\",{PEER_B}}} 20"),
            format!("gateway_peer_rtt_seconds_bucket{{le=\"+Inf\",{PEER_B}}} 20"),
        ]
    );
    assert_eq!(
        body.matches(&format!("gateway_peer_rx_bytes_total{{{PEER_B}}}"))
            .count(),
        1
    );
    assert!(body.contains("gateway_nat_flows{protocol=\"tcp\"} 2310.0\n"));
}

#[test]
fn plain_text_format_for_clients_that_do_not_ask_for_openmetrics() {
    let (addr, _) = serve(FakeSource::new(sample_status()));
    let reply = get(addr, "/metrics", None);
    assert_eq!(reply.code, 200);
    assert!(reply
        .headers
        .contains("Content-Type: text/plain; version=0.0.4; charset=utf-8"));
    assert!(!reply.body.contains("# EOF"));
    assert!(reply
        .body
        .contains("\n# TYPE gateway_peer_rx_bytes_total counter\n"));
    assert!(reply.body.contains("\n# HELP gateway_peer_rx_bytes_total "));
    assert!(reply
        .body
        .contains("\n# TYPE gateway_peer_rtt_seconds histogram\n"));
    // Same samples as OpenMetrics.
    let openmetrics = get(addr, "/metrics", Some(OPENMETRICS_ACCEPT)).body;
    let samples = |text: &str| -> Vec<String> {
        text.lines()
            .filter(|l| !l.starts_with('#'))
            .map(String::from)
            .collect()
    };
    assert_eq!(samples(&reply.body), samples(&openmetrics));
}

/// `promtool check metrics` on what `curl http://.../metrics` returns. Runs
/// when promtool is installed (scripts/setup installs it); in CI its absence
/// is a failure, not a skip.
#[test]
fn promtool_check_metrics_is_clean() {
    let Some(promtool) = tool("promtool", &["--version"]) else {
        return;
    };
    let mut hostile = sample_status();
    hostile.peers[1].name = "evil\"peer\\with\nnewline".to_string();
    hostile.nat.drops_total.push(gateway::status::Count {
        label: "we\"ird".into(),
        value: 1,
    });
    for status in [sample_status(), hostile] {
        let (addr, _) = serve(FakeSource::new(status));
        let body = get(addr, "/metrics", None).body;
        let mut child = Command::new(&promtool)
            .args(["check", "metrics"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(body.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        let report = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.status.success() && report.trim().is_empty(),
            "promtool: {report}\n{body}"
        );
    }
}

/// The OpenMetrics output through a strict OpenMetrics parser (the Python
/// reference client's), when it is installed (Debian: python3-prometheus-client).
#[test]
fn openmetrics_parses_with_the_reference_parser_when_available() {
    let python = "/usr/bin/python3";
    let probe = Command::new(python)
        .args(["-c", "import prometheus_client.openmetrics.parser"])
        .output();
    if !matches!(probe, Ok(ref o) if o.status.success()) {
        eprintln!("skipped: python3-prometheus-client not installed");
        return;
    }
    let body = scrape_openmetrics(FakeSource::new(sample_status()));
    let script = "import sys\nfrom prometheus_client.openmetrics.parser import text_string_to_metric_families as p\n\
                  fams = list(p(sys.stdin.read()))\nprint(len(fams))";
    let mut child = Command::new(python)
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(body.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let families: usize = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
    assert_eq!(
        families,
        body.lines().filter(|l| l.starts_with("# TYPE ")).count()
    );
}

/// Path of `name` if it runs; None (skip) outside CI; panics in CI.
fn tool(name: &str, args: &[&str]) -> Option<String> {
    let found = Command::new(name)
        .args(args)
        .output()
        .is_ok_and(|o| o.status.success());
    if found {
        return Some(name.to_string());
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{name} is required in CI (scripts/setup installs the `prometheus` package)");
    }
    eprintln!("skipped: {name} not installed");
    None
}

#[test]
fn healthz_and_readyz_follow_the_source() {
    let (addr, source) = serve(FakeSource::new(sample_status()));
    let reply = get(addr, "/healthz", None);
    assert_eq!((reply.code, reply.body.as_str()), (200, "ok\n"));
    assert_eq!(get(addr, "/readyz", None).code, 200);

    source.status.lock().unwrap().ready = false;
    let reply = get(addr, "/readyz", None);
    assert_eq!(reply.code, 503);
    assert!(reply.body.starts_with("not ready"));
    assert_eq!(
        get(addr, "/healthz", None).code,
        200,
        "not ready is still alive"
    );

    *source.liveness.lock().unwrap() = Err("timers thread stalled for 12s".to_string());
    let reply = get(addr, "/healthz", None);
    assert_eq!(reply.code, 503);
    assert_eq!(reply.body, "unhealthy: timers thread stalled for 12s\n");

    // A stuck loop also takes the gateway out of readiness, saying why.
    source.status.lock().unwrap().ready = true;
    let reply = get(addr, "/readyz", None);
    assert_eq!(
        (reply.code, reply.body.as_str()),
        (503, "not ready: timers thread stalled for 12s\n")
    );
}

#[test]
fn routing_methods_and_head() {
    let (addr, _) = serve(FakeSource::new(sample_status()));
    assert_eq!(get(addr, "/nope", None).code, 404);
    assert_eq!(get(addr, "/", None).code, 200);
    assert_eq!(get(addr, "/metrics?name[]=x", None).code, 200);
    let reply = send(addr, b"POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
    assert_eq!(reply.code, 405);
    assert!(reply.headers.contains("Allow: GET, HEAD"));
    let reply = send(addr, b"HEAD /metrics HTTP/1.1\r\n\r\n");
    assert_eq!(reply.code, 200);
    assert!(reply.body.is_empty());
    let length: usize = reply
        .headers
        .lines()
        .find_map(|l| l.strip_prefix("Content-Length: "))
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(length, get(addr, "/metrics", None).body.len());
}

#[test]
fn garbage_requests_get_400_and_the_server_keeps_serving() {
    let (addr, _) = serve(FakeSource::new(sample_status()));
    let mut garbage: Vec<Vec<u8>> = [
        &b"\r\n\r\n"[..],
        b"GET\r\n\r\n",
        b"GET /metrics\r\n\r\n",
        b"GET /metrics HTTP/9.9\r\n\r\n",
        b"GET http://evil/ HTTP/1.1\r\n\r\n",
        b"GET /metrics HTTP/1.1\r\nno-colon\r\n\r\n",
        b"GET /metrics HTTP/1.1\r\nBad Header: 1\r\n\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\n\n", // a TLS ClientHello
        b"\xff\xfe\xfd\xfc\r\n\r\n",
        b"GET /\x00 HTTP/1.1\r\n\r\n",
        b"G\x7fT / HTTP/1.1\r\n\r\n",
        b"GET /metrics HTTP/1.1\r\n", // closed before the blank line
    ]
    .iter()
    .map(|g| g.to_vec())
    .collect();
    // Deterministic pseudo-random bytes (an LCG), each ending in a blank line.
    let mut x: u32 = 0x2545_f491;
    for len in [1usize, 7, 64, 512, 4000] {
        let mut bytes: Vec<u8> = (0..len)
            .map(|_| {
                x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                (x >> 24) as u8
            })
            .collect();
        bytes.extend_from_slice(b"\r\n\r\n");
        garbage.push(bytes);
    }
    for bad in &garbage {
        let mut stream = TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        stream.write_all(bad).unwrap();
        stream.shutdown(std::net::Shutdown::Write).unwrap();
        let mut reply = Vec::new();
        let _ = stream.read_to_end(&mut reply);
        assert!(
            reply.starts_with(b"HTTP/1.1 400 Bad Request\r\n"),
            "{bad:?} → {:?}",
            String::from_utf8_lossy(&reply)
        );
    }
    assert_eq!(get(addr, "/healthz", None).code, 200);
}

#[test]
fn oversized_head_gets_431() {
    let (addr, _) = serve(FakeSource::new(sample_status()));
    let mut request = b"GET /metrics HTTP/1.1\r\nCookie: ".to_vec();
    request.resize(64 * 1024, b'a');
    let reply = send(addr, &request);
    assert_eq!(reply.code, 431);
    assert_eq!(get(addr, "/healthz", None).code, 200);
}

#[test]
fn stalled_client_gets_408_instead_of_holding_a_thread() {
    let (addr, _) = serve(FakeSource::new(sample_status()));
    let started = std::time::Instant::now();
    let reply = send(addr, b"GET /metrics HTTP/1.1\r\nHost: x\r\n"); // never finishes the head
    assert_eq!(reply.code, 408);
    assert!(started.elapsed() < Duration::from_secs(8));
}

/// A connection from `from` (a 127.0.0.0/8 address) that sends half a
/// request head and so holds a connection thread.
fn half_open_from(from: Ipv4Addr, addr: SocketAddr) -> TcpStream {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.bind(&SocketAddr::from((from, 0)).into()).unwrap();
    socket.connect(&addr.into()).unwrap();
    let mut stream: TcpStream = socket.into();
    stream.write_all(b"GET /metrics HTTP/1.1\r\n").unwrap();
    stream
}

/// Whether a connection from `from` is closed without an answer.
fn refused_from(from: Ipv4Addr, addr: SocketAddr) -> bool {
    let mut over = half_open_from(from, addr);
    over.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let _ = over.write_all(b"\r\n");
    let mut reply = Vec::new();
    let _ = over.read_to_end(&mut reply);
    reply.is_empty()
}

#[test]
fn connections_beyond_the_cap_are_closed_and_slots_come_back() {
    const CAP: usize = 32; // server.rs MAX_CONNECTIONS
    const PER_ADDRESS: usize = 8; // server.rs MAX_CONNECTIONS_PER_ADDRESS
    let (addr, _) = serve(FakeSource::new(sample_status()));
    // From 127.0.0.2–5: not the address the server listens on (127.0.0.1),
    // so not the node's own connections, which have places of their own.
    let idle: Vec<TcpStream> = (0..CAP)
        .map(|i| half_open_from(Ipv4Addr::new(127, 0, 0, 2 + (i / PER_ADDRESS) as u8), addr))
        .collect();
    std::thread::sleep(Duration::from_millis(200)); // let the server accept them all
    assert!(
        refused_from(Ipv4Addr::new(127, 0, 0, 9), addr),
        "over the cap: closed without an answer"
    );
    // The kubelet probing a host-network pod connects from the node's own
    // address: still answered with every other place taken.
    assert_eq!(get_code(addr, "/healthz"), Some(200));

    drop(idle); // the server sees EOF, answers 400 into the void, frees the slots
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while get_code(addr, "/healthz") != Some(200) {
        assert!(
            std::time::Instant::now() < deadline,
            "slots never came back"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn one_address_cannot_take_every_slot_from_the_probes() {
    const PER_ADDRESS: usize = 8; // server.rs MAX_CONNECTIONS_PER_ADDRESS
    let (addr, _) = serve(FakeSource::new(sample_status()));
    let hog = Ipv4Addr::new(127, 0, 0, 2);
    let _idle: Vec<TcpStream> = (0..PER_ADDRESS)
        .map(|_| half_open_from(hog, addr))
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        refused_from(hog, addr),
        "a ninth connection from one address is refused"
    );
    // The kubelet (another address) is still answered.
    assert_eq!(get_code(addr, "/healthz"), Some(200));
}

/// Status code, or None when the server closed without answering.
fn get_code(addr: SocketAddr, path: &str) -> Option<u16> {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let _ = stream.write_all(format!("GET {path} HTTP/1.1\r\n\r\n").as_bytes());
    let mut text = String::new();
    let _ = stream.read_to_string(&mut text);
    text.split(' ').nth(1)?.parse().ok()
}
