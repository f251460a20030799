//! OCI references (`registry/repo/path:tag@sha256:…`), following the grammar of
//! `github.com/distribution/reference` (the one docker, containerd and oras use):
//!
//! ```text
//! reference        := name [ ":" tag ] [ "@" digest ]
//! name             := [ domain "/" ] path-component [ "/" path-component ]*
//! domain           := host [ ":" port ]
//! host             := domain-name | "[" IPv6address "]"
//! domain-name      := domain-label [ "." domain-label ]*
//! domain-label     := [a-zA-Z0-9] | [a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]
//! port             := [0-9]+                       (1..=65535)
//! path-component   := [a-z0-9]+ ( ( "." | "_" | "__" | "-"+ ) [a-z0-9]+ )*
//! tag              := [\w][\w.-]{0,127}
//! digest           := "sha256:" 64 hex | "sha512:" 128 hex   (see [`Digest`])
//! ```
//!
//! The first `/`-separated component is the registry host when it contains a
//! `.` or a `:`, or is exactly `localhost`; otherwise the whole name is a Docker
//! Hub repository. Normalisation then follows docker: no host means
//! `docker.io`, `index.docker.io` becomes `docker.io`, and a single-component
//! Docker Hub repository gets `library/` in front. [`Reference`]'s `Display`
//! prints that canonical form, so parsing what it prints gives back an equal
//! value.
//!
//! One deliberate difference from docker: docker also treats a first component
//! with an uppercase letter (`Foo/bar`) as a registry host. Here it is a
//! repository, and so an error ("repository names must be lowercase"): a bare
//! word without a dot or a port is almost always a mistyped namespace, and
//! reporting that beats failing later to resolve a host called `Foo`. A
//! single-label host other than `localhost` is still reachable by giving its
//! port (`myhost:5000/repo`). Host names keep the case they were written in, as
//! in distribution.
//!
//! The parser is written by hand rather than with the `regex` crate: the
//! grammar is small, and each way it can fail gets its own
//! [`ReferenceError`] variant naming the offending part.
//!
//! This module only reads strings: it never resolves a tag, contacts a
//! registry or implies `latest` in the stored value.

use std::fmt;
use std::net::Ipv6Addr;
use std::str::FromStr;

use crate::{Digest, DigestError};

/// The registry every host-less reference points to.
const DOCKER_HUB: &str = "docker.io";
/// The legacy name of Docker Hub, normalised to [`DOCKER_HUB`].
const DOCKER_HUB_LEGACY: &str = "index.docker.io";
/// The namespace of Docker Hub's official images.
const DOCKER_HUB_OFFICIAL: &str = "library/";
/// The tag fetched when a reference has neither tag nor digest.
const DEFAULT_TAG: &str = "latest";
/// The longest allowed normalised name (`registry/repository`), in characters.
pub(crate) const NAME_MAX_LEN: usize = 255;
/// The longest allowed tag, in characters.
pub(crate) const TAG_MAX_LEN: usize = 128;

/// A parsed, normalised OCI reference.
///
/// Invariants (enforced by [`FromStr`]; the other constructors only change the
/// digest of a value that already holds them):
/// * `registry` is a valid `host[:port]` (Docker Hub normalised to `docker.io`);
/// * `repository` follows the distribution path grammar (lowercase components,
///   `library/` added for single-component Docker Hub names);
/// * `registry/repository` is at most 255 characters, the tag at most 128;
/// * tag and digest are each optional; when both are absent nothing is stored,
///   and [`Reference::tag_or_latest`] gives the tag to fetch.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Reference {
    registry: String,
    repository: String,
    tag: Option<String>,
    digest: Option<Digest>,
}

