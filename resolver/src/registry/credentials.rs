//! Where registry credentials come from, in the order users expect:
//!
//! 1. the environment: `LF_REGISTRY_HOST` with `LF_REGISTRY_USERNAME` +
//!    `LF_REGISTRY_PASSWORD`, or `LF_REGISTRY_TOKEN` — for that one host only;
//! 2. `REGISTRY_AUTH_FILE` when set (podman's variable, an `auth.json`);
//! 3. docker's `config.json` (`DOCKER_CONFIG` or `~/.docker`), including
//!    `credHelpers` and `credsStore` helpers (read by `docker_credential`);
//! 4. podman's default `auth.json`;
//! 5. anonymous.
//!
//! Secrets live in [`Secret`], whose `Debug` and `Display` never show them,
//! so they cannot reach a log line, an error or a JSON event by accident.

use std::fmt;

use docker_credential::{CredentialRetrievalError, DockerCredential};

/// A secret string: printable only through [`Secret::expose`].
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(s.into())
    }

    /// The secret itself, for building a request header.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// How to authenticate to one registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// No credentials.
    Anonymous,
    /// A user name and password (or a personal access token as password).
    Basic {
        /// The user name (not secret).
        username: String,
        /// The password.
        password: Secret,
    },
    /// A registry bearer token, sent as is.
    Bearer(Secret),
    /// An OAuth2 refresh token (docker's `identitytoken`), exchanged at the
    /// token endpoint.
    IdentityToken(Secret),
}

/// Where a credential was found (for `-v` output; never the secret).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// `LF_REGISTRY_*` variables.
    Environment,
    /// The file named by `REGISTRY_AUTH_FILE`.
    RegistryAuthFile,
    /// docker's `config.json` (or one of its helpers).
    DockerConfig,
    /// podman's `auth.json`.
    PodmanAuth,
    /// Nothing found.
    Anonymous,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Source::Environment => "LF_REGISTRY_* environment variables",
            Source::RegistryAuthFile => "REGISTRY_AUTH_FILE",
            Source::DockerConfig => "docker config.json",
            Source::PodmanAuth => "podman auth.json",
            Source::Anonymous => "anonymous access",
        })
    }
}

/// A credential source that exists but cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CredentialError {
    /// The `LF_REGISTRY_*` variables are incomplete.
    #[error("{0}")]
    Environment(String),
    /// A config file or credential helper failed.
    #[error("cannot read credentials for `{host}` from {source_name}: {message}")]
    Store {
        /// The registry.
        host: String,
        /// Which source.
        source_name: &'static str,
        /// What went wrong (never a secret).
        message: String,
    },
}

/// The key docker uses for a registry in `config.json`.
pub fn docker_server_key(host: &str) -> &str {
    match host {
        "docker.io" | "index.docker.io" | "registry-1.docker.io" => "https://index.docker.io/v1/",
        other => other,
    }
}

/// An environment, so lookups are testable without touching the process's.
pub trait Env {
    /// The variable's value, if set and not empty.
    fn var(&self, name: &str) -> Option<String>;
}

/// The process environment.
#[derive(Debug, Clone, Copy)]
pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok().filter(|v| !v.is_empty())
    }
}

/// Finds the credential for `host` (`host[:port]` as in a reference).
pub fn lookup(host: &str, env: &dyn Env) -> Result<(Credential, Source), CredentialError> {
    if let Some(found) = from_environment(host, env)? {
        return Ok((found, Source::Environment));
    }
    let key = docker_server_key(host);
    if env.var("REGISTRY_AUTH_FILE").is_some()
        && let Some(found) = from_store(host, "REGISTRY_AUTH_FILE", || {
            docker_credential::get_podman_credential(key)
        })?
    {
        return Ok((found, Source::RegistryAuthFile));
    }
    if let Some(found) = from_store(host, "docker config.json", || {
        docker_credential::get_credential(key)
    })? {
        return Ok((found, Source::DockerConfig));
    }
    if env.var("REGISTRY_AUTH_FILE").is_none()
        && let Some(found) = from_store(host, "podman auth.json", || {
            docker_credential::get_podman_credential(key)
        })?
    {
        return Ok((found, Source::PodmanAuth));
    }
    Ok((Credential::Anonymous, Source::Anonymous))
}

