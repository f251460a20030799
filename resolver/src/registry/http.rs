//! One registry host over HTTP: scheme and TLS roots, the auth challenge
//! (Basic, or Bearer through the token endpoint with the right scope),
//! retries with backoff, and a bound on concurrent connections. What the
//! server sends besides the bodies callers stream (error bodies, token
//! answers) is capped in size and read within a deadline, see [`read_body`].
//!
//! Why not oci-client for pulls: it buffers manifests without a size bound,
//! hides response headers (so `Retry-After` cannot be honoured), and has no
//! retry or resume hooks. Pulling is three GET shapes, so we speak HTTP
//! ourselves on reqwest and keep full control of what is sent where.
//! `mirror`'s writes (streamed uploads, mounts) go through the same
//! transport ([`Transport::send_write`]) with a push scope.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue, RETRY_AFTER, WWW_AUTHENTICATE};
use reqwest::{Method, Response, StatusCode};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::credentials::{Credential, Secret};

/// Retry settings (`[network]` in `latticeflow.toml`).
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Retries after the first attempt.
    pub retries: u32,
    /// First backoff delay.
    pub base: Duration,
    /// Largest single delay (also caps `Retry-After`).
    pub max_delay: Duration,
    /// Total time budget for one request including retries.
    pub budget: Duration,
}

impl RetryPolicy {
    /// The delay before retry number `attempt` (1-based): exponential with
    /// full jitter, or what `Retry-After` asked for (capped).
    pub fn delay(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        if let Some(asked) = retry_after {
            return asked.min(self.max_delay);
        }
        let exp = self
            .base
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(16));
        let cap = exp.min(self.max_delay);
        // Full jitter: uniform in [cap/2, cap], so retries of parallel jobs spread out.
        let half = cap / 2;
        half + Duration::from_nanos(fastrand::u64(
            0..=u64::try_from(half.as_nanos()).unwrap_or(u64::MAX),
        ))
    }
}

/// Why an HTTP exchange failed (after retries).
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// The connection failed or timed out.
    #[error("{0}")]
    Connect(String),
    /// The server answered with an error status.
    #[error("HTTP {status}{}", body_summary(.body))]
    Status {
        /// The status.
        status: StatusCode,
        /// The start of the body (registry error JSON, usually).
        body: String,
    },
    /// Authentication failed.
    #[error("{0}")]
    Unauthorized(String),
    /// The server broke the protocol.
    #[error("{0}")]
    Protocol(String),
}

fn body_summary(body: &str) -> String {
    // Registry errors are JSON `{"errors":[{"code","message"}]}`; show the codes.
    #[derive(serde::Deserialize)]
    struct Envelope {
        errors: Vec<Entry>,
    }
    #[derive(serde::Deserialize)]
    struct Entry {
        code: String,
        #[serde(default)]
        message: String,
    }
    match serde_json::from_str::<Envelope>(body) {
        Ok(env) if !env.errors.is_empty() => {
            let parts: Vec<String> = env
                .errors
                .iter()
                .map(|e| format!("{}: {}", e.code, e.message))
                .collect();
            format!(" ({})", parts.join("; "))
        }
        _ if body.trim().is_empty() => String::new(),
        _ => format!(" ({})", body.chars().take(200).collect::<String>().trim()),
    }
}

impl HttpError {
    /// Whether the registry said the thing does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, HttpError::Status { status, .. } if *status == StatusCode::NOT_FOUND)
    }
}

/// A parsed `WWW-Authenticate` challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Challenge {
    /// `Basic realm=...`.
    Basic,
    /// `Bearer realm=...,service=...,scope=...`.
    Bearer {
        /// The token endpoint.
        realm: String,
        /// The `service` parameter.
        service: Option<String>,
        /// The `scope` the registry asked for. Never used for the token
        /// request: that asks for the scope of the request we made.
        scope: Option<String>,
    },
}