/// Why a string is not a [`Reference`], or not a registry host (see
/// [`validate_registry_host`]).
///
/// Each message names the input and says what was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReferenceError {
    /// The reference is the empty string.
    #[error(
        "invalid reference ``: the reference is empty; expected \
         `[registry/]repository[:tag][@digest]`, e.g. `ghcr.io/org/connector:1.0`"
    )]
    Empty,
    /// The reference contains a space, tab or newline.
    #[error("invalid reference `{input}`: references cannot contain whitespace")]
    Whitespace {
        /// The reference as written.
        input: String,
    },
    /// The reference is written as a URL (`https://…`).
    #[error(
        "invalid reference `{input}`: references have no scheme; remove `{scheme}://` and \
         write `registry/repository[:tag]`"
    )]
    Scheme {
        /// The reference as written.
        input: String,
        /// What came before `://`.
        scheme: String,
    },
    /// The reference is a bare 64-digit hex string, which docker reserves for
    /// image IDs.
    #[error(
        "invalid reference `{input}`: a 64-digit hex string is an image ID, not a repository; \
         to pin a digest write `repository@sha256:<hex>`"
    )]
    HexName {
        /// The reference as written.
        input: String,
    },
    /// Nothing comes before the `:tag` or `@digest`.
    #[error("invalid reference `{input}`: the repository name is missing before the tag or digest")]
    MissingRepository {
        /// The reference as written.
        input: String,
    },
    /// A leading, trailing or doubled `/`.
    #[error(
        "invalid reference `{input}`: empty path component (a leading, trailing or doubled `/`)"
    )]
    EmptyComponent {
        /// The reference as written.
        input: String,
    },
    /// The registry host is not a domain name or a bracketed IPv6 address.
    #[error(
        "invalid reference `{input}`: registry host `{domain}` is invalid; expected labels of \
         letters, digits and inner `-` separated by `.`, or a bracketed IPv6 address such as \
         `[::1]`, optionally followed by `:port`"
    )]
    BadDomain {
        /// The reference as written.
        input: String,
        /// The registry part (`host[:port]`) as written.
        domain: String,
    },
    /// The registry port is not a number from 1 to 65535.
    #[error("invalid reference `{input}`: registry port `{port}` must be a number from 1 to 65535")]
    BadPort {
        /// The reference as written.
        input: String,
        /// The text after the host's `:`.
        port: String,
    },
    /// The repository has an uppercase letter.
    #[error(
        "invalid reference `{input}`: repository names must be lowercase (found `{repository}`)"
    )]
    UppercaseRepository {
        /// The reference as written.
        input: String,
        /// The repository part as written.
        repository: String,
    },
    /// A path component breaks the grammar.
    #[error(
        "invalid reference `{input}`: path component `{component}` is invalid; expected \
         lowercase letters and digits, separated by one `.`, one or two `_`, or dashes, \
         starting and ending with a letter or digit"
    )]
    BadPathComponent {
        /// The reference as written.
        input: String,
        /// The offending component.
        component: String,
    },
    /// The normalised `registry/repository` is longer than 255 characters.
    #[error(
        "invalid reference `{input}`: the name is {length} characters long once normalised \
         (`registry/repository`); the maximum is 255"
    )]
    NameTooLong {
        /// The reference as written.
        input: String,
        /// The length of the normalised name.
        length: usize,
    },
    /// A `:` with nothing after it.
    #[error("invalid reference `{input}`: empty tag after `:`; remove the `:` or write a tag")]
    EmptyTag {
        /// The reference as written.
        input: String,
    },
    /// The tag breaks the grammar.
    #[error(
        "invalid reference `{input}`: tag `{tag}` is invalid; expected letters, digits, `_`, \
         `.` and `-`, not starting with `.` or `-`"
    )]
    BadTag {
        /// The reference as written.
        input: String,
        /// The tag as written.
        tag: String,
    },
    /// The tag is longer than 128 characters.
    #[error("invalid reference `{input}`: the tag is {length} characters long; the maximum is 128")]
    TagTooLong {
        /// The reference as written.
        input: String,
        /// The tag's length.
        length: usize,
    },
    /// The part after `@` is not a supported digest.
    ///
    /// The digest error is part of this message, so it is not also reported
    /// as the [`source`](std::error::Error::source), which would print it twice.
    #[error("invalid reference `{input}`: {error}")]
    Digest {
        /// The reference as written.
        input: String,
        /// Why the digest was rejected.
        error: DigestError,
    },
    /// [`validate_registry_host`] was given an empty string.
    #[error(
        "invalid registry host ``: the host is empty; expected `host[:port]`, e.g. `ghcr.io` \
         or `localhost:5000`"
    )]
    RegistryHostEmpty,
    /// [`validate_registry_host`] was given a URL.
    #[error(
        "invalid registry host `{host}`: remove `{scheme}://`; a registry is written as \
         `host[:port]` (use the registry's `protocol` setting to choose http or https)"
    )]
    RegistryHostScheme {
        /// The host as written.
        host: String,
        /// What came before `://`.
        scheme: String,
    },
    /// [`validate_registry_host`] was given a path.
    #[error(
        "invalid registry host `{host}`: expected `host[:port]` without a path; repositories \
         belong in a connector's `ref`"
    )]
    RegistryHostPath {
        /// The host as written.
        host: String,
    },
    /// [`validate_registry_host`] was given something that is not a host name.
    #[error(
        "invalid registry host `{host}`: expected labels of letters, digits and inner `-` \
         separated by `.`, or a bracketed IPv6 address such as `[::1]`, optionally followed \
         by `:port`"
    )]
    BadRegistryHost {
        /// The host as written.
        host: String,
    },
    /// [`validate_registry_host`] was given a bad port.
    #[error("invalid registry host `{host}`: port `{port}` must be a number from 1 to 65535")]
    BadRegistryPort {
        /// The host as written.
        host: String,
        /// The text after the host's `:`.
        port: String,
    },
}

