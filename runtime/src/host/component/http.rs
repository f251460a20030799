//! `wasi:http` for components: the project's policy in front of a
//! replaceable client.
//!
//! A component that declares `http.read` or `http.write` gets
//! `wasi:http/outgoing-handler`; every request it sends passes
//! [`HttpPolicy`] first. The policy is the only place that decides:
//!
//! - `http.read` allows GET, HEAD and OPTIONS; `http.write` allows every
//!   method;
//! - the destination must match one of the connector's `hosts` patterns
//!   (a URL without a port means the scheme's default, 80 or 443);
//! - anything else is answered with the HTTP error code
//!   `HTTP-request-denied`, which the guest sees as an ordinary failed
//!   request (it can report it), not as a trap.
//!
//! Allowed requests are buffered (bounded by [`Limits`](super::Limits))
//! and handed to an [`HttpClient`]. The default one,
//! [`DefaultHttpClient`], is wasmtime-wasi-http's own client (rustls with
//! the webpki roots, no proxy, no credentials). An application replaces it to
//! add credentials, a proxy or a recording, and tests replace it to script
//! replies; either way the policy stays in front. Buffering keeps the client
//! interface simple (`Request<Bytes>` → `Response<Bytes>`) and bounds both
//! directions: connectors exchange API documents, not streams.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full, Limited};
use wasmtime_wasi_http::{RequestOptions, WasiBody, WasiHttpHooks};

use crate::spec::HostPattern;

/// The error type of an [`HttpClient`]: wasmtime-wasi-http's error, which
/// maps one to one onto the `error-code` the guest sees.
pub type HttpError = wasmtime_wasi_http::Error;

/// What an [`HttpClient`] returns: a future of the whole response.
pub type HttpFuture =
    Pin<Box<dyn Future<Output = Result<http::Response<Bytes>, HttpError>> + Send>>;

/// Bounds for one request, from the node's [`Limits`](super::Limits) and
/// what the guest asked for (never more than the limits).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpOptions {
    /// The longest wait to connect.
    pub connect_timeout: Duration,
    /// The longest wait for the first byte of the response.
    pub first_byte_timeout: Duration,
    /// The longest wait between two bytes of the response body.
    pub between_bytes_timeout: Duration,
    /// The largest response body the client may return; a larger one must be
    /// refused with [`HttpError::HttpResponseBodySize`].
    pub max_response_bytes: usize,
}

/// Sends one HTTP request that the policy allowed.
///
/// Implementations run on a tokio runtime (the futures are polled by
/// wasmtime-wasi's runtime); they must honour the timeouts and the response
/// limit of [`HttpOptions`]. The request's URI is absolute (scheme and
/// authority included).
pub trait HttpClient: Send + Sync + 'static {
    /// Sends `request` and returns the whole response.
    fn send(&self, request: http::Request<Bytes>, options: HttpOptions) -> HttpFuture;
}

/// wasmtime-wasi-http's built-in client: a fresh HTTP/1.1 connection per
/// request, TLS with rustls and the webpki roots, no proxy and no
/// credentials.
#[derive(Debug, Clone, Copy, Default)]
pub struct DefaultHttpClient;

impl HttpClient for DefaultHttpClient {
    fn send(&self, request: http::Request<Bytes>, options: HttpOptions) -> HttpFuture {
        Box::pin(async move {
            ensure_crypto_provider();
            let request = request.map(|body| Full::new(body).map_err(|never| match never {}));
            let (response, io) = wasmtime_wasi_http::default_send_request(
                request,
                Some(RequestOptions {
                    connect_timeout: Some(options.connect_timeout),
                    first_byte_timeout: Some(options.first_byte_timeout),
                    between_bytes_timeout: Some(options.between_bytes_timeout),
                }),
            )
            .await?;
            // The connection is driven by `io` while the body is read.
            let io = wasmtime_wasi::runtime::spawn(io);
            let (parts, body) = response.into_parts();
            let body = Limited::new(body, options.max_response_bytes)
                .collect()
                .await
                .map_err(|e| match e.downcast::<HttpError>() {
                    Ok(e) => *e,
                    Err(_) => HttpError::HttpResponseBodySize(None),
                })?
                .to_bytes();
            drop(io);
            Ok(http::Response::from_parts(parts, body))
        })
    }
}

