//! Checking JSON values against declared types (docs/abi.md, "Types in JSON").
//!
//! The host uses this on every output a module returns, so a connector cannot
//! hand a flow a value its manifest did not promise. The first problem found is
//! reported, with the path of the offending field (`files[2].name`); checking
//! order is deterministic (declared fields in order, then undeclared ones).
//!
//! The mapping: `string` → string; `bool` → `true`/`false`; `int` → a JSON
//! integer literal in `i64` range (`1.0`, `1e3` and integers beyond `i64` are
//! rejected); `float` → any number; `bytes` → a base64 string, standard
//! alphabet, padded, canonical (no stray trailing bits); `json` → anything;
//! `list<T>` → an array of `T`; `optional<T>` → `null` or `T`, and as an object
//! field also absent.

use std::fmt;

use base64::Engine as _;
use serde_json::Value;

use super::{FieldSpec, ValueType};

/// One step in a [`ValuePath`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PathSegment {
    /// An object field, by name.
    Field(String),
    /// An array element, by index.
    Index(usize),
}

/// Where in a value a problem is: `files[2].name`. Empty for the value itself.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct ValuePath(pub Vec<PathSegment>);

impl ValuePath {
    /// Whether the path names the value itself.
    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for ValuePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("(the value itself)");
        }
        for (i, segment) in self.0.iter().enumerate() {
            match segment {
                PathSegment::Field(name) if i == 0 => f.write_str(name)?,
                PathSegment::Field(name) => write!(f, ".{name}")?,
                PathSegment::Index(index) => write!(f, "[{index}]")?,
            }
        }
        Ok(())
    }
}

/// The kind of a JSON value, for error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JsonKind {
    /// `null`.
    Null,
    /// `true` or `false`.
    Bool,
    /// A number.
    Number,
    /// A string.
    String,
    /// An array.
    Array,
    /// An object.
    Object,
}

impl JsonKind {
    /// The kind of `value`.
    pub fn of(value: &Value) -> Self {
        match value {
            Value::Null => JsonKind::Null,
            Value::Bool(_) => JsonKind::Bool,
            Value::Number(_) => JsonKind::Number,
            Value::String(_) => JsonKind::String,
            Value::Array(_) => JsonKind::Array,
            Value::Object(_) => JsonKind::Object,
        }
    }
}

impl fmt::Display for JsonKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            JsonKind::Null => "null",
            JsonKind::Bool => "a boolean",
            JsonKind::Number => "a number",
            JsonKind::String => "a string",
            JsonKind::Array => "an array",
            JsonKind::Object => "an object",
        })
    }
}

/// A JSON value that does not match its declared type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{path}`: {kind}")]
pub struct ValueError {
    /// Where the offending value is.
    pub path: ValuePath,
    /// What is wrong with it.
    pub kind: ValueErrorKind,
}

/// What is wrong with a checked value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ValueErrorKind {
    /// The JSON kind does not fit the type.
    #[error("expected {expected}, found {found}")]
    Mismatch {
        /// The declared type.
        expected: ValueType,
        /// What was there instead.
        found: JsonKind,
    },
    /// An `int` that is not an integer literal in `i64` range.
    #[error("expected int (an integer in i64 range), found {number}")]
    NotAnInt {
        /// The number as serde_json prints it.
        number: String,
    },
    /// A `bytes` string that is not standard, padded base64.
    #[error("expected bytes as base64 (standard alphabet, padded): {reason}")]
    InvalidBase64 {
        /// Why decoding failed.
        reason: String,
    },
    /// A declared field that is absent (and not `optional<T>`).
    #[error("missing field of type {expected}")]
    Missing {
        /// The declared type.
        expected: ValueType,
    },
    /// A field present in the object but not declared.
    #[error("field is not declared")]
    Undeclared,
    /// The fields container itself is not an object.
    #[error("expected an object of fields, found {found}")]
    NotAnObject {
        /// What was there instead.
        found: JsonKind,
    },
}

