use std::path::Path;

use anyhow::{bail, Context};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Nonce};
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;
use subtle::ConstantTimeEq;

type HmacSha256 = Hmac<Sha256>;

/// How long the "this wasn't me" link in a notice e-mail works: a week, so someone back from a
/// long weekend or a short trip can still use it, while an old mailbox holds no standing key.
pub const NOT_ME_LINK_SECS: i64 = 7 * 24 * 60 * 60;

/// The purpose label of "this wasn't me" tokens: a MAC made for anything else never verifies as
/// one, and one of these is good for nothing else.
const NOT_ME_PURPOSE: &str = "not-me-link";

/// Longest token [`Keys::verify_not_me`] looks at (a real one is about 110 characters).
const MAX_NOT_ME_TOKEN: usize = 600;

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

    /// The token of a "this wasn't me" link: `base64url(account|expires_at).base64url(mac)`,
    /// the MAC over both under its own purpose label. It proves the server issued it for
    /// `account` until `expires_at` (Unix seconds) and shows nothing but the account (the notice
    /// it comes with names the account anyway). Only the current key signs and verifies: after
    /// a key rotation older links stop working, and the e-mail's phone number still does.
    pub fn not_me_token(&self, account: &str, expires_at: i64) -> String {
        let expires = expires_at.to_string();
        let mac = self.mac(NOT_ME_PURPOSE, &[account.as_bytes(), expires.as_bytes()]);
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(format!("{account}|{expires}")),
            URL_SAFE_NO_PAD.encode(mac)
        )
    }

    /// The account of a genuine "this wasn't me" token that has not expired at `now`; `None` for
    /// anything else, without saying why (the MAC is compared in constant time).
    pub fn verify_not_me(&self, token: &str, now: i64) -> Option<String> {
        if token.len() > MAX_NOT_ME_TOKEN {
            return None;
        }
        let (payload, mac) = token.split_once('.')?;
        let payload = String::from_utf8(URL_SAFE_NO_PAD.decode(payload).ok()?).ok()?;
        let mac = URL_SAFE_NO_PAD.decode(mac).ok()?;
        // A login name holds no `|`, but the expiry is the part after the last one regardless.
        let (account, expires) = payload.rsplit_once('|')?;
        // The MAC covers the expiry exactly as written, so "+9…" or "09…" for "9…" fails too.
        let expected = self.mac(NOT_ME_PURPOSE, &[account.as_bytes(), expires.as_bytes()]);
        let genuine = bool::from(expected.as_slice().ct_eq(mac.as_slice()));
        let expires_at: i64 = expires.parse().ok()?;
        (genuine && !account.is_empty() && now < expires_at).then(|| account.to_string())
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

/// The "this wasn't me" link of a notice e-mail, and the check of its token when it comes back.
/// Here rather than beside `report_not_me` because the token is the key's business; the core
/// adds only its clock and `http.public_url`.
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
    fn a_not_me_token_names_its_account_until_it_expires() {
        let k = Keys::random();
        let t = k.not_me_token("j.k.devries@bedrijf.nl", 1_000);
        assert!(t
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)));
        assert_eq!(
            k.verify_not_me(&t, 999).as_deref(),
            Some("j.k.devries@bedrijf.nl")
        );
        assert_eq!(k.verify_not_me(&t, 1_000), None, "expired at its expiry");
        assert_eq!(k.verify_not_me(&t, 5_000), None);
        // Another key, or no token at all, is nothing.
        assert_eq!(Keys::random().verify_not_me(&t, 0), None);
        for junk in ["", ".", "abc", "abc.def", "%%%.%%%", &"a".repeat(10_000)] {
            assert_eq!(k.verify_not_me(junk, 0), None, "{junk}");
        }
    }

    #[test]
    fn a_tampered_not_me_token_fails() {
        let k = Keys::random();
        let t = k.not_me_token("jan@bedrijf.nl", 1_000);
        let (_, mac) = t.split_once('.').unwrap();
        let forged = |payload: &str| format!("{}.{mac}", URL_SAFE_NO_PAD.encode(payload));
        assert!(k.verify_not_me(&forged("jan@bedrijf.nl|1000"), 0).is_some());
        for payload in [
            "anna@bedrijf.nl|1000",
            "jan@bedrijf.nl|999999999",
            "jan@bedrijf.nl|+1000",
            "jan@bedrijf.nl|01000",
            "jan@bedrijf.nl|1000|",
            "jan@bedrijf.nl1000",
        ] {
            assert_eq!(k.verify_not_me(&forged(payload), 0), None, "{payload}");
        }
        // A flipped bit in the MAC, or a MAC cut short.
        let mut bytes = URL_SAFE_NO_PAD.decode(mac).unwrap();
        bytes[0] ^= 1;
        let flipped = format!(
            "{}.{}",
            t.split_once('.').unwrap().0,
            URL_SAFE_NO_PAD.encode(&bytes)
        );
        assert_eq!(k.verify_not_me(&flipped, 0), None);
        assert_eq!(k.verify_not_me(&t[..t.len() - 2], 0), None);
    }

    #[test]
    fn a_not_me_token_is_good_for_nothing_else() {
        let k = Keys::random();
        let t = k.not_me_token("jan@bedrijf.nl", 1_000);
        let (payload, mac) = t.split_once('.').unwrap();
        let mac = hex::encode(URL_SAFE_NO_PAD.decode(mac).unwrap());
        // Not a code hash, confirmation digest or decoy mask of the same bytes.
        assert_ne!(mac, k.secret_hash("jan@bedrijf.nl", "1000"));
        assert_ne!(mac, k.password_digest("jan@bedrijf.nl", "1000"));
        // And it carries nothing but the account and the expiry.
        let shown = String::from_utf8(URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
        assert_eq!(shown, "jan@bedrijf.nl|1000");
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
