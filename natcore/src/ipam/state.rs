//! The saved-state format: versioned, line-based text, readable at 3 a.m.
//!
//! ```text
//! natcore-ipam v1
//! block 242.0.0.0/16
//! pool 242.0.0.2
//! group ns-payments 242.0.0.10
//! ingress shared/echo 242.0.0.20
//! headless shared/db 10.244.8.9 242.0.0.21
//! ```
//!
//! One line per allocated IP, fields separated by spaces; blank lines and
//! lines starting with `#` are ignored. The first line names the format and
//! its version; a future format gets a new version and this one stays
//! readable. The loader treats every byte as hostile: anything unexpected is
//! a [`StateError`] naming the line, never a panic.

use super::owner::{Owner, OwnerAllocation};
use super::spec::name_problem;
use ipnet::Ipv4Net;
use std::net::Ipv4Addr;

const MAGIC: &str = "natcore-ipam";
const VERSION: &str = "v1";
const FORMAT_NOTE: &str = "# global IP allocations, one per line: pool IP | group NAME IP | \
                           ingress SERVICE IP | headless SERVICE POD_IP IP";

/// Why saved state bytes could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StateError {
    #[error("it is not UTF-8 text (bad byte at offset {offset})")]
    NotUtf8 { offset: usize },
    #[error("it is empty")]
    Empty,
    #[error("line 1 is {found:?}, expected `natcore-ipam v1`")]
    BadHeader { found: String },
    #[error("it is format version {found:?}; this build reads v1")]
    UnsupportedVersion { found: String },
    #[error("it has no `block CIDR` line")]
    MissingBlock,
    #[error("line {line}: {problem}")]
    Line { line: usize, problem: LineProblem },
}

/// What is wrong with one line of saved state.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LineProblem {
    #[error("unknown keyword {keyword:?} (expected block, pool, group, ingress or headless)")]
    UnknownKeyword { keyword: String },
    #[error("wrong number of fields, expected `{usage}`")]
    WrongFields { usage: &'static str },
    #[error("{text:?} is not an IPv4 address")]
    BadAddress { text: String },
    #[error("{text:?} is not an IPv4 CIDR")]
    BadCidr { text: String },
    #[error("block {block} has host bits set")]
    BlockHostBits { block: Ipv4Net },
    #[error("a second `block` line")]
    DuplicateBlock,
    #[error("an allocation before the `block` line")]
    EntryBeforeBlock,
    #[error("name {name:?} is invalid: {reason}")]
    BadName { name: String, reason: &'static str },
}

/// One allocation as saved: an owner and one of its IPs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SavedEntry {
    pub(crate) owner: Owner,
    pub(crate) ip: Ipv4Addr,
}

/// Saved state, parsed but not yet checked against a spec.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SavedState {
    pub(crate) block: Ipv4Net,
    /// In file order: when two owners claim one IP, the first one keeps it.
    pub(crate) entries: Vec<SavedEntry>,
}

