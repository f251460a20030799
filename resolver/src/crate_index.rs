//! The cargo alternative registry `publish` writes to: where cargo's
//! configuration says its sparse index is, and what that index already holds.
//!
//! `lf-resolve` never publishes or authenticates itself: `cargo publish` does,
//! with the token from cargo's own credential provider. It only *reads* the
//! index (plain HTTP GETs, no token), before anything is published, to know
//! which versions exist and with which checksum: that is how republishing the
//! same lock becomes a no-op, and how a version already published with other
//! content is refused instead of half-published. Reads are bounded in size
//! and time, and plain HTTP is allowed only on loopback.

use std::path::{Path, PathBuf};
use std::time::Duration;

/// The longest index file read (a crate's every version), in bytes.
const MAX_INDEX_FILE: usize = 16 * 1024 * 1024;

/// How long one index request may take (connect, then the whole response).
const TIMEOUT: Duration = Duration::from_secs(30);

/// Why the registry's index could not be found or read.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    /// The registry name is not one cargo accepts.
    #[error(
        "`{0}` is not a cargo registry name: use letters, digits, `-` and `_`, starting with a letter"
    )]
    BadName(String),
    /// No configuration names the registry.
    #[error(
        "cargo has no registry `{name}`: no `[registries.{name}] index` in {searched} and no `{env}`"
    )]
    NotConfigured {
        /// The registry.
        name: String,
        /// The files looked at, for the message.
        searched: String,
        /// The environment variable that would set it.
        env: String,
    },
    /// A configuration file that does not parse.
    #[error("cannot read the cargo configuration `{}`: {detail}", path.display())]
    Config {
        /// The file.
        path: PathBuf,
        /// Why.
        detail: String,
    },
    /// An index URL `publish` cannot use.
    #[error("registry `{name}`: index `{url}` {problem}")]
    BadIndex {
        /// The registry.
        name: String,
        /// The URL as configured.
        url: String,
        /// What is wrong with it.
        problem: String,
    },
    /// The index could not be reached, or answered with an error.
    #[error("registry `{name}`: cannot read `{url}`: {detail}")]
    Unreachable {
        /// The registry.
        name: String,
        /// The URL requested.
        url: String,
        /// Why.
        detail: String,
    },
    /// An index file that is not what cargo writes.
    #[error("registry `{name}`: the index file `{url}` is malformed: {detail}")]
    Malformed {
        /// The registry.
        name: String,
        /// The URL.
        url: String,
        /// Why.
        detail: String,
    },
}

/// Checks a registry name the way cargo does (`[A-Za-z][A-Za-z0-9_-]*`).
pub fn check_name(name: &str) -> Result<(), IndexError> {
    let mut chars = name.chars();
    let ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        && name.len() <= 64;
    if ok {
        Ok(())
    } else {
        Err(IndexError::BadName(name.to_owned()))
    }
}

/// The environment variable cargo reads a registry's `key` from.
pub fn env_var(name: &str, key: &str) -> String {
    format!(
        "CARGO_REGISTRIES_{}_{key}",
        name.to_ascii_uppercase().replace('-', "_")
    )
}

/// The index URL cargo would use for registry `name` when run in `dir`:
/// `CARGO_REGISTRIES_<NAME>_INDEX`, else the nearest `.cargo/config.toml` (or
/// `.cargo/config`) from `dir` up that sets `[registries.NAME] index`, else
/// `$CARGO_HOME/config.toml`. Returned as configured (`sparse+http…`).
pub fn configured_index(name: &str, dir: &Path) -> Result<String, IndexError> {
    check_name(name)?;
    let env = env_var(name, "INDEX");
    if let Ok(url) = std::env::var(&env) {
        return Ok(url);
    }
    let mut candidates = Vec::new();
    for ancestor in dir.ancestors() {
        candidates.push(ancestor.join(".cargo/config.toml"));
        candidates.push(ancestor.join(".cargo/config"));
    }
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| dirs::home_dir().map(|h| h.join(".cargo")));
    if let Some(home) = cargo_home {
        candidates.push(home.join("config.toml"));
        candidates.push(home.join("config"));
    }
    for path in &candidates {
        let Ok(text) = std::fs::read_to_string(path) else {
            continue;
        };
        let doc: toml_edit::DocumentMut = text.parse().map_err(|e| IndexError::Config {
            path: path.clone(),
            detail: format!("{e}"),
        })?;
        if let Some(url) = doc
            .get("registries")
            .and_then(|r| r.get(name))
            .and_then(|r| r.get("index"))
            .and_then(|i| i.as_str())
        {
            return Ok(url.to_owned());
        }
    }
    Err(IndexError::NotConfigured {
        name: name.to_owned(),
        searched: "`.cargo/config.toml` here or above, or `$CARGO_HOME/config.toml`".to_owned(),
        env,
    })
}

