//! LDAP directories: Active Directory and OpenLDAP with the ppolicy overlay.
//!
//! The service binds as a least-privilege account (DESIGN §5) over LDAPS or StartTLS; plain LDAP
//! only when `allow_plaintext` is set (tests on loopback). One bound connection is kept and
//! shared (an `ldap3::Ldap` handle multiplexes requests); it is re-opened and re-bound when it
//! has dropped. Every operation runs under `timeout_secs`; a directory that cannot be reached
//! gives [`DirectoryError::Unavailable`], whose text never carries the bind password.
//!
//! `mail` is the work mailbox (unless `mail` is configured as the alternate address); the
//! department is `department`, `departmentNumber` or `ou`, else the first `OU=` of the DN. The
//! admin report's listing is a paged search (AD answers at most 1000 entries otherwise) with the
//! user filter's `{login}` as `*`, for AD only people's user objects.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use async_trait::async_trait;
use ldap3::adapters::{Adapter, EntriesOnly, PagedResults};
use ldap3::controls::RawControl;
use ldap3::exop::{PasswordModify, WhoAmI};
use ldap3::{ldap_escape, Ldap, LdapConnAsync, LdapConnSettings, LdapError, Mod, Scope};
use ldap3::{SearchEntry, SearchResult};
use tokio::sync::Mutex;

use super::{Account, Directory, DirectoryError};
use crate::config::{DirectoryConfig, LdapFlavour, Secret};
use crate::dialogue::DirectoryRule;
use crate::domain::{EmailAddress, LoginName, NewPassword, PhoneNumber};

/// The password policy request control (draft-behera-ldap-password-policy).
const PPOLICY_CONTROL: &str = "1.3.6.1.4.1.42.2.27.8.5.1";
/// The Relax Rules control (OpenLDAP), to clear the non-user-modifiable `pwdFailureTime`.
const RELAX_CONTROL: &str = "1.3.6.1.4.1.4203.666.5.12";
/// AD: `LDAP_MATCHING_RULE_IN_CHAIN`, for nested group membership.
const IN_CHAIN: &str = "1.2.840.113556.1.4.1941";
/// OpenLDAP: `pwdAccountLockedTime` with this value is an administrative lock, not a lockout.
const ADMIN_LOCK: &str = "000001010000Z";

/// The attribute with the work mailbox (AD, OpenLDAP inetOrgPerson).
const WORK_EMAIL_ATTRIBUTE: &str = "mail";
/// Entries per page of a listing; AD's default `MaxPageSize` is 1000.
const PAGE_SIZE: i32 = 500;

const SUCCESS: u32 = 0;
const NO_SUCH_ATTRIBUTE: u32 = 16;
const CONSTRAINT_VIOLATION: u32 = 19;
const NO_SUCH_OBJECT: u32 = 32;
const UNWILLING_TO_PERFORM: u32 = 53;

/// A directory reached over LDAP (`backend = "ldap"`).
pub struct LdapDirectory {
    settings: Settings,
    conn: Mutex<Option<Ldap>>,
}

#[derive(Debug)]
struct Settings {
    url: String,
    starttls: bool,
    bind_dn: String,
    bind_password: Secret,
    base_dn: String,
    flavour: LdapFlavour,
    user_filter: String,
    mobile_attribute: String,
    alternate_email_attribute: String,
    admin_groups: Vec<String>,
    must_change_at_next_sign_in: bool,
    timeout: Duration,
    /// TLS trusting only `tls_ca_file`'s certificates; `None`: the system roots.
    tls: Option<Arc<rustls::ClientConfig>>,
}

impl std::fmt::Debug for LdapDirectory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LdapDirectory")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// The entry behind a login, as found.
struct Found {
    dn: String,
    account: Account,
    lock_attribute_present: bool,
}

impl LdapDirectory {
    /// Checks the configuration and opens the service connection. A configuration mistake or a
    /// refused service bind is an error; a directory that is merely down is not (the service
    /// starts, `/readyz` fails, and the connection is retried on each request).
    pub async fn connect(config: &DirectoryConfig) -> anyhow::Result<Self> {
        let url = config
            .url
            .clone()
            .context("directory.url is required for backend = \"ldap\"")?;
        let starttls = if url.starts_with("ldaps://") {
            false
        } else if url.starts_with("ldap://") {
            !config.allow_plaintext
        } else {
            bail!("directory.url must start with ldaps:// or ldap://");
        };
        let tls = match &config.tls_ca_file {
            Some(ca) => Some(client_config(ca).context("directory.tls_ca_file")?),
            None => None,
        };
        let settings = Settings {
            url,
            starttls,
            bind_dn: config
                .bind_dn
                .clone()
                .context("directory.bind_dn is required for backend = \"ldap\"")?,
            bind_password: config
                .bind_password
                .clone()
                .context("directory.bind_password is required for backend = \"ldap\"")?,
            base_dn: config
                .base_dn
                .clone()
                .context("directory.base_dn is required for backend = \"ldap\"")?,
            flavour: config.flavour,
            user_filter: config.user_filter().to_string(),
            mobile_attribute: config
                .mobile_attribute
                .clone()
                .unwrap_or_else(|| "mobile".into()),
            alternate_email_attribute: config
                .alternate_email_attribute
                .clone()
                .unwrap_or_else(|| "otherMailbox".into()),
            admin_groups: config.admin_groups.clone(),
            must_change_at_next_sign_in: config.must_change_at_next_sign_in,
            timeout: Duration::from_secs(config.timeout_secs.max(1)),
            tls,
        };
        if !settings.user_filter.contains("{login}") {
            bail!("directory.user_filter must contain {{login}}");
        }
        let dir = Self {
            settings,
            conn: Mutex::new(None),
        };
        match dir.open().await {
            Ok(ldap) => *dir.conn.lock().await = Some(ldap),
            Err(Open::Refused(msg)) => bail!("directory service bind refused: {msg}"),
            Err(Open::Down(msg)) => {
                tracing::warn!(error = %msg, "directory unreachable at start; will retry")
            }
        }
        Ok(dir)
    }

