//! Registries as they are in the wild: credentials (environment, docker
//! config, `login`/`logout`), mirrors, and secrets that never leak. Each test
//! runs real CNCF distribution registries on 127.0.0.1.
#![allow(clippy::unwrap_used, reason = "tests")]

mod common;

use std::path::Path;
use std::process::{Command, Stdio};

use common::{BIN, Project, Run};
use lf_registry_fixtures::{PushedFixture, Registry, push_all_blocking};

const USER: &str = "ci-bot";
const PASSWORD: &str = "pa55-Wörd-7f3a91c2";

fn project_for(reference: &str, extra: &str) -> Project {
    Project::with(&[(
        "latticeflow.toml",
        &format!(
            "[policy]\nsignatures = \"none\"\n{extra}\n[connectors.hash]\nref = \"{reference}\"\n"
        ),
    )])
}

fn hash_fixture(pushed: &[PushedFixture]) -> &PushedFixture {
    pushed.iter().find(|p| p.name == "hash").unwrap()
}

/// Runs the binary with extra environment and optional stdin.
fn run_env(p: &Project, args: &[&str], env: &[(&str, &str)], stdin: Option<&str>) -> Run {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .current_dir(p.path())
        .env("LF_CACHE_DIR", p.cache())
        .env("DOCKER_CONFIG", p.path().join("docker"))
        .env("NO_COLOR", "1")
        .env_remove("REGISTRY_AUTH_FILE")
        .env_remove("LF_REGISTRY_HOST")
        .env_remove("LF_REGISTRY_USERNAME")
        .env_remove("LF_REGISTRY_PASSWORD")
        .env_remove("LF_REGISTRY_TOKEN")
        .env("XDG_RUNTIME_DIR", p.path().join("runtime"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        });
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    if let Some(input) = stdin {
        use std::io::Write as _;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    }
    let out = child.wait_with_output().unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Every file under `dir`, as text, for secret scanning.
fn all_text_under(dir: &Path) -> String {
    let mut out = String::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push_str(&String::from_utf8_lossy(&std::fs::read(&path).unwrap()));
            }
        }
    }
    out
}

fn assert_no_secret(what: &str, text: &str) {
    assert!(
        !text.contains(PASSWORD),
        "the password leaked into {what}:\n{text}"
    );
    use base64::Engine as _;
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"));
    assert!(
        !text.contains(&basic),
        "the Basic credential leaked into {what}"
    );
}

#[test]
fn htpasswd_registry_login_lock_logout_without_leaking_the_password() {
    let registry = Registry::builder()
        .htpasswd(USER, PASSWORD)
        .start()
        .unwrap();
    let pushed = push_all_blocking(&registry).unwrap();
    let p = project_for(&hash_fixture(&pushed).reference, "");
    let host = registry.host();
    let mut transcript = String::new();

    // Anonymous: refused, with a hint.
    let anonymous = run_env(&p, &["lock"], &[], None);
    assert_eq!(anonymous.code, 3, "{anonymous:?}");
    assert!(
        anonymous
            .stderr
            .contains("requires a user name and password; log in with `lf-resolve login`"),
        "{}",
        anonymous.stderr
    );

    // A wrong password: refused, nothing written.
    let wrong = run_env(
        &p,
        &["login", &host, "-u", USER, "--password-stdin"],
        &[],
        Some("nope\n"),
    );
    assert_eq!(wrong.code, 3, "{wrong:?}");
    assert!(
        wrong.stderr.contains(&format!("cannot log in to `{host}`")),
        "{}",
        wrong.stderr
    );
    assert!(!p.path().join("docker/config.json").exists());

    // Login: checked, then stored the way docker does.
    let login = run_env(
        &p,
        &["login", &host, "-u", USER, "--password-stdin", "-vv"],
        &[],
        Some(&format!("{PASSWORD}\n")),
    );
    assert_eq!(login.code, 0, "{login:?}");
    let config: serde_json::Value = serde_json::from_str(&p.read("docker/config.json")).unwrap();
    assert!(config["auths"][&host]["auth"].is_string(), "{config}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(p.path().join("docker/config.json"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(
            mode & 0o077,
            0,
            "config.json must be private, mode {mode:o}"
        );
    }

    // Lock with the stored login, verbosely and as JSON.
    for args in [
        &["lock", "-vv"][..],
        &[
            "lock",
            "--update",
            "hash",
            "--message-format",
            "json",
            "-vv",
        ][..],
        &["verify", "-vv"][..],
    ] {
        let run = run_env(&p, args, &[], None);
        assert_eq!(run.code, 0, "{args:?}: {run:?}");
        transcript.push_str(&run.stdout);
        transcript.push_str(&run.stderr);
    }
    transcript.push_str(&login.stdout);
    transcript.push_str(&login.stderr);
    transcript.push_str(&wrong.stderr);
    assert_no_secret("output and logs", &transcript);
    assert_no_secret("the lockfile and the store", &all_text_under(&p.cache()));
    assert_no_secret("the lockfile", &p.read("latticeflow.lock"));
    assert_no_secret("latticeflow.toml", &p.read("latticeflow.toml"));

    // Logout: removed; anonymous again.
    let logout = run_env(&p, &["logout", &host], &[], None);
    assert_eq!(logout.code, 0, "{logout:?}");
    let config: serde_json::Value = serde_json::from_str(&p.read("docker/config.json")).unwrap();
    assert!(config["auths"].get(&host).is_none(), "{config}");
    std::fs::remove_dir_all(p.cache()).unwrap();
    assert_eq!(
        run_env(&p, &["lock", "--update", "hash"], &[], None).code,
        3
    );
}

