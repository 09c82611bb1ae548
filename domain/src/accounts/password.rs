//! Password hashing with Argon2id (the `argon2` crate's defaults: 19 MiB, 2 passes) and the
//! rules a new password and user name must meet.

use std::sync::OnceLock;

use argon2::{
    Argon2, PasswordHash, PasswordHasher, PasswordVerifier,
    password_hash::{SaltString, rand_core::OsRng},
};

use crate::{Error, Result};

pub(crate) const MIN_PASSWORD_CHARS: usize = 12;
const MAX_PASSWORD_CHARS: usize = 1024;
const MAX_USERNAME_CHARS: usize = 64;

/// Hashes a password into a PHC string. CPU-heavy: call on a blocking thread.
pub(crate) fn hash(password: &str) -> Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| Error::Internal(format!("password hashing failed: {e}")))
}

/// Checks a password against a stored PHC string. CPU-heavy: call on a blocking thread.
pub(crate) fn verify(password: &str, stored: &str) -> bool {
    PasswordHash::new(stored)
        .map(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

/// Spends the same work as [`verify`] when the user does not exist, so response time does not
/// tell which user names are valid.
pub(crate) fn verify_against_nothing(password: &str) {
    static DUMMY: OnceLock<Option<String>> = OnceLock::new();
    if let Some(stored) = DUMMY.get_or_init(|| hash("wimdeck-dummy-password").ok()) {
        let _ = verify(password, stored);
    }
}

pub(crate) fn check_new_password(password: &str) -> Result<()> {
    let chars = password.chars().count();
    if chars < MIN_PASSWORD_CHARS {
        return Err(Error::invalid(
            "password",
            format!("must have at least {MIN_PASSWORD_CHARS} characters"),
        ));
    }
    if chars > MAX_PASSWORD_CHARS {
        return Err(Error::invalid(
            "password",
            format!("must have at most {MAX_PASSWORD_CHARS} characters"),
        ));
    }
    Ok(())
}

pub(crate) fn check_username(username: &str) -> Result<()> {
    let valid_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@');
    if username.is_empty() || username.chars().count() > MAX_USERNAME_CHARS {
        return Err(Error::invalid(
            "username",
            format!("must have 1 to {MAX_USERNAME_CHARS} characters"),
        ));
    }
    if !username.chars().all(valid_char)
        || !username.starts_with(|c: char| c.is_ascii_alphanumeric())
    {
        return Err(Error::invalid(
            "username",
            "may contain letters, digits, '.', '_', '-' and '@', and must start with a letter or digit",
        ));
    }
    Ok(())
}

/// The key under which a user name is unique and looked up: case-insensitive.
pub(crate) fn username_key(username: &str) -> String {
    username.to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_and_differ_per_salt() {
        let a = hash("correct horse battery").expect("hash");
        let b = hash("correct horse battery").expect("hash");
        assert_ne!(a, b);
        assert!(a.starts_with("$argon2id$"));
        assert!(verify("correct horse battery", &a));
        assert!(!verify("correct horse batterx", &a));
        assert!(!verify("anything", "not a phc string"));
    }

    #[test]
    fn password_rules() {
        assert!(check_new_password("short").is_err());
        assert!(check_new_password("twelve chars").is_ok());
        assert!(check_new_password(&"x".repeat(1025)).is_err());
    }

    #[test]
    fn username_rules() {
        for ok in ["admin", "j.doe", "ops-1", "a@corp.example", "A_B"] {
            assert!(check_username(ok).is_ok(), "{ok}");
        }
        for bad in ["", " admin", "-lead", "a b", "naïve", &"a".repeat(65)] {
            assert!(check_username(bad).is_err(), "{bad}");
        }
        assert_eq!(username_key("Admin"), "admin");
    }
}
