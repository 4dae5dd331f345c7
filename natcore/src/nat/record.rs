//! Flow records: what a gracefully restarting gateway saves of its NAT table
//! and restores, so established flows survive the restart.
//!
//! Encoding (version 1, all integers big-endian):
//!
//! ```text
//! header  := "NATF" | version u8 = 1 | count u32
//! record  := protocol u8 | kind u8 | tcp_seen u8
//!          | local ip 4 | local port u16 | global ip 4 | global port u16
//!          | remote ip 4 | remote port u16 | remaining lifetime ms u32
//! ```
//!
//! The decoder trusts nothing: the count must match the length exactly (no
//! allocation sized by a forged count), every enum byte must be known.

use super::flow::{tcp_seen, Endpoint, FlowKind};
use crate::wire::Protocol;
use std::net::Ipv4Addr;
use std::time::Duration;

const MAGIC: &[u8; 4] = b"NATF";
const VERSION: u8 = 1;
const HEADER_LEN: usize = 4 + 1 + 4; // magic + version + count
/// protocol + kind + tcp_seen + three endpoints + remaining ms.
pub const RECORD_LEN: usize = 3 + 3 * (4 + 2) + 4;

/// One flow as saved: endpoints, TCP state and how long it has left.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlowRecord {
    pub protocol: Protocol,
    pub kind: FlowKind,
    pub local: Endpoint,
    pub global: Endpoint,
    /// For ICMP echo flows the port is unused (0).
    pub remote: Endpoint,
    /// [`tcp_seen`] bits (0 for UDP and ICMP).
    pub tcp_seen: u8,
    /// Idle time left before the flow would have expired (ms precision,
    /// at most `u32::MAX` ms ≈ 49.7 days).
    pub remaining: Duration,
}

/// Why a byte string is not a valid set of flow records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    #[error("flow records: {len} bytes is shorter than the {HEADER_LEN}-byte header")]
    ShortHeader { len: usize },
    #[error("flow records: bad magic (expected \"NATF\")")]
    BadMagic,
    #[error("flow records: unsupported version {0} (this build reads version {VERSION})")]
    UnsupportedVersion(u8),
    #[error("flow records: header announces {count} records ({expected} bytes) but {actual} bytes follow")]
    LengthMismatch {
        count: u32,
        expected: u64,
        actual: usize,
    },
    #[error("flow record {index}: unknown protocol number {value}")]
    BadProtocol { index: usize, value: u8 },
    #[error("flow record {index}: unknown flow kind {value}")]
    BadKind { index: usize, value: u8 },
    #[error("flow record {index}: undefined TCP state bits {value:#04x}")]
    BadTcpBits { index: usize, value: u8 },
}

fn protocol_from(value: u8) -> Option<Protocol> {
    match value {
        1 => Some(Protocol::Icmp),
        6 => Some(Protocol::Tcp),
        17 => Some(Protocol::Udp),
        _ => None,
    }
}

fn kind_from(value: u8) -> Option<FlowKind> {
    match value {
        0 => Some(FlowKind::Egress),
        1 => Some(FlowKind::Ingress),
        _ => None,
    }
}

fn put_endpoint(out: &mut Vec<u8>, e: Endpoint) {
    out.extend_from_slice(&e.addr.octets());
    out.extend_from_slice(&e.port.to_be_bytes());
}

fn get_endpoint(b: &[u8; 6]) -> Endpoint {
    Endpoint::new(
        Ipv4Addr::new(b[0], b[1], b[2], b[3]),
        u16::from_be_bytes([b[4], b[5]]),
    )
}

impl FlowRecord {
    /// Appends this record's [`RECORD_LEN`] bytes.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.push(self.protocol as u8);
        out.push(self.kind as u8);
        out.push(self.tcp_seen);
        put_endpoint(out, self.local);
        put_endpoint(out, self.global);
        put_endpoint(out, self.remote);
        let ms = u32::try_from(self.remaining.as_millis()).unwrap_or(u32::MAX);
        out.extend_from_slice(&ms.to_be_bytes());
    }

    /// Decodes one record; `index` only labels errors.
    pub fn decode(b: &[u8; RECORD_LEN], index: usize) -> Result<Self, RecordError> {
        let protocol =
            protocol_from(b[0]).ok_or(RecordError::BadProtocol { index, value: b[0] })?;
        let kind = kind_from(b[1]).ok_or(RecordError::BadKind { index, value: b[1] })?;
        if b[2] & !tcp_seen::MASK != 0 || (protocol != Protocol::Tcp && b[2] != 0) {
            return Err(RecordError::BadTcpBits { index, value: b[2] });
        }
        let endpoint = |at: usize| -> Endpoint {
            let mut e = [0u8; 6];
            e.copy_from_slice(&b[at..at + 6]);
            get_endpoint(&e)
        };
        let ms = u32::from_be_bytes([b[21], b[22], b[23], b[24]]);
        Ok(FlowRecord {
            protocol,
            kind,
            tcp_seen: b[2],
            local: endpoint(3),
            global: endpoint(9),
            remote: endpoint(15),
            remaining: Duration::from_millis(u64::from(ms)),
        })
    }
}

