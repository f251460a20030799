//! Faults between `lf-resolve` and a real registry, injected by the proxy of
//! `lf-registry-fixtures`: each ends in success after retries or in a clear
//! error, and in every case the store holds only verified blobs and the
//! lockfile is unchanged or correct.
#![allow(clippy::unwrap_used, reason = "tests")]

mod common;

use std::time::{Duration, Instant};

use common::{Project, Run};
use lf_registry_fixtures::proxy::{Fault, FaultProxy, Listener, Method, Rule};
use lf_registry_fixtures::{PushedFixture, Registry, push_all_blocking};

/// A registry with the fixtures, a proxy in front, and a project locking
/// `hash` and `text-upper` through the proxy.
struct Setup {
    _registry: Registry,
    proxy: FaultProxy,
    pushed: Vec<PushedFixture>,
    project: Project,
}

const NETWORK: &str = "[network]\nretries = 3\ntimeout-secs = 2\n";

fn setup_with(registry: Registry, network: &str) -> Setup {
    let pushed = push_all_blocking(&registry).unwrap();
    let proxy = FaultProxy::start(registry.addr()).unwrap();
    let through = |name: &str| {
        let p = pushed.iter().find(|p| p.name == name).unwrap();
        p.reference.replace(&registry.host(), &proxy.host())
    };
    let toml = format!(
        "[policy]\nsignatures = \"none\"\n\n{network}\n[connectors.hash]\nref = \"{}\"\n\n[connectors.text]\nref = \"{}\"\n",
        through("hash"),
        through("text-upper"),
    );
    Setup {
        _registry: registry,
        proxy,
        pushed,
        project: Project::with(&[("latticeflow.toml", &toml)]),
    }
}

fn setup() -> Setup {
    setup_with(Registry::start().unwrap(), NETWORK)
}

impl Setup {
    fn module(&self, name: &str) -> String {
        let p = self.pushed.iter().find(|p| p.name == name).unwrap();
        p.artifact.as_ref().unwrap().module.digest.clone()
    }

    /// After any run: only verified blobs in the store, no temporary files,
    /// and a lock (if any) whose every blob verifies.
    fn assert_store_clean(&self) {
        let p = &self.project;
        for (path, bytes) in p.files_under(".cache/blobs") {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            assert!(
                !name.starts_with(".tmp"),
                "temporary file left: {}",
                path.display()
            );
            let actual = format!("{:x}", <sha2::Sha256 as sha2::Digest>::digest(&bytes));
            assert_eq!(
                actual,
                name,
                "unverified bytes in the store at {}",
                path.display()
            );
        }
        if p.path().join("latticeflow.lock").exists() {
            let verify = p.run(&["verify"]);
            assert_eq!(verify.code, 0, "{verify:?}");
        }
    }
}

fn assert_ok(run: &Run) {
    assert_eq!(
        run.code, 0,
        "stdout:\n{}\nstderr:\n{}",
        run.stdout, run.stderr
    );
}

#[test]
fn server_errors_are_retried_and_shown_with_verbose() {
    let s = setup();
    s.proxy.add(
        Rule::new("/manifests/", Fault::status(503))
            .method(Method::GET)
            .times(2),
    );
    let run = s.project.run(&["lock", "-v"]);
    assert_ok(&run);
    assert!(run.stderr.contains("HTTP 503"), "{}", run.stderr);
    assert!(run.stderr.contains("retry 1/3"), "{}", run.stderr);
    s.assert_store_clean();
}

#[test]
fn too_many_requests_honours_retry_after() {
    let s = setup();
    s.proxy.add(
        Rule::new("/manifests/", Fault::status(429).retry_after("1"))
            .method(Method::GET)
            .times(1),
    );
    let started = Instant::now();
    let run = s.project.run(&["lock"]);
    assert_ok(&run);
    assert!(
        started.elapsed() >= Duration::from_millis(950),
        "waited {:?}",
        started.elapsed()
    );
    s.assert_store_clean();
}

