use std::path::Path;

use anyhow::{bail, Context};
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Nonce};
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;
use subtle::ConstantTimeEq;

type HmacSha256 = Hmac<Sha256>;

/// The server's secret. Everything keyed derives from it with a purpose label, so one 32-byte
/// file protects code hashes, the confirmation digest, decoy masks and stored TOTP secrets.
#[derive(Clone)]
pub struct Keys {
    master: [u8; 32],
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Keys(******)")
    }
}

impl Keys {
    pub fn from_bytes(master: [u8; 32]) -> Self {
        Self { master }
    }

    pub fn random() -> Self {
        let mut master = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut master);
        Self { master }
    }

    /// Reads the hex key at `path`, creating it (mode 0600) on first start.
    pub fn load_or_create(path: &Path) -> anyhow::Result<Self> {
        match std::fs::read_to_string(path) {
            Ok(text) => {
                let bytes = hex::decode(text.trim())
                    .with_context(|| format!("key file {} is not hex", path.display()))?;
                let Ok(master) = <[u8; 32]>::try_from(bytes.as_slice()) else {
                    bail!("key file {} must hold 32 bytes", path.display());
                };
                Ok(Self { master })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let keys = Self::random();
                write_private(path, &hex::encode(keys.master))
                    .with_context(|| format!("creating key file {}", path.display()))?;
                Ok(keys)
            }
            Err(e) => Err(e).with_context(|| format!("reading key file {}", path.display())),
        }
    }

    fn mac(&self, purpose: &str, parts: &[&[u8]]) -> [u8; 32] {
        let mut m =
            <HmacSha256 as Mac>::new_from_slice(&self.master).expect("HMAC accepts any key length");
        m.update(purpose.as_bytes());
        for p in parts {
            // Length-prefixed, so ("ab","c") and ("a","bc") differ.
            m.update(&(p.len() as u64).to_be_bytes());
            m.update(p);
        }
        m.finalize().into_bytes().into()
    }

    /// Keyed hash of a one-time secret bound to its challenge.
    pub fn secret_hash(&self, challenge_id: &str, secret: &str) -> String {
        hex::encode(self.mac(
            "challenge-secret",
            &[challenge_id.as_bytes(), secret.as_bytes()],
        ))
    }

    /// Keyed digest of a first password entry, to compare the confirmation with.
    pub fn password_digest(&self, recovery_id: &str, password: &str) -> String {
        hex::encode(self.mac(
            "password-confirm",
            &[recovery_id.as_bytes(), password.as_bytes()],
        ))
    }

    /// Stable pseudo-random bytes for an unknown login name (its decoy masks).
    pub fn decoy_bytes(&self, login: &str) -> [u8; 32] {
        self.mac("decoy", &[login.as_bytes()])
    }

    pub fn encrypt(&self, plaintext: &[u8]) -> String {
        let cipher = ChaCha20Poly1305::new(&self.mac("stored-secret", &[]).into());
        let mut nonce = [0u8; 12];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let ct = cipher
            .encrypt(Nonce::from_slice(&nonce), plaintext)
            .expect("ChaCha20-Poly1305 encryption of an in-memory buffer cannot fail");
        let mut out = nonce.to_vec();
        out.extend(ct);
        hex::encode(out)
    }

    pub fn decrypt(&self, stored: &str) -> anyhow::Result<Vec<u8>> {
        let bytes = hex::decode(stored).context("stored secret is not hex")?;
        if bytes.len() < 12 {
            bail!("stored secret too short");
        }
        let cipher = ChaCha20Poly1305::new(&self.mac("stored-secret", &[]).into());
        cipher
            .decrypt(Nonce::from_slice(&bytes[..12]), &bytes[12..])
            .map_err(|_| anyhow::anyhow!("stored secret does not decrypt with this server key"))
    }
}

/// Constant-time equality of two hex digests.
pub fn digest_eq(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    f.write_all(text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_bound_to_their_challenge_and_key() {
        let k = Keys::random();
        assert_eq!(k.secret_hash("c1", "123456"), k.secret_hash("c1", "123456"));
        assert_ne!(k.secret_hash("c1", "123456"), k.secret_hash("c2", "123456"));
        assert_ne!(
            k.secret_hash("c1", "123456"),
            Keys::random().secret_hash("c1", "123456")
        );
        assert!(!k.secret_hash("c1", "123456").contains("123456"));
    }

    #[test]
    fn stored_secrets_round_trip_and_fail_with_another_key() {
        let k = Keys::random();
        let stored = k.encrypt(b"totp secret");
        assert_eq!(k.decrypt(&stored).unwrap(), b"totp secret");
        assert!(Keys::random().decrypt(&stored).is_err());
        assert!(k.decrypt("zz").is_err());
    }

    #[test]
    fn key_file_is_created_once_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sspr.key");
        let a = Keys::load_or_create(&path).unwrap();
        let b = Keys::load_or_create(&path).unwrap();
        assert_eq!(a.master, b.master);
    }
}
