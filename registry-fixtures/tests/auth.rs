//! A real `docker-registry` with Bearer token auth (distribution's
//! `auth.token`, our token server) and with TLS (`http.tls`, our CA), driven
//! by a real HTTP client that follows the challenges by hand, and by
//! `oci-client` through `push_all_blocking`.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use lf_registry_fixtures::{
    Registry, TOKEN_ISSUER, TOKEN_SERVICE, TokenKeyHeader, push_all_blocking, push_all_blocking_to,
};
use reqwest::StatusCode;
use reqwest::blocking::{Client, Response};
use sha2::{Digest as _, Sha256};

const USER: &str = "alice";
const PASSWORD: &str = "s3cret-pw";

/// `type:name:actions` with the actions sorted.
fn normalized(scope: &str) -> String {
    let (prefix, actions) = scope.rsplit_once(':').unwrap();
    let mut actions: Vec<&str> = actions.split(',').collect();
    actions.sort_unstable();
    format!("{prefix}:{}", actions.join(","))
}

fn digest(bytes: &[u8]) -> String {
    format!("sha256:{:x}", Sha256::digest(bytes))
}

fn token_registry(header: TokenKeyHeader) -> Registry {
    Registry::builder()
        .token_auth(&[(USER, PASSWORD), ("bob", "other")])
        .token_key_header(header)
        .start()
        .unwrap()
}

/// `Bearer realm="...",service="...",scope="..."` as a map; `None` for
/// another scheme.
fn bearer_challenge(response: &Response) -> Option<BTreeMap<String, String>> {
    let header = response.headers().get("www-authenticate")?.to_str().ok()?;
    let params = header.strip_prefix("Bearer ")?;
    let mut map = BTreeMap::new();
    let mut rest = params;
    while let Some((name, after)) = rest.split_once("=\"") {
        let (value, after) = after.split_once('"')?;
        map.insert(
            name.trim_start_matches(',').trim().to_owned(),
            value.to_owned(),
        );
        rest = after;
    }
    Some(map)
}

/// Asks the challenge's realm for a token, as `docker pull` does.
fn fetch_token(
    client: &Client,
    challenge: &BTreeMap<String, String>,
    credentials: Option<(&str, &str)>,
) -> Response {
    let mut url = format!(
        "{}?service={}",
        challenge["realm"],
        form_encode(&challenge["service"])
    );
    if let Some(scope) = challenge.get("scope") {
        url.push_str("&scope=");
        url.push_str(&form_encode(scope));
    }
    let request = client.get(url);
    let request = match credentials {
        Some((user, password)) => request.basic_auth(user, Some(password)),
        None => request,
    };
    request.send().unwrap()
}

/// `application/x-www-form-urlencoded` value, as clients send scopes
/// (`repository%3Ateam%2Fa%3Apull%2Cpush`).
fn form_encode(value: &str) -> String {
    value
        .bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                char::from(byte).to_string()
            }
            _ => format!("%{byte:02X}"),
        })
        .collect()
}

fn token_of(response: Response) -> String {
    assert_eq!(response.status(), StatusCode::OK);
    let body: serde_json::Value = serde_json::from_slice(&response.bytes().unwrap()).unwrap();
    assert_eq!(body["expires_in"], 300);
    assert!(body["issued_at"].as_str().unwrap().ends_with('Z'), "{body}");
    assert_eq!(body["token"], body["access_token"]);
    body["token"].as_str().unwrap().to_owned()
}

/// The JWT's header and claims, decoded (not verified: the registry does that).
fn jwt_parts(token: &str) -> (serde_json::Value, serde_json::Value) {
    let mut parts = token.split('.');
    let mut decode = || {
        let part = parts.next().unwrap();
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
    };
    (decode(), decode())
}

/// Starts an upload in `repository`: without a token, follows the challenge
/// with `credentials`; returns the token and the answer to the retried POST.
fn start_upload(
    client: &Client,
    registry: &Registry,
    repository: &str,
    credentials: Option<(&str, &str)>,
) -> (String, Response) {
    let url = format!("{}/v2/{repository}/blobs/uploads/", registry.url());
    let response = client.post(&url).send().unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let challenge = bearer_challenge(&response).unwrap();
    // distribution lists the actions in random order (a Go map).
    assert_eq!(
        normalized(&challenge["scope"]),
        format!("repository:{repository}:pull,push")
    );
    let token = token_of(fetch_token(client, &challenge, credentials));
    let response = client.post(&url).bearer_auth(&token).send().unwrap();
    (token, response)
}