/// wasmtime-wasi-http's client builds its TLS configuration from rustls's
/// process-wide default crypto provider. When a build enables more than one
/// provider (the workspace's other crates bring aws-lc-rs, wasmtime-wasi-http
/// brings ring) rustls cannot choose one and would panic, so install ring
/// when no default has been installed. An application that installs its own
/// default first keeps it.
fn ensure_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Losing a race with another installer is fine: a default exists.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}

/// The per-call `wasi:http` policy: grants, destinations, bounds, and the
/// client behind them.
pub(super) struct HttpPolicy {
    pub(super) read: bool,
    pub(super) write: bool,
    pub(super) hosts: Arc<[HostPattern]>,
    pub(super) client: Arc<dyn HttpClient>,
    pub(super) timeout: Duration,
    pub(super) max_request_bytes: usize,
    pub(super) max_response_bytes: usize,
}

impl fmt::Debug for HttpPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpPolicy")
            .field("read", &self.read)
            .field("write", &self.write)
            .field("hosts", &self.hosts)
            .finish_non_exhaustive()
    }
}

impl HttpPolicy {
    /// Whether a request with `method` to `uri` may be sent.
    pub(super) fn allows(&self, method: &http::Method, uri: &http::Uri) -> bool {
        let method_ok = self.write
            || (self.read
                && matches!(
                    *method,
                    http::Method::GET | http::Method::HEAD | http::Method::OPTIONS
                ));
        if !method_ok {
            return false;
        }
        let default_port = match uri.scheme_str() {
            Some("http") => 80,
            Some("https") => 443,
            _ => return false,
        };
        let Some(host) = uri.host() else {
            return false;
        };
        let port = uri.port_u16().unwrap_or(default_port);
        self.hosts
            .iter()
            .any(|pattern| pattern.matches(host, port, default_port))
    }

    fn options(&self, asked: Option<RequestOptions>) -> HttpOptions {
        let cap = |d: Option<Duration>| d.map_or(self.timeout, |d| d.min(self.timeout));
        let asked = asked.unwrap_or_default();
        HttpOptions {
            connect_timeout: cap(asked.connect_timeout),
            first_byte_timeout: cap(asked.first_byte_timeout),
            between_bytes_timeout: cap(asked.between_bytes_timeout),
            max_response_bytes: self.max_response_bytes,
        }
    }
}

type IoFuture = Box<dyn Future<Output = Result<(), HttpError>> + Send>;

