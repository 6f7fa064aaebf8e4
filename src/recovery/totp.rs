use subtle::ConstantTimeEq;
use totp_rs::{Algorithm, TOTP};

use crate::domain::OtpCode;

/// RFC 6238 defaults, as every authenticator app uses them.
const STEP_SECS: u64 = 30;
const DIGITS: usize = 6;

/// The time step (`unix_time / 30`) whose code equals `code`, looking `skew` steps either side of
/// `now`. Every candidate is computed and compared in constant time, whichever matches.
pub fn matching_step(secret: &[u8], code: &OtpCode, now: u64, skew: i64) -> Option<u64> {
    let totp = TOTP::new_unchecked(Algorithm::SHA1, DIGITS, 0, STEP_SECS, secret.to_vec());
    let current = (now / STEP_SECS) as i64;
    let mut found = None;
    for step in (current - skew)..=(current + skew) {
        if step < 0 {
            continue;
        }
        let candidate = totp.generate(step as u64 * STEP_SECS);
        if bool::from(candidate.as_bytes().ct_eq(code.expose().as_bytes())) {
            found = Some(step as u64);
        }
    }
    found
}

/// The `otpauth://` URI an authenticator app scans (Google's Key Uri Format, which Microsoft
/// Authenticator and the others read too).
pub fn otpauth_uri(secret: &[u8], issuer: &str, account: &str) -> String {
    let encoded = match totp_rs::Secret::Raw(secret.to_vec()).to_encoded() {
        totp_rs::Secret::Encoded(s) => s,
        totp_rs::Secret::Raw(_) => unreachable!("to_encoded returns the encoded form"),
    };
    let label = format!("{issuer}:{account}");
    format!(
        "otpauth://totp/{}?secret={}&issuer={}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECS}",
        percent_encode(&label),
        encoded.trim_end_matches('='),
        percent_encode(issuer),
    )
}

/// RFC 3986 percent-encoding of everything but unreserved characters.
fn percent_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn otpauth_uri_carries_the_secret_in_base32_and_encodes_the_label() {
        let uri = otpauth_uri(
            b"12345678901234567890",
            "Bedrijf ICT",
            "j.k.devries@bedrijf.nl",
        );
        assert_eq!(
            uri,
            "otpauth://totp/Bedrijf%20ICT%3Aj.k.devries%40bedrijf.nl?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Bedrijf%20ICT&algorithm=SHA1&digits=6&period=30"
        );
    }

    /// RFC 6238 appendix B, SHA-1 secret "12345678901234567890", truncated to six digits.
    #[test]
    fn rfc_6238_vectors() {
        let secret = b"12345678901234567890";
        for (t, code) in [
            (59u64, "287082"),
            (1111111109, "081804"),
            (1234567890, "005924"),
            (2000000000, "279037"),
        ] {
            let c = OtpCode::parse(code).unwrap();
            assert_eq!(matching_step(secret, &c, t, 0), Some(t / 30), "t={t}");
        }
    }

    #[test]
    fn one_step_either_side_is_accepted_two_is_not() {
        let secret = b"12345678901234567890";
        let c = OtpCode::parse("081804").unwrap(); // step of t=1111111109
        let step = 1111111109 / 30;
        assert_eq!(matching_step(secret, &c, 1111111109 + 30, 1), Some(step));
        assert_eq!(matching_step(secret, &c, 1111111109 - 30, 1), Some(step));
        assert_eq!(matching_step(secret, &c, 1111111109 + 60, 1), None);
    }
}
