//! docs/interop.md stays true: the gateway config it tells users to write for a stock
//! WireGuard peer is valid, and it describes a routed (non-Globalnet) peer whose addresses
//! the gateway routes into the tunnel untranslated, as the page and tests/netns/interop.sh say.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use gateway::config::{Config, PeerAddressing};
use ipnet::Ipv4Net;
use std::path::Path;

const BLOCK: &str = "interop:gateway-config";

fn docs_example() -> String {
    let docs =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/interop.md"))
            .unwrap();
    let start = format!("<!-- {BLOCK}:start -->\n```yaml\n");
    let end = format!("```\n<!-- {BLOCK}:end -->");
    let from = docs.find(&start).unwrap_or_else(|| panic!("no {start:?}")) + start.len();
    let to = from
        + docs[from..]
            .find(&end)
            .unwrap_or_else(|| panic!("no {end:?}"));
    docs[from..to].to_string()
}

#[test]
fn stock_peer_example_in_docs_is_a_valid_routed_peer() {
    let config = Config::from_yaml(&docs_example()).unwrap_or_else(|e| panic!("{e}"));
    let net = |s: &str| s.parse::<Ipv4Net>().unwrap();

    let peer = config
        .peer("stock-wg")
        .expect("the example's peer is named stock-wg");
    assert_eq!(
        peer.addressing,
        PeerAddressing::Routed(vec![net("10.50.0.0/24")])
    );
    assert_eq!(
        peer.endpoint.as_ref().map(|e| e.addr.to_string()),
        Some("192.168.200.2:51820".to_string())
    );
    // Routed both ways untranslated: no global block to SNAT towards, the peer's
    // addresses are a routed destination.
    assert!(config.remote_global_blocks().is_empty());
    assert_eq!(config.routed_cidrs(), vec![net("10.50.0.0/24")]);
    // The peer's allowed-ips on the page (global block and Pod CIDR) are this config's.
    assert_eq!(config.globalnet.global_cidr, net("242.0.0.0/16"));
    assert!(config.local_cidrs().contains(&net("10.244.0.0/16")));
    assert_eq!(
        config.tunnel_mtu(),
        1420,
        "the page says MTU 1420 on both sides"
    );
}
