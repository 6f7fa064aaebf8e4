//! Microsoft Entra ID through Microsoft Graph (`backend = "graph"`).
//!
//! The bot signs in as an application with the OAuth 2.0 client-credentials grant
//! (`POST {login_url}/{tenant}/oauth2/v2.0/token`, scope `https://graph.microsoft.com/.default`)
//! and keeps the access token until shortly before it expires. A 401 from Graph (token expired or
//! revoked) fetches a new token once and repeats that request once.
//!
//! * `find`: `GET /v1.0/users/{upn}` (`accountEnabled`, `displayName`), the registered methods from
//!   `/authentication/phoneMethods` (the `mobile` one) and `/authentication/emailMethods`
//!   (falling back to the user's `mobilePhone` and `otherMails` when the app may not read the
//!   methods), and admin status via `POST /checkMemberGroups` against `admin_groups` (group object
//!   ids).
//! * `reset_password`: `PATCH /v1.0/users/{id}` with a `passwordProfile`; Entra's password rules
//!   come back as a 400, mapped to [`DirectoryError::Rejected`].
//! * `unlock`: Entra's smart lockout cannot be cleared through Graph; it ends on its own, and a
//!   password reset works while it lasts. [`DirectoryError::UnlockUnsupported`] says so.
//! * `list_accounts` (the admin report): `GET /v1.0/users?$select=…&$top=999`, following
//!   `@odata.nextLink` (only to the configured Graph host: the token goes with it), with each
//!   user's `mobilePhone`/`otherMails` instead of two method reads per user; admins are the
//!   transitive members of `admin_groups` (`/groups/{id}/transitiveMembers/microsoft.graph.user`).
//!
//! `mail` is the work mailbox ([`Account::work_email`]) and `department` the department.
//!
//! A 429 or 503 with a `Retry-After` of at most [`MAX_RETRY_AFTER_SECS`] is waited out and the
//! request repeated once; anything else that is not Graph's answer is
//! [`DirectoryError::Unavailable`], whose text never holds the client secret, the access token or
//! a password.
//!
//! # Permissions
//!
//! The app registration needs the *application* permissions `User.Read.All` (find users,
//! `ping`), `UserAuthenticationMethod.Read.All` (read the phone and e-mail methods; without it the
//! user's `mobilePhone`/`otherMails` are used), `GroupMember.Read.All` (when `admin_groups` is set)
//! and `User-PasswordProfile.ReadWrite.All` (reset passwords), with admin consent. Entra also
//! requires the app's service principal to hold a directory role that may reset the target user
//! (e.g. *User Administrator* or *Helpdesk Administrator*, possibly scoped to an administrative
//! unit); Graph answers 403 `Authorization_RequestDenied` for users beyond that role (such as
//! global administrators), which the bot reports as the directory being unavailable.

use std::time::{Duration, Instant};

use anyhow::Context;
use async_trait::async_trait;
use reqwest::{Method, StatusCode, Url};
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::sync::Mutex;

use super::{Account, Directory, DirectoryError};
use crate::config::{DirectoryConfig, Secret};
use crate::dialogue::DirectoryRule;
use crate::domain::{EmailAddress, LoginName, NewPassword, PhoneNumber};
use crate::providers::scrub;

/// The longest `Retry-After` the bot waits out inside a chat turn; longer throttling is reported
/// as unavailable straight away.
pub const MAX_RETRY_AFTER_SECS: u64 = 10;

/// A token is renewed this long before Entra says it expires.
const TOKEN_MARGIN_SECS: u64 = 120;

const SCOPE: &str = "https://graph.microsoft.com/.default";

const USER_SELECT: &str =
    "id,userPrincipalName,displayName,accountEnabled,mobilePhone,otherMails,mail,department";

/// Users per page of a listing (Graph's maximum for `/users`).
const PAGE_SIZE: u32 = 999;

/// A listing that has not ended after this many pages is refused (a `@odata.nextLink` loop).
const MAX_PAGES: usize = 100_000;

/// `checkMemberGroups` takes at most this many group ids per request.
const MEMBER_GROUPS_BATCH: usize = 20;

