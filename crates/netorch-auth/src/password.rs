//! Password hashing (argon2id, PHC strings) and the password policy.

use argon2::{Argon2, PasswordHasher, PasswordVerifier, password_hash::phc::PasswordHash};

use crate::AuthError;

/// Hashes a password with argon2id and a random salt. CPU-heavy: call from a blocking thread.
pub fn hash(password: &str) -> Result<String, AuthError> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| {
            AuthError::Store(netorch_core::StoreError::Internal(format!(
                "hashing failed: {e}"
            )))
        })
}

/// Verifies a password against a PHC hash. A malformed hash never verifies.
pub fn verify(password: &str, phc: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(parsed) => Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// A hash of a password nobody knows, verified when the user does not exist so that the answer
/// time does not reveal which user names exist.
pub fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| hash(&crate::token::generate_secret()).unwrap_or_default())
}

/// Rules a new password must satisfy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordPolicy {
    /// Minimum length in characters.
    pub min_length: usize,
    /// Require upper case, lower case, a digit and a special character (OSM's current rule).
    pub require_mixed: bool,
}

impl Default for PasswordPolicy {
    fn default() -> Self {
        Self {
            min_length: 8,
            require_mixed: true,
        }
    }
}

impl PasswordPolicy {
    /// Checks a candidate password; the error names the rule that failed.
    pub fn check(&self, pw: &str) -> Result<(), AuthError> {
        let n = pw.chars().count();
        if n < self.min_length {
            return Err(AuthError::Invalid(format!(
                "Format error at 'password' 'password must have at least {} characters' ",
                self.min_length
            )));
        }
        if n > 1024 {
            return Err(AuthError::Invalid(
                "Format error at 'password' 'password must have at most 1024 characters' ".into(),
            ));
        }
        if self.require_mixed {
            let upper = pw.chars().any(|c| c.is_uppercase());
            let lower = pw.chars().any(|c| c.is_lowercase());
            let digit = pw.chars().any(|c| c.is_ascii_digit());
            let special = pw.chars().any(|c| !c.is_alphanumeric());
            if !(upper && lower && digit && special) {
                return Err(AuthError::Invalid(
                    "Format error at 'password' 'password must contain upper and lower case letters, a digit and a special character' "
                        .into(),
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hashed_password_verifies_and_a_wrong_one_does_not() {
        let h = hash("s3cret!A").expect("hash");
        assert!(h.starts_with("$argon2id$"));
        assert!(verify("s3cret!A", &h));
        assert!(!verify("s3cret!B", &h));
        assert!(!verify("s3cret!A", "not a hash"));
    }

    #[test]
    fn the_default_policy_wants_eight_mixed_characters() {
        let p = PasswordPolicy::default();
        assert!(p.check("Passw0rd!").is_ok());
        assert!(p.check("short1!").is_err());
        assert!(p.check("alllowercase1!").is_err());
        let relaxed = PasswordPolicy {
            min_length: 1,
            require_mixed: false,
        };
        assert!(relaxed.check("pw1").is_ok());
    }
}