impl Reference {
    /// The registry host with optional port, e.g. `ghcr.io` or `127.0.0.1:5000`.
    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// The repository path, e.g. `latticeflow/google-drive-files-list`.
    pub fn repository(&self) -> &str {
        &self.repository
    }

    /// The tag, if one was written.
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    /// The tag to resolve when fetching by tag: the written tag, or `latest`
    /// when none was written.
    pub fn tag_or_latest(&self) -> &str {
        self.tag.as_deref().unwrap_or(DEFAULT_TAG)
    }

    /// The digest, if one was written.
    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }

    /// The normalised name without tag or digest: `registry/repository`.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// The same name and tag, pinned to `digest` (replacing any digest it had).
    #[must_use]
    pub fn with_digest(&self, digest: Digest) -> Reference {
        Reference {
            digest: Some(digest),
            ..self.clone()
        }
    }

    /// The same name and tag, without a digest.
    #[must_use]
    pub fn without_digest(&self) -> Reference {
        Reference {
            digest: None,
            ..self.clone()
        }
    }

    /// The reference of `tag` in the same repository, without a digest
    /// (e.g. cosign's `sha256-<hex>.sig`). The tag is checked like any other.
    pub fn with_tag(&self, tag: &str) -> Result<Reference, ReferenceError> {
        format!("{}:{tag}", self.name()).parse()
    }

    /// The tag cosign derives from a digest: `sha256-<hex>`, to which it
    /// appends `.sig` for simple signatures; also the OCI referrers tag fallback.
    pub fn digest_tag(digest: &Digest) -> String {
        format!("{}-{}", digest.algorithm(), digest.hex())
    }
}

/// Checks a registry name as written in `latticeflow.toml` (a
/// `[registries."…"]` key or a mirror): `host[:port]`, where host is a domain
/// name or a bracketed IPv6 address and port is 1..=65535.
///
/// A scheme (`https://…`) or a path gets its own error saying what to remove.
/// Names are not normalised (`index.docker.io` stays as written). A single
/// label such as `mirror` is a valid host here, although a reference can only
/// name it with a port (see the module docs).
pub fn validate_registry_host(s: &str) -> Result<(), ReferenceError> {
    if s.is_empty() {
        return Err(ReferenceError::RegistryHostEmpty);
    }
    if let Some(scheme) = url_scheme(s) {
        return Err(ReferenceError::RegistryHostScheme {
            host: s.to_owned(),
            scheme: scheme.to_owned(),
        });
    }
    if s.contains('/') {
        return Err(ReferenceError::RegistryHostPath { host: s.to_owned() });
    }
    check_host(s).map_err(|problem| match problem {
        HostProblem::Host => ReferenceError::BadRegistryHost { host: s.to_owned() },
        HostProblem::Port(port) => ReferenceError::BadRegistryPort {
            host: s.to_owned(),
            port: port.to_owned(),
        },
    })
}