/// Finishes a monolithic upload started with `start_upload`.
fn finish_upload(
    client: &Client,
    registry: &Registry,
    started: &Response,
    token: &str,
    bytes: &[u8],
) {
    assert_eq!(
        started.status(),
        StatusCode::ACCEPTED,
        "{}",
        registry.log_tail()
    );
    let location = started.headers()["location"].to_str().unwrap();
    let location = if location.starts_with('/') {
        format!("{}{location}", registry.url())
    } else {
        location.to_owned()
    };
    let separator = if location.contains('?') { '&' } else { '?' };
    let response = client
        .put(format!("{location}{separator}digest={}", digest(bytes)))
        .bearer_auth(token)
        .header("content-type", "application/octet-stream")
        .body(bytes.to_vec())
        .send()
        .unwrap();
    assert_eq!(
        response.status(),
        StatusCode::CREATED,
        "{}",
        registry.log_tail()
    );
}

fn push_and_pull_with_bearer(header: TokenKeyHeader) {
    let registry = token_registry(header);
    let client = Client::new();
    let bytes = b"a blob behind a bearer token";

    let (token, started) = start_upload(&client, &registry, "team/a", Some((USER, PASSWORD)));
    let (jwt_header, claims) = jwt_parts(&token);
    assert_eq!(jwt_header["alg"], "RS256");
    match header {
        TokenKeyHeader::X5c => assert_eq!(jwt_header["x5c"].as_array().unwrap().len(), 1),
        _ => assert_eq!(jwt_header["kid"].as_str().unwrap().split(':').count(), 12),
    }
    assert_eq!(claims["iss"], TOKEN_ISSUER);
    assert_eq!(claims["aud"], TOKEN_SERVICE);
    assert_eq!(claims["sub"], USER);
    let access = claims["access"].as_array().unwrap();
    assert_eq!(access.len(), 1, "{claims}");
    assert_eq!(access[0]["type"], "repository");
    assert_eq!(access[0]["name"], "team/a");
    let mut actions: Vec<&str> = access[0]["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|action| action.as_str().unwrap())
        .collect();
    actions.sort_unstable();
    assert_eq!(actions, ["pull", "push"]);
    finish_upload(&client, &registry, &started, &token, bytes);

    // Pull with the same token (it holds pull too).
    let url = format!("{}/v2/team/a/blobs/{}", registry.url(), digest(bytes));
    let response = client.get(&url).bearer_auth(&token).send().unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.bytes().unwrap().as_ref(), bytes);

    let requests = registry.token_requests();
    assert_eq!(requests.len(), 1, "{requests:?}");
    let request = &requests[0];
    assert_eq!(request.method, "GET");
    assert_eq!(request.user.as_deref(), Some(USER));
    assert!(request.authenticated);
    assert_eq!(request.service.as_deref(), Some(TOKEN_SERVICE));
    assert_eq!(request.scopes.len(), 1);
    assert_eq!(
        normalized(&request.scopes[0]),
        "repository:team/a:pull,push"
    );
    assert_eq!(request.granted.len(), 1);
    assert_eq!(request.status, 200);
    assert!(
        !format!("{requests:?}").contains(PASSWORD),
        "passwords are not recorded"
    );
}

#[test]
fn anonymous_requests_get_a_bearer_challenge() {
    let registry = token_registry(TokenKeyHeader::default());
    let client = Client::new();
    let response = client
        .get(format!("{}/v2/", registry.url()))
        .send()
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let realm = registry.token_realm().unwrap();
    assert_eq!(
        response.headers()["www-authenticate"].to_str().unwrap(),
        format!("Bearer realm=\"{realm}\",service=\"{TOKEN_SERVICE}\"")
    );
    assert_eq!(registry.credentials(), Some((USER, PASSWORD)));

    // A base token (no scope) opens /v2/.
    let challenge = bearer_challenge(&response).unwrap();
    let token = token_of(fetch_token(&client, &challenge, Some((USER, PASSWORD))));
    let response = client
        .get(format!("{}/v2/", registry.url()))
        .bearer_auth(&token)
        .send()
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK, "{}", registry.log_tail());
}

