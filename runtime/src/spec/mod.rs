//! The connector vocabulary: capabilities, effects, value types, connector ids,
//! the connector manifest (`connector.yaml`) and the run-time [`NodeSpec`].
//!
//! Everything here is plain data with validation at construction, so a value of
//! these types is always one the formats in docs/ allow. It must stay cheap to compile:
//! no wasmtime, no I/O.

mod capability;
mod connector_id;
mod effect;
mod hosts;
mod manifest;
mod names;
mod node_spec;
mod value;
mod value_type;

pub use capability::{Capability, UnknownCapability};
pub use connector_id::{ConnectorId, ConnectorIdError, ConnectorIdErrorKind};
pub use effect::{Effect, UnknownEffect};
pub use hosts::{HostPattern, HostPatternError};
pub use manifest::{
    ConnectorManifest, ErrorSpec, FieldSpec, MAX_VERSION_LEN, ManifestError, ManifestParts,
    Position,
};
pub use node_spec::NodeSpec;
pub use value::{JsonKind, PathSegment, ValueError, ValueErrorKind, ValuePath, check_fields};
pub use value_type::{ValueType, ValueTypeError, ValueTypeErrorKind};