    /// Opens a connection and binds the service account.
    async fn open(&self) -> Result<Ldap, Open> {
        let s = &self.settings;
        let mut conn_settings = LdapConnSettings::new()
            .set_conn_timeout(s.timeout)
            .set_starttls(s.starttls);
        if let Some(tls) = &s.tls {
            conn_settings = conn_settings.set_config(tls.clone());
        }
        let fut = async {
            let (conn, mut ldap) = LdapConnAsync::with_settings(conn_settings, &s.url)
                .await
                .map_err(|e| Open::Down(format!("connecting to {}: {e}", s.url)))?;
            tokio::spawn(async move {
                if let Err(e) = conn.drive().await {
                    tracing::debug!(error = %e, "directory connection ended");
                }
            });
            let res = ldap
                .simple_bind(&s.bind_dn, s.bind_password.expose())
                .await
                .map_err(|e| Open::Down(format!("service bind: {e}")))?;
            if res.rc != SUCCESS {
                return Err(Open::Refused(format!(
                    "service bind as {}: result {} {}",
                    s.bind_dn, res.rc, res.text
                )));
            }
            Ok(ldap)
        };
        match tokio::time::timeout(s.timeout, fut).await {
            Ok(r) => r,
            Err(_) => Err(Open::Down(format!("connecting to {}: timed out", s.url))),
        }
    }

    /// The shared bound connection, (re)opened when there is none or it has dropped.
    async fn handle(&self) -> Result<Ldap, DirectoryError> {
        let mut guard = self.conn.lock().await;
        if let Some(ldap) = guard.as_mut() {
            if !ldap.is_closed() {
                return Ok(ldap.clone());
            }
        }
        *guard = None;
        let ldap = self.open().await.map_err(|e| match e {
            Open::Down(m) | Open::Refused(m) => DirectoryError::Unavailable(m),
        })?;
        *guard = Some(ldap.clone());
        Ok(ldap)
    }

    /// Runs one request on the shared connection under the timeout. Transport failures drop the
    /// connection (the next request opens a new one) and become `Unavailable`.
    async fn run<T, F, Fut>(&self, what: &str, f: F) -> Result<T, DirectoryError>
    where
        F: FnOnce(Ldap) -> Fut,
        Fut: Future<Output = Result<T, LdapError>>,
    {
        let ldap = self.handle().await?;
        let failure = match tokio::time::timeout(self.settings.timeout, f(ldap)).await {
            Ok(Ok(v)) => return Ok(v),
            Ok(Err(e)) => format!("{what}: {e}"),
            Err(_) => format!("{what}: timed out"),
        };
        *self.conn.lock().await = None;
        Err(DirectoryError::Unavailable(failure))
    }

    async fn search(
        &self,
        base: &str,
        scope: Scope,
        filter: &str,
        attrs: &[String],
    ) -> Result<SearchResult, DirectoryError> {
        let go = || {
            let (base, filter, attrs) = (base.to_string(), filter.to_string(), attrs.to_vec());
            move |mut ldap: Ldap| async move { ldap.search(&base, scope, &filter, attrs).await }
        };
        // A read is safe to repeat: one retry on a fresh connection after a dropped one.
        match self.run("search", go()).await {
            Err(DirectoryError::Unavailable(_)) => self.run("search", go()).await,
            r => r,
        }
    }

    /// Looks an account up by the text a user typed. [`Directory::find`] takes a validated
    /// [`LoginName`]; this is the same lookup for any text, escaped per RFC 4515.
    pub async fn find_text(&self, login: &str) -> Result<Option<Account>, DirectoryError> {
        Ok(self.lookup(login).await?.map(|f| f.account))
    }

    /// The attributes an account is made of.
    fn account_attributes(&self) -> Vec<String> {
        let s = &self.settings;
        let mut attrs: Vec<String> = [
            "cn",
            "displayName",
            "memberOf",
            WORK_EMAIL_ATTRIBUTE,
            "department",
            "departmentNumber",
            "ou",
        ]
        .into_iter()
        .map(String::from)
        .collect();
        attrs.extend([
            s.mobile_attribute.clone(),
            s.alternate_email_attribute.clone(),
        ]);
        match s.flavour {
            LdapFlavour::Ad => {
                attrs.extend(["lockoutTime".into(), "userAccountControl".into()]);
            }
            LdapFlavour::Openldap => attrs.push("pwdAccountLockedTime".into()),
        }
        attrs
    }

    async fn lookup(&self, login: &str) -> Result<Option<Found>, DirectoryError> {
        let s = &self.settings;
        let filter = user_filter(&s.user_filter, login);
        let attrs = self.account_attributes();
        let SearchResult(entries, res) = self
            .search(&s.base_dn, Scope::Subtree, &filter, &attrs)
            .await?;
        if res.rc != SUCCESS {
            return Err(DirectoryError::Unavailable(format!(
                "user search: result {} {}",
                res.rc, res.text
            )));
        }
        let mut entries: Vec<SearchEntry> = entries.into_iter().filter_map(entry).collect();
        if entries.len() > 1 {
            return Err(DirectoryError::Unavailable(format!(
                "user filter matched {} entries; refusing to guess",
                entries.len()
            )));
        }
        let Some(entry) = entries.pop() else {
            return Ok(None);
        };
        let Ok(login_name) = LoginName::parse(login) else {
            return Ok(None);
        };
        let admin = self
            .is_admin(&entry.dn, &values(&entry, "memberOf"))
            .await?;
        let (account, lock_attribute_present) = map_entry(s, &entry, login_name, admin);
        Ok(Some(Found {
            dn: entry.dn,
            account,
            lock_attribute_present,
        }))
    }

