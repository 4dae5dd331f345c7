//! Starts the operator endpoints: the admin socket (gwctl) and Prometheus.

use super::status::Daemon;
use crate::config::Config;
use std::sync::Arc;

pub fn start(daemon: Arc<Daemon>, config: &Config) {
    let _ = (daemon, config);
    tracing::warn!("admin socket and metrics endpoint are not built into this version yet");
}
