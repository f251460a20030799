//! Table tests for the OCI reference grammar: what each written reference
//! normalises to, and what each malformed one is rejected with.

#![allow(clippy::unwrap_used)]

use lf_lockfile::{Reference, validate_registry_host};

const SHA256: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// A reference that must parse, and its parts after normalisation.
struct Valid {
    input: String,
    registry: String,
    repository: String,
    tag: Option<String>,
    digest: Option<String>,
}

fn ok(input: &str, registry: &str, repository: &str, tag: Option<&str>) -> Valid {
    Valid {
        input: input.to_owned(),
        registry: registry.to_owned(),
        repository: repository.to_owned(),
        tag: tag.map(str::to_owned),
        digest: None,
    }
}

fn pinned(input: &str, registry: &str, repository: &str, tag: Option<&str>, digest: &str) -> Valid {
    Valid {
        digest: Some(digest.to_owned()),
        ..ok(input, registry, repository, tag)
    }
}

fn valid_cases() -> Vec<Valid> {
    let sha512 = format!("sha512:{}", "ab".repeat(64));
    let long_tag = "t".repeat(128);
    // `ghcr.io/` + 247 = 255, the longest name allowed.
    let long_repository = "a".repeat(247);
    vec![
        // Docker Hub normalisation.
        ok("alpine", "docker.io", "library/alpine", None),
        ok("alpine:3.20", "docker.io", "library/alpine", Some("3.20")),
        ok("library/alpine", "docker.io", "library/alpine", None),
        ok("docker.io/alpine", "docker.io", "library/alpine", None),
        ok(
            "docker.io/library/alpine:3.20",
            "docker.io",
            "library/alpine",
            Some("3.20"),
        ),
        ok(
            "index.docker.io/alpine",
            "docker.io",
            "library/alpine",
            None,
        ),
        ok(
            "index.docker.io/org/app:v1",
            "docker.io",
            "org/app",
            Some("v1"),
        ),
        ok("org/app", "docker.io", "org/app", None),
        ok("org/team/app", "docker.io", "org/team/app", None),
        // A port keeps Docker Hub's names as written.
        ok("docker.io:443/alpine", "docker.io:443", "alpine", None),
        // Hosts.
        ok("ghcr.io/org/app:1.0", "ghcr.io", "org/app", Some("1.0")),
        ok("ghcr.io/app", "ghcr.io", "app", None),
        ok(
            "registry.example.com/a/b/c/d",
            "registry.example.com",
            "a/b/c/d",
            None,
        ),
        ok(
            "Registry.Example.COM/app",
            "Registry.Example.COM",
            "app",
            None,
        ),
        ok(
            "my-registry.example.com/app",
            "my-registry.example.com",
            "app",
            None,
        ),
        ok("localhost/app", "localhost", "app", None),
        ok(
            "localhost:5000/app:dev",
            "localhost:5000",
            "app",
            Some("dev"),
        ),
        ok("127.0.0.1:5000/org/app", "127.0.0.1:5000", "org/app", None),
        ok("myhost:5000/app", "myhost:5000", "app", None),
        ok("ghcr.io:65535/app", "ghcr.io:65535", "app", None),
        ok("[::1]/app", "[::1]", "app", None),
        ok("[::1]:5000/app:1", "[::1]:5000", "app", Some("1")),
        ok(
            "[2001:db8::1]:443/org/app",
            "[2001:db8::1]:443",
            "org/app",
            None,
        ),
        // Without a `/`, `localhost:5000` is the Docker Hub image `localhost`, tag 5000.
        ok(
            "localhost:5000",
            "docker.io",
            "library/localhost",
            Some("5000"),
        ),
        // Path component separators.
        ok("ghcr.io/a.b_c/d__e", "ghcr.io", "a.b_c/d__e", None),
        ok("ghcr.io/a---b", "ghcr.io", "a---b", None),
        ok("ghcr.io/0/9", "ghcr.io", "0/9", None),
        // Tags.
        ok("ghcr.io/app:_", "ghcr.io", "app", Some("_")),
        ok("ghcr.io/app:V1.2-rc_3", "ghcr.io", "app", Some("V1.2-rc_3")),
        ok(
            &format!("ghcr.io/a:{long_tag}"),
            "ghcr.io",
            "a",
            Some(&long_tag),
        ),
        ok(
            &format!("ghcr.io/{long_repository}"),
            "ghcr.io",
            &long_repository,
            None,
        ),
        // Digests.
        pinned(
            &format!("ghcr.io/app@{SHA256}"),
            "ghcr.io",
            "app",
            None,
            SHA256,
        ),
        pinned(
            &format!("ghcr.io/app:1.0@{SHA256}"),
            "ghcr.io",
            "app",
            Some("1.0"),
            SHA256,
        ),
        pinned(
            &format!("alpine@{SHA256}"),
            "docker.io",
            "library/alpine",
            None,
            SHA256,
        ),
        pinned(
            &format!("localhost:5000/app@{sha512}"),
            "localhost:5000",
            "app",
            None,
            &sha512,
        ),
    ]
}

