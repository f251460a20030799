//! Connector names: the `[connectors.NAME]` keys of `latticeflow.toml`.

use std::fmt;
use std::str::FromStr;

/// A connector name: `[a-z][a-z0-9_]*`, at most 64 characters.
///
/// Names become cargo feature names of the generated umbrella crate and keys
/// in the lockfile, so they are restricted to what is valid in both.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnectorName(Box<str>);

/// The longest connector name accepted.
pub const MAX_NAME_LEN: usize = 64;

/// Why a string is not a [`ConnectorName`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid connector name `{name}`: {reason}; names are a lowercase letter followed by lowercase letters, digits or `_` (at most {MAX_NAME_LEN})"
)]
pub struct InvalidName {
    /// The name as written.
    pub name: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

impl ConnectorName {
    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for ConnectorName {
    type Err = InvalidName;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |reason| InvalidName {
            name: s.to_owned(),
            reason,
        };
        let mut chars = s.chars();
        match chars.next() {
            None => return Err(err("it is empty")),
            Some('a'..='z') => {}
            Some(_) => return Err(err("it must start with a lowercase letter")),
        }
        if !chars.all(|c| matches!(c, 'a'..='z' | '0'..='9' | '_')) {
            return Err(err("it contains a character other than a-z, 0-9 and `_`"));
        }
        if s.len() > MAX_NAME_LEN {
            return Err(err("it is too long"));
        }
        Ok(ConnectorName(s.into()))
    }
}

impl fmt::Display for ConnectorName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_and_rejects() {
        for ok in ["a", "drive_files", "kv2", "a_b_c"] {
            assert_eq!(ok.parse::<ConnectorName>().unwrap().as_str(), ok);
        }
        for bad in ["", "_a", "1a", "Drive", "drive-files", "a.b", "é"] {
            assert!(bad.parse::<ConnectorName>().is_err(), "{bad}");
        }
        assert!("a".repeat(65).parse::<ConnectorName>().is_err());
    }
}
