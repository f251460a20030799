//! The connector manifest: the `connector.yaml` document a module carries in its
//! `latticeflow.connector` custom section (docs/artifact.md).
//!
//! The YAML is read into a private wire shape (every scalar with its line and
//! column) and then checked into [`ConnectorManifest`], whose fields are private:
//! a value of it is always a valid manifest. Rust code builds one from
//! [`ManifestParts`] through the same checks.
//!
//! Rules beyond the shape of each value, decided here where the format leaves it open:
//!
//! - `id`, `inputs`, `outputs`, `effects`, `deterministic` and `capabilities`
//!   are required (the lists may be empty); `version`, `idempotent` and
//!   `errors` are optional. Unknown keys, duplicate keys and several documents are errors.
//!   Booleans are YAML 1.2 ones (`true`/`false`), not `yes`/`no`.
//! - Every effect needs the capability of the same name: a call cannot read
//!   over HTTP unless `http_read` is linked, so an effect without its
//!   capability is a contradiction. The converse is not required: a connector
//!   may ask for a capability it uses only on some calls (`log`).
//! - Capabilities and effects are sets: a repeated entry is an error, and the
//!   canonical document lists them in canonical (name) order.
//! - At most [`ConnectorManifest::MAX_FIELDS`] inputs and as many outputs: each
//!   list becomes a Rust struct in the generated wrapper crate, and past a few
//!   thousand fields the derived serde and comparison code makes rustc overflow
//!   its stack (and compile for minutes before that). A limit checked here
//!   fails at `push` and `lock`, naming the connector, instead of at build time.
//! - `deterministic` is the author's claim and is not checked against the
//!   effects (the documented example is a deterministic `http.read` node).
//! - `idempotent` keeps whether it was written: [`ConnectorManifest::idempotent`]
//!   applies the default (true unless a `*.write` effect is declared), and
//!   [`ConnectorManifest::to_yaml`] writes the key only if the source had it, so
//!   a document round-trips to an equal value.
//! - `version` is the connector's release, the one place `push` takes the
//!   `org.opencontainers.image.version` annotation from (never from the tag it
//!   pushes to, so one connector has one digest wherever it is pushed). It is
//!   a string of at most [`MAX_VERSION_LEN`] characters from `[A-Za-z0-9._+-]`
//!   starting with a letter or digit: semver and calendar versions fit, and so
//!   does every value that is also a valid OCI tag.
//! - Every error keeps where it is: line and column for people, and the byte
//!   span for a caller that renders the offending line ([`ManifestError::span`]).

use std::collections::BTreeSet;
use std::fmt;

use serde::Deserialize;
use serde_saphyr::{MessageFormatter as _, Spanned};

use super::names::{is_identifier, is_segment};
use super::{
    Capability, ConnectorId, ConnectorIdError, Effect, UnknownCapability, UnknownEffect, ValueType,
    ValueTypeError, ValueTypeErrorKind,
};

/// A declared input or output: `{name, type}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldSpec {
    /// The field name, `[a-z_][a-z0-9_]*`.
    pub name: String,
    /// The declared type.
    #[serde(rename = "type")]
    pub ty: ValueType,
}

impl FieldSpec {
    /// A field named `name` of type `ty`.
    pub fn new(name: impl Into<String>, ty: ValueType) -> Self {
        FieldSpec {
            name: name.into(),
            ty,
        }
    }
}

/// An error code a node may return: `{code, retryable}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorSpec {
    /// The code, `[a-z][a-z0-9_]*`.
    pub code: String,
    /// Whether a caller may retry after this error.
    pub retryable: bool,
}

/// The longest `version` accepted, in characters.
pub const MAX_VERSION_LEN: usize = 128;

/// A 1-based line and column in a YAML document, and the byte range of the
/// text it points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Position {
    /// 1-based line.
    pub line: u64,
    /// 1-based column (in characters).
    pub column: u64,
    // Byte offsets, u32 to keep the error small: a connector.yaml is far
    // below 4 GiB.
    start: u32,
    end: u32,
}

/// `start` when the parser reported a line and column but no byte offset
/// (its syntax errors): the offset is then found from the line and column.
const OFFSET_UNKNOWN: u32 = u32::MAX;

impl Position {
    /// The byte range in the document of the text this position points at
    /// (empty when only the start is known), or `None` when the parser gave
    /// only a line and column (see [`span_in`](Self::span_in)).
    pub fn span(&self) -> Option<std::ops::Range<usize>> {
        (self.start != OFFSET_UNKNOWN).then_some(self.start as usize..self.end as usize)
    }

    /// The byte range in `source` (the document that was parsed): the
    /// reported one, or the offset of the line and column when only those
    /// are known.
    pub fn span_in(&self, source: &str) -> std::ops::Range<usize> {
        if let Some(span) = self.span() {
            return span;
        }
        let line_start: usize = source
            .split_inclusive('\n')
            .take(usize::try_from(self.line.saturating_sub(1)).unwrap_or(usize::MAX))
            .map(str::len)
            .sum();
        let column = usize::try_from(self.column.saturating_sub(1)).unwrap_or(0);
        let offset = source[line_start.min(source.len())..]
            .char_indices()
            .nth(column)
            .map_or(source.len(), |(i, _)| line_start + i);
        offset..offset
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}, column {}", self.line, self.column)
    }
}

/// Formats an optional position as ` (line L, column C)` or nothing.
struct At(Option<Position>);

impl fmt::Display for At {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(p) => write!(f, " ({p})"),
            None => Ok(()),
        }
    }
}

fn at(position: &Option<Position>) -> At {
    At(*position)
}

