//! The types of node inputs and outputs, as written in `connector.yaml`.
//!
//! A type has exactly one spelling: `string`, `bool`, `int`, `float`, `bytes`,
//! `json`, `list<T>`, `optional<T>`. Whitespace is rejected rather than
//! tolerated, so the text in a manifest is always the canonical form that
//! [`fmt::Display`] writes (manifests diff cleanly, and the spelling a generator
//! or a lockfile copies is stable). Two further shapes are refused:
//! `optional<optional<T>>`, because the JSON mapping ("absent or null") cannot
//! tell its two kinds of absence apart, and nesting deeper than
//! [`ValueType::MAX_DEPTH`], so a hostile manifest cannot exhaust the stack.

use std::fmt;
use std::str::FromStr;

/// The type of a node input or output.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ValueType {
    /// `string`: a UTF-8 string (JSON string).
    String,
    /// `bool`: JSON `true`/`false`.
    Bool,
    /// `int`: an `i64` (JSON integer number in range).
    Int,
    /// `float`: an `f64` (any JSON number).
    Float,
    /// `bytes`: a byte string (JSON base64 string, standard alphabet, padded).
    Bytes,
    /// `json`: any JSON value.
    Json,
    /// `list<T>`: a JSON array of `T`.
    List(Box<ValueType>),
    /// `optional<T>`: `T`, or absent / `null`.
    Optional(Box<ValueType>),
}

impl ValueType {
    /// How many `list<`/`optional<` levels a type may nest.
    pub const MAX_DEPTH: usize = 32;

    /// `list<item>`.
    pub fn list(item: ValueType) -> Self {
        ValueType::List(Box::new(item))
    }

    /// `optional<inner>`.
    pub fn optional(inner: ValueType) -> Self {
        ValueType::Optional(Box::new(inner))
    }

    /// Whether a field of this type may be absent (it is `optional<T>`).
    pub fn is_optional(&self) -> bool {
        matches!(self, ValueType::Optional(_))
    }

    fn scalar_name(&self) -> Option<&'static str> {
        Some(match self {
            ValueType::String => "string",
            ValueType::Bool => "bool",
            ValueType::Int => "int",
            ValueType::Float => "float",
            ValueType::Bytes => "bytes",
            ValueType::Json => "json",
            ValueType::List(_) | ValueType::Optional(_) => return None,
        })
    }
}

impl fmt::Display for ValueType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ValueType::List(item) => write!(f, "list<{item}>"),
            ValueType::Optional(inner) => write!(f, "optional<{inner}>"),
            scalar => f.write_str(scalar.scalar_name().unwrap_or_default()),
        }
    }
}

/// Text that is not a value type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid type `{input}` at offset {offset}: {kind}")]
pub struct ValueTypeError {
    /// The text as written.
    pub input: String,
    /// The byte offset in `input` where the problem was found.
    pub offset: usize,
    /// What was wrong there.
    pub kind: ValueTypeErrorKind,
}

/// What was wrong with a value type's text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ValueTypeErrorKind {
    /// Something other than what the grammar allows at this point.
    #[error("expected {expected}, found {}", found_text(*.found))]
    Expected {
        /// What the grammar allows here.
        expected: &'static str,
        /// The character found, or `None` at the end of the text.
        found: Option<char>,
    },
    /// A name that is not a type.
    #[error("unknown type `{name}`; expected one of {}", TYPE_NAMES)]
    UnknownType {
        /// The name as written.
        name: String,
    },
    /// Whitespace, which is not allowed anywhere in a type.
    #[error(
        "whitespace is not allowed in a type; write it without spaces, e.g. `list<optional<int>>`"
    )]
    Whitespace,
    /// A scalar type followed by `<`.
    #[error("`{name}` takes no type parameter")]
    UnexpectedParameter {
        /// The scalar type.
        name: &'static str,
    },
    /// `optional<optional<T>>`.
    #[error(
        "`optional<optional<T>>` is not allowed: absent and null cannot tell its two levels apart; use `optional<T>`"
    )]
    NestedOptional,
    /// More than [`ValueType::MAX_DEPTH`] levels of nesting.
    #[error("types may nest at most {} levels", ValueType::MAX_DEPTH)]
    TooDeep,
}

