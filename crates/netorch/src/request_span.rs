//! The `request` span, created only when something inside the request needs it.
//!
//! Every log line a request causes carries `request{request_id=… method=… path=…}`. Most requests
//! log nothing at the configured level, yet an eagerly created span costs each of them a registry
//! slot, its field formatting into a `String`, and an enter/exit pair per poll: under load that
//! was the largest single item between an authenticated OSM GET and a bare handler (about 0.2× of
//! the p50 ratio, BENCHMARKS.md, issue 12).
//!
//! So the observe layer only *announces* a request: while its future is polled, the request's
//! fields sit in a thread-local ([`Scope`]). [`LazyRequestSpans`], the outermost subscriber,
//! turns them into the real span — the same callsite, fields, level and target as the eager span
//! — at the first moment anything could see it: an event, a span created inside the request,
//! `Span::current()`, or a filter check (so span-scoped `RUST_LOG` directives still match). From
//! then on the span is entered and exited with each poll and closed with the request, exactly as
//! before; the log output does not change.

use std::cell::RefCell;

use http::{HeaderValue, Method, Uri};
use tracing_core::{
    Event, Interest, Kind, Level, LevelFilter, Metadata, Subscriber,
    callsite::DefaultCallsite,
    field::{FieldSet, Value, display},
    span::{Attributes, Current, Id, Record},
};

static CALLSITE: DefaultCallsite = DefaultCallsite::new(&META);

/// The `request` span's metadata: the target and fields of the eager `info_span!` it replaces.
static META: Metadata<'static> = Metadata::new(
    "request",
    "netorch::observe",
    Level::INFO,
    Some(file!()),
    Some(line!()),
    Some("netorch::observe"),
    FieldSet::new(
        &["request_id", "method", "path"],
        tracing_core::identify_callsite!(&CALLSITE),
    ),
    Kind::SPAN,
);

/// A request's span-to-be: its fields, and its span once something needed it.
pub struct RequestSpan {
    id: HeaderValue,
    method: Method,
    uri: Uri,
    span: Option<Id>,
}

impl RequestSpan {
    /// The span of a request with this id, method and URI (only the path is recorded).
    pub fn new(id: HeaderValue, method: Method, uri: Uri) -> Self {
        Self {
            id,
            method,
            uri,
            span: None,
        }
    }

    /// Whether the span was created (something in the request logged or looked at it).
    pub fn is_created(&self) -> bool {
        self.span.is_some()
    }
}

impl Drop for RequestSpan {
    fn drop(&mut self) {
        if let Some(id) = self.span.take() {
            tracing_core::dispatcher::get_default(|d| {
                d.try_close(id.clone());
            });
        }
    }
}

thread_local! {
    /// The request being polled on this thread, if any.
    static CURRENT: RefCell<Option<RequestSpan>> = const { RefCell::new(None) };
}

/// The request `slot` is current on this thread until the scope is dropped (its span, once
/// created, is entered for that time). Scopes nest: the previous request is restored on drop,
/// also when the poll panics.
pub struct Scope<'a> {
    slot: &'a mut Option<RequestSpan>,
    /// The request that was current before, when this scope took the thread-local.
    previous: Option<Option<RequestSpan>>,
}

impl<'a> Scope<'a> {
    /// Makes the request in `slot` current (an empty slot makes none current).
    pub fn enter(slot: &'a mut Option<RequestSpan>) -> Self {
        let span = slot.as_ref().and_then(|r| r.span.clone());
        let previous = CURRENT
            .try_with(|c| {
                let mut current = c.try_borrow_mut().ok()?;
                Some(std::mem::replace(&mut *current, slot.take()))
            })
            .ok()
            .flatten();
        if let (Some(_), Some(id)) = (&previous, span) {
            tracing_core::dispatcher::get_default(|d| d.enter(&id));
        }
        Self { slot, previous }
    }
}

