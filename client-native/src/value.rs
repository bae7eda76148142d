//! Converting user types to and from the stored [`Value`]. serde_json's
//! value model maps one to one onto ours (map keys are strings, integers
//! stay integers), so any `Serialize` type works.

use crate::error::{Error, Result};
use raftcp_proto::Value;
use serde::{Serialize, de::DeserializeOwned};
use serde_json::Value as Json;

pub(crate) fn to_value<T: Serialize + ?Sized>(value: &T) -> Result<Value> {
    let json = serde_json::to_value(value).map_err(|e| Error::Value(e.to_string()))?;
    // Canonical form is applied once, by `ValueReference`, before sending.
    Ok(from_json(json))
}

pub(crate) fn from_value<T: DeserializeOwned>(value: Value) -> Result<T> {
    serde_json::from_value(to_json(value)?).map_err(|e| Error::Value(e.to_string()))
}

fn from_json(json: Json) -> Value {
    match json {
        Json::Null => Value::Null,
        Json::Bool(b) => Value::Bool(b),
        Json::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => Value::I64(i),
            (None, Some(u)) => Value::U64(u),
            _ => Value::F64(n.as_f64().unwrap_or(f64::NAN)),
        },
        Json::String(s) => Value::String(s),
        Json::Array(items) => Value::List(items.into_iter().map(from_json).collect()),
        Json::Object(map) => Value::Map(map.into_iter().map(|(k, v)| (k, from_json(v))).collect()),
    }
}

fn to_json(value: Value) -> Result<Json> {
    Ok(match value {
        Value::Null => Json::Null,
        Value::Bool(b) => Json::Bool(b),
        Value::I64(i) => Json::from(i),
        Value::U64(u) => Json::from(u),
        Value::F64(f) => serde_json::Number::from_f64(f)
            .map(Json::Number)
            .ok_or_else(|| Error::Value(format!("{f} has no serde representation")))?,
        Value::String(s) => Json::String(s),
        // Bytes read back as a list of numbers, which `Vec<u8>` accepts.
        Value::Bytes(bytes) => Json::Array(bytes.into_iter().map(Json::from).collect()),
        Value::List(items) => Json::Array(items.into_iter().map(to_json).collect::<Result<_>>()?),
        Value::Map(map) => Json::Object(
            map.into_iter()
                .map(|(k, v)| Ok((k, to_json(v)?)))
                .collect::<Result<_>>()?,
        ),
    })
}
