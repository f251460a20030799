//! Cosign-compatible signing for connector authors, so that `cosign verify`
//! accepts what `lf-resolve sign` writes and `lf-resolve` signs with the keys
//! `cosign generate-key-pair` writes.
//!
//! Three pieces, all without I/O beyond the terminal prompt (no registry, no
//! files: the `sign` and `generate-key` commands do that):
//!
//! - [`SigningKey`]: an ECDSA P-256 key in cosign's encrypted key format
//!   (`cosign.key`: `ENCRYPTED SIGSTORE PRIVATE KEY`, or the older
//!   `ENCRYPTED COSIGN PRIVATE KEY`), decrypted and encrypted by `sigstore`'s
//!   public key API, so scrypt and secretbox are not reimplemented here;
//! - the bytes that get signed and published: the simple-signing payload of
//!   the `sha256-<hex>.sig` tag ([`simple_signing_payload`]) and the sigstore
//!   v0.3 bundle, a DSSE envelope over an in-toto statement
//!   ([`dsse_bundle_v03`]); both are read back by `verify::cosign`, whose
//!   constants and PAE they share;
//! - the key's password ([`password_from_env_or_prompt`]): `COSIGN_PASSWORD`,
//!   else a no-echo prompt on a terminal, as cosign does.
//!
//! This module must never print, log or put into an error a secret: not a
//! password, not private key bytes, not the decrypted key.

mod key;
mod password;
mod payload;
#[cfg(test)]
mod test_support;

pub use key::SigningKey;
pub use password::{PASSWORD_ENV, Password, password_from_env_or_prompt};
pub use payload::{
    dsse_bundle_v03, dsse_bundle_v03_for, in_toto_statement, in_toto_statement_for,
    simple_signing_payload,
};

/// Why a cosign private key could not be loaded, written, unlocked or used.
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
    /// The crypto backend failed to generate, encrypt or sign (a broken random
    /// number generator, not a problem with the key or its password).
    #[error("the crypto backend failed to {action}: {reason}")]
    Crypto {
        /// What was being done, e.g. `sign`.
        action: &'static str,
        /// The backend's message.
        reason: String,
    },
}
