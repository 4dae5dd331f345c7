//! `gwctl exports`: exported services and the global ingress IPs peers reach
//! them at.

use super::render::{self, dump_line, Table};
use super::Output;
use crate::status::{ExportView, GatewayStatus};

pub fn render(status: &GatewayStatus, output: Output) -> String {
    let exports = sorted(&status.exports);
    match output {
        Output::Json => render::json(&exports),
        Output::Dump => exports
            .iter()
            .map(|e| {
                dump_line(&[
                    e.service.clone(),
                    e.global_ip.to_string(),
                    e.target.to_string(),
                    e.headless.to_string(),
                ])
            })
            .collect(),
        Output::Table if exports.is_empty() => format!(
            "no exported services in {}: add them under `globalnet.exports` in the config, then `gwctl reload`\n",
            status.cluster_id
        ),
        Output::Table => {
            let mut table = Table::new(&["SERVICE", "GLOBAL IP", "TARGET", "HEADLESS"]);
            for e in &exports {
                table.row(vec![
                    e.service.clone(),
                    e.global_ip.to_string(),
                    e.target.to_string(),
                    if e.headless { "yes" } else { "no" }.to_string(),
                ]);
            }
            table.render()
        }
    }
}

/// By service, then global IP (a headless service has one per pod).
fn sorted(exports: &[ExportView]) -> Vec<ExportView> {
    let mut exports = exports.to_vec();
    exports.sort_by(|a, b| (&a.service, a.global_ip).cmp(&(&b.service, b.global_ip)));
    exports
}