    /// Every entry under `base_dn` matching `filter`, page by page: Active Directory answers a
    /// search without paging with at most 1000 entries (`MaxPageSize`). A read is safe to
    /// repeat: one retry on a fresh connection after a dropped one.
    async fn search_all(
        &self,
        what: &str,
        base: &str,
        filter: &str,
        attrs: &[String],
    ) -> Result<Vec<SearchEntry>, DirectoryError> {
        let (entries, res) = match self.search_all_once(what, base, filter, attrs).await {
            Err(DirectoryError::Unavailable(_)) => {
                self.search_all_once(what, base, filter, attrs).await?
            }
            r => r?,
        };
        expect_success(what, &res)?;
        Ok(entries)
    }

    async fn search_all_once(
        &self,
        what: &str,
        base: &str,
        filter: &str,
        attrs: &[String],
    ) -> Result<(Vec<SearchEntry>, ldap3::LdapResult), DirectoryError> {
        let mut ldap = self.handle().await?;
        let timeout = self.settings.timeout;
        // Each page, not the whole listing, must arrive within the timeout.
        let paged = async {
            let adapters: Vec<Box<dyn Adapter<String, Vec<String>>>> = vec![
                Box::new(EntriesOnly::new()),
                Box::new(PagedResults::new(PAGE_SIZE)),
            ];
            let mut stream = tokio::time::timeout(
                timeout,
                ldap.streaming_search_with(adapters, base, Scope::Subtree, filter, attrs.to_vec()),
            )
            .await
            .map_err(|_| format!("{what}: timed out"))?
            .map_err(|e| format!("{what}: {e}"))?;
            let mut entries = Vec::new();
            loop {
                match tokio::time::timeout(timeout, stream.next()).await {
                    Ok(Ok(Some(e))) => entries.extend(entry(e)),
                    Ok(Ok(None)) => break,
                    Ok(Err(e)) => return Err(format!("{what}: {e}")),
                    Err(_) => return Err(format!("{what}: timed out")),
                }
            }
            let res = tokio::time::timeout(timeout, stream.finish())
                .await
                .map_err(|_| format!("{what}: timed out"))?;
            Ok((entries, res))
        };
        match paged.await {
            Ok(v) => Ok(v),
            Err(failure) => {
                *self.conn.lock().await = None;
                Err(DirectoryError::Unavailable(failure))
            }
        }
    }

    /// The DNs (normalised) of the members of the admin groups, read once for a listing:
    /// OpenLDAP the groups' direct `member`/`uniqueMember` values (as [`Self::is_admin`] asks),
    /// AD every entry that is a member through nesting too.
    async fn admin_members(&self) -> Result<HashSet<String>, DirectoryError> {
        let mut members = HashSet::new();
        for group in &self.settings.admin_groups {
            match self.settings.flavour {
                LdapFlavour::Openldap => {
                    let attrs = ["member".to_string(), "uniqueMember".to_string()];
                    let SearchResult(entries, res) = self
                        .search(group, Scope::Base, "(objectClass=*)", &attrs)
                        .await?;
                    match res.rc {
                        SUCCESS => {}
                        NO_SUCH_OBJECT => {
                            tracing::warn!(group = %group, "admin group does not exist");
                            continue;
                        }
                        _ => expect_success("admin group members", &res)?,
                    }
                    for e in entries.into_iter().filter_map(entry) {
                        for attr in ["member", "uniqueMember"] {
                            // uniqueMember may carry a `#'…'B` unique id after the DN.
                            members.extend(values(&e, attr).iter().map(|m| {
                                let dn = m.split_once('#').map_or(m.as_str(), |(dn, _)| dn);
                                normalise_dn(dn)
                            }));
                        }
                    }
                }
                LdapFlavour::Ad => {
                    let filter = format!("(memberOf:{IN_CHAIN}:={})", ldap_escape(group));
                    let base = self.settings.base_dn.clone();
                    let found = self
                        .search_all("admin group members", &base, &filter, &["1.1".into()])
                        .await?;
                    members.extend(found.iter().map(|e| normalise_dn(&e.dn)));
                }
            }
        }
        Ok(members)
    }

    /// Member of a configured admin group: `memberOf` when the directory keeps it, otherwise
    /// (or for nested AD groups) asked of the group itself.
    async fn is_admin(&self, dn: &str, member_of: &[String]) -> Result<bool, DirectoryError> {
        let groups = &self.settings.admin_groups;
        if groups
            .iter()
            .any(|g| member_of.iter().any(|m| same_dn(g, m)))
        {
            return Ok(true);
        }
        let dn = ldap_escape(dn);
        let filter = match self.settings.flavour {
            LdapFlavour::Ad => format!("(member:{IN_CHAIN}:={dn})"),
            LdapFlavour::Openldap => format!("(|(member={dn})(uniqueMember={dn}))"),
        };
        for group in groups {
            let SearchResult(entries, res) = self
                .search(group, Scope::Base, &filter, &["1.1".to_string()])
                .await?;
            match res.rc {
                SUCCESS if entries.iter().any(|e| !e.is_ref()) => return Ok(true),
                SUCCESS => {}
                NO_SUCH_OBJECT => tracing::warn!(group = %group, "admin group does not exist"),
                rc => {
                    return Err(DirectoryError::Unavailable(format!(
                        "admin group check: result {rc} {}",
                        res.text
                    )))
                }
            }
        }
        Ok(false)
    }

