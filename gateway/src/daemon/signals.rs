//! Signals become events on a channel: SIGTERM/SIGINT stop the gateway
//! gracefully (saving NAT flows), SIGHUP reloads the config.

use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;
use std::io;
use std::sync::mpsc::{Receiver, Sender};

/// What a signal asks the daemon to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ControlEvent {
    Shutdown,
    Reload,
}

/// Starts the signal thread; events go to `events`.
pub fn spawn(events: Sender<ControlEvent>) -> io::Result<()> {
    let mut signals = Signals::new([SIGTERM, SIGINT, SIGHUP])?;
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            for signal in signals.forever() {
                let event = if signal == SIGHUP {
                    ControlEvent::Reload
                } else {
                    ControlEvent::Shutdown
                };
                if events.send(event).is_err() {
                    return;
                }
            }
        })?;
    Ok(())
}

/// Called when a `Reload` arrives: takes the events that queued up behind it.
/// Reloads among them are served by the reload about to run (it reads the
/// file as it is now, and answers every waiting `gwctl reload`); true if a
/// `Shutdown` was among them, which wins, so a flood of reload requests
/// cannot hold SIGTERM up past the pod's grace period (and lose the NAT
/// flows' save).
pub fn shutdown_queued(events: &Receiver<ControlEvent>) -> bool {
    let mut shutdown = false;
    while let Ok(event) = events.try_recv() {
        shutdown |= event == ControlEvent::Shutdown;
    }
    shutdown
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc::channel;

    #[test]
    fn queued_reloads_are_absorbed_by_the_one_about_to_run() {
        let (tx, rx) = channel();
        for _ in 0..20_000 {
            tx.send(ControlEvent::Reload).unwrap();
        }
        assert!(!shutdown_queued(&rx));
        assert!(rx.try_recv().is_err(), "nothing left to run");
    }

    #[test]
    fn a_shutdown_behind_a_flood_of_reloads_wins() {
        let (tx, rx) = channel();
        for _ in 0..1_000 {
            tx.send(ControlEvent::Reload).unwrap();
        }
        tx.send(ControlEvent::Shutdown).unwrap();
        tx.send(ControlEvent::Reload).unwrap();
        assert!(shutdown_queued(&rx));
    }
}
