//! The JSON mapping of ABI v1, spoken in component values.
//!
//! A component's `run` takes and returns WIT values, but callers of a
//! [`Node`](crate::host::Node) speak the same JSON for both ABIs. This module
//! turns the declared inputs (checked JSON) into `wasmtime::component::Val`s
//! and the returned `Val`s back into JSON, following docs/wit.md: field names
//! `snake_case` → `kebab-case`, `int` → `s64`, `float` → `f64`,
//! `bytes` → `list<u8>` (base64 in JSON), `json` → `string` holding JSON text.
//!
//! It also checks, once per component, that `run` has exactly the type the
//! manifest implies, so a wrong signature is refused when the node is built,
//! not at the first call.

use base64::Engine as _;
use serde_json::{Map, Number, Value};
use wasmtime::component::Val;
use wasmtime::component::types::{ComponentFunc, Type};

use crate::spec::{FieldSpec, NodeSpec, ValueType};

/// The WIT name of a connector.yaml field name.
pub(super) fn wit_name(name: &str) -> String {
    name.replace('_', "-")
}

/// The WIT type of a connector.yaml type.
fn wit_type(ty: &ValueType) -> String {
    match ty {
        ValueType::String | ValueType::Json => "string".to_owned(),
        ValueType::Bool => "bool".to_owned(),
        ValueType::Int => "s64".to_owned(),
        ValueType::Float => "f64".to_owned(),
        ValueType::Bytes => "list<u8>".to_owned(),
        ValueType::List(item) => format!("list<{}>", wit_type(item)),
        ValueType::Optional(item) => format!("option<{}>", wit_type(item)),
    }
}

fn wit_record(fields: &[FieldSpec]) -> String {
    let fields: Vec<String> = fields
        .iter()
        .map(|f| format!("{}: {}", wit_name(&f.name), wit_type(&f.ty)))
        .collect();
    format!("record {{ {} }}", fields.join(", "))
}

const NODE_ERROR: &str = "record { code: string, message: string, retryable: bool }";

/// The type of `run` the manifest implies, written as WIT.
pub(super) fn expected_signature(spec: &NodeSpec) -> String {
    let params = if spec.inputs.is_empty() {
        String::new()
    } else {
        format!("input: {}", wit_record(&spec.inputs))
    };
    let ok = if spec.outputs.is_empty() {
        "_".to_owned()
    } else {
        wit_record(&spec.outputs)
    };
    format!("func({params}) -> result<{ok}, {NODE_ERROR}>")
}

/// A component type, written as WIT (for error messages).
fn describe(ty: &Type) -> String {
    match ty {
        Type::Bool => "bool".to_owned(),
        Type::S8 => "s8".to_owned(),
        Type::U8 => "u8".to_owned(),
        Type::S16 => "s16".to_owned(),
        Type::U16 => "u16".to_owned(),
        Type::S32 => "s32".to_owned(),
        Type::U32 => "u32".to_owned(),
        Type::S64 => "s64".to_owned(),
        Type::U64 => "u64".to_owned(),
        Type::Float32 => "f32".to_owned(),
        Type::Float64 => "f64".to_owned(),
        Type::Char => "char".to_owned(),
        Type::String => "string".to_owned(),
        Type::List(l) => format!("list<{}>", describe(&l.ty())),
        Type::Option(o) => format!("option<{}>", describe(&o.ty())),
        Type::Record(r) => {
            let fields: Vec<String> = r
                .fields()
                .map(|f| format!("{}: {}", f.name, describe(&f.ty)))
                .collect();
            format!("record {{ {} }}", fields.join(", "))
        }
        Type::Result(r) => format!(
            "result<{}, {}>",
            r.ok().map_or_else(|| "_".to_owned(), |t| describe(&t)),
            r.err().map_or_else(|| "_".to_owned(), |t| describe(&t))
        ),
        Type::Tuple(_) => "tuple<..>".to_owned(),
        Type::Variant(_) => "variant { .. }".to_owned(),
        Type::Enum(_) => "enum { .. }".to_owned(),
        Type::Flags(_) => "flags { .. }".to_owned(),
        other => format!("{other:?}"),
    }
}