    /// The entry for a login that may be changed: unknown or disabled accounts are `NotFound`.
    async fn changeable(&self, login: &LoginName) -> Result<Found, DirectoryError> {
        match self.lookup(login.as_str()).await? {
            Some(f) if !f.account.disabled => Ok(f),
            _ => Err(DirectoryError::NotFound),
        }
    }

    async fn modify(
        &self,
        what: &str,
        dn: &str,
        mods: Vec<Mod<Vec<u8>>>,
    ) -> Result<ldap3::LdapResult, DirectoryError> {
        let dn = dn.to_string();
        self.run(what, move |mut ldap: Ldap| async move {
            ldap.modify(&dn, mods).await
        })
        .await
    }

    async fn clear_lockout(&self, dn: &str) -> Result<(), DirectoryError> {
        match self.settings.flavour {
            LdapFlavour::Ad => {
                let res = self
                    .modify("unlock", dn, vec![replace("lockoutTime", b"0".to_vec())])
                    .await?;
                expect_success("unlock", &res)
            }
            LdapFlavour::Openldap => {
                let res = self
                    .modify(
                        "unlock",
                        dn,
                        vec![Mod::Delete(
                            b"pwdAccountLockedTime".to_vec(),
                            HashSet::new(),
                        )],
                    )
                    .await?;
                if res.rc != NO_SUCH_ATTRIBUTE {
                    expect_success("unlock", &res)?;
                }
                // The failure times go too, or the next wrong password would lock again at
                // once. `pwdFailureTime` is not user-modifiable: it takes the Relax Rules
                // control and `manage` access. Without them the account is still unlocked.
                let dn = dn.to_string();
                let res = self
                    .run("unlock", move |mut ldap: Ldap| async move {
                        let relax = RawControl {
                            ctype: RELAX_CONTROL.into(),
                            crit: true,
                            val: None,
                        };
                        ldap.with_controls(relax)
                            .modify(
                                &dn,
                                vec![Mod::Delete(b"pwdFailureTime".to_vec(), HashSet::new())],
                            )
                            .await
                    })
                    .await?;
                if res.rc != SUCCESS && res.rc != NO_SUCH_ATTRIBUTE {
                    tracing::warn!(
                        rc = res.rc,
                        text = %res.text,
                        "unlocked, but could not clear pwdFailureTime (grant manage on it)"
                    );
                }
                Ok(())
            }
        }
    }
}

enum Open {
    /// Could not reach the directory (or it timed out).
    Down(String),
    /// Reached it, but the service bind was refused.
    Refused(String),
}

fn replace(attr: &str, value: Vec<u8>) -> Mod<Vec<u8>> {
    Mod::Replace(attr.as_bytes().to_vec(), HashSet::from([value]))
}

fn expect_success(what: &str, res: &ldap3::LdapResult) -> Result<(), DirectoryError> {
    if res.rc == SUCCESS {
        Ok(())
    } else {
        Err(DirectoryError::Unavailable(format!(
            "{what}: result {} {}",
            res.rc, res.text
        )))
    }
}

fn same_dn(a: &str, b: &str) -> bool {
    normalise_dn(a) == normalise_dn(b)
}

/// A DN for comparison: RDNs trimmed and lower-cased.
fn normalise_dn(dn: &str) -> String {
    dn.split(',')
        .map(|p| p.trim().to_lowercase())
        .collect::<Vec<_>>()
        .join(",")
}

/// A search result entry, or `None` for a referral, an intermediate message or anything
/// malformed. `SearchEntry::construct` panics on a malformed entry; this never does.
fn entry(re: ldap3::ResultEntry) -> Option<SearchEntry> {
    let mut tags = re.0.match_id(4)?.expect_constructed()?.into_iter();
    let dn = String::from_utf8(tags.next()?.expect_primitive()?).ok()?;
    let mut attrs: HashMap<String, Vec<String>> = HashMap::new();
    for partial in tags.next()?.expect_constructed()? {
        let mut parts = partial.expect_constructed()?.into_iter();
        let name = String::from_utf8(parts.next()?.expect_primitive()?).ok()?;
        let mut texts = Vec::new();
        for value in parts.next()?.expect_constructed()? {
            // Binary values (photos, certificates) are not wanted here.
            if let Ok(text) = String::from_utf8(value.expect_primitive()?) {
                texts.push(text);
            }
        }
        attrs.insert(name, texts);
    }
    Some(SearchEntry {
        dn,
        attrs,
        bin_attrs: HashMap::new(),
    })
}

/// All values of an attribute (names compare case-insensitively).
fn values(entry: &SearchEntry, attr: &str) -> Vec<String> {
    entry
        .attrs
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(attr))
        .map(|(_, v)| v.clone())
        .unwrap_or_default()
}

/// The first value of an attribute that is not blank.
fn first<'e>(entry: &'e SearchEntry, attr: &str) -> Option<&'e str> {
    entry
        .attrs
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case(attr))
        .flat_map(|(_, v)| v.iter())
        .map(String::as_str)
        .find(|v| !v.trim().is_empty())
}