#[test]
fn bearer_flow_with_x5c_pushes_and_pulls_a_blob() {
    push_and_pull_with_bearer(TokenKeyHeader::X5c);
}

#[test]
fn bearer_flow_with_kid_pushes_and_pulls_a_blob() {
    push_and_pull_with_bearer(TokenKeyHeader::KeyId);
}

#[test]
fn wrong_password_is_refused_by_the_token_server() {
    let registry = token_registry(TokenKeyHeader::default());
    let client = Client::new();
    let response = client
        .get(format!("{}/v2/team/a/tags/list", registry.url()))
        .send()
        .unwrap();
    let challenge = bearer_challenge(&response).unwrap();
    assert_eq!(challenge["scope"], "repository:team/a:pull");

    let response = fetch_token(&client, &challenge, Some((USER, "wrong")));
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(
        response.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Basic realm="),
    );
    let body = response.text().unwrap();
    assert!(!body.contains("token\""), "{body}");

    let response = fetch_token(&client, &challenge, Some(("mallory", PASSWORD)));
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);

    let requests = registry.token_requests();
    assert_eq!(requests.len(), 2);
    assert!(requests.iter().all(|r| r.status == 401 && !r.authenticated));
    assert_eq!(requests[0].user.as_deref(), Some(USER));
    assert_eq!(requests[1].user.as_deref(), Some("mallory"));
}

#[test]
fn a_token_for_one_repository_cannot_push_to_another() {
    let registry = token_registry(TokenKeyHeader::default());
    let client = Client::new();
    let (token, started) = start_upload(&client, &registry, "team/a", Some((USER, PASSWORD)));
    assert_eq!(started.status(), StatusCode::ACCEPTED);

    let response = client
        .post(format!("{}/v2/team/b/blobs/uploads/", registry.url()))
        .bearer_auth(&token)
        .send()
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let challenge = bearer_challenge(&response).unwrap();
    assert_eq!(challenge["error"], "insufficient_scope");
    assert_eq!(
        normalized(&challenge["scope"]),
        "repository:team/b:pull,push"
    );
    let body = response.text().unwrap();
    assert!(body.contains("\"UNAUTHORIZED\""), "{body}");
}

#[test]
fn tokens_signed_by_another_token_server_are_invalid() {
    for header in [TokenKeyHeader::X5c, TokenKeyHeader::KeyId] {
        let registry = token_registry(header);
        let other = token_registry(header);
        let client = Client::new();
        // Same service, issuer, user and scope: only the signing key differs.
        let (foreign, _) = start_upload(&client, &other, "team/a", Some((USER, PASSWORD)));
        let response = client
            .post(format!("{}/v2/team/a/blobs/uploads/", registry.url()))
            .bearer_auth(&foreign)
            .send()
            .unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{header:?}");
        let challenge = bearer_challenge(&response).unwrap();
        assert_eq!(challenge["error"], "invalid_token", "{header:?}");
        let expected = match header {
            TokenKeyHeader::X5c => "unable to verify certificate chain",
            _ => "token signed by untrusted key with ID",
        };
        let log = wait_for_log(&registry, expected);
        assert!(log.contains(expected), "{header:?}: {log}");
    }
}

#[test]
fn anonymous_tokens_grant_nothing_unless_anonymous_pull_is_on() {
    let bytes = b"public blob";
    for anonymous_pull in [false, true] {
        let builder = Registry::builder().token_auth(&[(USER, PASSWORD)]);
        let builder = if anonymous_pull {
            builder.token_anonymous_pull()
        } else {
            builder
        };
        let registry = builder.start().unwrap();
        let client = Client::new();
        let (token, started) = start_upload(&client, &registry, "pub/x", Some((USER, PASSWORD)));
        finish_upload(&client, &registry, &started, &token, bytes);

        let url = format!("{}/v2/pub/x/blobs/{}", registry.url(), digest(bytes));
        let response = client.get(&url).send().unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        let challenge = bearer_challenge(&response).unwrap();
        let anonymous = token_of(fetch_token(&client, &challenge, None));
        let (_, claims) = jwt_parts(&anonymous);
        assert_eq!(claims["sub"], "");
        let response = client.get(&url).bearer_auth(&anonymous).send().unwrap();
        if anonymous_pull {
            assert_eq!(response.status(), StatusCode::OK);
            assert_eq!(response.bytes().unwrap().as_ref(), bytes);
        } else {
            assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
            assert_eq!(claims["access"], serde_json::json!([]));
        }
        // Never push.
        let (_, started) = start_upload(&client, &registry, "pub/x", None);
        assert_eq!(started.status(), StatusCode::UNAUTHORIZED);

        let last = registry.token_requests().pop().unwrap();
        assert_eq!(last.user, None);
        assert_eq!(last.status, 200);
    }
}

