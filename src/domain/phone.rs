use serde::{Deserialize, Serialize};

/// A mobile number in E.164 (`+31612345666`). Dutch national notation (`06-12345666`,
/// `0031 6 1234 5666`) is accepted and converted, since that is how the guide's readers type it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PhoneNumber(String);

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not a phone number")]
pub struct PhoneNumberError;

/// Country code used for numbers typed in national notation (leading single `0`).
const DEFAULT_COUNTRY_CODE: &str = "31";

impl PhoneNumber {
    pub fn parse(raw: &str) -> Result<Self, PhoneNumberError> {
        let trimmed = raw.trim();
        if trimmed.len() > 40 {
            return Err(PhoneNumberError);
        }
        let mut plus = false;
        let mut digits = String::new();
        for (i, c) in trimmed.chars().enumerate() {
            match c {
                '+' if i == 0 => plus = true,
                '0'..='9' => digits.push(c),
                ' ' | '-' | '.' | '(' | ')' | '/' => {}
                _ => return Err(PhoneNumberError),
            }
        }
        let international = if plus {
            digits
        } else if let Some(rest) = digits.strip_prefix("00") {
            rest.to_string()
        } else if let Some(rest) = digits.strip_prefix('0') {
            format!("{DEFAULT_COUNTRY_CODE}{rest}")
        } else {
            return Err(PhoneNumberError);
        };
        // E.164: at most 15 digits, country codes never start with 0.
        if !(8..=15).contains(&international.len()) || international.starts_with('0') {
            return Err(PhoneNumberError);
        }
        Ok(Self(format!("+{international}")))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// What the guide shows: `*****66`.
    pub fn masked(&self) -> String {
        mask_last_two(&self.0)
    }
}

pub(crate) fn mask_last_two(digits: &str) -> String {
    let n = digits.len();
    format!("*****{}", &digits[n.saturating_sub(2)..])
}

impl std::fmt::Display for PhoneNumber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for PhoneNumber {
    type Error = PhoneNumberError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<PhoneNumber> for String {
    fn from(value: PhoneNumber) -> Self {
        value.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn dutch_ways_of_writing_a_mobile_number_are_the_same_number() {
        let want = PhoneNumber::parse("+31612345666").unwrap();
        for typed in [
            "06-12345666",
            "0612345666",
            "06 1234 5666",
            "0031612345666",
            "+31 6 12345666",
            "(06) 12345666",
        ] {
            assert_eq!(PhoneNumber::parse(typed).unwrap(), want, "{typed}");
        }
        assert_eq!(want.masked(), "*****66");
    }

    #[test]
    fn garbage_is_refused() {
        for bad in [
            "",
            "66",
            "hello",
            "06-1234x666",
            "+0612345678",
            "1234567890",
            "+3161234566612345678",
            "++31612345666",
        ] {
            assert!(PhoneNumber::parse(bad).is_err(), "{bad:?}");
        }
    }

    proptest! {
        #[test]
        fn parsing_never_panics_and_is_idempotent(s in "\\PC{0,50}") {
            if let Ok(p) = PhoneNumber::parse(&s) {
                prop_assert_eq!(PhoneNumber::parse(p.as_str()).unwrap(), p);
            }
        }
    }
}
