use std::fmt;

/// A six-digit one-time code as typed by a user (e-mail, SMS or authenticator code). Spaces and
/// dashes that people type or paste ("123 456", "123-456") are dropped. `Debug` never prints the
/// digits, so a code cannot reach a log by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct OtpCode(String);

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a code is exactly six digits")]
pub struct OtpCodeError;

pub const CODE_DIGITS: usize = 6;

impl OtpCode {
    pub fn parse(raw: &str) -> Result<Self, OtpCodeError> {
        let digits: String = raw
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '-')
            .collect();
        if digits.len() == CODE_DIGITS && digits.bytes().all(|b| b.is_ascii_digit()) {
            Ok(Self(digits))
        } else {
            Err(OtpCodeError)
        }
    }

    /// A fresh code from the operating system's CSPRNG.
    pub fn random() -> Self {
        use rand::Rng;
        let n: u32 = rand::rngs::OsRng.gen_range(0..1_000_000);
        Self(format!("{n:06}"))
    }

    /// The digits, for hashing and for handing to a provider; never for a log line.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for OtpCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OtpCode(******)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn typed_codes_are_accepted_with_spaces_or_dashes() {
        assert_eq!(OtpCode::parse(" 123 456 ").unwrap().expose(), "123456");
        assert_eq!(OtpCode::parse("123-456").unwrap().expose(), "123456");
    }

    #[test]
    fn anything_else_is_refused() {
        for bad in ["", "12345", "1234567", "12345a", "١٢٣٤٥٦", "abcdef"] {
            assert!(OtpCode::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn debug_hides_the_digits() {
        assert!(!format!("{:?}", OtpCode::parse("987654").unwrap()).contains("987654"));
    }

    proptest! {
        #[test]
        fn random_codes_are_six_digits(_ in 0..50u8) {
            let c = OtpCode::random();
            prop_assert!(OtpCode::parse(c.expose()).is_ok());
        }
    }
}
