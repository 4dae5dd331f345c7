//! Starts the operator endpoints: the admin socket (gwctl) and Prometheus.

use super::status::Daemon;
use crate::config::Config;
use crate::status::StatusSource;
use std::sync::Arc;

pub fn start(daemon: Arc<Daemon>, config: &Config) {
    let source: Arc<dyn StatusSource> = daemon;
    if let Err(e) = crate::admin::serve_admin(&config.admin_socket, source.clone()) {
        tracing::error!(path = %config.admin_socket.display(), error = %e, "admin socket unavailable: gwctl cannot reach this gateway");
    }
    if let Some(path) = &config.uapi_socket {
        match crate::uapi::serve_uapi(path, source.clone()) {
            Ok(_) => {
                tracing::info!(path = %path.display(), "WireGuard UAPI (read-only): `wg show` works")
            }
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "WireGuard UAPI socket unavailable (`wg show` will not see this gateway)")
            }
        }
    }
    if let Some(addr) = config.metrics_address {
        if let Err(e) = crate::metrics::serve_metrics(addr, source) {
            tracing::error!(%addr, error = %e, "metrics endpoint unavailable");
        }
    }
}
