//! The fault-injecting proxy in front of a real `docker-registry`: plain
//! forwarding (pushes and pulls), and each fault as a client sees it.

#![allow(clippy::unwrap_used)]

use std::io::{self, BufRead as _, BufReader, Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use lf_registry_fixtures::proxy::{Fault, FaultProxy, Listener, Method, Rule};
use lf_registry_fixtures::{Registry, push_all_blocking_to};
use reqwest::StatusCode;
use reqwest::blocking::Client;
use reqwest::header::{HeaderMap, LOCATION};
use sha2::{Digest as _, Sha256};

const REPOSITORY: &str = "proxy/blob";
const BLOB_SIZE: usize = 300_000;

fn digest(bytes: &[u8]) -> String {
    format!("sha256:{:x}", Sha256::digest(bytes))
}

fn client() -> Client {
    Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

fn client_without_redirects() -> Client {
    Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Deterministic, incompressible-looking bytes.
fn blob_bytes() -> Vec<u8> {
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    (0..BLOB_SIZE)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state.to_le_bytes()[3]
        })
        .collect()
}

/// Monolithic upload of `bytes` to `base` (`http://host:port`), with basic
/// auth if given; returns the digest.
fn push_blob(base: &str, credentials: Option<(&str, &str)>, bytes: &[u8]) -> String {
    let client = client();
    let authed = |request: reqwest::blocking::RequestBuilder| match credentials {
        Some((user, password)) => request.basic_auth(user, Some(password)),
        None => request,
    };
    let digest = digest(bytes);
    let response = authed(client.post(format!("{base}/v2/{REPOSITORY}/blobs/uploads/")))
        .send()
        .unwrap();
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let location = response.headers()[LOCATION].to_str().unwrap().to_owned();
    let location = if location.starts_with('/') {
        format!("{base}{location}")
    } else {
        location
    };
    let separator = if location.contains('?') { '&' } else { '?' };
    let response = authed(client.put(format!("{location}{separator}digest={digest}")))
        .header("content-type", "application/octet-stream")
        .body(bytes.to_vec())
        .send()
        .unwrap();
    assert_eq!(
        response.status(),
        StatusCode::CREATED,
        "{:?}",
        response.text()
    );
    digest
}

/// A registry with one blob, and a proxy in front of it.
struct Setup {
    // Field order: the proxy stops before the registry.
    proxy: FaultProxy,
    registry: Registry,
    bytes: Vec<u8>,
    digest: String,
}

impl Setup {
    fn new() -> Setup {
        Self::with(Registry::start().unwrap())
    }

    fn with(registry: Registry) -> Setup {
        let bytes = blob_bytes();
        let digest = push_blob(&registry.url(), registry.credentials(), &bytes);
        let proxy = FaultProxy::start(registry.addr()).unwrap();
        Setup {
            proxy,
            registry,
            bytes,
            digest,
        }
    }

    fn blob_path(&self) -> String {
        format!("/v2/{REPOSITORY}/blobs/{}", self.digest)
    }

    fn blob_url(&self) -> String {
        format!("{}{}", self.proxy.url(), self.blob_path())
    }
}

/// What a raw HTTP/1.1 exchange produced: the head as sent, the body bytes
/// that arrived, and how reading ended.
#[derive(Debug)]
struct Raw {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    /// `None`: clean EOF.
    error: Option<io::ErrorKind>,
}

impl Raw {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// `GET path` with `Connection: close` on a bare socket, reading until EOF or
/// an error: shows exactly what went over the wire, short bodies included.
fn raw_get(addr: SocketAddr, path: &str) -> Raw {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    let status = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    let mut headers = Vec::new();
    loop {
        line.clear();
        reader.read_line(&mut line).unwrap();
        let trimmed = line.trim_end();
        if trimmed.is_empty() {
            break;
        }
        let (name, value) = trimmed.split_once(':').unwrap();
        headers.push((name.trim().to_owned(), value.trim().to_owned()));
    }
    let mut body = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    let error = loop {
        match reader.read(&mut chunk) {
            Ok(0) => break None,
            Ok(n) => body.extend_from_slice(&chunk[..n]),
            Err(error) => break Some(error.kind()),
        }
    };
    Raw {
        status,
        headers,
        body,
        error,
    }
}

fn header<'h>(headers: &'h HeaderMap, name: &str) -> &'h str {
    headers
        .get(name)
        .unwrap_or_else(|| panic!("no {name} header in {headers:?}"))
        .to_str()
        .unwrap()
}

