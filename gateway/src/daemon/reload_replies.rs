//! Answers for `gwctl reload`: the admin thread waits for the main loop's
//! verdict instead of reporting "requested" for a reload that may yet be
//! rejected (an invalid file, a restart-only change).
//!
//! Reloads run on the main loop, which owns the installed routes. The admin
//! thread registers a waiter, sends a `Reload` event and blocks on its
//! waiter. The main loop takes every waiter registered so far *before* it
//! reads the file, so each waiter hears about a reload that read the file
//! after its request: a request that arrives while another reload runs waits
//! for the next one (the event it sent), never for the one already under way.

use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

/// How long `gwctl reload` waits for the main loop. A reload resolves peer
/// host names and changes routes, which normally takes milliseconds; a
/// resolver that hangs is bounded by the system's own timeouts (5 s × 2
/// attempts by default in resolv.conf(5)), so 20 s covers the worst case and
/// stays under the client's [`crate::admin::client::RELOAD_TIMEOUT`].
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(20);

type Verdict = Result<String, String>;

const STOPPING: &str = "the gateway is stopping; nothing was reloaded";

/// Waiters for the next reload's verdict.
#[derive(Default)]
pub struct ReloadReplies {
    waiting: Mutex<Waiting>,
}

#[derive(Default)]
struct Waiting {
    senders: Vec<SyncSender<Verdict>>,
    /// Set when the gateway stops: later requests are answered at once.
    closed: bool,
}

/// One admin request's wait for its reload.
pub struct Waiter(Receiver<Verdict>);

impl ReloadReplies {
    /// Registers a waiter; call before sending the `Reload` event.
    pub fn register(&self) -> Waiter {
        let (tx, rx) = sync_channel(1);
        let mut waiting = self.lock();
        if waiting.closed {
            let _ = tx.try_send(Err(STOPPING.into()));
        } else {
            waiting.senders.push(tx);
        }
        Waiter(rx)
    }

    /// The waiters a reload about to start answers (see the module comment).
    pub fn take(&self) -> Vec<SyncSender<Verdict>> {
        std::mem::take(&mut self.lock().senders)
    }

    /// The gateway is stopping: answers every waiter, and every later request
    /// at once, that nothing was reloaded.
    pub fn close(&self) {
        let waiters = {
            let mut waiting = self.lock();
            waiting.closed = true;
            std::mem::take(&mut waiting.senders)
        };
        answer(waiters, &Err(STOPPING.into()));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Waiting> {
        self.waiting.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Tells every taken waiter the verdict (a waiter that gave up is skipped).
pub fn answer(waiters: Vec<SyncSender<Verdict>>, verdict: &Verdict) {
    for waiter in waiters {
        let _ = waiter.try_send(verdict.clone());
    }
}

impl Waiter {
    /// The reload's verdict, or an error naming what happened instead.
    pub fn wait(self, timeout: Duration) -> Verdict {
        match self.0.recv_timeout(timeout) {
            Ok(verdict) => verdict,
            Err(RecvTimeoutError::Timeout) => Err(format!(
                "no verdict within {} s: the reload is still running or the main loop is stuck; \
                 see the gateway log and `gwctl peers` (reloads ok/rejected)",
                timeout.as_secs()
            )),
            Err(RecvTimeoutError::Disconnected) => {
                Err("the gateway stopped before the reload ran".into())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHORT: Duration = Duration::from_millis(50);

    #[test]
    fn a_waiter_hears_the_verdict_of_the_reload_that_took_it() {
        let replies = ReloadReplies::default();
        let waiter = replies.register();
        answer(replies.take(), &Err("cluster_id needs a restart".into()));
        assert_eq!(waiter.wait(SHORT), Err("cluster_id needs a restart".into()));
    }

    #[test]
    fn a_request_made_during_a_reload_waits_for_the_next_one() {
        let replies = ReloadReplies::default();
        let first = replies.register();
        let under_way = replies.take();
        let second = replies.register();
        answer(under_way, &Ok("old file".into()));
        assert_eq!(first.wait(SHORT), Ok("old file".into()));
        answer(replies.take(), &Ok("new file".into()));
        assert_eq!(second.wait(SHORT), Ok("new file".into()));
    }

    #[test]
    fn no_reload_means_a_timeout_not_a_success() {
        let replies = ReloadReplies::default();
        let verdict = replies.register().wait(SHORT);
        assert!(verdict.unwrap_err().contains("no verdict within"));
    }

    #[test]
    fn a_dropped_waiter_list_means_the_gateway_stopped() {
        let replies = ReloadReplies::default();
        let waiter = replies.register();
        drop(replies.take());
        assert!(waiter.wait(SHORT).unwrap_err().contains("stopped"));
    }

    #[test]
    fn requests_during_shutdown_are_answered_at_once() {
        let replies = ReloadReplies::default();
        let before = replies.register();
        replies.close();
        assert!(before.wait(SHORT).unwrap_err().contains("stopping"));
        let started = std::time::Instant::now();
        let after = replies.register().wait(Duration::from_secs(5));
        assert!(after.unwrap_err().contains("stopping"));
        assert!(started.elapsed() < Duration::from_secs(1));
    }

    #[test]
    fn a_waiter_that_gave_up_does_not_block_the_others() {
        let replies = ReloadReplies::default();
        drop(replies.register());
        let waiting = replies.register();
        answer(replies.take(), &Ok("done".into()));
        assert_eq!(waiting.wait(SHORT), Ok("done".into()));
    }
}
