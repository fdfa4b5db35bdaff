//! Prometheus metrics: request counts and latency histograms per route and status.

use std::{
    collections::HashMap,
    sync::{
        Arc, RwLock,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
    time::Duration,
};

use axum::{
    extract::State,
    http::{Method, header},
    response::IntoResponse,
};
use prometheus_client::{
    collector::Collector,
    encoding::{DescriptorEncoder, EncodeLabelSet, NoLabelSet, text::encode},
    metrics::{MetricType, gauge::Gauge},
    registry::Registry,
};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    route: String,
    status: u16,
}

/// Upper bounds of the latency buckets, in seconds (`+Inf` is implied).
const BUCKETS: [f64; 13] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

/// Per-thread parts of a series: threads add to their own shard, so two workers never contend
/// for one cache line (prometheus-client's histogram takes a lock per observation, and every
/// counter and lock word was shared: ≈0.1× of the p50 ratio in BENCHMARKS.md, issue 12).
const SHARDS: usize = 8;

/// One shard: per-bucket counts (the last is `+Inf`) and the latency sum in nanoseconds, on
/// its own cache lines.
#[derive(Debug, Default)]
#[repr(align(128))]
struct Shard {
    buckets: [AtomicU64; BUCKETS.len() + 1],
    sum_nanos: AtomicU64,
}

/// The requests of one (route, method, status): their count and latency histogram.
#[derive(Debug)]
struct Series {
    labels: RequestLabels,
    shards: [Shard; SHARDS],
}

impl Series {
    fn observe(&self, latency: Duration) {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        thread_local! {
            static SHARD: usize = NEXT.fetch_add(1, Ordering::Relaxed) % SHARDS;
        }
        let shard = &self.shards[SHARD.try_with(|s| *s).unwrap_or(0)];
        let seconds = latency.as_secs_f64();
        let bucket = BUCKETS
            .iter()
            .position(|le| seconds <= *le)
            .unwrap_or(BUCKETS.len());
        shard.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        let nanos = u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX);
        shard.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
    }

    /// Count, sum in seconds, and per-bucket counts (not cumulative: the encoder sums them).
    fn read(&self) -> (u64, f64, Vec<(f64, u64)>) {
        let mut buckets: Vec<(f64, u64)> = BUCKETS
            .iter()
            .copied()
            .chain(std::iter::once(f64::MAX))
            .map(|le| (le, 0))
            .collect();
        let mut nanos = 0u64;
        for shard in &self.shards {
            for (b, n) in buckets.iter_mut().zip(&shard.buckets) {
                b.1 += n.load(Ordering::Relaxed);
            }
            nanos = nanos.wrapping_add(shard.sum_nanos.load(Ordering::Relaxed));
        }
        let count = buckets.iter().map(|b| b.1).sum();
        (count, nanos as f64 / 1e9, buckets)
    }
}

/// Every series seen so far, by route, then (method, status). Workers look series up in a
/// per-thread cache first (`SEEN`), so the shared map is read once per series and thread.
#[derive(Debug, Default)]
struct RequestSeries {
    /// Tells one registry's series from another's in the per-thread cache (tests run several).
    instance: u64,
    by_route: RwLock<HashMap<String, SeriesList>>,
}

/// The series of one route, by method and status.
type SeriesList = Vec<(Method, u16, Arc<Series>)>;

type SeenSeries = HashMap<u64, HashMap<String, SeriesList>>;

thread_local! {
    static SEEN: std::cell::RefCell<SeenSeries> = std::cell::RefCell::default();
}

impl RequestSeries {
    fn series(&self, method: &Method, route: &str, status: u16) -> Arc<Series> {
        let find = |list: &[(Method, u16, Arc<Series>)]| {
            list.iter()
                .find(|(m, s, _)| *s == status && m == method)
                .map(|(_, _, series)| series.clone())
        };
        let cached = SEEN
            .try_with(|seen| {
                let seen = seen.try_borrow().ok()?;
                seen.get(&self.instance)?.get(route).and_then(|l| find(l))
            })
            .ok()
            .flatten();
        if let Some(series) = cached {
            return series;
        }
        let series = {
            let shared = self.by_route.read().unwrap_or_else(|e| e.into_inner());
            shared.get(route).and_then(|l| find(l))
        };
        let series = series.unwrap_or_else(|| {
            let mut shared = self.by_route.write().unwrap_or_else(|e| e.into_inner());
            let list = shared.entry(route.to_string()).or_default();
            find(list).unwrap_or_else(|| {
                let series = Arc::new(Series {
                    labels: RequestLabels {
                        route: route.to_string(),
                        method: method.as_str().to_string(),
                        status,
                    },
                    shards: Default::default(),
                });
                list.push((method.clone(), status, series.clone()));
                series
            })
        });
        let _ = SEEN.try_with(|seen| {
            if let Ok(mut seen) = seen.try_borrow_mut() {
                seen.entry(self.instance)
                    .or_default()
                    .entry(route.to_string())
                    .or_default()
                    .push((method.clone(), status, series.clone()));
            }
        });
        series
    }

    fn sorted(&self) -> Vec<Arc<Series>> {
        let shared = self.by_route.read().unwrap_or_else(|e| e.into_inner());
        let mut all: Vec<_> = shared
            .values()
            .flat_map(|l| l.iter().map(|(_, _, s)| s.clone()))
            .collect();
        all.sort_by(|a, b| {
            (&a.labels.route, &a.labels.method, a.labels.status).cmp(&(
                &b.labels.route,
                &b.labels.method,
                b.labels.status,
            ))
        });
        all
    }
}