#[test]
fn retries_are_bounded_and_the_lock_is_untouched() {
    let s = setup();
    assert_ok(&s.project.run(&["lock"]));
    let lock = s.project.read("latticeflow.lock");
    std::fs::remove_dir_all(s.project.cache()).unwrap();
    s.proxy.clear_requests();
    s.proxy.add(Rule::new(s.module("hash"), Fault::status(500)));
    let run = s.project.run(&["lock"]);
    assert_eq!(run.code, 3, "{run:?}");
    assert!(run.stderr.contains("HTTP 500"), "{}", run.stderr);
    assert_eq!(
        s.proxy.count(&Method::GET, &s.module("hash")),
        4,
        "1 try + 3 retries"
    );
    assert_eq!(s.project.read("latticeflow.lock"), lock);
    // Once the registry recovers, `fetch` completes the store.
    s.proxy.clear();
    assert_ok(&s.project.run(&["fetch"]));
    s.assert_store_clean();
}

#[test]
fn other_client_errors_are_not_retried() {
    let s = setup();
    s.proxy.add(Rule::new("/manifests/", Fault::status(403)));
    let run = s.project.run(&["lock"]);
    assert_eq!(run.code, 3, "{run:?}");
    assert!(run.stderr.contains("refused access"), "{}", run.stderr);
    assert_eq!(
        s.proxy.count(&Method::GET, "/manifests/"),
        2,
        "one request per connector"
    );
    assert!(!s.project.path().join("latticeflow.lock").exists());
}

#[test]
fn an_interrupted_download_resumes_with_range() {
    let s = setup();
    let module = s.module("text-upper");
    s.proxy
        .add(Rule::new(&module, Fault::ResetMidBody { after: 1000 }).times(1));
    let run = s.project.run(&["lock", "-v"]);
    assert_ok(&run);
    let ranges: Vec<Option<String>> = s
        .proxy
        .requests()
        .into_iter()
        .filter(|r| r.path.contains(&module) && r.method == Method::GET)
        .map(|r| r.range)
        .collect();
    assert_eq!(ranges.len(), 2, "{ranges:?}");
    let resumed_at = ranges[1].as_deref().unwrap();
    assert!(
        resumed_at.starts_with("bytes=") && resumed_at != "bytes=0-",
        "{resumed_at}"
    );
    s.assert_store_clean();
}

#[test]
fn a_truncated_body_resumes() {
    let s = setup();
    let module = s.module("hash");
    s.proxy
        .add(Rule::new(&module, Fault::Truncate { keep: 700 }).times(1));
    assert_ok(&s.project.run(&["lock"]));
    assert!(
        s.proxy
            .requests()
            .iter()
            .any(|r| r.path.contains(&module) && r.range.as_deref() == Some("bytes=700-"))
    );
    s.assert_store_clean();
}

#[test]
fn a_registry_that_ignores_range_gets_a_fresh_download() {
    let s = setup();
    let module = s.module("hash");
    s.proxy
        .add(Rule::new(&module, Fault::ResetMidBody { after: 500 }).times(1));
    s.proxy.add(Rule::new(&module, Fault::RejectRange));
    assert_ok(&s.project.run(&["lock"]));
    s.assert_store_clean();
}

