//! A fault-injecting HTTP/1.1 reverse proxy in front of a real registry.
//!
//! [`FaultProxy::start`] listens on two loopback addresses and forwards every
//! request to the upstream registry (method, path and query, headers
//! including `Authorization` and `Range`, the body streamed) and every
//! response back (status, headers, the body streamed):
//!
//! - the **primary** listener, `127.0.0.1:PORT` ([`FaultProxy::host`]), is
//!   what clients are pointed at;
//! - the **redirect** listener, `127.0.0.2:PORT`
//!   ([`FaultProxy::redirect_host`]), is a *different host* serving the same
//!   upstream content: [`Fault::RedirectTo`] sends clients there, as
//!   registries backed by object storage redirect blob downloads to it.
//!
//! [`Rule`]s added with [`FaultProxy::add`] pick requests by listener, method
//! and a substring of the path and query, and answer them with a [`Fault`]
//! instead of (or on top of) the upstream answer. Every request is logged as
//! a [`Seen`] ([`FaultProxy::requests`]): listener, method, path, status
//! served, whether `Authorization` came with it, the `Range` header, the
//! fault applied.
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use lf_registry_fixtures::proxy::{Fault, FaultProxy, Method, Rule};
//!
//! let registry = lf_registry_fixtures::Registry::start()?;
//! let proxy = FaultProxy::start(registry.addr())?;
//! // The first two blob downloads get 503 with `Retry-After: 1`.
//! proxy.add(
//!     Rule::new("/blobs/sha256:", Fault::status(503).retry_after("1"))
//!         .method(Method::GET)
//!         .times(2),
//! );
//! let reference = format!("{}/latticeflow/text-upper:1.0", proxy.host());
//! # let _ = reference;
//! # Ok(())
//! # }
//! ```
//!
//! Upstream `Location` headers that point at the upstream
//! (`http://127.0.0.1:UPSTREAM/...`) are rewritten to the listener that
//! received the request, so chunked and monolithic uploads work through the
//! proxy. The proxy sends `Host: <upstream>` upstream.
//!
//! # Range requests and distribution 2.8
//!
//! `Range` headers pass through unchanged (unless [`Fault::RejectRange`]).
//! distribution 2.8.2 with the filesystem driver serves blobs with Go's
//! `http.ServeContent`, which on `GET` and `HEAD` alike answers (observed,
//! and checked by `tests/proxy.rs`):
//!
//! - `bytes=A-B`: `206 Partial Content`, `Content-Range: bytes A-B/SIZE`,
//!   `Content-Length: B-A+1` and exactly those bytes; `B` past the end is
//!   clamped to `SIZE-1`. Open ranges `bytes=A-` (a resume) and suffix
//!   ranges `bytes=-N` work too. Every blob answer has
//!   `Accept-Ranges: bytes` and the blob's `Docker-Content-Digest` and
//!   `Etag`.
//! - several ranges (`bytes=0-9,20-29`): `206` with a
//!   `multipart/byteranges` body.
//! - a range starting at or past the end (`bytes=SIZE-`): `416` with
//!   `Content-Range: bytes */SIZE` — and a **bogus `Content-Length: SIZE`**
//!   over the short text body `invalid range: failed to overlap`, so reading
//!   the body fails with an early EOF. Malformed ranges (`bytes=5-2`, other
//!   units) answer `416` the same way, without `Content-Range`. A client
//!   must look at the status and not read a 416 body.
//!
//! Manifest `GET`s ignore `Range` (`200`, the whole manifest).
//!
//! # Threads and shutdown
//!
//! The proxy runs on its own thread with a single-threaded tokio runtime, so
//! it can be used from blocking tests and next to another runtime alike.
//! Dropping the [`FaultProxy`] stops it and closes every connection. It needs
//! `127.0.0.2` to be a loopback address, as it is on Linux.

use std::convert::Infallible;
use std::fmt;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::thread::JoinHandle;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_util::stream;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt as _, Empty, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode, Uri};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use sha2::{Digest as _, Sha256};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

pub use hyper::Method;

/// Which of the proxy's two listeners a request arrived on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Listener {
    /// `127.0.0.1:PORT`: [`FaultProxy::host`].
    #[default]
    Primary,
    /// `127.0.0.2:PORT`: [`FaultProxy::redirect_host`], the target of
    /// [`Fault::RedirectTo`].
    Redirect,
}

