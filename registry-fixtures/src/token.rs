//! A small token server for distribution's `auth.token`
//! ([`crate::RegistryBuilder::token_auth`]).
//!
//! It implements the Docker registry token protocol, the flow ghcr.io,
//! Docker Hub and Harbor use:
//!
//! 1. The registry answers an unauthenticated request with `401` and
//!    `Www-Authenticate: Bearer realm="http://127.0.0.1:PORT/token",service="lf-registry-fixtures",scope="repository:NAME:pull"`.
//! 2. The client asks the realm: `GET /token?service=...&scope=repository:NAME:pull,push`,
//!    with HTTP basic auth, or anonymously. `POST /token` with an OAuth2
//!    form (`grant_type=password`, `username`, `password`, `service`, `scope`)
//!    is accepted too, as containerd sends it.
//! 3. It answers `{"token": JWT, "access_token": JWT, "expires_in": 300, "issued_at": RFC 3339}`.
//!    Wrong credentials get `401` (no token). Anonymous requests get a token
//!    granting nothing, or only `pull` when [`crate::RegistryBuilder::token_anonymous_pull`]
//!    is set. A known user gets every action asked for (`pull`, `push`,
//!    `delete`, `*`) on the repositories asked for, and `registry:catalog:*`:
//!    the token holds exactly the requested scopes, so a token for repository
//!    A does not let its holder push to B.
//! 4. The client retries with `Authorization: Bearer JWT`.
//!
//! The JWT is RS256 over a fresh 2048-bit RSA key (aws-lc-rs through
//! `rcgen`), with the claims `iss` ([`TOKEN_ISSUER`]), `sub` (the user, empty
//! when anonymous), `aud` (the requested service), `exp`, `nbf`, `iat`, `jti`
//! and `access: [{"type", "name", "actions"}]`. How distribution 2.8.2 finds
//! the verification key is chosen with [`TokenKeyHeader`]: by `kid` (the
//! libtrust key ID of a certificate in `rootcertbundle`) or by `x5c` (a
//! certificate chain ending at a certificate in `rootcertbundle`).
//!
//! What distribution 2.8.2 checks in a token, measured against it (each
//! failure answers `401` with `error="invalid_token"` in the challenge and
//! logs the reason at `info`):
//!
//! - the key: `x5c` wins over `kid` when both are present (a wrong `kid` next
//!   to a good `x5c` passes); an `x5c` chain must verify up to a certificate
//!   of `rootcertbundle` ("unable to verify certificate chain"); a `kid` must
//!   be the libtrust ID of a `rootcertbundle` certificate's key ("token
//!   signed by untrusted key with ID"); neither: "unable to get token signing
//!   key";
//! - `alg` must match the signature ("invalid RS512 signature" for an RS256
//!   signature labelled RS512);
//! - `iss` must equal the configured issuer ("token from untrusted issuer");
//! - `aud` must be a *string* equal to the service: a JSON array (which
//!   RFC 7519 allows) is a "malformed token" in 2.8.2;
//! - `exp` is required (a missing one reads as 1970); `nbf` is optional; both
//!   get 60 s of leeway (expired 30 s ago or valid in 30 s passes, 90 s does
//!   not);
//! - `typ`, `sub`, `iat` and `jti` are not checked; a missing `access` is a
//!   valid token granting nothing (`error="insufficient_scope"`).
//!
//! The challenge's `scope` lists actions in random order
//! (`repository:x:push,pull` as often as `pull,push`): clients must not
//! compare it as a string.
//!
//! Every request to `/token` is recorded as a [`TokenRequest`] (user, asked
//! scopes, granted access, status), for tests that check which scope a client
//! asked for ([`crate::Registry::token_requests`]). Passwords are never
//! recorded.
//!
//! The server is a plain HTTP/1.1 listener on 127.0.0.1 with one thread per
//! connection and `Connection: close` on every answer: test support, not a
//! production server.

use std::fmt::Write as _;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    PKCS_RSA_SHA256, PublicKeyData as _, SigningKey as _,
};
use serde::Serialize;
use sha2::{Digest as _, Sha256};

use crate::tls::crypto_error;
use crate::{Error, io_error, yaml_string};

/// `service` of the registry's `auth.token` config: the `aud` of every token.
pub const TOKEN_SERVICE: &str = "lf-registry-fixtures";

/// `issuer` of the registry's `auth.token` config: the `iss` of every token.
pub const TOKEN_ISSUER: &str = "lf-registry-fixtures-token-server";