/// An entry as an account, and whether its lockout attribute is present. `admin` is decided
/// by the caller (it may take more searches).
fn map_entry(s: &Settings, entry: &SearchEntry, login: LoginName, admin: bool) -> (Account, bool) {
    let first = |attr: &str| first(entry, attr);
    let display_name = first("displayName")
        .or_else(|| first("cn"))
        .unwrap_or(login.as_str())
        .to_string();
    let (locked, disabled, lock_attribute_present) = match s.flavour {
        LdapFlavour::Ad => {
            let lockout = first("lockoutTime").and_then(|v| v.trim().parse::<i64>().ok());
            let uac = first("userAccountControl")
                .and_then(|v| v.trim().parse::<i64>().ok())
                .unwrap_or(0);
            (lockout.unwrap_or(0) > 0, uac & 2 != 0, lockout.is_some())
        }
        LdapFlavour::Openldap => {
            let at = first("pwdAccountLockedTime");
            (at.is_some(), at == Some(ADMIN_LOCK), at.is_some())
        }
    };
    // When the configured alternate (private) address is kept in `mail` itself, `mail` is not
    // the work mailbox: a proof code sent there would prove nothing.
    let work_email = if s
        .alternate_email_attribute
        .eq_ignore_ascii_case(WORK_EMAIL_ATTRIBUTE)
    {
        None
    } else {
        first(WORK_EMAIL_ATTRIBUTE).and_then(|v| EmailAddress::parse(v.trim()).ok())
    };
    let department = ["department", "departmentNumber", "ou"]
        .into_iter()
        .find_map(|attr| first(attr).and_then(super::department))
        .or_else(|| dn_ou(&entry.dn));
    let account = Account {
        login,
        display_name,
        locked,
        disabled,
        admin,
        mobile: first(&s.mobile_attribute).and_then(|v| PhoneNumber::parse(v).ok()),
        alternate_email: first(&s.alternate_email_attribute)
            .and_then(|v| EmailAddress::parse(v.trim()).ok()),
        work_email,
        department,
    };
    (account, lock_attribute_present)
}

/// The value of the first `OU=` component of a DN after the entry's own name:
/// `CN=Eva,OU=Finance,OU=Staff,DC=bedrijf,DC=nl` is in `Finance`.
pub fn dn_ou(dn: &str) -> Option<String> {
    dn_components(dn)
        .into_iter()
        .skip(1)
        .find_map(|(attr, value)| attr.eq_ignore_ascii_case("ou").then_some(value))
        .and_then(|v| super::department(&v))
}

/// A DN's components as (attribute, unescaped value), per RFC 4514 (`\,`, `\2C`).
fn dn_components(dn: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let (mut attr, mut value) = (String::new(), Vec::<u8>::new());
    let mut in_value = false;
    let bytes = dn.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        match b {
            b'\\' if in_value => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match (hex, bytes.get(i + 1)) {
                    (Some(h), _) => {
                        value.push(h);
                        i += 2;
                    }
                    (None, Some(&c)) => {
                        value.push(c);
                        i += 1;
                    }
                    (None, None) => {}
                }
            }
            b'=' if !in_value => in_value = true,
            b',' | b';' => {
                out.push((
                    attr.trim().to_string(),
                    String::from_utf8_lossy(&value).trim().to_string(),
                ));
                attr.clear();
                value.clear();
                in_value = false;
            }
            _ if in_value => value.push(b),
            _ => attr.push(char::from(b)),
        }
        i += 1;
    }
    if in_value || !attr.trim().is_empty() {
        out.push((
            attr.trim().to_string(),
            String::from_utf8_lossy(&value).trim().to_string(),
        ));
    }
    out
}

/// The search for every account a user filter can find: `{login}` becomes `*` (any value;
/// `(uid={login})` becomes the presence filter `(uid=*)`), and for AD only people's user
/// objects (no computers, contacts or managed service accounts). Also the attributes compared
/// with `{login}`, where an entry's login name is read, in order.
pub fn list_filter(template: &str, flavour: LdapFlavour) -> (String, Vec<String>) {
    let mut login_attributes: Vec<String> = Vec::new();
    let mut rest = template;
    while let Some(at) = rest.find("={login}") {
        let before = &rest[..at];
        let start = before.rfind(['(', '&', '|', '!']).map_or(0, |i| i + 1);
        // `attr:dn:rule:=` and `attr;option=` compare `attr`; `~=`, `>=`, `<=` are not equality.
        let name = before[start..]
            .split([':', ';'])
            .next()
            .unwrap_or("")
            .trim();
        let plain = !before.ends_with(['~', '>', '<']);
        if plain
            && !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
            && !login_attributes
                .iter()
                .any(|a| a.eq_ignore_ascii_case(name))
        {
            login_attributes.push(name.to_string());
        }
        rest = &rest[at + "={login}".len()..];
    }
    if login_attributes.is_empty() {
        login_attributes.push(match flavour {
            LdapFlavour::Ad => "userPrincipalName".into(),
            LdapFlavour::Openldap => "uid".into(),
        });
    }
    let mut filter = template.trim().replace("{login}", "*");
    while filter.contains("**") {
        filter = filter.replace("**", "*");
    }
    if !filter.starts_with('(') {
        filter = format!("({filter})");
    }
    let filter = match flavour {
        LdapFlavour::Ad => format!("(&(objectCategory=person)(objectClass=user){filter})"),
        LdapFlavour::Openldap => filter,
    };
    (filter, login_attributes)
}

/// The search filter for a login: `{login}` replaced by the login, escaped per RFC 4515 so
/// `*`, `(`, `)`, `\` and NUL match themselves only.
pub fn user_filter(template: &str, login: &str) -> String {
    template.replace("{login}", &ldap_escape(login))
}

/// AD's `unicodePwd` value: the password in double quotes, UTF-16LE.
pub fn ad_unicode_pwd(password: &str) -> Vec<u8> {
    format!("\"{password}\"")
        .encode_utf16()
        .flat_map(u16::to_le_bytes)
        .collect()
}