impl Drop for Scope<'_> {
    fn drop(&mut self) {
        // Without the thread-local (torn down, or busy), the request stayed in its slot.
        let Some(previous) = self.previous.take() else {
            return;
        };
        let mine = CURRENT
            .try_with(|c| {
                let mut current = c.try_borrow_mut().ok()?;
                Some(std::mem::replace(&mut *current, previous))
            })
            .ok()
            .flatten()
            .flatten();
        if let Some(id) = mine.as_ref().and_then(|r| r.span.as_ref()) {
            tracing_core::dispatcher::get_default(|d| d.exit(id));
        }
        *self.slot = mine;
    }
}

/// The outermost subscriber: delegates everything to `inner`, creating the current request's
/// span first whenever something inside the request could observe it.
pub struct LazyRequestSpans<S> {
    inner: S,
}

impl<S: Subscriber> LazyRequestSpans<S> {
    /// Wraps `inner`.
    pub fn new(inner: S) -> Self {
        Self { inner }
    }

    /// Creates and enters the current request's span, once.
    fn materialize(&self) {
        let _ = CURRENT.try_with(|c| {
            // Busy only if `inner` called back into us while we create the span: nothing to do.
            let Ok(mut current) = c.try_borrow_mut() else {
                return;
            };
            let Some(req) = current.as_mut() else {
                return;
            };
            if req.span.is_some() {
                return;
            }
            let interest = CALLSITE.interest();
            if interest.is_never() || (!interest.is_always() && !self.inner.enabled(&META)) {
                return;
            }
            let fields = META.fields();
            let mut names = fields.iter();
            let (Some(f_id), Some(f_method), Some(f_path)) =
                (names.next(), names.next(), names.next())
            else {
                return;
            };
            let id = display(req.id.to_str().unwrap_or("-"));
            let method = display(&req.method);
            let path = display(req.uri.path());
            let values = [
                (&f_id, Some(&id as &dyn Value)),
                (&f_method, Some(&method as &dyn Value)),
                (&f_path, Some(&path as &dyn Value)),
            ];
            let values = fields.value_set(&values);
            let span = self.inner.new_span(&Attributes::new(&META, &values));
            self.inner.enter(&span);
            req.span = Some(span);
        });
    }
}

/// Registers the `request` callsite with the installed dispatchers (filters decide its interest
/// then, as for a macro callsite on first use).
pub fn register_callsite() {
    CALLSITE.register();
}

impl<S: Subscriber> Subscriber for LazyRequestSpans<S> {
    fn on_register_dispatch(&self, subscriber: &tracing_core::Dispatch) {
        self.inner.on_register_dispatch(subscriber);
    }

