//! Object and group names: `name` or `name@group`.

use crate::error::OpError;
use crate::limits::NAME_BYTES_MAX;
use serde::{Deserialize, Serialize};

/// The group used when a name carries no `@group` suffix.
pub const DEFAULT_GROUP: &str = "default";

/// A CP group name.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct GroupName(pub String);

impl GroupName {
    pub fn default_group() -> Self {
        GroupName(DEFAULT_GROUP.to_owned())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Splits `name@group` into `(name, group)`; the group defaults to
/// [`DEFAULT_GROUP`]. Both parts are validated with [`validate_name`].
pub fn split_group(full: &str) -> Result<(&str, &str), OpError> {
    let (name, group) = match full.rsplit_once('@') {
        Some((name, group)) => (name, group),
        None => (full, DEFAULT_GROUP),
    };
    validate_name(name)?;
    validate_name(group)?;
    Ok((name, group))
}

/// A name must be non-empty, at most [`NAME_BYTES_MAX`] bytes and free of
/// control characters (they make logs and metrics ambiguous).
pub fn validate_name(name: &str) -> Result<(), OpError> {
    if name.is_empty() {
        return Err(OpError::InvalidName {
            reason: "name is empty".into(),
        });
    }
    if name.len() > NAME_BYTES_MAX {
        return Err(OpError::InvalidName {
            reason: format!(
                "name is {} bytes: at most {NAME_BYTES_MAX} allowed",
                name.len()
            ),
        });
    }
    if name.chars().any(char::is_control) {
        return Err(OpError::InvalidName {
            reason: "name contains a control character".into(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_group_suffix() {
        assert_eq!(split_group("counter").unwrap(), ("counter", "default"));
        assert_eq!(
            split_group("counter@billing").unwrap(),
            ("counter", "billing")
        );
        assert_eq!(split_group("a@b@c").unwrap(), ("a@b", "c"));
    }

    #[test]
    fn rejects_bad_names() {
        assert!(split_group("").is_err());
        assert!(split_group("x@").is_err());
        assert!(split_group("@g").is_err());
        assert!(validate_name(&"n".repeat(NAME_BYTES_MAX + 1)).is_err());
        assert!(validate_name("tab\there").is_err());
        assert!(validate_name(&"n".repeat(NAME_BYTES_MAX)).is_ok());
    }
}
