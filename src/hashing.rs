//! argon2id hashing of passwords (embedded directory) and security answers, always on
//! `spawn_blocking` so a hash never stalls the async threads other conversations run on.

use anyhow::Context;
use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
};
use argon2::Argon2;

/// An argon2id PHC string of `secret` (default parameters: m=19 MiB, t=2, p=1).
pub async fn hash(secret: String) -> anyhow::Result<String> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(secret.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| anyhow::anyhow!("argon2 hashing: {e}"))
    })
    .await
    .context("argon2 hashing task")?
}

/// Whether `secret` matches the PHC string `phc`.
pub async fn verify(secret: String, phc: String) -> anyhow::Result<bool> {
    tokio::task::spawn_blocking(move || {
        let parsed =
            PasswordHash::new(&phc).map_err(|e| anyhow::anyhow!("stored hash unreadable: {e}"))?;
        Ok(Argon2::default()
            .verify_password(secret.as_bytes(), &parsed)
            .is_ok())
    })
    .await
    .context("argon2 verification task")?
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn a_hash_verifies_its_secret_only() {
        let h = super::hash("Haarlem".into()).await.unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(!h.contains("Haarlem"));
        assert!(super::verify("Haarlem".into(), h.clone()).await.unwrap());
        assert!(!super::verify("Harlem".into(), h).await.unwrap());
    }
}
