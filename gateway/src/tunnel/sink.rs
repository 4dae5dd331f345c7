//! Where the tunnel layer writes datagrams bound for the network: buffers the
//! caller owns, so boringtun encrypts straight into the I/O shell's send batch
//! (a `sendmmsg` array or a GSO buffer) with no copy and no allocation.

use std::net::SocketAddr;

/// A caller-owned batch of outgoing UDP datagrams.
///
/// Protocol: the tunnel asks for [`buffer`](DatagramSink::buffer), writes one
/// datagram at its start, then calls [`commit`](DatagramSink::commit) with the
/// length and destination. A buffer that is not committed is simply reused
/// by the next `buffer` call. A sink that is full returns an empty (or short)
/// buffer: the tunnel then counts [`TunnelDrop::BufferTooSmall`] for data it
/// could not write, or leaves queued packets queued for a later flush.
///
/// [`TunnelDrop::BufferTooSmall`]: super::TunnelDrop::BufferTooSmall
pub trait DatagramSink {
    /// Space for the next datagram. To be useful it must hold
    /// [`Tunnels::datagram_capacity`](super::Tunnels::datagram_capacity) bytes.
    fn buffer(&mut self) -> &mut [u8];
    /// The first `len` bytes of the buffer last returned by `buffer` are a
    /// datagram to send to `dst`.
    fn commit(&mut self, dst: SocketAddr, len: usize);
}

/// A ready-made [`DatagramSink`]: `slots` fixed-size slots in one allocation
/// made up front, with the destination and length of each committed one.
/// Fits `sendmmsg`-style sending; `clear` it after each send.
#[derive(Debug)]
pub struct DatagramBatch {
    data: Vec<u8>,
    slot_len: usize,
    slots: usize,
    committed: Vec<(SocketAddr, usize)>,
}

impl DatagramBatch {
    /// A batch of `slots` datagrams of up to `slot_len` bytes each.
    pub fn new(slots: usize, slot_len: usize) -> DatagramBatch {
        DatagramBatch {
            data: vec![0; slots.saturating_mul(slot_len)],
            slot_len,
            slots,
            committed: Vec::with_capacity(slots),
        }
    }

    /// Committed datagrams.
    pub fn len(&self) -> usize {
        self.committed.len()
    }

    /// No datagram committed yet.
    pub fn is_empty(&self) -> bool {
        self.committed.is_empty()
    }

    /// Forgets every committed datagram (after they were sent).
    pub fn clear(&mut self) {
        self.committed.clear();
    }

    /// The committed datagrams, in order, with their destinations.
    pub fn iter(&self) -> impl Iterator<Item = (SocketAddr, &[u8])> + '_ {
        self.committed
            .iter()
            .zip(self.data.chunks(self.slot_len.max(1)))
            .map(|((dst, len), slot)| (*dst, &slot[..*len]))
    }
}

impl DatagramSink for DatagramBatch {
    fn buffer(&mut self) -> &mut [u8] {
        let used = self.committed.len();
        if used >= self.slots {
            return &mut [];
        }
        let start = used * self.slot_len;
        &mut self.data[start..start + self.slot_len]
    }

    fn commit(&mut self, dst: SocketAddr, len: usize) {
        if self.committed.len() < self.slots {
            self.committed.push((dst, len.min(self.slot_len)));
        }
    }
}

/// Copies a small control datagram (handshake, cookie, keepalive: at most
/// 148 bytes) into the sink. False if the sink had no room.
pub(crate) fn emit(sink: &mut impl DatagramSink, dst: SocketAddr, datagram: &[u8]) -> bool {
    let buffer = sink.buffer();
    match buffer.get_mut(..datagram.len()) {
        Some(slot) => {
            slot.copy_from_slice(datagram);
            sink.commit(dst, datagram.len());
            true
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_hands_out_slots_until_full_and_reuses_uncommitted_ones() {
        let a: SocketAddr = "192.0.2.1:4500".parse().unwrap();
        let b: SocketAddr = "192.0.2.2:4500".parse().unwrap();
        let mut batch = DatagramBatch::new(2, 8);
        assert!(emit(&mut batch, a, b"one"));
        // Written but not committed: the next call gets the same slot.
        batch.buffer()[..3].copy_from_slice(b"zzz");
        assert!(emit(&mut batch, b, b"two!"));
        assert!(batch.buffer().is_empty());
        assert!(!emit(&mut batch, a, b"three"));
        let got: Vec<_> = batch.iter().map(|(d, p)| (d, p.to_vec())).collect();
        assert_eq!(got, vec![(a, b"one".to_vec()), (b, b"two!".to_vec())]);
        batch.clear();
        assert!(batch.is_empty());
        assert_eq!(batch.buffer().len(), 8);
    }

    #[test]
    fn emit_refuses_a_datagram_longer_than_the_slot() {
        let mut batch = DatagramBatch::new(1, 4);
        assert!(!emit(&mut batch, "192.0.2.1:1".parse().unwrap(), b"12345"));
        assert_eq!(batch.len(), 0);
    }
}