#[test]
fn oci_client_pushes_the_fixtures_through_the_bearer_flow() {
    let registry = token_registry(TokenKeyHeader::default());
    // No credentials: oci-client gets an anonymous token that cannot push.
    let error = push_all_blocking_to(&registry.host(), None).unwrap_err();
    assert!(error.to_string().contains("latticeflow/"), "{error}");

    let pushed = push_all_blocking(&registry).unwrap();
    assert!(pushed.len() > 5);
    let requests = registry.token_requests();
    let asked: Vec<&str> = requests
        .iter()
        .filter(|request| request.user.as_deref() == Some(USER))
        .flat_map(|request| request.scopes.iter().map(String::as_str))
        .collect();
    for fixture in &pushed {
        let repository = fixture
            .reference
            .split_once('/')
            .unwrap()
            .1
            .rsplit_once(':')
            .unwrap()
            .0;
        let scope = format!("repository:{repository}:pull,push");
        assert!(asked.contains(&scope.as_str()), "{scope} not in {asked:?}");
    }
}

#[test]
fn tls_registry_is_trusted_only_with_its_ca() {
    let registry = Registry::builder().tls().start().unwrap();
    assert!(registry.is_tls());
    assert!(registry.url().starts_with("https://127.0.0.1:"));
    let ca_pem = registry.ca_pem().unwrap();
    assert!(ca_pem.starts_with("-----BEGIN CERTIFICATE-----"));
    assert_eq!(
        std::fs::read_to_string(registry.ca_file().unwrap()).unwrap(),
        ca_pem
    );

    let ca = reqwest::Certificate::from_pem(ca_pem.as_bytes()).unwrap();
    let trusting = Client::builder().tls_certs_only([ca]).build().unwrap();
    let response = trusting
        .get(format!("{}/v2/", registry.url()))
        .send()
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    // The certificate names localhost too.
    let localhost = format!("https://localhost:{}/v2/", registry.addr().port());
    assert_eq!(
        trusting.get(localhost).send().unwrap().status(),
        StatusCode::OK
    );

    let error = Client::new()
        .get(format!("{}/v2/", registry.url()))
        .send()
        .unwrap_err();
    let chain = error_chain(&error);
    assert!(
        chain.to_lowercase().contains("certificate"),
        "not a certificate error: {chain}"
    );

    // Plain HTTP is refused, not silently served.
    let response = Client::new()
        .get(format!("http://{}/v2/", registry.host()))
        .send()
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
}

#[test]
fn tls_and_token_auth_together_survive_a_restart() {
    let mut registry = Registry::builder()
        .tls()
        .token_auth(&[(USER, PASSWORD)])
        .start()
        .unwrap();
    let ca = reqwest::Certificate::from_pem(registry.ca_pem().unwrap().as_bytes()).unwrap();
    let client = Client::builder().tls_certs_only([ca]).build().unwrap();
    let bytes = b"tls and tokens";
    let (token, started) = start_upload(&client, &registry, "secure/a", Some((USER, PASSWORD)));
    finish_upload(&client, &registry, &started, &token, bytes);

    registry.restart().unwrap();
    let url = format!("{}/v2/secure/a/blobs/{}", registry.url(), digest(bytes));
    let response = client.get(&url).bearer_auth(&token).send().unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.bytes().unwrap().as_ref(), bytes);
}

/// The registry's log once it contains `needle` (the access log line may
/// lag the response by a moment), or after 2 s.
fn wait_for_log(registry: &Registry, needle: &str) -> String {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    loop {
        let log = registry.log_tail();
        if log.contains(needle) || std::time::Instant::now() > deadline {
            return log;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(error) = source {
        text.push_str(": ");
        text.push_str(&error.to_string());
        source = error.source();
    }
    text
}