/// One version of a crate in the index.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct IndexEntry {
    /// The crate name as published.
    pub name: String,
    /// The version.
    pub vers: String,
    /// The sha256 of the `.crate` file, in hex.
    pub cksum: String,
    /// Whether it was yanked.
    #[serde(default)]
    pub yanked: bool,
}

/// A sparse index, read anonymously.
pub struct SparseIndex {
    name: String,
    /// The base URL, ending in `/`.
    base: String,
    client: reqwest::Client,
}

impl SparseIndex {
    /// The index `url` (as configured: `sparse+http(s)://…`) of registry `name`.
    pub fn new(name: &str, url: &str) -> Result<SparseIndex, IndexError> {
        let bad = |problem: &str| IndexError::BadIndex {
            name: name.to_owned(),
            url: url.to_owned(),
            problem: problem.to_owned(),
        };
        let Some(base) = url.strip_prefix("sparse+") else {
            return Err(bad(
                "is not a sparse index (`sparse+https://…`); `publish` supports sparse registries only",
            ));
        };
        let parsed = reqwest::Url::parse(base).map_err(|e| bad(&format!("is not a URL: {e}")))?;
        let host = parsed.host_str().unwrap_or_default();
        match parsed.scheme() {
            "https" => {}
            "http" if crate::registry::is_loopback(host) => {}
            "http" => return Err(bad("uses plain HTTP to a host that is not loopback")),
            _ => return Err(bad("must be https (or http on loopback)")),
        }
        let mut base = base.to_owned();
        if !base.ends_with('/') {
            base.push('/');
        }
        let client = reqwest::Client::builder()
            .user_agent(concat!("lf-resolve/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(TIMEOUT)
            .timeout(TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| bad(&format!("cannot build an HTTP client: {e}")))?;
        Ok(SparseIndex {
            name: name.to_owned(),
            base,
            client,
        })
    }

    /// The base URL (ending in `/`).
    pub fn base(&self) -> &str {
        &self.base
    }

    /// Checks that the registry answers: its `config.json` must be readable.
    pub async fn ping(&self) -> Result<(), IndexError> {
        let url = format!("{}config.json", self.base);
        match self.get(&url).await? {
            Some(_) => Ok(()),
            None => Err(self.unreachable(&url, "404 Not Found (is this a cargo sparse index?)")),
        }
    }

    /// Every version of crate `name` (any case; `-` and `_` as given), or
    /// none when the index has no file for it.
    pub async fn versions(&self, name: &str) -> Result<Vec<IndexEntry>, IndexError> {
        let url = format!("{}{}", self.base, index_path(name));
        let Some(body) = self.get(&url).await? else {
            return Ok(Vec::new());
        };
        let text = String::from_utf8(body).map_err(|e| IndexError::Malformed {
            name: self.name.clone(),
            url: url.clone(),
            detail: e.to_string(),
        })?;
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|line| {
                serde_json::from_str(line).map_err(|e| IndexError::Malformed {
                    name: self.name.clone(),
                    url: url.clone(),
                    detail: e.to_string(),
                })
            })
            .collect()
    }

    fn unreachable(&self, url: &str, detail: impl Into<String>) -> IndexError {
        IndexError::Unreachable {
            name: self.name.clone(),
            url: url.to_owned(),
            detail: detail.into(),
        }
    }

    /// The body of `url`, `None` on 404/410, bounded by [`MAX_INDEX_FILE`].
    async fn get(&self, url: &str) -> Result<Option<Vec<u8>>, IndexError> {
        let mut response = self
            .client
            .get(url)
            .send()
            .await
            .map_err(|e| self.unreachable(url, error_chain(&e)))?;
        let status = response.status();
        if status == reqwest::StatusCode::NOT_FOUND || status == reqwest::StatusCode::GONE {
            return Ok(None);
        }
        if status == reqwest::StatusCode::UNAUTHORIZED || status == reqwest::StatusCode::FORBIDDEN {
            return Err(self.unreachable(
                url,
                format!(
                    "{status}: the index needs authentication, and `lf-resolve` reads only indexes open to read (it never handles the token)"
                ),
            ));
        }
        if !status.is_success() {
            return Err(self.unreachable(url, status.to_string()));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| self.unreachable(url, error_chain(&e)))?
        {
            if body.len() + chunk.len() > MAX_INDEX_FILE {
                return Err(self.unreachable(
                    url,
                    format!("the response is larger than {MAX_INDEX_FILE} bytes"),
                ));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Some(body))
    }
}

/// The path of a crate's file in a (sparse) index: `1/a`, `2/ab`, `3/a/abc`,
/// `ab/cd/abcd…`, lowercased.
pub fn index_path(name: &str) -> String {
    let name = name.to_ascii_lowercase();
    match name.len() {
        0 => String::new(),
        1 => format!("1/{name}"),
        2 => format!("2/{name}"),
        3 => format!("3/{}/{name}", &name[..1]),
        _ => format!("{}/{}/{name}", &name[..2], &name[2..4]),
    }
}

/// An error and its sources, on one line.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let message = s.to_string();
        if !text.contains(&message) {
            text.push_str(": ");
            text.push_str(&message);
        }
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn index_paths_follow_cargo() {
        assert_eq!(index_path("a"), "1/a");
        assert_eq!(index_path("ab"), "2/ab");
        assert_eq!(index_path("abc"), "3/a/abc");
        assert_eq!(index_path("Connector_Acme"), "co/nn/connector_acme");
        assert_eq!(index_path("lf-runtime"), "lf/-r/lf-runtime");
    }

    #[test]
    fn the_nearest_cargo_config_names_the_index() {
        let root = tempfile::tempdir().unwrap();
        let project = root.path().join("a/b");
        std::fs::create_dir_all(project.join(".cargo")).unwrap();
        std::fs::create_dir_all(root.path().join(".cargo")).unwrap();
        std::fs::write(
            root.path().join(".cargo/config.toml"),
            "[registries.lf-unit-outer]\nindex = \"sparse+https://outer.example/\"\n[registries.lf-unit-both]\nindex = \"sparse+https://far.example/\"\n",
        )
        .unwrap();
        std::fs::write(
            project.join(".cargo/config.toml"),
            "[registries.lf-unit-both]\nindex = \"sparse+https://near.example/\"\n",
        )
        .unwrap();
        assert_eq!(
            configured_index("lf-unit-both", &project).unwrap(),
            "sparse+https://near.example/"
        );
        assert_eq!(
            configured_index("lf-unit-outer", &project).unwrap(),
            "sparse+https://outer.example/"
        );
        let missing = configured_index("lf-unit-none", &project).unwrap_err();
        assert!(
            missing
                .to_string()
                .contains("CARGO_REGISTRIES_LF_UNIT_NONE_INDEX"),
            "{missing}"
        );
        assert!(matches!(
            configured_index("bad name", &project),
            Err(IndexError::BadName(_))
        ));
    }

    #[test]
    fn names_and_urls() {
        assert!(check_name("lftest").is_ok());
        assert!(check_name("my-reg_2").is_ok());
        for bad in ["", "2x", "a b", "a.b", "a/b"] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
        assert_eq!(env_var("my-reg", "TOKEN"), "CARGO_REGISTRIES_MY_REG_TOKEN");
        assert!(SparseIndex::new("r", "sparse+http://127.0.0.1:1/").is_ok());
        assert_eq!(
            SparseIndex::new("r", "sparse+https://example.com/index")
                .unwrap()
                .base(),
            "https://example.com/index/"
        );
        for bad in [
            "https://example.com/git-index",
            "sparse+http://example.com/",
            "sparse+ftp://127.0.0.1/",
        ] {
            assert!(SparseIndex::new("r", bad).is_err(), "{bad}");
        }
    }
}