#[test]
fn flipped_bytes_are_a_digest_error_and_never_stored() {
    let s = setup();
    let module = s.module("hash");
    s.proxy
        .add(Rule::new(&module, Fault::FlipByte { offset: 100 }));
    let run = s.project.run(&["lock"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains(&module), "{}", run.stderr);
    assert!(run.stderr.contains("digest"), "{}", run.stderr);
    assert!(!s.project.path().join("latticeflow.lock").exists());
    s.assert_store_clean();
}

#[test]
fn a_slow_answer_times_out_and_is_retried() {
    let s = setup();
    s.proxy.add(
        Rule::new("/manifests/", Fault::Delay(Duration::from_secs(4)))
            .method(Method::GET)
            .times(1),
    );
    let run = s.project.run(&["lock", "-v"]);
    assert_ok(&run);
    assert!(run.stderr.contains("retry 1/3"), "{}", run.stderr);
    s.assert_store_clean();
}

#[test]
fn an_oversized_manifest_is_refused() {
    let s = setup();
    s.proxy.add(
        Rule::new(
            "/manifests/",
            Fault::OversizedManifest {
                size: 5 * 1024 * 1024,
            },
        )
        .method(Method::GET),
    );
    let run = s.project.run(&["lock"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr.contains("over the 4194304-byte limit"),
        "{}",
        run.stderr
    );
    s.assert_store_clean();
}

#[test]
fn a_redirect_to_another_host_gets_no_authorization() {
    let user = "ci";
    let password = "redirect-secret-81c0";
    let registry = Registry::builder()
        .htpasswd(user, password)
        .start()
        .unwrap();
    let s = setup_with(registry, NETWORK);
    // The other host stands in for a signed URL: it adds its own credential.
    use base64::Engine as _;
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    s.proxy
        .set_redirect_authorization(Some(&format!("Basic {basic}")))
        .unwrap();
    s.proxy
        .add(Rule::new("/blobs/", Fault::RedirectTo).method(Method::GET));
    let out = std::process::Command::new(common::BIN)
        .arg("lock")
        .current_dir(s.project.path())
        .env("LF_CACHE_DIR", s.project.cache())
        .env("LF_REGISTRY_HOST", s.proxy.host())
        .env("LF_REGISTRY_USERNAME", user)
        .env("LF_REGISTRY_PASSWORD", password)
        .env("DOCKER_CONFIG", s.project.path().join("no-docker"))
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let seen = s.proxy.requests();
    let redirected: Vec<_> = seen
        .iter()
        .filter(|r| r.listener == Listener::Redirect)
        .collect();
    assert!(!redirected.is_empty(), "blobs were redirected");
    assert!(
        redirected.iter().all(|r| !r.authorization),
        "Authorization reached the other host: {redirected:?}"
    );
    assert!(
        seen.iter()
            .any(|r| r.listener == Listener::Primary && r.authorization),
        "the registry itself got credentials"
    );
    s.assert_store_clean();
}

#[test]
fn one_blob_is_downloaded_once_and_head_saves_a_download() {
    let s = setup();
    // A third connector with the same artifact as `hash`.
    let toml = s.project.read("latticeflow.toml");
    let hash_ref = toml
        .lines()
        .find(|l| l.contains("/latticeflow/hash:"))
        .unwrap()
        .to_owned();
    s.project.write(
        "latticeflow.toml",
        &format!("{toml}\n[connectors.hash_again]\n{hash_ref}\n"),
    );
    assert_ok(&s.project.run(&["lock"]));
    assert_eq!(
        s.proxy.count(&Method::GET, &s.module("hash")),
        1,
        "same blob, one download"
    );

    // Relocking a connector by tag: HEAD says the store has it; no GETs.
    s.proxy.clear_requests();
    assert_ok(&s.project.run(&["lock", "--update", "hash"]));
    assert_eq!(s.proxy.count(&Method::HEAD, "/manifests/"), 1);
    assert_eq!(s.proxy.count(&Method::GET, "/manifests/"), 0);
    assert_eq!(s.proxy.count(&Method::GET, "/blobs/"), 0);
    s.assert_store_clean();
}

#[test]
fn connections_per_registry_are_bounded() {
    let registry = Registry::start().unwrap();
    let pushed = push_all_blocking(&registry).unwrap();
    let proxy = FaultProxy::start(registry.addr()).unwrap();
    // Slow blobs, so that downloads overlap.
    proxy.add(Rule::new("/blobs/", Fault::Delay(Duration::from_millis(150))).method(Method::GET));
    let project_with = |max: u32| {
        let mut toml = format!(
            "[policy]\nsignatures = \"none\"\n\n[network]\nmax-connections-per-registry = {max}\n"
        );
        for p in pushed.iter().filter(|p| p.rejection.is_none()) {
            let caps: Vec<String> = lf_registry_fixtures::fixture(&p.name)
                .unwrap()
                .manifest()
                .capabilities()
                .iter()
                .map(|c| format!("\"{c}\""))
                .collect();
            toml.push_str(&format!(
                "\n[connectors.{}]\nref = \"{}\"\ncapabilities = [{}]\n",
                p.name.replace('-', "_"),
                p.reference.replace(&registry.host(), &proxy.host()),
                caps.join(", ")
            ));
        }
        Project::with(&[("latticeflow.toml", &toml)])
    };
    proxy.clear_requests();
    assert_ok(&project_with(2).run(&["lock"]));
    let bounded = proxy.peak_connections();
    assert!(
        bounded <= 2,
        "{bounded} connections at once with a limit of 2"
    );
    proxy.clear_requests();
    assert_ok(&project_with(8).run(&["lock"]));
    assert!(
        proxy.peak_connections() > 2,
        "the limit is what held it: {} with 8",
        proxy.peak_connections()
    );
}

/// Runs `args` in the project, killing the run after `limit`: `None` if it
/// had to be killed.
fn run_within(p: &Project, args: &[&str], limit: Duration) -> Option<Run> {
    let mut child = p.spawn(args);
    let started = Instant::now();
    while started.elapsed() < limit {
        if child.try_wait().unwrap().is_some() {
            let out = child.wait_with_output().unwrap();
            return Some(Run {
                code: out.status.code().unwrap_or(-1),
                stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
                stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            });
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill().unwrap();
    let _ = child.wait();
    None
}

/// Settings that make a slow-loris registry fail in about a second: a
/// transfer may take `timeout-secs` plus its size at 100 kB/s.
const IMPATIENT: &str = "[network]\nretries = 1\ntimeout-secs = 1\nmin-bytes-per-sec = 100000\n";

#[test]
fn a_trickling_blob_hits_its_deadline_and_leaves_nothing() {
    let s = setup_with(Registry::start().unwrap(), IMPATIENT);
    let module = s.module("hash");
    // One byte every 200 ms: never idle for a second, yet the module would
    // take many minutes.
    s.proxy.add(
        Rule::new(
            &module,
            Fault::Trickle {
                interval: Duration::from_millis(200),
            },
        )
        .method(Method::GET),
    );
    let started = Instant::now();
    let run = run_within(&s.project, &["lock"], Duration::from_secs(30))
        .expect("the deadline ends the download");
    assert_eq!(run.code, 3, "{run:?}");
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
    assert!(run.stderr.contains("too slow"), "{}", run.stderr);
    assert!(run.stderr.contains(&module), "{}", run.stderr);
    assert!(run.stderr.contains("min-bytes-per-sec"), "{}", run.stderr);
    assert!(!s.project.path().join("latticeflow.lock").exists());
    s.assert_store_clean();
}

#[test]
fn a_trickling_manifest_hits_its_deadline() {
    let s = setup_with(Registry::start().unwrap(), IMPATIENT);
    s.proxy.add(
        Rule::new(
            "/manifests/",
            Fault::Trickle {
                interval: Duration::from_millis(200),
            },
        )
        .method(Method::GET),
    );
    let run = run_within(&s.project, &["lock"], Duration::from_secs(30))
        .expect("the deadline ends the download");
    assert_eq!(run.code, 3, "{run:?}");
    assert!(run.stderr.contains("too slow"), "{}", run.stderr);
    assert!(run.stderr.contains("the manifest sent"), "{}", run.stderr);
    assert!(!s.project.path().join("latticeflow.lock").exists());
    s.assert_store_clean();
}

/// A connector manifest whose config descriptor claims `config_size` bytes.
fn manifest_claiming(config_size: u64, module: &str, module_size: u64) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.wasm.config.v0+json",
            "digest": format!("sha256:{}", "ab".repeat(32)),
            "size": config_size,
        },
        "layers": [{
            "mediaType": "application/wasm",
            "digest": module,
            "size": module_size,
        }],
    }))
    .unwrap()
}

