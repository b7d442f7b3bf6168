//! The daemon's HTTP listener (`daemon --listen ADDR`): a small router over hyper's HTTP/1
//! server.
//!
//! Every page the daemon serves is a route: a path and a synchronous handler that gets the
//! [`Request`] and a [`Context`] with read access to the database and the daemon's status. A
//! handler returns a [`Response`] or an error (logged, and answered with a plain 500). Handlers
//! run on tokio's blocking pool, so they may run SQL; they never touch the writer's
//! connection, but open read-only connections of their own (WAL lets them read while the
//! writer commits). Register routes where the daemon builds its router (`run::http_router`).
//!
//! Only GET and HEAD are served. A path is matched exactly (`/metrics`), or by prefix when the
//! route ends with `/*` (`/story/*` matches `/story/12`, and [`Request::tail`] is `12`).
//! Connections are limited in number and must send their headers within a few seconds, so a
//! misbehaving client cannot exhaust the daemon.

use crate::metrics::Metrics;
use crate::status::Health;
use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_LENGTH, CONTENT_TYPE};
use hyper::{Method, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use newsdedup_store::Store;
use std::collections::HashMap;
use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};

/// Connections served at once; more wait in the listen backlog.
const MAX_CONNECTIONS: usize = 64;
/// A client must send its request headers within this.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Idle read-only database connections kept for handlers.
const IDLE_CONNECTIONS: usize = 4;

/// A request as a handler sees it.
#[derive(Debug)]
// The accessors are for route handlers; not every one is used by every build of the routes.
#[allow(dead_code)]
pub struct Request {
    method: Method,
    path: String,
    query: Option<String>,
    headers: HeaderMap,
    tail: String,
}

#[allow(dead_code)]
impl Request {
    pub fn method(&self) -> &Method {
        &self.method
    }

    /// The path, without the query string.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// For a prefix route (`/story/*`), what follows the prefix; empty for exact routes.
    pub fn tail(&self) -> &str {
        &self.tail
    }

    /// The raw query string, without the `?`.
    pub fn query(&self) -> Option<&str> {
        self.query.as_deref()
    }

    /// The first value of a query parameter, percent-decoded.
    pub fn query_param(&self, name: &str) -> Option<String> {
        let query = self.query.as_deref()?;
        url::form_urlencoded::parse(query.as_bytes()).find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
    }

    /// A header's value, when it is valid text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// A request for tests of handlers.
    #[cfg(test)]
    pub fn get(path_and_query: &str) -> Request {
        let (path, query) = match path_and_query.split_once('?') {
            Some((p, q)) => (p.to_string(), Some(q.to_string())),
            None => (path_and_query.to_string(), None),
        };
        Request { method: Method::GET, path, query, headers: HeaderMap::new(), tail: String::new() }
    }
}

/// What a handler answers.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: StatusCode,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub body: Bytes,
}

impl Response {
    pub fn new(status: StatusCode, content_type: &'static str, body: impl Into<Bytes>) -> Response {
        Response { status, headers: vec![(CONTENT_TYPE, HeaderValue::from_static(content_type))], body: body.into() }
    }

    /// Plain UTF-8 text.
    pub fn text(status: StatusCode, body: impl Into<String>) -> Response {
        Response::new(status, "text/plain; charset=utf-8", body.into())
    }

    /// Adds a header; a value that is not a valid header value is left out.
    pub fn header(mut self, name: HeaderName, value: &str) -> Response {
        if let Ok(v) = HeaderValue::from_str(value) {
            self.headers.retain(|(n, _)| *n != name);
            self.headers.push((name, v));
        }
        self
    }

    pub fn not_found() -> Response {
        Response::text(StatusCode::NOT_FOUND, "not found\n")
    }

    /// The body as text, for tests.
    #[cfg(test)]
    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// What handlers may read: the database (read-only) and the daemon's own state.
pub struct Context {
    db: PathBuf,
    idle: Mutex<Vec<Store>>,
    pub metrics: Arc<Metrics>,
    pub health: Arc<Health>,
}

impl Context {
    pub fn new(db: &Path, metrics: Arc<Metrics>, health: Arc<Health>) -> Context {
        Context { db: db.to_path_buf(), idle: Mutex::new(Vec::new()), metrics, health }
    }