/// Encodes a whole table dump.
pub fn flows_to_bytes(records: &[FlowRecord]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + records.len() * RECORD_LEN);
    out.extend_from_slice(MAGIC);
    out.push(VERSION);
    let count = u32::try_from(records.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&count.to_be_bytes());
    for r in records.iter().take(count as usize) {
        r.encode(&mut out);
    }
    out
}

/// Decodes a table dump written by [`flows_to_bytes`]. Never panics.
pub fn flows_from_bytes(bytes: &[u8]) -> Result<Vec<FlowRecord>, RecordError> {
    let Some((header, body)) = bytes.split_first_chunk::<HEADER_LEN>() else {
        return Err(RecordError::ShortHeader { len: bytes.len() });
    };
    if &header[..4] != MAGIC {
        return Err(RecordError::BadMagic);
    }
    if header[4] != VERSION {
        return Err(RecordError::UnsupportedVersion(header[4]));
    }
    let count = u32::from_be_bytes([header[5], header[6], header[7], header[8]]);
    let expected = u64::from(count) * RECORD_LEN as u64;
    if expected != body.len() as u64 {
        return Err(RecordError::LengthMismatch {
            count,
            expected,
            actual: body.len(),
        });
    }
    let mismatch = RecordError::LengthMismatch {
        count,
        expected,
        actual: body.len(),
    };
    body.chunks_exact(RECORD_LEN)
        .enumerate()
        .map(|(index, chunk)| {
            let chunk = <&[u8; RECORD_LEN]>::try_from(chunk).map_err(|_| mismatch)?;
            FlowRecord::decode(chunk, index)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn record() -> FlowRecord {
        FlowRecord {
            protocol: Protocol::Tcp,
            kind: FlowKind::Egress,
            local: Endpoint::new(Ipv4Addr::new(10, 244, 1, 10), 40000),
            global: Endpoint::new(Ipv4Addr::new(242, 0, 0, 2), 40001),
            remote: Endpoint::new(Ipv4Addr::new(243, 0, 0, 5), 8080),
            tcp_seen: tcp_seen::OUTBOUND | tcp_seen::INBOUND,
            remaining: Duration::from_millis(7_000_123),
        }
    }

    #[test]
    fn golden_encoding() {
        let bytes = flows_to_bytes(&[record()]);
        assert_eq!(
            hex::encode(&bytes),
            concat!(
                "4e41544601",
                "00000001", // "NATF", v1, 1 record
                "06",
                "00",
                "03", // TCP, egress, seen both ways
                "0af4010a",
                "9c40", // 10.244.1.10:40000
                "f2000002",
                "9c41", // 242.0.0.2:40001
                "f3000005",
                "1f90",     // 243.0.0.5:8080
                "006ad03b"  // 7 000 123 ms
            )
        );
        assert_eq!(flows_from_bytes(&bytes), Ok(vec![record()]));
    }

    #[test]
    fn rejects_corruption_with_a_reason() {
        let good = flows_to_bytes(&[record()]);
        assert_eq!(
            flows_from_bytes(&good[..3]),
            Err(RecordError::ShortHeader { len: 3 })
        );
        let mut b = good.clone();
        b[0] = b'X';
        assert_eq!(flows_from_bytes(&b), Err(RecordError::BadMagic));
        let mut b = good.clone();
        b[4] = 9;
        assert_eq!(
            flows_from_bytes(&b),
            Err(RecordError::UnsupportedVersion(9))
        );
        let mut b = good.clone();
        b[8] = 200; // count 200 with one record's bytes: refused, no huge allocation
        assert!(matches!(
            flows_from_bytes(&b),
            Err(RecordError::LengthMismatch { count: 200, .. })
        ));
        let mut b = good.clone();
        b[9] = 2;
        assert_eq!(
            flows_from_bytes(&b),
            Err(RecordError::BadProtocol { index: 0, value: 2 })
        );
        let mut b = good.clone();
        b[10] = 7;
        assert_eq!(
            flows_from_bytes(&b),
            Err(RecordError::BadKind { index: 0, value: 7 })
        );
        let mut b = good;
        b[11] = 0x80;
        assert_eq!(
            flows_from_bytes(&b),
            Err(RecordError::BadTcpBits {
                index: 0,
                value: 0x80
            })
        );
    }

    proptest! {
        #[test]
        fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = flows_from_bytes(&bytes);
            let mut with_header = b"NATF\x01\x00\x00\x00\x02".to_vec();
            with_header.extend_from_slice(&bytes);
            if let Ok(records) = flows_from_bytes(&with_header) {
                prop_assert_eq!(flows_to_bytes(&records), with_header);
            }
        }
    }
}