impl ValueType {
    /// Checks `value` against this type by the JSON mapping of ABI v1 (see the
    /// module docs). Errors carry the path below `value`.
    pub fn check(&self, value: &Value) -> Result<(), ValueError> {
        let mut path = Vec::new();
        check_type(self, value, &mut path)
    }
}

/// Checks that `value` is an object holding exactly `fields`: every declared
/// field present (unless `optional<T>`) and of its type, and nothing else.
/// This is how the host checks a module's `ok` outputs (and a caller's inputs).
pub fn check_fields(fields: &[FieldSpec], value: &Value) -> Result<(), ValueError> {
    let Value::Object(map) = value else {
        return Err(ValueError {
            path: ValuePath::default(),
            kind: ValueErrorKind::NotAnObject {
                found: JsonKind::of(value),
            },
        });
    };
    let mut path = Vec::new();
    for field in fields {
        path.push(PathSegment::Field(field.name.clone()));
        match map.get(&field.name) {
            Some(v) => check_type(&field.ty, v, &mut path)?,
            None if field.ty.is_optional() => {}
            None => {
                return Err(error(
                    &path,
                    ValueErrorKind::Missing {
                        expected: field.ty.clone(),
                    },
                ));
            }
        }
        path.pop();
    }
    if let Some(extra) = map
        .keys()
        .find(|key| !fields.iter().any(|f| &f.name == *key))
    {
        return Err(error(
            &[PathSegment::Field(extra.clone())],
            ValueErrorKind::Undeclared,
        ));
    }
    Ok(())
}

fn error(path: &[PathSegment], kind: ValueErrorKind) -> ValueError {
    ValueError {
        path: ValuePath(path.to_vec()),
        kind,
    }
}

