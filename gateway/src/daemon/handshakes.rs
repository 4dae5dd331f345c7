//! Handshake messages off the data path.
//!
//! ```text
//!  udp-rx: recvmmsg ─┬─ data (type 4), anything else ─────────▶ inbound_batch (decrypt, NAT, TUN)
//!                    └─ handshake (types 1–3): one copy ─▶ bounded queue ─▶ `handshakes` thread
//!                           (handed over once per batch)                     (nice 19):
//!                           queue full: dropped, `handshake_queue_full`       inbound_batch
//! ```
//!
//! Every handshake initiation costs mac1, and past the rate limit a cookie
//! reply (≈ 2 µs of BLAKE2s and XChaCha20-Poly1305), before anyone knows it
//! comes from a peer. Handled on the receive thread, a flood of them takes
//! that thread from the established tunnels' decryption, and once it falls
//! behind, the socket's receive buffer overflows and drops their data too.
//! Here a flood costs the receive thread one copy per message; the
//! cryptography runs on a thread the scheduler serves after the data path,
//! and when that thread cannot keep up it is its queue that overflows, not
//! the socket. Kernel WireGuard is built the same way (a handshake queue of
//! `MAX_QUEUED_INCOMING_HANDSHAKES` = 4096, dropped when full).

use crate::tunnel::{is_handshake_message, TunnelDrop, TunnelDropCounts, HANDSHAKE_INIT_LEN};
use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

/// Handshake messages waiting for the handshake thread; as kernel WireGuard.
pub const HANDSHAKE_QUEUE_LEN: usize = 4096;
/// The handshake thread's nice value, the lowest: under CPU contention a
/// data path thread (nice 0) gets about 68 times its share (CFS weights 1024
/// vs 15). That share of one core still answers thousands of handshakes a
/// second, far more than peers need (one each per two minutes).
pub const HANDSHAKE_THREAD_NICE: i32 = 19;

/// One queued handshake message and its sender.
#[derive(Clone, Copy)]
pub struct HandshakeMessage {
    from: SocketAddr,
    len: usize,
    bytes: [u8; HANDSHAKE_INIT_LEN],
}

impl HandshakeMessage {
    /// The sender and the datagram, as `inbound_batch` takes them.
    pub fn datagram(&self) -> (SocketAddr, &[u8]) {
        (self.from, &self.bytes[..self.len])
    }
}

/// The queue both ends share. One lock and at most one wake-up per receive
/// batch, not per message: a flood must cost the receive thread little.
struct Queue {
    messages: Mutex<VecDeque<HandshakeMessage>>,
    capacity: usize,
    ready: Condvar,
    /// The reader waits on `ready`: only then is a wake-up (a futex system
    /// call) worth making. Read and written under `messages`' lock.
    reader_waiting: AtomicBool,
    /// The receive thread's end is gone.
    closed: Mutex<bool>,
}

impl Queue {
    fn messages(&self) -> MutexGuard<'_, VecDeque<HandshakeMessage>> {
        self.messages.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The receive thread's end: collects a batch's handshake messages, then
/// hands them over at once.
pub struct HandshakeQueue {
    queue: Arc<Queue>,
    staged: Vec<HandshakeMessage>,
}

/// The handshake thread's end.
pub struct HandshakeInbox {
    queue: Arc<Queue>,
}

/// A queue for `capacity` messages, staging up to `batch` per hand-over
/// (both allocated here, once).
pub fn handshake_queue(capacity: usize, batch: usize) -> (HandshakeQueue, HandshakeInbox) {
    let queue = Arc::new(Queue {
        messages: Mutex::new(VecDeque::with_capacity(capacity)),
        capacity,
        ready: Condvar::new(),
        reader_waiting: AtomicBool::new(false),
        closed: Mutex::new(false),
    });
    (
        HandshakeQueue {
            queue: queue.clone(),
            staged: Vec::with_capacity(batch),
        },
        HandshakeInbox { queue },
    )
}

impl HandshakeQueue {
    /// Takes `datagram` if it is a handshake message, for the next
    /// [`hand_over`](HandshakeQueue::hand_over) (which a full stage triggers
    /// itself). `false`: not a handshake message, the caller handles it.
    pub fn offer(
        &mut self,
        from: SocketAddr,
        datagram: &[u8],
        drops: &mut TunnelDropCounts,
    ) -> bool {
        if !is_handshake_message(datagram) {
            return false;
        }
        if self.staged.len() == self.staged.capacity() {
            self.hand_over(drops);
        }
        let mut message = HandshakeMessage {
            from,
            len: datagram.len(),
            bytes: [0; HANDSHAKE_INIT_LEN],
        };
        message.bytes[..datagram.len()].copy_from_slice(datagram);
        self.staged.push(message);
        true
    }