    /// The database file.
    pub fn db_path(&self) -> &Path {
        &self.db
    }

    /// A read-only connection to the database, returned to a small pool when dropped.
    pub fn store(&self) -> Result<ReadStore<'_>, newsdedup_store::StoreError> {
        let pooled = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let store = match pooled {
            Some(store) => store,
            None => Store::open_read_only(&self.db)?,
        };
        Ok(ReadStore { store: Some(store), context: self })
    }
}

/// A read-only [`Store`] borrowed from the [`Context`]'s pool.
pub struct ReadStore<'a> {
    store: Option<Store>,
    context: &'a Context,
}

impl std::ops::Deref for ReadStore<'_> {
    type Target = Store;
    fn deref(&self) -> &Store {
        self.store.as_ref().expect("present until dropped")
    }
}

impl Drop for ReadStore<'_> {
    fn drop(&mut self) {
        if let Some(store) = self.store.take() {
            let mut idle = self.context.idle.lock().unwrap_or_else(|p| p.into_inner());
            if idle.len() < IDLE_CONNECTIONS {
                idle.push(store);
            }
        }
    }
}

/// A route's handler.
pub type Handler = Arc<dyn Fn(&Request, &Context) -> anyhow::Result<Response> + Send + Sync>;

/// Paths and their handlers.
#[derive(Default, Clone)]
pub struct Router {
    exact: HashMap<String, Handler>,
    /// (prefix including the trailing `/`, handler), longest prefix first.
    prefixes: Vec<(String, Handler)>,
}

impl Router {
    pub fn new() -> Router {
        Router::default()
    }

    /// Serves GET (and HEAD) requests for `path` with `handler`. A path ending in `/*` matches
    /// every path under that prefix. A later registration of the same path replaces the earlier.
    pub fn get<F>(mut self, path: &str, handler: F) -> Router
    where
        F: Fn(&Request, &Context) -> anyhow::Result<Response> + Send + Sync + 'static,
    {
        let handler: Handler = Arc::new(handler);
        match path.strip_suffix('*') {
            Some(prefix) => {
                self.prefixes.retain(|(p, _)| p != prefix);
                self.prefixes.push((prefix.to_string(), handler));
                self.prefixes.sort_by_key(|(p, _)| std::cmp::Reverse(p.len()));
            }
            None => {
                self.exact.insert(path.to_string(), handler);
            }
        }
        self
    }

    /// The registered paths, sorted (prefix routes end in `*`).
    pub fn paths(&self) -> Vec<String> {
        let mut paths: Vec<String> =
            self.exact.keys().cloned().chain(self.prefixes.iter().map(|(p, _)| format!("{p}*"))).collect();
        paths.sort();
        paths
    }

    fn find(&self, path: &str) -> Option<(Handler, String)> {
        if let Some(h) = self.exact.get(path) {
            return Some((h.clone(), String::new()));
        }
        self.prefixes
            .iter()
            .find(|(prefix, _)| path.starts_with(prefix.as_str()))
            .map(|(prefix, h)| (h.clone(), path[prefix.len()..].to_string()))
    }

    /// Answers one request (synchronously: call it from a blocking thread).
    pub fn respond(&self, mut request: Request, context: &Context) -> Response {
        if request.method != Method::GET && request.method != Method::HEAD {
            return Response::text(StatusCode::METHOD_NOT_ALLOWED, "only GET and HEAD are served\n")
                .header(hyper::header::ALLOW, "GET, HEAD");
        }
        let Some((handler, tail)) = self.find(&request.path) else { return Response::not_found() };
        request.tail = tail;
        match handler(&request, context) {
            Ok(response) => response,
            Err(e) => {
                tracing::error!(path = %request.path, error = %format!("{e:#}"), "request failed");
                Response::text(StatusCode::INTERNAL_SERVER_ERROR, "internal error (see the daemon's log)\n")
            }
        }
    }
}

/// Binds `addr` (e.g. `127.0.0.1:9184`).
pub async fn bind(addr: &str) -> anyhow::Result<TcpListener> {
    use anyhow::Context as _;
    TcpListener::bind(addr).await.with_context(|| format!("cannot listen on {addr}"))
}

