//! docs/configuration.md stays true: its full example is valid, and the lab
//! configs it shows are the ones in deploy/lab.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod config_support;

use config_support::lab_config;
use gateway::config::Config;
use std::path::Path;

fn docs() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/configuration.md"))
        .unwrap()
}

/// The fenced block between `<!-- NAME:start -->` and `<!-- NAME:end -->`.
fn marked_block(docs: &str, name: &str) -> String {
    let start = format!("<!-- {name}:start -->\n```yaml\n");
    let end = format!("```\n<!-- {name}:end -->");
    let from = docs.find(&start).unwrap_or_else(|| panic!("no {start:?}")) + start.len();
    let to = from
        + docs[from..]
            .find(&end)
            .unwrap_or_else(|| panic!("no {end:?}"));
    docs[from..to].to_string()
}

#[test]
fn full_example_in_docs_is_valid_and_matches_the_defaults() {
    let docs = docs();
    let example = Config::from_yaml(&marked_block(&docs, "full-example")).unwrap();
    // The example writes out every default; a minimal file must mean the same.
    let minimal = "\
cluster_id: cluster-a
private_key_file: /etc/gateway/private.key
local:
  pod_cidrs: [10.244.0.0/16]
  service_cidrs: [10.96.0.0/16]
globalnet:
  global_cidr: 242.0.0.0/16
";
    let defaults = Config::from_yaml(minimal).unwrap();
    assert_eq!(example.listen_port, defaults.listen_port);
    assert_eq!(example.state_dir, defaults.state_dir);
    assert_eq!(example.admin_socket, defaults.admin_socket);
    assert_eq!(example.metrics_address, defaults.metrics_address);
    assert_eq!(example.tunnel, defaults.tunnel);
    assert_eq!(example.nat, defaults.nat);
    assert_eq!(example.health, defaults.health);
    assert_eq!(
        example.globalnet.cluster_egress_ips,
        defaults.globalnet.cluster_egress_ips
    );
}

#[test]
fn lab_configs_in_docs_match_deploy_lab() {
    let docs = docs();
    for name in ["cluster-a", "cluster-b"] {
        assert_eq!(
            marked_block(&docs, &format!("lab:{name}")),
            lab_config(name),
            "docs/configuration.md shows a different {name}.yaml than deploy/lab"
        );
    }
}
