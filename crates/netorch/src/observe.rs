//! One layer for what every request carries: its id (the caller's `X-Request-Id`, or one made
//! here, echoed on the response), the `request` span that puts the id into every log line the
//! request causes, and the Prometheus count and latency per route, method and status.
//!
//! This replaces four stacked layers (tower-http's set-id, trace and propagate-id layers and a
//! `from_fn` metrics middleware): under load each cost a boxed future or a header round trip per
//! request, and the metrics built two label `String`s and hashed them twice per request (see
//! BENCHMARKS.md, issue 12). Being the outermost layer, it also counts the 408s of the timeout
//! layer and the 500s of the panic layer, which the old metrics middleware never saw.

use std::{
    future::Future,
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    task::{Context, Poll},
    time::Instant,
};

use axum::extract::MatchedPath;
use http::{HeaderName, HeaderValue, Method, Request, Response};
use tower::{Layer, Service};

use crate::{
    metrics::Metrics,
    request_span::{RequestSpan, Scope},
};

/// The request-id header, read and written.
pub static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Makes request ids: a per-process random prefix and a counter (`3f9a1c2b7d4e5f60-1a`), unique
/// across replicas and restarts with overwhelming probability. A UUID v4 per request cost a
/// `getrandom` system call and a formatting pass on every request.
struct RequestIds {
    prefix: String,
    next: AtomicU64,
}

impl RequestIds {
    fn new() -> Self {
        use std::hash::{BuildHasher as _, Hasher as _};
        // std's hasher keys are random per process; the clock and pid separate processes that
        // might share them.
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or_default(),
        );
        h.write_u32(std::process::id());
        Self {
            prefix: format!("{:016x}-", h.finish()),
            next: AtomicU64::new(1),
        }
    }

    fn make(&self) -> HeaderValue {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let mut id = Vec::with_capacity(self.prefix.len() + 16);
        id.extend_from_slice(self.prefix.as_bytes());
        let digits = (64 - n.leading_zeros()).div_ceil(4).max(1);
        for i in (0..digits).rev() {
            id.push(HEX[((n >> (i * 4)) & 0xf) as usize]);
        }
        HeaderValue::from_maybe_shared(bytes::Bytes::from(id))
            .unwrap_or_else(|_| HeaderValue::from_static("-"))
    }
}

/// The layer; see the module documentation.
#[derive(Clone)]
pub struct ObserveLayer {
    metrics: Arc<Metrics>,
    ids: Arc<RequestIds>,
}

impl ObserveLayer {
    /// Records into `metrics`; ids get a fresh per-process prefix.
    pub fn new(metrics: Arc<Metrics>) -> Self {
        Self {
            metrics,
            ids: Arc::new(RequestIds::new()),
        }
    }
}

impl<S> Layer<S> for ObserveLayer {
    type Service = Observe<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Observe {
            inner,
            metrics: self.metrics.clone(),
            ids: self.ids.clone(),
        }
    }
}

/// The service of [`ObserveLayer`].
#[derive(Clone)]
pub struct Observe<S> {
    inner: S,
    metrics: Arc<Metrics>,
    ids: Arc<RequestIds>,
}

impl<S, ReqB, ResB> Service<Request<ReqB>> for Observe<S>
where
    S: Service<Request<ReqB>, Response = Response<ResB>>,
{
    type Response = Response<ResB>;
    type Error = S::Error;
    type Future = ObserveFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<ReqB>) -> Self::Future {
        let id = match req.headers().get(&REQUEST_ID) {
            Some(id) => id.clone(),
            None => {
                let id = self.ids.make();
                req.headers_mut().insert(REQUEST_ID.clone(), id.clone());
                id
            }
        };
        // The `request` span is created only if something in the request logs (request_span.rs).
        let mut request = Some(RequestSpan::new(
            id.clone(),
            req.method().clone(),
            req.uri().clone(),
        ));
        let route = req.extensions().get::<MatchedPath>().cloned();
        let method = req.method().clone();
        let inner = {
            let _scope = Scope::enter(&mut request);
            self.inner.call(req)
        };
        ObserveFuture {
            inner,
            request,
            id: Some(id),
            route,
            method,
            start: Instant::now(),
            metrics: self.metrics.clone(),
        }
    }
}

pin_project_lite::pin_project! {
    /// The response future of [`Observe`].
    pub struct ObserveFuture<F> {
        #[pin]
        inner: F,
        request: Option<RequestSpan>,
        id: Option<HeaderValue>,
        route: Option<MatchedPath>,
        method: Method,
        start: Instant,
        metrics: Arc<Metrics>,
    }
}

impl<F, ResB, E> Future for ObserveFuture<F>
where
    F: Future<Output = Result<Response<ResB>, E>>,
{
    type Output = Result<Response<ResB>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let _scope = Scope::enter(this.request);
        let mut resp = match this.inner.poll(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            Poll::Ready(Ok(resp)) => resp,
        };
        let latency = this.start.elapsed();
        let status = resp.status();
        let route = this.route.as_ref().map_or("unmatched", |r| r.as_str());
        this.metrics
            .observe(this.method, route, status.as_u16(), latency);
        if let Some(id) = this.id.take() {
            resp.headers_mut().entry(REQUEST_ID.clone()).or_insert(id);
        }
        if status.is_server_error() {
            tracing::error!(
                status = status.as_u16(),
                latency_us = latency.as_micros() as u64,
                "request failed"
            );
        } else {
            tracing::debug!(
                status = status.as_u16(),
                latency_us = latency.as_micros() as u64,
                "finished processing request"
            );
        }
        Poll::Ready(Ok(resp))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_the_prefix_and_a_lowercase_hex_counter() {
        let ids = RequestIds::new();
        ids.next.store(0x1a, Ordering::Relaxed);
        let a = ids.make();
        let b = ids.make();
        let a = a.to_str().unwrap_or_default();
        let b = b.to_str().unwrap_or_default();
        assert_eq!(a, format!("{}1a", ids.prefix));
        assert_eq!(b, format!("{}1b", ids.prefix));
        assert_eq!(ids.prefix.len(), 17);
    }
}