#[test]
fn forwards_pushes_and_pulls() {
    let registry = Registry::start().unwrap();
    let proxy = FaultProxy::start(registry.addr()).unwrap();
    assert!(proxy.host().starts_with("127.0.0.1:"));
    assert!(proxy.redirect_host().starts_with("127.0.0.2:"));

    // oci-client pushes every fixture through the proxy: POST, PUT to the
    // rewritten Location, manifest PUT.
    let pushed = push_all_blocking_to(&proxy.host(), None).unwrap();
    assert!(!pushed.is_empty());
    let requests = proxy.requests();
    assert!(
        requests
            .iter()
            .any(|seen| seen.method == Method::POST && seen.status == 202)
    );
    assert!(
        requests
            .iter()
            .any(|seen| seen.method == Method::PUT && seen.path.contains("digest=sha256"))
    );
    assert!(
        requests
            .iter()
            .all(|seen| seen.status < 400 || (seen.method == Method::HEAD && seen.status == 404)),
        "{requests:#?}"
    );

    // The pushed content reads back the same, through the proxy and directly.
    let client = client();
    for fixture in &pushed {
        let path = fixture
            .reference
            .strip_prefix(&format!("{}/", proxy.host()))
            .unwrap();
        let (repository, tag) = path.rsplit_once(':').unwrap();
        for base in [proxy.url(), registry.url()] {
            let response = client
                .get(format!("{base}/v2/{repository}/manifests/{tag}"))
                .header(
                    "accept",
                    "application/vnd.oci.image.manifest.v1+json, \
                     application/vnd.docker.distribution.manifest.v2+json",
                )
                .send()
                .unwrap();
            assert_eq!(response.status(), StatusCode::OK, "{}", fixture.reference);
            assert_eq!(
                header(response.headers(), "docker-content-digest"),
                fixture.manifest_digest
            );
            let body = response.bytes().unwrap();
            assert_eq!(digest(&body), fixture.manifest_digest);
        }
        if let Some(artifact) = &fixture.artifact {
            let url = format!(
                "{}/v2/{repository}/blobs/{}",
                proxy.url(),
                artifact.module.digest
            );
            let head = client.head(&url).send().unwrap();
            assert_eq!(head.status(), StatusCode::OK);
            assert_eq!(
                header(head.headers(), "content-length"),
                artifact.module.size.to_string()
            );
            let body = client.get(&url).send().unwrap().bytes().unwrap();
            assert_eq!(digest(&body), artifact.module.digest);
        }
    }
    assert_eq!(proxy.count(&Method::GET, "/manifests/"), pushed.len());
    assert!(
        proxy
            .requests()
            .iter()
            .all(|seen| seen.listener == Listener::Primary && !seen.authorization)
    );
}

#[test]
fn forwards_authorization() {
    let registry = Registry::builder()
        .htpasswd("alice", "proxy-secret")
        .start()
        .unwrap();
    let setup = Setup::with(registry);
    let client = client();
    let anonymous = client.get(setup.blob_url()).send().unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    assert!(header(anonymous.headers(), "www-authenticate").starts_with("Basic"));
    let authed = client
        .get(setup.blob_url())
        .basic_auth("alice", Some("proxy-secret"))
        .send()
        .unwrap();
    assert_eq!(authed.status(), StatusCode::OK);
    assert_eq!(authed.bytes().unwrap(), setup.bytes);
    // Pushing with credentials through the proxy works too.
    push_blob(
        &setup.proxy.url(),
        Some(("alice", "proxy-secret")),
        b"authed push",
    );
    let seen = setup.proxy.requests();
    assert_eq!(
        (seen[0].status, seen[0].authorization),
        (401, false),
        "{seen:#?}"
    );
    assert_eq!((seen[1].status, seen[1].authorization), (200, true));
    assert!(
        !format!("{seen:?}").contains("proxy-secret") && !format!("{seen:?}").contains("YWxpY2"),
        "the log holds no credentials"
    );
}