fn check_type(
    ty: &ValueType,
    value: &Value,
    path: &mut Vec<PathSegment>,
) -> Result<(), ValueError> {
    let mismatch = |path: &[PathSegment]| {
        error(
            path,
            ValueErrorKind::Mismatch {
                expected: ty.clone(),
                found: JsonKind::of(value),
            },
        )
    };
    match (ty, value) {
        (ValueType::Json, _)
        | (ValueType::String, Value::String(_))
        | (ValueType::Bool, Value::Bool(_))
        | (ValueType::Float, Value::Number(_))
        | (ValueType::Optional(_), Value::Null) => Ok(()),
        (ValueType::Int, Value::Number(n)) => {
            if n.is_i64() {
                Ok(())
            } else {
                Err(error(
                    path,
                    ValueErrorKind::NotAnInt {
                        number: n.to_string(),
                    },
                ))
            }
        }
        (ValueType::Bytes, Value::String(s)) => base64::engine::general_purpose::STANDARD
            .decode(s)
            .map(drop)
            .map_err(|e| {
                error(
                    path,
                    ValueErrorKind::InvalidBase64 {
                        reason: e.to_string(),
                    },
                )
            }),
        (ValueType::List(item), Value::Array(items)) => {
            for (index, v) in items.iter().enumerate() {
                path.push(PathSegment::Index(index));
                check_type(item, v, path)?;
                path.pop();
            }
            Ok(())
        }
        (ValueType::Optional(inner), v) => {
            let depth = path.len();
            check_type(inner, v, path).map_err(|mut e| {
                // Say `optional<int>`, not `int`, when this value itself is the wrong kind.
                if e.path.0.len() == depth
                    && let ValueErrorKind::Mismatch { expected, .. } = &mut e.kind
                {
                    *expected = ty.clone();
                }
                e
            })
        }
        _ => Err(mismatch(path)),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::json;

    use super::*;

    fn ty(s: &str) -> ValueType {
        s.parse().unwrap()
    }

    fn field(name: &str, t: &str) -> FieldSpec {
        FieldSpec {
            name: name.into(),
            ty: ty(t),
        }
    }

    #[test]
    fn scalars() {
        let ok = [
            ("string", json!("x")),
            ("bool", json!(false)),
            ("int", json!(-9_223_372_036_854_775_808_i64)),
            ("int", json!(i64::MAX)),
            ("float", json!(1.5)),
            ("float", json!(3)),
            ("bytes", json!("aGk=")),
            ("bytes", json!("")),
            ("json", json!({"a": [null]})),
            ("json", json!(null)),
            ("optional<int>", json!(null)),
            ("optional<int>", json!(4)),
            ("list<optional<int>>", json!([1, null, 3])),
        ];
        for (t, v) in ok {
            assert_eq!(ty(t).check(&v), Ok(()), "{t} {v}");
        }
    }

    #[test]
    fn int_must_be_an_i64_integer_literal() {
        for v in [json!(1.0), json!(1e3), json!(u64::MAX), json!(0.5)] {
            let e = ty("int").check(&v).unwrap_err();
            assert!(matches!(e.kind, ValueErrorKind::NotAnInt { .. }), "{v}");
        }
        let e = ty("int").check(&json!(u64::MAX)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "`(the value itself)`: expected int (an integer in i64 range), found 18446744073709551615"
        );
    }

    #[test]
    fn bytes_are_standard_padded_base64() {
        for bad in ["aGk", "aG-_", "aGk=\n", "aGl=", "a"] {
            let e = ty("bytes").check(&json!(bad)).unwrap_err();
            assert!(
                matches!(e.kind, ValueErrorKind::InvalidBase64 { .. }),
                "{bad}: {e}"
            );
        }
        assert!(ty("bytes").check(&json!("+/+/")).is_ok());
    }

    #[test]
    fn mismatch_names_the_path_and_the_types() {
        let e = ty("list<list<int>>")
            .check(&json!([[1], [2, "x"]]))
            .unwrap_err();
        assert_eq!(e.path.to_string(), "[1][1]");
        assert_eq!(e.to_string(), "`[1][1]`: expected int, found a string");

        let e = ty("optional<int>").check(&json!("x")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "`(the value itself)`: expected optional<int>, found a string"
        );

        let e = ty("optional<list<int>>").check(&json!([true])).unwrap_err();
        assert_eq!(e.to_string(), "`[0]`: expected int, found a boolean");

        assert!(ty("list<int>").check(&json!(null)).is_err());
        assert!(ty("string").check(&json!(null)).is_err());
    }

    #[test]
    fn fields_missing_extra_and_mistyped() {
        let fields = [
            field("files", "list<json>"),
            field("next", "optional<string>"),
            field("count", "int"),
        ];
        assert_eq!(
            check_fields(&fields, &json!({"files": [], "count": 0})),
            Ok(())
        );
        assert_eq!(
            check_fields(&fields, &json!({"files": [], "next": null, "count": 0})),
            Ok(())
        );

        let e = check_fields(&fields, &json!({"files": []})).unwrap_err();
        assert_eq!(e.to_string(), "`count`: missing field of type int");

        let e = check_fields(&fields, &json!({"files": [], "count": 1, "extra": 1})).unwrap_err();
        assert_eq!(e.to_string(), "`extra`: field is not declared");

        let e = check_fields(&fields, &json!({"files": {}, "count": 1})).unwrap_err();
        assert_eq!(
            e.to_string(),
            "`files`: expected list<json>, found an object"
        );

        let fields = [field("rows", "list<optional<bytes>>")];
        let e = check_fields(&fields, &json!({"rows": [null, "!"]})).unwrap_err();
        assert_eq!(e.path.to_string(), "rows[1]");
        assert!(
            e.to_string()
                .starts_with("`rows[1]`: expected bytes as base64"),
            "{e}"
        );

        let e = check_fields(&fields, &json!([1])).unwrap_err();
        assert!(e.path.is_root());
        assert_eq!(
            e.kind,
            ValueErrorKind::NotAnObject {
                found: JsonKind::Array
            }
        );
    }
}