/// The error code in a ppolicy response control (`PasswordPolicyResponseValue`, whose optional
/// `error [1] ENUMERATED` says which rule failed), if there is one.
pub fn ppolicy_error(value: &[u8]) -> Option<u8> {
    let (&tag, rest) = value.split_first()?;
    if tag != 0x30 {
        return None;
    }
    let (len, mut body) = ber_len(rest)?;
    body = body.get(..len)?;
    while let Some((&tag, rest)) = body.split_first() {
        let (len, rest) = ber_len(rest)?;
        let content = rest.get(..len)?;
        if tag == 0x81 && len == 1 {
            return Some(content[0]);
        }
        body = &rest[len..];
    }
    None
}

fn ber_len(b: &[u8]) -> Option<(usize, &[u8])> {
    let (&first, rest) = b.split_first()?;
    if first < 0x80 {
        return Some((first as usize, rest));
    }
    let n = (first & 0x7f) as usize;
    if n == 0 || n > 4 || rest.len() < n {
        return None;
    }
    let len = rest[..n]
        .iter()
        .fold(0usize, |acc, &x| (acc << 8) | x as usize);
    Some((len, &rest[n..]))
}

/// Which rule a directory's refusal of a new password names, from the result code, the
/// diagnostic text (OpenLDAP ppolicy, Samba and Windows AD) and the ppolicy response control's
/// error code. `None`: not a password rule (access rights, a missing TLS layer, …): the
/// directory is then treated as unavailable, and nothing was changed.
pub fn rejection_rule(rc: u32, text: &str, ppolicy: Option<u8>) -> Option<DirectoryRule> {
    if rc == SUCCESS {
        return None;
    }
    match ppolicy {
        Some(5) => return Some(DirectoryRule::Complexity),
        Some(6) => return Some(DirectoryRule::TooShort),
        Some(7) => return Some(DirectoryRule::TooYoung),
        Some(8) => return Some(DirectoryRule::History),
        _ => {}
    }
    let t = text.to_lowercase();
    let ad_policy = t.contains("0000052d");
    if rc != CONSTRAINT_VIOLATION && !(rc == UNWILLING_TO_PERFORM && ad_policy) {
        return None;
    }
    let rule = if t.contains("history") || t.contains("not being changed from existing value") {
        DirectoryRule::History
    } else if t.contains("too young") {
        DirectoryRule::TooYoung
    } else if t.contains("too short") {
        DirectoryRule::TooShort
    } else if t.contains("complexity") || t.contains("quality") {
        DirectoryRule::Complexity
    } else {
        // Windows AD says only 0000052D (ERROR_PASSWORD_RESTRICTION): length, complexity or
        // history, it does not tell which.
        DirectoryRule::Other
    };
    Some(rule)
}

fn password_outcome(res: &ldap3::LdapResult) -> Result<(), DirectoryError> {
    if res.rc == SUCCESS {
        return Ok(());
    }
    let pp = res
        .ctrls
        .iter()
        .find(|c| c.1.ctype == PPOLICY_CONTROL)
        .and_then(|c| c.1.val.as_deref())
        .and_then(ppolicy_error);
    match rejection_rule(res.rc, &res.text, pp) {
        Some(rule) => Err(DirectoryError::Rejected(rule)),
        None => Err(DirectoryError::Unavailable(format!(
            "password change: result {} {}",
            res.rc, res.text
        ))),
    }
}

#[async_trait]
impl Directory for LdapDirectory {
    async fn find(&self, login: &LoginName) -> Result<Option<Account>, DirectoryError> {
        self.find_text(login.as_str()).await
    }

    async fn reset_password(
        &self,
        login: &LoginName,
        password: &NewPassword,
    ) -> Result<(), DirectoryError> {
        let found = self.changeable(login).await?;
        match self.settings.flavour {
            LdapFlavour::Ad => {
                let res = self
                    .modify(
                        "password change",
                        &found.dn,
                        vec![replace("unicodePwd", ad_unicode_pwd(password.expose()))],
                    )
                    .await?;
                password_outcome(&res)?;
                let mut mods = vec![replace("lockoutTime", b"0".to_vec())];
                if self.settings.must_change_at_next_sign_in {
                    mods.push(replace("pwdLastSet", b"0".to_vec()));
                }
                let res = self
                    .modify("after password change", &found.dn, mods)
                    .await?;
                expect_success("after password change", &res)
            }
            LdapFlavour::Openldap => {
                let dn = found.dn.clone();
                let new = password.expose().to_string();
                let res = self
                    .run("password change", move |mut ldap: Ldap| async move {
                        let control = RawControl {
                            ctype: PPOLICY_CONTROL.into(),
                            crit: false,
                            val: None,
                        };
                        ldap.with_controls(control)
                            .extended(PasswordModify {
                                user_id: Some(&dn),
                                old_pass: None,
                                new_pass: Some(&new),
                            })
                            .await
                    })
                    .await?;
                password_outcome(&res.1)?;
                if found.lock_attribute_present {
                    self.clear_lockout(&found.dn).await?;
                }
                Ok(())
            }
        }
    }

    async fn unlock(&self, login: &LoginName) -> Result<(), DirectoryError> {
        let found = self.changeable(login).await?;
        self.clear_lockout(&found.dn).await
    }

    async fn ping(&self) -> Result<(), DirectoryError> {
        let res = self
            .run("ping", |mut ldap: Ldap| async move {
                ldap.extended(WhoAmI).await
            })
            .await?;
        expect_success("ping", &res.1)
    }