/// Hostile text goes into error messages only in short, quoted form.
fn excerpt(text: &str) -> String {
    const SHOWN: usize = 64;
    match text.char_indices().nth(SHOWN) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

pub(crate) fn write(block: Ipv4Net, allocations: &[OwnerAllocation]) -> Vec<u8> {
    let mut out = format!("{MAGIC} {VERSION}\n{FORMAT_NOTE}\nblock {block}\n");
    for allocation in allocations {
        for ip in &allocation.ips {
            let line = match &allocation.owner {
                Owner::ClusterEgress => format!("pool {ip}\n"),
                Owner::EgressGroup(name) => format!("group {name} {ip}\n"),
                Owner::Ingress(service) => format!("ingress {service} {ip}\n"),
                Owner::HeadlessPod { service, pod } => {
                    format!("headless {service} {pod} {ip}\n")
                }
            };
            out.push_str(&line);
        }
    }
    out.into_bytes()
}

fn address(text: &str) -> Result<Ipv4Addr, LineProblem> {
    text.parse().map_err(|_| LineProblem::BadAddress {
        text: excerpt(text),
    })
}

fn name(text: &str) -> Result<String, LineProblem> {
    match name_problem(text) {
        None => Ok(text.to_owned()),
        Some(reason) => Err(LineProblem::BadName {
            name: excerpt(text),
            reason,
        }),
    }
}

fn block(text: &str) -> Result<Ipv4Net, LineProblem> {
    let block: Ipv4Net = text.parse().map_err(|_| LineProblem::BadCidr {
        text: excerpt(text),
    })?;
    if block != block.trunc() {
        return Err(LineProblem::BlockHostBits { block });
    }
    Ok(block)
}

/// The allocation a line describes; `fields` has at least one element.
fn entry(fields: &[&str]) -> Result<SavedEntry, LineProblem> {
    let (owner, ip) = match fields {
        ["pool", ip] => (Owner::ClusterEgress, ip),
        ["pool", ..] => return Err(LineProblem::WrongFields { usage: "pool IP" }),
        ["group", group, ip] => (Owner::EgressGroup(name(group)?), ip),
        ["group", ..] => {
            return Err(LineProblem::WrongFields {
                usage: "group NAME IP",
            })
        }
        ["ingress", service, ip] => (Owner::Ingress(name(service)?), ip),
        ["ingress", ..] => {
            return Err(LineProblem::WrongFields {
                usage: "ingress SERVICE IP",
            })
        }
        ["headless", service, pod, ip] => {
            let owner = Owner::HeadlessPod {
                service: name(service)?,
                pod: address(pod)?,
            };
            (owner, ip)
        }
        ["headless", ..] => {
            return Err(LineProblem::WrongFields {
                usage: "headless SERVICE POD_IP IP",
            })
        }
        [keyword, ..] => {
            return Err(LineProblem::UnknownKeyword {
                keyword: excerpt(keyword),
            })
        }
        [] => {
            return Err(LineProblem::WrongFields {
                usage: "KEYWORD FIELDS…",
            })
        }
    };
    Ok(SavedEntry {
        owner,
        ip: address(ip)?,
    })
}

fn header(first_line: &str) -> Result<(), StateError> {
    match first_line.split_ascii_whitespace().collect::<Vec<_>>()[..] {
        [MAGIC, VERSION] => Ok(()),
        [MAGIC, other] => Err(StateError::UnsupportedVersion {
            found: excerpt(other),
        }),
        _ => Err(StateError::BadHeader {
            found: excerpt(first_line),
        }),
    }
}

pub(crate) fn parse(bytes: &[u8]) -> Result<SavedState, StateError> {
    let text = std::str::from_utf8(bytes).map_err(|e| StateError::NotUtf8 {
        offset: e.valid_up_to(),
    })?;
    let mut lines = text.lines();
    header(lines.next().ok_or(StateError::Empty)?)?;

    let mut block_seen: Option<Ipv4Net> = None;
    let mut entries = Vec::new();
    // Line 1 was the header.
    for (line, text) in (2..).zip(lines) {
        let fields: Vec<&str> = text.split_ascii_whitespace().collect();
        let at = |problem| StateError::Line { line, problem };
        match fields[..] {
            [] => {}
            [first, ..] if first.starts_with('#') => {}
            ["block", cidr] => {
                if block_seen.is_some() {
                    return Err(at(LineProblem::DuplicateBlock));
                }
                block_seen = Some(block(cidr).map_err(at)?);
            }
            ["block", ..] => {
                return Err(at(LineProblem::WrongFields {
                    usage: "block CIDR",
                }))
            }
            _ => {
                if block_seen.is_none() {
                    return Err(at(LineProblem::EntryBeforeBlock));
                }
                entries.push(entry(&fields).map_err(at)?);
            }
        }
    }
    let block = block_seen.ok_or(StateError::MissingBlock)?;
    Ok(SavedState { block, entries })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_line_kind() {
        let text = "natcore-ipam v1\r\n\n# note\nblock 242.0.0.0/16\npool 242.0.0.2\n\
                    group ns-payments 242.0.0.10\ningress shared/echo 242.0.0.20\n\
                    headless shared/db 10.244.8.9 242.0.0.21\n";
        let state = parse(text.as_bytes()).unwrap();
        assert_eq!(state.block, "242.0.0.0/16".parse::<Ipv4Net>().unwrap());
        let owners: Vec<String> = state.entries.iter().map(|e| e.owner.to_string()).collect();
        assert_eq!(
            owners,
            [
                "cluster egress pool",
                "egress group ns-payments",
                "exported service shared/echo",
                "headless service shared/db pod 10.244.8.9"
            ]
        );
        assert_eq!(state.entries[3].ip, Ipv4Addr::new(242, 0, 0, 21));
    }

    #[test]
    fn names_the_bad_line() {
        let err = parse(b"natcore-ipam v1\nblock 242.0.0.0/16\npool 242.0.0\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "line 3: \"242.0.0\" is not an IPv4 address"
        );
        let err = parse(b"natcore-ipam v1\npool 242.0.0.2\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "line 2: an allocation before the `block` line"
        );
    }

    #[test]
    fn long_hostile_text_is_shortened_in_errors() {
        let junk = "x".repeat(10_000);
        let err =
            parse(format!("natcore-ipam v1\nblock 242.0.0.0/16\n{junk}\n").as_bytes()).unwrap_err();
        assert!(err.to_string().len() < 200, "{err}");
    }
}