/// A `connector.yaml` that cannot be accepted. Each variant names the field
/// (`inputs[1].name`) and, when the manifest came from YAML, where it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ManifestError {
    /// Not YAML, or not the manifest's shape: a syntax error, a missing or
    /// unknown key, a value of the wrong kind.
    #[error("connector manifest{}: {message}", at(.position))]
    Yaml {
        /// What the YAML layer reported.
        message: String,
        /// Where, if the YAML layer knew.
        position: Option<Position>,
    },
    /// `id` is not a connector id.
    #[error("`id`{}: {error}", at(.position))]
    Id {
        /// The id problem.
        error: ConnectorIdError,
        /// Where the id is.
        position: Option<Position>,
    },
    /// An input or output `type` is not a value type. The position points
    /// at the offending part of the type, so the message leaves out the
    /// offset within it.
    #[error("`{field}`{}: {}", at(.position), type_problem(.error, .position))]
    Type {
        /// The field path, e.g. `outputs[0].type`.
        field: String,
        /// The type problem.
        error: ValueTypeError,
        /// Where the type is.
        position: Option<Position>,
    },
    /// An input or output name is not `[a-z_][a-z0-9_]*`.
    #[error("`{field}`{}: `{name}` is not a valid name; expected [a-z_][a-z0-9_]*", at(.position))]
    InvalidName {
        /// The field path, e.g. `inputs[1].name`.
        field: String,
        /// The name as written.
        name: String,
        /// Where the name is.
        position: Option<Position>,
    },
    /// More inputs (or outputs) than [`ConnectorManifest::MAX_FIELDS`].
    #[error(
        "`{list}`{}: {count} fields; a connector may declare at most {max} inputs and {max} outputs (each list becomes one Rust struct in the generated wrapper crate)",
        at(.position),
        max = ConnectorManifest::MAX_FIELDS
    )]
    TooManyFields {
        /// `inputs` or `outputs`.
        list: String,
        /// How many fields the list has.
        count: usize,
        /// Where the first field past the limit is.
        position: Option<Position>,
    },
    /// Two inputs (or two outputs) share a name.
    #[error("`{field}`{}: duplicate name `{name}`, already declared at `{first}`", at(.position))]
    DuplicateName {
        /// The field path of the repeat.
        field: String,
        /// The repeated name.
        name: String,
        /// The field path of the first declaration.
        first: String,
        /// Where the repeat is.
        position: Option<Position>,
    },
    /// A capability outside the closed set.
    #[error("`{field}`{}: {error}", at(.position))]
    UnknownCapability {
        /// The field path, e.g. `capabilities[2]`.
        field: String,
        /// The unknown name.
        error: UnknownCapability,
        /// Where it is.
        position: Option<Position>,
    },
    /// An effect outside the closed set.
    #[error("`{field}`{}: {error}", at(.position))]
    UnknownEffect {
        /// The field path, e.g. `effects[0]`.
        field: String,
        /// The unknown name.
        error: UnknownEffect,
        /// Where it is.
        position: Option<Position>,
    },
    /// A capability listed twice.
    #[error("`{field}`{}: capability `{capability}` is listed more than once", at(.position))]
    DuplicateCapability {
        /// The field path of the repeat.
        field: String,
        /// The repeated capability.
        capability: Capability,
        /// Where the repeat is.
        position: Option<Position>,
    },
    /// An effect listed twice.
    #[error("`{field}`{}: effect `{effect}` is listed more than once", at(.position))]
    DuplicateEffect {
        /// The field path of the repeat.
        field: String,
        /// The repeated effect.
        effect: Effect,
        /// Where the repeat is.
        position: Option<Position>,
    },
    /// An effect whose capability is not declared.
    #[error(
        "`{field}`{}: effect `{effect}` needs capability `{effect}`, which `capabilities` does not list; add it there or drop the effect",
        at(.position)
    )]
    UncoveredEffect {
        /// The field path of the effect.
        field: String,
        /// The effect.
        effect: Effect,
        /// Where the effect is.
        position: Option<Position>,
    },
    /// An error code that is not `[a-z][a-z0-9_]*`.
    #[error("`{field}`{}: `{code}` is not a valid error code; expected [a-z][a-z0-9_]*", at(.position))]
    InvalidErrorCode {
        /// The field path, e.g. `errors[1].code`.
        field: String,
        /// The code as written.
        code: String,
        /// Where it is.
        position: Option<Position>,
    },
    /// `version` is empty, too long, or has a character outside `[A-Za-z0-9._+-]`.
    #[error(
        "`version`{}: `{version}` is not a valid version: {problem}; write up to {MAX_VERSION_LEN} characters from [A-Za-z0-9._+-], starting with a letter or digit, e.g. `1.4.0`",
        at(.position)
    )]
    InvalidVersion {
        /// The version as written.
        version: String,
        /// What is wrong with it.
        problem: &'static str,
        /// Where it is.
        position: Option<Position>,
    },
    /// Two error entries share a code.
    #[error("`{field}`{}: duplicate error code `{code}`, already declared at `{first}`", at(.position))]
    DuplicateErrorCode {
        /// The field path of the repeat.
        field: String,
        /// The repeated code.
        code: String,
        /// The field path of the first declaration.
        first: String,
        /// Where the repeat is.
        position: Option<Position>,
    },
}

impl ManifestError {
    /// Where in the YAML document the problem is, when known.
    pub fn position(&self) -> Option<Position> {
        match self {
            ManifestError::Yaml { position, .. }
            | ManifestError::Id { position, .. }
            | ManifestError::Type { position, .. }
            | ManifestError::InvalidName { position, .. }
            | ManifestError::TooManyFields { position, .. }
            | ManifestError::DuplicateName { position, .. }
            | ManifestError::UnknownCapability { position, .. }
            | ManifestError::UnknownEffect { position, .. }
            | ManifestError::DuplicateCapability { position, .. }
            | ManifestError::DuplicateEffect { position, .. }
            | ManifestError::UncoveredEffect { position, .. }
            | ManifestError::InvalidErrorCode { position, .. }
            | ManifestError::InvalidVersion { position, .. }
            | ManifestError::DuplicateErrorCode { position, .. } => *position,
        }
    }