    async fn list_accounts(&self) -> Result<Vec<Account>, DirectoryError> {
        let s = &self.settings;
        let (filter, login_attributes) = list_filter(&s.user_filter, s.flavour);
        let mut attrs = self.account_attributes();
        attrs.extend(login_attributes.iter().cloned());
        let entries = self
            .search_all("account list", &s.base_dn, &filter, &attrs)
            .await?;
        let admins = if s.admin_groups.is_empty() {
            HashSet::new()
        } else {
            self.admin_members().await?
        };
        let mut accounts = Vec::with_capacity(entries.len());
        let mut skipped = 0usize;
        for e in &entries {
            let login = login_attributes
                .iter()
                .flat_map(|attr| values(e, attr))
                .find_map(|v| LoginName::parse(&v).ok());
            let Some(login) = login else {
                skipped += 1;
                continue;
            };
            let member_of = values(e, "memberOf");
            let admin = admins.contains(&normalise_dn(&e.dn))
                || s.admin_groups
                    .iter()
                    .any(|g| member_of.iter().any(|m| same_dn(g, m)));
            accounts.push(map_entry(s, e, login, admin).0);
        }
        if skipped > 0 {
            tracing::info!(
                skipped,
                "account list: entries without a login name ({}) left out",
                login_attributes.join(", ")
            );
        }
        accounts.sort_by(|a, b| a.login.as_str().cmp(b.login.as_str()));
        accounts.dedup_by(|a, b| a.login == b.login);
        Ok(accounts)
    }
}