/// Parses a `WWW-Authenticate` header. Hand-written: the grammar we need is
/// a scheme and comma-separated `key="value"` pairs, and the crates for it are
/// unmaintained.
pub fn parse_challenge(header: &str) -> Option<Challenge> {
    let header = header.trim();
    let (scheme, rest) = header.split_once(' ').unwrap_or((header, ""));
    let mut params: HashMap<String, String> = HashMap::new();
    let mut rest = rest.trim();
    while !rest.is_empty() {
        let (key, after) = rest.split_once('=')?;
        let key = key
            .trim()
            .trim_start_matches(',')
            .trim()
            .to_ascii_lowercase();
        let after = after.trim_start();
        let (value, remainder) = if let Some(quoted) = after.strip_prefix('"') {
            let mut value = String::new();
            let mut chars = quoted.char_indices();
            let mut end = None;
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, next)) = chars.next() {
                            value.push(next);
                        }
                    }
                    '"' => {
                        end = Some(i + 1);
                        break;
                    }
                    c => value.push(c),
                }
            }
            (value, &quoted[end?..])
        } else {
            let end = after.find(',').unwrap_or(after.len());
            (after[..end].trim().to_owned(), &after[end..])
        };
        params.insert(key, value);
        rest = remainder.trim_start().trim_start_matches(',').trim_start();
    }
    match scheme.to_ascii_lowercase().as_str() {
        "basic" => Some(Challenge::Basic),
        "bearer" => Some(Challenge::Bearer {
            realm: params.remove("realm")?,
            service: params.remove("service"),
            scope: params.remove("scope"),
        }),
        _ => None,
    }
}

/// One registry host (an origin or a mirror).
#[derive(Debug)]
pub struct Transport {
    client: reqwest::Client,
    base: String,
    credential: Credential,
    tokens: Mutex<HashMap<String, Secret>>,
    basic_challenged: std::sync::atomic::AtomicBool,
    limit: Arc<Semaphore>,
    policy: RetryPolicy,
    plain_http: bool,
    /// The network timeout: the bound for reading an error body, and half
    /// the bound for a token exchange.
    timeout: Duration,
}

/// A write's scope and body (see [`Transport::send_write`]).
pub struct Write<'a> {
    /// The token scope, e.g. `repository:acme/x:pull,push`.
    pub scope: String,
    /// The `Accept` header.
    pub accept: Option<&'a str>,
    /// The `Content-Type` header.
    pub content_type: Option<&'a str>,
    /// The body's exact length (with `body`).
    pub content_length: u64,
    /// Makes the body; called once per attempt. `None`: an empty body.
    pub body: Option<&'a (dyn Fn() -> reqwest::Body + Send + Sync)>,
}

impl std::fmt::Debug for Write<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Write")
            .field("scope", &self.scope)
            .field("content_length", &self.content_length)
            .finish_non_exhaustive()
    }
}

/// What to send besides method and path.
#[derive(Debug, Default, Clone)]
pub struct RequestOptions<'a> {
    /// The `Accept` header.
    pub accept: Option<&'a str>,
    /// A `Range: bytes=N-` start.
    pub range_from: Option<u64>,
}

impl Transport {
    /// A transport for `host` (`host[:port]`).
    pub fn new(
        client: reqwest::Client,
        host: &str,
        plain_http: bool,
        credential: Credential,
        max_connections: u32,
        policy: RetryPolicy,
        timeout: Duration,
    ) -> Transport {
        let scheme = if plain_http { "http" } else { "https" };
        Transport {
            client,
            base: format!("{scheme}://{host}"),
            credential,
            tokens: Mutex::new(HashMap::new()),
            basic_challenged: std::sync::atomic::AtomicBool::new(false),
            limit: Arc::new(Semaphore::new(max_connections.max(1) as usize)),
            policy,
            plain_http,
            timeout,
        }
    }

    /// The base URL (`https://host`).
    pub fn base(&self) -> &str {
        &self.base
    }

