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

#[cfg(test)]
mod tests {
    use super::*;

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
