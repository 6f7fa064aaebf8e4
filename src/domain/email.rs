use serde::{Deserialize, Serialize};

/// An e-mail address (the alternate/private address a code is sent to), lower-cased.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct EmailAddress(String);

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not an e-mail address")]
pub struct EmailAddressError;

impl EmailAddress {
    pub fn parse(raw: &str) -> Result<Self, EmailAddressError> {
        let s = raw.trim().to_lowercase();
        let (local, domain) = s.split_once('@').ok_or(EmailAddressError)?;
        let ok = !local.is_empty()
            && s.len() <= 254
            && !local
                .chars()
                .any(|c| c.is_whitespace() || c == '@' || c.is_control())
            && domain.contains('.')
            && domain
                .split('.')
                .all(|l| !l.is_empty() && l.chars().all(|c| c.is_alphanumeric() || c == '-'));
        if ok {
            Ok(Self(s))
        } else {
            Err(EmailAddressError)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// What the chat shows: `ja*****@pr*****.example` — enough for the owner to recognise it,
    /// too little for anyone else to use it.
    pub fn masked(&self) -> String {
        let (local, domain) = self.0.split_once('@').unwrap_or((&self.0, ""));
        let (host, tld) = domain.rsplit_once('.').unwrap_or((domain, ""));
        mask_parts(local, host, tld)
    }
}

/// Shared by real addresses and by the decoy masks of unknown accounts, so both look alike.
pub(crate) fn mask_parts(local: &str, host: &str, tld: &str) -> String {
    let keep = |s: &str| s.chars().take(2).collect::<String>();
    format!("{}*****@{}*****.{}", keep(local), keep(host), tld)
}

impl std::fmt::Display for EmailAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for EmailAddress {
    type Error = EmailAddressError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<EmailAddress> for String {
    fn from(value: EmailAddress) -> Self {
        value.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_keep_two_letters_of_name_and_host() {
        let e = EmailAddress::parse("Jan.DeVries@privemail.example").unwrap();
        assert_eq!(e.masked(), "ja*****@pr*****.example");
    }

    #[test]
    fn non_addresses_are_refused() {
        for bad in [
            "",
            "jan",
            "jan@",
            "@x.nl",
            "jan@x",
            "j an@x.nl",
            "jan@x..nl",
        ] {
            assert!(EmailAddress::parse(bad).is_err(), "{bad:?}");
        }
    }
}