/// The type of a component function, written as WIT.
pub(super) fn describe_func(func: &ComponentFunc) -> String {
    let params: Vec<String> = func
        .params()
        .map(|(name, ty)| format!("{name}: {}", describe(&ty)))
        .collect();
    let results: Vec<String> = func.results().map(|t| describe(&t)).collect();
    if results.is_empty() {
        format!("func({})", params.join(", "))
    } else {
        format!("func({}) -> {}", params.join(", "), results.join(", "))
    }
}

fn type_matches(want: &ValueType, found: &Type) -> bool {
    match (want, found) {
        (ValueType::String | ValueType::Json, Type::String)
        | (ValueType::Bool, Type::Bool)
        | (ValueType::Int, Type::S64)
        | (ValueType::Float, Type::Float64) => true,
        (ValueType::Bytes, Type::List(l)) => matches!(l.ty(), Type::U8),
        (ValueType::List(item), Type::List(l)) => type_matches(item, &l.ty()),
        (ValueType::Optional(item), Type::Option(o)) => type_matches(item, &o.ty()),
        _ => false,
    }
}

fn record_matches(fields: &[FieldSpec], found: &Type) -> bool {
    let Type::Record(record) = found else {
        return false;
    };
    record.fields().len() == fields.len()
        && record
            .fields()
            .zip(fields)
            .all(|(f, want)| f.name == wit_name(&want.name) && type_matches(&want.ty, &f.ty))
}

fn node_error_matches(found: &Type) -> bool {
    let Type::Record(record) = found else {
        return false;
    };
    let fields: Vec<(&str, Type)> = record.fields().map(|f| (f.name, f.ty)).collect();
    matches!(
        fields.as_slice(),
        [
            ("code", Type::String),
            ("message", Type::String),
            ("retryable", Type::Bool)
        ]
    )
}

/// Whether `func` is the `run` the manifest implies.
pub(super) fn run_matches(spec: &NodeSpec, func: &ComponentFunc) -> bool {
    if func.async_() {
        return false;
    }
    let params: Vec<(&str, Type)> = func.params().collect();
    let params_ok = match params.as_slice() {
        [] => spec.inputs.is_empty(),
        [(_, ty)] => !spec.inputs.is_empty() && record_matches(&spec.inputs, ty),
        _ => false,
    };
    let results: Vec<Type> = func.results().collect();
    let result_ok = match results.as_slice() {
        [Type::Result(r)] => {
            let ok_ok = match r.ok() {
                None => spec.outputs.is_empty(),
                Some(ty) => !spec.outputs.is_empty() && record_matches(&spec.outputs, &ty),
            };
            ok_ok && r.err().is_some_and(|e| node_error_matches(&e))
        }
        _ => false,
    };
    params_ok && result_ok
}

/// The `input` record for checked inputs (absent optionals are `none`).
pub(super) fn input_record(fields: &[FieldSpec], input: &Value) -> Result<Val, String> {
    let mut record = Vec::with_capacity(fields.len());
    for field in fields {
        let value = input.get(&field.name).unwrap_or(&Value::Null);
        let val = to_val(&field.ty, value).map_err(|e| format!("`{}`: {e}", field.name))?;
        record.push((wit_name(&field.name), val));
    }
    Ok(Val::Record(record))
}

fn to_val(ty: &ValueType, value: &Value) -> Result<Val, String> {
    Ok(match (ty, value) {
        (ValueType::Optional(_), Value::Null) => Val::Option(None),
        (ValueType::Optional(item), v) => Val::Option(Some(Box::new(to_val(item, v)?))),
        (ValueType::String, Value::String(s)) => Val::String(s.clone()),
        (ValueType::Json, v) => Val::String(v.to_string()),
        (ValueType::Bool, Value::Bool(b)) => Val::Bool(*b),
        (ValueType::Int, Value::Number(n)) => {
            Val::S64(n.as_i64().ok_or("expected an integer in i64 range")?)
        }
        (ValueType::Float, Value::Number(n)) => {
            Val::Float64(n.as_f64().ok_or("expected a number")?)
        }
        (ValueType::Bytes, Value::String(s)) => Val::List(
            base64::engine::general_purpose::STANDARD
                .decode(s)
                .map_err(|e| format!("expected base64: {e}"))?
                .into_iter()
                .map(Val::U8)
                .collect(),
        ),
        (ValueType::List(item), Value::Array(items)) => Val::List(
            items
                .iter()
                .enumerate()
                .map(|(i, v)| to_val(item, v).map_err(|e| format!("[{i}]: {e}")))
                .collect::<Result<_, _>>()?,
        ),
        (ty, _) => return Err(format!("expected {ty}")),
    })
}