    /// The byte range in the YAML document of the offending text, when known:
    /// for a located rendering (file, line, column and the source line).
    pub fn span(&self) -> Option<std::ops::Range<usize>> {
        self.position().and_then(|p| p.span())
    }

    /// [`span`](Self::span) within `source`, the document that was parsed:
    /// also known for syntax errors, which carry only a line and column.
    pub fn span_in(&self, source: &str) -> Option<std::ops::Range<usize>> {
        self.position().map(|p| p.span_in(source))
    }

    /// What is wrong, without the ` (line L, column C)` part: for a rendering
    /// that shows the location itself.
    pub fn message(&self) -> String {
        let full = self.to_string();
        match self.position() {
            Some(p) => full.replacen(&format!(" ({p})"), "", 1),
            None => full,
        }
    }
}

/// A type problem: without its offset when the position already points at
/// the offending part.
fn type_problem(error: &ValueTypeError, position: &Option<Position>) -> String {
    if position.is_some() {
        format!("invalid type `{}`: {}", error.input, error.kind)
    } else {
        error.to_string()
    }
}

/// The parts of a manifest, unchecked: build one in code, then
/// `ConnectorManifest::try_from(parts)` applies the same checks as
/// [`ConnectorManifest::from_yaml`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestParts {
    /// The connector id.
    pub id: ConnectorId,
    /// The connector's release, if declared.
    pub version: Option<String>,
    /// Declared inputs, in order.
    pub inputs: Vec<FieldSpec>,
    /// Declared outputs, in order.
    pub outputs: Vec<FieldSpec>,
    /// Declared effects.
    pub effects: Vec<Effect>,
    /// Whether equal inputs give equal outputs (the author's claim).
    pub deterministic: bool,
    /// Requested capabilities.
    pub capabilities: Vec<Capability>,
    /// `idempotent` as written; `None` for the default.
    pub idempotent: Option<bool>,
    /// Declared error codes, in order.
    pub errors: Vec<ErrorSpec>,
}

/// A checked `connector.yaml` (see the module docs for the rules).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectorManifest {
    id: ConnectorId,
    version: Option<String>,
    inputs: Vec<FieldSpec>,
    outputs: Vec<FieldSpec>,
    effects: BTreeSet<Effect>,
    deterministic: bool,
    capabilities: BTreeSet<Capability>,
    idempotent: Option<bool>,
    errors: Vec<ErrorSpec>,
}

impl ConnectorManifest {
    /// The most inputs, and the most outputs, a connector may declare.
    pub const MAX_FIELDS: usize = 1024;

    /// Parses and checks a `connector.yaml` document.
    pub fn from_yaml(yaml: &str) -> Result<Self, ManifestError> {
        let options = serde_saphyr::options! {
            strict_booleans: true,
            with_snippet: false,
        };
        let wire: Wire =
            serde_saphyr::from_str_with_options(yaml, options).map_err(|e| yaml_error(&e))?;
        wire.into_draft()?.check()
    }

    /// The connector id.
    pub fn id(&self) -> &ConnectorId {
        &self.id
    }

    /// The connector's release (`version`), if declared.
    pub fn version(&self) -> Option<&str> {
        self.version.as_deref()
    }

    /// Declared inputs, in declaration order (names unique).
    pub fn inputs(&self) -> &[FieldSpec] {
        &self.inputs
    }

    /// Declared outputs, in declaration order (names unique).
    pub fn outputs(&self) -> &[FieldSpec] {
        &self.outputs
    }

    /// Declared effects, each covered by a capability.
    pub fn effects(&self) -> &BTreeSet<Effect> {
        &self.effects
    }

    /// Whether equal inputs give equal outputs (the author's claim).
    pub fn deterministic(&self) -> bool {
        self.deterministic
    }

    /// Requested capabilities.
    pub fn capabilities(&self) -> &BTreeSet<Capability> {
        &self.capabilities
    }

    /// `idempotent` as written in the document, if it was.
    pub fn declared_idempotent(&self) -> Option<bool> {
        self.idempotent
    }

    /// Whether a call is safe to retry: as declared, else true unless a
    /// `*.write` effect is declared.
    pub fn idempotent(&self) -> bool {
        self.idempotent
            .unwrap_or_else(|| !self.effects.iter().any(|e| e.is_write()))
    }

    /// Declared error codes, in declaration order (codes unique).
    pub fn errors(&self) -> &[ErrorSpec] {
        &self.errors
    }

    /// Gives the parts back (effects and capabilities in canonical order).
    pub fn into_parts(self) -> ManifestParts {
        ManifestParts {
            id: self.id,
            version: self.version,
            inputs: self.inputs,
            outputs: self.outputs,
            effects: self.effects.into_iter().collect(),
            deterministic: self.deterministic,
            capabilities: self.capabilities.into_iter().collect(),
            idempotent: self.idempotent,
            errors: self.errors,
        }
    }

    /// The canonical `connector.yaml`: keys in the documented order (`version`,
    /// when declared, right after `id`), two-space
    /// indentation, effects and capabilities sorted, `idempotent` only if it
    /// was declared, `errors` only if non-empty. It parses back to an equal
    /// manifest, and equal manifests give identical bytes.
    pub fn to_yaml(&self) -> String {
        let mut out = String::new();
        line(&mut out, "", "id", Some(self.id.as_str()));
        if let Some(version) = &self.version {
            line(&mut out, "", "version", Some(&scalar(version)));
        }
        for (key, fields) in [("inputs", &self.inputs), ("outputs", &self.outputs)] {
            if fields.is_empty() {
                line(&mut out, "", key, Some("[]"));
            } else {
                line(&mut out, "", key, None);
                for f in fields {
                    line(&mut out, "  - ", "name", Some(&scalar(&f.name)));
                    line(&mut out, "    ", "type", Some(&scalar(&f.ty.to_string())));
                }
            }
        }
        list(&mut out, "effects", self.effects.iter().map(|e| e.as_str()));
        line(
            &mut out,
            "",
            "deterministic",
            Some(bool_str(self.deterministic)),
        );
        list(
            &mut out,
            "capabilities",
            self.capabilities.iter().map(|c| c.as_str()),
        );
        if let Some(idempotent) = self.idempotent {
            line(&mut out, "", "idempotent", Some(bool_str(idempotent)));
        }
        if !self.errors.is_empty() {
            line(&mut out, "", "errors", None);
            for e in &self.errors {
                line(&mut out, "  - ", "code", Some(&scalar(&e.code)));
                line(&mut out, "    ", "retryable", Some(bool_str(e.retryable)));
            }
        }
        out
    }
}

