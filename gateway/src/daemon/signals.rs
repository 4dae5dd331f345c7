//! Signals become events on a channel: SIGTERM/SIGINT stop the gateway
//! gracefully (saving NAT flows), SIGHUP reloads the config.

use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;
use std::io;
use std::sync::mpsc::Sender;

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
