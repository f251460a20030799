//! Where a private key's password comes from: `COSIGN_PASSWORD`, else a
//! no-echo prompt on a terminal, else a clear error. Cosign would also read a
//! password piped to stdin; we refuse instead, so a script that forgot the
//! variable fails loudly rather than signing with whatever stdin held.

use std::ffi::OsString;
use std::fmt;
use std::io::{self, IsTerminal as _};

use zeroize::Zeroizing;

use super::KeyError;

/// The environment variable cosign reads a private key's password from. Set
/// to the empty string, it means "no password" (and no prompt).
pub const PASSWORD_ENV: &str = "COSIGN_PASSWORD";

const PROMPT: &str = "Enter password for private key: ";
const PROMPT_AGAIN: &str = "Enter password for private key again: ";

/// Asks for a password on the terminal, returning what was typed.
type Prompt<'a> = &'a mut dyn FnMut(&str) -> io::Result<Zeroizing<String>>;

/// A private key's password: wiped from memory when dropped, never shown by
/// `Debug`.
pub struct Password(Zeroizing<Vec<u8>>);

impl Password {
    /// The password's bytes, as [`SigningKey::from_cosign_pem`] and
    /// [`SigningKey::to_cosign_pem`] take them.
    ///
    /// [`SigningKey::from_cosign_pem`]: super::SigningKey::from_cosign_pem
    /// [`SigningKey::to_cosign_pem`]: super::SigningKey::to_cosign_pem
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

/// The password for a cosign private key: `COSIGN_PASSWORD` if it is set
/// (even to the empty string), else typed at a no-echo prompt when stdin is a
/// terminal — twice when `confirm` (for a new key), as cosign asks.
///
/// # Errors
/// [`KeyError::NoPassword`] when the variable is unset and stdin is not a
/// terminal; [`KeyError::PasswordMismatch`] when the two entries differ;
/// [`KeyError::Prompt`] when the terminal cannot be read.
pub fn password_from_env_or_prompt(confirm: bool) -> Result<Password, KeyError> {
    let mut prompt = |text: &str| rpassword::prompt_password(text).map(Zeroizing::new);
    let terminal: Option<Prompt<'_>> = if io::stdin().is_terminal() {
        Some(&mut prompt)
    } else {
        None
    };
    resolve(std::env::var_os(PASSWORD_ENV), terminal, confirm)
}

fn resolve(
    env: Option<OsString>,
    terminal: Option<Prompt<'_>>,
    confirm: bool,
) -> Result<Password, KeyError> {
    if let Some(value) = env {
        return Ok(Password(Zeroizing::new(value.into_encoded_bytes())));
    }
    let Some(prompt) = terminal else {
        return Err(KeyError::NoPassword);
    };
    let first = prompt(PROMPT).map_err(KeyError::Prompt)?;
    if confirm {
        let again = prompt(PROMPT_AGAIN).map_err(KeyError::Prompt)?;
        if *again != *first {
            return Err(KeyError::PasswordMismatch);
        }
    }
    Ok(Password(Zeroizing::new(first.as_bytes().to_vec())))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A terminal that answers with `answers` in turn and records the prompts.
    fn terminal<'a>(
        answers: &'a [&'a str],
        asked: &'a mut Vec<String>,
    ) -> impl FnMut(&str) -> io::Result<Zeroizing<String>> + 'a {
        let mut next = answers.iter();
        move |text: &str| {
            asked.push(text.to_owned());
            next.next()
                .map(|a| Zeroizing::new((*a).to_owned()))
                .ok_or_else(|| io::Error::new(io::ErrorKind::UnexpectedEof, "no more input"))
        }
    }

    #[test]
    fn the_variable_wins_even_when_empty() {
        let mut asked = Vec::new();
        let mut tty = terminal(&["typed"], &mut asked);
        let pw = resolve(Some("s3cret".into()), Some(&mut tty), true).unwrap();
        assert_eq!(pw.as_bytes(), b"s3cret");
        let pw = resolve(Some(OsString::new()), Some(&mut tty), false).unwrap();
        assert_eq!(pw.as_bytes(), b"");
        drop(tty);
        assert!(asked.is_empty(), "no prompt when COSIGN_PASSWORD is set");
    }

    #[test]
    fn without_the_variable_or_a_terminal_the_error_says_what_to_set() {
        let err = resolve(None, None, false).unwrap_err();
        assert!(matches!(err, KeyError::NoPassword));
        assert!(err.to_string().contains("set COSIGN_PASSWORD"), "{err}");
    }

    #[test]
    fn a_terminal_is_asked_once_or_twice() {
        let mut asked = Vec::new();
        let mut tty = terminal(&["pw"], &mut asked);
        assert_eq!(
            resolve(None, Some(&mut tty), false).unwrap().as_bytes(),
            b"pw"
        );
        drop(tty);
        assert_eq!(asked, [PROMPT]);

        let mut asked = Vec::new();
        let mut tty = terminal(&["pw", "pw"], &mut asked);
        assert_eq!(
            resolve(None, Some(&mut tty), true).unwrap().as_bytes(),
            b"pw"
        );
        drop(tty);
        assert_eq!(asked, [PROMPT, PROMPT_AGAIN]);
    }

    #[test]
    fn a_mismatched_confirmation_or_a_failed_read_is_an_error() {
        let mut asked = Vec::new();
        let mut tty = terminal(&["pw", "wp"], &mut asked);
        let err = resolve(None, Some(&mut tty), true).unwrap_err();
        assert!(matches!(err, KeyError::PasswordMismatch), "{err:?}");

        let mut asked = Vec::new();
        let mut tty = terminal(&[], &mut asked);
        let err = resolve(None, Some(&mut tty), false).unwrap_err();
        assert!(matches!(err, KeyError::Prompt(_)), "{err:?}");
        assert!(
            err.to_string().contains("set COSIGN_PASSWORD instead"),
            "{err}"
        );
    }

    #[test]
    fn debug_hides_the_password() {
        let pw = resolve(Some("hunter2".into()), None, false).unwrap();
        assert_eq!(format!("{pw:?}"), "Password(<redacted>)");
    }
}
