use serde::{Deserialize, Serialize};

/// A login name (user principal name) such as `j.k.devries@bedrijf.nl`, normalised to lower case
/// with surrounding and inner white space removed, so `J.K.deVries@Bedrijf.nl ` and
/// `j.k.devries@bedrijf.nl` name the same account everywhere (throttles, audit, directory).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct LoginName(String);

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LoginNameError {
    #[error("login name is empty")]
    Empty,
    #[error("login name is too long")]
    TooLong,
    #[error("login name is not of the form name@domain")]
    NotUpn,
}

/// RFC 5321 caps an address at 254 octets; a UPN is never longer in practice.
const MAX_LEN: usize = 254;

impl LoginName {
    pub fn parse(raw: &str) -> Result<Self, LoginNameError> {
        let s: String = raw
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect::<String>()
            .to_lowercase();
        if s.is_empty() {
            return Err(LoginNameError::Empty);
        }
        if s.len() > MAX_LEN {
            return Err(LoginNameError::TooLong);
        }
        let (local, domain) = s.split_once('@').ok_or(LoginNameError::NotUpn)?;
        let local_ok = !local.is_empty()
            && local
                .chars()
                .all(|c| c.is_alphanumeric() || "._-+'".contains(c))
            && !local.starts_with('.')
            && !local.ends_with('.');
        let domain_ok = domain.contains('.')
            && domain.split('.').all(|label| {
                !label.is_empty()
                    && !label.starts_with('-')
                    && !label.ends_with('-')
                    && label.chars().all(|c| c.is_alphanumeric() || c == '-')
            });
        if !local_ok || !domain_ok {
            return Err(LoginNameError::NotUpn);
        }
        Ok(Self(s))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The part before `@`, used by the password policy ("must not contain the login name").
    pub fn local_part(&self) -> &str {
        self.0.split('@').next().unwrap_or(&self.0)
    }
}

impl std::fmt::Display for LoginName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for LoginName {
    type Error = LoginNameError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<LoginName> for String {
    fn from(value: LoginName) -> Self {
        value.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn case_and_spaces_are_normalised() {
        let a = LoginName::parse("  J.K.deVries@Bedrijf.nl ").unwrap();
        let b = LoginName::parse("j.k.devries @bedrijf.nl").unwrap();
        assert_eq!(a, b);
        assert_eq!(a.as_str(), "j.k.devries@bedrijf.nl");
        assert_eq!(a.local_part(), "j.k.devries");
    }

    #[test]
    fn things_that_are_not_login_names_are_refused() {
        for bad in [
            "",
            "   ",
            "jan",
            "jan@",
            "@bedrijf.nl",
            "jan@bedrijf",
            "jan@@bedrijf.nl",
            "ja n@bed rijf",
            "jan@-x.nl",
            ".jan@x.nl",
            "j<script>@x.nl",
        ] {
            if bad == "ja n@bed rijf" {
                // inner spaces are dropped, but the domain still lacks a dot
                assert!(LoginName::parse(bad).is_err());
                continue;
            }
            assert!(LoginName::parse(bad).is_err(), "{bad:?} accepted");
        }
        assert_eq!(
            LoginName::parse(&format!("{}@x.nl", "a".repeat(300))),
            Err(LoginNameError::TooLong)
        );
    }

    proptest! {
        #[test]
        fn parsing_never_panics_and_is_idempotent(s in "\\PC{0,80}") {
            if let Ok(l) = LoginName::parse(&s) {
                prop_assert_eq!(LoginName::parse(l.as_str()).unwrap(), l);
            }
        }
    }
}
