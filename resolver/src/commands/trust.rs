//! `lf-resolve trust add|remove KEY`: edits `[policy] keys`, the cosign
//! public keys every connector's signature (and certification) may come from
//! unless it names its own.
//!
//! A key is recorded as `add` and `remove` of connectors are: through
//! `toml_edit`, keeping comments and layout; checked by the same parser as
//! every other command before the file is replaced atomically. Only a file
//! that holds a valid public key is ever added, so `lock` cannot first learn
//! of a typo when it verifies. A key is the same key whichever file holds it:
//! adding one that is already trusted under another path changes nothing,
//! and removing by any file holding it removes its entry.

use std::path::{Component, Path, PathBuf};

use serde_json::json;
use toml_edit::{Array, DocumentMut, Item, Table, Value};

use lf_lockfile::{Config, Digest, path_string};

use crate::cli::{TrustAction, TrustArgs};
use crate::commands::add::parse_document;
use crate::commands::{load_config, read_bounded, write_file};
use crate::error::CliError;
use crate::output::Printer;
use crate::settings::Settings;
use crate::verify::cosign::TrustedKey;

/// A public key file is a few hundred bytes; anything near this is not one.
const MAX_KEY_FILE: u64 = 64 * 1024;

/// Runs `trust add` or `trust remove`.
pub fn run(args: &TrustArgs, settings: &Settings, printer: &Printer) -> Result<(), CliError> {
    let config = load_config(settings)?;
    match &args.action {
        TrustAction::Add { key } => add(&config, key, printer),
        TrustAction::Remove { key } => remove(&config, key, printer),
    }
}

/// Reads and checks the key file `path` (as given on the command line).
fn read_key(path: &Path) -> Result<TrustedKey, CliError> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => {
            return Err(CliError::input(
                format!("`{}` is a directory, not a key file", path.display()),
                Some("give the public key file, e.g. `cosign.pub`".to_owned()),
            ));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(CliError::input(
                format!("key file `{}` does not exist", path.display()),
                Some(
                    "`lf-resolve generate-key` writes a key pair (cosign.key, cosign.pub)"
                        .to_owned(),
                ),
            ));
        }
        _ => {}
    }
    let pem = read_bounded(path, MAX_KEY_FILE)?;
    TrustedKey::from_pem(&pem, &path.display().to_string()).map_err(|e| {
        CliError::input(
            e.to_string(),
            Some(
                "give a cosign public key (`cosign.pub`: a PEM `PUBLIC KEY` block), never the private `cosign.key`"
                    .to_owned(),
            ),
        )
    })
}

/// Where the project's entries point: `path` as written, resolved against
/// the configuration's directory.
fn absolute(path: &Path) -> PathBuf {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_owned());
    // Lexically drop `.` so that `./keys/a.pub` and `keys/a.pub` compare equal.
    absolute
        .components()
        .filter(|c| !matches!(c, Component::CurDir))
        .collect()
}

/// The project's directory, absolute.
fn project_dir(config: &Config) -> PathBuf {
    let dir = match config.path().parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    absolute(dir)
}

/// How `key` (a path on the command line) is written in `[policy] keys`:
/// relative to the project's directory when inside it (with `/`), else
/// absolute.
fn entry_for(config: &Config, key: &Path) -> String {
    let key = absolute(key);
    match key.strip_prefix(project_dir(config)) {
        Ok(relative) if !relative.components().any(|c| c == Component::ParentDir) => {
            path_string(relative)
        }
        _ => path_string(&key),
    }
}

/// The fingerprint of the key an existing entry names, when its file reads
/// as a key (an unreadable entry is for `lock` to report, not `trust`).
fn fingerprint_of(config: &Config, entry: &Path) -> Option<Digest> {
    let pem = lf_certify::read_bounded(&config.resolve(entry), MAX_KEY_FILE).ok()?;
    TrustedKey::from_pem(&pem, "")
        .ok()
        .map(|k| k.fingerprint().clone())
}

