//! JavaScript arguments and values to Rust, and back. Numbers that must be
//! integers are checked, not coerced: `-1` permits or `1.5` ms is an
//! `InvalidValueError`, never a silently different request.

use crate::errors::invalid;
use js_sys::{Array, BigInt, Object, Reflect, Uint8Array};
use raftcp::proto::Value;
use raftcp::proto::limits::VALUE_DEPTH_MAX;
use std::time::Duration;
use wasm_bindgen::prelude::*;

/// The largest integer a JavaScript number holds exactly (2^53 - 1).
const SAFE_INTEGER_MAX: f64 = 9_007_199_254_740_991.0;

/// A 64-bit argument given as `bigint` or as an integral `number`.
pub(crate) fn long(value: &JsValue, what: &str) -> Result<i64, JsValue> {
    if value.is_bigint() {
        let big: BigInt = value.clone().unchecked_into();
        return i64::try_from(big).map_err(|_| invalid(format!("{what} does not fit in 64 bits")));
    }
    match value.as_f64() {
        Some(n) if n.fract() == 0.0 && n.abs() <= SAFE_INTEGER_MAX => Ok(n as i64),
        Some(n) => Err(invalid(format!(
            "{what} must be a safe integer or a bigint, got {n}"
        ))),
        None => Err(invalid(format!("{what} must be a number or a bigint"))),
    }
}

/// A count (permits, latch count) with a default when omitted.
pub(crate) fn count(value: Option<f64>, default: u32, what: &str) -> Result<u32, JsValue> {
    let Some(n) = value else { return Ok(default) };
    if n.fract() == 0.0 && (0.0..=f64::from(u32::MAX)).contains(&n) {
        Ok(n as u32)
    } else {
        Err(invalid(format!(
            "{what} must be a whole number from 0 to {}, got {n}",
            u32::MAX
        )))
    }
}

/// A timeout in milliseconds; `None` when omitted.
pub(crate) fn timeout(value: Option<f64>) -> Result<Option<Duration>, JsValue> {
    match value {
        None => Ok(None),
        Some(ms) if ms.is_finite() && ms >= 0.0 => {
            Ok(Some(Duration::from_millis(ms.ceil() as u64)))
        }
        Some(ms) => Err(invalid(format!(
            "timeoutMs must be a non-negative number, got {ms}"
        ))),
    }
}

/// A lease's length in milliseconds (the cluster checks its range).
pub(crate) fn lease_length(ms: f64) -> Result<Duration, JsValue> {
    match ms.is_finite() && ms >= 0.0 {
        true => Ok(Duration::from_millis(ms.ceil() as u64)),
        false => Err(invalid("leaseMs must be a number of milliseconds")),
    }
}

/// A lease token from its text (never echoed: it holds a secret).
pub(crate) fn lease_token(text: &str) -> Result<raftcp::LeaseToken, JsValue> {
    text.parse()
        .map_err(|_| invalid("not a lease token (tryLockLeased and tryAcquireLeased return one)"))
}

/// A value to store; `null` and `undefined` mean "no value".
pub(crate) fn to_stored(value: &JsValue) -> Result<Option<Value>, JsValue> {
    if value.is_null() || value.is_undefined() {
        return Ok(None);
    }
    to_value(value, 0).map(Some)
}

fn to_value(value: &JsValue, depth: u32) -> Result<Value, JsValue> {
    if depth > VALUE_DEPTH_MAX {
        return Err(invalid(format!(
            "value nested deeper than {VALUE_DEPTH_MAX} levels"
        )));
    }
    if value.is_null() || value.is_undefined() {
        return Ok(Value::Null);
    }
    if let Some(b) = value.as_bool() {
        return Ok(Value::Bool(b));
    }
    if let Some(n) = value.as_f64() {
        let integral = n.fract() == 0.0 && n.abs() <= SAFE_INTEGER_MAX;
        return Ok(if integral {
            Value::I64(n as i64)
        } else {
            Value::F64(n)
        });
    }
    if value.is_bigint() {
        return big_value(value.clone().unchecked_into());
    }
    if let Some(s) = value.as_string() {
        return Ok(Value::String(s));
    }
    if let Some(bytes) = value.dyn_ref::<Uint8Array>() {
        return Ok(Value::Bytes(bytes.to_vec()));
    }
    if let Some(items) = value.dyn_ref::<Array>() {
        let items = items.iter().map(|item| to_value(&item, depth + 1));
        return items.collect::<Result<_, _>>().map(Value::List);
    }
    if is_plain_object(value) {
        let mut map = std::collections::BTreeMap::new();
        for entry in Object::entries(value.unchecked_ref()).iter() {
            let entry: Array = entry.unchecked_into();
            let key = entry.get(0).as_string().unwrap_or_default();
            map.insert(key, to_value(&entry.get(1), depth + 1)?);
        }
        return Ok(Value::Map(map));
    }
    Err(invalid(
        "values are null, booleans, numbers, bigints, strings, Uint8Arrays, \
         arrays and plain objects",
    ))
}

fn big_value(big: BigInt) -> Result<Value, JsValue> {
    if let Ok(i) = i64::try_from(big.clone()) {
        return Ok(Value::I64(i));
    }
    u64::try_from(big)
        .map(Value::U64)
        .map_err(|_| invalid("a bigint value must fit in 64 bits"))
}

/// An object literal (or `Object.create(null)`), not a class instance such as
/// a `Date` or a `Map`, whose meaning would not survive the trip.
fn is_plain_object(value: &JsValue) -> bool {
    if !value.is_object() || value.is_function() {
        return false;
    }
    let prototype = Object::get_prototype_of(value);
    prototype.is_null() || prototype == Object::get_prototype_of(&Object::new())
}

/// A stored value as JavaScript: integers within ±(2^53 - 1) as `number`
/// (a value set from JavaScript reads back as it was set), larger ones as
/// `bigint`, bytes as `Uint8Array`, maps as plain objects.
pub(crate) fn from_stored(value: Option<Value>) -> JsValue {
    value.map_or(JsValue::NULL, from_value)
}

fn from_value(value: Value) -> JsValue {
    match value {
        Value::Null => JsValue::NULL,
        Value::Bool(b) => JsValue::from_bool(b),
        Value::I64(i) if (i as f64).abs() <= SAFE_INTEGER_MAX => JsValue::from_f64(i as f64),
        Value::I64(i) => BigInt::from(i).into(),
        Value::U64(u) if u as f64 <= SAFE_INTEGER_MAX => JsValue::from_f64(u as f64),
        Value::U64(u) => BigInt::from(u).into(),
        Value::F64(f) => JsValue::from_f64(f),
        Value::String(s) => JsValue::from_str(&s),
        Value::Bytes(bytes) => Uint8Array::from(bytes.as_slice()).into(),
        Value::List(items) => items.into_iter().map(from_value).collect::<Array>().into(),
        Value::Map(map) => {
            let entries: Array = map
                .into_iter()
                .map(|(key, value)| Array::of2(&JsValue::from_str(&key), &from_value(value)))
                .collect();
            // fromEntries defines own properties, so a "__proto__" key stays data.
            Object::from_entries(&entries).map_or(JsValue::NULL, Into::into)
        }
    }
}

/// Reads an optional property of an options object.
pub(crate) fn option(options: &JsValue, key: &str) -> Option<JsValue> {
    if !options.is_object() {
        return None;
    }
    Reflect::get(options, &JsValue::from_str(key))
        .ok()
        .filter(|value| !value.is_undefined() && !value.is_null())
}