    /// Queues the staged messages for the handshake thread; those that do
    /// not fit are dropped and counted in `drops`.
    pub fn hand_over(&mut self, drops: &mut TunnelDropCounts) {
        if self.staged.is_empty() {
            return;
        }
        let mut messages = self.queue.messages();
        let room = self.queue.capacity.saturating_sub(messages.len());
        let fit = room.min(self.staged.len());
        messages.extend(self.staged.drain(..fit));
        let wake = fit > 0 && self.queue.reader_waiting.load(Ordering::Relaxed);
        drop(messages);
        drops.add_n(TunnelDrop::HandshakeQueueFull, self.staged.len() as u64);
        self.staged.clear();
        if wake {
            self.queue.ready.notify_one();
        }
    }
}

impl Drop for HandshakeQueue {
    fn drop(&mut self) {
        *self
            .queue
            .closed
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = true;
        // Under the queue's lock, so a waiting reader cannot miss it.
        let _messages = self.queue.messages();
        self.queue.ready.notify_all();
    }
}

/// What [`HandshakeInbox::recv_batch`] saw.
#[derive(Debug, PartialEq, Eq)]
pub enum Inbox {
    /// `batch` holds at least one message.
    Messages,
    /// Nothing arrived within the timeout.
    Idle,
    /// The receive thread's end is gone and the queue is empty: stop.
    Closed,
}

impl HandshakeInbox {
    /// Waits up to `timeout` for messages, then takes up to `max` of them
    /// into `batch` (cleared first).
    pub fn recv_batch(
        &self,
        batch: &mut Vec<HandshakeMessage>,
        max: usize,
        timeout: Duration,
    ) -> Inbox {
        batch.clear();
        let mut messages = self.queue.messages();
        if messages.is_empty() && !self.closed() {
            self.queue.reader_waiting.store(true, Ordering::Relaxed);
            messages = self
                .queue
                .ready
                .wait_timeout(messages, timeout)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
            self.queue.reader_waiting.store(false, Ordering::Relaxed);
        }
        let take = max.min(messages.len());
        batch.extend(messages.drain(..take));
        drop(messages);
        if !batch.is_empty() {
            Inbox::Messages
        } else if self.closed() {
            Inbox::Closed
        } else {
            Inbox::Idle
        }
    }

    fn closed(&self) -> bool {
        *self
            .queue
            .closed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// The calling thread's nice value.
pub fn thread_nice() -> i32 {
    // SAFETY: gettid has no preconditions; getpriority only reads its
    // arguments (on Linux PRIO_PROCESS with a thread id means that thread).
    // It cannot fail for the calling thread, so -1 is a nice value here.
    unsafe { libc::getpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t) }
}

/// Raises the calling thread's nice value to at least `nice`, lowering its
/// priority (which needs no privilege); a thread already lower stays so.
pub fn lower_thread_priority(nice: i32) -> io::Result<()> {
    let nice = nice.max(thread_nice());
    // SAFETY: as in thread_nice; setpriority only reads its arguments.
    let result =
        unsafe { libc::setpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t, nice) };
    if result == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from() -> SocketAddr {
        SocketAddr::from(([192, 168, 100, 1], 4500))
    }

    fn message(kind: u8, len: usize) -> Vec<u8> {
        let mut m = vec![0xAB; len];
        m[0] = kind;
        m
    }