fn add(config: &Config, key_path: &Path, printer: &Printer) -> Result<(), CliError> {
    let key = read_key(key_path)?;
    let entry = entry_for(config, key_path);
    let wanted = absolute(&config.resolve(Path::new(&entry)));
    for existing in &config.policy().keys {
        let same_file = absolute(&config.resolve(&existing.path)) == wanted;
        if same_file || fingerprint_of(config, &existing.path).as_ref() == Some(key.fingerprint()) {
            let written = path_string(&existing.path);
            printer.status(
                "Unchanged",
                format!(
                    "{} already trusts {} as `{written}` in `[policy] keys`",
                    config.path().display(),
                    key.fingerprint()
                ),
                &json!({
                    "type": "trust-unchanged",
                    "key": written,
                    "fingerprint": key.fingerprint().to_string(),
                    "manifest": config.path(),
                }),
            );
            return Ok(());
        }
    }

    let mut doc = parse_document(config)?;
    push_entry(keys_array(&mut doc, config)?, &entry);
    let edited = doc.to_string();
    Config::parse(config.path(), edited.as_str())?;
    write_file(config.path(), &edited)?;
    printer.status(
        "Trusted",
        format!(
            "`{entry}` ({}) in `[policy] keys` of {}; run `lf-resolve lock` to re-verify",
            key.fingerprint(),
            config.path().display()
        ),
        &json!({
            "type": "trusted",
            "key": entry,
            "fingerprint": key.fingerprint().to_string(),
            "manifest": config.path(),
        }),
    );
    Ok(())
}

fn remove(config: &Config, key_path: &Path, printer: &Printer) -> Result<(), CliError> {
    let listed: Vec<String> = config
        .policy()
        .keys
        .iter()
        .map(|k| path_string(&k.path))
        .collect();
    let given = path_string(key_path);
    let wanted = absolute(key_path);
    // A file that still exists may hold the same key under another name.
    let fingerprint = key_path
        .is_file()
        .then(|| read_key(key_path).ok())
        .flatten()
        .map(|k| k.fingerprint().clone());
    let found = config.policy().keys.iter().position(|existing| {
        path_string(&existing.path) == given
            || absolute(&config.resolve(&existing.path)) == wanted
            || (fingerprint.is_some() && fingerprint_of(config, &existing.path) == fingerprint)
    });
    let Some(index) = found else {
        return Err(CliError::input(
            format!(
                "`{given}` is not in `[policy] keys` of {}",
                config.path().display()
            ),
            if listed.is_empty() {
                "`[policy] keys` is empty".to_owned()
            } else {
                format!("it lists: {}", listed.join(", "))
            },
        ));
    };
    let removed = listed[index].clone();

    let mut doc = parse_document(config)?;
    let keys = keys_array(&mut doc, config)?;
    if index >= keys.len() {
        return Err(CliError::input(
            format!(
                "`{removed}` could not be removed from {}",
                config.path().display()
            ),
            None,
        ));
    }
    remove_entry(keys, index);
    let edited = doc.to_string();
    Config::parse(config.path(), edited.as_str())?;
    write_file(config.path(), &edited)?;
    printer.status(
        "Untrusted",
        format!(
            "`{removed}` removed from `[policy] keys` of {}; run `lf-resolve lock` to re-verify",
            config.path().display()
        ),
        &json!({
            "type": "untrusted",
            "key": removed,
            "manifest": config.path(),
        }),
    );
    Ok(())
}

/// Appends `entry` to `keys` in the list's own layout: on a line of its own
/// (same indentation as the last entry) in a list written one per line, after
/// a space in a one-line list. A comment after the last entry stays with it.
fn push_entry(keys: &mut Array, entry: &str) {
    let last_prefix = keys
        .iter()
        .last()
        .and_then(|v| v.decor().prefix())
        .and_then(|p| p.as_str())
        .map(str::to_owned);
    let Some(indent) = last_prefix
        .as_deref()
        .and_then(|p| p.rfind('\n').map(|i| p[i + 1..].to_owned()))
    else {
        keys.push(entry);
        return;
    };
    // One entry per line. Whatever followed the last entry (a comment, the
    // newline before `]`) now follows it and precedes the new entry, which
    // takes over the newline before `]`. That text is the list's trailing
    // decor after a trailing comma, else the last entry's own suffix.
    let had_comma = keys.trailing_comma();
    let after = if had_comma {
        keys.trailing().as_str().unwrap_or("").to_owned()
    } else {
        keys.iter()
            .last()
            .and_then(|v| v.decor().suffix())
            .and_then(|s| s.as_str())
            .unwrap_or("")
            .to_owned()
    };
    let (after_last, before_bracket) = match after.rfind('\n') {
        Some(i) => (after[..=i].to_owned(), format!("\n{}", &after[i + 1..])),
        None => ("\n".to_owned(), after.clone()),
    };
    let mut value = Value::from(entry);
    value
        .decor_mut()
        .set_prefix(format!("{after_last}{indent}"));
    if had_comma {
        keys.set_trailing(before_bracket);
    } else {
        if let Some(last) = keys.iter_mut().last() {
            last.decor_mut().set_suffix("");
        }
        value.decor_mut().set_suffix(before_bracket);
    }
    keys.push_formatted(value);
}