/// Lifetime of a token (`expires_in`, `exp - iat`), in seconds.
pub const TOKEN_LIFETIME_SECS: u64 = 300;

/// Realm announced by the token server itself when credentials are wrong
/// (`Www-Authenticate: Basic realm="..."`).
pub const TOKEN_SERVER_REALM: &str = "lf-registry-fixtures token server";

/// Largest request head (request line and headers) the server reads.
const MAX_HEAD: usize = 16 * 1024;

/// Largest `POST /token` body the server reads.
const MAX_BODY: usize = 64 * 1024;

/// How the JWT header names the key that verifies it; distribution 2.8.2
/// accepts either.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum TokenKeyHeader {
    /// `x5c`: the signing certificate (base64 DER), issued by a token CA
    /// whose certificate is the `rootcertbundle`; distribution verifies the
    /// chain. The default.
    #[default]
    X5c,
    /// `kid`: the libtrust key ID of the signing key (SHA-256 of its DER
    /// SubjectPublicKeyInfo, first 240 bits, base32 in twelve `:`-separated
    /// groups of four); the `rootcertbundle` is a self-signed certificate of
    /// the signing key itself, from which distribution computes the same ID.
    KeyId,
}

/// One access entry of a token: the `access` claim, and what the token
/// server granted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Access {
    /// `repository` (or `registry` for `registry:catalog:*`).
    #[serde(rename = "type")]
    pub kind: String,
    /// The repository name, e.g. `latticeflow/text-upper`.
    pub name: String,
    /// Granted actions, e.g. `["pull", "push"]`.
    pub actions: Vec<String>,
}

/// A request the token server answered, for tests.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TokenRequest {
    /// `GET` or `POST`.
    pub method: String,
    /// The user name the client presented (basic auth or the `username` form
    /// field), whether or not the password was right; `None` when anonymous.
    pub user: Option<String>,
    /// Whether `user` presented the right password.
    pub authenticated: bool,
    /// The `service` parameter.
    pub service: Option<String>,
    /// The `scope` parameters as sent, e.g. `repository:latticeflow/echo:pull,push`
    /// (several `scope` parameters, or space-separated scopes, give several).
    pub scopes: Vec<String>,
    /// What the issued token grants; empty when no token was issued.
    pub granted: Vec<Access>,
    /// The HTTP status of the answer: 200 with a token, 401 for wrong
    /// credentials, 400 for a bad request.
    pub status: u16,
}

/// Users and policy of a token server.
#[derive(Debug, Clone, Default)]
pub(crate) struct TokenConfig {
    /// `(user, password)` pairs; each gets what it asks for.
    pub(crate) users: Vec<(String, String)>,
    /// Whether anonymous requests get `pull`.
    pub(crate) anonymous_pull: bool,
    /// How the JWT names its key.
    pub(crate) key_header: TokenKeyHeader,
}

/// State shared with the connection threads.
#[derive(Debug)]
struct Shared {
    config: TokenConfig,
    key: KeyPair,
    /// The JWT header, base64url-encoded JSON: it is the same for every token.
    header_b64: String,
    requests: Mutex<Vec<TokenRequest>>,
    next_jti: AtomicU64,
}

