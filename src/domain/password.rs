use std::fmt;

use serde::{Deserialize, Serialize};

use super::LoginName;

/// The rules a new password must meet before it is sent to the directory (DESIGN §3, NIST
/// 800-63B §5.1.1.2). The directory may still refuse it (history, its own complexity rules); that
/// rejection is explained separately.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PasswordPolicy {
    /// Counted in Unicode characters, not bytes. NIST allows 8; we default to 12.
    pub min_chars: usize,
    /// Long passphrases are welcome; this only bounds the work of checking one. Never truncated.
    pub max_chars: usize,
    /// Lowest zxcvbn score (0–4) accepted: below it the password is "too common or guessable".
    pub min_score: u8,
}

impl Default for PasswordPolicy {
    fn default() -> Self {
        Self {
            min_chars: 12,
            max_chars: 256,
            min_score: 3,
        }
    }
}

/// One rule a proposed password breaks; each has its own translated explanation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PolicyViolation {
    TooShort {
        min: usize,
    },
    TooLong {
        max: usize,
    },
    ContainsLoginName,
    TooCommon,
    /// Found in a corpus of breached passwords (checked by the core, not by `parse`).
    Breached,
}

/// A new password that passed the policy. `Debug` is redacted; the text only leaves through
/// [`NewPassword::expose`] on its way to the directory.
#[derive(Clone, PartialEq, Eq)]
pub struct NewPassword(String);

impl NewPassword {
    pub fn parse(
        raw: &str,
        login: &LoginName,
        policy: &PasswordPolicy,
    ) -> Result<Self, Vec<PolicyViolation>> {
        let mut broken = Vec::new();
        let chars = raw.chars().count();
        if chars < policy.min_chars {
            broken.push(PolicyViolation::TooShort {
                min: policy.min_chars,
            });
        }
        if chars > policy.max_chars {
            broken.push(PolicyViolation::TooLong {
                max: policy.max_chars,
            });
            // zxcvbn's work grows with length; no need to score what is refused anyway.
            return Err(broken);
        }
        let lower = raw.to_lowercase();
        if login_tokens(login).any(|t| lower.contains(&t)) {
            broken.push(PolicyViolation::ContainsLoginName);
        }
        if !raw.is_empty() {
            let local = login.local_part();
            let inputs: Vec<&str> = std::iter::once(local)
                .chain(local.split(['.', '_', '-']))
                .collect();
            let score = zxcvbn::zxcvbn(raw, &inputs).score() as u8;
            if score < policy.min_score {
                broken.push(PolicyViolation::TooCommon);
            }
        } else {
            broken.push(PolicyViolation::TooCommon);
        }
        if broken.is_empty() {
            Ok(Self(raw.to_string()))
        } else {
            Err(broken)
        }
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// The login's local part and each of its name parts of four letters or more
/// (`j.k.devries` → `j.k.devries`, `devries`): a password holding any of them is refused.
fn login_tokens(login: &LoginName) -> impl Iterator<Item = String> + '_ {
    let local = login.local_part();
    std::iter::once(local.to_string()).chain(
        local
            .split(['.', '_', '-', '+'])
            .filter(|t| t.chars().count() >= 4)
            .map(str::to_string),
    )
}

impl fmt::Debug for NewPassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("NewPassword(******)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn jan() -> LoginName {
        LoginName::parse("j.k.devries@bedrijf.nl").unwrap()
    }

    #[test]
    fn a_long_uncommon_passphrase_is_accepted() {
        assert!(NewPassword::parse(
            "Paars konijn eet 7 wortels",
            &jan(),
            &PasswordPolicy::default()
        )
        .is_ok());
    }

    #[test]
    fn each_rule_is_reported() {
        let p = PasswordPolicy::default();
        assert_eq!(
            NewPassword::parse("Kort1!", &jan(), &p).unwrap_err(),
            vec![
                PolicyViolation::TooShort { min: 12 },
                PolicyViolation::TooCommon
            ]
        );
        assert_eq!(
            NewPassword::parse(&"x".repeat(257), &jan(), &p).unwrap_err(),
            vec![PolicyViolation::TooLong { max: 256 }]
        );
        assert!(
            NewPassword::parse("DeVries-Zomer-2024-vakantie", &jan(), &p)
                .unwrap_err()
                .contains(&PolicyViolation::ContainsLoginName)
        );
        assert_eq!(
            NewPassword::parse("password1234", &jan(), &p).unwrap_err(),
            vec![PolicyViolation::TooCommon]
        );
    }

    #[test]
    fn length_is_counted_in_characters_and_never_truncated() {
        let p = PasswordPolicy::default();
        // 12 characters, 24 bytes
        let pw = "ééééééééééé7";
        let err = NewPassword::parse(pw, &jan(), &p).unwrap_err();
        assert!(!err
            .iter()
            .any(|v| matches!(v, PolicyViolation::TooShort { .. })));
        let long = format!("{}Zq", "Vlinder-bos-regen ".repeat(14));
        assert_eq!(
            NewPassword::parse(&long, &jan(), &p).unwrap().expose(),
            long
        );
    }

    #[test]
    fn debug_hides_the_password() {
        let pw = NewPassword::parse(
            "Paars konijn eet 7 wortels",
            &jan(),
            &PasswordPolicy::default(),
        )
        .unwrap();
        assert!(!format!("{pw:?}").contains("konijn"));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn never_panics(s in "\\PC{0,300}") {
            let _ = NewPassword::parse(&s, &jan(), &PasswordPolicy::default());
        }
    }
}
