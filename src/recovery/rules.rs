use crate::domain::PasswordPolicy;

/// The figures of DESIGN §3. Defaults are the documented ones; tighten freely, never loosen
/// silently.
#[derive(Clone, Debug)]
pub struct Rules {
    /// E-mail and SMS codes are valid this long (NIST 800-63B §5.1.3.2).
    pub code_ttl_secs: i64,
    /// Minimum time between two sends of one method in one recovery.
    pub resend_interval_secs: i64,
    /// Failed checks per account within `failure_window_secs` before recovery is locked.
    pub max_failures: i64,
    pub failure_window_secs: i64,
    /// How long a recovery lockout, an e-mail block or a chat-user pause lasts.
    pub lockout_secs: i64,
    /// E-mails per account within `email_window_secs`; one more blocks e-mail for `lockout_secs`.
    pub max_emails: i64,
    pub email_window_secs: i64,
    /// Per chat user per hour: distinct login names, and sends of any kind.
    pub max_accounts_per_chat_user: i64,
    pub max_sends_per_chat_user: i64,
    pub chat_user_window_secs: i64,
    /// Push approval requests per account per hour.
    pub max_pushes: i64,
    pub push_window_secs: i64,
    /// A call or push left unanswered this long no longer counts.
    pub phone_ttl_secs: i64,
    /// Security questions asked in one round.
    pub questions_asked: usize,
    /// TOTP steps accepted either side of now.
    pub totp_skew_steps: i64,
    pub password: PasswordPolicy,
    /// Base URL of a Have I Been Pwned range API (`https://api.pwnedpasswords.com`); `None`:
    /// no breached-password check.
    pub breach_check_url: Option<String>,
    /// The security questions registration offers (ids of [`crate::dialogue::QUESTION_IDS`]).
    pub registration_questions: Vec<String>,
    /// An employee whose methods were last confirmed longer ago is asked whether they are still
    /// right (default 180 days).
    pub reconfirm_after_secs: i64,
    /// The issuer an authenticator app shows next to the account (`otpauth://` issuer).
    pub totp_issuer: String,
    /// Where the world reaches this server (`http.public_url`). Set: the notice after a reset
    /// or unlock carries a signed "this wasn't me" link to `{public_url}/not-me`. `None` (the
    /// demo, tests unless they set it): the notice gives only the phone number.
    pub public_url: Option<String>,
}

impl Default for Rules {
    fn default() -> Self {
        Self {
            code_ttl_secs: 10 * 60,
            resend_interval_secs: 60,
            max_failures: 5,
            failure_window_secs: 60 * 60,
            lockout_secs: 24 * 60 * 60,
            max_emails: 10,
            email_window_secs: 10 * 60,
            max_accounts_per_chat_user: 3,
            max_sends_per_chat_user: 10,
            chat_user_window_secs: 60 * 60,
            max_pushes: 5,
            push_window_secs: 60 * 60,
            phone_ttl_secs: 5 * 60,
            questions_asked: 3,
            totp_skew_steps: 1,
            password: PasswordPolicy::default(),
            breach_check_url: None,
            registration_questions: crate::dialogue::QUESTION_IDS
                .iter()
                .map(|q| q.to_string())
                .collect(),
            reconfirm_after_secs: 180 * 24 * 60 * 60,
            totp_issuer: "sspr-bot".into(),
            public_url: None,
        }
    }
}
