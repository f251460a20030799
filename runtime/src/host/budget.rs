//! [`Budget`]: the part of one call's [`Limits`] that the host keeps count
//! of itself, shared by both hosts.
//!
//! Modules (`wasm.rs`) and components (`component/`) cross different
//! boundaries, but what a call may spend is the same for both: memory and
//! table growth (through wasmtime's [`ResourceLimiter`]), the number of host
//! calls, each request's size, and the bytes all host calls move. Keeping
//! that accounting in one place means a limit is enforced, and reported, the
//! same way whichever ABI a connector speaks. Each host embeds a `Budget` in
//! its store data and hands it to the store as the limiter.
//!
//! Overruns detected inside a host function or the limiter are raised as a
//! [`Fault`], which unwinds the guest as a trap; after the call,
//! [`Budget::overrun`] turns the trap back into the [`NodeError`] that says
//! which limit was hit.

use wasmtime::{ResourceLimiter, StoreLimits, StoreLimitsBuilder, Trap};

use super::{Limits, NodeError};
use crate::spec::{Capability, ConnectorId};

/// What one call has spent so far against its [`Limits`].
pub(super) struct Budget {
    limits: Limits,
    store_limits: StoreLimits,
    /// Set when the guest asked for more memory than the cap.
    memory_requested: Option<usize>,
    /// Set when the guest asked for a larger table than the cap.
    table_requested: Option<usize>,
    /// Host calls made so far.
    host_calls: u32,
    /// Request and reply bytes moved by host calls so far.
    host_bytes: usize,
}

impl Budget {
    /// A fresh budget for one call under `limits`, allowing the store at
    /// most `instances` instances, `memories` memories and `tables` tables.
    pub(super) fn new(limits: Limits, instances: usize, memories: usize, tables: usize) -> Self {
        Budget {
            limits,
            store_limits: StoreLimitsBuilder::new()
                .memory_size(limits.memory_bytes)
                .table_elements(limits.table_elements)
                .instances(instances)
                .memories(memories)
                .tables(tables)
                .build(),
            memory_requested: None,
            table_requested: None,
            host_calls: 0,
            host_bytes: 0,
        }
    }

    /// The limits this budget enforces.
    pub(super) fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Host-traffic bytes still available to this call.
    pub(super) fn remaining_host_bytes(&self) -> usize {
        self.limits.max_host_bytes.saturating_sub(self.host_bytes)
    }

    /// Admits one host call whose request is `request_len` bytes: counts the
    /// call, checks the request against its size limit, and draws its bytes
    /// from the traffic budget — before the request is read or parsed.
    pub(super) fn admit_request(
        &mut self,
        capability: Capability,
        request_len: usize,
    ) -> Result<(), Fault> {
        self.host_calls = self.host_calls.saturating_add(1);
        if self.host_calls > self.limits.max_host_calls {
            return Err(Fault::TooManyHostCalls {
                capability,
                limit: self.limits.max_host_calls,
            });
        }
        if request_len > self.limits.max_request_bytes {
            return Err(Fault::RequestTooLarge {
                capability,
                len: request_len as u64,
                limit: self.limits.max_request_bytes,
            });
        }
        self.spend_host_bytes(capability, request_len)
    }

    /// Counts `bytes` against the per-call host traffic budget.
    pub(super) fn spend_host_bytes(
        &mut self,
        capability: Capability,
        bytes: usize,
    ) -> Result<(), Fault> {
        self.host_bytes = self.host_bytes.saturating_add(bytes);
        if self.host_bytes > self.limits.max_host_bytes {
            return Err(Fault::HostTraffic {
                capability,
                limit: self.limits.max_host_bytes,
            });
        }
        Ok(())
    }

    /// The [`NodeError`] for `error` if it is one of this budget's limits: a
    /// [`Fault`], a memory or table cap the guest ran into, fuel, or the
    /// deadline. `None` for any other trap, which each host reports its own
    /// way.
    pub(super) fn overrun(
        &self,
        connector: &ConnectorId,
        error: &wasmtime::Error,
    ) -> Option<NodeError> {
        let connector = connector.clone();
        if let Some(fault) = error.downcast_ref::<Fault>() {
            return Some(fault.to_node_error(connector));
        }
        // Once the limiter has refused a growth, that is what the call ran
        // into, whatever error the guest or wasmtime made of it.
        if let Some(requested) = self.memory_requested {
            return Some(NodeError::MemoryLimit {
                connector,
                requested,
                limit: self.limits.memory_bytes,
            });
        }
        if let Some(requested) = self.table_requested {
            return Some(NodeError::TableLimit {
                connector,
                requested,
                limit: self.limits.table_elements,
            });
        }
        match error.downcast_ref::<Trap>() {
            Some(Trap::OutOfFuel) => Some(NodeError::OutOfFuel {
                connector,
                fuel: self.limits.fuel,
            }),
            Some(Trap::Interrupt) => Some(NodeError::Deadline {
                connector,
                limit: self.limits.deadline,
            }),
            _ => None,
        }
    }
}

