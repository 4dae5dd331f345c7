//! Engine tests with golden packets. Each expected packet is built from
//! scratch by the `testing` factories (every checksum a full RFC 1071 sum) and
//! pinned as hex, so the engine's incremental rewrites are checked byte for
//! byte against an independent computation.

use super::*;
use crate::plan::IngressPlan;
use crate::testing::{self, tcp_flags::*};
use crate::{DropReason, Verdict};
use std::time::Duration;

fn ip(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

fn net(s: &str) -> Ipv4Net {
    s.parse().unwrap()
}

const POD: &str = "10.244.1.10";
const EGRESS: &str = "242.0.0.2";
const SERVICE_GLOBAL: &str = "242.0.0.5";
const SERVICE: &str = "10.96.0.10";
const REMOTE: &str = "243.0.0.5";
const REMOTE_EGRESS: &str = "243.0.0.2";
const GATEWAY: &str = "10.244.0.1";
const MTU: u16 = 1420;

fn config() -> EngineConfig {
    EngineConfig {
        local_cidrs: vec![net("10.244.0.0/16"), net("10.96.0.0/16")],
        remote_global_blocks: vec![net("243.0.0.0/16")],
        routed_cidrs: vec![net("172.20.0.0/16")],
        tunnel_mtu: MTU,
        icmp_source: ip(GATEWAY),
        timeouts: Timeouts::default(),
        limits: Limits::default(),
    }
}

fn plan() -> AddressPlan {
    let mut p = AddressPlan::new(net("242.0.0.0/16"), vec![ip(EGRESS)]);
    p.ingress.push(IngressPlan {
        service: "shared/echo".into(),
        global_ip: ip(SERVICE_GLOBAL),
        target: ip(SERVICE),
        headless: false,
    });
    p
}

fn engine() -> Engine {
    Engine::new(config(), Arc::new(plan()))
}

struct Harness {
    engine: Engine,
    now: Instant,
    counters: Counters,
}

impl Harness {
    fn new() -> Self {
        Harness {
            engine: engine(),
            now: Instant::now(),
            counters: Counters::default(),
        }
    }

    fn out(&mut self, packet: &[u8]) -> Result<Vec<u8>, DropReason> {
        let mut buf = packet.to_vec();
        let mut reply = [0u8; 576];
        match self
            .engine
            .handle_outbound(self.now, &mut buf, &mut reply, &mut self.counters)?
        {
            Verdict::Forward { len } => Ok(buf[..len].to_vec()),
            Verdict::Reply { .. } => panic!("unexpected reply"),
        }
    }

    fn inb(&mut self, packet: &[u8]) -> Result<Vec<u8>, DropReason> {
        let mut buf = packet.to_vec();
        match self
            .engine
            .handle_inbound(self.now, &mut buf, &mut [], &mut self.counters)?
        {
            Verdict::Forward { len } => Ok(buf[..len].to_vec()),
            Verdict::Reply { .. } => panic!("unexpected reply"),
        }
    }
}

fn tcp(src: (&str, u16), dst: (&str, u16), flags: u8, options: &[u8]) -> Vec<u8> {
    testing::tcp_packet((ip(src.0), src.1), (ip(dst.0), dst.1), flags, options, b"")
}

fn udp(src: (&str, u16), dst: (&str, u16), payload: &[u8]) -> Vec<u8> {
    testing::udp_packet((ip(src.0), src.1), (ip(dst.0), dst.1), payload)
}

fn assert_golden(actual: &[u8], expected_hex: &str, rebuilt: &[u8]) {
    assert_eq!(
        hex::encode(rebuilt),
        expected_hex,
        "pinned hex no longer matches the factories"
    );
    assert_eq!(hex::encode(actual), expected_hex);
    assert!(testing::all_checksums_valid(actual));
}

const MSS_1460: [u8; 4] = [2, 4, 0x05, 0xb4];
const MSS_1380: [u8; 4] = [2, 4, 0x05, 0x64]; // 1420 − 20 − 20

/// Pod 10.244.1.10:40000 → 243.0.0.5:8080, SYN, MSS 1460.
const SYN_FROM_POD: &str = concat!(
    "4500002c1c46400040061f830af4010af30000059c401f900102030400000000",
    "6002faf0de5b0000020405b4"
);
/// SNAT to 242.0.0.2:40000, MSS clamped to 1380.
const SYN_SNAT: &str = concat!(
    "4500002c1c4640004006397ef2000002f30000059c401f900102030400000000",
    "6002faf0f8a6000002040564"
);

#[test]
fn outbound_syn_is_snated_keeps_its_port_and_is_clamped() {
    let mut h = Harness::new();
    let input = tcp((POD, 40000), (REMOTE, 8080), SYN, &MSS_1460);
    assert_eq!(hex::encode(&input), SYN_FROM_POD);
    let out = h.out(&input).unwrap();
    let rebuilt = tcp((EGRESS, 40000), (REMOTE, 8080), SYN, &MSS_1380);
    assert_golden(&out, SYN_SNAT, &rebuilt);
    assert_eq!(h.counters.translated, [1, 0]);
    assert_eq!(h.counters.mss_clamped, 1);
    assert_eq!(h.counters.flows_created, [0, 1, 0]);
}

/// 243.0.0.5:8080 → 242.0.0.2:40000 SYN-ACK, MSS 1460.
const SYN_ACK_FROM_REMOTE: &str = concat!(
    "4500002c1c4640004006397ef3000005f20000021f909c400102030405060708",
    "6012faf0ec380000020405b4"
);
/// Un-SNAT to the pod, clamped too (Submariner clamps SYN only: issue #1488).
const SYN_ACK_UNSNAT: &str = concat!(
    "4500002c1c46400040061f83f30000050af4010a1f909c400102030405060708",
    "6012faf0d28d000002040564"
);

#[test]
fn inbound_reply_is_unsnated_and_clamped() {
    let mut h = Harness::new();
    h.out(&tcp((POD, 40000), (REMOTE, 8080), SYN, &MSS_1460))
        .unwrap();
    let input = tcp((REMOTE, 8080), (EGRESS, 40000), SYN | ACK, &MSS_1460);
    assert_eq!(hex::encode(&input), SYN_ACK_FROM_REMOTE);
    let out = h.inb(&input).unwrap();
    let rebuilt = tcp((REMOTE, 8080), (POD, 40000), SYN | ACK, &MSS_1380);
    assert_golden(&out, SYN_ACK_UNSNAT, &rebuilt);
    assert_eq!(h.counters.mss_clamped, 2);
    assert_eq!(h.engine.table().stats().live_tcp, [0, 1, 0], "established");
}

/// 243.0.0.2:5353 → our exported service's global IP 242.0.0.5:53.
const DNS_TO_SERVICE_GLOBAL: &str = concat!(
    "450000211c4640004011397ef3000002f200000514e90035000db5c571756572",
    "79"
);
/// DNAT to the service 10.96.0.10:53; the source stays the remote global IP.
const DNS_DNAT: &str = concat!(
    "450000211c4640004011211af30000020a60000a14e90035000d9d6171756572",
    "79"
);
/// The service's answer, 10.96.0.10:53 → 243.0.0.2:5353.
const DNS_ANSWER: &str = concat!(
    "450000211c4640004011211a0a60000af3000002003514e9000db363616e7377",
    "65"
);
/// Un-DNAT: it leaves from 242.0.0.5:53.
const DNS_ANSWER_UNDNAT: &str = concat!(
    "450000211c4640004011397ef2000005f3000002003514e9000dcbc7616e7377",
    "65"
);

#[test]
fn ingress_dnat_to_an_exported_service_and_back() {
    let mut h = Harness::new();
    let query = udp((REMOTE_EGRESS, 5353), (SERVICE_GLOBAL, 53), b"query");
    assert_eq!(hex::encode(&query), DNS_TO_SERVICE_GLOBAL);
    let out = h.inb(&query).unwrap();
    assert_golden(
        &out,
        DNS_DNAT,
        &udp((REMOTE_EGRESS, 5353), (SERVICE, 53), b"query"),
    );
    let answer = udp((SERVICE, 53), (REMOTE_EGRESS, 5353), b"answe");
    assert_eq!(hex::encode(&answer), DNS_ANSWER);
    let back = h.out(&answer).unwrap();
    assert_golden(
        &back,
        DNS_ANSWER_UNDNAT,
        &udp((SERVICE_GLOBAL, 53), (REMOTE_EGRESS, 5353), b"answe"),
    );
    assert_eq!(h.counters.translated, [1, 1]);
    assert_eq!(h.counters.flows_created, [0, 0, 1]);
}

/// Echo request id 0x0bad from the pod; a second pod's request with the
/// same identifier to the same host must get a different one.
#[test]
fn echo_identifiers_are_translated_like_ports() {
    let mut h = Harness::new();
    let other_pod = "10.244.1.11";
    let req1 = testing::icmp_echo(ip(POD), ip(REMOTE), true, 0x0bad, 1, b"ping");
    let req2 = testing::icmp_echo(ip(other_pod), ip(REMOTE), true, 0x0bad, 1, b"ping");
    let out1 = h.out(&req1).unwrap();
    let out2 = h.out(&req2).unwrap();
    assert_eq!(
        out1,
        testing::icmp_echo(ip(EGRESS), ip(REMOTE), true, 0x0bad, 1, b"ping")
    );
    assert_eq!(
        out2,
        testing::icmp_echo(ip(EGRESS), ip(REMOTE), true, 0x0bae, 1, b"ping")
    );
    let reply2 = testing::icmp_echo(ip(REMOTE), ip(EGRESS), false, 0x0bae, 1, b"ping");
    let back = h.inb(&reply2).unwrap();
    assert_eq!(
        back,
        testing::icmp_echo(ip(REMOTE), ip(other_pod), false, 0x0bad, 1, b"ping")
    );
    assert!(testing::all_checksums_valid(&back));
    // An echo reply that answers nothing opens nothing, either way.
    let stray = testing::icmp_echo(ip(POD), ip(REMOTE), false, 77, 1, b"");
    assert_eq!(h.out(&stray), Err(DropReason::NoFlow));
}

/// B's service answers our translated UDP datagram with port unreachable:
/// the error arrives for 242.0.0.2 quoting 242.0.0.2:40001 → 243.0.0.5:8080.
#[test]
fn inbound_icmp_error_reaches_the_pod_with_its_own_tuple_quoted() {
    let mut h = Harness::new();
    let sent = udp((POD, 40001), (REMOTE, 8080), b"hi");
    let on_wire = h.out(&sent).unwrap();
    let error = testing::icmp_error(ip(REMOTE), ip(EGRESS), 3, 3, 0, &on_wire);
    let out = h.inb(&error).unwrap();
    let rebuilt = testing::icmp_error(ip(REMOTE), ip(POD), 3, 3, 0, &sent);
    assert_golden(
        &out,
        concat!(
            "450000381c46400040011f7cf30000050af4010a03036485000000004500001e",
            "1c46400040111f860af4010af30000059c411f90000adc9b"
        ),
        &rebuilt,
    );
    assert_eq!(h.counters.icmp_errors_translated, 1);
    assert_eq!(
        h.engine.table().len(),
        1,
        "errors neither create nor remove flows"
    );
}

/// PMTUD the other way: a node in our cluster sends "fragmentation needed"
/// for an inbound packet of an ingress flow, from its own (local) address.
/// The error must leave from the service's global IP and quote the packet as
/// the remote sent it (destination 242.0.0.5).
#[test]
fn outbound_icmp_error_leaves_from_the_global_ip_and_quotes_the_remote_view() {
    let mut h = Harness::new();
    let request = tcp((REMOTE_EGRESS, 33000), (SERVICE_GLOBAL, 80), SYN, &[]);
    let delivered = h.inb(&request).unwrap();
    let node = "10.244.0.7";
    let error = testing::icmp_error(ip(node), ip(REMOTE_EGRESS), 3, 4, 1400, &delivered);
    let out = h.out(&error).unwrap();
    let rebuilt = testing::icmp_error(ip(SERVICE_GLOBAL), ip(REMOTE_EGRESS), 3, 4, 1400, &request);
    assert_golden(
        &out,
        concat!(
            "450000381c46400040013977f2000005f30000020304724500000578450000281c46",
            "400040063982f3000002f200000580e8005001020304"
        ),
        &rebuilt,
    );
    let unrelated = testing::icmp_error(ip(node), ip(REMOTE_EGRESS), 3, 4, 1400, &request);
    assert_eq!(h.out(&unrelated), Err(DropReason::NoFlow));
}

#[test]
fn oversized_df_packets_get_frag_needed_quoting_the_original() {
    let mut h = Harness::new();
    let big = udp((POD, 40000), (REMOTE, 8080), &[0u8; 1500]);
    let mut buf = big.clone();
    let mut reply = [0u8; 576];
    let verdict = h
        .engine
        .handle_outbound(h.now, &mut buf, &mut reply, &mut h.counters)
        .unwrap();
    let Verdict::Reply { len } = verdict else {
        panic!("{verdict:?}")
    };
    let icmp = &reply[..len];
    assert!(testing::all_checksums_valid(icmp));
    assert_eq!(&icmp[12..16], &ip(GATEWAY).octets(), "from the gateway");
    assert_eq!(&icmp[16..20], &ip(POD).octets(), "to the pod");
    assert_eq!(&icmp[20..22], &[3, 4]);
    assert_eq!(u16::from_be_bytes([icmp[26], icmp[27]]), MTU);
    assert_eq!(
        &icmp[28..28 + 28],
        &big[..28],
        "quotes the untranslated header + 8"
    );
    assert_eq!(
        h.engine.table().len(),
        0,
        "no flow for a packet that was not sent"
    );
    assert_eq!(h.counters.frag_needed_sent, 1);
    assert_eq!(h.counters.drops[DropReason::TooBig.index()], 1);
    // Not DF: forwarded (the tunnel fragments the outer packet).
    let mut not_df = big.clone();
    testing::set_fragment(&mut not_df, false, 0);
    not_df[6] &= !0x40;
    testing::refill_ip_checksum(&mut not_df);
    assert!(h.out(&not_df).is_ok());
    // To nowhere: dropped for its route, no ICMP.
    let nowhere = udp((POD, 40000), ("8.8.8.8", 53), &[0u8; 1500]);
    assert_eq!(h.out(&nowhere), Err(DropReason::NoRoute));
}

#[test]
fn fragments_follow_their_first_fragment() {
    let mut h = Harness::new();
    let mut first = udp((POD, 40000), (REMOTE, 8080), &[7u8; 64]);
    testing::set_fragment(&mut first, true, 0);
    // Clear DF (fragments never carry it) and keep the header valid.
    first[6] &= !0x40;
    testing::refill_ip_checksum(&mut first);
    let out = h.out(&first).unwrap();
    assert_eq!(&out[12..16], &ip(EGRESS).octets());
    // A later fragment: same id, offset 9 (72 bytes), no L4 header.
    let mut tail = first[..20].to_vec();
    tail.extend_from_slice(&[9u8; 16]);
    tail[2..4].copy_from_slice(&36u16.to_be_bytes());
    testing::set_fragment(&mut tail, false, 9);
    let out = h.out(&tail).unwrap();
    assert_eq!(&out[12..16], &ip(EGRESS).octets());
    assert!(crate::checksum::ipv4_header_valid(&out));
    assert_eq!(&out[20..], &[9u8; 16]);
    assert_eq!(h.counters.fragments_translated, 1);
    // A fragment of a datagram we never saw the head of.
    let mut orphan = tail.clone();
    orphan[4..6].copy_from_slice(&0x4242u16.to_be_bytes());
    testing::refill_ip_checksum(&mut orphan);
    assert_eq!(h.out(&orphan), Err(DropReason::Fragment));
    // After the fragment timeout, the datagram is forgotten.
    h.now += Duration::from_secs(31);
    assert_eq!(h.out(&tail), Err(DropReason::Fragment));
}

#[test]
fn routed_cidrs_pass_untranslated_both_ways() {
    let mut h = Harness::new();
    let out = tcp((POD, 40000), ("172.20.3.4", 443), SYN, &MSS_1460);
    let forwarded = h.out(&out).unwrap();
    assert_eq!(
        forwarded,
        tcp((POD, 40000), ("172.20.3.4", 443), SYN, &MSS_1380),
        "clamped, not translated"
    );
    let back = udp(("172.20.3.4", 53), (POD, 5353), b"x");
    assert_eq!(h.inb(&back).unwrap(), back);
    assert_eq!(h.counters.passthrough, [1, 1]);
    assert_eq!(h.engine.table().len(), 0);
}

#[test]
fn every_refusal_has_its_reason() {
    let mut h = Harness::new();
    assert_eq!(
        h.out(&udp((POD, 1), ("8.8.8.8", 53), b"")),
        Err(DropReason::NoRoute)
    );
    assert_eq!(
        h.out(&udp(("192.168.1.1", 1), (REMOTE, 53), b"")),
        Err(DropReason::NotLocalSource)
    );
    assert_eq!(
        h.out(&tcp((POD, 1), (REMOTE, 80), RST, &[])),
        Err(DropReason::NoFlow)
    );
    assert_eq!(
        h.inb(&udp((REMOTE, 1), (POD, 53), b"")),
        Err(DropReason::NotOurs),
        "raw pod IPs are unreachable"
    );
    assert_eq!(
        h.inb(&udp((REMOTE, 1), ("242.0.0.99", 53), b"")),
        Err(DropReason::NotExported)
    );
    assert_eq!(
        h.inb(&udp((REMOTE, 1), (EGRESS, 53), b"")),
        Err(DropReason::NoFlow),
        "egress IPs accept nothing unsolicited"
    );
    assert_eq!(h.out(&[0x60, 0, 0, 0]), Err(DropReason::Ipv6));
    h.engine
        .set_plan(Arc::new(AddressPlan::new(net("242.0.0.0/16"), vec![])));
    assert_eq!(
        h.out(&udp((POD, 1), (REMOTE, 53), b"")),
        Err(DropReason::NoEgressIp)
    );
    let drops: u64 = h.counters.drops.iter().sum();
    assert_eq!(drops, 8);
    assert_eq!(h.counters.drops[DropReason::NoFlow.index()], 2);
}

#[test]
fn a_new_plan_leaves_existing_flows_alone() {
    let mut h = Harness::new();
    let a = udp((POD, 40000), (REMOTE, 53), b"");
    assert_eq!(&h.out(&a).unwrap()[12..16], &ip(EGRESS).octets());
    h.engine.set_plan(Arc::new(AddressPlan::new(
        net("242.0.0.0/16"),
        vec![ip("242.0.0.3")],
    )));
    assert_eq!(
        &h.out(&a).unwrap()[12..16],
        &ip(EGRESS).octets(),
        "existing flow"
    );
    let b = udp((POD, 40001), (REMOTE, 53), b"");
    assert_eq!(
        &h.out(&b).unwrap()[12..16],
        &ip("242.0.0.3").octets(),
        "new flow, new plan"
    );
    let reply = udp((REMOTE, 53), (EGRESS, 40000), b"");
    assert!(
        h.inb(&reply).is_ok(),
        "replies to the old egress IP still arrive"
    );
}

#[test]
fn flows_expire_and_poll_timeout_says_when() {
    let mut h = Harness::new();
    assert_eq!(h.engine.poll_timeout(), None);
    h.out(&udp((POD, 40000), (REMOTE, 53), b"")).unwrap();
    let deadline = h.engine.poll_timeout().unwrap();
    assert_eq!(deadline, h.now + Duration::from_secs(300));
    let mut c = Counters::default();
    h.engine
        .handle_timeout(deadline - Duration::from_millis(1), &mut c);
    assert_eq!(h.engine.table().len(), 1);
    h.engine.handle_timeout(deadline, &mut c);
    assert_eq!(h.engine.table().len(), 0);
    assert_eq!(c.flows_expired, [0, 0, 1]);
    assert_eq!(h.engine.poll_timeout(), None);
}

#[test]
fn flush_and_stats() {
    let mut h = Harness::new();
    h.out(&tcp((POD, 40000), (REMOTE, 8080), SYN, &MSS_1460))
        .unwrap();
    h.out(&udp((POD, 40001), (REMOTE, 53), b"")).unwrap();
    let _ = h.out(&udp((POD, 1), ("8.8.8.8", 53), b""));
    h.engine.flush(&mut h.counters);
    assert_eq!(h.counters, Counters::default());
    let s = h.engine.stats();
    assert_eq!(s.totals.translated, [2, 0]);
    assert_eq!(s.drops(DropReason::NoRoute), 1);
    assert_eq!(s.totals.mss_clamped, 1);
    assert_eq!(s.totals.flows_created, [0, 1, 1]);
    assert_eq!(s.live_flows(), 2);
    assert_eq!(s.table.live_tcp, [1, 0, 0]);
    assert_eq!(s.table.egress_ports_in_use, vec![(ip(EGRESS), 2)]);
    assert_eq!(s.table.top_talkers, vec![(ip(POD), 2)]);
}

#[test]
fn export_then_import_into_a_new_engine_keeps_the_flows() {
    let mut h = Harness::new();
    h.out(&tcp((POD, 40000), (REMOTE, 8080), SYN, &[])).unwrap();
    h.inb(&tcp((REMOTE, 8080), (EGRESS, 40000), SYN | ACK, &[]))
        .unwrap();
    let bytes = crate::nat::flows_to_bytes(&h.engine.export_flows(h.now));
    let restarted = engine();
    let later = h.now + Duration::from_secs(5);
    let records = crate::nat::flows_from_bytes(&bytes).unwrap();
    assert_eq!(restarted.import_flows(later, &records).imported, 1);
    let mut buf = tcp((REMOTE, 8080), (EGRESS, 40000), ACK, &[]);
    let v = restarted
        .handle_inbound(later, &mut buf, &mut [], &mut Counters::default())
        .unwrap();
    assert_eq!(v, Verdict::Forward { len: buf.len() });
    assert_eq!(buf, tcp((REMOTE, 8080), (POD, 40000), ACK, &[]));
}
