//! The LINBO admin password hash in linbofs (`etc/linbo_pwhash`,
//! `etc/linbo_salt`), computed the way LINBO's `update-linbofs` does with
//! the reference `argon2` command-line tool:
//! `echo "$password" | argon2 "$salt" -t 1000`, keeping the hex `Hash:`.
//!
//! That means: Argon2i, version 0x13, 1000 passes, 4 MiB (2^12 KiB)
//! memory, one lane, 32-byte output, the salt string's bytes as salt and
//! the password **followed by the newline `echo` adds** as input (the tool
//! reads stdin verbatim). The client recomputes it the same way at login.

use argon2::{Algorithm, Argon2, Params, Version};

use crate::Error;

/// Passes LINBO uses (`-t 1000`).
pub const LINBO_T_COST: u32 = 1000;
/// Memory in KiB (argon2 CLI default `-m 12`).
pub const LINBO_M_COST_KIB: u32 = 1 << 12;
/// Salt length LINBO generates.
pub const SALT_LEN: usize = 32;

/// Hex Argon2i hash of `password` + `\n` with `salt` and `t_cost` passes
/// (LINBO: [`LINBO_T_COST`]).
pub fn linbo_hash(password: &str, salt: &str, t_cost: u32) -> Result<String, Error> {
    if salt.len() < 8 {
        return Err(Error::Secret(
            "the LINBO password salt is shorter than 8 bytes".into(),
        ));
    }
    let params = Params::new(LINBO_M_COST_KIB, t_cost, 1, Some(32))
        .map_err(|e| Error::Secret(format!("argon2 parameters: {e}")))?;
    let a = Argon2::new(Algorithm::Argon2i, Version::V0x13, params);
    let mut input = password.as_bytes().to_vec();
    input.push(b'\n');
    let mut out = [0u8; 32];
    a.hash_password_into(&input, salt.as_bytes(), &mut out)
        .map_err(|e| Error::Secret(format!("argon2: {e}")))?;
    Ok(out.iter().map(|b| format!("{b:02x}")).collect())
}

/// A new random salt of [`SALT_LEN`] letters and digits (LINBO also
/// allows punctuation; alphanumerics avoid any quoting trouble).
pub fn new_salt() -> Result<String, Error> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut out = String::with_capacity(SALT_LEN);
    while out.len() < SALT_LEN {
        let mut raw = [0u8; 64];
        getrandom::fill(&mut raw).map_err(|e| Error::Secret(format!("no randomness: {e}")))?;
        // Rejection sampling: 248 = 4 * 62 keeps the choice uniform.
        for b in raw.into_iter().filter(|b| *b < 248) {
            if out.len() == SALT_LEN {
                break;
            }
            out.push(ALPHABET[usize::from(b) % ALPHABET.len()] as char);
        }
    }
    Ok(out)
}

/// The `linbo` password from an rsyncd secrets file (`linbo:<password>`).
pub fn password_from_secrets(text: &str) -> Option<String> {
    text.lines()
        .find_map(|l| l.strip_prefix("linbo:"))
        .map(|p| p.trim_end_matches('\r').to_string())
        .filter(|p| !p.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn salt_shape() {
        let s = new_salt().unwrap();
        assert_eq!(s.len(), SALT_LEN);
        assert!(s.chars().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(s, new_salt().unwrap());
    }

    #[test]
    fn secrets_line() {
        assert_eq!(
            password_from_secrets("other:x\nlinbo:s3cret\n").as_deref(),
            Some("s3cret")
        );
        assert_eq!(password_from_secrets("linbo:\n"), None);
        assert_eq!(password_from_secrets(""), None);
    }

    /// Against the reference implementation's command-line tool (Debian
    /// package `argon2`), fed exactly as update-linbofs feeds it. Skipped
    /// with a note when the tool is missing; tests/linbofs/run installs it
    /// and checks the full 1000-pass hash of a real build.
    #[test]
    fn matches_the_argon2_cli() {
        let salt = "AbCdEfGhIjKlMnOpQrStUvWxYz012345";
        let ours = linbo_hash("Muster!", salt, 3).unwrap();
        assert_eq!(ours.len(), 64);
        let cli = std::process::Command::new("sh")
            .args([
                "-c",
                "echo 'Muster!' | argon2 \"$0\" -t 3 | sed -n 's/^Hash:[[:space:]]*//p'",
                salt,
            ])
            .output();
        match cli {
            Ok(o) if o.status.success() && !o.stdout.is_empty() => {
                assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), ours);
            }
            _ => eprintln!("argon2 CLI not installed: compared in tests/linbofs/run only"),
        }
        assert_ne!(linbo_hash("Muster?", salt, 3).unwrap(), ours);
        assert!(linbo_hash("x", "short", 3).is_err());
    }
}