/// Serves requests on `listener` until `shutdown` turns true.
pub async fn serve(
    listener: TcpListener,
    router: Arc<Router>,
    context: Arc<Context>,
    mut shutdown: watch::Receiver<bool>,
) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, paths = ?router.paths(), "status listener ready");
    }
    loop {
        let slot = tokio::select! {
            _ = stopped(&mut shutdown) => break,
            slot = slots.clone().acquire_owned() => slot.expect("semaphore is never closed"),
        };
        let stream = tokio::select! {
            _ = stopped(&mut shutdown) => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors and the like: wait instead of spinning.
                    tracing::warn!(error = %e, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                }
            },
        };
        let (router, context) = (router.clone(), context.clone());
        tokio::spawn(async move {
            let _slot = slot;
            let service = hyper::service::service_fn(move |req| {
                let (router, context) = (router.clone(), context.clone());
                async move { Ok::<_, Infallible>(answer(req, router, context).await) }
            });
            let connection = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .serve_connection(TokioIo::new(stream), service);
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "status connection ended with an error");
            }
        });
    }
}

/// Resolves when `shutdown` turns true (or its sender is gone).
async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}

async fn answer(
    req: hyper::Request<hyper::body::Incoming>,
    router: Arc<Router>,
    context: Arc<Context>,
) -> hyper::Response<Full<Bytes>> {
    let head = req.method() == Method::HEAD;
    let request = Request {
        method: req.method().clone(),
        path: req.uri().path().to_string(),
        query: req.uri().query().map(str::to_string),
        headers: req.headers().clone(),
        tail: String::new(),
    };
    let response = tokio::task::spawn_blocking(move || router.respond(request, &context))
        .await
        .unwrap_or_else(|_| Response::text(StatusCode::INTERNAL_SERVER_ERROR, "internal error\n"));
    let length = response.body.len();
    let mut out = hyper::Response::new(Full::new(if head { Bytes::new() } else { response.body }));
    *out.status_mut() = response.status;
    for (name, value) in response.headers {
        out.headers_mut().insert(name, value);
    }
    out.headers_mut().insert(CONTENT_LENGTH, HeaderValue::from(length));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn context() -> Context {
        Context::new(Path::new("/nonexistent/news.db"), Arc::new(Metrics::new()), Arc::new(Health::new()))
    }

    #[test]
    fn exact_and_prefix_routes() {
        let router = Router::new()
            .get("/a", |_, _| Ok(Response::text(StatusCode::OK, "a")))
            .get("/s/*", |r, _| Ok(Response::text(StatusCode::OK, format!("s:{}", r.tail()))))
            .get("/s/x/*", |r, _| Ok(Response::text(StatusCode::OK, format!("sx:{}", r.tail()))));
        let ctx = context();
        assert_eq!(router.respond(Request::get("/a"), &ctx).body_text(), "a");
        assert_eq!(router.respond(Request::get("/s/12"), &ctx).body_text(), "s:12");
        assert_eq!(router.respond(Request::get("/s/x/3"), &ctx).body_text(), "sx:3");
        assert_eq!(router.respond(Request::get("/b"), &ctx).status, StatusCode::NOT_FOUND);
        assert_eq!(router.paths(), ["/a", "/s/*", "/s/x/*"]);
    }

    #[test]
    fn errors_become_500_and_other_methods_405() {
        let router = Router::new().get("/boom", |_, _| anyhow::bail!("no"));
        let ctx = context();
        assert_eq!(router.respond(Request::get("/boom"), &ctx).status, StatusCode::INTERNAL_SERVER_ERROR);
        let mut post = Request::get("/boom");
        post.method = Method::POST;
        assert_eq!(router.respond(post, &ctx).status, StatusCode::METHOD_NOT_ALLOWED);
    }

    #[test]
    fn query_parameters_are_decoded() {
        let r = Request::get("/x?limit=5&q=caf%C3%A9+bar");
        assert_eq!(r.query_param("limit").as_deref(), Some("5"));
        assert_eq!(r.query_param("q").as_deref(), Some("café bar"));
        assert_eq!(r.query_param("none"), None);
    }

    #[test]
    fn a_missing_database_is_an_error_not_a_panic() {
        let ctx = context();
        assert!(ctx.store().is_err());
    }
}