impl FromStr for Reference {
    type Err = ReferenceError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let input = || s.to_owned();
        if s.is_empty() {
            return Err(ReferenceError::Empty);
        }
        if s.contains(char::is_whitespace) {
            return Err(ReferenceError::Whitespace { input: input() });
        }
        if let Some(scheme) = url_scheme(s) {
            return Err(ReferenceError::Scheme {
                input: input(),
                scheme: scheme.to_owned(),
            });
        }
        if s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(ReferenceError::HexName { input: input() });
        }

        // `@` cannot occur in a name or tag, so the first one starts the digest.
        let (name_and_tag, digest) = match s.split_once('@') {
            Some((rest, digest)) => (rest, Some(digest)),
            None => (s, None),
        };
        // A `:` after the last `/` starts the tag; earlier ones belong to a port
        // or an IPv6 address.
        let last_slash = name_and_tag.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match name_and_tag[last_slash..].rfind(':') {
            Some(i) => (
                &name_and_tag[..last_slash + i],
                Some(&name_and_tag[last_slash + i + 1..]),
            ),
            None => (name_and_tag, None),
        };
        if name.is_empty() {
            return Err(ReferenceError::MissingRepository { input: input() });
        }

        let (domain, path) = split_domain(name);
        if let Some(domain) = domain {
            check_host(domain).map_err(|problem| match problem {
                HostProblem::Host => ReferenceError::BadDomain {
                    input: input(),
                    domain: domain.to_owned(),
                },
                HostProblem::Port(port) => ReferenceError::BadPort {
                    input: input(),
                    port: port.to_owned(),
                },
            })?;
        }
        check_path(path).map_err(|problem| match problem {
            PathProblem::Empty => ReferenceError::EmptyComponent { input: input() },
            PathProblem::Uppercase => ReferenceError::UppercaseRepository {
                input: input(),
                repository: path.to_owned(),
            },
            PathProblem::Component(component) => ReferenceError::BadPathComponent {
                input: input(),
                component: component.to_owned(),
            },
        })?;

        let registry = match domain {
            None | Some(DOCKER_HUB_LEGACY) => DOCKER_HUB,
            Some(domain) => domain,
        };
        let repository = if registry == DOCKER_HUB && !path.contains('/') {
            format!("{DOCKER_HUB_OFFICIAL}{path}")
        } else {
            path.to_owned()
        };
        let length = registry.len() + 1 + repository.len();
        if length > NAME_MAX_LEN {
            return Err(ReferenceError::NameTooLong {
                input: input(),
                length,
            });
        }

        let tag = tag
            .map(|tag| check_tag(tag, s).map(|()| tag.to_owned()))
            .transpose()?;
        let digest = digest
            .map(|digest| {
                digest
                    .parse::<Digest>()
                    .map_err(|error| ReferenceError::Digest {
                        input: input(),
                        error,
                    })
            })
            .transpose()?;

        Ok(Reference {
            registry: registry.to_owned(),
            repository,
            tag,
            digest,
        })
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

impl serde::Serialize for Reference {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Reference {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// The scheme of a URL-looking string (`https` in `https://ghcr.io/x`).
fn url_scheme(s: &str) -> Option<&str> {
    s.split_once("://").map(|(scheme, _)| scheme)
}

/// Splits a name into its registry part, if the first component is one, and
/// the repository path.
fn split_domain(name: &str) -> (Option<&str>, &str) {
    match name.split_once('/') {
        Some((first, rest)) if first.contains(['.', ':']) || first == "localhost" => {
            (Some(first), rest)
        }
        _ => (None, name),
    }
}

/// What is wrong with a `host[:port]`.
enum HostProblem<'a> {
    /// The host part is not a domain name or bracketed IPv6 address.
    Host,
    /// The port part (given) is not 1..=65535.
    Port(&'a str),
}

/// Checks `host[:port]` against the domain grammar.
fn check_host(s: &str) -> Result<(), HostProblem<'_>> {
    let port = if let Some(bracketed) = s.strip_prefix('[') {
        let (address, after) = bracketed.split_once(']').ok_or(HostProblem::Host)?;
        // Stricter than distribution's `[a-fA-F0-9:]+`: the address must parse.
        address.parse::<Ipv6Addr>().map_err(|_| HostProblem::Host)?;
        match after {
            "" => None,
            after => Some(after.strip_prefix(':').ok_or(HostProblem::Host)?),
        }
    } else {
        let (host, port) = match s.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (s, None),
        };
        if !host.split('.').all(is_domain_label) {
            return Err(HostProblem::Host);
        }
        port
    };
    match port {
        Some(port) if !is_port(port) => Err(HostProblem::Port(port)),
        _ => Ok(()),
    }
}

