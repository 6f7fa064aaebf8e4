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
    fn only_email_and_questions_work_without_a_phone() {
        let without: Vec<_> = Method::ALL
            .into_iter()
            .filter(|m| !m.needs_phone())
            .collect();
        assert_eq!(without, vec![Method::Email, Method::Questions]);
    }
}