#[test]
fn environment_credentials_apply_to_their_host_only() {
    let registry = Registry::builder()
        .htpasswd(USER, PASSWORD)
        .start()
        .unwrap();
    let pushed = push_all_blocking(&registry).unwrap();
    let p = project_for(&hash_fixture(&pushed).reference, "");
    let host = registry.host();
    let env = [
        ("LF_REGISTRY_HOST", host.as_str()),
        ("LF_REGISTRY_USERNAME", USER),
        ("LF_REGISTRY_PASSWORD", PASSWORD),
    ];
    let run = run_env(&p, &["lock", "-vv", "--message-format", "json"], &env, None);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stderr.contains("LF_REGISTRY_* environment variables"),
        "-vv names the source: {}",
        run.stderr
    );
    assert_no_secret("output", &format!("{}{}", run.stdout, run.stderr));

    // For another host the variables do not apply.
    std::fs::remove_dir_all(p.cache()).unwrap();
    std::fs::remove_file(p.path().join("latticeflow.lock")).unwrap();
    let elsewhere = [
        ("LF_REGISTRY_HOST", "ghcr.io"),
        ("LF_REGISTRY_USERNAME", USER),
        ("LF_REGISTRY_PASSWORD", PASSWORD),
    ];
    let run = run_env(&p, &["lock"], &elsewhere, None);
    assert_eq!(run.code, 3, "{run:?}");

    // Incomplete variables are an error that shows no secret.
    let partial = [
        ("LF_REGISTRY_HOST", host.as_str()),
        ("LF_REGISTRY_PASSWORD", PASSWORD),
    ];
    let run = run_env(&p, &["lock"], &partial, None);
    assert_eq!(run.code, 3, "{run:?}");
    assert!(
        run.stderr
            .contains("LF_REGISTRY_PASSWORD is set without LF_REGISTRY_USERNAME"),
        "{}",
        run.stderr
    );
    assert_no_secret("output", &run.stderr);
}

