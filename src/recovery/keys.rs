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
    /// Keys replaced by a rotation: stored secrets still decrypt with them until `admin rekey`
    /// has re-encrypted everything with `master` (see the README, "Rotating the server key").
    previous: Vec<[u8; 32]>,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Keys(******)")
    }
}

impl Keys {
    pub fn from_bytes(master: [u8; 32]) -> Self {
        Self {
            master,
            previous: Vec::new(),
        }
    }

    pub fn random() -> Self {
        let mut master = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut master);
        Self::from_bytes(master)
    }

    /// Adds the keys in `paths` (hex files, as the key file) as previous keys: stored secrets
    /// that do not decrypt with the current key are tried with these.
    pub fn with_previous(mut self, paths: &[std::path::PathBuf]) -> anyhow::Result<Self> {
        for path in paths {
            self.previous.push(read_key(path)?);
        }
        Ok(self)
    }

    /// Whether `stored` decrypts with the current key (not only with a previous one).
    pub fn is_current(&self, stored: &str) -> bool {
        decrypt_with(&self.master, stored).is_ok()
    }

    /// Reads the hex key at `path`, creating it (mode 0600) on first start.
    pub fn load_or_create(path: &Path) -> anyhow::Result<Self> {
        match std::fs::read_to_string(path) {
            Ok(text) => Ok(Self::from_bytes(parse_key(path, &text)?)),
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
        mac_with(&self.master, purpose, parts)
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

    /// ChaCha20-Poly1305 with a key derived from the current server key; a fresh random nonce
    /// per secret. Stored as hex(nonce || ciphertext || tag).
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

    /// Decrypts with the current key, or else with a previous one (during a key rotation).
    pub fn decrypt(&self, stored: &str) -> anyhow::Result<Vec<u8>> {
        match decrypt_with(&self.master, stored) {
            Ok(plain) => Ok(plain),
            Err(first) => self
                .previous
                .iter()
                .find_map(|k| decrypt_with(k, stored).ok())
                .ok_or(first),
        }
    }
}

fn mac_with(key: &[u8; 32], purpose: &str, parts: &[&[u8]]) -> [u8; 32] {
    let mut m = <HmacSha256 as Mac>::new_from_slice(key).expect("HMAC accepts any key length");
    m.update(purpose.as_bytes());
    for p in parts {
        // Length-prefixed, so ("ab","c") and ("a","bc") differ.
        m.update(&(p.len() as u64).to_be_bytes());
        m.update(p);
    }
    m.finalize().into_bytes().into()
}

fn decrypt_with(key: &[u8; 32], stored: &str) -> anyhow::Result<Vec<u8>> {
    let bytes = hex::decode(stored).context("stored secret is not hex")?;
    if bytes.len() < 12 {
        bail!("stored secret too short");
    }
    let cipher = ChaCha20Poly1305::new(&mac_with(key, "stored-secret", &[]).into());
    cipher
        .decrypt(Nonce::from_slice(&bytes[..12]), &bytes[12..])
        .map_err(|_| anyhow::anyhow!("stored secret does not decrypt with the server key"))
}

fn parse_key(path: &Path, text: &str) -> anyhow::Result<[u8; 32]> {
    let bytes = hex::decode(text.trim())
        .with_context(|| format!("key file {} is not hex", path.display()))?;
    <[u8; 32]>::try_from(bytes.as_slice())
        .map_err(|_| anyhow::anyhow!("key file {} must hold 32 bytes", path.display()))
}

fn read_key(path: &Path) -> anyhow::Result<[u8; 32]> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading key file {}", path.display()))?;
    parse_key(path, &text)
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
    fn a_previous_key_still_decrypts_until_secrets_are_re_encrypted() {
        let dir = tempfile::tempdir().unwrap();
        let old_path = dir.path().join("old.key");
        let old = Keys::load_or_create(&old_path).unwrap();
        let stored = old.encrypt(b"totp secret");
        let new = Keys::random();
        assert!(new.decrypt(&stored).is_err());
        let rotating = new.clone().with_previous(&[old_path]).unwrap();
        assert_eq!(rotating.decrypt(&stored).unwrap(), b"totp secret");
        assert!(!rotating.is_current(&stored));
        let again = rotating.encrypt(&rotating.decrypt(&stored).unwrap());
        assert!(rotating.is_current(&again));
        assert_eq!(new.decrypt(&again).unwrap(), b"totp secret");
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