#[test]
fn status_faults_apply_n_times_then_forward() {
    let setup = Setup::new();
    let client = client();
    setup.proxy.add(
        Rule::new(&setup.digest, Fault::status(503).retry_after("1"))
            .method(Method::GET)
            .times(2),
    );
    setup
        .proxy
        .add(Rule::new("/manifests/", Fault::status(429).retry_after("7")).times(1));
    setup
        .proxy
        .add(Rule::new("/tags/list", Fault::status(500)).times(1));

    // A HEAD does not match the GET-only rule.
    let head = client.head(setup.blob_url()).send().unwrap();
    assert_eq!(head.status(), StatusCode::OK);
    for _ in 0..2 {
        let response = client.get(setup.blob_url()).send().unwrap();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(header(response.headers(), "retry-after"), "1");
        let body: serde_json::Value = response.json().unwrap();
        assert_eq!(body["errors"][0]["code"], "UNAVAILABLE");
    }
    let response = client.get(setup.blob_url()).send().unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.bytes().unwrap(), setup.bytes);
    assert_eq!(setup.proxy.count(&Method::GET, &setup.digest), 3);

    let manifest = format!("{}/v2/{REPOSITORY}/manifests/missing", setup.proxy.url());
    let response = client.get(&manifest).send().unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(header(response.headers(), "retry-after"), "7");
    // Used up: the registry answers again (no such manifest).
    assert_eq!(
        client.get(&manifest).send().unwrap().status(),
        StatusCode::NOT_FOUND
    );

    let tags = format!("{}/v2/{REPOSITORY}/tags/list", setup.proxy.url());
    let response = client.get(&tags).send().unwrap();
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert!(response.headers().get("retry-after").is_none());
    // Used up: the registry answers again (no tags in this repository).
    assert_eq!(
        client.get(&tags).send().unwrap().status(),
        StatusCode::NOT_FOUND
    );

    let statuses: Vec<u16> = setup
        .proxy
        .requests()
        .iter()
        .map(|seen| seen.status)
        .collect();
    assert_eq!(statuses, [200, 503, 503, 200, 429, 404, 500, 404]);
    assert!(setup.proxy.rules().iter().all(|rule| rule.times == Some(0)));
}

#[test]
fn reset_mid_body_breaks_the_download() {
    let setup = Setup::new();
    setup.proxy.add(
        Rule::new(&setup.digest, Fault::ResetMidBody { after: 1000 })
            .method(Method::GET)
            .times(2),
    );

    let raw = raw_get(setup.proxy.addr(), &setup.blob_path());
    assert_eq!(raw.status, 200);
    assert_eq!(
        raw.header("content-length"),
        Some(BLOB_SIZE.to_string().as_str())
    );
    assert_eq!(raw.error, Some(io::ErrorKind::ConnectionReset), "{raw:?}");
    assert!(raw.body.len() <= 1000);
    assert_eq!(raw.body, setup.bytes[..raw.body.len()]);

    let error = client()
        .get(setup.blob_url())
        .send()
        .and_then(reqwest::blocking::Response::bytes)
        .unwrap_err();
    // reqwest reports the reset while reading the body as a decode error.
    assert!(error.is_body() || error.is_decode(), "{error:?}");
    assert!(
        format!("{error:?}").contains("ConnectionReset"),
        "{error:?}"
    );

    // Used up: the download works again.
    let body = client()
        .get(setup.blob_url())
        .send()
        .unwrap()
        .bytes()
        .unwrap();
    assert_eq!(body, setup.bytes);
    let seen = setup.proxy.requests();
    assert_eq!(seen.len(), 3);
    assert_eq!(seen[0].fault, Some(Fault::ResetMidBody { after: 1000 }));
    assert_eq!(seen[2].fault, None);
}