const TYPE_NAMES: &str = "string, bool, int, float, bytes, json, list<T>, optional<T>";

fn found_text(found: Option<char>) -> String {
    match found {
        Some(c) => format!("`{c}`"),
        None => "the end of the type".to_owned(),
    }
}

struct Parser<'a> {
    input: &'a str,
    pos: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<char> {
        self.input[self.pos..].chars().next()
    }

    fn error(&self, offset: usize, kind: ValueTypeErrorKind) -> ValueTypeError {
        ValueTypeError {
            input: self.input.to_owned(),
            offset,
            kind,
        }
    }

    fn unexpected(&self, expected: &'static str) -> ValueTypeError {
        let kind = match self.peek() {
            Some(c) if c.is_whitespace() => ValueTypeErrorKind::Whitespace,
            found => ValueTypeErrorKind::Expected { expected, found },
        };
        self.error(self.pos, kind)
    }

    fn expect(&mut self, c: char, expected: &'static str) -> Result<(), ValueTypeError> {
        if self.peek() == Some(c) {
            self.pos += c.len_utf8();
            Ok(())
        } else {
            Err(self.unexpected(expected))
        }
    }

    fn parse_type(&mut self, depth: usize) -> Result<ValueType, ValueTypeError> {
        let start = self.pos;
        let len = self.input[start..]
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(self.input.len() - start);
        if len == 0 {
            return Err(self.unexpected("a type name"));
        }
        let name = &self.input[start..start + len];
        self.pos += len;
        let scalar = match name {
            "string" => ValueType::String,
            "bool" => ValueType::Bool,
            "int" => ValueType::Int,
            "float" => ValueType::Float,
            "bytes" => ValueType::Bytes,
            "json" => ValueType::Json,
            "list" | "optional" => {
                let is_list = name == "list";
                self.expect(
                    '<',
                    if is_list {
                        "`<` after `list`"
                    } else {
                        "`<` after `optional`"
                    },
                )?;
                if depth >= ValueType::MAX_DEPTH {
                    return Err(self.error(start, ValueTypeErrorKind::TooDeep));
                }
                let inner_start = self.pos;
                let inner = self.parse_type(depth + 1)?;
                if !is_list && inner.is_optional() {
                    return Err(self.error(inner_start, ValueTypeErrorKind::NestedOptional));
                }
                self.expect('>', "`>`")?;
                return Ok(if is_list {
                    ValueType::list(inner)
                } else {
                    ValueType::optional(inner)
                });
            }
            other => {
                return Err(self.error(
                    start,
                    ValueTypeErrorKind::UnknownType {
                        name: other.to_owned(),
                    },
                ));
            }
        };
        if self.peek() == Some('<') {
            let name = scalar.scalar_name().unwrap_or_default();
            return Err(self.error(self.pos, ValueTypeErrorKind::UnexpectedParameter { name }));
        }
        Ok(scalar)
    }
}

impl FromStr for ValueType {
    type Err = ValueTypeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut parser = Parser { input: s, pos: 0 };
        let ty = parser.parse_type(0)?;
        if parser.pos != s.len() {
            return Err(parser.unexpected("the end of the type"));
        }
        Ok(ty)
    }
}

impl serde::Serialize for ValueType {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for ValueType {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn err(s: &str) -> ValueTypeError {
        s.parse::<ValueType>().unwrap_err()
    }

    #[test]
    fn parses_and_round_trips() {
        let cases = [
            ("string", ValueType::String),
            ("bool", ValueType::Bool),
            ("int", ValueType::Int),
            ("float", ValueType::Float),
            ("bytes", ValueType::Bytes),
            ("json", ValueType::Json),
            ("list<int>", ValueType::list(ValueType::Int)),
            ("optional<bytes>", ValueType::optional(ValueType::Bytes)),
            (
                "list<optional<int>>",
                ValueType::list(ValueType::optional(ValueType::Int)),
            ),
            (
                "optional<list<list<json>>>",
                ValueType::optional(ValueType::list(ValueType::list(ValueType::Json))),
            ),
        ];
        for (text, ty) in cases {
            assert_eq!(text.parse::<ValueType>().unwrap(), ty, "{text}");
            assert_eq!(ty.to_string(), text);
        }
    }

