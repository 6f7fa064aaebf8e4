use serde::{Deserialize, Serialize};

/// The six verification methods of the guide (steps 5–10), in the guide's order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// Step 5: a code to the private (alternate) e-mail address, never the work address.
    Email,
    /// Step 6: the user types their full mobile number, then receives a code by SMS.
    Sms,
    /// Step 7: same number check, then a call that is confirmed with `#`.
    Call,
    /// Step 8: three registered security questions, one verdict.
    Questions,
    /// Step 9: approve a notification in the authenticator app, with number matching.
    Push,
    /// Step 10: a code from the authenticator app (RFC 6238).
    Totp,
}

impl Method {
    pub const ALL: [Method; 6] = [
        Method::Email,
        Method::Sms,
        Method::Call,
        Method::Questions,
        Method::Push,
        Method::Totp,
    ];

    /// Stable id used in button ids, the database and the audit log.
    pub fn id(self) -> &'static str {
        match self {
            Method::Email => "email",
            Method::Sms => "sms",
            Method::Call => "call",
            Method::Questions => "questions",
            Method::Push => "push",
            Method::Totp => "totp",
        }
    }

    pub fn from_id(id: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.id() == id)
    }

    /// What a method proves possession of. An SMS and a call to the same registered number prove
    /// the same thing, so they count as one method towards the two required (as Entra counts
    /// "mobile phone" once); every other method is a factor of its own.
    pub fn factor(self) -> &'static str {
        match self {
            Method::Sms | Method::Call => "mobile_phone",
            other => other.id(),
        }
    }

    /// How many different factors `methods` prove.
    pub fn distinct_factors(methods: impl IntoIterator<Item = Method>) -> usize {
        let mut factors: Vec<&'static str> = methods.into_iter().map(Method::factor).collect();
        factors.sort_unstable();
        factors.dedup();
        factors.len()
    }

    /// Methods someone who lost their phone cannot use.
    pub fn needs_phone(self) -> bool {
        matches!(
            self,
            Method::Sms | Method::Call | Method::Push | Method::Totp
        )
    }
}

/// Guide step 3: why the user is here.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// Forgot the password: ends with a new password (step 11a).
    Forgot,
    /// Knows the password but the account is locked: ends with an unlock (step 11b).
    Locked,
}

impl Reason {
    pub fn id(self) -> &'static str {
        match self {
            Reason::Forgot => "forgot",
            Reason::Locked => "locked",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip() {
        for m in Method::ALL {
            assert_eq!(Method::from_id(m.id()), Some(m));
        }
        assert_eq!(Method::from_id("fax"), None);
    }

    #[test]
    fn sms_and_call_are_one_factor_every_other_method_its_own() {
        assert_eq!(Method::distinct_factors([Method::Sms, Method::Call]), 1);
        assert_eq!(Method::distinct_factors([Method::Sms, Method::Email]), 2);
        assert_eq!(Method::distinct_factors([Method::Push, Method::Totp]), 2);
        assert_eq!(Method::distinct_factors(Method::ALL), 5);
    }

    #[test]
    fn only_email_and_questions_work_without_a_phone() {
        let without: Vec<_> = Method::ALL
            .into_iter()
            .filter(|m| !m.needs_phone())
            .collect();
        assert_eq!(without, vec![Method::Email, Method::Questions]);
    }
}
