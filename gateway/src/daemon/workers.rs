//! The data-path threads: `tun-rx` (outbound), `udp-rx` (inbound),
//! `handshakes` (handshake messages, at low priority) and `timers`.
//!
//! Reading the TUN is shared: whoever holds the [`TunReader`] lock reads,
//! translates, seals and sends a batch, so packets of one flow leave in the
//! order they were read. `tun-rx` polls the device without the lock and takes
//! it (waiting) when something is queued; `udp-rx`, after each batch it wrote
//! to the TUN, *tries* it. The reply to what udp-rx just delivered (a ping
//! answered by a pod, a TCP ACK) is usually queued on the TUN by the time the
//! write returns — the kernel runs the receive path inside the write — so
//! udp-rx sends it at once instead of waking tun-rx: one thread wake-up less
//! per round trip, which is most of an idle tunnel's latency on a VM.

use super::bulk_scheduling::BulkScheduler;
use super::datapath::{
    self, DatagramOut, InboundWorker, OutboundWorker, PacketOut, Shared, TimerWorker,
};
use super::handshakes::{
    lower_thread_priority, HandshakeInbox, HandshakeQueue, Inbox, HANDSHAKE_THREAD_NICE,
};
use super::liveness::Loop;
use super::rx_moderation::RxModeration;
use super::solo::{LoadWindow, QUIET_GAP};
use super::status::Daemon;
use crate::io::poll_readable;
use crate::io::tun::{Tun, HEADROOM, READ_BATCH, SUPERPACKET};
use crate::io::udp::{RecvBatch, SendBatch, TunnelSocket, BATCH, MAX_DATAGRAM};
use crate::tunnel::TunnelDropCounts;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError, TryLockError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tun_rs::GROTable;

/// boringtun needs `update_timers` at least every 250 ms; 100 ms leaves slack.
const TIMER_TICK: Duration = Duration::from_millis(100);
/// How long a blocked TUN poll waits before checking for shutdown.
const TUN_POLL: Duration = Duration::from_millis(200);
/// Back-off after an unexpected read error, so a broken device cannot spin.
const ERROR_BACKOFF: Duration = Duration::from_millis(10);
/// Set to `off` to leave all TUN reads to tun-rx (to measure what udp-rx's
/// inline forwarding of replies buys; docs/performance.md).
pub const INLINE_REPLIES_ENV: &str = "GATEWAY_INLINE_REPLIES";
/// How often a parked udp-rx looks at the stop flag and beats its pulse.
const PARKED_POLL: Duration = Duration::from_millis(200);
/// How often an idle handshake thread looks at the stop flag.
const HANDSHAKE_POLL: Duration = Duration::from_millis(200);

/// The TUN read side: its buffers and the outbound worker state.
pub struct TunReader {
    worker: OutboundWorker,
    scratch: Vec<u8>,
    bufs: Vec<Vec<u8>>,
    sizes: Vec<usize>,
    /// Packets read so far, by either thread: tun-rx's bulk scheduling
    /// measures the TUN's rate, including what udp-rx read inline.
    packets_read: u64,
}

impl TunReader {
    pub fn new(shared: &Shared) -> Self {
        TunReader {
            worker: OutboundWorker::new(shared.tunnels.datagram_capacity()),
            scratch: vec![0u8; SUPERPACKET],
            // One buffer at a time, not vec![v; n]: the clones would be written
            // (zeroed) in full, while fresh allocations map zero pages lazily.
            bufs: (0..READ_BATCH)
                .map(|_| vec![0u8; HEADROOM + 65_535])
                .collect(),
            sizes: vec![0usize; READ_BATCH],
            packets_read: 0,
        }
    }

    /// Reads what is queued (without blocking) and forwards it; returns the
    /// number of packets read.
    fn forward_queued(
        &mut self,
        now: Instant,
        shared: &Shared,
        tun: &Tun,
        tun_out: &mut impl PacketOut,
        net: &mut impl DatagramOut,
    ) -> std::io::Result<usize> {
        let n = tun.read_batch(&mut self.scratch, &mut self.bufs, &mut self.sizes)?;
        self.packets_read = self.packets_read.wrapping_add(n as u64);
        if n > 0 {
            datapath::outbound_batch(
                shared,
                &mut self.worker,
                now,
                &mut self.bufs[..n],
                &self.sizes[..n],
                tun_out,
                net,
            );
        }
        Ok(n)
    }
}

struct TunOut {
    tun: Arc<Tun>,
    gro: GROTable,
}

