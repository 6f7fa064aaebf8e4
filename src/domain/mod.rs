//! Values the rest of the crate can trust: each newtype is parsed once from untrusted text and is
//! valid for as long as you hold it ("parse, don't validate").

mod answer;
mod code;
mod email;
mod login;
mod method;
mod password;
mod phone;

pub use answer::{normalise_answer, AnswerProblem, NewAnswer, ANSWER_MAX_CHARS, ANSWER_MIN_CHARS};
pub use code::OtpCode;
pub(crate) use email::mask_parts as mask_email_parts;
pub use email::EmailAddress;
pub use login::LoginName;
pub use method::{Method, Reason};
pub use password::{NewPassword, PasswordPolicy, PolicyViolation};
pub(crate) use phone::mask_last_two as mask_phone_digits;
pub use phone::PhoneNumber;
