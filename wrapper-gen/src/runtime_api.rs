//! Everything the generated code knows about `lf_runtime::host`, in one place.
//!
//! The contract with the runtime: generated wrappers build a `WasmNode` with
//! `WasmNode::from_locked(bytes, sha256_hex, spec) -> Result<_, NodeError>`
//! (ABI v1), or a `ComponentNode` with
//! `ComponentNode::from_locked(bytes, sha256_hex, spec, hosts: &[&str])`
//! (ABI v2), which check the embedded bytes against the locked digest before
//! they are ever compiled or instantiated, and hand it to
//! `NodeRegistry::register(node) -> Result<(), RegistryError>`
//! (`RegistryError: From<NodeError>`). If that API changes, this file is the
//! only one to adjust.

use proc_macro2::{Ident, TokenStream};
use quote::quote;

/// The registry type, as generated code names it.
pub(crate) fn registry_type() -> TokenStream {
    quote!(::lf_runtime::host::NodeRegistry)
}

/// The registration error type, as generated code names it.
pub(crate) fn error_type() -> TokenStream {
    quote!(::lf_runtime::host::RegistryError)
}

/// The items `register_fn` refers to, all in the same module.
pub(crate) struct RegisterItems<'a> {
    /// `<node>_register`.
    pub(crate) register_fn: &'a Ident,
    /// `<node>_node_spec`.
    pub(crate) node_spec_fn: &'a Ident,
    /// `<NODE>_MODULE`, the embedded bytes.
    pub(crate) module_const: &'a Ident,
    /// `<NODE>_MODULE_SHA256`, the locked hex digest.
    pub(crate) sha256_const: &'a Ident,
    /// `<NODE>_HTTP_HOSTS`, for a component (ABI v2); `None` for a module.
    pub(crate) hosts_const: Option<&'a Ident>,
    /// The connector id, for the doc comment.
    pub(crate) id: &'a str,
}

/// `pub fn <node>_register(registry: &mut NodeRegistry) -> Result<(), RegistryError>`.
pub(crate) fn register_fn(items: &RegisterItems<'_>) -> TokenStream {
    let RegisterItems {
        register_fn,
        node_spec_fn,
        module_const,
        sha256_const,
        hosts_const,
        id,
    } = items;
    let registry = registry_type();
    let error = error_type();
    let doc = crate::emit::doc_lines(&format!(
        " Registers `{id}` in `registry`.\n\n The embedded bytes are checked against [`{sha256_const}`] before they are\n ever compiled or instantiated.\n\n # Errors\n\n When the embedded bytes do not hash to the locked digest, they do not\n compile, or a node with this id is already registered."
    ));
    let node = match hosts_const {
        None => quote! {
            ::lf_runtime::host::WasmNode::from_locked(
                #module_const,
                #sha256_const,
                #node_spec_fn(),
            )?
        },
        Some(hosts_const) => quote! {
            ::lf_runtime::host::ComponentNode::from_locked(
                #module_const,
                #sha256_const,
                #node_spec_fn(),
                #hosts_const,
            )?
        },
    };
    quote! {
        #(#[doc = #doc])*
        pub fn #register_fn(registry: &mut #registry) -> ::core::result::Result<(), #error> {
            let node = #node;
            registry.register(node)
        }
    }
}