fn from_environment(host: &str, env: &dyn Env) -> Result<Option<Credential>, CredentialError> {
    let Some(target) = env.var("LF_REGISTRY_HOST") else {
        if env.var("LF_REGISTRY_USERNAME").is_some() || env.var("LF_REGISTRY_TOKEN").is_some() {
            return Err(CredentialError::Environment(
                "LF_REGISTRY_USERNAME or LF_REGISTRY_TOKEN is set without LF_REGISTRY_HOST; set LF_REGISTRY_HOST to the registry they are for".to_owned(),
            ));
        }
        return Ok(None);
    };
    let normalise = |h: &str| {
        let h = h
            .trim_start_matches("https://")
            .trim_start_matches("http://");
        let h = h.split('/').next().unwrap_or(h);
        docker_server_key(h).to_owned()
    };
    if normalise(&target) != normalise(host) {
        return Ok(None);
    }
    match (
        env.var("LF_REGISTRY_USERNAME"),
        env.var("LF_REGISTRY_PASSWORD"),
        env.var("LF_REGISTRY_TOKEN"),
    ) {
        (None, None, Some(token)) => Ok(Some(Credential::Bearer(Secret::new(token)))),
        (Some(username), Some(password), None) => Ok(Some(Credential::Basic {
            username,
            password: Secret::new(password),
        })),
        (Some(_), None, None) => Err(CredentialError::Environment(
            "LF_REGISTRY_USERNAME is set without LF_REGISTRY_PASSWORD".to_owned(),
        )),
        (None, Some(_), None) => Err(CredentialError::Environment(
            "LF_REGISTRY_PASSWORD is set without LF_REGISTRY_USERNAME".to_owned(),
        )),
        (_, _, Some(_)) => Err(CredentialError::Environment(
            "set either LF_REGISTRY_TOKEN or LF_REGISTRY_USERNAME + LF_REGISTRY_PASSWORD, not both"
                .to_owned(),
        )),
        (None, None, None) => Err(CredentialError::Environment(format!(
            "LF_REGISTRY_HOST={target} is set without LF_REGISTRY_USERNAME/LF_REGISTRY_PASSWORD or LF_REGISTRY_TOKEN"
        ))),
    }
}

fn from_store(
    host: &str,
    source_name: &'static str,
    read: impl FnOnce() -> Result<DockerCredential, CredentialRetrievalError>,
) -> Result<Option<Credential>, CredentialError> {
    match read() {
        Ok(DockerCredential::UsernamePassword(username, password)) => Ok(Some(Credential::Basic {
            username,
            password: Secret::new(password),
        })),
        Ok(DockerCredential::IdentityToken(token)) => {
            Ok(Some(Credential::IdentityToken(Secret::new(token))))
        }
        Err(
            CredentialRetrievalError::NoCredentialConfigured
            | CredentialRetrievalError::ConfigNotFound
            | CredentialRetrievalError::ConfigReadError,
        ) => Ok(None),
        Err(e) => Err(CredentialError::Store {
            host: host.to_owned(),
            source_name,
            message: e.to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    struct FakeEnv(HashMap<&'static str, String>);

    impl Env for FakeEnv {
        fn var(&self, name: &str) -> Option<String> {
            self.0.get(name).cloned()
        }
    }

    fn env(vars: &[(&'static str, &str)]) -> FakeEnv {
        FakeEnv(vars.iter().map(|(k, v)| (*k, (*v).to_owned())).collect())
    }

    #[test]
    fn environment_credentials_apply_to_their_host_only() {
        let e = env(&[
            ("LF_REGISTRY_HOST", "https://ghcr.io"),
            ("LF_REGISTRY_USERNAME", "me"),
            ("LF_REGISTRY_PASSWORD", "s3cret"),
        ]);
        let found = from_environment("ghcr.io", &e).unwrap().unwrap();
        assert_eq!(
            found,
            Credential::Basic {
                username: "me".into(),
                password: Secret::new("s3cret")
            }
        );
        assert_eq!(from_environment("quay.io", &e).unwrap(), None);
        let token = env(&[
            ("LF_REGISTRY_HOST", "docker.io"),
            ("LF_REGISTRY_TOKEN", "t0k"),
        ]);
        assert_eq!(
            from_environment("index.docker.io", &token).unwrap(),
            Some(Credential::Bearer(Secret::new("t0k")))
        );
    }

    #[test]
    fn incomplete_environments_are_errors_that_show_no_secret() {
        for vars in [
            &[("LF_REGISTRY_HOST", "x.io"), ("LF_REGISTRY_USERNAME", "me")][..],
            &[
                ("LF_REGISTRY_HOST", "x.io"),
                ("LF_REGISTRY_PASSWORD", "hunter2"),
            ][..],
            &[("LF_REGISTRY_TOKEN", "hunter2")][..],
            &[
                ("LF_REGISTRY_HOST", "x.io"),
                ("LF_REGISTRY_TOKEN", "hunter2"),
                ("LF_REGISTRY_USERNAME", "u"),
                ("LF_REGISTRY_PASSWORD", "hunter2"),
            ][..],
        ] {
            let err = from_environment("x.io", &env(vars))
                .unwrap_err()
                .to_string();
            assert!(!err.contains("hunter2"), "{err}");
        }
    }

    #[test]
    fn secrets_never_print() {
        let c = Credential::Basic {
            username: "me".into(),
            password: Secret::new("hunter2"),
        };
        assert!(!format!("{c:?}").contains("hunter2"));
    }

    #[test]
    fn docker_hub_uses_dockers_key() {
        assert_eq!(
            docker_server_key("docker.io"),
            "https://index.docker.io/v1/"
        );
        assert_eq!(docker_server_key("ghcr.io"), "ghcr.io");
    }
}