impl Collector for RequestSeries {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let all = self.sorted();
        let read: Vec<_> = all.iter().map(|s| (&s.labels, s.read())).collect();
        {
            let mut requests = encoder.encode_descriptor(
                "http_requests",
                "HTTP requests by route and status.",
                None,
                MetricType::Counter,
            )?;
            for (labels, (count, _, _)) in &read {
                requests
                    .encode_family(*labels)?
                    .encode_counter::<NoLabelSet, _, u64>(count, None)?;
            }
        }
        let mut latency = encoder.encode_descriptor(
            "http_request_duration_seconds",
            "HTTP request latency by route and status.",
            None,
            MetricType::Histogram,
        )?;
        for (labels, (count, sum, buckets)) in &read {
            latency
                .encode_family(*labels)?
                .encode_histogram::<NoLabelSet>(*sum, *count, buckets, None)?;
        }
        Ok(())
    }
}

/// The process's metrics.
pub struct Metrics {
    registry: Registry,
    requests: Arc<RequestSeries>,
    /// Undelivered outbox events (sampled by `/metrics`).
    pub outbox_pending: Gauge,
    /// 1 while this replica holds the singleton lease.
    pub leader: Gauge,
}

impl Metrics {
    /// A registry with the HTTP metrics.
    pub fn new() -> Arc<Self> {
        static INSTANCES: AtomicU64 = AtomicU64::new(0);
        let mut registry = Registry::with_prefix("netorch");
        let outbox_pending = Gauge::default();
        let leader = Gauge::default();
        registry.register(
            "leader",
            "1 while this replica holds the singleton lease (runs the periodic work)",
            leader.clone(),
        );
        registry.register(
            "outbox_pending_events",
            "Events not yet delivered",
            outbox_pending.clone(),
        );
        let requests = Arc::new(RequestSeries {
            instance: INSTANCES.fetch_add(1, Ordering::Relaxed),
            by_route: RwLock::default(),
        });
        registry.register_collector(Box::new(requests.clone()));
        Arc::new(Self {
            registry,
            requests,
            outbox_pending,
            leader,
        })
    }

    /// Counts one request and its latency. Routes are labelled by their pattern (`/users/{id}`), so
    /// label cardinality stays bounded; unmatched paths share one label.
    pub fn observe(&self, method: &Method, route: &str, status: u16, latency: Duration) {
        self.requests.series(method, route, status).observe(latency);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn line<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
        text.lines().find(|l| l.starts_with(prefix))
    }

    #[test]
    fn observations_from_many_threads_are_all_counted_in_their_series() {
        let metrics = Metrics::new();
        std::thread::scope(|s| {
            for t in 0..12u64 {
                let m = &metrics;
                s.spawn(move || {
                    for i in 0..1000u64 {
                        let status = if i % 10 == 0 { 404 } else { 200 };
                        m.observe(
                            &Method::GET,
                            "/a/{id}",
                            status,
                            Duration::from_micros(100 + t),
                        );
                    }
                });
            }
        });
        metrics.observe(&Method::POST, "/a/{id}", 201, Duration::from_secs(7));
        let text = metrics.render();
        let at = |p: &str| line(&text, p).map(str::to_string);
        assert_eq!(
            at(r#"netorch_http_requests_total{method="GET",route="/a/{id}",status="200"}"#)
                .as_deref(),
            Some(r#"netorch_http_requests_total{method="GET",route="/a/{id}",status="200"} 10800"#)
        );
        assert_eq!(
            at(r#"netorch_http_requests_total{method="GET",route="/a/{id}",status="404"}"#)
                .as_deref(),
            Some(r#"netorch_http_requests_total{method="GET",route="/a/{id}",status="404"} 1200"#)
        );
        // 7 s is above every bound but +Inf; 100 µs is in the first bucket.
        assert_eq!(
            at(r#"netorch_http_request_duration_seconds_bucket{le="5.0",method="POST""#).as_deref(),
            Some(
                r#"netorch_http_request_duration_seconds_bucket{le="5.0",method="POST",route="/a/{id}",status="201"} 0"#
            )
        );
        assert_eq!(
            at(r#"netorch_http_request_duration_seconds_bucket{le="+Inf",method="POST""#)
                .as_deref(),
            Some(
                r#"netorch_http_request_duration_seconds_bucket{le="+Inf",method="POST",route="/a/{id}",status="201"} 1"#
            )
        );
        assert_eq!(
            at(r#"netorch_http_request_duration_seconds_bucket{le="0.0005",method="GET",route="/a/{id}",status="404"}"#).as_deref(),
            Some(r#"netorch_http_request_duration_seconds_bucket{le="0.0005",method="GET",route="/a/{id}",status="404"} 1200"#)
        );
        assert_eq!(
            at(r#"netorch_http_request_duration_seconds_sum{method="POST""#).as_deref(),
            Some(
                r#"netorch_http_request_duration_seconds_sum{method="POST",route="/a/{id}",status="201"} 7.0"#
            )
        );
    }

    #[test]
    fn two_registries_in_one_process_keep_their_own_counts() {
        let (a, b) = (Metrics::new(), Metrics::new());
        a.observe(&Method::GET, "/x", 200, Duration::from_millis(1));
        a.observe(&Method::GET, "/x", 200, Duration::from_millis(1));
        b.observe(&Method::GET, "/x", 200, Duration::from_millis(1));
        let count = |m: &Metrics| {
            line(
                &m.render(),
                r#"netorch_http_requests_total{method="GET",route="/x",status="200"}"#,
            )
            .map(str::to_string)
        };
        assert_eq!(
            count(&a).as_deref(),
            Some(r#"netorch_http_requests_total{method="GET",route="/x",status="200"} 2"#)
        );
        assert_eq!(
            count(&b).as_deref(),
            Some(r#"netorch_http_requests_total{method="GET",route="/x",status="200"} 1"#)
        );
    }
}