    fn register_callsite(&self, metadata: &'static Metadata<'static>) -> Interest {
        self.inner.register_callsite(metadata)
    }

    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        // Only reached for callsites whose interest depends on the context (span-scoped
        // directives): the context must then include the request span.
        self.materialize();
        self.inner.enabled(metadata)
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        self.inner.max_level_hint()
    }

    fn new_span(&self, span: &Attributes<'_>) -> Id {
        if span.is_contextual() {
            self.materialize();
        }
        self.inner.new_span(span)
    }

    fn record(&self, span: &Id, values: &Record<'_>) {
        self.inner.record(span, values);
    }

    fn record_follows_from(&self, span: &Id, follows: &Id) {
        self.inner.record_follows_from(span, follows);
    }

    fn event_enabled(&self, event: &Event<'_>) -> bool {
        self.inner.event_enabled(event)
    }

    fn event(&self, event: &Event<'_>) {
        if event.is_contextual() {
            self.materialize();
        }
        self.inner.event(event);
    }

    fn enter(&self, span: &Id) {
        self.inner.enter(span);
    }

    fn exit(&self, span: &Id) {
        self.inner.exit(span);
    }

    fn clone_span(&self, id: &Id) -> Id {
        self.inner.clone_span(id)
    }

    fn try_close(&self, id: Id) -> bool {
        self.inner.try_close(id)
    }

    fn current_span(&self) -> Current {
        self.materialize();
        self.inner.current_span()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Buffer {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0
                .lock()
                .map_err(|_| std::io::ErrorKind::Other)?
                .extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Buffer {
        fn lines(&self) -> Vec<String> {
            let bytes = self.0.lock().map(|b| b.clone()).unwrap_or_default();
            String::from_utf8_lossy(&bytes)
                .lines()
                .map(str::to_string)
                .collect()
        }
    }

    /// Runs `f` with the server's subscriber (text, `level`, lazily created request spans).
    fn logged(level: &str, f: impl FnOnce()) -> Vec<String> {
        let out = Buffer::default();
        let writer = out.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(level))
            .with_target(false)
            .with_ansi(false)
            .without_time()
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::with_default(LazyRequestSpans::new(subscriber), || {
            register_callsite();
            f();
        });
        out.lines()
    }

    fn request(n: u32, path: &str) -> Option<RequestSpan> {
        let id = HeaderValue::from_str(&format!("abc-{n}")).ok()?;
        let uri: Uri = format!("{path}?q=1").parse().ok()?;
        Some(RequestSpan::new(id, Method::GET, uri))
    }

    #[test]
    fn a_request_that_logs_gets_its_span_on_every_line_and_a_quiet_one_gets_none() {
        let mut created = Vec::new();
        let lines = logged("info", || {
            let mut loud = request(1, "/osm/admin/v1/users");
            {
                let _scope = Scope::enter(&mut loud);
                tracing::info!(user = "admin", "first");
            }
            {
                // A later poll of the same request: the span is entered again.
                let _scope = Scope::enter(&mut loud);
                tracing::warn!("second");
            }
            let mut quiet = request(2, "/healthz");
            {
                let _scope = Scope::enter(&mut quiet);
                tracing::debug!("below the level: no span for this");
            }
            tracing::info!("outside any request");
            created = [&loud, &quiet]
                .iter()
                .map(|r| r.as_ref().is_some_and(RequestSpan::is_created))
                .collect();
        });
        assert_eq!(created, [true, false]);
        assert_eq!(
            lines,
            [
                " INFO request{request_id=abc-1 method=GET path=/osm/admin/v1/users}: first user=\"admin\"",
                " WARN request{request_id=abc-1 method=GET path=/osm/admin/v1/users}: second",
                " INFO outside any request",
            ]
        );
    }

    #[test]
    fn spans_opened_inside_a_request_are_its_children_and_scopes_nest() {
        let lines = logged("info", || {
            let mut outer = request(1, "/a");
            let _outer = Scope::enter(&mut outer);
            {
                let child = tracing::info_span!("job", n = 7);
                let _child = child.enter();
                tracing::info!("in the child");
            }
            {
                let mut inner = request(2, "/b");
                let _inner = Scope::enter(&mut inner);
                tracing::info!("in the inner request");
            }
            tracing::info!("back in the outer request");
        });
        assert_eq!(
            lines,
            [
                " INFO request{request_id=abc-1 method=GET path=/a}:job{n=7}: in the child",
                " INFO request{request_id=abc-1 method=GET path=/a}:request{request_id=abc-2 method=GET path=/b}: in the inner request",
                " INFO request{request_id=abc-1 method=GET path=/a}: back in the outer request",
            ]
        );
    }

    #[test]
    fn span_scoped_filter_directives_still_see_the_request() {
        let lines = logged("warn,[request{method=GET}]=debug", || {
            let mut get = request(1, "/a");
            {
                let _scope = Scope::enter(&mut get);
                tracing::debug!("shown: a GET request");
            }
            let mut post = request(2, "/a");
            if let Some(p) = post.as_mut() {
                p.method = Method::POST;
            }
            let _scope = Scope::enter(&mut post);
            tracing::debug!("not shown: a POST request");
        });
        assert_eq!(
            lines,
            ["DEBUG request{request_id=abc-1 method=GET path=/a}: shown: a GET request"]
        );
    }
}