/// A running token server; stopped when dropped.
#[derive(Debug)]
pub(crate) struct TokenServer {
    addr: SocketAddr,
    bundle_path: PathBuf,
    shared: Arc<Shared>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl TokenServer {
    /// Generates the signing key and certificates (writing the
    /// `rootcertbundle` under `dir/token/`) and starts serving on a free
    /// loopback port.
    pub(crate) fn start(config: TokenConfig, dir: &Path) -> Result<TokenServer, Error> {
        let token_dir = dir.join("token");
        std::fs::create_dir_all(&token_dir)
            .map_err(io_error(format!("cannot create {}", token_dir.display())))?;
        let key = KeyPair::generate_for(&PKCS_RSA_SHA256)
            .map_err(crypto_error("generate the token signing key"))?;

        let (bundle, header) = match config.key_header {
            TokenKeyHeader::KeyId => {
                let cert = signing_params("lf-registry-fixtures token signer")
                    .self_signed(&key)
                    .map_err(crypto_error("self-sign the token signing certificate"))?;
                let header = serde_json::json!({
                    "typ": "JWT",
                    "alg": "RS256",
                    "kid": libtrust_key_id(&key.subject_public_key_info()),
                });
                (cert.pem(), header)
            }
            TokenKeyHeader::X5c => {
                let ca_key =
                    KeyPair::generate().map_err(crypto_error("generate the token CA key"))?;
                let mut ca_params = CertificateParams::default();
                ca_params
                    .distinguished_name
                    .push(DnType::CommonName, "lf-registry-fixtures token CA");
                ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
                ca_params.key_usages = vec![
                    KeyUsagePurpose::KeyCertSign,
                    KeyUsagePurpose::DigitalSignature,
                ];
                let ca_cert = ca_params
                    .self_signed(&ca_key)
                    .map_err(crypto_error("self-sign the token CA certificate"))?;
                let ca = Issuer::new(ca_params, ca_key);
                let mut params = signing_params("lf-registry-fixtures token signer");
                params.is_ca = IsCa::ExplicitNoCa;
                let cert = params
                    .signed_by(&key, &ca)
                    .map_err(crypto_error("issue the token signing certificate"))?;
                let header = serde_json::json!({
                    "typ": "JWT",
                    "alg": "RS256",
                    "x5c": [STANDARD.encode(cert.der())],
                });
                (ca_cert.pem(), header)
            }
        };
        let bundle_path = token_dir.join("rootcertbundle.pem");
        std::fs::write(&bundle_path, bundle)
            .map_err(io_error(format!("cannot write {}", bundle_path.display())))?;

        let listener = TcpListener::bind(("127.0.0.1", 0))
            .map_err(io_error("cannot bind the token server to 127.0.0.1"))?;
        let addr = listener
            .local_addr()
            .map_err(io_error("cannot read the token server's address"))?;
        let shared = Arc::new(Shared {
            config,
            key,
            header_b64: URL_SAFE_NO_PAD.encode(header.to_string()),
            requests: Mutex::default(),
            next_jti: AtomicU64::new(1),
        });
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let shared = Arc::clone(&shared);
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || accept_loop(&listener, &shared, &stop))
        };
        Ok(TokenServer {
            addr,
            bundle_path,
            shared,
            stop,
            thread: Some(thread),
        })
    }

    /// `http://127.0.0.1:PORT/token`: the `realm` of the challenge.
    pub(crate) fn realm(&self) -> String {
        format!("http://{}/token", self.addr)
    }

    /// The requests answered so far, oldest first.
    pub(crate) fn requests(&self) -> Vec<TokenRequest> {
        lock(&self.shared.requests).clone()
    }

    /// The first configured user, if any.
    pub(crate) fn first_user(&self) -> Option<(&str, &str)> {
        self.shared
            .config
            .users
            .first()
            .map(|(user, password)| (user.as_str(), password.as_str()))
    }

    /// Path of the PEM bundle distribution verifies tokens against.
    pub(crate) fn bundle_path(&self) -> &Path {
        &self.bundle_path
    }

    /// The `auth:` section of the registry config.
    pub(crate) fn config_yaml(&self) -> String {
        format!(
            "auth:\n  token:\n    realm: {}\n    service: {}\n    issuer: {}\n    rootcertbundle: {}\n",
            yaml_string(&self.realm()),
            yaml_string(TOKEN_SERVICE),
            yaml_string(TOKEN_ISSUER),
            yaml_string(&self.bundle_path.to_string_lossy()),
        )
    }
}

impl Drop for TokenServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop; it sees the flag and returns.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Parameters of the token signing certificate.
fn signing_params(common_name: &str) -> CertificateParams {
    let mut params = CertificateParams::default();
    params
        .distinguished_name
        .push(DnType::CommonName, common_name);
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params
}

