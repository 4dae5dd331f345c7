//! Starts the operator endpoints: the admin socket (gwctl) and Prometheus.

use super::runtime::DaemonError;
use super::status::Daemon;
use crate::admin::BoundAdminSocket;
use crate::config::Config;
use crate::status::StatusSource;
use std::io::ErrorKind;
use std::sync::Arc;

/// Binds the admin socket, before the TUN device and routes exist. Another process answering
/// there is another gateway on this node (docs/admin-api.md): this one must not start, and
/// fails before it has touched anything. Any other trouble is logged and the gateway runs
/// without the admin API: forwarding matters more than gwctl.
pub fn bind_admin(config: &Config) -> Result<Option<BoundAdminSocket>, DaemonError> {
    match crate::admin::bind_admin(&config.admin_socket) {
        Ok(bound) => Ok(Some(bound)),
        Err(e) if e.kind() == ErrorKind::AddrInUse => Err(DaemonError::AdminSocketInUse(e)),
        Err(e) => {
            unavailable(config, &e);
            Ok(None)
        }
    }
}

fn unavailable(config: &Config, error: &std::io::Error) {
    tracing::error!(path = %config.admin_socket.display(), %error, "admin socket unavailable: gwctl cannot reach this gateway");
}

pub fn start(daemon: Arc<Daemon>, config: &Config, admin: Option<BoundAdminSocket>) {
    let source: Arc<dyn StatusSource> = daemon;
    if let Some(Err(e)) = admin.map(|bound| bound.serve(source.clone())) {
        unavailable(config, &e);
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
