//! The effects a connector declares: what one invocation does to the world.
//!
//! The connector format (docs/artifact.md) says capabilities and effects are dotted names from the same closed
//! set. [`Effect`] is therefore a newtype over [`Capability`] rather than an enum
//! of its own: the set and its spellings have one source of truth and cannot
//! drift apart. It is not a type alias either, because the two mean different
//! things — a capability is what the host may link into a module, an effect is
//! what a call does (it decides the `idempotent` default and whether a failed
//! call may be retried) — and the compiler should stop an effect list from being
//! passed where grants are expected.

use std::fmt;
use std::str::FromStr;

use super::Capability;

/// An effect a node declares, such as `http.read` or `kv.write`.
///
/// Same names and canonical order as [`Capability`]; see the module docs for
/// why it is a distinct type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Effect(Capability);

impl Effect {
    /// Every effect, in canonical (name) order.
    pub const ALL: [Effect; 9] = {
        let caps = Capability::ALL;
        let mut out = [Effect(Capability::Clock); 9];
        let mut i = 0;
        while i < caps.len() {
            out[i] = Effect(caps[i]);
            i += 1;
        }
        out
    };

    /// The effect of using `capability`.
    pub const fn new(capability: Capability) -> Self {
        Effect(capability)
    }

    /// The capability a node needs to have this effect (the one of the same name).
    pub const fn capability(self) -> Capability {
        self.0
    }

    /// The dotted name, as written in `connector.yaml`.
    pub const fn as_str(self) -> &'static str {
        self.0.as_str()
    }

    /// Whether the effect changes state outside the node (`*.write`).
    pub const fn is_write(self) -> bool {
        self.0.is_write()
    }
}

impl From<Capability> for Effect {
    fn from(capability: Capability) -> Self {
        Effect(capability)
    }
}

impl From<Effect> for Capability {
    fn from(effect: Effect) -> Self {
        effect.0
    }
}

impl fmt::Display for Effect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A name that is not in the closed set of effects.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown effect `{name}`; expected one of: {}", Capability::ALL.map(Capability::as_str).join(", "))]
pub struct UnknownEffect {
    /// The name as written.
    pub name: String,
}

impl FromStr for Effect {
    type Err = UnknownEffect;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.parse::<Capability>()
            .map(Effect)
            .map_err(|e| UnknownEffect { name: e.name })
    }
}

impl serde::Serialize for Effect {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for Effect {
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
    fn effects_mirror_capabilities() {
        for (e, c) in Effect::ALL.into_iter().zip(Capability::ALL) {
            assert_eq!(e.capability(), c);
            assert_eq!(e.as_str(), c.as_str());
            assert_eq!(e.is_write(), c.is_write());
            assert_eq!(e.as_str().parse::<Effect>(), Ok(e));
            assert_eq!(Effect::from(c), e);
            assert_eq!(Capability::from(e), c);
        }
        assert!(Effect::ALL.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn unknown_effect_says_effect() {
        let err = "fs.write".parse::<Effect>().unwrap_err();
        assert_eq!(err.name, "fs.write");
        let msg = err.to_string();
        assert!(msg.starts_with("unknown effect `fs.write`"), "{msg}");
        assert!(msg.contains("kv.write"), "{msg}");
    }

    #[test]
    fn serde_is_the_dotted_name() {
        let json = serde_json::to_string(&Effect::new(Capability::HttpRead)).unwrap();
        assert_eq!(json, "\"http.read\"");
        let back: Effect = serde_json::from_str(&json).unwrap();
        assert_eq!(back.capability(), Capability::HttpRead);
        assert!(serde_json::from_str::<Effect>("\"http.get\"").is_err());
    }
}
