//! Formatting shared by the gwctl status commands: aligned tables for people,
//! tab-separated dumps for scripts, JSON for programs, and the small number
//! formats (`1.21 GiB`, `2m13s ago`, `1.20ms`) they all use.

use serde::Serialize;
use std::fmt::Write as _;

/// What `wg show dump` prints for an absent value; kept for familiarity.
pub const NONE: &str = "(none)";

/// A table with a header row; columns separated by two spaces, the last one
/// unpadded so long free text (a status reason) does not widen the others.
#[derive(Clone, Debug, Default)]
pub struct Table {
    headers: Vec<&'static str>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(headers: &[&'static str]) -> Self {
        Table {
            headers: headers.to_vec(),
            rows: Vec::new(),
        }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    pub fn render(&self) -> String {
        let columns = self.headers.len();
        let mut widths: Vec<usize> = self.headers.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.chars().count());
            }
        }
        let mut out = String::new();
        let header: Vec<String> = self.headers.iter().map(|h| h.to_string()).collect();
        for cells in std::iter::once(&header).chain(&self.rows) {
            let mut line = String::new();
            for (i, cell) in cells.iter().take(columns).enumerate() {
                if i + 1 == columns {
                    line.push_str(cell);
                } else {
                    let pad = widths[i].saturating_sub(cell.chars().count());
                    line.push_str(cell);
                    line.extend(std::iter::repeat_n(' ', pad + 2));
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

/// One tab-separated line; tabs and line breaks inside a field become spaces
/// so a field can never shift the columns, and an empty field prints NONE.
pub fn dump_line(fields: &[String]) -> String {
    let mut line = fields
        .iter()
        .map(|f| {
            if f.is_empty() {
                NONE.to_string()
            } else {
                f.replace(['\t', '\n', '\r'], " ")
            }
        })
        .collect::<Vec<_>>()
        .join("\t");
    line.push('\n');
    line
}

/// Pretty JSON with a trailing newline. Serialising our plain data types does
/// not fail; if it ever did, the output is still one JSON object.
pub fn json<T: Serialize>(value: &T) -> String {
    let mut text = serde_json::to_string_pretty(value)
        .unwrap_or_else(|e| serde_json::json!({ "error": e.to_string() }).to_string());
    text.push('\n');
    text
}

/// Bytes as `wg show` prints them: `512 B`, `10.00 KiB`, `1.21 GiB`.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut value = n as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.2} {}", UNITS[unit])
}

/// A duration in its two largest units: `45s`, `2m13s`, `3h4m`, `2d5h`.
pub fn duration(seconds: f64) -> String {
    if !seconds.is_finite() || seconds < 0.0 {
        return "?".to_string();
    }
    // Float-to-int `as` saturates; nobody runs a gateway for 2^64 seconds.
    let total = seconds.round() as u64;
    let (d, h, m, s) = (
        total / 86_400,
        total / 3_600 % 24,
        total / 60 % 60,
        total % 60,
    );
    let mut out = String::new();
    // Writing to a String cannot fail.
    let _ = match (d, h, m) {
        (0, 0, 0) => write!(out, "{s}s"),
        (0, 0, _) => write!(out, "{m}m{s}s"),
        (0, _, _) => write!(out, "{h}h{m}m"),
        _ => write!(out, "{d}d{h}h"),
    };
    out
}

/// Handshake age: `12s ago`, `never`.
pub fn age(seconds: Option<f64>) -> String {
    match seconds {
        Some(s) => format!("{} ago", duration(s)),
        None => "never".to_string(),
    }
}

/// A round-trip time: `450us`, `1.20ms`, `35.0ms`, `250ms`, `1.25s`; `-` when unknown.
pub fn rtt(seconds: Option<f64>) -> String {
    let Some(s) = seconds.filter(|s| s.is_finite() && *s >= 0.0) else {
        return "-".to_string();
    };
    let ms = s * 1000.0;
    match ms {
        ms if ms < 1.0 => format!("{:.0}us", ms * 1000.0),
        ms if ms < 10.0 => format!("{ms:.2}ms"),
        ms if ms < 100.0 => format!("{ms:.1}ms"),
        ms if ms < 1000.0 => format!("{ms:.0}ms"),
        _ => format!("{s:.2}s"),
    }
}

/// A ratio 0..=1 as a percentage with one decimal.
pub fn percent(ratio: f64) -> String {
    if ratio.is_finite() {
        format!("{:.1}%", ratio * 100.0)
    } else {
        "-".to_string()
    }
}

/// The endpoint in use, and the configured one when the peer roamed away from
/// it (handshakes fall back there while the learned one goes unanswered).
pub fn endpoint(p: &crate::status::PeerView) -> String {
    match (p.endpoint, p.configured_endpoint) {
        (None, _) => NONE.to_string(),
        (Some(e), Some(c)) if c != e => format!("{e} (config {c})"),
        (Some(e), _) => e.to_string(),
    }
}

/// Items joined with commas, or NONE.
pub fn list<T: ToString>(items: &[T]) -> String {
    if items.is_empty() {
        NONE.to_string()
    } else {
        items.iter().map(T::to_string).collect::<Vec<_>>().join(",")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_counts_read_like_wg_show() {
        assert_eq!(bytes(0), "0 B");
        assert_eq!(bytes(1023), "1023 B");
        assert_eq!(bytes(10_240), "10.00 KiB");
        assert_eq!(bytes(1_298_137_661), "1.21 GiB");
        assert_eq!(bytes(u64::MAX), "16.00 EiB");
    }

    #[test]
    fn durations_use_two_units() {
        assert_eq!(age(None), "never");
        assert_eq!(age(Some(12.4)), "12s ago");
        assert_eq!(age(Some(133.0)), "2m13s ago");
        assert_eq!(duration(11_045.0), "3h4m");
        assert_eq!(duration(2.0 * 86_400.0 + 5.0 * 3_600.0), "2d5h");
        assert_eq!(duration(f64::NAN), "?");
        assert_eq!(duration(-1.0), "?");
    }

    #[test]
    fn rtts_keep_three_significant_digits() {
        assert_eq!(rtt(None), "-");
        assert_eq!(rtt(Some(0.00045)), "450us");
        assert_eq!(rtt(Some(0.0012)), "1.20ms");
        assert_eq!(rtt(Some(0.035)), "35.0ms");
        assert_eq!(rtt(Some(0.25)), "250ms");
        assert_eq!(rtt(Some(1.25)), "1.25s");
        assert_eq!(rtt(Some(f64::INFINITY)), "-");
    }

    #[test]
    fn tables_align_and_dumps_cannot_shift_columns() {
        let mut t = Table::new(&["A", "LONGER", "LAST"]);
        t.row(vec!["x".into(), "y".into(), "free text here".into()]);
        t.row(vec!["wide cell".into(), "".into(), "".into()]);
        assert_eq!(
            t.render(),
            "A          LONGER  LAST\nx          y       free text here\nwide cell\n"
        );
        assert_eq!(
            dump_line(&["a\tb".into(), "".into(), "c\nd".into()]),
            "a b\t(none)\tc d\n"
        );
    }
}