/// Removes entry `index` from `keys` with what belongs to it: the comment
/// lines above it and the comment after it on its line. What belongs to its
/// neighbours stays.
fn remove_entry(keys: &mut Array, index: usize) {
    let text =
        |raw: Option<&toml_edit::RawString>| raw.and_then(|r| r.as_str()).unwrap_or("").to_owned();
    let Some(removed) = keys.get(index) else {
        return;
    };
    let own_prefix = text(removed.decor().prefix());
    let own_suffix = text(removed.decor().suffix());
    let last = index + 1 == keys.len();
    // The text after the entry's comma: the next entry's prefix, or what
    // follows the last entry.
    let following = match keys.get(index + 1) {
        Some(next) => text(next.decor().prefix()),
        None if keys.trailing_comma() => text(Some(keys.trailing())),
        None => own_suffix,
    };
    // Keep the start of the entry's line (the previous entry's comment, or
    // what follows `[`) and the lines after the entry's own line.
    let head = match own_prefix.find('\n') {
        Some(i) => &own_prefix[..=i],
        // On one line, the space before the entry goes to the next one.
        None if !last => own_prefix.as_str(),
        None => "",
    };
    let tail = match following.find('\n') {
        Some(i) if own_prefix.contains('\n') => &following[i + 1..],
        Some(i) => &following[i..],
        None => "",
    };
    let merged = format!("{head}{tail}");
    keys.remove(index);
    if !last {
        if let Some(next) = keys.get_mut(index) {
            next.decor_mut().set_prefix(merged);
        }
    } else if keys.trailing_comma() && !keys.is_empty() {
        keys.set_trailing(merged);
    } else if let Some(previous) = index.checked_sub(1).and_then(|i| keys.get_mut(i)) {
        let suffix = text(previous.decor().suffix());
        previous.decor_mut().set_suffix(format!("{suffix}{merged}"));
    } else {
        keys.set_trailing_comma(false);
        keys.set_trailing(merged);
    }
}

/// `[policy] keys` of the document, with `[policy]` and `keys` created when
/// missing. A new `[policy]` table goes where a reader looks for it: before
/// every other table but `[bundle]`.
fn keys_array<'d>(doc: &'d mut DocumentMut, config: &Config) -> Result<&'d mut Array, CliError> {
    if !doc.contains_key("policy") {
        let mut table = Table::new();
        let first = doc
            .iter()
            .filter(|(key, _)| *key != "bundle")
            .filter_map(|(_, item)| first_position(item))
            .min();
        if let Some(position) = first {
            shift_positions(doc.as_table_mut(), position);
            table.set_position(Some(position));
        }
        doc.insert("policy", Item::Table(table));
    }
    let not_table = || {
        CliError::input(
            format!("`policy` in {} is not a table", config.path().display()),
            None,
        )
    };
    let policy = doc
        .get_mut("policy")
        .and_then(Item::as_table_like_mut)
        .ok_or_else(not_table)?;
    let keys = policy
        .entry("keys")
        .or_insert(Item::Value(Value::Array(Array::new())));
    keys.as_array_mut().ok_or_else(|| {
        CliError::input(
            format!(
                "`policy.keys` in {} is not an array",
                config.path().display()
            ),
            None,
        )
    })
}