    fn received(batch: &[HandshakeMessage]) -> Vec<(SocketAddr, Vec<u8>)> {
        batch
            .iter()
            .map(|m| (m.datagram().0, m.datagram().1.to_vec()))
            .collect()
    }

    #[test]
    fn handshake_messages_are_queued_and_the_rest_left_to_the_caller() {
        let (mut queue, inbox) = handshake_queue(8, 4);
        let mut drops = TunnelDropCounts::default();
        assert!(!queue.offer(from(), &message(4, 200), &mut drops), "data");
        assert!(
            !queue.offer(from(), &message(1, 200), &mut drops),
            "too long"
        );
        assert!(
            !queue.offer(from(), &message(9, 20), &mut drops),
            "unknown type"
        );
        assert!(queue.offer(from(), &message(1, 148), &mut drops));
        assert!(queue.offer(from(), &message(3, 64), &mut drops));
        let mut batch = Vec::new();
        assert_eq!(
            inbox.recv_batch(&mut batch, 64, Duration::from_millis(1)),
            Inbox::Idle,
            "staged, not handed over yet"
        );
        queue.hand_over(&mut drops);
        assert_eq!(drops.total(), 0);
        let got = inbox.recv_batch(&mut batch, 64, Duration::from_millis(10));
        assert_eq!(got, Inbox::Messages);
        assert_eq!(
            received(&batch),
            [(from(), message(1, 148)), (from(), message(3, 64))]
        );
        assert_eq!(
            inbox.recv_batch(&mut batch, 64, Duration::from_millis(1)),
            Inbox::Idle
        );
        assert!(batch.is_empty());
    }

    #[test]
    fn a_full_queue_drops_and_counts_and_batches_are_bounded() {
        let (mut queue, inbox) = handshake_queue(3, 2);
        let mut drops = TunnelDropCounts::default();
        for _ in 0..5 {
            // A full stage (2) hands over by itself.
            assert!(queue.offer(from(), &message(1, 148), &mut drops));
        }
        queue.hand_over(&mut drops);
        assert_eq!(drops.get(TunnelDrop::HandshakeQueueFull), 2);
        let mut batch = Vec::new();
        inbox.recv_batch(&mut batch, 2, Duration::from_millis(10));
        assert_eq!(batch.len(), 2, "at most max");
        inbox.recv_batch(&mut batch, 2, Duration::from_millis(10));
        assert_eq!(batch.len(), 1);
        drop(queue);
        assert_eq!(
            inbox.recv_batch(&mut batch, 2, Duration::from_millis(10)),
            Inbox::Closed
        );
    }

    #[test]
    fn a_waiting_reader_wakes_for_a_hand_over_and_for_the_close() {
        let (mut queue, inbox) = handshake_queue(8, 8);
        let reader = std::thread::spawn(move || {
            let mut batch = Vec::new();
            let first = inbox.recv_batch(&mut batch, 8, Duration::from_secs(10));
            let count = batch.len();
            let second = inbox.recv_batch(&mut batch, 8, Duration::from_secs(10));
            (first, count, second)
        });
        std::thread::sleep(Duration::from_millis(50));
        let mut drops = TunnelDropCounts::default();
        queue.offer(from(), &message(2, 92), &mut drops);
        queue.hand_over(&mut drops);
        std::thread::sleep(Duration::from_millis(50));
        let started = std::time::Instant::now();
        drop(queue);
        let (first, count, second) = reader.join().unwrap();
        assert_eq!((first, count, second), (Inbox::Messages, 1, Inbox::Closed));
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "woken, not timed out"
        );
    }

    #[test]
    fn a_thread_can_lower_its_own_priority_and_only_its_own() {
        let before = thread_nice(); // the test may itself run under `nice`
        std::thread::spawn(move || {
            lower_thread_priority(HANDSHAKE_THREAD_NICE).unwrap();
            assert_eq!(thread_nice(), HANDSHAKE_THREAD_NICE.max(before));
            lower_thread_priority(0).unwrap();
            assert_eq!(
                thread_nice(),
                HANDSHAKE_THREAD_NICE.max(before),
                "never raised"
            );
        })
        .join()
        .unwrap();
        assert_eq!(thread_nice(), before);
    }
}
