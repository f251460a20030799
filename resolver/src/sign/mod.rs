//! Signing connector artifacts the way cosign does, so that `cosign verify`
//! accepts what `lf-resolve sign` writes and `lf-resolve` accepts cosign's keys.
//!
//! Three pieces, all pure (no registry, no files):
//!
//! - [`SigningKey`]: an ECDSA P-256 key in cosign's encrypted key format
//!   (`cosign.key`, `ENCRYPTED SIGSTORE PRIVATE KEY` or the older
//!   `ENCRYPTED COSIGN PRIVATE KEY`), loaded and written through `sigstore`'s
//!   public API rather than our own scrypt + secretbox code;
//! - the bytes that get signed and published: the simple-signing payload of
//!   the `sha256-<hex>.sig` tag ([`simple_signing_payload`]) and the sigstore
//!   v0.3 bundle with a DSSE envelope over an in-toto statement
//!   ([`dsse_bundle_v03`]);
//! - where the key's password comes from ([`password_from_env_or_prompt`]):
//!   `COSIGN_PASSWORD`, else a no-echo prompt on a terminal, as cosign does.
//!
//! This module must never print, log or put into an error any secret: not a
//! password, not private key bytes, not the decrypted key. Verification lives
//! in `verify`, registry writes in the CLI's `sign` command.

mod key;
mod password;
mod payload;

pub use key::SigningKey;
pub use password::{PasswordUse, password_from_env_or_prompt};
pub use payload::{
    BUNDLE_V03_MEDIA_TYPE, COSIGN_SIGN_PREDICATE_TYPE, IN_TOTO_PAYLOAD_TYPE,
    IN_TOTO_STATEMENT_TYPE, SIGNATURE_ANNOTATION, SIMPLE_SIGNING_MEDIA_TYPE, SIMPLE_SIGNING_TYPE,
    dsse_bundle_v03, dsse_pae, simple_signing_payload,
};

/// The environment variable cosign reads a private key's password from.
pub const PASSWORD_ENV: &str = "COSIGN_PASSWORD";

/// Why a cosign private key could not be loaded, written or unlocked.
///
/// No message carries secret material; each says what to do next. The caller
/// adds the key file's path.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The key file is well formed but the password does not decrypt it.
    #[error(
        "wrong password for the cosign private key (it does not decrypt the key): \
         check COSIGN_PASSWORD or the password typed at the prompt"
    )]
    WrongPassword,
    /// The file is not a cosign encrypted private key.
    #[error(
        "not a cosign private key: {reason}; expected the `cosign.key` written by \
         `cosign generate-key-pair` or `lf-resolve generate-key`"
    )]
    Malformed {
        /// What is wrong, naming the part of the file (never its secret content).
        reason: String,
    },
    /// A cosign key of a type this tool does not sign with.
    #[error(
        "the cosign private key is a {kind} key, but lf-resolve signs only with \
         ECDSA P-256 keys (cosign's default): create one with `lf-resolve generate-key` \
         or `cosign generate-key-pair`"
    )]
    UnsupportedKey {
        /// The key type found, e.g. `RSA` or `ECDSA P384`.
        kind: String,
    },
    /// `COSIGN_PASSWORD` is unset and there is no terminal to ask on.
    #[error(
        "no password for the cosign private key: set COSIGN_PASSWORD (it may be empty) \
         or run on a terminal to be prompted"
    )]
    NoPassword,
    /// The password and its confirmation differ.
    #[error("the passwords do not match: run the command again and type the same password twice")]
    PasswordMismatch,
    /// Reading the password from the terminal failed.
    #[error("could not read the password from the terminal: {0}; set COSIGN_PASSWORD instead")]
    Prompt(#[source] std::io::Error),
    /// Encrypting the private key for writing failed.
    #[error("could not encrypt the private key: {reason}")]
    Encrypt {
        /// The underlying failure.
        reason: String,
    },
}