/// Roughly how many bytes `val` takes as JSON (an upper bound of its
/// content; used to refuse oversized outputs before converting them).
pub(super) fn approx_size(val: &Val) -> usize {
    match val {
        Val::String(s) => s.len() + 2,
        Val::List(items) | Val::Tuple(items) => items
            .iter()
            .map(|v| approx_size(v).saturating_add(1))
            .fold(2, usize::saturating_add),
        Val::Record(fields) => fields
            .iter()
            .map(|(k, v)| approx_size(v).saturating_add(k.len() + 4))
            .fold(2, usize::saturating_add),
        Val::Option(Some(v)) => approx_size(v),
        Val::Result(Ok(Some(v)) | Err(Some(v))) => approx_size(v),
        _ => 8,
    }
}

/// Why a returned value cannot become JSON: the field path and the problem.
pub(super) struct ValueProblem {
    pub(super) field: String,
    pub(super) problem: String,
}

/// The `output` record as the JSON object of declared outputs.
pub(super) fn output_object(fields: &[FieldSpec], val: &Val) -> Result<Value, ValueProblem> {
    let Val::Record(record) = val else {
        return Err(ValueProblem {
            field: "output".to_owned(),
            problem: "is not a record".to_owned(),
        });
    };
    let mut object = Map::new();
    for (field, (_, v)) in fields.iter().zip(record) {
        let json = from_val(&field.ty, v).map_err(|(path, problem)| ValueProblem {
            field: format!("{}{path}", field.name),
            problem,
        })?;
        // An absent optional is left out, as a v1 module would.
        if !json.is_null() || !matches!(field.ty, ValueType::Optional(_)) {
            object.insert(field.name.clone(), json);
        }
    }
    Ok(Value::Object(object))
}

fn from_val(ty: &ValueType, val: &Val) -> Result<Value, (String, String)> {
    let wrong = || {
        (
            String::new(),
            format!("has a value that is not a {}", wit_type(ty)),
        )
    };
    Ok(match (ty, val) {
        (ValueType::Optional(_), Val::Option(None)) => Value::Null,
        (ValueType::Optional(item), Val::Option(Some(v))) => from_val(item, v)?,
        (ValueType::String, Val::String(s)) => Value::String(s.clone()),
        (ValueType::Json, Val::String(s)) => serde_json::from_str(s).map_err(|e| {
            (
                String::new(),
                format!("is declared `json` but its text is not JSON: {e}"),
            )
        })?,
        (ValueType::Bool, Val::Bool(b)) => Value::Bool(*b),
        (ValueType::Int, Val::S64(n)) => Value::Number((*n).into()),
        (ValueType::Float, Val::Float64(f)) => {
            Value::Number(Number::from_f64(*f).ok_or_else(|| {
                (
                    String::new(),
                    format!("is {f}, which JSON cannot represent"),
                )
            })?)
        }
        (ValueType::Bytes, Val::List(items)) => {
            let bytes = items
                .iter()
                .map(|v| match v {
                    Val::U8(b) => Ok(*b),
                    _ => Err(wrong()),
                })
                .collect::<Result<Vec<u8>, _>>()?;
            Value::String(base64::engine::general_purpose::STANDARD.encode(bytes))
        }
        (ValueType::List(item), Val::List(items)) => Value::Array(
            items
                .iter()
                .enumerate()
                .map(|(i, v)| from_val(item, v).map_err(|(p, e)| (format!("[{i}]{p}"), e)))
                .collect::<Result<_, _>>()?,
        ),
        _ => return Err(wrong()),
    })
}

/// The fields of a returned `node-error` record.
pub(super) fn node_error(val: &Val) -> Option<(String, String, bool)> {
    let Val::Record(fields) = val else {
        return None;
    };
    match fields.as_slice() {
        [
            (_, Val::String(code)),
            (_, Val::String(message)),
            (_, Val::Bool(retryable)),
        ] => Some((code.clone(), message.clone(), *retryable)),
        _ => None,
    }
}
