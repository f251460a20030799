//! `lf-resolve login` and `logout`: docker-compatible credentials in
//! `config.json` (`DOCKER_CONFIG`, or `~/.docker`), so docker, podman, oras
//! and lf-resolve share one login.
//!
//! Like `docker login`, the password comes from stdin with `--password-stdin`
//! (for scripts), or from a no-echo prompt when stdin is a terminal; it is
//! never an argument, so it stays out of process lists and shell history.

use std::io::{IsTerminal as _, Read as _, Write as _};
use std::path::PathBuf;

use base64::Engine as _;
use serde_json::{Map, Value, json};

use lf_lockfile::validate_registry_host;

use crate::cli::{LoginArgs, LogoutArgs};
use crate::error::{CliError, EXIT_UNAVAILABLE};
use crate::output::Printer;
use crate::registry::credentials::{Credential, Secret, docker_server_key};
use crate::registry::{RegistryClient, RegistryError};
use crate::settings::Settings;

/// `lf-resolve login REGISTRY`.
pub fn login(args: &LoginArgs, settings: &Settings, printer: &Printer) -> Result<(), CliError> {
    let host = registry_host(&args.registry)?;
    let terminal = std::io::stdin().is_terminal();
    let username = match args.username.clone().filter(|u| !u.is_empty()) {
        Some(username) => username,
        None if terminal && !args.password_stdin => prompt_username()?,
        None => {
            return Err(CliError::input(
                "`--username` is required",
                "pass `-u USER` and the password on stdin: `echo \"$TOKEN\" | lf-resolve login REGISTRY -u USER --password-stdin`".to_owned(),
            ));
        }
    };
    let password = if args.password_stdin {
        read_password_stdin()?
    } else if terminal {
        prompt_password(&host, &username)?
    } else {
        return Err(CliError::input(
            "no password: `--password-stdin` was not given and stdin is not a terminal to prompt on",
            "pipe it in: `echo \"$TOKEN\" | lf-resolve login REGISTRY -u USER --password-stdin`"
                .to_owned(),
        ));
    };
    if password.is_empty() {
        return Err(CliError::input("the password is empty", None));
    }

    if !args.no_verify {
        let config = crate::commands::push::project_config(settings);
        let client = RegistryClient::new(&config);
        let credential = Credential::Basic {
            username: username.clone(),
            password: Secret::new(password.clone()),
        };
        let runtime = crate::commands::runtime()?;
        runtime
            .block_on(client.ping(&host, credential))
            .map_err(|e| ping_failed(&host, &e))?;
    }

    let path = docker_config_path()?;
    let mut doc = read_config(&path)?;
    let key = docker_server_key(&host).to_owned();
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"));
    let root = doc.as_object_mut().ok_or_else(|| not_an_object(&path))?;
    let auths = root
        .entry("auths")
        .or_insert_with(|| Value::Object(Map::new()))
        .as_object_mut()
        .ok_or_else(|| not_an_object(&path))?;
    auths.insert(key.clone(), json!({ "auth": auth }));
    let helper = root
        .get("credHelpers")
        .and_then(|h| h.get(&key))
        .or_else(|| root.get("credsStore"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    write_config(&path, &doc)?;
    if let Some(helper) = helper {
        printer.warning(format!(
            "{} names the credential helper `docker-credential-{helper}` for `{host}`; it is asked before the stored login",
            path.display()
        ));
    }
    printer.status(
        "Logged in",
        format!(
            "to {host} as {username} (credentials in {})",
            path.display()
        ),
        &json!({"type": "login", "registry": host, "username": username, "config": path}),
    );
    Ok(())
}

/// Why `GET /v2/` with the new credentials failed, and what to do: only a
/// refusal is about the user name and password.
fn ping_failed(host: &str, e: &RegistryError) -> CliError {
    let (message, help) = match e {
        RegistryError::Unauthorized { .. } => (
            format!("cannot log in to `{host}`: the registry refused the credentials"),
            "check the user name and password (or token); nothing was written",
        ),
        RegistryError::Unreachable { .. } => (
            format!("cannot log in to `{host}`: the registry is unreachable"),
            "check the host and port, that the registry is running, and its `protocol` and \
             `ca-file` in latticeflow.toml; nothing was written",
        ),
        _ => (
            format!("cannot log in to `{host}`"),
            "nothing was written; `--no-verify` stores the credentials without this check",
        ),
    };
    CliError::Failed {
        message,
        reasons: vec![e.to_string()],
        help: Some(help.to_owned()),
        code: EXIT_UNAVAILABLE,
    }
}

/// The whole of stdin, without its final line break.
fn read_password_stdin() -> Result<String, CliError> {
    let mut password = String::new();
    std::io::stdin()
        .read_to_string(&mut password)
        .map_err(|source| CliError::Io {
            context: "cannot read the password from",
            path: PathBuf::from("stdin"),
            source,
        })?;
    Ok(password.trim_end_matches(['\n', '\r']).to_owned())
}

/// Asks for the user name on the terminal (echoed), as `docker login` does.
fn prompt_username() -> Result<String, CliError> {
    let tty = |source| CliError::Io {
        context: "cannot read the user name from",
        path: PathBuf::from("the terminal"),
        source,
    };
    let mut stderr = std::io::stderr();
    stderr.write_all(b"Username: ").map_err(tty)?;
    stderr.flush().map_err(tty)?;
    let mut line = String::new();
    std::io::stdin().read_line(&mut line).map_err(tty)?;
    let username = line.trim().to_owned();
    if username.is_empty() {
        return Err(CliError::input("the user name is empty", None));
    }
    Ok(username)
}

/// Asks for the password on the terminal, without echo.
fn prompt_password(host: &str, username: &str) -> Result<String, CliError> {
    rpassword::prompt_password(format!("Password for {username} at {host}: ")).map_err(|source| {
        CliError::Io {
            context: "cannot read the password from",
            path: PathBuf::from("the terminal"),
            source,
        }
    })
}

/// `lf-resolve logout REGISTRY`.
pub fn logout(args: &LogoutArgs, _settings: &Settings, printer: &Printer) -> Result<(), CliError> {
    let host = registry_host(&args.registry)?;
    let path = docker_config_path()?;
    let mut doc = read_config(&path)?;
    let key = docker_server_key(&host);
    let removed = doc
        .get_mut("auths")
        .and_then(Value::as_object_mut)
        .map(|auths| {
            let before = auths.len();
            auths.retain(|k, _| normalise_key(k) != normalise_key(key));
            before != auths.len()
        })
        .unwrap_or(false);
    if !removed {
        printer.status(
            "Logged out",
            format!("of {host}: there was no stored login in {}", path.display()),
            &json!({"type": "logout", "registry": host, "removed": false}),
        );
        return Ok(());
    }
    write_config(&path, &doc)?;
    printer.status(
        "Logged out",
        format!("of {host} (removed from {})", path.display()),
        &json!({"type": "logout", "registry": host, "removed": true}),
    );
    Ok(())
}

fn registry_host(raw: &str) -> Result<String, CliError> {
    let host = raw
        .trim_start_matches("https://")
        .trim_start_matches("http://")
        .trim_end_matches('/');
    let host = match host {
        "index.docker.io" | "registry-1.docker.io" => "docker.io",
        other => other,
    };
    validate_registry_host(host).map_err(|e| CliError::input(e.to_string(), None))?;
    Ok(host.to_owned())
}

fn normalise_key(key: &str) -> String {
    let host = key
        .trim_start_matches("https://")
        .trim_start_matches("http://");
    let host = host.split('/').next().unwrap_or(host);
    docker_server_key(host).to_owned()
}

fn docker_config_path() -> Result<PathBuf, CliError> {
    let dir = std::env::var_os("DOCKER_CONFIG")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| dirs::home_dir().map(|h| h.join(".docker")))
        .ok_or_else(|| {
            CliError::input(
                "cannot find docker's config directory",
                "set DOCKER_CONFIG".to_owned(),
            )
        })?;
    Ok(dir.join("config.json"))
}

fn read_config(path: &std::path::Path) -> Result<Value, CliError> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
            CliError::input(format!("`{}` is not valid JSON: {e}", path.display()), None)
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(json!({})),
        Err(source) => Err(CliError::Io {
            context: "cannot read",
            path: path.to_owned(),
            source,
        }),
    }
}

fn not_an_object(path: &std::path::Path) -> CliError {
    CliError::input(
        format!(
            "`{}` does not hold a JSON object where `auths` belongs",
            path.display()
        ),
        None,
    )
}

/// Writes the config atomically, readable by its owner only (it holds secrets).
fn write_config(path: &std::path::Path, doc: &Value) -> Result<(), CliError> {
    let io = |source| CliError::Io {
        context: "cannot write",
        path: path.to_owned(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let mut text =
        serde_json::to_string_pretty(doc).map_err(|e| CliError::input(e.to_string(), None))?;
    text.push('\n');
    let dir = path.parent().unwrap_or(std::path::Path::new("."));
    let mut tmp = tempfile::Builder::new()
        .prefix(".config-")
        .tempfile_in(dir)
        .map_err(io)?;
    std::io::Write::write_all(&mut tmp, text.as_bytes()).map_err(io)?;
    tmp.as_file().sync_all().map_err(io)?;
    tmp.persist(path).map_err(|e| io(e.error))?;
    Ok(())
}