/// Malformed references and a part of the message each must produce.
fn invalid_cases() -> Vec<(String, &'static str)> {
    let s = |x: &str| x.to_owned();
    vec![
        (s(""), "the reference is empty"),
        (s(" alpine"), "cannot contain whitespace"),
        (s("alpine "), "cannot contain whitespace"),
        (s("ghcr.io/my app"), "cannot contain whitespace"),
        (s("https://ghcr.io/org/app"), "remove `https://`"),
        (s("oci://ghcr.io/org/app"), "remove `oci://`"),
        (
            s("Foo/bar"),
            "invalid reference `Foo/bar`: repository names must be lowercase",
        ),
        (s("ghcr.io/Org/app"), "repository names must be lowercase"),
        (s("ALPINE"), "repository names must be lowercase"),
        (s("ghcr.io//app"), "empty path component"),
        (s("ghcr.io/app/"), "empty path component"),
        (s("/app"), "empty path component"),
        (s("ghcr.io/"), "empty path component"),
        (s("ghcr.io/a___b"), "path component `a___b` is invalid"),
        (s("ghcr.io/a-"), "path component `a-` is invalid"),
        (s("ghcr.io/_a"), "path component `_a` is invalid"),
        (s("ghcr.io/a..b"), "path component `a..b` is invalid"),
        (s("ghcr.io/a._b"), "path component `a._b` is invalid"),
        (s("ghcr.io/a+b"), "path component `a+b` is invalid"),
        (s("ghcr.io/org/a!"), "path component `a!` is invalid"),
        (s("gh_cr.io/app"), "registry host `gh_cr.io` is invalid"),
        (s("-ghcr.io/app"), "registry host `-ghcr.io` is invalid"),
        (s("ghcr..io/app"), "registry host `ghcr..io` is invalid"),
        (s("ghcr.io./app"), "registry host `ghcr.io.` is invalid"),
        (s("[::1/app"), "registry host `[::1` is invalid"),
        (
            s("[zz::1]:5000/app"),
            "registry host `[zz::1]:5000` is invalid",
        ),
        (
            s("localhost:/app"),
            "registry port `` must be a number from 1 to 65535",
        ),
        (s("localhost:0/app"), "registry port `0`"),
        (s("localhost:65536/app"), "registry port `65536`"),
        (s("localhost:50a/app"), "registry port `50a`"),
        (s("ghcr.io/app:"), "empty tag after `:`"),
        (s("ghcr.io/app:-rc"), "tag `-rc` is invalid"),
        (s("ghcr.io/app:.x"), "tag `.x` is invalid"),
        (s("ghcr.io/app:a+b"), "tag `a+b` is invalid"),
        (s("a:b:c"), "path component `a:b` is invalid"),
        (
            format!("ghcr.io/app:{}", "t".repeat(129)),
            "the tag is 129 characters long; the maximum is 128",
        ),
        (
            format!("ghcr.io/{}", "a".repeat(248)),
            "the name is 256 characters long once normalised",
        ),
        // Normalisation counts: `docker.io/library/` + 238 = 256.
        (
            s(&"a".repeat(238)),
            "the name is 256 characters long once normalised",
        ),
        (
            s("ghcr.io/app@md5:d41d8cd98f00b204e9800998ecf8427e"),
            "unsupported digest algorithm `md5`",
        ),
        (
            s("ghcr.io/app@sha256:abc"),
            "must have 64 hex digits, found 3",
        ),
        (s("ghcr.io/app@"), "is not a digest"),
        (
            format!("ghcr.io/app@{SHA256}@{SHA256}"),
            "must be lowercase hex",
        ),
        (
            format!("ghcr.io/app@{}", SHA256.to_uppercase()),
            "unsupported digest algorithm `SHA256`",
        ),
        (s(":latest"), "the repository name is missing"),
        (format!("@{SHA256}"), "the repository name is missing"),
        (s(&SHA256[7..]), "is an image ID, not a repository"),
    ]
}

