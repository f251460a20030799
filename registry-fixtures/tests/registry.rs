//! Drives a real `docker-registry` through `lf-registry-fixtures` with a real
//! HTTP client: blob push and pull, htpasswd auth, stop, restart.

#![allow(clippy::unwrap_used)]

use std::net::TcpStream;

use lf_registry_fixtures::{Error, Registry};
use reqwest::StatusCode;
use reqwest::blocking::{Client, RequestBuilder};
use sha2::{Digest as _, Sha256};

fn digest(bytes: &[u8]) -> String {
    format!("sha256:{:x}", Sha256::digest(bytes))
}

fn authed(request: RequestBuilder, registry: &Registry) -> RequestBuilder {
    match registry.credentials() {
        Some((user, password)) => request.basic_auth(user, Some(password)),
        None => request,
    }
}

/// Monolithic upload: `POST .../blobs/uploads/`, then `PUT <location>&digest=...`.
fn push_blob(client: &Client, registry: &Registry, repository: &str, bytes: &[u8]) -> String {
    let digest = digest(bytes);
    let url = format!("{}/v2/{repository}/blobs/uploads/", registry.url());
    let response = authed(client.post(&url), registry).send().unwrap();
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let location = response.headers()["location"].to_str().unwrap();
    let location = if location.starts_with('/') {
        format!("{}{location}", registry.url())
    } else {
        location.to_owned()
    };
    let separator = if location.contains('?') { '&' } else { '?' };
    let response = authed(
        client
            .put(format!("{location}{separator}digest={digest}"))
            .header("content-type", "application/octet-stream")
            .body(bytes.to_vec()),
        registry,
    )
    .send()
    .unwrap();
    assert_eq!(
        response.status(),
        StatusCode::CREATED,
        "{}",
        registry.log_tail()
    );
    assert_eq!(response.headers()["docker-content-digest"], digest.as_str());
    digest
}

fn assert_blob(client: &Client, registry: &Registry, repository: &str, bytes: &[u8]) {
    let digest = digest(bytes);
    let url = format!("{}/v2/{repository}/blobs/{digest}", registry.url());
    let head = authed(client.head(&url), registry).send().unwrap();
    assert_eq!(head.status(), StatusCode::OK);
    assert_eq!(head.headers()["docker-content-digest"], digest.as_str());
    assert_eq!(
        head.headers()["content-length"],
        bytes.len().to_string().as_str()
    );
    let get = authed(client.get(&url), registry).send().unwrap();
    assert_eq!(get.status(), StatusCode::OK);
    assert_eq!(get.headers()["docker-content-digest"], digest.as_str());
    assert_eq!(get.bytes().unwrap().as_ref(), bytes);
}

#[test]
fn pushes_and_pulls_a_blob() {
    let registry = Registry::start().unwrap();
    assert_eq!(
        registry.host(),
        format!("127.0.0.1:{}", registry.addr().port())
    );
    assert_eq!(registry.url(), format!("http://{}", registry.host()));
    assert_eq!(registry.credentials(), None);
    assert!(registry.log_tail().contains("listening on"));

    let client = Client::new();
    let v2 = client
        .get(format!("{}/v2/", registry.url()))
        .send()
        .unwrap();
    assert_eq!(v2.status(), StatusCode::OK);

    let bytes = b"hello, connector".repeat(100);
    let digest = push_blob(&client, &registry, "connectors/echo", &bytes);
    assert_blob(&client, &registry, "connectors/echo", &bytes);

    // The documented storage layout, so tests can corrupt blobs.
    let path = registry.blob_path(&digest);
    assert!(path.starts_with(registry.storage_dir()));
    assert_eq!(std::fs::read(&path).unwrap(), bytes);
}