impl PacketOut for TunOut {
    fn write_batch(&mut self, bufs: &mut [Vec<u8>]) {
        if let Err(e) = self.tun.send_batch(&mut self.gro, bufs) {
            tracing::debug!(error = %e, "TUN write failed");
        }
    }

    fn write_one(&mut self, packet: &[u8]) {
        if let Err(e) = self.tun.send_one(packet) {
            tracing::debug!(error = %e, "TUN write failed");
        }
    }
}

struct UdpOut<'a>(&'a TunnelSocket);

impl DatagramOut for UdpOut<'_> {
    fn send_batch(&mut self, batch: &mut SendBatch) {
        let (_, failed) = self.0.send_batch(batch);
        if failed > 0 {
            tracing::debug!(failed, "datagrams refused by the kernel");
        }
    }
}

pub fn spawn_outbound(
    shared: Arc<Shared>,
    tun: Arc<Tun>,
    udp: Arc<TunnelSocket>,
    reader: Arc<Mutex<TunReader>>,
    udp_reader: Arc<Mutex<UdpReader>>,
    stop: Arc<AtomicBool>,
) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("tun-rx".into())
        .spawn(move || {
            let mut tun_out = TunOut {
                tun: tun.clone(),
                gro: GROTable::default(),
            };
            let mut net = UdpOut(&udp);
            let mut scheduler = BulkScheduler::new(shared.scheduling.clone());
            let mut counted = 0u64;
            let owner = &shared.socket_owner;
            // Both directions while solo (when to hand the socket over), and
            // the TUN alone (whether udp-rx may hand it back).
            let mut solo_load = LoadWindow::default();
            let mut tun_load = LoadWindow::default();
            let mut tun_last_read = Instant::now();
            let mut pulse = shared.heartbeats.pulse(Loop::TunRx, Instant::now());
            while !stop.load(Ordering::Relaxed) {
                // While solo (super::solo) the socket is polled here too.
                let solo = owner.is_solo();
                let fds = [
                    Some(tun.raw_fd()),
                    solo.then(|| udp.raw_fd()),
                    owner.enabled().then(|| owner.wake_fd()),
                ];
                let [tun_ready, udp_ready, woken] =
                    match poll_readable(fds, scheduler.poll_timeout(TUN_POLL)) {
                        Ok(ready) => ready,
                        Err(e) => {
                            tracing::warn!(error = %e, "TUN poll failed");
                            std::thread::sleep(ERROR_BACKOFF);
                            continue;
                        }
                    };
                if woken {
                    owner.clear_wake();
                }
                if udp_ready && owner.is_solo() {
                    receive_solo(&shared, &udp, &reader, &udp_reader, &mut solo_load);
                }
                if !tun_ready {
                    // The TUN quiet for a whole poll timeout (whatever else
                    // woke the poll meanwhile) ends bulk mode.
                    let now = Instant::now();
                    if now.saturating_duration_since(tun_last_read)
                        >= scheduler.poll_timeout(TUN_POLL)
                    {
                        scheduler.after_quiet();
                        tun_load.quiet();
                        owner.set_tun_busy(false);
                        tun_last_read = now;
                    }
                    pulse.beat(&shared.heartbeats, now);
                    continue;
                }
                let now = Instant::now();
                tun_last_read = now;
                let mut reader = reader.lock().unwrap_or_else(PoisonError::into_inner);
                let result = reader.forward_queued(now, &shared, &tun, &mut tun_out, &mut net);
                // Everything read since the last count, by either thread; a
                // failed read counts as none, so errors end bulk mode.
                let total = reader.packets_read;
                scheduler.after_batch(now, total.wrapping_sub(counted) as usize);
                counted = total;
                pulse.beat(&shared.heartbeats, now);
                drop(reader);
                let read = match result {
                    Ok(read) => read,
                    Err(e) => {
                        tracing::warn!(error = %e, "TUN read failed");
                        std::thread::sleep(ERROR_BACKOFF);
                        continue;
                    }
                };
                owner.set_tun_busy(tun_load.record(now, read));
                if owner.is_solo() && (solo_load.record(now, read) || read >= READ_BATCH) {
                    solo_load.quiet();
                    owner.hand_to_udp_rx();
                }
            }
        })
}