impl TryFrom<ManifestParts> for ConnectorManifest {
    type Error = ManifestError;

    fn try_from(parts: ManifestParts) -> Result<Self, ManifestError> {
        Draft {
            id: parts.id,
            version: parts.version.map(Placed::nowhere),
            inputs: parts.inputs.into_iter().map(Placed::nowhere).collect(),
            outputs: parts.outputs.into_iter().map(Placed::nowhere).collect(),
            effects: parts.effects.into_iter().map(Placed::nowhere).collect(),
            deterministic: parts.deterministic,
            capabilities: parts
                .capabilities
                .into_iter()
                .map(Placed::nowhere)
                .collect(),
            idempotent: parts.idempotent,
            errors: parts.errors.into_iter().map(Placed::nowhere).collect(),
        }
        .check()
    }
}

fn bool_str(b: bool) -> &'static str {
    if b { "true" } else { "false" }
}

fn line(out: &mut String, indent: &str, key: &str, value: Option<&str>) {
    out.push_str(indent);
    out.push_str(key);
    out.push(':');
    if let Some(value) = value {
        out.push(' ');
        out.push_str(value);
    }
    out.push('\n');
}

fn list<'a>(out: &mut String, key: &str, items: impl ExactSizeIterator<Item = &'a str>) {
    if items.len() == 0 {
        line(out, "", key, Some("[]"));
        return;
    }
    line(out, "", key, None);
    for item in items {
        out.push_str("  - ");
        out.push_str(item);
        out.push('\n');
    }
}

/// Writes a checked name, type or version as a YAML scalar: plain, unless
/// YAML would read the plain form as something other than that string
/// (`null`, `true`, `no`, `y`, `1.0`…), in which case it is double-quoted.
/// Names, codes and types are restricted to `[a-z0-9_.<>]` and versions to
/// `[A-Za-z0-9._+-]`, so no escaping is ever needed.
fn scalar(s: &str) -> String {
    const RESERVED: [&str; 11] = [
        "null", "true", "false", "yes", "no", "on", "off", "y", "n", "nan", "inf",
    ];
    let plain_safe = s.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "_.<>".contains(c))
        && !RESERVED.contains(&s);
    if plain_safe {
        s.to_owned()
    } else {
        format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
    }
}

fn yaml_error(err: &serde_saphyr::Error) -> ManifestError {
    let position = err.location().and_then(|l| located(&l));
    let message = serde_saphyr::UserMessageFormatter
        .format_message(err.without_snippet())
        .escape_debug()
        .to_string();
    ManifestError::Yaml { message, position }
}

fn located(l: &serde_saphyr::Location) -> Option<Position> {
    if l.line() == 0 {
        return None;
    }
    let span = l.span();
    let start = span
        .byte_offset()
        .and_then(|o| u32::try_from(o).ok())
        .unwrap_or(OFFSET_UNKNOWN);
    let len = span
        .byte_len()
        .and_then(|o| u32::try_from(o).ok())
        .unwrap_or(0);
    Some(Position {
        line: l.line(),
        column: l.column(),
        start,
        end: start.saturating_add(len),
    })
}

fn spanned_position<T>(s: &Spanned<T>) -> Option<Position> {
    located(&s.referenced)
}

/// The position of the offending part of a type scalar (an unknown name, or
/// the rest of the type from where it went wrong), when the scalar's text is
/// the type itself or the type in quotes; anything else (an escape) keeps the
/// whole scalar.
fn type_position(scalar: Option<Position>, error: &ValueTypeError) -> Option<Position> {
    let p = scalar?;
    let input = &error.input;
    let Some(span) = p.span() else {
        return Some(p);
    };
    let quote = match span.len() {
        n if n == input.len() => 0,
        n if n == input.len() + 2 => 1,
        _ => return Some(p),
    };
    let Some(before) = input.get(..error.offset) else {
        return Some(p);
    };
    let start = span.start + quote + error.offset;
    let end = match &error.kind {
        ValueTypeErrorKind::UnknownType { name } => start + name.len(),
        _ => span.end - quote,
    };
    Some(Position {
        line: p.line,
        column: p.column + (quote + before.chars().count()) as u64,
        start: u32::try_from(start).unwrap_or(p.start),
        end: u32::try_from(end.clamp(start, span.end)).unwrap_or(p.end),
    })
}

/// Checks a `version` value; the problem when it is not one.
fn version_problem(version: &str) -> Option<&'static str> {
    if version.is_empty() {
        return Some("it is empty");
    }
    if version.chars().count() > MAX_VERSION_LEN {
        return Some("it is too long");
    }
    if !version.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return Some("it must start with a letter or digit");
    }
    if !version
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "._+-".contains(c))
    {
        return Some("it has a character outside [A-Za-z0-9._+-]");
    }
    None
}

/// A value and where it was written, if it came from YAML.
struct Placed<T> {
    value: T,
    position: Option<Position>,
}

impl<T> Placed<T> {
    fn nowhere(value: T) -> Self {
        Placed {
            value,
            position: None,
        }
    }
}