/// What the proxy does to a request a [`Rule`] matches.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fault {
    /// Answer `code` without asking upstream, with `Retry-After: <value>`
    /// when given (seconds or an HTTP date) and a distribution-style JSON
    /// error body (`TOOMANYREQUESTS` for 429, `UNAVAILABLE` for 503,
    /// `UNKNOWN` otherwise).
    Status {
        /// The status code, e.g. 500, 503, 429.
        code: u16,
        /// The `Retry-After` value, e.g. `"1"`.
        retry_after: Option<String>,
    },
    /// Forward upstream, send the response head and the first `after` bytes
    /// of the real body, then reset the TCP connection (`SO_LINGER` 0, so
    /// the client sees `ECONNRESET`). A body shorter than `after` is sent
    /// whole before the reset.
    ResetMidBody {
        /// Body bytes sent before the reset.
        after: usize,
    },
    /// Forward upstream, send the response head with the real
    /// `Content-Length` but only the first `keep` bytes of the body, then
    /// close the connection (FIN): the client sees a short body. A body of
    /// at most `keep` bytes is sent unchanged.
    Truncate {
        /// Body bytes sent before the close.
        keep: usize,
    },
    /// Forward upstream, and XOR the body byte at `offset` with `0xff`: same
    /// length and headers (including `Docker-Content-Digest`), other bytes.
    /// Nothing changes if the body is not longer than `offset`.
    FlipByte {
        /// Offset in the response body (of this response: for a `206`, in
        /// the slice served).
        offset: usize,
    },
    /// Wait this long, then forward upstream.
    Delay(Duration),
    /// Answer `307 Temporary Redirect` to the same path and query on the
    /// redirect listener (`http://127.0.0.2:PORT/...`), a different host
    /// that serves the same upstream content.
    RedirectTo,
    /// Answer as if the manifest were `size` bytes, without asking upstream:
    /// an OCI image manifest JSON padded with an annotation to exactly
    /// `size` bytes (streamed, never held in memory), with its
    /// `Content-Length`, `Content-Type` and `Docker-Content-Digest`; a `HEAD`
    /// gets the same headers and no body. Below ~270 bytes the JSON is cut
    /// short and no longer valid.
    OversizedManifest {
        /// Body size in bytes.
        size: usize,
    },
    /// Drop the `Range` header before forwarding, so the upstream answers
    /// `200` with the whole body, as servers without range support do.
    RejectRange,
    /// Forward without the query string: e.g. a cross-repository mount
    /// (`POST …/blobs/uploads/?mount=…&from=…`) reaches the upstream as a
    /// plain upload request, and gets `202` and an upload `Location`, as
    /// from a registry that declines to mount.
    DropQuery,
    /// Forward upstream and send the head at once, then the body one byte
    /// per `interval` (a slow-loris server): the connection is never idle
    /// for long, yet the body takes `interval` times its size.
    Trickle {
        /// The pause before each byte.
        interval: Duration,
    },
    /// Answer `200` with these bytes as an OCI image manifest, without
    /// asking upstream: `Content-Type`, `Content-Length` and a
    /// `Docker-Content-Digest` that matches them (a `HEAD` gets the headers
    /// only). For manifests a real registry would not accept, e.g. one
    /// declaring a 50 GiB config.
    ServeManifest(Vec<u8>),
    /// Answer `401` with this `Www-Authenticate` header, without asking
    /// upstream: e.g. a Bearer challenge naming another repository's scope.
    Challenge(String),
}

impl Fault {
    /// [`Fault::Status`] without `Retry-After`; add it with
    /// [`Fault::retry_after`].
    pub fn status(code: u16) -> Fault {
        Fault::Status {
            code,
            retry_after: None,
        }
    }

    /// Sets `Retry-After` on a [`Fault::Status`]; other faults are returned
    /// unchanged.
    #[must_use]
    pub fn retry_after(self, value: impl Into<String>) -> Fault {
        match self {
            Fault::Status { code, .. } => Fault::Status {
                code,
                retry_after: Some(value.into()),
            },
            other => other,
        }
    }
}

/// Which requests get a [`Fault`], and how often.
///
/// A rule matches a request that arrives on `listener`, has `method` (any
/// method when `None`), and whose path and query contain `path_contains`.
/// Rules are tried in the order they were added; the first matching rule
/// that is not used up applies, and at most one rule applies per request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// The method to match; `None` matches every method.
    pub method: Option<Method>,
    /// A substring of the request's path and query (e.g. `/manifests/`,
    /// `sha256:abcd`); the empty string matches every request.
    pub path_contains: String,
    /// How many requests the rule applies to; `None`: every matching request.
    pub times: Option<usize>,
    /// How many matching requests pass untouched before the rule applies
    /// (counting down as they pass): `after(2)` hits the third.
    pub after: usize,
    /// What to do.
    pub fault: Fault,
    /// The listener whose requests the rule applies to (default: primary).
    pub listener: Listener,
}

impl Rule {
    /// A rule applying `fault` to every request on the primary listener whose
    /// path and query contain `path_contains`, whatever the method.
    pub fn new(path_contains: impl Into<String>, fault: Fault) -> Rule {
        Rule {
            method: None,
            path_contains: path_contains.into(),
            times: None,
            after: 0,
            fault,
            listener: Listener::Primary,
        }
    }

    /// Lets the first `n` matching requests through untouched; the rule
    /// applies from the next one on (e.g. a registry that refuses pushes
    /// midway).
    #[must_use]
    pub fn after(mut self, n: usize) -> Rule {
        self.after = n;
        self
    }

    /// Matches only requests with this method.
    #[must_use]
    pub fn method(mut self, method: Method) -> Rule {
        self.method = Some(method);
        self
    }

    /// Applies to the first `n` matching requests only.
    #[must_use]
    pub fn times(mut self, n: usize) -> Rule {
        self.times = Some(n);
        self
    }

    /// Applies to requests on `listener` instead of the primary one.
    #[must_use]
    pub fn on(mut self, listener: Listener) -> Rule {
        self.listener = listener;
        self
    }

    fn matches(&self, listener: Listener, method: &Method, path_and_query: &str) -> bool {
        self.listener == listener
            && self.times != Some(0)
            && self.method.as_ref().is_none_or(|m| m == method)
            && path_and_query.contains(&self.path_contains)
    }
}