/// tun-rx, solo: one batch from the socket (without waiting; the poll said
/// it is readable), then hands the socket to udp-rx if traffic is busy.
fn receive_solo(
    shared: &Shared,
    udp: &TunnelSocket,
    reader: &Mutex<TunReader>,
    udp_reader: &Mutex<UdpReader>,
    load: &mut LoadWindow,
) {
    // Never contended while solo: udp-rx is parked.
    let mut udp_reader = match udp_reader.try_lock() {
        Ok(guard) => guard,
        Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
        Err(TryLockError::WouldBlock) => return,
    };
    match udp_reader.receive(shared, udp, reader, Wait::No) {
        Ok(got) => {
            let full = got.messages >= udp_reader.capacity();
            // Datagrams in, and the replies forwarded inline: both ways.
            if load.record(got.now, got.datagrams + got.tun_inline) || full {
                drop(udp_reader);
                load.quiet();
                shared.socket_owner.hand_to_udp_rx();
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, "UDP receive failed");
            std::thread::sleep(ERROR_BACKOFF);
        }
    }
}

/// The UDP receive side: buffers, the inbound worker, the TUN writer and the
/// hand-over to the handshake thread. Used by whichever thread owns the
/// socket (super::solo), one batch at a time.
pub struct UdpReader {
    tun: Arc<Tun>,
    worker: InboundWorker,
    batch: RecvBatch,
    tun_out: TunOut,
    handshakes: HandshakeQueue,
    queue_drops: TunnelDropCounts,
    inline_replies: bool,
}

/// What one [`UdpReader::receive`] did.
struct Received {
    /// When the batch was read (0 datagrams: when the wait ended).
    now: Instant,
    /// Datagrams handled (GRO messages split).
    datagrams: usize,
    /// Messages the read took (its capacity: the socket had more).
    messages: usize,
    /// Packets then read from the TUN and forwarded inline (replies).
    tun_inline: usize,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Wait {
    /// Block up to the socket's receive timeout for the first datagram.
    UpToTimeout,
    No,
}

impl UdpReader {
    pub fn new(shared: &Shared, tun: Arc<Tun>, handshakes: HandshakeQueue) -> Self {
        UdpReader {
            worker: InboundWorker::new(BATCH, shared.tunnels.datagram_capacity()),
            batch: RecvBatch::new(BATCH, MAX_DATAGRAM),
            tun_out: TunOut {
                tun: tun.clone(),
                gro: GROTable::default(),
            },
            tun,
            handshakes,
            queue_drops: TunnelDropCounts::default(),
            inline_replies: std::env::var(INLINE_REPLIES_ENV).map_or(true, |v| v != "off"),
        }
    }

    fn capacity(&self) -> usize {
        self.batch.capacity()
    }

