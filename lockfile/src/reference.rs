//! OCI references (`registry/repo/path:tag@sha256:…`), following the
//! distribution reference grammar.

use std::fmt;
use std::str::FromStr;

use crate::Digest;

/// A parsed, normalised OCI reference.
///
/// Invariants (enforced by [`FromStr`], the only constructor):
/// * `registry` is a valid `host[:port]` (Docker Hub normalised to `docker.io`);
/// * `repository` follows the distribution path grammar (lowercase components,
///   `library/` added for single-component Docker Hub names);
/// * at least one of tag and digest may be absent; neither means `latest` is implied.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Reference {
    registry: String,
    repository: String,
    tag: Option<String>,
    digest: Option<Digest>,
}

/// Why a string is not a [`Reference`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReferenceError {
    /// Placeholder until the grammar lands.
    #[error("invalid reference `{0}`")]
    Invalid(String),
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
    /// The digest, if one was written.
    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }
}

impl FromStr for Reference {
    type Err = ReferenceError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        // Temporary: a minimal split, replaced by the full grammar.
        let (rest, digest) = match s.split_once('@') {
            Some((r, d)) => (r, Some(d.parse().map_err(|_| ReferenceError::Invalid(s.into()))?)),
            None => (s, None),
        };
        let (name, tag) = match rest.rsplit_once(':') {
            Some((n, t)) if !t.contains('/') => (n, Some(t.to_owned())),
            _ => (rest, None),
        };
        let (registry, repository) = name
            .split_once('/')
            .ok_or_else(|| ReferenceError::Invalid(s.into()))?;
        Ok(Reference {
            registry: registry.into(),
            repository: repository.into(),
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
