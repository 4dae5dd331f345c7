//! `gwctl egress`: the global IPs local sources leave the cluster with, who
//! owns each, and how many NAT ports each has in use.

use super::render::{self, dump_line, Table};
use super::Output;
use crate::status::{EgressIpView, GatewayStatus, IpamView};
use serde::{Deserialize, Serialize};

/// `gwctl egress -o json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EgressReport {
    pub ipam: IpamView,
    pub egress: Vec<EgressIpView>,
}

pub fn render(status: &GatewayStatus, output: Output) -> String {
    let mut egress = status.egress.clone();
    // The pool first, then groups by name; each by address.
    egress.sort_by(|a, b| {
        (a.owner != "cluster", &a.owner, a.global_ip).cmp(&(
            b.owner != "cluster",
            &b.owner,
            b.global_ip,
        ))
    });
    match output {
        Output::Json => render::json(&EgressReport {
            ipam: status.ipam.clone(),
            egress,
        }),
        Output::Dump => egress
            .iter()
            .map(|e| {
                dump_line(&[
                    e.global_ip.to_string(),
                    e.owner.clone(),
                    render::list(&e.sources),
                    e.ports_in_use.to_string(),
                ])
            })
            .collect(),
        Output::Table => {
            let mut out = ipam_line(&status.ipam);
            out.push('\n');
            if egress.is_empty() {
                out.push_str("no egress IPs: local sources cannot reach other clusters (set cluster_egress_ips)\n");
                return out;
            }
            let mut table = Table::new(&["GLOBAL IP", "OWNER", "SOURCES", "PORTS IN USE"]);
            for e in &egress {
                let sources = if e.sources.is_empty() {
                    "(all local)".to_string()
                } else {
                    render::list(&e.sources)
                };
                table.row(vec![
                    e.global_ip.to_string(),
                    e.owner.clone(),
                    sources,
                    e.ports_in_use.to_string(),
                ]);
            }
            out.push_str(&table.render());
            out
        }
    }
}

fn ipam_line(ipam: &IpamView) -> String {
    let block = ipam.cidr.map_or_else(
        || "global block".to_string(),
        |c| format!("global block {c}"),
    );
    format!(
        "{block}: {} cluster egress, {} egress group, {} ingress, {} available\n",
        ipam.cluster_egress, ipam.egress_groups, ipam.ingress, ipam.available
    )
}