#[test]
fn a_config_over_its_limit_is_refused_before_any_download() {
    let s = setup();
    let hash = s.pushed.iter().find(|p| p.name == "hash").unwrap();
    let module = &hash.artifact.as_ref().unwrap().module;
    // 50 GiB declared: nothing may be written for it.
    s.proxy.add(
        Rule::new(
            "/manifests/",
            Fault::ServeManifest(manifest_claiming(50 << 30, &module.digest, module.size)),
        )
        .method(Method::GET),
    );
    let run = s.project.run(&["lock"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr.contains("config sha256:abab")
            && run.stderr.contains("declared as 53687091200 bytes")
            && run
                .stderr
                .contains("over the 4194304-byte limit (`max-config-bytes`"),
        "{}",
        run.stderr
    );
    assert_eq!(
        s.proxy.count(&Method::GET, "/blobs/"),
        0,
        "nothing downloaded"
    );
    assert!(!s.project.path().join("latticeflow.lock").exists());
    s.assert_store_clean();
}

#[test]
fn the_module_limit_is_configurable_and_bounds_every_download() {
    let s = setup_with(
        Registry::start().unwrap(),
        "[network]\nretries = 0\nmax-module-bytes = 100\n",
    );
    let module = s.module("hash");
    let run = s.project.run(&["lock"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr.contains(&format!("module {module}"))
            && run
                .stderr
                .contains("over the 100-byte limit (`max-module-bytes`"),
        "{}",
        run.stderr
    );
    assert_eq!(s.proxy.count(&Method::GET, &module), 0);
    assert!(!s.project.path().join("latticeflow.lock").exists());

    // `fetch` of a lock made under a larger limit: the download itself is
    // bounded too.
    let toml = s.project.read("latticeflow.toml");
    s.project.write(
        "latticeflow.toml",
        &toml.replace("max-module-bytes = 100\n", ""),
    );
    assert_ok(&s.project.run(&["lock"]));
    std::fs::remove_dir_all(s.project.cache()).unwrap();
    s.project.write("latticeflow.toml", &toml);
    s.proxy.clear_requests();
    let run = s.project.run(&["fetch"]);
    assert_ne!(run.code, 0, "{run:?}");
    assert!(
        run.stderr
            .contains("over the 100-byte limit (`max-module-bytes`"),
        "{}",
        run.stderr
    );
    assert_eq!(s.proxy.count(&Method::GET, &module), 0);
    s.project.write(
        "latticeflow.toml",
        &toml.replace("max-module-bytes = 100\n", ""),
    );
    assert_ok(&s.project.run(&["fetch"]));
    s.assert_store_clean();
}

#[test]
fn a_flipped_manifest_byte_is_caught_by_digest_for_pinned_and_tagged_refs() {
    let s = setup();
    let hash = s.pushed.iter().find(|p| p.name == "hash").unwrap();
    let digest = &hash.manifest_digest;
    // Byte 40 sits inside a JSON string, so the manifest still parses:
    // only the digest checks can tell.
    s.proxy
        .add(Rule::new("/manifests/", Fault::FlipByte { offset: 40 }).method(Method::GET));

    // By tag: checked against `Docker-Content-Digest`.
    let run = s.project.run(&["lock"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr.contains("digest mismatch")
            && run.stderr.contains(&format!("expected {digest}")),
        "{}",
        run.stderr
    );
    assert!(!s.project.path().join("latticeflow.lock").exists());
    s.assert_store_clean();

    // Pinned: checked against the digest asked for.
    let toml = s.project.read("latticeflow.toml");
    let tagged = toml
        .lines()
        .find(|l| l.contains("/latticeflow/hash:"))
        .unwrap()
        .trim_end_matches('"')
        .to_owned();
    s.project.write(
        "latticeflow.toml",
        &toml.replace(&format!("{tagged}\""), &format!("{tagged}@{digest}\"")),
    );
    let run = s.project.run(&["lock"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr.contains("digest mismatch")
            && run.stderr.contains(&format!("@{digest}"))
            && run.stderr.contains(&format!("expected {digest}")),
        "{}",
        run.stderr
    );
    assert!(!s.project.path().join("latticeflow.lock").exists());
    s.assert_store_clean();
}

/// The `.tmp-*` files in a store.
fn temp_files(cache: &std::path::Path) -> Vec<std::path::PathBuf> {
    ["sha256", "sha512"]
        .iter()
        .filter_map(|alg| std::fs::read_dir(cache.join("blobs").join(alg)).ok())
        .flat_map(|entries| entries.map(|e| e.unwrap().path()))
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with(".tmp-")
        })
        .collect()
}

#[test]
fn a_killed_lock_leaves_temp_files_that_the_next_run_removes() {
    let s = setup();
    let module = s.module("text-upper");
    s.proxy.add(
        Rule::new(
            &module,
            Fault::Trickle {
                interval: Duration::from_millis(100),
            },
        )
        .method(Method::GET),
    );
    let mut first = s.project.spawn(&["lock"]);
    let started = Instant::now();
    // The trickled module's file: the one still there after the other
    // blobs had time to finish.
    let temps = loop {
        let temps = temp_files(&s.project.cache());
        std::thread::sleep(Duration::from_millis(500));
        let still: Vec<_> = temp_files(&s.project.cache())
            .into_iter()
            .filter(|t| temps.contains(t))
            .collect();
        if !still.is_empty() {
            break still;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no download started"
        );
        std::thread::sleep(Duration::from_millis(50));
    };

    // Another run on the same store while the download is alive: it must
    // not take the live file away.
    let other = Project::with(&[("latticeflow.toml", "[policy]\nsignatures = \"none\"\n")]);
    // A `lock` of another project on the same store.
    let lock_on_the_store = || {
        let run = std::process::Command::new(common::BIN)
            .arg("lock")
            .current_dir(other.path())
            .env("LF_CACHE_DIR", s.project.cache())
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        assert!(run.status.success(), "{run:?}");
    };
    lock_on_the_store();
    assert!(
        temps.iter().all(|t| t.exists()),
        "a live download's file was removed"
    );

    first.kill().unwrap();
    first.wait().unwrap();
    assert!(
        temps.iter().all(|t| t.exists()),
        "killing leaves the file behind"
    );
    assert!(!s.project.path().join("latticeflow.lock").exists());

    // The next run of any command on that store removes it.
    lock_on_the_store();
    assert_eq!(
        temp_files(&s.project.cache()),
        Vec::<std::path::PathBuf>::new()
    );
    s.proxy.clear();
    assert_ok(&s.project.run(&["lock"]));
    s.assert_store_clean();
}

#[test]
fn headers_sent_one_byte_at_a_time_time_out() {
    let slow = lf_registry_fixtures::proxy::SlowHeaders::start(Duration::from_millis(200)).unwrap();
    let p = Project::with(&[(
        "latticeflow.toml",
        &format!(
            "[policy]\nsignatures = \"none\"\n\n{IMPATIENT}\n[connectors.hash]\nref = \"{}/latticeflow/hash:1.0\"\n",
            slow.host()
        ),
    )]);
    let started = Instant::now();
    let run = run_within(&p, &["lock"], Duration::from_secs(30)).expect("the head timeout ends it");
    assert_eq!(run.code, 3, "{run:?}");
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
    assert!(run.stderr.contains("operation timed out"), "{}", run.stderr);
    assert!(!p.path().join("latticeflow.lock").exists());
}

#[test]
fn a_trickled_error_body_is_read_only_briefly() {
    let s = setup_with(Registry::start().unwrap(), IMPATIENT);
    let toml = s.project.read("latticeflow.toml");
    // A tag that does not exist: the registry's 404 body (about 100 bytes)
    // would take half a minute at this pace.
    s.project.write(
        "latticeflow.toml",
        &toml.replace("/latticeflow/hash:1.0", "/latticeflow/hash:9.9"),
    );
    s.proxy.add(
        Rule::new(
            "/manifests/9.9",
            Fault::Trickle {
                interval: Duration::from_millis(300),
            },
        )
        .method(Method::GET),
    );
    let started = Instant::now();
    let run = run_within(&s.project, &["lock"], Duration::from_secs(60)).unwrap();
    assert_eq!(run.code, 3, "{run:?}");
    assert!(run.stderr.contains("was not found"), "{}", run.stderr);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert!(!s.project.path().join("latticeflow.lock").exists());
    s.assert_store_clean();
}