    #[test]
    fn rejects_whitespace_everywhere() {
        for s in [
            " int",
            "int ",
            "list <int>",
            "list< int>",
            "list<int >",
            "list<\tint>",
        ] {
            let e = err(s);
            assert_eq!(e.kind, ValueTypeErrorKind::Whitespace, "{s}");
        }
        assert_eq!(err("list <int>").offset, 4);
        assert!(
            err(" int")
                .to_string()
                .contains("whitespace is not allowed")
        );
    }

    #[test]
    fn errors_say_what_was_expected() {
        let e = err("strng");
        assert_eq!(
            e.kind,
            ValueTypeErrorKind::UnknownType {
                name: "strng".into()
            }
        );
        assert_eq!(
            e.to_string(),
            "invalid type `strng` at offset 0: unknown type `strng`; expected one of string, bool, int, float, bytes, json, list<T>, optional<T>"
        );
        let e = err("list<strng>");
        assert_eq!(e.offset, 5);

        let e = err("list");
        assert_eq!(
            e.kind,
            ValueTypeErrorKind::Expected {
                expected: "`<` after `list`",
                found: None
            }
        );
        assert!(e.to_string().ends_with("found the end of the type"), "{e}");

        let e = err("list<int");
        assert_eq!(
            e.kind,
            ValueTypeErrorKind::Expected {
                expected: "`>`",
                found: None
            }
        );
        assert_eq!(e.offset, 8);

        let e = err("list<int>>");
        assert_eq!(
            e.kind,
            ValueTypeErrorKind::Expected {
                expected: "the end of the type",
                found: Some('>')
            }
        );
        assert_eq!(e.offset, 9);

        let e = err("int<string>");
        assert_eq!(
            e.kind,
            ValueTypeErrorKind::UnexpectedParameter { name: "int" }
        );
        assert_eq!(
            e.to_string(),
            "invalid type `int<string>` at offset 3: `int` takes no type parameter"
        );

        let e = err("");
        assert_eq!(
            e.kind,
            ValueTypeErrorKind::Expected {
                expected: "a type name",
                found: None
            }
        );
        let e = err("list<>");
        assert_eq!(
            e.kind,
            ValueTypeErrorKind::Expected {
                expected: "a type name",
                found: Some('>')
            }
        );
        assert!(matches!(
            err("String").kind,
            ValueTypeErrorKind::UnknownType { .. }
        ));
        assert!(matches!(
            err("list<é>").kind,
            ValueTypeErrorKind::Expected {
                found: Some('é'),
                ..
            }
        ));
    }

    #[test]
    fn rejects_nested_optional_but_not_separated_optionals() {
        let e = err("optional<optional<int>>");
        assert_eq!(e.kind, ValueTypeErrorKind::NestedOptional);
        assert_eq!(e.offset, 9);
        assert!("optional<list<optional<int>>>".parse::<ValueType>().is_ok());
    }

    #[test]
    fn limits_depth() {
        let ok = format!(
            "{}int{}",
            "list<".repeat(ValueType::MAX_DEPTH),
            ">".repeat(ValueType::MAX_DEPTH)
        );
        assert_eq!(ok.parse::<ValueType>().unwrap().to_string(), ok);
        let deep = format!("{}int{}", "list<".repeat(10_000), ">".repeat(10_000));
        assert_eq!(err(&deep).kind, ValueTypeErrorKind::TooDeep);
    }

    #[test]
    fn serde_is_the_canonical_string() {
        let ty = ValueType::list(ValueType::optional(ValueType::Int));
        let json = serde_json::to_string(&ty).unwrap();
        assert_eq!(json, "\"list<optional<int>>\"");
        assert_eq!(serde_json::from_str::<ValueType>(&json).unwrap(), ty);
        let e = serde_json::from_str::<ValueType>("\"list<\"").unwrap_err();
        assert!(e.to_string().contains("expected a type name"), "{e}");
    }
}