#[test]
fn corrupted_blob_is_served_as_is() {
    let registry = Registry::start().unwrap();
    let client = Client::new();
    let digest = push_blob(&client, &registry, "corrupt/me", b"original bytes");
    std::fs::write(registry.blob_path(&digest), b"tampered bytes").unwrap();
    let url = format!("{}/v2/corrupt/me/blobs/{digest}", registry.url());
    let get = client.get(url).send().unwrap();
    assert_eq!(get.status(), StatusCode::OK);
    assert_eq!(get.headers()["docker-content-digest"], digest.as_str());
    assert_eq!(get.bytes().unwrap().as_ref(), b"tampered bytes");
}

#[test]
fn htpasswd_requires_basic_auth() {
    let registry = Registry::builder()
        .htpasswd("alice", "s3cret")
        .start()
        .unwrap();
    assert_eq!(registry.credentials(), Some(("alice", "s3cret")));
    let client = Client::new();
    let v2 = format!("{}/v2/", registry.url());

    let anonymous = client.get(&v2).send().unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    let challenge = anonymous.headers()["www-authenticate"].to_str().unwrap();
    assert!(challenge.starts_with("Basic realm="), "{challenge}");

    let wrong = client
        .get(&v2)
        .basic_auth("alice", Some("nope"))
        .send()
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);

    let ok = authed(client.get(&v2), &registry).send().unwrap();
    assert_eq!(ok.status(), StatusCode::OK);

    let bytes = b"private connector";
    push_blob(&client, &registry, "private/echo", bytes);
    assert_blob(&client, &registry, "private/echo", bytes);
    let url = format!("{}/v2/private/echo/blobs/{}", registry.url(), digest(bytes));
    let anonymous = client.get(url).send().unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
}

#[test]
fn drop_closes_the_port() {
    let registry = Registry::start().unwrap();
    let addr = registry.addr();
    TcpStream::connect(addr).unwrap();
    let storage = registry.storage_dir().to_owned();
    drop(registry);
    assert!(TcpStream::connect(addr).is_err());
    assert!(!storage.exists());
}

#[test]
fn restart_keeps_port_and_blobs() {
    let mut registry = Registry::builder()
        .htpasswd("bob", "builder")
        .start()
        .unwrap();
    let client = Client::new();
    let host = registry.host();
    let bytes = b"survives a restart";
    push_blob(&client, &registry, "keep/me", bytes);

    registry.stop();
    assert!(!registry.is_running());
    assert!(TcpStream::connect(registry.addr()).is_err());

    registry.restart().unwrap();
    assert!(registry.is_running());
    assert_eq!(registry.host(), host);
    assert_blob(&client, &registry, "keep/me", bytes);

    // Restarting a running registry works too.
    registry.restart().unwrap();
    assert_eq!(registry.host(), host);
    assert_blob(&client, &registry, "keep/me", bytes);
}

#[test]
fn missing_binary_says_how_to_install_it() {
    let error = Registry::builder()
        .binary("/nonexistent/docker-registry")
        .start()
        .unwrap_err();
    assert!(matches!(error, Error::BinaryNotFound { .. }), "{error:?}");
    let message = error.to_string();
    assert!(
        message.contains("apt-get install docker-registry"),
        "{message}"
    );
    assert!(
        message.contains("/nonexistent/docker-registry"),
        "{message}"
    );
}

#[test]
fn early_exit_reports_the_log() {
    // `false` exits at once without logging: the error carries its status.
    let error = Registry::builder()
        .binary("/bin/false")
        .start()
        .unwrap_err();
    assert!(matches!(error, Error::Exited { .. }), "{error:?}");
}

#[test]
fn restart_on_a_taken_port_fails_with_the_log() {
    let mut registry = Registry::start().unwrap();
    registry.stop();
    let _squatter = std::net::TcpListener::bind(registry.addr()).unwrap();
    let error = registry.restart().unwrap_err();
    let message = error.to_string();
    assert!(matches!(error, Error::Exited { .. }), "{error:?}");
    assert!(message.contains("address already in use"), "{message}");
}