    /// Reads one batch from the socket and handles it: data to the TUN,
    /// handshake messages to their thread; then the replies its TUN writes
    /// caused, if the TUN reader is free (see the module comment).
    fn receive(
        &mut self,
        shared: &Shared,
        udp: &TunnelSocket,
        reader: &Mutex<TunReader>,
        wait: Wait,
    ) -> std::io::Result<Received> {
        let n = match wait {
            Wait::UpToTimeout => udp.recv_batch(&mut self.batch)?,
            Wait::No => udp.try_recv_batch(&mut self.batch)?,
        };
        let now = Instant::now();
        if n == 0 {
            return Ok(Received {
                now,
                datagrams: 0,
                messages: 0,
                tun_inline: 0,
            });
        }
        let mut net = UdpOut(udp);
        let (batch, handshakes, queue_drops) =
            (&self.batch, &mut self.handshakes, &mut self.queue_drops);
        // Handshake messages go to their own thread.
        let datagrams = (0..n)
            .filter_map(|i| batch.get(i))
            .filter(|&(from, d)| !handshakes.offer(from, d, queue_drops));
        datapath::inbound_batch(
            shared,
            &mut self.worker,
            now,
            datagrams,
            &mut self.tun_out,
            &mut net,
        );
        self.handshakes.hand_over(&mut self.queue_drops);
        datapath::flush_tunnel_drops(shared, &mut self.queue_drops);
        let mut tun_inline = 0;
        if self.inline_replies {
            if let Ok(mut reader) = reader.try_lock() {
                tun_inline = reader
                    .forward_queued(now, shared, &self.tun, &mut self.tun_out, &mut net)
                    .unwrap_or(0);
            }
        }
        Ok(Received {
            now,
            datagrams: n,
            messages: self.batch.messages_read(),
            tun_inline,
        })
    }
}

pub fn spawn_inbound(
    shared: Arc<Shared>,
    udp: Arc<TunnelSocket>,
    reader: Arc<Mutex<TunReader>>,
    udp_reader: Arc<Mutex<UdpReader>>,
    stop: Arc<AtomicBool>,
) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("udp-rx".into())
        .spawn(move || {
            let owner = &shared.socket_owner;
            let mut moderation = RxModeration::new(shared.rx_moderation.nap());
            let mut nap = None;
            // Since when this thread has owned the socket, then its last batch.
            let mut last_batch: Option<Instant> = None;
            let mut pulse = shared.heartbeats.pulse(Loop::UdpRx, Instant::now());
            while !stop.load(Ordering::Relaxed) {
                if owner.is_solo() {
                    // tun-rx reads the socket (super::solo).
                    last_batch = None;
                    owner.wait_for_socket(PARKED_POLL);
                    pulse.beat(&shared.heartbeats, Instant::now());
                    continue;
                }
                let previous = *last_batch.get_or_insert_with(Instant::now);
                if let Some(nap) = nap.take() {
                    shared.rx_moderation.count_nap();
                    std::thread::sleep(nap);
                }
                let mut udp_reader = udp_reader.lock().unwrap_or_else(PoisonError::into_inner);
                match udp_reader.receive(&shared, &udp, &reader, Wait::UpToTimeout) {
                    Ok(got) => {
                        pulse.beat(&shared.heartbeats, got.now);
                        // Nothing within the socket's timeout, or a batch after
                        // a pause, and the TUN not busy: traffic is light again.
                        let quiet = got.datagrams == 0
                            || got.now.saturating_duration_since(previous) >= QUIET_GAP;
                        if quiet && owner.enabled() && !owner.tun_busy() {
                            drop(udp_reader);
                            last_batch = None;
                            owner.hand_to_tun_rx();
                            continue;
                        }
                        nap = moderation.after_batch(got.now, got.messages, udp_reader.capacity());
                        last_batch = Some(got.now);
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "UDP receive failed");
                        drop(udp_reader);
                        std::thread::sleep(ERROR_BACKOFF);
                    }
                }
            }
        })
}

/// The handshake thread (see [`super::handshakes`]): the inbound path for
/// handshake messages, at a lower CPU priority than the data path.
pub fn spawn_handshakes(
    shared: Arc<Shared>,
    tun: Arc<Tun>,
    udp: Arc<TunnelSocket>,
    stop: Arc<AtomicBool>,
    inbox: HandshakeInbox,
) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("handshakes".into())
        .spawn(move || {
            if let Err(e) = lower_thread_priority(HANDSHAKE_THREAD_NICE) {
                tracing::warn!(error = %e, "handshake thread keeps the data path's CPU priority");
            }
            let mut worker = InboundWorker::new(BATCH, shared.tunnels.datagram_capacity());
            let mut batch = Vec::with_capacity(BATCH);
            // Handshake messages never reach the TUN; inbound_batch wants one.
            let mut tun_out = TunOut {
                tun: tun.clone(),
                gro: GROTable::default(),
            };
            let mut net = UdpOut(&udp);
            let mut pulse = shared.heartbeats.pulse(Loop::Handshakes, Instant::now());
            while !stop.load(Ordering::Relaxed) {
                pulse.beat(&shared.heartbeats, Instant::now());
                match inbox.recv_batch(&mut batch, BATCH, HANDSHAKE_POLL) {
                    Inbox::Messages => datapath::inbound_batch(
                        &shared,
                        &mut worker,
                        Instant::now(),
                        batch.iter().map(|m| m.datagram()),
                        &mut tun_out,
                        &mut net,
                    ),
                    Inbox::Idle => {}
                    Inbox::Closed => break,
                }
            }
        })
}

pub fn spawn_timers(
    shared: Arc<Shared>,
    daemon: Arc<Daemon>,
    udp: Arc<TunnelSocket>,
    stop: Arc<AtomicBool>,
) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("timers".into())
        .spawn(move || {
            let mut worker = TimerWorker::new(shared.tunnels.datagram_capacity(), Instant::now());
            let mut net = UdpOut(&udp);
            let mut pulse = shared.heartbeats.pulse(Loop::Timers, Instant::now());
            while !stop.load(Ordering::Relaxed) {
                let now = Instant::now();
                pulse.beat(&shared.heartbeats, now);
                datapath::timers_tick(
                    &shared,
                    &mut worker,
                    now,
                    || daemon.probe_interval(),
                    &mut net,
                );
                std::thread::sleep(TIMER_TICK);
            }
        })
}