impl WasiHttpHooks for HttpPolicy {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _fut: IoFuture,
    ) -> Box<dyn Future<Output = Result<(http::Response<WasiBody>, IoFuture), HttpError>> + Send>
    {
        if !self.allows(request.method(), request.uri()) {
            return Box::new(async { Err(HttpError::HttpRequestDenied) });
        }
        let options = self.options(options);
        let client = Arc::clone(&self.client);
        let max_request = self.max_request_bytes;
        Box::new(async move {
            let (parts, body) = request.into_parts();
            let body = Limited::new(body, max_request)
                .collect()
                .await
                .map_err(|e| match e.downcast::<HttpError>() {
                    Ok(e) => *e,
                    Err(_) => HttpError::HttpRequestBodySize(None),
                })?
                .to_bytes();
            let response = client
                .send(http::Request::from_parts(parts, body), options)
                .await?;
            if response.body().len() > options.max_response_bytes {
                return Err(HttpError::HttpResponseBodySize(Some(
                    response.body().len() as u64
                )));
            }
            let response = response.map(|body| {
                Full::new(body)
                    .map_err(|never| match never {})
                    .boxed_unsync()
            });
            Ok((response, Box::new(async { Ok(()) }) as IoFuture))
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn policy(read: bool, write: bool, hosts: &[&str]) -> HttpPolicy {
        HttpPolicy {
            read,
            write,
            hosts: hosts
                .iter()
                .map(|h| HostPattern::parse(h).unwrap())
                .collect(),
            client: Arc::new(DefaultHttpClient),
            timeout: Duration::from_secs(1),
            max_request_bytes: 10,
            max_response_bytes: 10,
        }
    }

    fn allows(p: &HttpPolicy, method: &str, uri: &str) -> bool {
        p.allows(&method.parse().unwrap(), &uri.parse().unwrap())
    }

    #[test]
    fn read_allows_safe_methods_only() {
        let p = policy(true, false, &["api.example.com"]);
        for m in ["GET", "HEAD", "OPTIONS"] {
            assert!(allows(&p, m, "https://api.example.com/x"), "{m}");
        }
        for m in ["POST", "PUT", "DELETE", "PATCH"] {
            assert!(!allows(&p, m, "https://api.example.com/x"), "{m}");
        }
        let w = policy(false, true, &["api.example.com"]);
        for m in ["GET", "POST", "DELETE"] {
            assert!(allows(&w, m, "https://api.example.com/x"), "{m}");
        }
        let none = policy(false, false, &["api.example.com"]);
        assert!(!allows(&none, "GET", "https://api.example.com/x"));
    }

    #[test]
    fn destinations_must_match_hosts() {
        let p = policy(
            true,
            false,
            &["api.example.com", "*.googleapis.com", "127.0.0.1:8080"],
        );
        assert!(allows(&p, "GET", "https://api.example.com/"));
        assert!(allows(&p, "GET", "http://api.example.com/"));
        assert!(allows(&p, "GET", "https://api.example.com:443/"));
        assert!(!allows(&p, "GET", "https://api.example.com:8443/"));
        assert!(!allows(&p, "GET", "http://api.example.com:443/"));
        assert!(!allows(&p, "GET", "https://evil.example.com/"));
        assert!(allows(&p, "GET", "https://www.googleapis.com/"));
        assert!(!allows(&p, "GET", "https://googleapis.com/"));
        assert!(allows(&p, "GET", "http://127.0.0.1:8080/"));
        assert!(!allows(&p, "GET", "http://127.0.0.1/"));
        assert!(!allows(&p, "GET", "/relative"));
        assert!(!allows(&p, "GET", "ftp://api.example.com/"));
    }

    /// A client that records what reaches it and answers 200 `pong`.
    #[derive(Default)]
    struct Recorder(std::sync::Mutex<Vec<(String, String, Bytes, HttpOptions)>>);

    impl HttpClient for Recorder {
        fn send(&self, request: http::Request<Bytes>, options: HttpOptions) -> HttpFuture {
            self.0.lock().unwrap().push((
                request.method().to_string(),
                request.uri().to_string(),
                request.body().clone(),
                options,
            ));
            Box::pin(async { Ok(http::Response::new(Bytes::from_static(b"pong"))) })
        }
    }

    fn send(
        policy: &mut HttpPolicy,
        method: &str,
        uri: &str,
        body: &'static [u8],
    ) -> Result<Bytes, HttpError> {
        let request = http::Request::builder()
            .method(method)
            .uri(uri)
            .body(
                Full::new(Bytes::from_static(body))
                    .map_err(|never| match never {})
                    .boxed_unsync(),
            )
            .unwrap();
        let future = policy.send_request(request, None, Box::new(async { Ok(()) }));
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let (response, _io) = Pin::from(future).await?;
            Ok(response.into_body().collect().await?.to_bytes())
        })
    }

    #[test]
    fn only_allowed_requests_reach_the_client() {
        let recorder = Arc::new(Recorder::default());
        let mut p = policy(true, false, &["api.example.com"]);
        p.client = recorder.clone();
        assert!(matches!(
            send(&mut p, "POST", "https://api.example.com/x", b"data"),
            Err(HttpError::HttpRequestDenied)
        ));
        assert!(matches!(
            send(&mut p, "GET", "https://other.example.com/x", b""),
            Err(HttpError::HttpRequestDenied)
        ));
        assert!(recorder.0.lock().unwrap().is_empty());

        assert_eq!(
            send(&mut p, "GET", "https://api.example.com/x", b"").unwrap(),
            "pong"
        );
        // A request body over the limit never reaches the client.
        assert!(matches!(
            send(
                &mut p,
                "GET",
                "https://api.example.com/x",
                b"more than ten bytes"
            ),
            Err(HttpError::HttpRequestBodySize(_))
        ));
        let seen = recorder.0.lock().unwrap();
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].0, "GET");
        assert_eq!(seen[0].1, "https://api.example.com/x");
        assert_eq!(seen[0].3.first_byte_timeout, Duration::from_secs(1));
        assert_eq!(seen[0].3.max_response_bytes, 10);
    }

    #[test]
    fn timeouts_never_exceed_the_limit() {
        let p = policy(true, false, &[]);
        let o = p.options(Some(RequestOptions {
            connect_timeout: Some(Duration::from_secs(600)),
            first_byte_timeout: Some(Duration::from_millis(5)),
            between_bytes_timeout: None,
        }));
        assert_eq!(o.connect_timeout, Duration::from_secs(1));
        assert_eq!(o.first_byte_timeout, Duration::from_millis(5));
        assert_eq!(o.between_bytes_timeout, Duration::from_secs(1));
    }
}