#[test]
fn truncate_sends_a_short_body() {
    let setup = Setup::new();
    setup
        .proxy
        .add(Rule::new(&setup.digest, Fault::Truncate { keep: 4096 }).times(2));

    let raw = raw_get(setup.proxy.addr(), &setup.blob_path());
    assert_eq!(raw.status, 200);
    assert_eq!(
        raw.header("content-length"),
        Some(BLOB_SIZE.to_string().as_str())
    );
    assert_eq!(raw.error, None, "closed, not reset");
    assert_eq!(raw.body, setup.bytes[..4096]);

    let error = client()
        .get(setup.blob_url())
        .send()
        .and_then(reqwest::blocking::Response::bytes)
        .unwrap_err();
    assert!(error.is_body() || error.is_decode(), "{error:?}");
}

#[test]
fn flip_byte_keeps_the_length() {
    let setup = Setup::new();
    let offset = 150_001;
    setup
        .proxy
        .add(Rule::new(&setup.digest, Fault::FlipByte { offset }).times(1));
    let response = client().get(setup.blob_url()).send().unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        header(response.headers(), "docker-content-digest"),
        setup.digest
    );
    let body = response.bytes().unwrap();
    assert_eq!(body.len(), setup.bytes.len());
    assert_ne!(digest(&body), setup.digest);
    let differing: Vec<usize> = (0..body.len())
        .filter(|&i| body[i] != setup.bytes[i])
        .collect();
    assert_eq!(differing, [offset]);
    assert_eq!(body[offset], setup.bytes[offset] ^ 0xff);
}

#[test]
fn delay_is_observed() {
    let setup = Setup::new();
    let delay = Duration::from_millis(400);
    setup
        .proxy
        .add(Rule::new("/manifests/", Fault::Delay(delay)));
    let client = client();
    let manifest = format!("{}/v2/{REPOSITORY}/manifests/missing", setup.proxy.url());
    let started = Instant::now();
    assert_eq!(
        client.get(&manifest).send().unwrap().status(),
        StatusCode::NOT_FOUND
    );
    assert!(started.elapsed() >= delay, "{:?}", started.elapsed());

    // Other paths are not delayed.
    let started = Instant::now();
    client.head(setup.blob_url()).send().unwrap();
    assert!(started.elapsed() < delay, "{:?}", started.elapsed());

    setup.proxy.clear();
    let started = Instant::now();
    client.get(&manifest).send().unwrap();
    assert!(started.elapsed() < delay, "{:?}", started.elapsed());
}

#[test]
fn redirect_goes_to_another_host_with_the_same_bytes() {
    let setup = Setup::new();
    setup
        .proxy
        .add(Rule::new(&setup.digest, Fault::RedirectTo).method(Method::GET));

    let response = client_without_redirects()
        .get(setup.blob_url())
        .send()
        .unwrap();
    assert_eq!(response.status(), StatusCode::TEMPORARY_REDIRECT);
    let location = header(response.headers(), "location").to_owned();
    assert_eq!(
        location,
        format!("{}{}", setup.proxy.redirect_url(), setup.blob_path())
    );

    // reqwest follows, and drops Authorization for the other host.
    let response = client()
        .get(setup.blob_url())
        .header("authorization", "Bearer not-for-other-hosts")
        .send()
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.url().as_str(), location);
    assert_eq!(response.bytes().unwrap(), setup.bytes);

    // A client that forwards it is caught.
    client()
        .get(&location)
        .header("authorization", "Bearer leaked")
        .send()
        .unwrap();

    let seen: Vec<(Listener, u16, bool)> = setup
        .proxy
        .requests()
        .iter()
        .map(|seen| (seen.listener, seen.status, seen.authorization))
        .collect();
    assert_eq!(
        seen,
        [
            (Listener::Primary, 307, false),
            (Listener::Primary, 307, true),
            (Listener::Redirect, 200, false),
            (Listener::Redirect, 200, true),
        ]
    );
}