/// One request the proxy received, as [`FaultProxy::requests`] reports it.
///
/// It never holds credentials: only whether an `Authorization` header came.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    /// The listener it arrived on.
    pub listener: Listener,
    /// Its method.
    pub method: Method,
    /// Its path and query, e.g. `/v2/latticeflow/echo/blobs/sha256:…`.
    pub path: String,
    /// The status code the proxy answered (for [`Fault::ResetMidBody`] and
    /// [`Fault::Truncate`], the status of the head sent before the body was
    /// cut); 502 if the upstream could not be reached.
    pub status: u16,
    /// Whether the request carried an `Authorization` header.
    pub authorization: bool,
    /// Its `Range` header, if any (also when [`Fault::RejectRange`] dropped
    /// it).
    pub range: Option<String>,
    /// The fault applied, if a rule matched.
    pub fault: Option<Fault>,
}

/// The proxy's shared state: rules, log, redirect credentials.
#[derive(Debug, Default)]
struct State {
    rules: Mutex<Vec<Rule>>,
    seen: Mutex<Vec<Seen>>,
    redirect_authorization: Mutex<Option<HeaderValue>>,
    /// Client connections open now and at most, on the primary listener.
    connections: Arc<Gauge>,
}

/// A count of open connections and its high-water mark.
#[derive(Debug, Default)]
struct Gauge {
    open: AtomicUsize,
    peak: AtomicUsize,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl State {
    /// Takes one use of the first matching rule, returning its fault.
    fn take_fault(&self, listener: Listener, method: &Method, path: &str) -> Option<Fault> {
        let mut rules = lock(&self.rules);
        let rule = rules
            .iter_mut()
            .find(|rule| rule.matches(listener, method, path))?;
        if rule.after > 0 {
            // Passed through: no other rule applies to this request either.
            rule.after -= 1;
            return None;
        }
        if let Some(times) = rule.times.as_mut() {
            *times -= 1;
        }
        Some(rule.fault.clone())
    }
}

/// A fault-injecting reverse proxy in front of one upstream registry; see the
/// [module documentation](self).
///
/// Dropping it stops the proxy.
pub struct FaultProxy {
    upstream: SocketAddr,
    primary: SocketAddr,
    redirect: SocketAddr,
    state: Arc<State>,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl fmt::Debug for FaultProxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FaultProxy")
            .field("upstream", &self.upstream)
            .field("primary", &self.primary)
            .field("redirect", &self.redirect)
            .finish_non_exhaustive()
    }
}

impl FaultProxy {
    /// Starts a proxy for `upstream` (plain HTTP), listening on a free port of
    /// 127.0.0.1 and on one of 127.0.0.2; no rules yet.
    ///
    /// # Errors
    ///
    /// If a listener cannot be bound (e.g. 127.0.0.2 is not a loopback
    /// address on this system), or the runtime or thread cannot be started.
    pub fn start(upstream: SocketAddr) -> io::Result<FaultProxy> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let bind = |ip: Ipv4Addr| -> io::Result<TcpListener> {
            let listener = std::net::TcpListener::bind((ip, 0))?;
            listener.set_nonblocking(true)?;
            let _guard = runtime.enter();
            TcpListener::from_std(listener)
        };
        let primary_listener = bind(Ipv4Addr::LOCALHOST)?;
        let redirect_listener = bind(Ipv4Addr::new(127, 0, 0, 2))?;
        let primary = primary_listener.local_addr()?;
        let redirect = redirect_listener.local_addr()?;