/// A TLS client trusting exactly the certificates in the PEM file `ca` (the company's own CA).
fn client_config(ca: &std::path::Path) -> anyhow::Result<Arc<rustls::ClientConfig>> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::CertificateDer;
    let mut roots = rustls::RootCertStore::empty();
    for cert in
        CertificateDer::pem_file_iter(ca).with_context(|| format!("reading {}", ca.display()))?
    {
        let cert = cert.with_context(|| format!("a certificate in {}", ca.display()))?;
        roots
            .add(cert)
            .with_context(|| format!("a certificate in {}", ca.display()))?;
    }
    if roots.is_empty() {
        bail!("no certificate in {}", ca.display());
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ad_password_is_quoted_utf16le() {
        let mut want = Vec::new();
        for c in "\"pässword\"".encode_utf16() {
            want.extend_from_slice(&c.to_le_bytes());
        }
        assert_eq!(ad_unicode_pwd("pässword"), want);
        assert_eq!(
            ad_unicode_pwd("pä"),
            vec![0x22, 0x00, 0x70, 0x00, 0xe4, 0x00, 0x22, 0x00]
        );
        // Outside the BMP: a surrogate pair.
        assert_eq!(
            ad_unicode_pwd("😀"),
            vec![0x22, 0x00, 0x3d, 0xd8, 0x00, 0xde, 0x22, 0x00]
        );
    }

    #[test]
    fn filter_metacharacters_are_escaped() {
        assert_eq!(
            user_filter("(uid={login})", "*)(uid=*"),
            "(uid=\\2a\\29\\28uid=\\2a)"
        );
        assert_eq!(
            user_filter(
                "(&(objectClass=user)(userPrincipalName={login}))",
                "a\\b\0@x.nl"
            ),
            "(&(objectClass=user)(userPrincipalName=a\\5cb\\00@x.nl))"
        );
        assert_eq!(
            user_filter("(mail={login})", "e.jansen@bedrijf.nl"),
            "(mail=e.jansen@bedrijf.nl)"
        );
    }

    #[test]
    fn ppolicy_texts_map_to_rules() {
        let cases = [
            (
                "Password fails quality checking policy",
                DirectoryRule::Complexity,
            ),
            (
                "Password is in history of old passwords",
                DirectoryRule::History,
            ),
            (
                "Password is not being changed from existing value",
                DirectoryRule::History,
            ),
            ("Password is too young to change", DirectoryRule::TooYoung),
            ("Password is too short for policy", DirectoryRule::TooShort),
            ("something else entirely", DirectoryRule::Other),
        ];
        for (text, rule) in cases {
            assert_eq!(rejection_rule(19, text, None), Some(rule), "{text}");
        }
    }

    #[test]
    fn ppolicy_control_error_wins_over_text() {
        // "fails quality checking policy" is also what a too-short password says.
        let text = "Password fails quality checking policy";
        assert_eq!(
            rejection_rule(19, text, Some(6)),
            Some(DirectoryRule::TooShort)
        );
        assert_eq!(
            rejection_rule(19, text, Some(5)),
            Some(DirectoryRule::Complexity)
        );
        assert_eq!(
            rejection_rule(19, "", Some(7)),
            Some(DirectoryRule::TooYoung)
        );
        assert_eq!(
            rejection_rule(19, "", Some(8)),
            Some(DirectoryRule::History)
        );
    }

    #[test]
    fn ad_and_samba_texts_map_to_rules() {
        let cases = [
            (19, "0000052D: Constraint violation - check_password_restrictions: the password is too short. It should be equal or longer than 7 characters!", DirectoryRule::TooShort),
            (19, "0000052D: Constraint violation - check_password_restrictions: the password does not meet the complexity criteria!", DirectoryRule::Complexity),
            (19, "0000052D: Constraint violation - check_password_restrictions: the password was already used (in history)!", DirectoryRule::History),
            (19, "0000052D: Constraint violation - check_password_restrictions: password is too young to change!", DirectoryRule::TooYoung),
            (19, "0000052D: AtrErr: DSID-03191083, #1:\n\t0: 0000052D: DSID-03191083, problem 1005 (CONSTRAINT_ATT_TYPE), data 0, Att 9005a (unicodePwd)\n", DirectoryRule::Other),
            (53, "0000052D: SvcErr: DSID-031A120C, problem 5003 (WILL_NOT_PERFORM), data 0", DirectoryRule::Other),
        ];
        for (rc, text, rule) in cases {
            assert_eq!(rejection_rule(rc, text, None), Some(rule), "{text}");
        }
    }

    #[test]
    fn non_policy_failures_are_not_rejections() {
        // AD refuses unicodePwd over an unencrypted connection: configuration, not a rule.
        assert_eq!(
            rejection_rule(
                53,
                "0000001F: SvcErr: DSID-031A12D2, problem 5003 (WILL_NOT_PERFORM), data 0",
                None
            ),
            None
        );
        assert_eq!(rejection_rule(50, "no write access", None), None);
        assert_eq!(rejection_rule(0, "", None), None);
    }

    #[test]
    fn ppolicy_response_values_parse() {
        // As slapd sends them (seen with `ldappasswd -e ppolicy`).
        assert_eq!(ppolicy_error(&[0x30, 0x03, 0x81, 0x01, 0x06]), Some(6));
        assert_eq!(ppolicy_error(&[0x30, 0x03, 0x81, 0x01, 0x08]), Some(8));
        // A warning only (timeBeforeExpiration 300), no error.
        assert_eq!(
            ppolicy_error(&[0x30, 0x06, 0xa0, 0x04, 0x80, 0x02, 0x01, 0x2c]),
            None
        );
        // Warning and error.
        assert_eq!(
            ppolicy_error(&[0x30, 0x09, 0xa0, 0x04, 0x80, 0x02, 0x01, 0x2c, 0x81, 0x01, 0x01]),
            Some(1)
        );
        assert_eq!(ppolicy_error(&[]), None);
        assert_eq!(ppolicy_error(&[0x30, 0x05, 0x81]), None);
        assert_eq!(ppolicy_error(&[0x04, 0x00]), None);
    }

    #[test]
    fn the_list_filter_matches_any_login_and_names_the_login_attributes() {
        let list = |t: &str, f| list_filter(t, f);
        assert_eq!(
            list("(uid={login})", LdapFlavour::Openldap),
            ("(uid=*)".to_string(), vec!["uid".to_string()])
        );
        assert_eq!(
            list("(userPrincipalName={login})", LdapFlavour::Ad),
            (
                "(&(objectCategory=person)(objectClass=user)(userPrincipalName=*))".to_string(),
                vec!["userPrincipalName".to_string()]
            )
        );
        assert_eq!(
            list(
                "(&(objectClass=inetOrgPerson)(|(uid={login})(mail={login})(UID={login})))",
                LdapFlavour::Openldap
            ),
            (
                "(&(objectClass=inetOrgPerson)(|(uid=*)(mail=*)(UID=*)))".to_string(),
                vec!["uid".to_string(), "mail".to_string()]
            )
        );
        // A substring around {login} stays one wildcard; an approximate match names nothing.
        assert_eq!(
            list("(&(mail={login}*)(cn~={login}))", LdapFlavour::Openldap),
            ("(&(mail=*)(cn~=*))".to_string(), vec!["mail".to_string()])
        );
        assert_eq!(
            list("uid={login}", LdapFlavour::Openldap).0,
            "(uid=*)".to_string()
        );
        // Nothing to read a login from: the flavour's default attribute.
        assert_eq!(
            list("(description>={login})", LdapFlavour::Ad).1,
            vec!["userPrincipalName".to_string()]
        );
    }

    #[test]
    fn the_department_of_a_dn_is_its_first_ou_after_the_entry_itself() {
        assert_eq!(
            dn_ou("CN=Eva Jansen,OU=Finance,OU=Staff,DC=bedrijf,DC=nl").as_deref(),
            Some("Finance")
        );
        assert_eq!(
            dn_ou("cn=Smit\\, Jan,ou=Verkoop \\2B Service,dc=bedrijf,dc=nl").as_deref(),
            Some("Verkoop + Service")
        );
        assert_eq!(
            dn_ou("uid=e.jansen@bedrijf.nl, ou=people, dc=bedrijf, dc=nl").as_deref(),
            Some("people")
        );
        assert_eq!(dn_ou("ou=Top,dc=bedrijf,dc=nl"), None);
        assert_eq!(dn_ou("uid=x,dc=bedrijf,dc=nl"), None);
        assert_eq!(dn_ou(""), None);
        assert_eq!(dn_ou("cn=x,ou=,dc=nl"), None);
        // Broken escapes and odd bytes do not panic.
        for dn in [
            "cn=x,ou=\\",
            "cn=x,ou=\\z",
            "=,=,ou",
            "ou=é\\C3\\A9,ou=ü",
            ",,,",
        ] {
            let _ = dn_ou(dn);
        }
    }

    #[test]
    fn dn_comparison_ignores_case_and_spacing() {
        assert!(same_dn(
            "CN=Domain Admins,CN=Users,DC=bedrijf,DC=nl",
            "cn=domain admins, cn=users, dc=bedrijf, dc=nl"
        ));
        assert!(!same_dn("cn=a,dc=x", "cn=b,dc=x"));
    }

    #[test]
    fn a_ca_file_becomes_the_only_trust_anchor_and_a_bad_one_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        assert!(client_config(&empty).is_err());
        assert!(client_config(&dir.path().join("missing.pem")).is_err());
        // Any real CA bundle will do; Debian ships one with ca-certificates.
        let system = std::path::Path::new("/etc/ssl/certs/ca-certificates.crt");
        if system.exists() {
            assert!(client_config(system).is_ok());
        }
    }
}
