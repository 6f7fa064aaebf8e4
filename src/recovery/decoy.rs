//! Unknown and disabled accounts get the same conversation as a real one (DESIGN §3): an account
//! with e-mail, a mobile number and an authenticator app registered, whose masked e-mail address
//! and number are derived from a keyed hash of the login name — stable for one name, different
//! across names, meaningless without the server key. Nothing is ever sent and every check fails.

use super::Keys;
use crate::dialogue::Offer;
use crate::domain::Method;

const DOMAINS: [(&str, &str); 8] = [
    ("gmail", "com"),
    ("outlook", "com"),
    ("hotmail", "com"),
    ("ziggo", "nl"),
    ("kpnmail", "nl"),
    ("live", "nl"),
    ("icloud", "com"),
    ("yahoo", "com"),
];

pub fn offers(keys: &Keys, login: &str, supported: impl Fn(Method) -> bool) -> Vec<Offer> {
    let b = keys.decoy_bytes(login);
    let letter = |x: u8| char::from(b'a' + x % 26);
    let local: String = [letter(b[0]), letter(b[1])].iter().collect();
    let (host, tld) = DOMAINS[usize::from(b[2]) % DOMAINS.len()];
    let email = crate::domain::mask_email_parts(&local, host, tld);
    let phone = crate::domain::mask_phone_digits(&format!("{}{}", b[3] % 10, b[4] % 10));
    vec![
        Offer {
            method: Method::Email,
            hint: Some(email),
        },
        Offer {
            method: Method::Sms,
            hint: Some(phone.clone()),
        },
        Offer {
            method: Method::Call,
            hint: Some(phone),
        },
        Offer {
            method: Method::Totp,
            hint: None,
        },
    ]
    .into_iter()
    .filter(|o| supported(o.method))
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_are_stable_per_name_and_differ_between_names() {
        let k = Keys::random();
        assert_eq!(
            offers(&k, "x@bedrijf.nl", |_| true),
            offers(&k, "x@bedrijf.nl", |_| true)
        );
        let differ = (0..20).any(|i| {
            offers(&k, &format!("u{i}@bedrijf.nl"), |_| true)
                != offers(&k, "x@bedrijf.nl", |_| true)
        });
        assert!(differ);
    }
}
