//! `gwctl nat`: the NAT table: live flows, limits, top talkers, drops.

use super::render::{self, dump_line, Table};
use super::Output;
use crate::status::{Count, GatewayStatus, NatView};

pub fn render(status: &GatewayStatus, output: Output) -> String {
    let nat = &status.nat;
    match output {
        Output::Json => render::json(nat),
        Output::Dump => dump(nat),
        Output::Table => table(nat),
    }
}

pub fn live_flows(nat: &NatView) -> u64 {
    nat.flows
        .iter()
        .fold(0u64, |sum, c| sum.saturating_add(c.value))
}

/// Largest first, then by label, so output is stable.
pub fn by_value(counts: &[Count]) -> Vec<Count> {
    let mut counts = counts.to_vec();
    counts.sort_by(|a, b| b.value.cmp(&a.value).then_with(|| a.label.cmp(&b.label)));
    counts
}

fn inline(counts: &[Count]) -> String {
    if counts.is_empty() {
        return render::NONE.to_string();
    }
    by_value(counts)
        .iter()
        .map(|c| format!("{} {}", c.label, c.value))
        .collect::<Vec<_>>()
        .join(", ")
}

fn of_limit(value: u64, limit: u64) -> String {
    if limit == 0 {
        "-".to_string()
    } else {
        render::percent(value as f64 / limit as f64)
    }
}

fn table(nat: &NatView) -> String {
    let flows = live_flows(nat);
    let mut summary = Table::new(&["", ""]);
    let mut add = |key: &str, value: String| summary.row(vec![key.to_string(), value]);
    add(
        "flows",
        format!(
            "{flows} of {} ({})",
            nat.max_flows,
            of_limit(flows, nat.max_flows)
        ),
    );
    add("by protocol", inline(&nat.flows));
    add("tcp states", inline(&nat.tcp_states));
    add("created", inline(&nat.flows_created_total));
    add("expired", inline(&nat.flows_expired_total));
    add(
        "translated",
        format!(
            "{} outbound, {} inbound",
            nat.translations_outbound_total, nat.translations_inbound_total
        ),
    );
    add("mss clamped", nat.mss_clamped_total.to_string());
    add(
        "frag-needed sent",
        nat.fragmentation_needed_sent_total.to_string(),
    );
    add("per-source limit", nat.max_flows_per_source.to_string());
    // The two-column summary has no header worth printing.
    let summary = summary.render();
    let mut out: String = summary.lines().skip(1).map(|l| format!("{l}\n")).collect();

    out.push('\n');
    if nat.top_talkers.is_empty() {
        out.push_str("no top talkers (no flows)\n");
    } else {
        let mut talkers = Table::new(&["TOP TALKER", "FLOWS", "OF PER-SOURCE LIMIT"]);
        for c in by_value(&nat.top_talkers) {
            talkers.row(vec![
                c.label.clone(),
                c.value.to_string(),
                of_limit(c.value, nat.max_flows_per_source),
            ]);
        }
        out.push_str(&talkers.render());
    }

    out.push('\n');
    let drops: Vec<Count> = by_value(&nat.drops_total)
        .into_iter()
        .filter(|c| c.value > 0)
        .collect();
    if drops.is_empty() {
        out.push_str("no packets dropped\n");
    } else {
        let mut table = Table::new(&["DROP REASON", "PACKETS"]);
        for c in drops {
            table.row(vec![c.label, c.value.to_string()]);
        }
        out.push_str(&table.render());
        out.push_str("(`gwctl diagnose` explains the reasons)\n");
    }
    out
}

/// `section<TAB>label<TAB>value` lines; sections: limit, total, flows,
/// tcp_state, created, expired, top_talker, drops.
fn dump(nat: &NatView) -> String {
    let mut out = String::new();
    let mut line = |section: &str, label: &str, value: u64| {
        out.push_str(&dump_line(&[
            section.to_string(),
            label.to_string(),
            value.to_string(),
        ]));
    };
    line("limit", "max_flows", nat.max_flows);
    line("limit", "max_flows_per_source", nat.max_flows_per_source);
    line(
        "total",
        "translations_outbound",
        nat.translations_outbound_total,
    );
    line(
        "total",
        "translations_inbound",
        nat.translations_inbound_total,
    );
    line("total", "mss_clamped", nat.mss_clamped_total);
    line(
        "total",
        "fragmentation_needed_sent",
        nat.fragmentation_needed_sent_total,
    );
    let sections: [(&str, &[Count]); 6] = [
        ("flows", &nat.flows),
        ("tcp_state", &nat.tcp_states),
        ("created", &nat.flows_created_total),
        ("expired", &nat.flows_expired_total),
        ("top_talker", &nat.top_talkers),
        ("drops", &nat.drops_total),
    ];
    for (section, counts) in sections {
        for c in by_value(counts) {
            line(section, &c.label, c.value);
        }
    }
    out
}