#[test]
fn redirect_listener_can_stand_in_for_a_signed_url() {
    let registry = Registry::builder()
        .htpasswd("bob", "redirect-secret")
        .start()
        .unwrap();
    let setup = Setup::with(registry);
    setup
        .proxy
        .add(Rule::new(&setup.digest, Fault::RedirectTo).method(Method::GET));
    let client = client();
    let follow = || {
        client
            .get(setup.blob_url())
            .basic_auth("bob", Some("redirect-secret"))
            .send()
            .unwrap()
    };
    // Credentials stay behind, so the registry refuses the redirected GET...
    assert_eq!(follow().status(), StatusCode::UNAUTHORIZED);
    // ...unless the redirect host authorizes on its own, as a signed URL does.
    setup
        .proxy
        .set_redirect_authorization(Some("Basic Ym9iOnJlZGlyZWN0LXNlY3JldA=="))
        .unwrap();
    let response = follow();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.bytes().unwrap(), setup.bytes);
    let redirected: Vec<bool> = setup
        .proxy
        .requests()
        .iter()
        .filter(|seen| seen.listener == Listener::Redirect)
        .map(|seen| seen.authorization)
        .collect();
    assert_eq!(redirected, [false, false]);
    assert!(
        setup
            .proxy
            .set_redirect_authorization(Some("a\nb"))
            .is_err()
    );
}

#[test]
fn oversized_manifest_has_the_size() {
    let setup = Setup::new();
    let size = 5 * 1024 * 1024 + 3;
    setup.proxy.add(Rule::new(
        "/manifests/1.0",
        Fault::OversizedManifest { size },
    ));
    let url = format!("{}/v2/{REPOSITORY}/manifests/1.0", setup.proxy.url());
    let client = client();

    let head = client.head(&url).send().unwrap();
    assert_eq!(head.status(), StatusCode::OK);
    assert_eq!(header(head.headers(), "content-length"), size.to_string());
    let announced = header(head.headers(), "docker-content-digest").to_owned();

    let response = client.get(&url).send().unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        header(response.headers(), "content-type"),
        "application/vnd.oci.image.manifest.v1+json"
    );
    assert_eq!(
        header(response.headers(), "content-length"),
        size.to_string()
    );
    let body = response.bytes().unwrap();
    assert_eq!(body.len(), size);
    assert_eq!(digest(&body), announced);
    let manifest: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(manifest["schemaVersion"], 2);

    // Tiny sizes are honoured too, at the cost of valid JSON.
    setup.proxy.clear();
    setup.proxy.add(Rule::new(
        "/manifests/",
        Fault::OversizedManifest { size: 10 },
    ));
    let body = client.get(&url).send().unwrap().bytes().unwrap();
    assert_eq!(&body[..], b"{\"schemaVe");
}