#[test]
fn valid_references_normalise() {
    let cases = valid_cases();
    for case in &cases {
        let r: Reference = case
            .input
            .parse()
            .unwrap_or_else(|e| panic!("{:?} should parse: {e}", case.input));
        assert_eq!(r.registry(), case.registry, "registry of {:?}", case.input);
        assert_eq!(
            r.repository(),
            case.repository,
            "repository of {:?}",
            case.input
        );
        assert_eq!(r.tag(), case.tag.as_deref(), "tag of {:?}", case.input);
        assert_eq!(
            r.digest().map(ToString::to_string),
            case.digest,
            "digest of {:?}",
            case.input
        );
        let canonical = r.to_string();
        assert_eq!(canonical.parse::<Reference>().unwrap(), r, "{canonical:?}");
        assert_eq!(r.name(), format!("{}/{}", case.registry, case.repository));
    }
    assert!(cases.len() >= 30, "{} valid cases", cases.len());
}

#[test]
fn invalid_references_say_why() {
    let cases = invalid_cases();
    for (input, expected) in &cases {
        let message = match input.parse::<Reference>() {
            Ok(r) => panic!("{input:?} should not parse, got {r}"),
            Err(e) => e.to_string(),
        };
        assert!(
            message.contains(expected),
            "{input:?}: expected {expected:?} in {message:?}"
        );
        let shown = if input.is_empty() {
            "``".to_owned()
        } else {
            format!("`{input}`")
        };
        assert!(
            message.contains(&shown),
            "{input:?}: message does not name it: {message:?}"
        );
    }
    assert!(cases.len() >= 40, "{} invalid cases", cases.len());
}

#[test]
fn display_is_the_canonical_form() {
    let cases = [
        ("alpine", "docker.io/library/alpine"),
        ("alpine:3.20", "docker.io/library/alpine:3.20"),
        ("index.docker.io/org/app:v1", "docker.io/org/app:v1"),
        ("localhost:5000/app", "localhost:5000/app"),
        ("[::1]:5000/app:1", "[::1]:5000/app:1"),
    ];
    for (input, canonical) in cases {
        assert_eq!(input.parse::<Reference>().unwrap().to_string(), canonical);
    }
}

#[test]
fn registry_hosts_as_written_in_config() {
    for host in [
        "ghcr.io",
        "localhost:5000",
        "[::1]:5000",
        "10.0.0.1",
        "mirror",
    ] {
        validate_registry_host(host).unwrap_or_else(|e| panic!("{host}: {e}"));
    }
    let cases = [
        ("https://ghcr.io", "remove `https://`"),
        ("http://localhost:5000", "remove `http://`"),
        ("ghcr.io/org", "without a path"),
        ("localhost:5000/", "without a path"),
        ("localhost:http", "port `http` must be"),
        ("ghcr.io ", "invalid registry host `ghcr.io `"),
    ];
    for (host, expected) in cases {
        let message = validate_registry_host(host).unwrap_err().to_string();
        assert!(message.contains(expected), "{host:?}: {message}");
    }
}