    /// Sends `method` to `/v2/{repository}/{path}` with auth and retries.
    /// Returns a successful response and the connection permit to hold while
    /// reading its body; error statuses become [`HttpError::Status`].
    pub async fn send(
        &self,
        method: Method,
        repository: &str,
        path: &str,
        options: &RequestOptions<'_>,
    ) -> Result<(Response, OwnedSemaphorePermit), HttpError> {
        // An empty repository pings `/v2/` (as `login` does), with no scope.
        let (url, scope) = if repository.is_empty() {
            (format!("{}/v2/", self.base), String::new())
        } else {
            (
                format!("{}/v2/{repository}/{path}", self.base),
                format!("repository:{repository}:pull"),
            )
        };
        self.exchange(method, url, &scope, options, None).await
    }

    /// Sends a write (`registry::push`): `target` is a path below this host
    /// (`/v2/…`) or an absolute URL on it (an upload `Location`); a URL on
    /// another host is refused, so credentials never leave the registry.
    /// The token asked for has `write.scope`; the body is made anew for
    /// every attempt.
    pub async fn send_write(
        &self,
        method: Method,
        target: &str,
        write: &Write<'_>,
    ) -> Result<(Response, OwnedSemaphorePermit), HttpError> {
        let url = if target.starts_with('/') {
            format!("{}{target}", self.base)
        } else if target
            .strip_prefix(&self.base)
            .is_some_and(|rest| rest.starts_with('/'))
        {
            target.to_owned()
        } else {
            return Err(HttpError::Protocol(format!(
                "the registry at {} sent us to `{target}`, another host; refusing to follow",
                self.base
            )));
        };
        let options = RequestOptions {
            accept: write.accept,
            range_from: None,
        };
        self.exchange(method, url, &write.scope, &options, Some(write))
            .await
    }

    async fn exchange(
        &self,
        method: Method,
        url: String,
        scope: &str,
        options: &RequestOptions<'_>,
        write: Option<&Write<'_>>,
    ) -> Result<(Response, OwnedSemaphorePermit), HttpError> {
        let started = Instant::now();
        let mut attempt = 0u32;
        let mut reauthenticated = false;
        loop {
            let permit = Arc::clone(&self.limit)
                .acquire_owned()
                .await
                .map_err(|_| HttpError::Protocol("connection limiter closed".to_owned()))?;
            let mut request = self.client.request(method.clone(), &url);
            if let Some(accept) = options.accept {
                request = request.header(reqwest::header::ACCEPT, accept);
            }
            if let Some(from) = options.range_from {
                request = request.header(reqwest::header::RANGE, format!("bytes={from}-"));
            }
            if let Some(write) = write {
                if let Some(content_type) = write.content_type {
                    request = request.header(reqwest::header::CONTENT_TYPE, content_type);
                }
                if let Some(body) = write.body {
                    request = request
                        .header(reqwest::header::CONTENT_LENGTH, write.content_length)
                        .body(body());
                } else {
                    request = request.header(reqwest::header::CONTENT_LENGTH, 0);
                }
            }
            if let Some(auth) = self.authorization(scope)? {
                request = request.header(AUTHORIZATION, auth);
            }
            // reqwest's read timeout bounds the whole response head (it is
            // not restarted by each byte), so trickled headers end here too.
            let outcome = request.send().await;
            let retryable: (String, Option<Duration>) = match outcome {
                Ok(response) if response.status().is_success() => return Ok((response, permit)),
                Ok(response)
                    if response.status() == StatusCode::UNAUTHORIZED && !reauthenticated =>
                {
                    drop(permit);
                    reauthenticated = true;
                    self.authenticate(response.headers(), scope).await?;
                    continue;
                }
                Ok(response) if response.status() == StatusCode::UNAUTHORIZED => {
                    let body = self.error_body(response).await;
                    return Err(HttpError::Unauthorized(format!(
                        "{url} answered 401 with the credentials we have{}; log in with `lf-resolve login` or set LF_REGISTRY_*",
                        body_summary(&body)
                    )));
                }
                Ok(response) => {
                    let status = response.status();
                    let retry_after = parse_retry_after(response.headers());
                    let body = self.error_body(response).await;
                    if !(status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error()) {
                        return Err(HttpError::Status { status, body });
                    }
                    let error = HttpError::Status { status, body };
                    if !self.may_retry(attempt, started, retry_after) {
                        return Err(error);
                    }
                    (error.to_string(), retry_after)
                }
                Err(e) => {
                    let error = HttpError::Connect(error_chain(&e));
                    if !(e.is_connect() || e.is_timeout() || e.is_request() || e.is_body())
                        || !self.may_retry(attempt, started, None)
                    {
                        return Err(error);
                    }
                    (error.to_string(), None)
                }
            };
            attempt += 1;
            let delay = self.policy.delay(attempt, retryable.1);
            tracing::info!(
                "{method} {url}: {}; retry {attempt}/{} in {:.1}s",
                retryable.0,
                self.policy.retries,
                delay.as_secs_f64()
            );
            tokio::time::sleep(delay).await;
        }
    }

