//! The canonical value stored by AtomicReference.
//!
//! Values are compared by their canonical postcard encoding, so equal data
//! compares equal whatever language produced it:
//! - maps are [`BTreeMap`]s, so key order never matters;
//! - an unsigned integer that fits `i64` becomes [`Value::I64`];
//! - a float that is an integer within ±2^53 (a JS number like `3`) becomes
//!   [`Value::I64`], so JS `3` and Rust `3u8` are the same value.

use crate::limits::VALUE_DEPTH_MAX;
use serde::{Deserialize, Deserializer, Serialize};
use std::cell::Cell;
use std::collections::BTreeMap;

/// A JSON-like value with integers, byte strings and sorted maps.
/// Variant order is wire format: append only.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub enum Value {
    Null,
    Bool(bool),
    I64(i64),
    /// Only for integers above `i64::MAX`; smaller ones canonicalize to `I64`.
    U64(u64),
    F64(f64),
    String(String),
    Bytes(Vec<u8>),
    List(Vec<Value>),
    Map(BTreeMap<String, Value>),
}

/// Largest integer a JS number (an f64) represents exactly.
const SAFE_INTEGER_MAX: f64 = 9_007_199_254_740_992.0;

impl Value {
    /// The canonical form of this value (see the module docs).
    pub fn canonical(self) -> Value {
        match self {
            Value::U64(n) => match i64::try_from(n) {
                Ok(n) => Value::I64(n),
                Err(_) => Value::U64(n),
            },
            Value::F64(f) if f.fract() == 0.0 && f.abs() <= SAFE_INTEGER_MAX => {
                // Exact: |f| <= 2^53 is an integer representable in i64.
                Value::I64(f as i64)
            }
            Value::List(items) => Value::List(items.into_iter().map(Value::canonical).collect()),
            Value::Map(entries) => Value::Map(
                entries
                    .into_iter()
                    .map(|(k, v)| (k, v.canonical()))
                    .collect(),
            ),
            other => other,
        }
    }

    /// Canonical encoding; two values are equal for raftcp iff these bytes are.
    pub fn canonical_bytes(&self) -> Vec<u8> {
        // Serializing a Value into a Vec cannot fail: every variant is supported.
        postcard::to_allocvec(&self.clone().canonical()).unwrap_or_default()
    }

    /// Size of the postcard encoding, used to enforce `VALUE_BYTES_MAX`.
    pub fn encoded_len(&self) -> usize {
        postcard::to_allocvec(self).map_or(usize::MAX, |bytes| bytes.len())
    }

    /// Nesting depth: scalars are 0, a list of scalars is 1.
    pub fn depth(&self) -> u32 {
        match self {
            Value::List(items) => 1 + items.iter().map(Value::depth).max().unwrap_or(0),
            Value::Map(entries) => 1 + entries.values().map(Value::depth).max().unwrap_or(0),
            _ => 0,
        }
    }
}

/// Mirror of [`Value`] used only for decoding; same variants, same order.
#[derive(Deserialize)]
enum ValueRepr {
    Null,
    Bool(bool),
    I64(i64),
    U64(u64),
    F64(f64),
    String(String),
    Bytes(Vec<u8>),
    List(Vec<Value>),
    Map(BTreeMap<String, Value>),
}

thread_local! {
    static DECODE_DEPTH: Cell<u32> = const { Cell::new(0) };
}

/// Counts nesting while decoding so hostile input (a megabyte of nested
/// lists) gets an error instead of overflowing the stack.
struct DepthGuard;

impl DepthGuard {
    fn enter() -> Option<DepthGuard> {
        DECODE_DEPTH.with(|depth| {
            let next = depth.get() + 1;
            // +1: the outermost value itself is level one.
            (next <= VALUE_DEPTH_MAX + 1).then(|| {
                depth.set(next);
                DepthGuard
            })
        })
    }
}

impl Drop for DepthGuard {
    fn drop(&mut self) {
        DECODE_DEPTH.with(|depth| depth.set(depth.get() - 1));
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let Some(_guard) = DepthGuard::enter() else {
            return Err(serde::de::Error::custom(format_args!(
                "value nested deeper than {VALUE_DEPTH_MAX} levels"
            )));
        };
        Ok(match ValueRepr::deserialize(deserializer)? {
            ValueRepr::Null => Value::Null,
            ValueRepr::Bool(b) => Value::Bool(b),
            ValueRepr::I64(n) => Value::I64(n),
            ValueRepr::U64(n) => Value::U64(n),
            ValueRepr::F64(f) => Value::F64(f),
            ValueRepr::String(s) => Value::String(s),
            ValueRepr::Bytes(b) => Value::Bytes(b),
            ValueRepr::List(items) => Value::List(items),
            ValueRepr::Map(entries) => Value::Map(entries),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(entries: &[(&str, Value)]) -> Value {
        Value::Map(
            entries
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
        )
    }

    #[test]
    fn integers_from_any_source_compare_equal() {
        assert_eq!(
            Value::U64(3).canonical_bytes(),
            Value::I64(3).canonical_bytes()
        );
        assert_eq!(
            Value::F64(3.0).canonical_bytes(),
            Value::I64(3).canonical_bytes()
        );
        assert_eq!(
            Value::F64(-0.0).canonical_bytes(),
            Value::I64(0).canonical_bytes()
        );
        assert_ne!(
            Value::F64(3.5).canonical_bytes(),
            Value::I64(3).canonical_bytes()
        );
        assert_eq!(Value::U64(u64::MAX).canonical(), Value::U64(u64::MAX));
        assert_eq!(Value::F64(1e300).canonical(), Value::F64(1e300));
    }

    #[test]
    fn map_key_order_is_irrelevant() {
        let a = map(&[("timeout", Value::I64(30)), ("retries", Value::F64(3.0))]);
        let b = map(&[("retries", Value::U64(3)), ("timeout", Value::I64(30))]);
        assert_eq!(a.canonical_bytes(), b.canonical_bytes());
    }

    #[test]
    fn deep_nesting_is_rejected_not_a_stack_overflow() {
        let mut bytes = vec![7u8, 1u8]; // List of length 1 ...
        for _ in 0..100_000 {
            bytes.extend_from_slice(&[7, 1]);
        }
        bytes.push(0);
        let decoded: Result<Value, _> = postcard::from_bytes(&bytes);
        assert!(decoded.is_err());
        // The depth counter is released after an error.
        let ok: Value = postcard::from_bytes(&[7, 1, 0]).unwrap();
        assert_eq!(ok, Value::List(vec![Value::Null]));
    }

    #[test]
    fn nesting_up_to_the_limit_round_trips() {
        let mut v = Value::Null;
        for _ in 0..VALUE_DEPTH_MAX {
            v = Value::List(vec![v]);
        }
        assert_eq!(v.depth(), VALUE_DEPTH_MAX);
        let bytes = postcard::to_allocvec(&v).unwrap();
        let back: Value = postcard::from_bytes(&bytes).unwrap();
        assert_eq!(back, v);
        let too_deep = Value::List(vec![v]);
        let bytes = postcard::to_allocvec(&too_deep).unwrap();
        assert!(postcard::from_bytes::<Value>(&bytes).is_err());
    }
}
