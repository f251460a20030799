//! Connector ids: `connector.<vendor>[.<group>...].<node>`.
//!
//! The id decides the generated Rust names (crate per vendor, module per group,
//! functions per node), so it is parsed once into a type that guarantees the
//! shape: segments `[a-z][a-z0-9_]*`, the literal `connector` first, at least
//! three segments.

use std::fmt;
use std::str::FromStr;

use super::names::is_segment;

/// A validated connector id such as `connector.google.drive.files_list`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnectorId {
    full: String,
    /// Every segment after `connector`: vendor, groups..., node (at least two).
    segments: Vec<String>,
}

impl ConnectorId {
    /// The first segment every id starts with.
    pub const PREFIX: &'static str = "connector";

    /// The id as written.
    pub fn as_str(&self) -> &str {
        &self.full
    }

    /// The vendor segment (`google`).
    pub fn vendor(&self) -> &str {
        &self.segments[0]
    }

    /// The group segments between vendor and node (`["drive"]`); possibly empty.
    pub fn groups(&self) -> &[String] {
        &self.segments[1..self.segments.len() - 1]
    }

    /// The node segment (`files_list`).
    pub fn node(&self) -> &str {
        &self.segments[self.segments.len() - 1]
    }
}

impl fmt::Display for ConnectorId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.full)
    }
}

/// Text that is not a connector id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid connector id `{id}`: {kind}")]
pub struct ConnectorIdError {
    /// The text as written.
    pub id: String,
    /// What is wrong with it.
    pub kind: ConnectorIdErrorKind,
}

/// What is wrong with a connector id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectorIdErrorKind {
    /// A segment is empty or not `[a-z][a-z0-9_]*`.
    #[error("segment {} `{segment}` is not [a-z][a-z0-9_]*", .index + 1)]
    InvalidSegment {
        /// Zero-based position of the segment.
        index: usize,
        /// The segment as written.
        segment: String,
    },
    /// The first segment is not `connector`.
    #[error("must start with `connector.`; expected connector.<vendor>[.<group>...].<node>")]
    MissingPrefix,
    /// Fewer than three segments.
    #[error(
        "has {found} segment(s); expected at least three: connector.<vendor>[.<group>...].<node>"
    )]
    TooFewSegments {
        /// How many segments there are.
        found: usize,
    },
}

impl FromStr for ConnectorId {
    type Err = ConnectorIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let fail = |kind| ConnectorIdError {
            id: s.to_owned(),
            kind,
        };
        let segments: Vec<&str> = s.split('.').collect();
        if let Some((index, segment)) = segments
            .iter()
            .enumerate()
            .find(|(_, seg)| !is_segment(seg))
        {
            return Err(fail(ConnectorIdErrorKind::InvalidSegment {
                index,
                segment: (*segment).to_owned(),
            }));
        }
        if segments[0] != Self::PREFIX {
            return Err(fail(ConnectorIdErrorKind::MissingPrefix));
        }
        if segments.len() < 3 {
            return Err(fail(ConnectorIdErrorKind::TooFewSegments {
                found: segments.len(),
            }));
        }
        Ok(ConnectorId {
            full: s.to_owned(),
            segments: segments[1..].iter().map(|&seg| seg.to_owned()).collect(),
        })
    }
}

impl serde::Serialize for ConnectorId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.full)
    }
}

impl<'de> serde::Deserialize<'de> for ConnectorId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn id(s: &str) -> ConnectorId {
        s.parse().unwrap()
    }

    fn kind(s: &str) -> ConnectorIdErrorKind {
        s.parse::<ConnectorId>().unwrap_err().kind
    }

    #[test]
    fn accessors() {
        let c = id("connector.google.drive.files_list");
        assert_eq!(c.vendor(), "google");
        assert_eq!(c.groups(), ["drive"]);
        assert_eq!(c.node(), "files_list");
        assert_eq!(c.to_string(), "connector.google.drive.files_list");
        assert_eq!(c.as_str(), "connector.google.drive.files_list");

        let c = id("connector.acme.ping");
        assert_eq!(c.vendor(), "acme");
        assert!(c.groups().is_empty());
        assert_eq!(c.node(), "ping");

        let c = id("connector.aws.s3.objects.v2.list_1");
        assert_eq!(c.groups(), ["s3", "objects", "v2"]);
        assert_eq!(c.node(), "list_1");
    }

    #[test]
    fn rejections() {
        assert_eq!(
            kind("connector.google"),
            ConnectorIdErrorKind::TooFewSegments { found: 2 }
        );
        assert_eq!(
            kind("google.drive.list"),
            ConnectorIdErrorKind::MissingPrefix
        );
        assert_eq!(kind("connectors.a.b"), ConnectorIdErrorKind::MissingPrefix);
        assert_eq!(
            kind("connector..b"),
            ConnectorIdErrorKind::InvalidSegment {
                index: 1,
                segment: String::new()
            }
        );
        assert_eq!(
            kind("connector.Google.b"),
            ConnectorIdErrorKind::InvalidSegment {
                index: 1,
                segment: "Google".into()
            }
        );
        assert!(matches!(
            kind("connector.a._b"),
            ConnectorIdErrorKind::InvalidSegment { index: 2, .. }
        ));
        assert!(matches!(
            kind("connector.a.b-c"),
            ConnectorIdErrorKind::InvalidSegment { .. }
        ));
        assert!(matches!(
            kind("connector.a.b."),
            ConnectorIdErrorKind::InvalidSegment { index: 3, .. }
        ));
        assert!(matches!(
            kind(""),
            ConnectorIdErrorKind::InvalidSegment { index: 0, .. }
        ));

        let e = "connector.google".parse::<ConnectorId>().unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid connector id `connector.google`: has 2 segment(s); expected at least three: connector.<vendor>[.<group>...].<node>"
        );
        let e = "connector.a.B".parse::<ConnectorId>().unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid connector id `connector.a.B`: segment 3 `B` is not [a-z][a-z0-9_]*"
        );
    }

    #[test]
    fn serde_as_string() {
        let c = id("connector.google.drive.files_list");
        let json = serde_json::to_string(&c).unwrap();
        assert_eq!(json, "\"connector.google.drive.files_list\"");
        assert_eq!(serde_json::from_str::<ConnectorId>(&json).unwrap(), c);
        let e = serde_json::from_str::<ConnectorId>("\"connector.x\"").unwrap_err();
        assert!(e.to_string().contains("at least three"), "{e}");
    }
}