        let state = Arc::new(State::default());
        let proxy = Arc::new(Proxy {
            upstream,
            primary,
            redirect,
            state: Arc::clone(&state),
            client: Client::builder(TokioExecutor::new()).build(HttpConnector::new()),
        });
        let (shutdown, stopped) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name(format!("lf-fault-proxy-{}", primary.port()))
            .spawn(move || {
                runtime.block_on(async move {
                    tokio::select! {
                        () = accept_loop(primary_listener, Listener::Primary, Arc::clone(&proxy)) => {}
                        () = accept_loop(redirect_listener, Listener::Redirect, proxy) => {}
                        _ = stopped => {}
                    }
                });
                // Dropping the runtime drops every connection task.
                drop(runtime);
            })?;
        Ok(FaultProxy {
            upstream,
            primary,
            redirect,
            state,
            shutdown: Some(shutdown),
            thread: Some(thread),
        })
    }

    /// The upstream address requests are forwarded to.
    pub fn upstream(&self) -> SocketAddr {
        self.upstream
    }

    /// The primary listener's address, on 127.0.0.1.
    pub fn addr(&self) -> SocketAddr {
        self.primary
    }

    /// `127.0.0.1:PORT`: the registry part of an OCI reference through the
    /// proxy.
    pub fn host(&self) -> String {
        self.primary.to_string()
    }

    /// `http://127.0.0.1:PORT`: the base URL for HTTP requests through the
    /// proxy.
    pub fn url(&self) -> String {
        format!("http://{}", self.primary)
    }

    /// The redirect listener's address, on 127.0.0.2.
    pub fn redirect_addr(&self) -> SocketAddr {
        self.redirect
    }

    /// `127.0.0.2:PORT`: the host [`Fault::RedirectTo`] redirects to.
    pub fn redirect_host(&self) -> String {
        self.redirect.to_string()
    }

    /// `http://127.0.0.2:PORT`: the base URL of the redirect listener.
    pub fn redirect_url(&self) -> String {
        format!("http://{}", self.redirect)
    }

    /// Adds a rule after the existing ones.
    pub fn add(&self, rule: Rule) {
        lock(&self.state.rules).push(rule);
    }

    /// Removes every rule; the request log is kept.
    pub fn clear(&self) {
        lock(&self.state.rules).clear();
    }

    /// The rules as they stand, with `times` counting down as they apply.
    pub fn rules(&self) -> Vec<Rule> {
        lock(&self.state.rules).clone()
    }

    /// Every request received so far, oldest first.
    pub fn requests(&self) -> Vec<Seen> {
        lock(&self.state.seen).clone()
    }

    /// Empties the request log (and resets the connection high-water mark).
    pub fn clear_requests(&self) {
        lock(&self.state.seen).clear();
        let open = self.state.connections.open.load(Ordering::SeqCst);
        self.state.connections.peak.store(open, Ordering::SeqCst);
    }

    /// The most client connections open at once on the primary listener.
    pub fn peak_connections(&self) -> usize {
        self.state.connections.peak.load(Ordering::SeqCst)
    }

    /// How many requests with `method` whose path and query contain
    /// `path_contains` arrived, on either listener.
    pub fn count(&self, method: &Method, path_contains: &str) -> usize {
        lock(&self.state.seen)
            .iter()
            .filter(|seen| seen.method == *method && seen.path.contains(path_contains))
            .count()
    }

    /// The `Authorization` header the redirect listener sends upstream,
    /// replacing whatever the client sent (`None`, the default: forward the
    /// client's header, if any).
    ///
    /// This stands for the signed URL an object store would accept: a
    /// client that correctly drops its credentials on a cross-host redirect
    /// still gets the blob from a registry that requires auth. The value is
    /// never logged.
    pub fn set_redirect_authorization(&self, value: Option<&str>) -> Result<(), InvalidHeader> {
        let value = value
            .map(|value| {
                let mut value = HeaderValue::from_str(value).map_err(|_| InvalidHeader)?;
                value.set_sensitive(true);
                Ok(value)
            })
            .transpose()?;
        *lock(&self.state.redirect_authorization) = value;
        Ok(())
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            // An error means the proxy thread already ended.
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A value for [`FaultProxy::set_redirect_authorization`] that is not a valid
/// HTTP header value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not a valid HTTP header value")]
pub struct InvalidHeader;

/// What every connection task shares.
struct Proxy {
    upstream: SocketAddr,
    primary: SocketAddr,
    redirect: SocketAddr,
    state: Arc<State>,
    client: Client<HttpConnector, ProxyBody>,
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Request bodies sent upstream and response bodies sent to clients.
type ProxyBody = UnsyncBoxBody<Bytes, BoxError>;

/// How long a cut body waits before the cut, so that hyper flushes the bytes
/// sent so far first.
const FLUSH_PAUSE: Duration = Duration::from_millis(30);

async fn accept_loop(listener: TcpListener, which: Listener, proxy: Arc<Proxy>) {
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            // E.g. EMFILE: wait for connections to close rather than spin.
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let reset = Arc::new(AtomicBool::new(false));
        let gauge = (which == Listener::Primary).then(|| Arc::clone(&proxy.state.connections));
        if let Some(g) = &gauge {
            let now = g.open.fetch_add(1, Ordering::SeqCst) + 1;
            g.peak.fetch_max(now, Ordering::SeqCst);
        }
        let io = TokioIo::new(Connection {
            stream,
            reset: Arc::clone(&reset),
            gauge,
        });
        let proxy = Arc::clone(&proxy);
        tokio::spawn(async move {
            let service = service_fn(move |request| {
                handle(Arc::clone(&proxy), which, Arc::clone(&reset), request)
            });
            // Errors are the faults we inject, or clients going away.
            let _ = http1::Builder::new().serve_connection(io, service).await;
        });
    }
}

/// A client connection that can be made to close with a TCP reset.
struct Connection {
    stream: TcpStream,
    /// Set by [`Fault::ResetMidBody`]: close with `SO_LINGER` 0, never
    /// shut down cleanly.
    reset: Arc<AtomicBool>,
    /// Counts this connection while it is open (primary listener only).
    gauge: Option<Arc<Gauge>>,
}

impl Drop for Connection {
    fn drop(&mut self) {
        if let Some(g) = &self.gauge {
            g.open.fetch_sub(1, Ordering::SeqCst);
        }
        if self.reset.load(Ordering::SeqCst) {
            // Closing with a zero linger timeout sends RST, not FIN.
            let _ = self.stream.set_zero_linger();
        }
    }
}

impl AsyncRead for Connection {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Connection {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.reset.load(Ordering::SeqCst) {
            // No FIN before the reset.
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

async fn handle(
    proxy: Arc<Proxy>,
    listener: Listener,
    reset: Arc<AtomicBool>,
    request: Request<Incoming>,
) -> Result<Response<ProxyBody>, Infallible> {
    let method = request.method().clone();
    let path = request.uri().path_and_query().map_or_else(
        || request.uri().path().to_owned(),
        |pq| pq.as_str().to_owned(),
    );
    let authorization = request.headers().contains_key(header::AUTHORIZATION);
    let range = request
        .headers()
        .get(header::RANGE)
        .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned());
    let fault = proxy.state.take_fault(listener, &method, &path);

    let response = match &fault {
        Some(Fault::Status { code, retry_after }) => status_response(*code, retry_after.as_deref()),
        Some(Fault::RedirectTo) => redirect_response(&format!("http://{}{path}", proxy.redirect)),
        Some(Fault::OversizedManifest { size }) => oversized_manifest(*size, &method),
        Some(Fault::Delay(delay)) => {
            tokio::time::sleep(*delay).await;
            proxy.forward(listener, request, false).await
        }
        Some(Fault::RejectRange) => proxy.forward(listener, request, true).await,
        Some(Fault::DropQuery) => {
            let (mut parts, body) = request.into_parts();
            if let Ok(uri) = parts.uri.path().parse::<Uri>() {
                parts.uri = uri;
            }
            proxy
                .forward(listener, Request::from_parts(parts, body), false)
                .await
        }
        Some(Fault::ServeManifest(body)) => manifest_response(body, &method),
        Some(Fault::Challenge(value)) => challenge_response(value),
        Some(Fault::Trickle { interval }) => {
            let response = proxy.forward(listener, request, false).await;
            let (parts, body) = response.into_parts();
            Response::from_parts(parts, trickle(body, *interval))
        }
        Some(
            fault @ (Fault::ResetMidBody { .. } | Fault::Truncate { .. } | Fault::FlipByte { .. }),
        ) => {
            let response = proxy.forward(listener, request, false).await;
            let (parts, body) = response.into_parts();
            let body = match *fault {
                Fault::ResetMidBody { after } => reset_after(body, after, reset),
                Fault::Truncate { keep } => truncate(body, keep),
                Fault::FlipByte { offset } => flip_byte(body, offset),
                _ => body,
            };
            Response::from_parts(parts, body)
        }
        None => proxy.forward(listener, request, false).await,
    };

    lock(&proxy.state.seen).push(Seen {
        listener,
        method,
        path,
        status: response.status().as_u16(),
        authorization,
        range,
        fault,
    });
    Ok(response)
}

/// Headers that belong to one connection and are never forwarded.
const HOP_BY_HOP: [HeaderName; 6] = [
    header::CONNECTION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
    header::PROXY_AUTHORIZATION,
];

fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let listed: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    for name in listed.iter().chain(&HOP_BY_HOP) {
        headers.remove(name);
    }
    headers.remove("keep-alive");
    headers.remove("proxy-connection");
}

impl Proxy {
    /// Forwards `request` upstream and returns the upstream answer with its
    /// `Location` rewritten to `listener`; 502 if the upstream fails.
    async fn forward(
        &self,
        listener: Listener,
        request: Request<Incoming>,
        drop_range: bool,
    ) -> Response<ProxyBody> {
        let (mut parts, body) = request.into_parts();
        let path = parts
            .uri
            .path_and_query()
            .map_or("/", |pq| pq.as_str())
            .to_owned();
        let uri: Uri = match format!("http://{}{path}", self.upstream).parse() {
            Ok(uri) => uri,
            Err(error) => return text_response(StatusCode::BAD_REQUEST, &error.to_string()),
        };
        parts.uri = uri;
        parts.version = hyper::Version::HTTP_11;
        strip_hop_by_hop(&mut parts.headers);
        if let Ok(host) = HeaderValue::from_str(&self.upstream.to_string()) {
            parts.headers.insert(header::HOST, host);
        }
        if drop_range {
            parts.headers.remove(header::RANGE);
        }
        if listener == Listener::Redirect
            && let Some(value) = lock(&self.state.redirect_authorization).clone()
        {
            parts.headers.insert(header::AUTHORIZATION, value);
        }
        let upstream_request =
            Request::from_parts(parts, body.map_err(BoxError::from).boxed_unsync());

        let response = match self.client.request(upstream_request).await {
            Ok(response) => response,
            Err(error) => {
                return text_response(
                    StatusCode::BAD_GATEWAY,
                    &format!(
                        "lf-registry-fixtures proxy: upstream {}: {error}",
                        self.upstream
                    ),
                );
            }
        };
        let (mut parts, body) = response.into_parts();
        strip_hop_by_hop(&mut parts.headers);
        let own = match listener {
            Listener::Primary => self.primary,
            Listener::Redirect => self.redirect,
        };
        if let Some(location) = parts.headers.get(header::LOCATION)
            && let Some(rewritten) = rewrite_location(location, self.upstream, own)
        {
            parts.headers.insert(header::LOCATION, rewritten);
        }
        Response::from_parts(parts, body.map_err(BoxError::from).boxed_unsync())
    }
}

/// `http://UPSTREAM/...` → `http://OWN/...`; `None` for other locations
/// (relative ones already resolve against the proxy).
fn rewrite_location(
    location: &HeaderValue,
    upstream: SocketAddr,
    own: SocketAddr,
) -> Option<HeaderValue> {
    let text = location.to_str().ok()?;
    let rest = text.strip_prefix(&format!("http://{upstream}"))?;
    if !(rest.is_empty() || rest.starts_with(['/', '?', '#'])) {
        // e.g. http://127.0.0.1:5000123/: a different port.
        return None;
    }
    HeaderValue::from_str(&format!("http://{own}{rest}")).ok()
}

fn full(bytes: impl Into<Bytes>) -> ProxyBody {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}

fn text_response(status: StatusCode, text: &str) -> Response<ProxyBody> {
    let mut response = Response::new(full(format!("{text}\n")));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

fn status_response(code: u16, retry_after: Option<&str>) -> Response<ProxyBody> {
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let error = match status {
        StatusCode::TOO_MANY_REQUESTS => "TOOMANYREQUESTS",
        StatusCode::SERVICE_UNAVAILABLE => "UNAVAILABLE",
        _ => "UNKNOWN",
    };
    let body = serde_json::json!({
        "errors": [{
            "code": error,
            "message": format!("injected by lf-registry-fixtures proxy: HTTP {code}"),
        }]
    })
    .to_string();
    let mut response = Response::new(full(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    if let Some(value) = retry_after.and_then(|value| HeaderValue::from_str(value).ok()) {
        headers.insert(header::RETRY_AFTER, value);
    }
    response
}

fn redirect_response(location: &str) -> Response<ProxyBody> {
    let mut response = Response::new(full(Bytes::new()));
    *response.status_mut() = StatusCode::TEMPORARY_REDIRECT;
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

/// Padding bytes for [`oversized_manifest`], sent in chunks of this size.
static PADDING: [u8; 64 * 1024] = [b'a'; 64 * 1024];

/// Media type of the oversized manifest.
const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

fn oversized_manifest(size: usize, method: &Method) -> Response<ProxyBody> {
    let head = format!(
        "{{\"schemaVersion\":2,\"mediaType\":\"{OCI_MANIFEST}\",\
         \"config\":{{\"mediaType\":\"application/vnd.wasm.config.v0+json\",\
         \"digest\":\"sha256:{zero}\",\"size\":2}},\
         \"layers\":[],\"annotations\":{{\"padding\":\"",
        zero = "0".repeat(64),
    );
    let tail = "\"}}";
    // The body: `prefix`, then `padding` bytes of PADDING, then `suffix`.
    let (prefix, padding, suffix) = match size.checked_sub(head.len() + tail.len()) {
        Some(padding) => (
            Bytes::from(head),
            padding,
            Bytes::from_static(tail.as_bytes()),
        ),
        None => {
            let mut short = head.into_bytes();
            short.extend_from_slice(tail.as_bytes());
            short.truncate(size);
            (Bytes::from(short), 0, Bytes::new())
        }
    };
    let mut hasher = Sha256::new();
    hasher.update(&prefix);
    let mut left = padding;
    while left > 0 {
        let n = left.min(PADDING.len());
        hasher.update(&PADDING[..n]);
        left -= n;
    }
    hasher.update(&suffix);
    let digest = format!("sha256:{:x}", hasher.finalize());

    let body = if *method == Method::HEAD {
        Empty::new().map_err(|never| match never {}).boxed_unsync()
    } else {
        let chunks = stream::iter(
            std::iter::once(prefix)
                .chain((0..padding.div_ceil(PADDING.len())).map(move |i| {
                    let n = (padding - i * PADDING.len()).min(PADDING.len());
                    Bytes::from_static(&PADDING[..n])
                }))
                .chain(std::iter::once(suffix))
                .filter(|chunk| !chunk.is_empty())
                .map(|chunk| Ok::<_, BoxError>(Frame::data(chunk))),
        );
        StreamBody::new(chunks).boxed_unsync()
    };
    let mut response = Response::new(body);
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(OCI_MANIFEST));
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(size));
    if let Ok(value) = HeaderValue::from_str(&digest) {
        headers.insert("docker-content-digest", value);
    }
    response
}

fn manifest_response(body: &[u8], method: &Method) -> Response<ProxyBody> {
    let digest = format!("sha256:{:x}", Sha256::digest(body));
    let mut response = Response::new(if *method == Method::HEAD {
        full(Bytes::new())
    } else {
        full(Bytes::copy_from_slice(body))
    });
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(OCI_MANIFEST));
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
    if let Ok(value) = HeaderValue::from_str(&digest) {
        headers.insert("docker-content-digest", value);
    }
    response
}

fn challenge_response(value: &str) -> Response<ProxyBody> {
    let body = serde_json::json!({
        "errors": [{"code": "UNAUTHORIZED", "message": "authentication required"}]
    })
    .to_string();
    let mut response = Response::new(full(body));
    *response.status_mut() = StatusCode::UNAUTHORIZED;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    if let Ok(value) = HeaderValue::from_str(value) {
        headers.insert(header::WWW_AUTHENTICATE, value);
    }
    response
}

/// Passes `body` on one byte per `interval`.
fn trickle(body: ProxyBody, interval: Duration) -> ProxyBody {
    // (body, bytes received but not yet passed on)
    let frames = stream::unfold(
        (body, Bytes::new()),
        move |(mut body, mut pending)| async move {
            while pending.is_empty() {
                match body.frame().await? {
                    Ok(frame) => match frame.into_data() {
                        Ok(data) => pending = data,
                        Err(frame) => return Some((Ok(frame), (body, pending))),
                    },
                    Err(error) => return Some((Err(error), (body, pending))),
                }
            }
            tokio::time::sleep(interval).await;
            let byte = pending.split_to(1);
            Some((Ok(Frame::data(byte)), (body, pending)))
        },
    );
    StreamBody::new(frames).boxed_unsync()
}

/// What a cut body does once its byte budget is spent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cut {
    /// End the body early (hyper then closes the connection, since the
    /// `Content-Length` was not reached).
    Close,
    /// Fail the body with the connection marked for a TCP reset.
    Reset,
}

/// State of a body being cut after `budget` bytes.
struct Cutting {
    body: ProxyBody,
    budget: usize,
    cut: Cut,
    reset: Option<Arc<AtomicBool>>,
    done: bool,
}

/// Passes at most `budget` bytes of `body` on, then cuts it as `cut` says.
/// With [`Cut::Close`] a body within budget passes unchanged; with
/// [`Cut::Reset`] the reset comes even then.
fn cut_body(body: ProxyBody, budget: usize, cut: Cut, reset: Option<Arc<AtomicBool>>) -> ProxyBody {
    let state = Cutting {
        body,
        budget,
        cut,
        reset,
        done: false,
    };
    let frames = stream::unfold(state, |mut state| async move {
        if state.done {
            return None;
        }
        if state.budget > 0 {
            match state.body.frame().await {
                Some(Ok(frame)) => {
                    let frame = match frame.into_data() {
                        Ok(mut data) => {
                            if data.len() > state.budget {
                                data.truncate(state.budget);
                            }
                            state.budget -= data.len();
                            Frame::data(data)
                        }
                        Err(frame) => frame,
                    };
                    return Some((Ok(frame), state));
                }
                Some(Err(error)) => {
                    state.done = true;
                    return Some((Err(error), state));
                }
                None if state.cut == Cut::Close => return None,
                None => {}
            }
        }
        // Budget spent (or a short body for a reset): let hyper flush what
        // was sent, then cut.
        state.done = true;
        tokio::time::sleep(FLUSH_PAUSE).await;
        match state.cut {
            Cut::Close => None,
            Cut::Reset => {
                if let Some(reset) = &state.reset {
                    reset.store(true, Ordering::SeqCst);
                }
                let error: BoxError =
                    "lf-registry-fixtures proxy: injected connection reset".into();
                Some((Err(error), state))
            }
        }
    });
    StreamBody::new(frames).boxed_unsync()
}

fn truncate(body: ProxyBody, keep: usize) -> ProxyBody {
    cut_body(body, keep, Cut::Close, None)
}

fn reset_after(body: ProxyBody, after: usize, reset: Arc<AtomicBool>) -> ProxyBody {
    cut_body(body, after, Cut::Reset, Some(reset))
}

fn flip_byte(body: ProxyBody, offset: usize) -> ProxyBody {
    // (body, bytes of the body before the next frame)
    let frames = stream::unfold((body, 0usize), move |(mut body, position)| async move {
        let frame = match body.frame().await? {
            Ok(frame) => frame,
            Err(error) => return Some((Err(error), (body, position))),
        };
        let frame = match frame.into_data() {
            Ok(data) => {
                let end = position + data.len();
                let data = if (position..end).contains(&offset) {
                    let mut flipped = BytesMut::from(data);
                    flipped[offset - position] ^= 0xff;
                    flipped.freeze()
                } else {
                    data
                };
                return Some((Ok(Frame::data(data)), (body, end)));
            }
            Err(frame) => frame,
        };
        Some((Ok(frame), (body, position)))
    });
    StreamBody::new(frames).boxed_unsync()
}

/// An HTTPS listener on 127.0.0.1 that answers every request with
/// `307 Temporary Redirect` to the same path and query under a plain-HTTP
/// base URL: an HTTPS registry trying to move its clients to plain HTTP.
///
/// Its certificate comes from a throwaway CA ([`TlsRedirect::ca_pem`]) and
/// names 127.0.0.1. One thread per connection, `Connection: close`; dropped,
/// it stops.
#[derive(Debug)]
pub struct TlsRedirect {
    addr: SocketAddr,
    ca_pem: String,
    served: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    _dir: tempfile::TempDir,
}

impl TlsRedirect {
    /// Starts redirecting to `target` (e.g. `http://127.0.0.1:5000`).
    ///
    /// # Errors
    ///
    /// If the certificates cannot be made or the listener bound.
    pub fn start(target: &str) -> Result<TlsRedirect, crate::Error> {
        use rustls::pki_types::pem::PemObject as _;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let dir = tempfile::tempdir().map_err(crate::io_error("cannot create a directory"))?;
        let files = crate::tls::TlsFiles::generate(dir.path())?;
        let certs = CertificateDer::pem_file_iter(&files.cert_path)
            .and_then(Iterator::collect::<Result<Vec<_>, _>>)
            .map_err(crate::tls::crypto_error("read the server certificate"))?;
        let key = PrivateKeyDer::from_pem_file(&files.key_path)
            .map_err(crate::tls::crypto_error("read the server key"))?;
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(crate::tls::crypto_error("configure the TLS server"))?
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .map_err(crate::tls::crypto_error("configure the TLS server"))?;
        let config = Arc::new(config);
        let listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .map_err(crate::io_error("cannot bind the TLS redirect to 127.0.0.1"))?;
        let addr = listener
            .local_addr()
            .map_err(crate::io_error("cannot read the TLS redirect's address"))?;
        let stop = Arc::new(AtomicBool::new(false));
        let served = Arc::new(AtomicUsize::new(0));
        let target = target.trim_end_matches('/').to_owned();
        let thread = {
            let (stop, served) = (Arc::clone(&stop), Arc::clone(&served));
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        return;
                    }
                    let Ok(stream) = stream else { continue };
                    let (config, target, served) =
                        (Arc::clone(&config), target.clone(), Arc::clone(&served));
                    std::thread::spawn(move || {
                        if redirect_one(stream, config, &target).is_ok() {
                            served.fetch_add(1, Ordering::SeqCst);
                        }
                    });
                }
            })
        };
        Ok(TlsRedirect {
            addr,
            ca_pem: files.ca_pem.clone(),
            served,
            stop,
            thread: Some(thread),
            _dir: dir,
        })
    }

    /// `127.0.0.1:PORT`.
    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    /// The CA certificate (PEM) that issued the listener's certificate.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// How many redirects were sent.
    pub fn redirects(&self) -> usize {
        self.served.load(Ordering::SeqCst)
    }
}

