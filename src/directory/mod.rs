//! Where accounts live. The core only needs to find an account, reset its password and unlock it;
//! the admin report lists them all. LDAP (Active Directory, OpenLDAP) and Microsoft Graph
//! implement the same trait.

mod embedded;
pub mod graph;
pub mod ldap;

use async_trait::async_trait;

pub use embedded::EmbeddedDirectory;
pub use graph::GraphDirectory;
pub use ldap::LdapDirectory;

use crate::dialogue::DirectoryRule;
use crate::domain::{EmailAddress, LoginName, NewPassword, PhoneNumber};

/// An account as the directory knows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Account {
    pub login: LoginName,
    pub display_name: String,
    pub locked: bool,
    pub disabled: bool,
    /// Privileged accounts are never offered security questions (DESIGN §3).
    pub admin: bool,
    /// Methods a directory may carry as attributes (AD `mobile`, `otherMailbox`).
    pub mobile: Option<PhoneNumber>,
    pub alternate_email: Option<EmailAddress>,
    /// The employee's work mailbox (AD/OpenLDAP and Graph `mail`): registration in chat proves
    /// the employee reads it. Never a recovery method: whoever forgot the password cannot read it.
    pub work_email: Option<EmailAddress>,
    /// Department or organisational unit, for the admin report's split.
    pub department: Option<String>,
}

/// A department as a directory gives it: trimmed, `None` when empty.
fn department(raw: &str) -> Option<String> {
    let d = raw.trim();
    (!d.is_empty()).then(|| d.to_string())
}

#[derive(Debug, thiserror::Error)]
pub enum DirectoryError {
    /// The directory refused the new password under one of its own rules.
    #[error("the directory refused the password ({0:?})")]
    Rejected(DirectoryRule),
    #[error("no such account")]
    NotFound,
    /// The directory cannot clear a lockout itself (Entra's smart lockout ends on its own):
    /// the user is told to wait or to reset the password instead.
    #[error("this directory cannot unlock accounts")]
    UnlockUnsupported,
    /// Down, timed out, misconfigured: nothing was changed.
    #[error("directory unavailable: {0}")]
    Unavailable(String),
}

#[async_trait]
pub trait Directory: Send + Sync {
    /// `Ok(None)` when there is no such account.
    async fn find(&self, login: &LoginName) -> Result<Option<Account>, DirectoryError>;
    /// Sets a new password; a reset also clears a lockout, as Entra and AD do.
    async fn reset_password(
        &self,
        login: &LoginName,
        password: &NewPassword,
    ) -> Result<(), DirectoryError>;
    async fn unlock(&self, login: &LoginName) -> Result<(), DirectoryError>;
    /// Reachable and usable (for `/readyz`).
    async fn ping(&self) -> Result<(), DirectoryError>;
    /// Every user account, enabled or not, for the admin report. Entries without a usable login
    /// name are left out. Large directories are read page by page.
    async fn list_accounts(&self) -> Result<Vec<Account>, DirectoryError>;
}