pub struct GraphDirectory {
    client: reqwest::Client,
    graph_url: String,
    token_url: String,
    client_id: String,
    client_secret: Secret,
    admin_groups: Vec<String>,
    force_change: bool,
    timeout_secs: u64,
    token: Mutex<Option<CachedToken>>,
}

struct CachedToken {
    value: Secret,
    renew_at: Instant,
}

impl std::fmt::Debug for GraphDirectory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GraphDirectory")
            .field("graph_url", &self.graph_url)
            .field("token_url", &self.token_url)
            .field("client_id", &self.client_id)
            .field("client_secret", &self.client_secret)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GraphUser {
    id: String,
    user_principal_name: Option<String>,
    display_name: Option<String>,
    account_enabled: Option<bool>,
    mobile_phone: Option<String>,
    #[serde(default, deserialize_with = "null_as_empty")]
    other_mails: Vec<String>,
    mail: Option<String>,
    department: Option<String>,
}

/// Graph sends `null` for an empty collection property now and then.
fn null_as_empty<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    Ok(Option::<Vec<String>>::deserialize(d)?.unwrap_or_default())
}

#[derive(Deserialize)]
struct Collection<T> {
    #[serde(default = "Vec::new")]
    value: Vec<T>,
}

/// One page of a listing.
#[derive(Deserialize)]
struct Page<T> {
    #[serde(default = "Vec::new")]
    value: Vec<T>,
    #[serde(rename = "@odata.nextLink")]
    next_link: Option<String>,
}

/// A directory object of a group's membership.
#[derive(Deserialize)]
struct Member {
    id: String,
}