impl Drop for TlsRedirect {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = std::net::TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Reads one request head over TLS and answers it with a redirect.
fn redirect_one(
    stream: std::net::TcpStream,
    config: Arc<rustls::ServerConfig>,
    target: &str,
) -> io::Result<()> {
    use std::io::{Read as _, Write as _};
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    stream.set_write_timeout(Some(Duration::from_secs(5)))?;
    let connection = rustls::ServerConnection::new(config).map_err(io::Error::other)?;
    let mut tls = rustls::StreamOwned::new(connection, stream);
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = tls.read(&mut buf)?;
        if n == 0 || head.len() > 16 * 1024 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "no request head",
            ));
        }
        head.extend_from_slice(&buf[..n]);
    }
    let head = String::from_utf8_lossy(&head);
    let path = head.split_whitespace().nth(1).unwrap_or("/");
    write!(
        tls,
        "HTTP/1.1 307 Temporary Redirect\r\nLocation: {target}{path}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )?;
    tls.flush()?;
    tls.conn.send_close_notify();
    tls.flush()
}

/// A plain-HTTP listener on 127.0.0.1 that reads a request, then sends the
/// status line of an answer and its headers one byte per `interval`, never
/// finishing them: a slow-loris server that is never idle for long.
/// Each connection gives up after a minute; dropped, it stops.
#[derive(Debug)]
pub struct SlowHeaders {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl SlowHeaders {
    /// Starts it.
    ///
    /// # Errors
    ///
    /// If the listener cannot be bound.
    pub fn start(interval: Duration) -> io::Result<SlowHeaders> {
        let listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        return;
                    }
                    let Ok(stream) = stream else { continue };
                    let stop = Arc::clone(&stop);
                    std::thread::spawn(move || trickle_headers(stream, interval, &stop));
                }
            })
        };
        Ok(SlowHeaders {
            addr,
            stop,
            thread: Some(thread),
        })
    }

    /// `127.0.0.1:PORT`.
    pub fn host(&self) -> String {
        self.addr.to_string()
    }
}