/// The libtrust key ID distribution 2.8.2 computes for a public key (its
/// `trustedKeys` map and the `kid` lookup): SHA-256 of the DER
/// SubjectPublicKeyInfo, truncated to 30 bytes, base32 (RFC 4648, no
/// padding), in groups of four joined with `:`.
pub fn libtrust_key_id(spki_der: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let digest = Sha256::digest(spki_der);
    // 30 bytes = 240 bits = 48 base32 characters, no padding needed.
    let mut chars = Vec::with_capacity(48);
    for chunk in digest[..30].chunks(5) {
        let mut bits = 0u64;
        for byte in chunk {
            bits = (bits << 8) | u64::from(*byte);
        }
        for i in (0..8).rev() {
            chars.push(ALPHABET[((bits >> (i * 5)) & 31) as usize]);
        }
    }
    chars
        .chunks(4)
        .map(|group| String::from_utf8_lossy(group).into_owned())
        .collect::<Vec<_>>()
        .join(":")
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn accept_loop(listener: &TcpListener, shared: &Arc<Shared>, stop: &AtomicBool) {
    for stream in listener.incoming() {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let Ok(stream) = stream else { continue };
        let shared = Arc::clone(shared);
        std::thread::spawn(move || {
            // A client that hangs up early is its own problem.
            let _ = serve(stream, &shared);
        });
    }
}

/// A parsed request.
struct Request {
    method: String,
    path: String,
    query: String,
    authorization: Option<String>,
    body: Vec<u8>,
}

/// An answer: status, extra headers, JSON body.
struct Response {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: String,
}

fn serve(stream: TcpStream, shared: &Shared) -> io::Result<()> {
    let timeout = Some(Duration::from_secs(10));
    stream.set_read_timeout(timeout)?;
    stream.set_write_timeout(timeout)?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let response = match read_request(&mut reader)? {
        Some(request) => handle(&request, shared),
        None => error_response(400, "invalid_request", "malformed HTTP request"),
    };
    write_response(stream, &response)
}

/// Reads the request head and, for a `Content-Length`, the body. `None` for
/// a request that is not HTTP/1.x or too large.
fn read_request(reader: &mut impl BufRead) -> io::Result<Option<Request>> {
    let mut head_len = 0;
    let mut line = String::new();
    let mut read_line = |line: &mut String| -> io::Result<bool> {
        line.clear();
        let n = reader.by_ref().take(MAX_HEAD as u64).read_line(line)?;
        head_len += n;
        Ok(n > 0 && head_len <= MAX_HEAD)
    };
    if !read_line(&mut line)? {
        return Ok(None);
    }
    let mut parts = line.split_whitespace();
    let (Some(method), Some(target), Some(version)) = (parts.next(), parts.next(), parts.next())
    else {
        return Ok(None);
    };
    if !version.starts_with("HTTP/1.") {
        return Ok(None);
    }
    let method = method.to_owned();
    let (path, query) = match target.split_once('?') {
        Some((path, query)) => (path.to_owned(), query.to_owned()),
        None => (target.to_owned(), String::new()),
    };
    let mut authorization = None;
    let mut content_length = 0usize;
    loop {
        if !read_line(&mut line)? {
            return Ok(None);
        }
        let header = line.trim_end_matches(['\r', '\n']);
        if header.is_empty() {
            break;
        }
        let Some((name, value)) = header.split_once(':') else {
            return Ok(None);
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("authorization") {
            authorization = Some(value.to_owned());
        } else if name.eq_ignore_ascii_case("content-length") {
            match value.parse() {
                Ok(length) if length <= MAX_BODY => content_length = length,
                _ => return Ok(None),
            }
        }
    }
    let mut body = vec![0; content_length];
    reader.read_exact(&mut body)?;
    Ok(Some(Request {
        method,
        path,
        query,
        authorization,
        body,
    }))
}

fn write_response(mut stream: TcpStream, response: &Response) -> io::Result<()> {
    let reason = match response.status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        405 => "Method Not Allowed",
        _ => "",
    };
    let mut head = format!(
        "HTTP/1.1 {} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
         Cache-Control: no-store\r\nConnection: close\r\n",
        response.status,
        response.body.len()
    );
    for (name, value) in &response.headers {
        let _ = write!(head, "{name}: {value}\r\n");
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    stream.write_all(response.body.as_bytes())?;
    stream.flush()
}

fn error_response(status: u16, code: &str, message: &str) -> Response {
    Response {
        status,
        headers: Vec::new(),
        body: serde_json::json!({
            "errors": [{"code": code, "message": message}],
            "error": code,
            "error_description": message,
        })
        .to_string(),
    }
}

/// Parameters of a token request, from the query (GET) or the form (POST).
#[derive(Default)]
struct Params {
    service: Option<String>,
    scopes: Vec<String>,
    grant_type: Option<String>,
    username: Option<String>,
    password: Option<String>,
}

fn parse_params(encoded: &str) -> Params {
    let mut params = Params::default();
    for pair in encoded.split('&').filter(|pair| !pair.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let value = percent_decode(value);
        match percent_decode(name).as_str() {
            "service" => params.service = Some(value),
            // Scopes may come as several parameters or space-separated in one.
            "scope" => params.scopes.extend(
                value
                    .split(' ')
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned),
            ),
            "grant_type" => params.grant_type = Some(value),
            "username" => params.username = Some(value),
            "password" => params.password = Some(value),
            _ => {}
        }
    }
    params
}

/// `application/x-www-form-urlencoded` decoding: `+` is a space, `%XX` a
/// byte; invalid escapes stay as they are.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => match (hex_digit(bytes.get(i + 1)), hex_digit(bytes.get(i + 2))) {
                (Some(high), Some(low)) => {
                    out.push(high << 4 | low);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            byte => out.push(byte),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex_digit(byte: Option<&u8>) -> Option<u8> {
    let digit = char::from(*byte?).to_digit(16)?;
    u8::try_from(digit).ok()
}

/// `Authorization: Basic base64(user:password)`.
fn basic_credentials(header: &str) -> Option<(String, String)> {
    let (scheme, encoded) = header.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = STANDARD.decode(encoded.trim()).ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (user, password) = decoded.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

fn handle(request: &Request, shared: &Shared) -> Response {
    if request.path != "/token" {
        return error_response(404, "not_found", "the token endpoint is /token");
    }
    let (params, credentials) = match request.method.as_str() {
        "GET" => {
            let params = parse_params(&request.query);
            let credentials = request.authorization.as_deref().and_then(basic_credentials);
            (params, credentials)
        }
        "POST" => {
            let params = parse_params(&String::from_utf8_lossy(&request.body));
            let credentials = match (&params.username, &params.password) {
                (Some(user), Some(password)) => Some((user.clone(), password.clone())),
                _ => request.authorization.as_deref().and_then(basic_credentials),
            };
            (params, credentials)
        }
        _ => return error_response(405, "unsupported", "use GET or POST"),
    };
    let mut record = TokenRequest {
        method: request.method.clone(),
        user: credentials.as_ref().map(|(user, _)| user.clone()),
        authenticated: false,
        service: params.service.clone(),
        scopes: params.scopes.clone(),
        granted: Vec::new(),
        status: 0,
    };
    let response = answer(&params, credentials.as_ref(), request, shared, &mut record);
    record.status = response.status;
    lock(&shared.requests).push(record);
    response
}

fn answer(
    params: &Params,
    credentials: Option<&(String, String)>,
    request: &Request,
    shared: &Shared,
    record: &mut TokenRequest,
) -> Response {
    if request.method == "POST" && params.grant_type.as_deref() != Some("password") {
        // No refresh tokens are issued, so only the password grant exists.
        return error_response(
            400,
            "unsupported_grant_type",
            "only grant_type=password is supported",
        );
    }
    let Some(service) = params.service.as_deref() else {
        return error_response(400, "invalid_request", "missing service parameter");
    };
    if service != TOKEN_SERVICE {
        return error_response(
            400,
            "invalid_request",
            &format!("unknown service {service:?}; this token server serves {TOKEN_SERVICE:?}"),
        );
    }
    let user = match credentials {
        None => None,
        Some((user, password)) => {
            let known = shared
                .config
                .users
                .iter()
                .any(|(u, p)| u == user && p == password);
            if !known {
                let mut response = error_response(401, "UNAUTHORIZED", "authentication required");
                response.headers.push((
                    "Www-Authenticate",
                    format!("Basic realm=\"{TOKEN_SERVER_REALM}\""),
                ));
                return response;
            }
            record.authenticated = true;
            Some(user.as_str())
        }
    };
    let granted = grant(&params.scopes, user.is_some(), shared.config.anonymous_pull);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    let jti = format!(
        "{:016x}-{}",
        now,
        shared.next_jti.fetch_add(1, Ordering::Relaxed)
    );
    let claims = serde_json::json!({
        "iss": TOKEN_ISSUER,
        "sub": user.unwrap_or(""),
        "aud": service,
        "exp": now + TOKEN_LIFETIME_SECS,
        "nbf": now,
        "iat": now,
        "jti": jti,
        "access": granted,
    });
    let signing_input = format!(
        "{}.{}",
        shared.header_b64,
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let signature = match shared.key.sign(signing_input.as_bytes()) {
        Ok(signature) => signature,
        Err(error) => {
            return error_response(500, "signing_failed", &error.to_string());
        }
    };
    let token = format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature));
    record.granted = granted;
    Response {
        status: 200,
        headers: Vec::new(),
        body: serde_json::json!({
            "token": token,
            "access_token": token,
            "expires_in": TOKEN_LIFETIME_SECS,
            "issued_at": rfc3339(now),
        })
        .to_string(),
    }
}

/// What a token grants for the requested `scopes`: a known user gets the
/// requested repository actions (and `registry:catalog:*`); an anonymous
/// client gets `pull` if `anonymous_pull`, else nothing. Unparsable scopes and
/// unknown actions are dropped, as the Docker token spec allows.
fn grant(scopes: &[String], authenticated: bool, anonymous_pull: bool) -> Vec<Access> {
    let mut granted: Vec<Access> = Vec::new();
    for scope in scopes {
        // type:name:actions; the name may contain ':' only in theory, so the
        // type ends at the first ':' and the actions start after the last.
        let Some((kind, rest)) = scope.split_once(':') else {
            continue;
        };
        let Some((name, actions)) = rest.rsplit_once(':') else {
            continue;
        };
        let allowed: &[&str] = match (kind, authenticated) {
            ("repository", true) => &["pull", "push", "delete", "*"],
            ("repository", false) if anonymous_pull => &["pull"],
            ("registry", true) if name == "catalog" => &["*"],
            _ => &[],
        };
        let actions: Vec<String> = actions
            .split(',')
            .filter(|action| allowed.contains(action))
            .map(str::to_owned)
            .collect();
        if actions.is_empty() {
            continue;
        }
        match granted
            .iter_mut()
            .find(|access| access.kind == kind && access.name == name)
        {
            Some(access) => {
                for action in actions {
                    if !access.actions.contains(&action) {
                        access.actions.push(action);
                    }
                }
            }
            None => granted.push(Access {
                kind: kind.to_owned(),
                name: name.to_owned(),
                actions,
            }),
        }
    }
    granted
}

/// `YYYY-MM-DDTHH:MM:SSZ` for Unix seconds (proleptic Gregorian, UTC).
fn rfc3339(secs: u64) -> String {
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rem = secs % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn formats_rfc3339() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_767_225_599), "2025-12-31T23:59:59Z");
    }

    #[test]
    fn decodes_query_parameters() {
        let params = parse_params(
            "service=lf-registry-fixtures&scope=repository%3Aa%2Fb%3Apull%2Cpush\
             &scope=repository:c:pull+registry:catalog:*",
        );
        assert_eq!(params.service.as_deref(), Some("lf-registry-fixtures"));
        assert_eq!(
            params.scopes,
            [
                "repository:a/b:pull,push",
                "repository:c:pull",
                "registry:catalog:*"
            ]
        );
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
    }

    #[test]
    fn grants_what_was_asked_for_to_users_only() {
        let scopes = vec![
            "repository:a/b:pull,push".to_owned(),
            "repository:a/b:delete".to_owned(),
            "repository:c:pull,bogus".to_owned(),
            "registry:catalog:*".to_owned(),
            "nonsense".to_owned(),
        ];
        let user = grant(&scopes, true, false);
        assert_eq!(user.len(), 3);
        assert_eq!(user[0].name, "a/b");
        assert_eq!(user[0].actions, ["pull", "push", "delete"]);
        assert_eq!(user[1].actions, ["pull"]);
        assert_eq!(user[2].kind, "registry");
        assert!(grant(&scopes, false, false).is_empty());
        let anonymous = grant(&scopes, false, true);
        assert_eq!(anonymous.len(), 2);
        assert!(anonymous.iter().all(|access| access.actions == ["pull"]));
    }

    #[test]
    fn key_id_has_twelve_groups_of_four() {
        let id = libtrust_key_id(b"not really a key");
        let groups: Vec<&str> = id.split(':').collect();
        assert_eq!(groups.len(), 12, "{id}");
        assert!(groups.iter().all(|group| group.len() == 4), "{id}");
        // sha256("") starts e3b0c44298: base32 4OYMIQUY.
        let empty = libtrust_key_id(b"");
        assert!(empty.starts_with("4OYM:IQUY:"), "{empty}");
    }

    #[test]
    fn parses_basic_credentials() {
        let header = format!("Basic {}", STANDARD.encode("alice:p:w"));
        assert_eq!(
            basic_credentials(&header),
            Some(("alice".to_owned(), "p:w".to_owned()))
        );
        assert_eq!(basic_credentials("Bearer abc"), None);
    }
}