impl GraphUser {
    /// The account, with the phone and e-mail methods `find` read (or the user's attributes).
    fn account(
        self,
        login: LoginName,
        methods: Option<(Option<PhoneNumber>, Option<EmailAddress>)>,
        admin: bool,
    ) -> Account {
        let (mobile, alternate_email) = methods.unwrap_or_else(|| {
            (
                self.mobile_phone
                    .as_deref()
                    .and_then(|p| PhoneNumber::parse(p).ok()),
                self.other_mails
                    .iter()
                    .find_map(|m| EmailAddress::parse(m).ok()),
            )
        });
        Account {
            display_name: self
                .display_name
                .filter(|n| !n.trim().is_empty())
                .unwrap_or_else(|| login.as_str().to_string()),
            login,
            // Smart lockout is not visible through Graph.
            locked: false,
            disabled: !self.account_enabled.unwrap_or(true),
            admin,
            mobile,
            alternate_email,
            work_email: self
                .mail
                .as_deref()
                .and_then(|m| EmailAddress::parse(m.trim()).ok()),
            department: self.department.as_deref().and_then(super::department),
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PhoneMethod {
    phone_number: Option<String>,
    phone_type: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct EmailMethod {
    email_address: Option<String>,
}

#[derive(Deserialize)]
struct GraphErrorBody {
    error: GraphError,
}

#[derive(Deserialize, Default)]
struct GraphError {
    #[serde(default)]
    code: String,
    #[serde(default)]
    message: String,
}

/// A Graph answer that is not a transport failure, throttling or an authentication problem.
struct Answer {
    status: StatusCode,
    body: String,
}

impl Answer {
    fn json<T: serde::de::DeserializeOwned>(&self, what: &str) -> Result<T, DirectoryError> {
        serde_json::from_str(&self.body).map_err(|e| {
            DirectoryError::Unavailable(format!("unexpected answer from Graph ({what}): {e}"))
        })
    }

    fn error(&self) -> GraphError {
        serde_json::from_str::<GraphErrorBody>(&self.body)
            .map(|b| b.error)
            .unwrap_or_default()
    }
}

impl GraphDirectory {
    pub fn new(config: &DirectoryConfig) -> anyhow::Result<Self> {
        let tenant_id = config
            .tenant_id
            .clone()
            .filter(|s| !s.trim().is_empty())
            .context("directory.tenant_id is required for Graph")?;
        if !tenant_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
        {
            anyhow::bail!("directory.tenant_id must be a tenant id (GUID) or domain name");
        }
        let client_id = config
            .client_id
            .clone()
            .filter(|s| !s.trim().is_empty())
            .context("directory.client_id is required for Graph")?;
        let client_secret = config
            .client_secret
            .clone()
            .filter(|s| !s.expose().trim().is_empty())
            .context("directory.client_secret is required for Graph")?;
        let graph_url = config.graph_url().to_string();
        Url::parse(&graph_url).context("directory.graph_url is not a URL")?;
        let token_url = format!("{}/{tenant_id}/oauth2/v2.0/token", config.login_url());
        Url::parse(&token_url).context("directory.login_url is not a URL")?;
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(config.timeout_secs.max(1)))
            .connect_timeout(Duration::from_secs(config.timeout_secs.clamp(1, 10)))
            // A redirect would hand the bearer token or the client secret to another host.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("sspr-bot/", env!("CARGO_PKG_VERSION")))
            .build()
            .context("building the Graph HTTP client")?;
        Ok(Self {
            client,
            graph_url,
            token_url,
            client_id,
            client_secret,
            admin_groups: config
                .admin_groups
                .iter()
                .map(|g| g.trim().to_string())
                .filter(|g| !g.is_empty())
                .collect(),
            force_change: config.must_change_at_next_sign_in,
            timeout_secs: config.timeout_secs,
            token: Mutex::new(None),
        })
    }

    /// The cached access token, or a new one.
    async fn token(&self) -> Result<Secret, DirectoryError> {
        let mut cached = self.token.lock().await;
        if let Some(t) = cached.as_ref().filter(|t| Instant::now() < t.renew_at) {
            return Ok(t.value.clone());
        }
        let fresh = self.fetch_token().await?;
        let value = fresh.value.clone();
        *cached = Some(fresh);
        Ok(value)
    }

    /// Forgets `used` if it is still the cached token (Graph refused it).
    async fn forget_token(&self, used: &Secret) {
        let mut cached = self.token.lock().await;
        if cached
            .as_ref()
            .is_some_and(|t| t.value.expose() == used.expose())
        {
            *cached = None;
        }
    }

    async fn fetch_token(&self) -> Result<CachedToken, DirectoryError> {
        let form = [
            ("client_id", self.client_id.as_str()),
            ("client_secret", self.client_secret.expose()),
            ("scope", SCOPE),
            ("grant_type", "client_credentials"),
        ];
        let response = self
            .client
            .post(&self.token_url)
            .header(reqwest::header::ACCEPT, "application/json")
            .form(&form)
            .send()
            .await
            .map_err(|e| self.transport(e, "token"))?;
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        if status.is_success() {
            let token = body["access_token"].as_str().filter(|t| !t.is_empty());
            let expires_in = match &body["expires_in"] {
                Value::Number(n) => n.as_u64(),
                Value::String(s) => s.parse().ok(),
                _ => None,
            };
            let Some(token) = token else {
                return Err(self.unavailable("the token endpoint sent no access_token".into()));
            };
            let expires_in = expires_in.unwrap_or(300);
            let lifetime = if expires_in > 2 * TOKEN_MARGIN_SECS {
                expires_in - TOKEN_MARGIN_SECS
            } else {
                expires_in / 2
            };
            tracing::debug!(expires_in, "Graph access token fetched");
            return Ok(CachedToken {
                value: Secret::new(token),
                renew_at: Instant::now() + Duration::from_secs(lifetime),
            });
        }
        // AADSTS errors: `error` (invalid_client, unauthorized_client, …) and a description whose
        // first line says why; the rest is trace and correlation ids.
        let mut reason = format!("token request refused: HTTP {}", status.as_u16());
        if let Some(code) = body["error"].as_str() {
            reason.push_str(&format!(": {}", self.scrub(code, &[])));
        }
        if let Some(description) = body["error_description"]
            .as_str()
            .and_then(|d| d.lines().next())
            .filter(|d| !d.trim().is_empty())
        {
            reason.push_str(&format!(": {}", self.scrub(description.trim(), &[])));
        }
        Err(self.unavailable(reason))
    }

    /// One Graph request, with a new token after a 401 and a wait after a 429/503 (each once).
    /// Transport failures, 5xx, persistent 401 and throttling are `Unavailable`; any other answer
    /// is the caller's to read. `secrets` are scrubbed from any error text as well.
    async fn call(
        &self,
        method: Method,
        url: Url,
        body: Option<&Value>,
        secrets: &[&str],
    ) -> Result<Answer, DirectoryError> {
        let mut renewed = false;
        let mut waited = false;
        loop {
            let token = self.token().await?;
            let mut request = self
                .client
                .request(method.clone(), url.clone())
                .bearer_auth(token.expose())
                .header(reqwest::header::ACCEPT, "application/json");
            if let Some(body) = body {
                request = request.json(body);
            }
            let response = request
                .send()
                .await
                .map_err(|e| self.transport(e, "Graph"))?;
            let status = response.status();
            let retry_after = response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok());
            let text = response.text().await.unwrap_or_default();
            let answer = Answer { status, body: text };
            let mut scrub_list = vec![token.expose()];
            scrub_list.extend_from_slice(secrets);
            match status {
                StatusCode::UNAUTHORIZED if !renewed => {
                    tracing::info!("Graph refused the access token; fetching a new one");
                    self.forget_token(&token).await;
                    renewed = true;
                }
                StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE if !waited => {
                    match retry_after {
                        Some(secs) if secs <= MAX_RETRY_AFTER_SECS => {
                            tracing::info!(
                                status = status.as_u16(),
                                retry_after = secs,
                                "Graph is throttling; waiting once"
                            );
                            tokio::time::sleep(Duration::from_secs(secs)).await;
                            waited = true;
                        }
                        _ => return Err(self.failure(&answer, retry_after, &scrub_list)),
                    }
                }
                s if s == StatusCode::UNAUTHORIZED
                    || s == StatusCode::TOO_MANY_REQUESTS
                    || s.is_server_error() =>
                {
                    return Err(self.failure(&answer, retry_after, &scrub_list));
                }
                _ => return Ok(answer),
            }
        }
    }

    /// `Unavailable` for an answer the bot cannot act on.
    fn failure(
        &self,
        answer: &Answer,
        retry_after: Option<u64>,
        secrets: &[&str],
    ) -> DirectoryError {
        let mut reason = describe(answer, |s| self.scrub(s, secrets));
        if let Some(secs) = retry_after {
            reason.push_str(&format!(" (retry after {secs} s)"));
        }
        self.unavailable(reason)
    }

    fn unavailable(&self, reason: String) -> DirectoryError {
        tracing::warn!(directory = "graph", %reason, "Graph request failed");
        DirectoryError::Unavailable(reason)
    }

    fn transport(&self, e: reqwest::Error, what: &str) -> DirectoryError {
        let reason = if e.is_timeout() {
            format!("{what}: no answer within {} s", self.timeout_secs)
        } else if e.is_connect() {
            format!("{what}: cannot connect")
        } else {
            format!("{what}: request failed: {}", e.without_url())
        };
        self.unavailable(self.scrub(&reason, &[]))
    }

    fn scrub(&self, text: &str, extra: &[&str]) -> String {
        let mut list = vec![self.client_secret.expose()];
        list.extend_from_slice(extra);
        scrub(text, &list)
    }

    /// `{graph_url}/v1.0/{segments…}`, each segment percent-encoded.
    fn url(&self, segments: &[&str], query: Option<&str>) -> Result<Url, DirectoryError> {
        let mut url = Url::parse(&self.graph_url)
            .map_err(|_| DirectoryError::Unavailable("directory.graph_url is not a URL".into()))?;
        url.path_segments_mut()
            .map_err(|_| DirectoryError::Unavailable("directory.graph_url is not a URL".into()))?
            .pop_if_empty()
            .push("v1.0")
            .extend(segments);
        url.set_query(query);
        Ok(url)
    }

    /// The user by UPN; `None` when Graph does not know it.
    async fn user(&self, login: &LoginName) -> Result<Option<GraphUser>, DirectoryError> {
        let query = format!("$select={USER_SELECT}");
        let url = self.url(&["users", login.as_str()], Some(&query))?;
        let answer = self.call(Method::GET, url, None, &[]).await?;
        match answer.status {
            StatusCode::OK => Ok(Some(answer.json("user")?)),
            StatusCode::NOT_FOUND => Ok(None),
            _ => Err(self.failure(&answer, None, &[])),
        }
    }

    /// The user's `mobile` phone method and first e-mail method; `None` when the app may not
    /// read authentication methods (403), so the user's attributes are used instead.
    async fn methods(
        &self,
        id: &str,
    ) -> Result<Option<(Option<PhoneNumber>, Option<EmailAddress>)>, DirectoryError> {
        let url = self.url(&["users", id, "authentication", "phoneMethods"], None)?;
        let answer = self.call(Method::GET, url, None, &[]).await?;
        if answer.status == StatusCode::FORBIDDEN {
            tracing::warn!(
                "Graph: no permission to read authentication methods \
                 (UserAuthenticationMethod.Read.All); using mobilePhone and otherMails"
            );
            return Ok(None);
        }
        if answer.status != StatusCode::OK {
            return Err(self.failure(&answer, None, &[]));
        }
        let phones: Collection<PhoneMethod> = answer.json("phoneMethods")?;
        let mobile = phones
            .value
            .iter()
            .filter(|p| {
                p.phone_type
                    .as_deref()
                    .is_some_and(|t| t.eq_ignore_ascii_case("mobile"))
            })
            .find_map(|p| PhoneNumber::parse(p.phone_number.as_deref()?).ok());

        let url = self.url(&["users", id, "authentication", "emailMethods"], None)?;
        let answer = self.call(Method::GET, url, None, &[]).await?;
        if answer.status == StatusCode::FORBIDDEN {
            return Ok(None);
        }
        if answer.status != StatusCode::OK {
            return Err(self.failure(&answer, None, &[]));
        }
        let emails: Collection<EmailMethod> = answer.json("emailMethods")?;
        let email = emails
            .value
            .iter()
            .find_map(|e| EmailAddress::parse(e.email_address.as_deref()?).ok());
        Ok(Some((mobile, email)))
    }

    /// Every item of a collection, following `@odata.nextLink`. A next link must point at the
    /// configured Graph: the bearer token goes with it.
    async fn all_pages<T: serde::de::DeserializeOwned>(
        &self,
        what: &str,
        first: Url,
    ) -> Result<Vec<T>, PageError> {
        let base = Url::parse(&self.graph_url)
            .map_err(|_| DirectoryError::Unavailable("directory.graph_url is not a URL".into()))?;
        let mut items = Vec::new();
        let mut next = Some(first);
        let mut pages = 0usize;
        while let Some(url) = next.take() {
            pages += 1;
            if pages > MAX_PAGES {
                return Err(self
                    .unavailable(format!("{what}: more than {MAX_PAGES} pages; refusing"))
                    .into());
            }
            let answer = self.call(Method::GET, url, None, &[]).await?;
            match answer.status {
                StatusCode::OK => {}
                StatusCode::NOT_FOUND if pages == 1 => return Err(PageError::NotFound),
                _ => return Err(self.failure(&answer, None, &[]).into()),
            }
            let page: Page<T> = answer.json(what)?;
            items.extend(page.value);
            if let Some(link) = page.next_link.filter(|l| !l.trim().is_empty()) {
                let url = Url::parse(&link).ok().filter(|u| {
                    u.scheme() == base.scheme()
                        && u.host_str() == base.host_str()
                        && u.port_or_known_default() == base.port_or_known_default()
                });
                match url {
                    Some(url) => next = Some(url),
                    None => {
                        return Err(self
                            .unavailable(format!(
                                "{what}: Graph's next page link is not on {}",
                                self.graph_url
                            ))
                            .into())
                    }
                }
            }
        }
        Ok(items)
    }

    /// Whether the user is a member (also transitively) of any of `admin_groups`.
    async fn is_admin(&self, id: &str) -> Result<bool, DirectoryError> {
        for batch in self.admin_groups.chunks(MEMBER_GROUPS_BATCH) {
            let url = self.url(&["users", id, "checkMemberGroups"], None)?;
            let body = json!({ "groupIds": batch });
            let answer = self.call(Method::POST, url, Some(&body), &[]).await?;
            if answer.status != StatusCode::OK {
                return Err(self.failure(&answer, None, &[]));
            }
            let hits: Collection<String> = answer.json("checkMemberGroups")?;
            if !hits.value.is_empty() {
                return Ok(true);
            }
        }
        Ok(false)
    }
}

/// Why a listing ended early.
enum PageError {
    /// The collection itself does not exist (a deleted group).
    NotFound,
    Directory(DirectoryError),
}

impl From<DirectoryError> for PageError {
    fn from(e: DirectoryError) -> Self {
        Self::Directory(e)
    }
}

impl From<PageError> for DirectoryError {
    fn from(e: PageError) -> Self {
        match e {
            PageError::NotFound => DirectoryError::Unavailable("HTTP 404 for a listing".into()),
            PageError::Directory(e) => e,
        }
    }
}

/// `HTTP 400: Request_BadRequest: message` from a Graph error answer.
fn describe(answer: &Answer, scrub: impl Fn(&str) -> String) -> String {
    let e = answer.error();
    let mut reason = format!("HTTP {}", answer.status.as_u16());
    if !e.code.trim().is_empty() {
        reason.push_str(&format!(": {}", scrub(e.code.trim())));
    }
    if !e.message.trim().is_empty() {
        reason.push_str(&format!(": {}", scrub(e.message.trim())));
    }
    reason
}

/// The password rule behind a Graph 400 on a `passwordProfile` update, if it is one. Entra says
/// e.g. `Request_BadRequest` "The specified password does not comply with password complexity
/// requirements. Please provide a different password."
fn password_rule(e: &GraphError) -> Option<DirectoryRule> {
    let message = e.message.to_lowercase();
    if !message.contains("password") {
        return None;
    }
    let any = |words: &[&str]| words.iter().any(|w| message.contains(w));
    let rule = if any(&[
        "history",
        "recently used",
        "used recently",
        "used before",
        "previous password",
    ]) {
        DirectoryRule::History
    } else if any(&["password age", "too young", "too soon"]) {
        DirectoryRule::TooYoung
    } else if any(&["too short", "length"]) {
        DirectoryRule::TooShort
    } else if any(&[
        "complexity",
        "banned",
        "strength",
        "too weak",
        "weak password",
    ]) {
        DirectoryRule::Complexity
    } else if any(&["requirement", "policy", "policies"]) {
        DirectoryRule::Other
    } else {
        // Not a password rule (e.g. "Invalid value specified for property 'passwordProfile'"):
        // the request was wrong, not the user's password.
        return None;
    };
    Some(rule)
}

#[async_trait]
impl Directory for GraphDirectory {
    async fn find(&self, login: &LoginName) -> Result<Option<Account>, DirectoryError> {
        let Some(user) = self.user(login).await? else {
            return Ok(None);
        };
        let methods = self.methods(&user.id).await?;
        let admin = self.is_admin(&user.id).await?;
        Ok(Some(user.account(login.clone(), methods, admin)))
    }

    async fn reset_password(
        &self,
        login: &LoginName,
        password: &NewPassword,
    ) -> Result<(), DirectoryError> {
        let user = self.user(login).await?.ok_or(DirectoryError::NotFound)?;
        if user.account_enabled == Some(false) {
            // As the other directories: a disabled account is not reset.
            return Err(DirectoryError::NotFound);
        }
        let url = self.url(&["users", &user.id], None)?;
        let body = json!({
            "passwordProfile": {
                "password": password.expose(),
                "forceChangePasswordNextSignIn": self.force_change,
            }
        });
        // Also as it would appear inside an echoed JSON body.
        let escaped = serde_json::to_string(password.expose()).unwrap_or_default();
        let secrets = [password.expose(), escaped.trim_matches('"')];
        let answer = self.call(Method::PATCH, url, Some(&body), &secrets).await?;
        match answer.status {
            s if s.is_success() => {
                tracing::info!(directory = "graph", "password reset");
                Ok(())
            }
            StatusCode::NOT_FOUND => Err(DirectoryError::NotFound),
            StatusCode::BAD_REQUEST => match password_rule(&answer.error()) {
                Some(rule) => {
                    tracing::info!(directory = "graph", ?rule, "Entra refused the new password");
                    Err(DirectoryError::Rejected(rule))
                }
                None => Err(self.failure(&answer, None, &secrets)),
            },
            _ => Err(self.failure(&answer, None, &secrets)),
        }
    }

    async fn unlock(&self, _login: &LoginName) -> Result<(), DirectoryError> {
        // Smart lockout ends on its own; Graph has no call to clear it.
        Err(DirectoryError::UnlockUnsupported)
    }

    /// `GET /users` page by page. The phone and e-mail methods are not read per user (two
    /// requests each): a listing has the users' `mobilePhone` and `otherMails`, as `find` has
    /// when it may not read the methods. Admins are the transitive members of `admin_groups`.
    async fn list_accounts(&self) -> Result<Vec<Account>, DirectoryError> {
        let query = format!("$select={USER_SELECT}&$top={PAGE_SIZE}");
        let users: Vec<GraphUser> = self
            .all_pages("users", self.url(&["users"], Some(&query))?)
            .await?;
        let mut admins = std::collections::HashSet::new();
        for group in &self.admin_groups {
            let url = self.url(
                &["groups", group, "transitiveMembers", "microsoft.graph.user"],
                Some("$select=id"),
            )?;
            match self.all_pages::<Member>("admin group members", url).await {
                Ok(members) => admins.extend(members.into_iter().map(|m| m.id)),
                Err(PageError::NotFound) => {
                    tracing::warn!(group = %group, "admin group does not exist");
                }
                Err(PageError::Directory(e)) => return Err(e),
            }
        }
        let mut skipped = 0usize;
        let mut accounts = Vec::with_capacity(users.len());
        for user in users {
            let Some(login) = user
                .user_principal_name
                .as_deref()
                .and_then(|upn| LoginName::parse(upn).ok())
            else {
                skipped += 1;
                continue;
            };
            let admin = admins.contains(&user.id);
            accounts.push(user.account(login, None, admin));
        }
        if skipped > 0 {
            tracing::info!(
                skipped,
                "Graph account list: users whose UPN is not a login name left out"
            );
        }
        accounts.sort_by(|a, b| a.login.as_str().cmp(b.login.as_str()));
        accounts.dedup_by(|a, b| a.login == b.login);
        Ok(accounts)
    }

    async fn ping(&self) -> Result<(), DirectoryError> {
        // A token and one cheap read that needs the permission `find` needs anyway.
        let url = self.url(&["users"], Some("$top=1&$select=id"))?;
        let answer = self.call(Method::GET, url, None, &[]).await?;
        if answer.status.is_success() {
            Ok(())
        } else {
            Err(self.failure(&answer, None, &[]))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(code: &str, message: &str) -> GraphError {
        GraphError {
            code: code.into(),
            message: message.into(),
        }
    }

    #[test]
    fn password_errors_map_to_rules() {
        let complexity = err(
            "Request_BadRequest",
            "The specified password does not comply with password complexity requirements. \
             Please provide a different password.",
        );
        assert_eq!(password_rule(&complexity), Some(DirectoryRule::Complexity));
        let history = err(
            "Request_BadRequest",
            "The password has been used recently; password history requirements.",
        );
        assert_eq!(password_rule(&history), Some(DirectoryRule::History));
        assert_eq!(
            password_rule(&err(
                "Request_BadRequest",
                "Invalid value specified for property 'mobilePhone'"
            )),
            None
        );
    }
}