    /// The start of an error answer's body, for the message: at most
    /// [`MAX_ERROR_BODY`] bytes, read for at most the timeout.
    async fn error_body(&self, response: Response) -> String {
        use futures_util::StreamExt as _;
        let deadline = Instant::now() + self.timeout;
        let mut body = Vec::new();
        let mut stream = response.bytes_stream();
        while (body.len() as u64) < MAX_ERROR_BODY {
            match tokio::time::timeout_at(deadline.into(), stream.next()).await {
                Ok(Some(Ok(chunk))) => body.extend_from_slice(&chunk),
                _ => break,
            }
        }
        body.truncate(usize::try_from(MAX_ERROR_BODY).unwrap_or(usize::MAX));
        String::from_utf8_lossy(&body).into_owned()
    }

    /// Whether another attempt fits the policy's count and time budget.
    pub fn may_retry(
        &self,
        attempts_so_far: u32,
        started: Instant,
        retry_after: Option<Duration>,
    ) -> bool {
        attempts_so_far < self.policy.retries
            && started.elapsed() + self.policy.delay(attempts_so_far + 1, retry_after)
                < self.policy.budget
    }

    /// The retry policy.
    pub fn policy(&self) -> RetryPolicy {
        self.policy
    }

    fn authorization(&self, scope: &str) -> Result<Option<HeaderValue>, HttpError> {
        let value = if let Some(token) = self.tokens.lock().map_err(poisoned)?.get(scope) {
            format!("Bearer {}", token.expose())
        } else {
            match &self.credential {
                Credential::Bearer(token) => format!("Bearer {}", token.expose()),
                Credential::Basic { username, password }
                    if self
                        .basic_challenged
                        .load(std::sync::atomic::Ordering::Relaxed) =>
                {
                    basic(username, password)
                }
                _ => return Ok(None),
            }
        };
        let mut header = HeaderValue::from_str(&value).map_err(|_| {
            HttpError::Protocol("a credential holds characters not allowed in a header".to_owned())
        })?;
        header.set_sensitive(true);
        Ok(Some(header))
    }