/// The smallest document position of `item`'s table headers, its own or its
/// sub-tables'.
fn first_position(item: &Item) -> Option<isize> {
    match item {
        Item::Table(t) => t
            .position()
            .filter(|_| !t.is_implicit())
            .into_iter()
            .chain(t.iter().filter_map(|(_, i)| first_position(i)))
            .min(),
        Item::ArrayOfTables(a) => a.iter().filter_map(Table::position).min(),
        _ => None,
    }
}

/// Moves every table header at `from` or later one place down.
fn shift_positions(table: &mut Table, from: isize) {
    for (_, item) in table.iter_mut() {
        match item {
            Item::Table(t) => {
                if let Some(p) = t.position().filter(|p| *p >= from) {
                    t.set_position(Some(p + 1));
                }
                shift_positions(t, from);
            }
            Item::ArrayOfTables(a) => {
                for t in a.iter_mut() {
                    if let Some(p) = t.position().filter(|p| *p >= from) {
                        t.set_position(Some(p + 1));
                    }
                    shift_positions(t, from);
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn added(source: &str, entry: &str) -> String {
        let mut doc: DocumentMut = source.parse().unwrap();
        let config = Config::parse("latticeflow.toml", source).unwrap();
        push_entry(keys_array(&mut doc, &config).unwrap(), entry);
        doc.to_string()
    }

    fn removed(source: &str, index: usize) -> String {
        let mut doc: DocumentMut = source.parse().unwrap();
        let config = Config::parse("latticeflow.toml", source).unwrap();
        remove_entry(keys_array(&mut doc, &config).unwrap(), index);
        doc.to_string()
    }

    #[test]
    fn entries_follow_the_lists_layout() {
        let cases = [
            ("[policy]\nkeys = []\n", "[policy]\nkeys = [\"b\"]\n"),
            (
                "[policy]\nkeys = [\"a\"]\n",
                "[policy]\nkeys = [\"a\", \"b\"]\n",
            ),
            (
                "[policy]\nkeys = [\n  \"a\", # one\n]\n",
                "[policy]\nkeys = [\n  \"a\", # one\n  \"b\",\n]\n",
            ),
            (
                "[policy]\nkeys = [\n  \"a\"\n]\n",
                "[policy]\nkeys = [\n  \"a\",\n  \"b\"\n]\n",
            ),
            (
                "[policy]\nkeys = [\n  \"a\" # one\n]\n",
                "[policy]\nkeys = [\n  \"a\", # one\n  \"b\"\n]\n",
            ),
            ("", "[policy]\nkeys = [\"b\"]\n"),
            (
                "[bundle]\nname = \"x\"\n\n# c\n[connectors.a]\nref = \"r.io/a:1\"\n",
                "[bundle]\nname = \"x\"\n\n[policy]\nkeys = [\"b\"]\n\n# c\n[connectors.a]\nref = \"r.io/a:1\"\n",
            ),
        ];
        for (before, after) in cases {
            assert_eq!(added(before, "b"), after, "{before:?}");
        }
    }

    #[test]
    fn removing_takes_the_entrys_comments_and_keeps_the_rest() {
        assert_eq!(
            removed("[policy]\nkeys = [\"a\", \"b\"]\n", 0),
            "[policy]\nkeys = [\"b\"]\n"
        );
        let cases = [
            ("[\"a\", \"b\"]", 0, "[\"b\"]"),
            ("[\"a\", \"b\"]", 1, "[\"a\"]"),
            ("[\"a\"]", 0, "[]"),
            ("[\n  \"a\",\n]", 0, "[\n]"),
            (
                "[\n  # a\n  \"a\",\n  \"b\",\n]",
                1,
                "[\n  # a\n  \"a\",\n]",
            ),
            ("[\n  # a\n  \"a\", # one\n  \"b\",\n]", 0, "[\n  \"b\",\n]"),
            (
                "[\n  \"a\", # one\n  # about b\n  \"b\", # two\n  \"c\",\n]",
                1,
                "[\n  \"a\", # one\n  \"c\",\n]",
            ),
            (
                "[\n  \"a\", # one\n  # about b\n  \"b\" # two\n]",
                1,
                "[\n  \"a\" # one\n]",
            ),
        ];
        for (before, index, after) in cases {
            assert_eq!(
                removed(&format!("[policy]\nkeys = {before}\n"), index),
                format!("[policy]\nkeys = {after}\n"),
                "{before:?} less {index}"
            );
        }
    }
}