#[test]
fn docker_config_keys_match_with_and_without_scheme_and_path() {
    let registry = Registry::builder()
        .htpasswd(USER, PASSWORD)
        .start()
        .unwrap();
    let pushed = push_all_blocking(&registry).unwrap();
    let host = registry.host();
    use base64::Engine as _;
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"));
    for key in [
        host.clone(),
        format!("http://{host}"),
        format!("https://{host}/v2/"),
    ] {
        let p = project_for(&hash_fixture(&pushed).reference, "");
        p.write(
            "docker/config.json",
            &format!(r#"{{"auths":{{"{key}":{{"auth":"{auth}"}}}}}}"#),
        );
        let run = run_env(&p, &["lock"], &[], None);
        assert_eq!(run.code, 0, "key {key}: {run:?}");
    }
    // podman's auth.json through REGISTRY_AUTH_FILE.
    let p = project_for(&hash_fixture(&pushed).reference, "");
    p.write(
        "podman/auth.json",
        &format!(r#"{{"auths":{{"{host}":{{"auth":"{auth}"}}}}}}"#),
    );
    let file = p.path().join("podman/auth.json");
    let run = run_env(
        &p,
        &["lock"],
        &[("REGISTRY_AUTH_FILE", file.to_str().unwrap())],
        None,
    );
    assert_eq!(run.code, 0, "{run:?}");
}

#[test]
fn mirrors_are_tried_first_verified_and_skipped_when_they_lie() {
    let origin = Registry::start().unwrap();
    let mirror = Registry::start().unwrap();
    let pushed = push_all_blocking(&origin).unwrap();
    push_all_blocking(&mirror).unwrap();
    let fixture = hash_fixture(&pushed);
    let settings = format!(
        "\n[registries.\"{}\"]\nmirrors = [\"{}\"]\n",
        origin.host(),
        mirror.host()
    );
    let p = project_for(&fixture.reference, &settings);

    // The origin is down: everything comes from the mirror, the lock names the origin.
    let mut origin = origin;
    origin.stop();
    let run = run_env(&p, &["lock"], &[], None);
    assert_eq!(run.code, 0, "{run:?}");
    let lock = p.read("latticeflow.lock");
    assert!(
        lock.contains(&format!("ref = \"{}\"", fixture.reference)),
        "{lock}"
    );
    assert!(
        !lock.contains(&mirror.host()),
        "the lock never names the mirror"
    );

    // The mirror serves other bytes for the module: detected, skipped with a
    // warning, and the origin serves the real ones.
    origin.restart().unwrap();
    std::fs::remove_dir_all(p.cache()).unwrap();
    let module = &fixture.artifact.as_ref().unwrap().module.digest;
    let path = mirror.blob_path(module);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[10] ^= 0xff;
    std::fs::write(&path, &bytes).unwrap();
    let run = run_env(&p, &["lock", "--update", "hash"], &[], None);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stderr.contains(&format!(
            "warning: mirror {} failed for blob {module}",
            mirror.host()
        )),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("does not match"), "{}", run.stderr);
    assert_eq!(p.read("latticeflow.lock"), lock);
    assert_eq!(run_env(&p, &["verify"], &[], None).code, 0);
}

#[test]
fn bearer_tokens_are_fetched_with_the_right_scope() {
    let registry = Registry::builder()
        .token_auth(&[(USER, PASSWORD)])
        .start()
        .unwrap();
    let pushed = push_all_blocking(&registry).unwrap();
    let p = project_for(&hash_fixture(&pushed).reference, "");
    let host = registry.host();
    let pushes = registry.token_requests().len();

    // Anonymous: the token server grants nothing, and the error says so.
    let anonymous = run_env(&p, &["lock"], &[], None);
    assert_eq!(anonymous.code, 3, "{anonymous:?}");
    assert!(
        anonymous.stderr.contains("refused access") || anonymous.stderr.contains("401"),
        "{}",
        anonymous.stderr
    );

    let env = [
        ("LF_REGISTRY_HOST", host.as_str()),
        ("LF_REGISTRY_USERNAME", USER),
        ("LF_REGISTRY_PASSWORD", PASSWORD),
    ];
    let run = run_env(&p, &["lock", "-vv", "--message-format", "json"], &env, None);
    assert_eq!(run.code, 0, "{run:?}");
    assert_no_secret("output and logs", &format!("{}{}", run.stdout, run.stderr));
    assert_no_secret("the store", &all_text_under(&p.cache()));
    let ours: Vec<_> = registry
        .token_requests()
        .into_iter()
        .skip(pushes)
        .filter(|r| r.user.as_deref() == Some(USER) && r.authenticated)
        .collect();
    assert!(
        ours.iter().any(|r| r
            .scopes
            .iter()
            .any(|s| s == "repository:latticeflow/hash:pull")),
        "{ours:?}"
    );
    assert!(
        ours.iter()
            .all(|r| r.scopes.iter().all(|s| s.ends_with(":pull"))),
        "lf-resolve asks for pull only: {ours:?}"
    );

    // A wrong password: the token endpoint refuses; no secret in the error.
    std::fs::remove_dir_all(p.cache()).unwrap();
    let wrong = [
        ("LF_REGISTRY_HOST", host.as_str()),
        ("LF_REGISTRY_USERNAME", USER),
        ("LF_REGISTRY_PASSWORD", "not-the-password"),
    ];
    let run = run_env(&p, &["lock", "--update", "hash"], &wrong, None);
    assert_eq!(run.code, 3, "{run:?}");
    assert!(run.stderr.contains("the token endpoint"), "{}", run.stderr);
    assert!(!run.stderr.contains("not-the-password"));
}

#[test]
fn https_with_a_private_ca_needs_the_ca_file() {
    let registry = Registry::builder().tls().start().unwrap();
    let pushed = push_all_blocking(&registry).unwrap();
    let host = registry.host();
    let reference = &hash_fixture(&pushed).reference;

    let without = project_for(
        reference,
        &format!("\n[registries.\"{host}\"]\nprotocol = \"https\"\n"),
    );
    let run = run_env(&without, &["lock"], &[], None);
    assert_eq!(run.code, 3, "{run:?}");
    assert!(
        run.stderr.contains("certificate"),
        "says why: {}",
        run.stderr
    );
    assert!(!without.path().join("latticeflow.lock").exists());

    let with = project_for(
        reference,
        &format!("\n[registries.\"{host}\"]\nprotocol = \"https\"\nca-file = \"certs/ca.pem\"\n"),
    );
    with.write("certs/ca.pem", registry.ca_pem().unwrap());
    let run = run_env(&with, &["lock"], &[], None);
    assert_eq!(run.code, 0, "{run:?}");

    // `auto` speaks plain HTTP to loopback hosts, which a TLS registry refuses.
    let auto = project_for(reference, "");
    assert_eq!(run_env(&auto, &["lock"], &[], None).code, 3);
}

#[test]
fn docker_credential_helpers_are_asked() {
    let registry = Registry::builder()
        .htpasswd(USER, PASSWORD)
        .start()
        .unwrap();
    let pushed = push_all_blocking(&registry).unwrap();
    let p = project_for(&hash_fixture(&pushed).reference, "");
    let host = registry.host();
    // A credential helper speaking docker's protocol: the server on stdin,
    // JSON on stdout.
    p.write(
        "bin/docker-credential-lftest",
        &format!("#!/bin/sh\nread server\nprintf '{{\"ServerURL\":\"%s\",\"Username\":\"{USER}\",\"Secret\":\"{PASSWORD}\"}}' \"$server\"\n"),
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(
            p.path().join("bin/docker-credential-lftest"),
            std::fs::Permissions::from_mode(0o755),
        )
        .unwrap();
    }
    p.write(
        "docker/config.json",
        &format!(r#"{{"credHelpers":{{"{host}":"lftest"}}}}"#),
    );
    let path = format!(
        "{}:{}",
        p.path().join("bin").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let run = run_env(&p, &["lock", "-vv"], &[("PATH", path.as_str())], None);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stderr.contains("docker config.json"),
        "-vv names the source: {}",
        run.stderr
    );
    assert_no_secret("output", &run.stderr);
}

#[test]
fn http_proxy_and_no_proxy_are_honoured() {
    use lf_registry_fixtures::proxy::{FaultProxy, Method};
    let registry = Registry::start().unwrap();
    let pushed = push_all_blocking(&registry).unwrap();
    // The fault proxy forwards whatever it receives to the registry, so it
    // serves as a forward proxy that records what went through it.
    let proxy = FaultProxy::start(registry.addr()).unwrap();
    let proxy_url = proxy.url();
    let p = project_for(&hash_fixture(&pushed).reference, "");
    let run = run_env(
        &p,
        &["lock"],
        &[("HTTP_PROXY", proxy_url.as_str()), ("NO_PROXY", "")],
        None,
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        proxy.count(&Method::GET, "/manifests/") > 0,
        "requests went through the proxy"
    );

    std::fs::remove_dir_all(p.cache()).unwrap();
    std::fs::remove_file(p.path().join("latticeflow.lock")).unwrap();
    proxy.clear_requests();
    let run = run_env(
        &p,
        &["lock"],
        &[
            ("HTTP_PROXY", proxy_url.as_str()),
            ("NO_PROXY", "127.0.0.1"),
        ],
        None,
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(proxy.requests().len(), 0, "NO_PROXY bypasses the proxy");
}

#[test]
fn a_challenge_cannot_widen_the_token_scope() {
    use lf_registry_fixtures::proxy::{Fault, FaultProxy, Method, Rule};
    let registry = Registry::builder()
        .token_auth(&[(USER, PASSWORD)])
        .start()
        .unwrap();
    let pushed = push_all_blocking(&registry).unwrap();
    let proxy = FaultProxy::start(registry.addr()).unwrap();
    let reference = hash_fixture(&pushed)
        .reference
        .replace(&registry.host(), &proxy.host());
    let p = project_for(&reference, "");
    let realm = registry.token_realm().unwrap();
    // The registry asks for push rights on another repository.
    proxy.add(
        Rule::new(
            "/manifests/",
            Fault::Challenge(format!(
                r#"Bearer realm="{realm}",service="lf-registry-fixtures",scope="repository:victim/private:push,pull""#
            )),
        )
        .method(Method::GET)
        .times(1),
    );
    let pushes = registry.token_requests().len();
    let host = proxy.host();
    let env = [
        ("LF_REGISTRY_HOST", host.as_str()),
        ("LF_REGISTRY_USERNAME", USER),
        ("LF_REGISTRY_PASSWORD", PASSWORD),
    ];
    let run = run_env(&p, &["lock"], &env, None);
    assert_eq!(run.code, 0, "{run:?}");
    let asked: Vec<String> = registry
        .token_requests()
        .into_iter()
        .skip(pushes)
        .flat_map(|r| r.scopes)
        .collect();
    assert!(!asked.is_empty(), "a token was fetched");
    assert!(
        asked
            .iter()
            .all(|s| s == "repository:latticeflow/hash:pull"),
        "only the pulled repository, only pull: {asked:?}"
    );
}

#[test]
fn a_plain_http_token_realm_on_another_host_gets_no_credentials() {
    use lf_registry_fixtures::proxy::{Fault, FaultProxy, Method, Rule};
    let registry = Registry::builder()
        .htpasswd(USER, PASSWORD)
        .start()
        .unwrap();
    let pushed = push_all_blocking(&registry).unwrap();
    let proxy = FaultProxy::start(registry.addr()).unwrap();
    let reference = hash_fixture(&pushed)
        .reference
        .replace(&registry.host(), &proxy.host());
    let p = project_for(&reference, "");
    proxy.add(
        Rule::new(
            "/manifests/",
            Fault::Challenge(
                r#"Bearer realm="http://token.example.invalid/token",service="x""#.to_owned(),
            ),
        )
        .method(Method::GET),
    );
    let host = proxy.host();
    let env = [
        ("LF_REGISTRY_HOST", host.as_str()),
        ("LF_REGISTRY_USERNAME", USER),
        ("LF_REGISTRY_PASSWORD", PASSWORD),
    ];
    let run = run_env(&p, &["lock"], &env, None);
    assert_eq!(run.code, 3, "{run:?}");
    assert!(
        run.stderr.contains(
            "sends us to `http://token.example.invalid/token` for a token over plain HTTP; refusing to send credentials there"
        ),
        "{}",
        run.stderr
    );
    assert_no_secret("output", &run.stderr);
    assert!(!p.path().join("latticeflow.lock").exists());
}

#[test]
fn an_https_registry_cannot_redirect_to_plain_http() {
    use lf_registry_fixtures::proxy::TlsRedirect;
    let registry = Registry::start().unwrap();
    let pushed = push_all_blocking(&registry).unwrap();
    // HTTPS in front, sending every request to the plain-HTTP registry.
    let front = TlsRedirect::start(&registry.url()).unwrap();
    let host = front.host();
    let reference = hash_fixture(&pushed)
        .reference
        .replace(&registry.host(), &host);
    let p = project_for(
        &reference,
        &format!("\n[registries.\"{host}\"]\nprotocol = \"https\"\nca-file = \"certs/ca.pem\"\n"),
    );
    p.write("certs/ca.pem", front.ca_pem());
    let run = run_env(&p, &["lock"], &[], None);
    assert_eq!(run.code, 3, "{run:?}");
    assert!(front.redirects() > 0, "the HTTPS side was asked");
    assert!(
        run.stderr
            .contains("refusing a redirect from HTTPS to plain HTTP"),
        "{}",
        run.stderr
    );
    assert!(!p.path().join("latticeflow.lock").exists());
}

/// A token registry behind a proxy whose first manifest answer sends the
/// client to a second proxy in front of the token server, where `fault`
/// applies. Returns the run.
fn lock_through_a_faulty_token_endpoint(
    fault: lf_registry_fixtures::proxy::Fault,
    network: &str,
) -> Run {
    use lf_registry_fixtures::proxy::{Fault, FaultProxy, Method, Rule};
    let registry = Registry::builder()
        .token_auth(&[(USER, PASSWORD)])
        .start()
        .unwrap();
    let pushed = push_all_blocking(&registry).unwrap();
    let proxy = FaultProxy::start(registry.addr()).unwrap();
    let realm = registry.token_realm().unwrap();
    let token_addr: std::net::SocketAddr = realm
        .trim_start_matches("http://")
        .trim_end_matches("/token")
        .parse()
        .unwrap();
    let token_proxy = FaultProxy::start(token_addr).unwrap();
    token_proxy.add(Rule::new("/token", fault));
    proxy.add(
        Rule::new(
            "/manifests/",
            Fault::Challenge(format!(
                r#"Bearer realm="{}/token",service="lf-registry-fixtures",scope="repository:latticeflow/hash:pull""#,
                token_proxy.url()
            )),
        )
        .method(Method::GET)
        .times(1),
    );
    let reference = hash_fixture(&pushed)
        .reference
        .replace(&registry.host(), &proxy.host());
    let p = project_for(&reference, network);
    let host = proxy.host();
    let env = [
        ("LF_REGISTRY_HOST", host.as_str()),
        ("LF_REGISTRY_USERNAME", USER),
        ("LF_REGISTRY_PASSWORD", PASSWORD),
    ];
    let run = run_env(&p, &["lock"], &env, None);
    assert!(!p.path().join("latticeflow.lock").exists());
    assert!(
        token_proxy.count(&Method::GET, "/token") > 0,
        "the token proxy was asked"
    );
    run
}

#[test]
fn a_token_answer_over_its_limit_is_refused() {
    let run = lock_through_a_faulty_token_endpoint(
        lf_registry_fixtures::proxy::Fault::OversizedManifest { size: 1 << 20 },
        "",
    );
    assert_eq!(run.code, 3, "{run:?}");
    assert!(
        run.stderr.contains("over the 65536-byte limit"),
        "{}",
        run.stderr
    );
    assert_no_secret("output", &run.stderr);
}

#[test]
fn a_trickled_token_answer_hits_its_deadline() {
    let started = std::time::Instant::now();
    let run = lock_through_a_faulty_token_endpoint(
        lf_registry_fixtures::proxy::Fault::Trickle {
            interval: std::time::Duration::from_millis(100),
        },
        "\n[network]\nretries = 0\ntimeout-secs = 1\n",
    );
    assert_eq!(run.code, 3, "{run:?}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
    assert!(
        run.stderr.contains("the answer was not complete within 2s"),
        "{}",
        run.stderr
    );
}