impl ResourceLimiter for Budget {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.limits.memory_bytes {
            self.memory_requested = Some(desired);
            return Err(wasmtime::Error::new(Fault::MemoryLimit {
                requested: desired,
                limit: self.limits.memory_bytes,
            }));
        }
        self.store_limits.memory_growing(current, desired, maximum)
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.limits.table_elements {
            self.table_requested = Some(desired);
            return Err(wasmtime::Error::new(Fault::TableLimit {
                requested: desired,
                limit: self.limits.table_elements,
            }));
        }
        self.store_limits.table_growing(current, desired, maximum)
    }

    fn instances(&self) -> usize {
        self.store_limits.instances()
    }

    fn tables(&self) -> usize {
        self.store_limits.tables()
    }

    fn memories(&self) -> usize {
        self.store_limits.memories()
    }
}

/// A guest fault detected inside a host function or the limiter; it unwinds
/// the guest as a trap and is turned into a [`NodeError`] afterwards (by
/// [`Budget::overrun`]).
#[derive(Debug, thiserror::Error)]
pub(super) enum Fault {
    #[error("memory limit: {requested} bytes requested, cap {limit}")]
    MemoryLimit { requested: usize, limit: usize },
    #[error("table limit: {requested} elements requested, cap {limit}")]
    TableLimit { requested: usize, limit: usize },
    #[error("more than {limit} host calls (at {capability})")]
    TooManyHostCalls { capability: Capability, limit: u32 },
    #[error("host traffic over {limit} bytes (at {capability})")]
    HostTraffic {
        capability: Capability,
        limit: usize,
    },
    #[error("the reply of {capability} is over {limit} bytes")]
    ReplyTooLarge {
        capability: Capability,
        limit: usize,
    },
    #[error("host request to {capability} is over {limit} bytes ({len})")]
    RequestTooLarge {
        capability: Capability,
        len: u64,
        limit: usize,
    },
    /// ABI v1 only: a pointer and length from the module outside its memory.
    #[error("{what} at {ptr}+{len} is outside memory ({memory} bytes)")]
    OutOfBounds {
        what: &'static str,
        ptr: u64,
        len: u64,
        memory: usize,
    },
    /// ABI v1 only: a request that is not JSON.
    #[error("host request to {capability} is not JSON: {message}")]
    BadRequest {
        capability: Capability,
        message: String,
    },
    /// ABI v1 only: an export the host needs during a host call.
    #[error("the module has no usable `{0}` export")]
    Export(&'static str),
}

impl Fault {
    fn to_node_error(&self, connector: ConnectorId) -> NodeError {
        match *self {
            Fault::MemoryLimit { requested, limit } => NodeError::MemoryLimit {
                connector,
                requested,
                limit,
            },
            Fault::TableLimit { requested, limit } => NodeError::TableLimit {
                connector,
                requested,
                limit,
            },
            Fault::TooManyHostCalls { capability, limit } => NodeError::TooManyHostCalls {
                connector,
                capability,
                limit,
            },
            Fault::HostTraffic { capability, limit } => NodeError::HostTrafficLimit {
                connector,
                capability,
                limit,
            },
            Fault::ReplyTooLarge { capability, limit } => NodeError::HostReplyTooLarge {
                connector,
                capability,
                limit,
            },
            Fault::RequestTooLarge {
                capability,
                len,
                limit,
            } => NodeError::HostRequestTooLarge {
                connector,
                capability,
                len,
                limit,
            },
            Fault::OutOfBounds {
                what,
                ptr,
                len,
                memory,
            } => NodeError::PointerOutOfBounds {
                connector,
                what,
                ptr,
                len,
                memory,
            },
            Fault::BadRequest {
                capability,
                ref message,
            } => NodeError::BadHostRequest {
                connector,
                capability,
                message: message.clone(),
            },
            Fault::Export(export) => NodeError::MissingExport {
                connector,
                export,
                problem: "is missing or mistyped".to_owned(),
            },
        }
    }
}