    async fn authenticate(&self, headers: &HeaderMap, scope: &str) -> Result<(), HttpError> {
        let challenge = headers
            .get_all(WWW_AUTHENTICATE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .filter_map(parse_challenge)
            .find(|c| matches!(c, Challenge::Bearer { .. }))
            .or_else(|| {
                headers
                    .get(WWW_AUTHENTICATE)
                    .and_then(|v| v.to_str().ok())
                    .and_then(parse_challenge)
            });
        match challenge {
            Some(Challenge::Basic) => match &self.credential {
                Credential::Basic { .. } => {
                    self.basic_challenged
                        .store(true, std::sync::atomic::Ordering::Relaxed);
                    Ok(())
                }
                _ => Err(HttpError::Unauthorized(format!(
                    "{} requires a user name and password; log in with `lf-resolve login` or set LF_REGISTRY_HOST, LF_REGISTRY_USERNAME and LF_REGISTRY_PASSWORD",
                    self.base
                ))),
            },
            // The scope is ours, whatever the challenge asks for: a registry
            // must not get our credentials used for another repository or
            // for `push` (only `send_write`, for `mirror`, asks for that).
            Some(Challenge::Bearer { realm, service, .. }) => {
                let token = self.fetch_token(&realm, service.as_deref(), scope).await?;
                self.tokens
                    .lock()
                    .map_err(poisoned)?
                    .insert(scope.to_owned(), token);
                Ok(())
            }
            None => Err(HttpError::Unauthorized(format!(
                "{} answered 401 without a usable WWW-Authenticate challenge",
                self.base
            ))),
        }
    }

    async fn fetch_token(
        &self,
        realm: &str,
        service: Option<&str>,
        scope: &str,
    ) -> Result<Secret, HttpError> {
        let mut realm_url = reqwest::Url::parse(realm).map_err(|e| {
            HttpError::Protocol(format!("the token realm `{realm}` is not a URL: {e}"))
        })?;
        let realm_is_loopback = realm_url.host_str().is_some_and(super::is_loopback);
        if realm_url.scheme() != "https" && !(self.plain_http && realm_is_loopback) {
            return Err(HttpError::Protocol(format!(
                "the registry sends us to `{realm}` for a token over plain HTTP; refusing to send credentials there"
            )));
        }
        {
            let mut query = realm_url.query_pairs_mut();
            if !scope.is_empty() {
                query.append_pair("scope", scope);
            }
            if let Some(service) = service {
                query.append_pair("service", service);
            }
        }
        let mut request = self.client.get(realm_url);
        match &self.credential {
            Credential::Basic { username, password } => {
                request = request.basic_auth(username, Some(password.expose()));
            }
            Credential::IdentityToken(token) => {
                // docker's refresh-token flow: POST the identity token.
                let mut form = vec![
                    ("grant_type", "refresh_token"),
                    ("refresh_token", token.expose()),
                    ("scope", scope),
                    ("client_id", "lf-resolve"),
                ];
                if let Some(service) = service {
                    form.push(("service", service));
                }
                let body = form
                    .iter()
                    .map(|(k, v)| format!("{k}={}", url_encode(v)))
                    .collect::<Vec<_>>()
                    .join("&");
                request = self
                    .client
                    .post(realm)
                    .header(
                        reqwest::header::CONTENT_TYPE,
                        "application/x-www-form-urlencoded",
                    )
                    .body(body);
            }
            Credential::Bearer(_) | Credential::Anonymous => {}
        }
        let deadline = Instant::now() + self.timeout.saturating_mul(2);
        let response = tokio::time::timeout_at(deadline.into(), request.send())
            .await
            .map_err(|_| {
                HttpError::Connect(format!(
                    "token endpoint {realm}: no answer within {}s",
                    self.timeout.saturating_mul(2).as_secs_f64()
                ))
            })?
            .map_err(|e| {
                HttpError::Connect(format!("token endpoint {realm}: {}", error_chain(&e)))
            })?;
        let status = response.status();
        let body = match read_body(response, MAX_TOKEN_BODY, deadline).await {
            Ok(body) => String::from_utf8_lossy(&body).into_owned(),
            Err(BodyError::TooLarge { size }) => {
                return Err(HttpError::Protocol(format!(
                    "the token endpoint {realm} answered {size} bytes or more, over the {MAX_TOKEN_BODY}-byte limit"
                )));
            }
            Err(BodyError::TooSlow { read }) => {
                return Err(HttpError::Connect(format!(
                    "token endpoint {realm}: the answer was not complete within {}s ({read} bytes)",
                    self.timeout.saturating_mul(2).as_secs_f64()
                )));
            }
            Err(BodyError::Broken { reason, .. }) => {
                return Err(HttpError::Connect(format!(
                    "token endpoint {realm}: {reason}"
                )));
            }
        };
        if !status.is_success() {
            return Err(HttpError::Unauthorized(format!(
                "the token endpoint {realm} refused scope `{scope}`: HTTP {status}{}",
                body_summary(&body)
            )));
        }
        #[derive(serde::Deserialize)]
        struct TokenReply {
            token: Option<String>,
            access_token: Option<String>,
        }
        let reply: TokenReply = serde_json::from_str(&body).map_err(|e| {
            HttpError::Protocol(format!(
                "the token endpoint {realm} answered something other than a token: {e}"
            ))
        })?;
        reply
            .token
            .or(reply.access_token)
            .filter(|t| !t.is_empty())
            .map(Secret::new)
            .ok_or_else(|| {
                HttpError::Protocol(format!(
                    "the token endpoint {realm} answered without a token"
                ))
            })
    }
}

/// The most of an error body we read: enough for a registry's JSON errors.
const MAX_ERROR_BODY: u64 = 16 * 1024;

/// The most of a token endpoint's answer we read.
const MAX_TOKEN_BODY: u64 = 64 * 1024;

/// Why [`read_body`] stopped before the end of a body.
#[derive(Debug)]
pub enum BodyError {
    /// The body is (or says it is) larger than the cap.
    TooLarge {
        /// Its size, or the bytes received before it crossed the cap.
        size: u64,
    },
    /// The deadline passed first.
    TooSlow {
        /// Bytes received by then.
        read: u64,
    },
    /// The connection failed.
    Broken {
        /// Bytes received before.
        read: u64,
        /// The error.
        reason: String,
    },
}

/// Reads a whole body into memory, refusing more than `cap` bytes and
/// giving up at `deadline`, however the bytes are paced.
pub async fn read_body(
    response: Response,
    cap: u64,
    deadline: Instant,
) -> Result<Vec<u8>, BodyError> {
    use futures_util::StreamExt as _;
    if let Some(length) = response.content_length()
        && length > cap
    {
        return Err(BodyError::TooLarge { size: length });
    }
    let mut body = Vec::new();
    let mut stream = response.bytes_stream();
    loop {
        let read = body.len() as u64;
        let next = tokio::time::timeout_at(deadline.into(), stream.next())
            .await
            .map_err(|_| BodyError::TooSlow { read })?;
        match next {
            None => return Ok(body),
            Some(Ok(chunk)) => {
                let size = read.saturating_add(chunk.len() as u64);
                if size > cap {
                    return Err(BodyError::TooLarge { size });
                }
                body.extend_from_slice(&chunk);
            }
            Some(Err(e)) => {
                return Err(BodyError::Broken {
                    read,
                    reason: error_chain(&e),
                });
            }
        }
    }
}

fn basic(username: &str, password: &Secret) -> String {
    use base64::Engine as _;
    let raw = format!("{username}:{}", password.expose());
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(raw)
    )
}

fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char);
            }
            other => out.push_str(&format!("%{other:02X}")),
        }
    }
    out
}

fn poisoned<T>(_: std::sync::PoisonError<T>) -> HttpError {
    HttpError::Protocol("internal lock poisoned".to_owned())
}

/// `Retry-After` as seconds or an HTTP date.
fn parse_retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let when = httpdate_parse(value)?;
    Some(
        when.duration_since(std::time::SystemTime::now())
            .unwrap_or_default(),
    )
}

/// Parses an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), the only form
/// servers send today.
fn httpdate_parse(s: &str) -> Option<std::time::SystemTime> {
    let parts: Vec<&str> = s.split_whitespace().collect();
    let [_, day, month, year, time, "GMT"] = parts.as_slice() else {
        return None;
    };
    let day: i64 = day.parse().ok()?;
    let month = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ]
    .iter()
    .position(|m| m == month)? as i64
        + 1;
    let year: i64 = year.parse().ok()?;
    let mut hms = time.split(':').map(|p| p.parse::<i64>().ok());
    let (h, m, sec) = (hms.next()??, hms.next()??, hms.next()??);
    // Days from civil (Howard Hinnant's algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + h * 3600 + m * 60 + sec;
    Some(std::time::UNIX_EPOCH + Duration::from_secs(u64::try_from(secs).ok()?))
}

