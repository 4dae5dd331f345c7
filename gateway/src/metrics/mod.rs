//! Prometheus metrics and the kubelet's health endpoints, served from
//! [`StatusSource`](crate::status::StatusSource) snapshots. Metric names,
//! types and labels: docs/metrics.md.

pub mod encode;
pub mod http;
pub mod server;

pub use encode::{
    encode_openmetrics, encode_prometheus_text, OPENMETRICS_CONTENT_TYPE,
    PROMETHEUS_TEXT_CONTENT_TYPE,
};
pub use server::{serve_metrics, serve_metrics_on};
