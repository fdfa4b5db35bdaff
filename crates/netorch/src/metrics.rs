//! Prometheus metrics: request counts and latency histograms per route and status.

use std::{
    collections::HashMap,
    sync::{Arc, RwLock},
};

use axum::{
    extract::State,
    http::{Method, header},
    response::IntoResponse,
};
use prometheus_client::{
    encoding::{EncodeLabelSet, text::encode},
    metrics::{counter::Counter, family::Family, gauge::Gauge, histogram::Histogram},
    registry::Registry,
};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    route: String,
    status: u16,
}

struct Handles {
    method: Method,
    status: u16,
    requests: Counter,
    latency: Histogram,
}

/// The process's metrics.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RequestLabels, Histogram>,
    /// The two series of each (route, method, status) seen so far, looked up by route without
    /// building a label set: `Family::get_or_create` hashes the whole set under a lock per call.
    handles: RwLock<HashMap<String, Vec<Handles>>>,
    /// Undelivered outbox events (sampled by `/metrics`).
    pub outbox_pending: Gauge,
    /// 1 while this replica holds the singleton lease.
    pub leader: Gauge,
}

impl Metrics {
    /// A registry with the HTTP metrics.
    pub fn new() -> Arc<Self> {
        let mut registry = Registry::with_prefix("netorch");
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = Family::<RequestLabels, Histogram>::new_with_constructor(|| {
            Histogram::new([
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
            ])
        });
        let outbox_pending = Gauge::default();
        let leader = Gauge::default();
        registry.register(
            "leader",
            "1 while this replica holds the singleton lease (runs the periodic work)",
            leader.clone(),
        );
        registry.register(
            "http_requests",
            "HTTP requests by route and status",
            requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency by route and status",
            latency.clone(),
        );
        registry.register(
            "outbox_pending_events",
            "Events not yet delivered",
            outbox_pending.clone(),
        );
        Arc::new(Self {
            registry,
            requests,
            latency,
            handles: RwLock::default(),
            outbox_pending,
            leader,
        })
    }

    /// Counts one request and its latency. Routes are labelled by their pattern (`/users/{id}`), so
    /// label cardinality stays bounded; unmatched paths share one label.
    pub fn observe(&self, method: &Method, route: &str, status: u16, seconds: f64) {
        let found = |handles: &HashMap<String, Vec<Handles>>| {
            handles.get(route).and_then(|hs| {
                hs.iter()
                    .find(|h| h.status == status && h.method == method)
                    .map(|h| {
                        h.requests.inc();
                        h.latency.observe(seconds);
                    })
            })
        };
        if found(&self.handles.read().unwrap_or_else(|e| e.into_inner())).is_some() {
            return;
        }
        let mut handles = self.handles.write().unwrap_or_else(|e| e.into_inner());
        if found(&handles).is_some() {
            return;
        }
        let labels = RequestLabels {
            method: method.as_str().to_string(),
            route: route.to_string(),
            status,
        };
        let h = Handles {
            method: method.clone(),
            status,
            requests: self.requests.get_or_create(&labels).clone(),
            latency: self.latency.get_or_create(&labels).clone(),
        };
        h.requests.inc();
        h.latency.observe(seconds);
        handles.entry(route.to_string()).or_default().push(h);
    }

    /// Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}

/// `GET /metrics`.
pub async fn endpoint(State(m): State<Arc<Metrics>>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        m.render(),
    )
}