/// An error and its causes on one line.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_challenges() {
        assert_eq!(
            parse_challenge(r#"Basic realm="Registry Realm""#),
            Some(Challenge::Basic)
        );
        assert_eq!(
            parse_challenge(
                r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull""#
            ),
            Some(Challenge::Bearer {
                realm: "https://auth.docker.io/token".into(),
                service: Some("registry.docker.io".into()),
                scope: Some("repository:library/alpine:pull".into()),
            })
        );
        assert_eq!(
            parse_challenge(r#"bearer realm="http://127.0.0.1:5001/token", service="x\"y""#),
            Some(Challenge::Bearer {
                realm: "http://127.0.0.1:5001/token".into(),
                service: Some("x\"y".into()),
                scope: None,
            })
        );
        assert_eq!(
            parse_challenge("Bearer service=x"),
            None,
            "realm is required"
        );
        assert_eq!(parse_challenge("Negotiate abc"), None);
    }

    #[test]
    fn backoff_grows_is_capped_and_honours_retry_after() {
        let policy = RetryPolicy {
            retries: 4,
            base: Duration::from_millis(100),
            max_delay: Duration::from_secs(2),
            budget: Duration::from_secs(60),
        };
        for attempt in 1..=8 {
            let d = policy.delay(attempt, None);
            let cap =
                (Duration::from_millis(100) * 2u32.pow(attempt - 1)).min(Duration::from_secs(2));
            assert!(d >= cap / 2 && d <= cap, "attempt {attempt}: {d:?}");
        }
        assert_eq!(
            policy.delay(1, Some(Duration::from_secs(1))),
            Duration::from_secs(1)
        );
        assert_eq!(
            policy.delay(1, Some(Duration::from_secs(3600))),
            Duration::from_secs(2)
        );
    }

    #[test]
    fn retry_after_as_seconds_or_date() {
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, HeaderValue::from_static("3"));
        assert_eq!(parse_retry_after(&h), Some(Duration::from_secs(3)));
        assert_eq!(
            httpdate_parse("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(std::time::UNIX_EPOCH + Duration::from_secs(784_111_777))
        );
        h.insert(
            RETRY_AFTER,
            HeaderValue::from_static("Sun, 06 Nov 1994 08:49:37 GMT"),
        );
        assert_eq!(
            parse_retry_after(&h),
            Some(Duration::ZERO),
            "a past date means now"
        );
    }

    #[test]
    fn writes_never_follow_a_location_to_another_host() {
        let transport = Transport::new(
            reqwest::Client::new(),
            "127.0.0.1:9",
            true,
            Credential::Anonymous,
            1,
            RetryPolicy {
                retries: 0,
                base: Duration::from_millis(1),
                max_delay: Duration::from_millis(1),
                budget: Duration::from_secs(1),
            },
            Duration::from_secs(1),
        );
        let write = Write {
            scope: "repository:a:pull,push".to_owned(),
            accept: None,
            content_type: None,
            content_length: 0,
            body: None,
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        for target in [
            "http://127.0.0.2:9/v2/a/blobs/uploads/1",
            "http://127.0.0.1:9.evil/v2/a",
            "https://127.0.0.1:9/v2/a",
            "http://127.0.0.1:90/v2/a",
        ] {
            let err = runtime
                .block_on(transport.send_write(Method::PUT, target, &write))
                .unwrap_err();
            assert!(
                matches!(&err, HttpError::Protocol(m) if m.contains("another host")),
                "{target}: {err}"
            );
        }
    }

    #[test]
    fn registry_error_bodies_are_summarised() {
        let body =
            r#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":{}}]}"#;
        assert_eq!(body_summary(body), " (MANIFEST_UNKNOWN: manifest unknown)");
        assert_eq!(body_summary(""), "");
    }
}