#[test]
fn range_requests_pass_through() {
    let setup = Setup::new();
    let client = client();
    let size = BLOB_SIZE;
    let get_range = |range: &str| {
        client
            .get(setup.blob_url())
            .header("range", range)
            .send()
            .unwrap()
    };

    let response = get_range("bytes=1000-1999");
    assert_eq!(response.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(
        header(response.headers(), "content-range"),
        format!("bytes 1000-1999/{size}")
    );
    assert_eq!(header(response.headers(), "content-length"), "1000");
    assert_eq!(header(response.headers(), "accept-ranges"), "bytes");
    assert_eq!(response.bytes().unwrap(), setup.bytes[1000..2000]);

    // Open-ended, as a resume sends it.
    let response = get_range("bytes=299000-");
    assert_eq!(response.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(
        header(response.headers(), "content-range"),
        format!("bytes 299000-{}/{size}", size - 1)
    );
    assert_eq!(response.bytes().unwrap(), setup.bytes[299_000..]);

    // Suffix range.
    let response = get_range("bytes=-10");
    assert_eq!(response.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(response.bytes().unwrap(), setup.bytes[size - 10..]);

    // Past the end: 416, with distribution 2.8's bogus Content-Length (the
    // blob size, set before Go's ServeContent rejects the range) over a
    // short text body, so reading the body fails.
    let response = get_range(&format!("bytes={size}-"));
    assert_eq!(response.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(
        header(response.headers(), "content-range"),
        format!("bytes */{size}")
    );
    assert_eq!(
        header(response.headers(), "content-length"),
        size.to_string()
    );
    assert!(response.bytes().is_err());

    // HEAD honours Range too: 206 with the slice's length.
    let head = client
        .head(setup.blob_url())
        .header("range", "bytes=0-9")
        .send()
        .unwrap();
    assert_eq!(head.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(header(head.headers(), "content-length"), "10");
    assert_eq!(
        header(head.headers(), "content-range"),
        format!("bytes 0-9/{size}")
    );

    // Several ranges: a multipart/byteranges body.
    let response = get_range("bytes=0-9,20-29");
    assert_eq!(response.status(), StatusCode::PARTIAL_CONTENT);
    assert!(header(response.headers(), "content-type").starts_with("multipart/byteranges"));

    let ranges: Vec<Option<String>> = setup
        .proxy
        .requests()
        .into_iter()
        .map(|seen| seen.range)
        .collect();
    assert_eq!(
        ranges,
        [
            Some("bytes=1000-1999".to_owned()),
            Some("bytes=299000-".to_owned()),
            Some("bytes=-10".to_owned()),
            Some(format!("bytes={size}-")),
            Some("bytes=0-9".to_owned()),
            Some("bytes=0-9,20-29".to_owned()),
        ]
    );

    // A fault applies to the slice served: flipping offset 0 of a 206.
    setup
        .proxy
        .add(Rule::new(&setup.digest, Fault::FlipByte { offset: 0 }).times(1));
    let body = get_range("bytes=10-19").bytes().unwrap();
    assert_eq!(body[0], setup.bytes[10] ^ 0xff);
    assert_eq!(body[1..], setup.bytes[11..20]);
}

#[test]
fn manifests_ignore_range() {
    let setup = Setup::new();
    let pushed = push_all_blocking_to(&setup.registry.host(), None).unwrap();
    let fixture = &pushed[0];
    let path = fixture
        .reference
        .strip_prefix(&format!("{}/", setup.registry.host()))
        .unwrap();
    let (repository, tag) = path.rsplit_once(':').unwrap();
    let response = client()
        .get(format!(
            "{}/v2/{repository}/manifests/{tag}",
            setup.proxy.url()
        ))
        .header("accept", "application/vnd.oci.image.manifest.v1+json")
        .header("range", "bytes=0-9")
        .send()
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body = response.bytes().unwrap();
    assert_eq!(digest(&body), fixture.manifest_digest);
}

#[test]
fn reject_range_serves_the_whole_blob() {
    let setup = Setup::new();
    setup
        .proxy
        .add(Rule::new(&setup.digest, Fault::RejectRange).times(1));
    let client = client();
    let get = || {
        client
            .get(setup.blob_url())
            .header("range", "bytes=100-")
            .send()
            .unwrap()
    };
    let response = get();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers().get("content-range").is_none());
    assert_eq!(response.bytes().unwrap(), setup.bytes);
    // Used up: ranges work again.
    let response = get();
    assert_eq!(response.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(response.bytes().unwrap(), setup.bytes[100..]);

    let seen = setup.proxy.requests();
    assert_eq!(seen[0].range.as_deref(), Some("bytes=100-"));
    assert_eq!(seen[0].fault, Some(Fault::RejectRange));
    assert_eq!((seen[0].status, seen[1].status), (200, 206));
}

#[test]
fn stops_on_drop() {
    let registry = Registry::start().unwrap();
    let proxy = FaultProxy::start(registry.addr()).unwrap();
    let (primary, redirect) = (proxy.addr(), proxy.redirect_addr());
    assert_eq!(raw_get(primary, "/v2/").status, 200);
    drop(proxy);
    assert!(TcpStream::connect(primary).is_err());
    assert!(TcpStream::connect(redirect).is_err());
}
