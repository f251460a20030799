//! The closed set of capabilities a connector can ask for and a project can grant.

use std::fmt;
use std::str::FromStr;

/// A capability: a host facility a connector may use, named by a dotted name.
///
/// The set is closed: a name outside it is rejected at parse time, so a
/// `Capability` value is always one the host knows how to link. The order of
/// the variants is the canonical sort order (the lockfile lists capabilities
/// sorted by name, which this order matches).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Capability {
    /// `clock`: read the wall clock.
    Clock,
    /// `db.read`: query a database.
    DbRead,
    /// `db.write`: modify a database.
    DbWrite,
    /// `http.read`: HTTP requests without side effects (GET, HEAD).
    HttpRead,
    /// `http.write`: HTTP requests with side effects (POST, PUT, PATCH, DELETE).
    HttpWrite,
    /// `kv.read`: read from the key-value store.
    KvRead,
    /// `kv.write`: write to the key-value store.
    KvWrite,
    /// `log`: emit log lines.
    Log,
    /// `random`: draw random bytes.
    Random,
}

impl Capability {
    /// Every capability, in canonical (name) order.
    pub const ALL: [Capability; 9] = [
        Capability::Clock,
        Capability::DbRead,
        Capability::DbWrite,
        Capability::HttpRead,
        Capability::HttpWrite,
        Capability::KvRead,
        Capability::KvWrite,
        Capability::Log,
        Capability::Random,
    ];

    /// The dotted name, as written in `latticeflow.toml` and `connector.yaml`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Capability::Clock => "clock",
            Capability::DbRead => "db.read",
            Capability::DbWrite => "db.write",
            Capability::HttpRead => "http.read",
            Capability::HttpWrite => "http.write",
            Capability::KvRead => "kv.read",
            Capability::KvWrite => "kv.write",
            Capability::Log => "log",
            Capability::Random => "random",
        }
    }

    /// The name of the ABI v1 host function for this capability, in import
    /// module [`Capability::IMPORT_MODULE`]: the dotted name with `.` replaced by `_`.
    pub const fn host_function(self) -> &'static str {
        match self {
            Capability::Clock => "clock",
            Capability::DbRead => "db_read",
            Capability::DbWrite => "db_write",
            Capability::HttpRead => "http_read",
            Capability::HttpWrite => "http_write",
            Capability::KvRead => "kv_read",
            Capability::KvWrite => "kv_write",
            Capability::Log => "log",
            Capability::Random => "random",
        }
    }

    /// Whether using this capability changes state outside the node
    /// (`http.write`, `kv.write`, `db.write`). A node declaring such an effect
    /// is not idempotent unless its manifest says so.
    pub const fn is_write(self) -> bool {
        matches!(
            self,
            Capability::DbWrite | Capability::HttpWrite | Capability::KvWrite
        )
    }

    /// The import module holding every capability host function.
    pub const IMPORT_MODULE: &'static str = "lf:cap";

    /// The capability whose host function is `name`, if any.
    pub fn from_host_function(name: &str) -> Option<Capability> {
        Capability::ALL
            .into_iter()
            .find(|c| c.host_function() == name)
    }
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A name that is not in the closed set of capabilities.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown capability `{name}`; expected one of: {}", Capability::ALL.map(Capability::as_str).join(", "))]
pub struct UnknownCapability {
    /// The name as written.
    pub name: String,
}

impl FromStr for Capability {
    type Err = UnknownCapability;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Capability::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| UnknownCapability { name: s.to_owned() })
    }
}

impl serde::Serialize for Capability {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for Capability {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        name.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_sort_canonically() {
        let mut names: Vec<&str> = Capability::ALL.iter().map(|c| c.as_str()).collect();
        let sorted = {
            let mut s = names.clone();
            s.sort_unstable();
            s
        };
        assert_eq!(names, sorted, "variant order must match name order");
        for c in Capability::ALL {
            assert_eq!(c.as_str().parse::<Capability>(), Ok(c));
            assert_eq!(c.host_function(), c.as_str().replace('.', "_"));
            assert_eq!(Capability::from_host_function(c.host_function()), Some(c));
        }
        names.dedup();
        assert_eq!(names.len(), Capability::ALL.len());
    }

    #[test]
    fn write_capabilities_are_the_dot_write_ones() {
        for c in Capability::ALL {
            assert_eq!(c.is_write(), c.as_str().ends_with(".write"), "{c}");
        }
    }

    #[test]
    fn unknown_capability_lists_the_set() {
        let err = "http.delete".parse::<Capability>().unwrap_err();
        assert_eq!(err.name, "http.delete");
        assert!(err.to_string().contains("http.read, http.write"), "{err}");
    }
}