/// Digits only, 1..=65535.
fn is_port(port: &str) -> bool {
    !port.is_empty()
        && port.bytes().all(|b| b.is_ascii_digit())
        && port.parse::<u16>().is_ok_and(|p| p != 0)
}

/// `[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?`
fn is_domain_label(label: &str) -> bool {
    let alphanumeric = |c: char| c.is_ascii_alphanumeric();
    label.starts_with(alphanumeric)
        && label.ends_with(alphanumeric)
        && label.chars().all(|c| alphanumeric(c) || c == '-')
}

/// What is wrong with a repository path.
enum PathProblem<'a> {
    /// A component is empty.
    Empty,
    /// The path has an uppercase letter.
    Uppercase,
    /// This component breaks the grammar.
    Component(&'a str),
}

/// Checks `path-component ["/" path-component]*`.
fn check_path(path: &str) -> Result<(), PathProblem<'_>> {
    if path.split('/').any(str::is_empty) {
        return Err(PathProblem::Empty);
    }
    if path.contains(|c: char| c.is_ascii_uppercase()) {
        return Err(PathProblem::Uppercase);
    }
    match path.split('/').find(|c| !is_path_component(c)) {
        Some(component) => Err(PathProblem::Component(component)),
        None => Ok(()),
    }
}

/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`
fn is_path_component(component: &str) -> bool {
    let alphanumeric = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    component.starts_with(alphanumeric)
        && component.ends_with(alphanumeric)
        // What lies between letters and digits must be a single separator.
        && component
            .split(alphanumeric)
            .all(|sep| matches!(sep, "." | "_" | "__") || sep.bytes().all(|b| b == b'-'))
}

/// Checks `[\w][\w.-]{0,127}`; `input` is the whole reference, for the error.
fn check_tag(tag: &str, input: &str) -> Result<(), ReferenceError> {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    if tag.is_empty() {
        return Err(ReferenceError::EmptyTag {
            input: input.to_owned(),
        });
    }
    if !tag.starts_with(word) || !tag.chars().all(|c| word(c) || c == '.' || c == '-') {
        return Err(ReferenceError::BadTag {
            input: input.to_owned(),
            tag: tag.to_owned(),
        });
    }
    if tag.len() > TAG_MAX_LEN {
        return Err(ReferenceError::TagTooLong {
            input: input.to_owned(),
            length: tag.len(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {

    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn sibling_tags_and_digest_tags() {
        let r: Reference = "localhost:5000/lf/a:1.0@sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855".parse().unwrap();
        let d = r.digest().unwrap().clone();
        let sig = r
            .with_tag(&format!("{}.sig", Reference::digest_tag(&d)))
            .unwrap();
        assert_eq!(
            sig.to_string(),
            "localhost:5000/lf/a:sha256-e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855.sig"
        );
        assert!(r.with_tag("bad tag").is_err());
    }
    use crate::Algorithm;
    use proptest::prelude::*;

    const E3B: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    fn parse(s: &str) -> Reference {
        s.parse()
            .unwrap_or_else(|e| panic!("{s:?} should parse: {e}"))
    }

    fn err(s: &str) -> ReferenceError {
        s.parse::<Reference>()
            .expect_err(&format!("{s:?} should not parse"))
    }

    #[test]
    fn normalises_docker_hub() {
        for input in [
            "alpine",
            "docker.io/alpine",
            "index.docker.io/alpine",
            "docker.io/library/alpine",
            "index.docker.io/library/alpine",
        ] {
            let r = parse(input);
            assert_eq!(r.registry(), "docker.io", "{input}");
            assert_eq!(r.repository(), "library/alpine", "{input}");
            assert_eq!(r.to_string(), "docker.io/library/alpine", "{input}");
        }
        assert_eq!(parse("org/app").to_string(), "docker.io/org/app");
        assert_eq!(
            parse("alpine:3.20").to_string(),
            "docker.io/library/alpine:3.20"
        );
    }

    #[test]
    fn splits_domain_only_on_dot_colon_or_localhost() {
        assert_eq!(parse("localhost/app").registry(), "localhost");
        assert_eq!(parse("host:5000/app").registry(), "host:5000");
        assert_eq!(parse("ghcr.io/app").registry(), "ghcr.io");
        assert_eq!(parse("org/app").registry(), "docker.io");
        assert_eq!(
            parse("Registry.Example.com/app").registry(),
            "Registry.Example.com"
        );
        // Docker would read `Foo` as a host; we report the uppercase repository.
        assert!(matches!(
            err("Foo/bar"),
            ReferenceError::UppercaseRepository { .. }
        ));
    }

    #[test]
    fn tag_and_digest_accessors() {
        let r = parse(&format!("ghcr.io/org/app:1.0@sha256:{E3B}"));
        assert_eq!(r.tag(), Some("1.0"));
        assert_eq!(r.tag_or_latest(), "1.0");
        assert_eq!(r.digest().unwrap().algorithm(), Algorithm::Sha256);
        assert_eq!(r.name(), "ghcr.io/org/app");

        let bare = parse("ghcr.io/org/app");
        assert_eq!(bare.tag(), None);
        assert_eq!(bare.tag_or_latest(), "latest");
        assert_eq!(bare.to_string(), "ghcr.io/org/app");
    }

    #[test]
    fn with_and_without_digest() {
        let digest: Digest = format!("sha256:{E3B}").parse().unwrap();
        let r = parse("ghcr.io/org/app:1.0");
        let pinned = r.with_digest(digest.clone());
        assert_eq!(pinned.digest(), Some(&digest));
        assert_eq!(pinned.tag(), Some("1.0"));
        assert_eq!(
            pinned.to_string(),
            format!("ghcr.io/org/app:1.0@sha256:{E3B}")
        );
        assert_eq!(pinned.without_digest(), r);
        assert_eq!(parse(&pinned.to_string()), pinned);
    }

    #[test]
    fn errors_name_the_input_and_the_problem() {
        assert_eq!(
            err("Foo/bar").to_string(),
            "invalid reference `Foo/bar`: repository names must be lowercase (found `Foo/bar`)"
        );
        assert!(matches!(
            err("ghcr.io/a/b-/c"),
            ReferenceError::BadPathComponent { component, .. } if component == "b-"
        ));
        assert!(matches!(
            err("ghcr.io:0/a"),
            ReferenceError::BadPort { port, .. } if port == "0"
        ));
        assert!(matches!(
            err("ghcr.io:65536/a"),
            ReferenceError::BadPort { port, .. } if port == "65536"
        ));
        assert!(matches!(
            err("ghcr.io:+5/a"),
            ReferenceError::BadPort { port, .. } if port == "+5"
        ));
        assert!(matches!(
            err("gh_cr.io/a"),
            ReferenceError::BadDomain { domain, .. } if domain == "gh_cr.io"
        ));
        assert!(matches!(err("a@md5:00"), ReferenceError::Digest { .. }));
        assert!(matches!(
            err(":1.0"),
            ReferenceError::MissingRepository { .. }
        ));
        assert!(matches!(err(E3B), ReferenceError::HexName { .. }));
        assert!(matches!(err("a:"), ReferenceError::EmptyTag { .. }));
    }

    #[test]
    fn path_component_grammar() {
        for ok in [
            "a",
            "a1",
            "a.b",
            "a_b",
            "a__b",
            "a-b",
            "a---b",
            "a.b_c__d-e",
        ] {
            assert!(is_path_component(ok), "{ok}");
        }
        for bad in [
            "", "-a", "a-", ".a", "a.", "_a", "a_", "a..b", "a___b", "a._b", "a-.b", "a+b",
        ] {
            assert!(!is_path_component(bad), "{bad}");
        }
    }

    #[test]
    fn registry_hosts() {
        for ok in [
            "ghcr.io",
            "localhost:5000",
            "127.0.0.1:5000",
            "[::1]",
            "[::1]:5000",
            "mirror",
            "Registry.Example.COM",
        ] {
            validate_registry_host(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
        let cases: &[(&str, &str)] = &[
            ("", "the host is empty"),
            ("https://ghcr.io", "remove `https://`"),
            ("ghcr.io/org", "without a path"),
            ("ghcr.io:", "port `` must be"),
            ("ghcr.io:99999", "port `99999` must be"),
            ("ghcr..io", "invalid registry host `ghcr..io`"),
            ("-ghcr.io", "invalid registry host `-ghcr.io`"),
            ("[::1", "invalid registry host `[::1`"),
            ("[::1]5000", "invalid registry host `[::1]5000`"),
            ("[zz::1]", "invalid registry host `[zz::1]`"),
            ("ghcr.io ", "invalid registry host `ghcr.io `"),
        ];
        for (input, expected) in cases {
            let message = validate_registry_host(input).unwrap_err().to_string();
            assert!(message.contains(expected), "{input:?}: {message}");
        }
    }

    #[test]
    fn serde_uses_the_display_string() {
        #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
        struct Wrapper {
            r#ref: Reference,
        }
        let w: Wrapper = toml::from_str("ref = \"alpine:3.20\"").unwrap();
        assert_eq!(w.r#ref.to_string(), "docker.io/library/alpine:3.20");
        let written = toml::to_string(&w).unwrap();
        assert_eq!(written.trim(), "ref = \"docker.io/library/alpine:3.20\"");
        let e = toml::from_str::<Wrapper>("ref = \"Foo/bar\"").unwrap_err();
        assert!(
            e.to_string().contains("repository names must be lowercase"),
            "{e}"
        );
    }

    /// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`, kept short.
    fn path_component() -> impl Strategy<Value = String> {
        "[a-z0-9]{1,4}((\\.|_|__|-{1,3})[a-z0-9]{1,4}){0,2}"
    }

    /// A domain as it may be written, before normalisation.
    fn domain() -> impl Strategy<Value = String> {
        let port = prop::option::of(1u16..=65535);
        let label = "[a-zA-Z0-9]([a-zA-Z0-9-]{0,6}[a-zA-Z0-9])?";
        let host = prop_oneof![
            Just("localhost".to_owned()),
            Just("docker.io".to_owned()),
            Just("index.docker.io".to_owned()),
            Just("[::1]".to_owned()),
            Just("[fe80::1:2]".to_owned()),
            prop::collection::vec(label, 2..4).prop_map(|labels| labels.join(".")),
        ];
        (host, port).prop_map(|(host, port)| match port {
            Some(port) => format!("{host}:{port}"),
            None => host,
        })
    }

    /// A valid reference as it may be written, with its tag and digest.
    fn written_reference() -> impl Strategy<Value = (String, Option<String>, Option<Digest>)> {
        let tag = prop::option::of(prop_oneof![
            "[A-Za-z0-9_][A-Za-z0-9_.-]{0,12}",
            "[A-Za-z0-9_][A-Za-z0-9_.-]{127}",
        ]);
        let digest = prop::option::of(
            prop::collection::vec(any::<u8>(), 32)
                .prop_map(|bytes| Digest::from_bytes(Algorithm::Sha256, &bytes)),
        );
        (
            prop::option::of(domain()),
            prop::collection::vec(path_component(), 1..4),
            tag,
            digest,
        )
            .prop_map(|(domain, mut path, tag, digest)| {
                if domain.is_none() && path.len() > 1 {
                    // Otherwise a dotted first component would be read as a host.
                    path[0] = path[0].replace('.', "-");
                }
                let mut s = path.join("/");
                if let Some(domain) = domain {
                    s = format!("{domain}/{s}");
                }
                if let Some(tag) = &tag {
                    s = format!("{s}:{tag}");
                }
                if let Some(digest) = &digest {
                    s = format!("{s}@{digest}");
                }
                (s, tag, digest)
            })
    }

    proptest! {
        #[test]
        fn parse_display_round_trip((written, tag, digest) in written_reference()) {
            let r = written.parse::<Reference>().unwrap();
            prop_assert_eq!(r.tag(), tag.as_deref());
            prop_assert_eq!(r.digest(), digest.as_ref());
            let canonical = r.to_string();
            let reparsed = canonical.parse::<Reference>().unwrap();
            prop_assert_eq!(&reparsed, &r);
            // Normalising is idempotent: the canonical form is a fixed point.
            prop_assert_eq!(reparsed.to_string(), canonical);
            prop_assert!(r.registry() != "index.docker.io");
            if r.registry() == "docker.io" {
                prop_assert!(r.repository().contains('/'));
            }
        }

        #[test]
        fn arbitrary_strings_parse_or_fail_cleanly(s in "[a-zA-Z0-9./:@_\\[\\]-]{0,40}") {
            if let Ok(r) = s.parse::<Reference>() {
                prop_assert_eq!(r.to_string().parse::<Reference>().unwrap(), r);
            }
        }
    }
}