/// The document as read, before any check.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Wire {
    id: Spanned<String>,
    #[serde(default)]
    version: Option<Spanned<String>>,
    inputs: Vec<WireField>,
    outputs: Vec<WireField>,
    effects: Vec<Spanned<String>>,
    deterministic: bool,
    capabilities: Vec<Spanned<String>>,
    #[serde(default)]
    idempotent: Option<bool>,
    #[serde(default)]
    errors: Option<Vec<WireError>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WireField {
    name: Spanned<String>,
    #[serde(rename = "type")]
    ty: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WireError {
    code: Spanned<String>,
    retryable: bool,
}

impl Wire {
    /// Parses the scalars (id, types, capabilities, effects), keeping positions.
    fn into_draft(self) -> Result<Draft, ManifestError> {
        let id = self.id.value.parse().map_err(|error| ManifestError::Id {
            error,
            position: spanned_position(&self.id),
        })?;
        let fields =
            |list: &str, wire: Vec<WireField>| -> Result<Vec<Placed<FieldSpec>>, ManifestError> {
                wire.into_iter()
                    .enumerate()
                    .map(|(i, f)| {
                        let ty = f.ty.value.parse().map_err(|error: ValueTypeError| {
                            ManifestError::Type {
                                field: format!("{list}[{i}].type"),
                                position: type_position(spanned_position(&f.ty), &error),
                                error,
                            }
                        })?;
                        Ok(Placed {
                            position: spanned_position(&f.name),
                            value: FieldSpec {
                                name: f.name.value,
                                ty,
                            },
                        })
                    })
                    .collect()
            };
        let inputs = fields("inputs", self.inputs)?;
        let outputs = fields("outputs", self.outputs)?;
        let effects = self
            .effects
            .into_iter()
            .enumerate()
            .map(|(i, e)| {
                let position = spanned_position(&e);
                let value = e
                    .value
                    .parse()
                    .map_err(|error| ManifestError::UnknownEffect {
                        field: format!("effects[{i}]"),
                        error,
                        position,
                    })?;
                Ok(Placed { value, position })
            })
            .collect::<Result<_, ManifestError>>()?;
        let capabilities = self
            .capabilities
            .into_iter()
            .enumerate()
            .map(|(i, c)| {
                let position = spanned_position(&c);
                let value = c
                    .value
                    .parse()
                    .map_err(|error| ManifestError::UnknownCapability {
                        field: format!("capabilities[{i}]"),
                        error,
                        position,
                    })?;
                Ok(Placed { value, position })
            })
            .collect::<Result<_, ManifestError>>()?;
        let errors = self
            .errors
            .unwrap_or_default()
            .into_iter()
            .map(|e| Placed {
                position: spanned_position(&e.code),
                value: ErrorSpec {
                    code: e.code.value,
                    retryable: e.retryable,
                },
            })
            .collect();
        let version = self.version.map(|v| Placed {
            position: spanned_position(&v),
            value: v.value,
        });
        Ok(Draft {
            id,
            version,
            inputs,
            outputs,
            effects,
            deterministic: self.deterministic,
            capabilities,
            idempotent: self.idempotent,
            errors,
        })
    }
}

/// Typed values with positions, before the cross-field checks.
struct Draft {
    id: ConnectorId,
    version: Option<Placed<String>>,
    inputs: Vec<Placed<FieldSpec>>,
    outputs: Vec<Placed<FieldSpec>>,
    effects: Vec<Placed<Effect>>,
    deterministic: bool,
    capabilities: Vec<Placed<Capability>>,
    idempotent: Option<bool>,
    errors: Vec<Placed<ErrorSpec>>,
}

impl Draft {
    fn check(self) -> Result<ConnectorManifest, ManifestError> {
        if let Some(v) = &self.version
            && let Some(problem) = version_problem(&v.value)
        {
            return Err(ManifestError::InvalidVersion {
                version: v.value.clone(),
                problem,
                position: v.position,
            });
        }
        let inputs = check_field_names("inputs", self.inputs)?;
        let outputs = check_field_names("outputs", self.outputs)?;

        let mut capabilities = BTreeSet::new();
        for (i, c) in self.capabilities.into_iter().enumerate() {
            if !capabilities.insert(c.value) {
                return Err(ManifestError::DuplicateCapability {
                    field: format!("capabilities[{i}]"),
                    capability: c.value,
                    position: c.position,
                });
            }
        }

        let mut effects = BTreeSet::new();
        for (i, e) in self.effects.into_iter().enumerate() {
            let field = format!("effects[{i}]");
            if !effects.insert(e.value) {
                return Err(ManifestError::DuplicateEffect {
                    field,
                    effect: e.value,
                    position: e.position,
                });
            }
            if !capabilities.contains(&e.value.capability()) {
                return Err(ManifestError::UncoveredEffect {
                    field,
                    effect: e.value,
                    position: e.position,
                });
            }
        }

        let mut errors: Vec<ErrorSpec> = Vec::with_capacity(self.errors.len());
        for (i, e) in self.errors.into_iter().enumerate() {
            let field = format!("errors[{i}].code");
            if !is_segment(&e.value.code) {
                return Err(ManifestError::InvalidErrorCode {
                    field,
                    code: e.value.code,
                    position: e.position,
                });
            }
            if let Some(first) = errors.iter().position(|prev| prev.code == e.value.code) {
                return Err(ManifestError::DuplicateErrorCode {
                    field,
                    code: e.value.code,
                    first: format!("errors[{first}].code"),
                    position: e.position,
                });
            }
            errors.push(e.value);
        }

        Ok(ConnectorManifest {
            id: self.id,
            version: self.version.map(|v| v.value),
            inputs,
            outputs,
            effects,
            deterministic: self.deterministic,
            capabilities,
            idempotent: self.idempotent,
            errors,
        })
    }
}

fn check_field_names(
    list: &str,
    placed: Vec<Placed<FieldSpec>>,
) -> Result<Vec<FieldSpec>, ManifestError> {
    if let Some(extra) = placed.get(ConnectorManifest::MAX_FIELDS) {
        return Err(ManifestError::TooManyFields {
            list: list.to_owned(),
            count: placed.len(),
            position: extra.position,
        });
    }
    let mut fields: Vec<FieldSpec> = Vec::with_capacity(placed.len());
    for (i, f) in placed.into_iter().enumerate() {
        let field = format!("{list}[{i}].name");
        if !is_identifier(&f.value.name) {
            return Err(ManifestError::InvalidName {
                field,
                name: f.value.name,
                position: f.position,
            });
        }
        if let Some(first) = fields.iter().position(|prev| prev.name == f.value.name) {
            return Err(ManifestError::DuplicateName {
                field,
                name: f.value.name,
                first: format!("{list}[{first}].name"),
                position: f.position,
            });
        }
        fields.push(f.value);
    }
    Ok(fields)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const EXAMPLE: &str = "\
id: connector.google.drive.files_list
inputs:
  - name: query
    type: string
outputs:
  - name: files
    type: json
effects:
  - http.read
deterministic: true
capabilities:
  - http.read
# optional:
idempotent: true          # safe to retry
errors:                   # for contract tests
  - code: not_found
    retryable: false
  - code: rate_limited
    retryable: true
";

    fn parse(yaml: &str) -> ConnectorManifest {
        ConnectorManifest::from_yaml(yaml).unwrap()
    }

    fn fail(yaml: &str) -> ManifestError {
        ConnectorManifest::from_yaml(yaml).unwrap_err()
    }

    /// A minimal valid document with `extra` appended and `replace` applied.
    fn doc(replace: &[(&str, &str)], extra: &str) -> String {
        let mut d = "\
id: connector.acme.ping
inputs:
  - name: host
    type: string
outputs:
  - name: ms
    type: int
effects:
  - http.read
deterministic: false
capabilities:
  - http.read
"
        .to_owned();
        for (from, to) in replace {
            assert!(d.contains(from), "{from}");
            d = d.replacen(from, to, 1);
        }
        d + extra
    }

    #[test]
    fn parses_design_example() {
        let m = parse(EXAMPLE);
        assert_eq!(m.id().as_str(), "connector.google.drive.files_list");
        assert_eq!(m.inputs(), [FieldSpec::new("query", ValueType::String)]);
        assert_eq!(m.outputs(), [FieldSpec::new("files", ValueType::Json)]);
        assert_eq!(
            m.effects().iter().copied().collect::<Vec<_>>(),
            [Effect::new(Capability::HttpRead)]
        );
        assert!(m.deterministic());
        assert_eq!(
            m.capabilities().iter().copied().collect::<Vec<_>>(),
            [Capability::HttpRead]
        );
        assert_eq!(m.declared_idempotent(), Some(true));
        assert!(m.idempotent());
        assert_eq!(m.errors().len(), 2);
        assert_eq!(m.errors()[1].code, "rate_limited");
        assert!(m.errors()[1].retryable);
    }

    #[test]
    fn canonical_yaml_round_trips() {
        let m = parse(EXAMPLE);
        let yaml = m.to_yaml();
        assert_eq!(
            yaml,
            "\
id: connector.google.drive.files_list
inputs:
  - name: query
    type: string
outputs:
  - name: files
    type: json
effects:
  - http.read
deterministic: true
capabilities:
  - http.read
idempotent: true
errors:
  - code: not_found
    retryable: false
  - code: rate_limited
    retryable: true
"
        );
        assert_eq!(parse(&yaml), m);
        assert_eq!(parse(&yaml).to_yaml(), yaml);
    }

    #[test]
    fn canonical_yaml_sorts_sets_and_omits_defaults() {
        let m = parse(
            "\
id: connector.acme.store.put
inputs: []
outputs: []
effects: [log, kv.write]
deterministic: false
capabilities: [random, kv.write, log]
errors: []
",
        );
        let yaml = m.to_yaml();
        assert_eq!(
            yaml,
            "\
id: connector.acme.store.put
inputs: []
outputs: []
effects:
  - kv.write
  - log
deterministic: false
capabilities:
  - kv.write
  - log
  - random
"
        );
        assert_eq!(parse(&yaml), m);
    }

    #[test]
    fn reserved_words_are_quoted_in_canonical_yaml() {
        let m = ConnectorManifest::try_from(ManifestParts {
            id: "connector.acme.odd".parse().unwrap(),
            version: Some("2.0.0-rc.1+build.7".into()),
            inputs: ["null", "true", "no", "y", "off", "nan", "_", "type"]
                .into_iter()
                .map(|n| FieldSpec::new(n, ValueType::optional(ValueType::Bytes)))
                .collect(),
            outputs: vec![FieldSpec::new("yes", ValueType::Bool)],
            effects: vec![],
            deterministic: true,
            capabilities: vec![],
            idempotent: None,
            errors: vec![ErrorSpec {
                code: "false".into(),
                retryable: false,
            }],
        })
        .unwrap();
        let yaml = m.to_yaml();
        assert!(yaml.contains("  - name: \"null\"\n"), "{yaml}");
        assert!(yaml.contains("  - name: _\n"), "{yaml}");
        assert!(yaml.contains("    type: optional<bytes>\n"), "{yaml}");
        assert!(
            yaml.starts_with("id: connector.acme.odd\nversion: \"2.0.0-rc.1+build.7\"\n"),
            "{yaml}"
        );
        assert_eq!(parse(&yaml), m);
    }

    #[test]
    fn idempotent_default_follows_write_effects() {
        let read = parse(&doc(&[], ""));
        assert_eq!(read.declared_idempotent(), None);
        assert!(read.idempotent());

        let write = parse(&doc(
            &[
                ("  - http.read\ndet", "  - http.write\ndet"),
                ("  - http.read\n", "  - http.write\n"),
            ],
            "",
        ));
        assert!(write.effects().iter().any(|e| e.is_write()));
        assert!(!write.idempotent());

        let declared = parse(&doc(
            &[
                ("  - http.read\ndet", "  - http.write\ndet"),
                ("  - http.read\n", "  - http.write\n"),
            ],
            "idempotent: true\n",
        ));
        assert!(declared.idempotent());
        assert!(!parse(&doc(&[], "idempotent: false\n")).idempotent());
    }

    #[test]
    fn unknown_keys_are_rejected_with_position() {
        let e = fail(&doc(&[], "retries: 3\n"));
        let ManifestError::Yaml { message, position } = &e else {
            panic!("{e:?}")
        };
        assert!(message.contains("retries"), "{message}");
        assert_eq!(position.map(|p| p.line), Some(13), "{e}");
        assert!(
            e.to_string()
                .starts_with("connector manifest (line 13, column 1): "),
            "{e}"
        );

        let e = fail(&doc(
            &[("    type: string\n", "    type: string\n    doc: hi\n")],
            "",
        ));
        assert!(matches!(e, ManifestError::Yaml { .. }), "{e}");
        assert_eq!(e.position().map(|p| p.line), Some(5), "{e}");
    }

    #[test]
    fn missing_required_keys_and_bad_shapes() {
        let e = fail(&doc(&[("deterministic: false\n", "")], ""));
        assert!(e.to_string().contains("deterministic"), "{e}");
        let e = fail(&doc(&[("effects:\n  - http.read\n", "")], ""));
        assert!(e.to_string().contains("effects"), "{e}");
        let e = fail(&doc(&[("deterministic: false", "deterministic: no")], ""));
        assert!(matches!(e, ManifestError::Yaml { .. }), "{e}");
        assert_eq!(e.position().map(|p| p.line), Some(10), "{e}");
        let e = fail(&doc(&[], "id: connector.acme.again\n"));
        assert!(matches!(e, ManifestError::Yaml { .. }), "{e}");
        assert!(matches!(
            fail("- just\n- a list\n"),
            ManifestError::Yaml { .. }
        ));
        assert!(matches!(fail(""), ManifestError::Yaml { .. }));
        assert!(matches!(
            fail("id: [unclosed\n"),
            ManifestError::Yaml { .. }
        ));
    }

    #[test]
    fn field_lists_are_limited() {
        let fields = |n: usize| -> String {
            (0..n)
                .map(|i| format!("  - name: f{i}\n    type: string\n"))
                .collect()
        };
        let at_limit = doc(
            &[(
                "outputs:\n  - name: ms\n    type: int\n",
                &format!("outputs:\n{}", fields(ConnectorManifest::MAX_FIELDS)),
            )],
            "",
        );
        assert_eq!(
            parse(&at_limit).outputs().len(),
            ConnectorManifest::MAX_FIELDS
        );

        let e = fail(&doc(
            &[(
                "inputs:\n  - name: host\n    type: string\n",
                &format!("inputs:\n{}", fields(ConnectorManifest::MAX_FIELDS + 1)),
            )],
            "",
        ));
        assert!(
            matches!(e, ManifestError::TooManyFields { count: 1025, .. }),
            "{e}"
        );
        assert_eq!(
            e.to_string(),
            "`inputs` (line 2051, column 11): 1025 fields; a connector may declare at most 1024 inputs and 1024 outputs (each list becomes one Rust struct in the generated wrapper crate)"
        );
    }

    #[test]
    fn bad_values_name_field_and_position() {
        let e = fail(&doc(&[("connector.acme.ping", "connector.acme")], ""));
        assert!(matches!(e, ManifestError::Id { .. }), "{e}");
        assert_eq!(
            e.position(),
            Some(Position {
                line: 1,
                column: 5,
                start: 4,
                end: 18
            })
        );
        assert_eq!(
            e.to_string(),
            "`id` (line 1, column 5): invalid connector id `connector.acme`: has 2 segment(s); expected at least three: connector.<vendor>[.<group>...].<node>"
        );

        let e = fail(&doc(&[("type: int", "type: list<integer>")], ""));
        assert_eq!(
            e.to_string(),
            "`outputs[0].type` (line 7, column 16): invalid type `list<integer>`: unknown type `integer`; expected one of string, bool, int, float, bytes, json, list<T>, optional<T>"
        );
        assert_eq!(
            e.message(),
            "`outputs[0].type`: invalid type `list<integer>`: unknown type `integer`; expected one of string, bool, int, float, bytes, json, list<T>, optional<T>"
        );

        let e = fail(&doc(&[("name: host", "name: Host")], ""));
        assert_eq!(
            e.to_string(),
            "`inputs[0].name` (line 3, column 11): `Host` is not a valid name; expected [a-z_][a-z0-9_]*"
        );

        let e = fail(&doc(
            &[(
                "    type: string\n",
                "    type: string\n  - name: host\n    type: int\n",
            )],
            "",
        ));
        assert_eq!(
            e.to_string(),
            "`inputs[1].name` (line 5, column 11): duplicate name `host`, already declared at `inputs[0].name`"
        );
        // The same name may be both an input and an output.
        parse(&doc(&[("name: ms", "name: host")], ""));

        let e = fail(&doc(
            &[(
                "capabilities:\n  - http.read",
                "capabilities:\n  - http.read\n  - fs.read",
            )],
            "",
        ));
        assert!(matches!(e, ManifestError::UnknownCapability { .. }), "{e}");
        assert!(
            e.to_string().starts_with("`capabilities[1]` (line 13, column 5): unknown capability `fs.read`; expected one of: clock, db.read"),
            "{e}"
        );

        let e = fail(&doc(&[("  - http.read\ndet", "  - http.get\ndet")], ""));
        assert!(
            e.to_string()
                .starts_with("`effects[0]` (line 9, column 5): unknown effect `http.get`"),
            "{e}"
        );
    }

    #[test]
    fn sets_reject_duplicates() {
        let e = fail(&doc(
            &[(
                "capabilities:\n  - http.read",
                "capabilities:\n  - http.read\n  - log\n  - http.read",
            )],
            "",
        ));
        assert_eq!(
            e.to_string(),
            "`capabilities[2]` (line 14, column 5): capability `http.read` is listed more than once"
        );
        let e = fail(&doc(
            &[("  - http.read\ndet", "  - http.read\n  - http.read\ndet")],
            "",
        ));
        assert_eq!(
            e.to_string(),
            "`effects[1]` (line 10, column 5): effect `http.read` is listed more than once"
        );
    }

    #[test]
    fn every_effect_needs_its_capability() {
        let e = fail(&doc(
            &[("  - http.read\ndet", "  - http.read\n  - kv.write\ndet")],
            "",
        ));
        assert_eq!(
            e.to_string(),
            "`effects[1]` (line 10, column 5): effect `kv.write` needs capability `kv.write`, which `capabilities` does not list; add it there or drop the effect"
        );
        // A capability without an effect is fine.
        parse(&doc(
            &[(
                "capabilities:\n  - http.read",
                "capabilities:\n  - http.read\n  - log",
            )],
            "",
        ));
    }

    #[test]
    fn error_codes_are_checked() {
        let e = fail(&doc(
            &[],
            "errors:\n  - code: Not_Found\n    retryable: false\n",
        ));
        assert_eq!(
            e.to_string(),
            "`errors[0].code` (line 14, column 11): `Not_Found` is not a valid error code; expected [a-z][a-z0-9_]*"
        );
        let e = fail(&doc(
            &[],
            "errors:\n  - code: busy\n    retryable: true\n  - code: busy\n    retryable: false\n",
        ));
        assert_eq!(
            e.to_string(),
            "`errors[1].code` (line 16, column 11): duplicate error code `busy`, already declared at `errors[0].code`"
        );
        let e = fail(&doc(&[], "errors:\n  - code: busy\n"));
        assert!(e.to_string().contains("retryable"), "{e}");
    }

    #[test]
    fn parts_are_checked_without_positions() {
        let mut parts = parse(EXAMPLE).into_parts();
        parts.capabilities.push(Capability::HttpRead);
        let e = ConnectorManifest::try_from(parts.clone()).unwrap_err();
        assert_eq!(e.position(), None);
        assert_eq!(
            e.to_string(),
            "`capabilities[1]`: capability `http.read` is listed more than once"
        );
        parts.capabilities.pop();
        assert_eq!(ConnectorManifest::try_from(parts).unwrap(), parse(EXAMPLE));
    }

    #[test]
    fn version_is_optional_checked_and_kept() {
        assert_eq!(parse(&doc(&[], "")).version(), None);
        for ok in ["1.0", "1.4.0", "2024.11.3", "1.0.0-rc.1+build.5", "v2", "7"] {
            let m = parse(&doc(&[], &format!("version: \"{ok}\"\n")));
            assert_eq!(m.version(), Some(ok));
            assert_eq!(parse(&m.to_yaml()), m, "{ok}");
        }
        // Unquoted, `1.10` is the text `1.10`, not the float 1.1.
        assert_eq!(parse(&doc(&[], "version: 1.10\n")).version(), Some("1.10"));
        let long = "1".repeat(MAX_VERSION_LEN);
        assert_eq!(
            parse(&doc(&[], &format!("version: \"{long}\"\n"))).version(),
            Some(long.as_str())
        );

        for (bad, problem) in [
            ("\"\"", "it is empty"),
            (&format!("\"{long}1\""), "it is too long"),
            ("-1", "it must start with a letter or digit"),
            ("\"1.0 beta\"", "it has a character outside [A-Za-z0-9._+-]"),
            ("1.0/2", "it has a character outside [A-Za-z0-9._+-]"),
            ("\"é1\"", "it must start with a letter or digit"),
        ] {
            let e = fail(&doc(&[], &format!("version: {bad}\n")));
            let ManifestError::InvalidVersion {
                problem: found,
                position,
                ..
            } = &e
            else {
                panic!("{bad}: {e:?}")
            };
            assert_eq!(*found, problem, "{bad}");
            assert_eq!(position.map(|p| (p.line, p.column)), Some((13, 10)), "{e}");
            assert!(
                e.to_string()
                    .starts_with("`version` (line 13, column 10): `"),
                "{e}"
            );
        }
        assert!(matches!(
            fail(&doc(&[], "version: [1]\n")),
            ManifestError::Yaml { .. }
        ));

        let mut parts = parse(EXAMPLE).into_parts();
        parts.version = Some("1 0".into());
        let e = ConnectorManifest::try_from(parts).unwrap_err();
        assert!(
            matches!(e, ManifestError::InvalidVersion { position: None, .. }),
            "{e}"
        );
    }

    #[test]
    fn spans_point_into_the_document() {
        let yaml = doc(&[("type: int", "type: list<integer>")], "");
        let e = fail(&yaml);
        assert_eq!(&yaml[e.span().unwrap()], "integer");

        let yaml = doc(&[("type: int", "type: \"list< int>\"")], "");
        let e = fail(&yaml);
        assert_eq!(e.position().map(|p| p.column), Some(17), "{e}");
        assert_eq!(&yaml[e.span().unwrap()], " int>");
        assert!(!e.to_string().contains("offset"), "{e}");

        let yaml = doc(&[("name: host", "name: Höst")], "");
        let e = fail(&yaml);
        assert_eq!(&yaml[e.span().unwrap()], "Höst");

        let yaml = doc(&[], "retries: 3\n");
        let e = fail(&yaml);
        assert!(
            yaml[e.span().unwrap().start..].starts_with("retries"),
            "{e}"
        );
        assert_eq!(
            e.message(),
            e.to_string().replace(" (line 13, column 1)", "")
        );
        assert!(!e.message().contains("line 13"), "{e}");
    }
}