impl Drop for SlowHeaders {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = std::net::TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn trickle_headers(mut stream: std::net::TcpStream, interval: Duration, stop: &AtomicBool) {
    use std::io::{Read as _, Write as _};
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut buf = [0u8; 4096];
    let _ = stream.read(&mut buf);
    let head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n";
    let endless = head
        .bytes()
        .chain(std::iter::repeat_n(b"X-Slow: x\r\n".iter().copied(), usize::MAX).flatten());
    let started = std::time::Instant::now();
    for byte in endless {
        if stop.load(Ordering::SeqCst)
            || started.elapsed() > Duration::from_secs(60)
            || stream.write_all(&[byte]).is_err()
        {
            return;
        }
        std::thread::sleep(interval);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn rules_match_in_order_and_count_down() {
        let state = State::default();
        lock(&state.rules).push(Rule::new("/blobs/", Fault::status(503)).times(1));
        lock(&state.rules).push(
            Rule::new("/blobs/", Fault::RejectRange)
                .method(Method::GET)
                .times(2),
        );
        let get = Method::GET;
        let path = "/v2/a/blobs/sha256:00";
        assert_eq!(
            state.take_fault(Listener::Primary, &get, path),
            Some(Fault::status(503))
        );
        assert_eq!(
            state.take_fault(Listener::Redirect, &get, path),
            None,
            "primary-listener rules only"
        );
        assert_eq!(
            state.take_fault(Listener::Primary, &Method::HEAD, path),
            None
        );
        assert_eq!(
            state.take_fault(Listener::Primary, &get, path),
            Some(Fault::RejectRange)
        );
        assert_eq!(
            state.take_fault(Listener::Primary, &get, "/v2/a/manifests/1"),
            None
        );
        assert_eq!(
            state.take_fault(Listener::Primary, &get, path),
            Some(Fault::RejectRange)
        );
        assert_eq!(state.take_fault(Listener::Primary, &get, path), None);
    }

    #[test]
    fn location_rewrite_only_for_the_upstream() {
        let upstream: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        let own: SocketAddr = "127.0.0.1:6000".parse().unwrap();
        let rewrite = |text: &'static str| {
            rewrite_location(&HeaderValue::from_static(text), upstream, own)
                .map(|value| value.to_str().unwrap().to_owned())
        };
        assert_eq!(
            rewrite("http://127.0.0.1:5000/v2/a/blobs/uploads/x?_state=y").as_deref(),
            Some("http://127.0.0.1:6000/v2/a/blobs/uploads/x?_state=y")
        );
        assert_eq!(rewrite("http://127.0.0.1:50001/v2/"), None);
        assert_eq!(rewrite("/v2/a/blobs/uploads/x"), None);
        assert_eq!(rewrite("http://example.com/v2/"), None);
    }

    #[test]
    fn retry_after_only_on_status() {
        assert_eq!(
            Fault::status(429).retry_after("2"),
            Fault::Status {
                code: 429,
                retry_after: Some("2".to_owned())
            }
        );
        assert_eq!(Fault::RedirectTo.retry_after("2"), Fault::RedirectTo);
    }
}
