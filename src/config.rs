//! The configuration file (TOML) for `serve` and `chat`. Every key is documented in
//! `sspr-bot.example.toml`; each may be overridden by an environment variable named after it
//! (`SSPR_` prefix, `__` between levels: `SSPR_TELEGRAM__TOKEN`), and each secret may instead be
//! read from a file (`token_file = "/run/secrets/telegram"`). A bad file is reported with the key
//! and the line; nothing here panics.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Deserializer};

use crate::store::Location;

/// Prefix of the environment variables that override keys.
pub const ENV_PREFIX: &str = "SSPR_";

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub database: DatabaseConfig,
    #[serde(default)]
    pub directory: DirectoryConfig,
    #[serde(default)]
    pub providers: ProvidersConfig,
    #[serde(default)]
    pub http: HttpConfig,
    #[serde(default)]
    pub security: SecurityConfig,
    #[serde(default)]
    pub log: LogConfig,
    #[serde(default)]
    pub password: PasswordConfig,
    #[serde(default)]
    pub registration: RegistrationConfig,
    /// The ICT Servicedesk: office hours, phone number, agents and where handoffs go.
    pub helpdesk: Option<HelpdeskConfig>,
    pub telegram: Option<TelegramConfig>,
    /// Microsoft Teams: a Bot Framework bot whose messaging endpoint is `/api/teams/messages`.
    pub teams: Option<TeamsConfig>,
    /// Discord: a bot that helps in direct messages (gateway) and answers through the REST API.
    pub discord: Option<DiscordConfig>,
    /// E-mail codes and notices over SMTP (unless `providers.outbox` is set).
    pub email: Option<EmailConfig>,
    /// SMS codes through Twilio or Bird (unless `providers.outbox` is set).
    pub sms: Option<SmsConfig>,
    /// Verification calls through Twilio (unless `providers.outbox` is set).
    pub voice: Option<VoiceConfig>,
    /// Push approval through Duo (unless `providers.outbox` is set).
    pub push: Option<PushConfig>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseConfig {
    /// `sqlite://sspr.db` (one process owns the file) or `postgres://USER@HOST:PORT/DATABASE`
    /// (any number of replicas on one database; needs `security.key_file`, the same on each).
    #[serde(default = "default_database_url")]
    pub url: String,
}

fn default_database_url() -> String {
    "sqlite://sspr.db".into()
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            url: default_database_url(),
        }
    }
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum DirectoryBackend {
    #[default]
    Embedded,
    Ldap,
    Graph,
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum LdapFlavour {
    /// Active Directory: `unicodePwd`, `lockoutTime`, `userAccountControl`.
    #[default]
    Ad,
    /// OpenLDAP with the ppolicy overlay: Password Modify, `pwdAccountLockedTime`.
    Openldap,
}

#[derive(Clone, Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct DirectoryConfig {
    #[serde(default)]
    pub backend: DirectoryBackend,
    /// Seed the demo accounts on first start (embedded directory only).
    #[serde(default, deserialize_with = "lenient_bool")]
    pub seed_demo: bool,

    // ---- backend = "ldap" ----
    /// `ldaps://dc1.bedrijf.local`, or `ldap://…` (StartTLS unless `allow_plaintext`).
    pub url: Option<String>,
    /// The service account: least privilege (reset password, write lockout attributes).
    pub bind_dn: Option<String>,
    pub bind_password: Option<Secret>,
    pub bind_password_file: Option<PathBuf>,
    pub base_dn: Option<String>,
    /// A CA bundle (PEM) for the directory's certificate; the system roots otherwise.
    pub tls_ca_file: Option<PathBuf>,
    /// Permit `ldap://` without StartTLS: for tests on loopback only.
    #[serde(default, deserialize_with = "lenient_bool")]
    pub allow_plaintext: bool,
    #[serde(default)]
    pub flavour: LdapFlavour,
    /// `{login}` is replaced by the (escaped) login name. Default per flavour:
    /// `(userPrincipalName={login})` for AD, `(uid={login})` for OpenLDAP.
    pub user_filter: Option<String>,
    /// Attributes with the registered mobile number and alternate e-mail (AD: `mobile`,
    /// `otherMailbox`).
    pub mobile_attribute: Option<String>,
    pub alternate_email_attribute: Option<String>,
    /// Members of these groups (DNs) are admins: never offered security questions.
    #[serde(default)]
    pub admin_groups: Vec<String>,
    /// AD: make the user change the password at the next sign-in (`pwdLastSet=0`).
    #[serde(default, deserialize_with = "lenient_bool")]
    pub must_change_at_next_sign_in: bool,
    #[serde(default = "default_provider_timeout")]
    pub timeout_secs: u64,

    // ---- backend = "graph" ----
    pub tenant_id: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<Secret>,
    pub client_secret_file: Option<PathBuf>,
    /// Default `https://graph.microsoft.com`; overridable for tests.
    pub graph_url: Option<String>,
    /// Default `https://login.microsoftonline.com`; overridable for tests.
    pub login_url: Option<String>,
}

impl DirectoryConfig {
    pub fn user_filter(&self) -> &str {
        self.user_filter.as_deref().unwrap_or(match self.flavour {
            LdapFlavour::Ad => "(userPrincipalName={login})",
            LdapFlavour::Openldap => "(uid={login})",
        })
    }

    pub fn graph_url(&self) -> &str {
        self.graph_url
            .as_deref()
            .map(|u| u.trim_end_matches('/'))
            .unwrap_or("https://graph.microsoft.com")
    }

    pub fn login_url(&self) -> &str {
        self.login_url
            .as_deref()
            .map(|u| u.trim_end_matches('/'))
            .unwrap_or("https://login.microsoftonline.com")
    }
}

#[derive(Clone, Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ProvidersConfig {
    /// Development outbox: what e-mail, SMS, voice and push would send goes to this JSON-lines
    /// file instead. When set it replaces every real provider.
    pub outbox: Option<PathBuf>,
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    /// Plain SMTP, for a relay on the same host or network only.
    None,
    /// Upgrade with STARTTLS (port 587); the connection fails if the server does not offer it.
    #[default]
    Starttls,
    /// TLS from the first byte (port 465).
    Tls,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailConfig {
    pub smtp_host: String,
    #[serde(default = "default_smtp_port")]
    pub smtp_port: u16,
    #[serde(default)]
    pub tls: SmtpTls,
    /// Optional SMTP login.
    pub username: Option<String>,
    pub password: Option<Secret>,
    pub password_file: Option<PathBuf>,
    /// The sender, e.g. `SSPR <sspr@bedrijf.nl>`.
    pub from: String,
    #[serde(default = "default_provider_timeout")]
    pub timeout_secs: u64,
}

fn default_smtp_port() -> u16 {
    587
}

fn default_provider_timeout() -> u64 {
    10
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum SmsProvider {
    Twilio,
    Bird,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmsConfig {
    pub provider: SmsProvider,
    /// `https://api.twilio.com` or `https://rest.messagebird.com`; overridable for tests.
    pub base_url: Option<String>,
    /// Twilio: the account SID and auth token (HTTP Basic auth).
    pub account_sid: Option<String>,
    pub auth_token: Option<Secret>,
    pub auth_token_file: Option<PathBuf>,
    /// Twilio: the sending number (E.164), or instead a Messaging Service SID.
    pub from: Option<String>,
    pub messaging_service_sid: Option<String>,
    /// Bird (MessageBird): the access key, and the originator (number or up to 11 letters).
    pub access_key: Option<Secret>,
    pub access_key_file: Option<PathBuf>,
    pub originator: Option<String>,
    #[serde(default = "default_provider_timeout")]
    pub timeout_secs: u64,
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum VoiceProvider {
    Twilio,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VoiceConfig {
    pub provider: VoiceProvider,
    /// Default `https://api.twilio.com`; overridable for tests and proxies.
    pub base_url: Option<String>,
    /// The Twilio account; when left out, `[sms]`'s (if that is Twilio) is used.
    pub account_sid: Option<String>,
    pub auth_token: Option<Secret>,
    pub auth_token_file: Option<PathBuf>,
    /// The calling number (E.164); when left out, `[sms] from`.
    pub from: Option<String>,
    #[serde(default = "default_provider_timeout")]
    pub timeout_secs: u64,
}

impl VoiceConfig {
    pub fn base_url(&self) -> &str {
        self.base_url
            .as_deref()
            .map(|u| u.trim_end_matches('/'))
            .unwrap_or("https://api.twilio.com")
    }
}

/// A Twilio account as the voice provider uses it, after falling back to `[sms]`.
#[derive(Clone, Debug)]
pub struct TwilioAccount {
    pub base_url: String,
    pub account_sid: String,
    pub auth_token: Secret,
    pub from: String,
    pub timeout_secs: u64,
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum PushProvider {
    Duo,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PushConfig {
    pub provider: PushProvider,
    /// `https://api-xxxxxxxx.duosecurity.com`.
    pub api_host: String,
    pub integration_key: String,
    pub secret_key: Option<Secret>,
    pub secret_key_file: Option<PathBuf>,
    /// How long a push waits for an answer.
    #[serde(default = "default_push_timeout")]
    pub timeout_secs: u64,
}

fn default_push_timeout() -> u64 {
    60
}

impl SmsConfig {
    /// The API base URL: configured, or the provider's public one.
    pub fn base_url(&self) -> &str {
        match (&self.base_url, self.provider) {
            (Some(u), _) => u.trim_end_matches('/'),
            (None, SmsProvider::Twilio) => "https://api.twilio.com",
            (None, SmsProvider::Bird) => "https://rest.messagebird.com",
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// The address the world reaches this server at; needed for webhooks.
    pub public_url: Option<String>,
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8080))
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            listen: default_listen(),
            public_url: None,
        }
    }
}

#[derive(Clone, Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct SecurityConfig {
    /// The server key (32 random bytes, hex), created on first start. Default: beside the
    /// SQLite database, named after it with `.key` appended.
    pub key_file: Option<PathBuf>,
    /// Keys replaced by a rotation (hex files like `key_file`): stored authenticator secrets that
    /// do not decrypt with the current key are tried with these until `admin rekey` has
    /// re-encrypted them. See the README, "Rotating the server key".
    #[serde(default)]
    pub previous_key_files: Vec<PathBuf>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasswordConfig {
    /// Shortest new password, in characters (at least 8; NIST's floor).
    #[serde(default = "default_min_length")]
    pub min_length: usize,
    /// A Have I Been Pwned range API (`https://api.pwnedpasswords.com`): only five hex digits of
    /// the password's SHA-1 are sent. Unset: no breached-password check.
    pub breach_check_url: Option<String>,
}

fn default_min_length() -> usize {
    12
}

impl Default for PasswordConfig {
    fn default() -> Self {
        Self {
            min_length: default_min_length(),
            breach_check_url: None,
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistrationConfig {
    /// Days after which an employee who uses the bot is asked whether their methods are still
    /// right.
    #[serde(default = "default_reconfirm_days")]
    pub reconfirm_days: i64,
    /// The security questions registration offers, by id (at least three; see the example
    /// configuration for the list). Each has its text in Dutch and English.
    #[serde(default = "default_questions")]
    pub questions: Vec<String>,
    /// The name an authenticator app shows above the account, e.g. your company's name.
    #[serde(default = "default_totp_issuer")]
    pub totp_issuer: String,
}

fn default_reconfirm_days() -> i64 {
    180
}

fn default_questions() -> Vec<String> {
    crate::dialogue::QUESTION_IDS
        .iter()
        .map(|q| q.to_string())
        .collect()
}

fn default_totp_issuer() -> String {
    "sspr-bot".into()
}

impl Default for RegistrationConfig {
    fn default() -> Self {
        Self {
            reconfirm_days: default_reconfirm_days(),
            questions: default_questions(),
            totp_issuer: default_totp_issuer(),
        }
    }
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    #[serde(default)]
    pub format: LogFormat,
    /// A `tracing` filter: `info`, `sspr_bot=debug,warn`. `RUST_LOG` wins when set.
    #[serde(default = "default_level")]
    pub level: String,
}

fn default_level() -> String {
    "info".into()
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            format: LogFormat::default(),
            level: default_level(),
        }
    }
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum TelegramMode {
    #[default]
    Polling,
    Webhook,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TelegramConfig {
    pub token: Option<Secret>,
    pub token_file: Option<PathBuf>,
    #[serde(default = "default_telegram_api")]
    pub api_url: String,
    #[serde(default)]
    pub mode: TelegramMode,
    pub webhook_secret: Option<Secret>,
    pub webhook_secret_file: Option<PathBuf>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HelpdeskConfig {
    /// The desk's time zone (IANA name).
    #[serde(default = "default_helpdesk_timezone")]
    pub timezone: String,
    /// Opening hours per day (`mon` … `sun`), e.g. `"08:00-18:00"` or `"08:00-12:00,13:00-17:00"`;
    /// a day missing is closed.
    #[serde(default = "default_helpdesk_hours")]
    pub hours: std::collections::BTreeMap<String, String>,
    /// Extra closed dates (`YYYY-MM-DD`), on top of the national holidays.
    #[serde(default)]
    pub holidays: Vec<String>,
    /// `"nl"`: the Dutch national holidays, computed; `"none"`.
    #[serde(default = "default_national_holidays")]
    pub national_holidays: String,
    #[serde(default = "default_helpdesk_phone")]
    pub phone: String,
    /// Who may act on a handoff: `telegram:<user id>`, `discord:<user id>` or
    /// `teams:<aad object id>`.
    #[serde(default)]
    pub agents: Vec<String>,
    /// The helpdesk's Telegram group (needs `[telegram]`).
    pub telegram_chat_id: Option<i64>,
    /// A Teams Workflows webhook URL posting cards to the helpdesk's channel.
    pub teams_workflow_url: Option<String>,
    /// The helpdesk's Discord channel (a text channel in the company's server; needs
    /// `[discord]`): cards with the agents' buttons, and the users' messages.
    pub discord_channel_id: Option<u64>,
    /// A handoff nobody claims within this many minutes ends with the phone number.
    #[serde(default = "default_claim_timeout")]
    pub claim_timeout_minutes: i64,
}

fn default_helpdesk_timezone() -> String {
    "Europe/Amsterdam".into()
}

fn default_helpdesk_hours() -> std::collections::BTreeMap<String, String> {
    ["mon", "tue", "wed", "thu", "fri"]
        .into_iter()
        .map(|d| (d.to_string(), "08:00-18:00".to_string()))
        .collect()
}

fn default_national_holidays() -> String {
    "nl".into()
}

fn default_helpdesk_phone() -> String {
    crate::helpdesk::desk::DEFAULT_PHONE.into()
}

fn default_claim_timeout() -> i64 {
    10
}

impl HelpdeskConfig {
    pub fn office_hours(
        &self,
    ) -> Result<crate::helpdesk::OfficeHours, crate::helpdesk::HoursError> {
        crate::helpdesk::OfficeHours::parse(
            &self.timezone,
            self.hours.iter(),
            self.holidays.iter(),
            &self.national_holidays,
        )
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TeamsConfig {
    /// The bot's Microsoft App ID (Azure Bot registration). Unset: local testing without
    /// Microsoft (Agents Playground), allowed only while `http.listen` is a loopback address.
    pub app_id: Option<String>,
    /// The app's client secret.
    pub app_password: Option<Secret>,
    pub app_password_file: Option<PathBuf>,
    /// The Entra tenant of the single-tenant app.
    pub tenant_id: Option<String>,
    /// Where the Bot Framework publishes the keys its tokens are signed with.
    #[serde(default = "default_openid_metadata_url")]
    pub openid_metadata_url: String,
    /// The client-credentials token endpoint; `{tenant}` is replaced by `tenant_id`.
    #[serde(default = "default_teams_token_url")]
    pub token_url: String,
}

fn default_openid_metadata_url() -> String {
    "https://login.botframework.com/v1/.well-known/openidconfiguration".into()
}

fn default_teams_token_url() -> String {
    "https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token".into()
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiscordConfig {
    /// The bot's token (Developer Portal → the application → Bot).
    pub token: Option<Secret>,
    pub token_file: Option<PathBuf>,
    /// The REST API's base (`https://discord.com`); the gateway's address is asked from it.
    /// Tests point it at a local fake.
    #[serde(default = "default_discord_api")]
    pub api_url: String,
}

fn default_discord_api() -> String {
    "https://discord.com".into()
}

fn default_telegram_api() -> String {
    "https://api.telegram.org".into()
}

/// A secret from the configuration: never printed.
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(******)")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}, line {line}, column {column}{key}: {message}")]
    File {
        path: PathBuf,
        line: usize,
        column: usize,
        /// `, key telegram.mode` when known.
        key: String,
        message: String,
    },
    #[error("environment variable {var}: {message}")]
    Env { var: String, message: String },
    #[error("{key}: {message}")]
    Invalid { key: String, message: String },
}

/// Accepts `true`/`false` as booleans or as strings (environment overrides are strings).
fn lenient_bool<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum B {
        Bool(bool),
        Str(String),
    }
    match B::deserialize(d)? {
        B::Bool(b) => Ok(b),
        B::Str(s) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" => Ok(true),
            "false" | "0" | "no" => Ok(false),
            other => Err(serde::de::Error::custom(format!(
                "expected true or false, found {other:?}"
            ))),
        },
    }
}

impl Config {
    /// Reads `path`, applies `SSPR_…` overrides from the process environment, reads secret
    /// files and checks that the pieces fit together.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        Self::load_with_env(path, std::env::vars())
    }

    pub fn load_with_env(
        path: &Path,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(path, &text, env)
    }

    /// `origin` names the file in error messages.
    pub fn parse(
        origin: &Path,
        text: &str,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        // The file on its own first, so its mistakes are reported with their line.
        let mut table: toml::Table =
            toml::from_str(text).map_err(|e| file_error(origin, text, &e, None))?;
        if let Err(e) = typed(&table) {
            let key = e.path().to_string();
            // serde_path_to_error knows the key; toml knows where its value stands in the file.
            return Err(match toml::from_str::<Config>(text) {
                Err(spanned) => file_error(origin, text, &spanned, Some(key)),
                Ok(_) => ConfigError::Invalid {
                    key,
                    message: e.inner().message().trim().to_string(),
                },
            });
        }
        // Then the environment, each variable named in its own error.
        let mut overrides: Vec<(String, String)> = env
            .into_iter()
            .filter(|(k, _)| k.starts_with(ENV_PREFIX) && k.contains("__"))
            .collect();
        overrides.sort();
        for (var, value) in &overrides {
            let path: Vec<String> = var[ENV_PREFIX.len()..]
                .split("__")
                .map(str::to_ascii_lowercase)
                .collect();
            set_path(&mut table, &path, value).map_err(|message| ConfigError::Env {
                var: var.clone(),
                message,
            })?;
            typed(&table).map_err(|e| ConfigError::Env {
                var: var.clone(),
                message: format!("{}: {}", e.path(), e.inner().message().trim()),
            })?;
        }
        let mut config = typed(&table).map_err(|e| ConfigError::Invalid {
            key: e.path().to_string(),
            message: e.inner().message().trim().to_string(),
        })?;
        config.resolve_secret_files()?;
        config.validate()?;
        Ok(config)
    }

    fn resolve_secret_files(&mut self) -> Result<(), ConfigError> {
        let d = &mut self.directory;
        resolve(
            &mut d.bind_password,
            &d.bind_password_file,
            "directory.bind_password",
        )?;
        resolve(
            &mut d.client_secret,
            &d.client_secret_file,
            "directory.client_secret",
        )?;
        if let Some(e) = &mut self.email {
            resolve(&mut e.password, &e.password_file, "email.password")?;
        }
        if let Some(s) = &mut self.sms {
            resolve(&mut s.auth_token, &s.auth_token_file, "sms.auth_token")?;
            resolve(&mut s.access_key, &s.access_key_file, "sms.access_key")?;
        }
        if let Some(v) = &mut self.voice {
            resolve(&mut v.auth_token, &v.auth_token_file, "voice.auth_token")?;
        }
        if let Some(p) = &mut self.push {
            resolve(&mut p.secret_key, &p.secret_key_file, "push.secret_key")?;
        }
        if let Some(t) = &mut self.teams {
            resolve(
                &mut t.app_password,
                &t.app_password_file,
                "teams.app_password",
            )?;
        }
        if let Some(d) = &mut self.discord {
            resolve(&mut d.token, &d.token_file, "discord.token")?;
        }
        if let Some(t) = &mut self.telegram {
            resolve(&mut t.token, &t.token_file, "telegram.token")?;
            resolve(
                &mut t.webhook_secret,
                &t.webhook_secret_file,
                "telegram.webhook_secret",
            )?;
        }
        Ok(())
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key: &str, message: &str| ConfigError::Invalid {
            key: key.into(),
            message: message.into(),
        };
        match Location::parse(&self.database.url) {
            Err(e) => return Err(invalid("database.url", &e.to_string())),
            Ok(Location::Postgres(_)) if self.security.key_file.is_none() => {
                return Err(invalid(
                    "security.key_file",
                    "required with a PostgreSQL database: every replica must read the same \
                     server key (there is no database file to keep it beside)",
                ))
            }
            Ok(_) => {}
        }
        if !(8..=256).contains(&self.password.min_length) {
            return Err(invalid("password.min_length", "must be between 8 and 256"));
        }
        let r = &self.registration;
        if !(1..=3650).contains(&r.reconfirm_days) {
            return Err(invalid(
                "registration.reconfirm_days",
                "must be between 1 and 3650",
            ));
        }
        if let Some(q) = r
            .questions
            .iter()
            .find(|q| !crate::dialogue::QUESTION_IDS.contains(&q.as_str()))
        {
            return Err(invalid(
                "registration.questions",
                &format!(
                    "unknown question {q:?}; known: {}",
                    crate::dialogue::QUESTION_IDS.join(", ")
                ),
            ));
        }
        let mut distinct = r.questions.clone();
        distinct.sort();
        distinct.dedup();
        if distinct.len() < 3 || distinct.len() != r.questions.len() {
            return Err(invalid(
                "registration.questions",
                "needs at least three different questions, each once",
            ));
        }
        if r.totp_issuer.trim().is_empty() || r.totp_issuer.contains(':') {
            return Err(invalid(
                "registration.totp_issuer",
                "must be a non-empty name without ':'",
            ));
        }
        if let Some(url) = &self.password.breach_check_url {
            if !(url.starts_with("https://") || url.starts_with("http://")) {
                return Err(invalid(
                    "password.breach_check_url",
                    "must be an http(s) URL",
                ));
            }
        }
        let d = &self.directory;
        match d.backend {
            DirectoryBackend::Embedded => {}
            DirectoryBackend::Ldap => {
                for (key, set) in [
                    ("directory.url", d.url.is_some()),
                    ("directory.bind_dn", d.bind_dn.is_some()),
                    ("directory.bind_password", d.bind_password.is_some()),
                    ("directory.base_dn", d.base_dn.is_some()),
                ] {
                    if !set {
                        return Err(invalid(key, "required for backend = \"ldap\""));
                    }
                }
                let url = d.url.as_deref().unwrap_or_default();
                if !(url.starts_with("ldaps://") || url.starts_with("ldap://")) {
                    return Err(invalid(
                        "directory.url",
                        "must start with ldaps:// or ldap://",
                    ));
                }
                if !d.user_filter().contains("{login}") {
                    return Err(invalid("directory.user_filter", "must contain {login}"));
                }
                if d.seed_demo {
                    return Err(invalid(
                        "directory.seed_demo",
                        "only for backend = \"embedded\"",
                    ));
                }
            }
            DirectoryBackend::Graph => {
                for (key, set) in [
                    ("directory.tenant_id", d.tenant_id.is_some()),
                    ("directory.client_id", d.client_id.is_some()),
                    ("directory.client_secret", d.client_secret.is_some()),
                ] {
                    if !set {
                        return Err(invalid(key, "required for backend = \"graph\""));
                    }
                }
                if d.seed_demo {
                    return Err(invalid(
                        "directory.seed_demo",
                        "only for backend = \"embedded\"",
                    ));
                }
            }
        }
        if self.providers.outbox.is_none()
            && self.email.is_none()
            && self.sms.is_none()
            && self.voice.is_none()
            && self.push.is_none()
        {
            return Err(invalid(
                "providers.outbox",
                "no way to send codes: set providers.outbox (development) or [email] / [sms]",
            ));
        }
        if let Some(e) = &self.email {
            if e.smtp_host.trim().is_empty() {
                return Err(invalid("email.smtp_host", "required"));
            }
            if e.from.parse::<lettre::message::Mailbox>().is_err() {
                return Err(invalid(
                    "email.from",
                    "not an address like \"SSPR <sspr@bedrijf.nl>\"",
                ));
            }
            if e.username.is_some() != e.password.is_some() {
                return Err(invalid(
                    "email.username",
                    "username and password go together",
                ));
            }
            if e.tls == SmtpTls::None && e.username.is_some() {
                return Err(invalid(
                    "email.tls",
                    "\"none\" would send the SMTP password in the clear",
                ));
            }
        }
        if let Some(s) = &self.sms {
            if !(s.base_url().starts_with("https://") || s.base_url().starts_with("http://")) {
                return Err(invalid("sms.base_url", "must be an http(s) URL"));
            }
            match s.provider {
                SmsProvider::Twilio => {
                    if s.account_sid.is_none() {
                        return Err(invalid("sms.account_sid", "required for Twilio"));
                    }
                    if s.auth_token.is_none() {
                        return Err(invalid(
                            "sms.auth_token",
                            "required for Twilio (or sms.auth_token_file)",
                        ));
                    }
                    if s.from.is_none() == s.messaging_service_sid.is_none() {
                        return Err(invalid(
                            "sms.from",
                            "set exactly one of sms.from and sms.messaging_service_sid",
                        ));
                    }
                }
                SmsProvider::Bird => {
                    if s.access_key.is_none() {
                        return Err(invalid(
                            "sms.access_key",
                            "required for Bird (or sms.access_key_file)",
                        ));
                    }
                    if s.originator.is_none() {
                        return Err(invalid("sms.originator", "required for Bird"));
                    }
                }
            }
        }
        if let Some(v) = &self.voice {
            if self.http.public_url.is_none() {
                return Err(invalid("http.public_url", "required for [voice]: Twilio fetches the call's script and reports its outcome there"));
            }
            let sms_twilio = self
                .sms
                .as_ref()
                .filter(|s| s.provider == SmsProvider::Twilio);
            if v.account_sid.is_none() && sms_twilio.and_then(|s| s.account_sid.as_ref()).is_none()
            {
                return Err(invalid(
                    "voice.account_sid",
                    "required (or a Twilio [sms] to share it with)",
                ));
            }
            if v.auth_token.is_none() && sms_twilio.and_then(|s| s.auth_token.as_ref()).is_none() {
                return Err(invalid(
                    "voice.auth_token",
                    "required (or a Twilio [sms] to share it with)",
                ));
            }
            if v.from.is_none() && sms_twilio.and_then(|s| s.from.as_ref()).is_none() {
                return Err(invalid(
                    "voice.from",
                    "required: the number calls come from",
                ));
            }
        }
        if let Some(p) = &self.push {
            if !p.api_host.starts_with("https://") && !p.api_host.starts_with("http://") {
                return Err(invalid(
                    "push.api_host",
                    "must be an http(s) URL, e.g. https://api-xxxxxxxx.duosecurity.com",
                ));
            }
            if p.secret_key.is_none() {
                return Err(invalid(
                    "push.secret_key",
                    "required (or push.secret_key_file)",
                ));
            }
        }
        if let Some(url) = &self.http.public_url {
            if !(url.starts_with("https://") || url.starts_with("http://")) {
                return Err(invalid(
                    "http.public_url",
                    "must start with https:// (or http:// for local tests)",
                ));
            }
        }
        if let Some(h) = &self.helpdesk {
            if let Err(e) = h.office_hours() {
                return Err(invalid("helpdesk.hours", &e.to_string()));
            }
            if h.phone.trim().is_empty() {
                return Err(invalid("helpdesk.phone", "must not be empty"));
            }
            if let Some(a) = h.agents.iter().find(|a| {
                !(a.starts_with("telegram:")
                    || a.starts_with("teams:")
                    || a.starts_with("discord:"))
            }) {
                return Err(invalid(
                    "helpdesk.agents",
                    &format!(
                        "{a:?}: use \"telegram:<user id>\", \"teams:<aad object id>\" or \"discord:<user id>\""
                    ),
                ));
            }
            if h.discord_channel_id == Some(0) {
                return Err(invalid(
                    "helpdesk.discord_channel_id",
                    "a channel id (Discord: right-click the channel → Copy Channel ID)",
                ));
            }
            if h.discord_channel_id.is_some() && self.discord.is_none() {
                return Err(invalid(
                    "helpdesk.discord_channel_id",
                    "needs [discord] (the bot posts to the channel)",
                ));
            }
            if h.telegram_chat_id.is_some() && self.telegram.is_none() {
                return Err(invalid(
                    "helpdesk.telegram_chat_id",
                    "needs [telegram] (the bot posts to the group)",
                ));
            }
            if let Some(url) = &h.teams_workflow_url {
                if !url.starts_with("https://") {
                    return Err(invalid(
                        "helpdesk.teams_workflow_url",
                        "must be an https URL",
                    ));
                }
            }
            if !(1..=240).contains(&h.claim_timeout_minutes) {
                return Err(invalid(
                    "helpdesk.claim_timeout_minutes",
                    "must be between 1 and 240",
                ));
            }
        }
        if let Some(t) = &self.teams {
            for (key, url) in [
                ("teams.openid_metadata_url", &t.openid_metadata_url),
                ("teams.token_url", &t.token_url),
            ] {
                if !(url.starts_with("https://") || url.starts_with("http://")) {
                    return Err(invalid(key, "must be an http(s) URL"));
                }
            }
            match &t.app_id {
                Some(id) if id.trim().is_empty() => {
                    return Err(invalid("teams.app_id", "must not be empty"));
                }
                Some(_) => {
                    if t.app_password
                        .as_ref()
                        .is_none_or(|p| p.expose().is_empty())
                    {
                        return Err(invalid(
                            "teams.app_password",
                            "required with teams.app_id (or teams.app_password_file)",
                        ));
                    }
                    if t.tenant_id.as_deref().is_none_or(|id| id.trim().is_empty()) {
                        return Err(invalid(
                            "teams.tenant_id",
                            "required with teams.app_id (a single-tenant bot)",
                        ));
                    }
                }
                None if !self.http.listen.ip().is_loopback() => {
                    return Err(invalid(
                        "teams.app_id",
                        "required unless http.listen is a loopback address (unauthenticated local testing)",
                    ));
                }
                None => {}
            }
        }
        if let Some(d) = &self.discord {
            match &d.token {
                Some(tok) if !tok.expose().trim().is_empty() => {}
                _ => return Err(invalid("discord.token", "required (or discord.token_file)")),
            }
            if !(d.api_url.starts_with("https://") || d.api_url.starts_with("http://")) {
                return Err(invalid("discord.api_url", "must be an http(s) URL"));
            }
        }
        if let Some(t) = &self.telegram {
            match &t.token {
                Some(tok) if !tok.expose().trim().is_empty() => {}
                _ => {
                    return Err(invalid(
                        "telegram.token",
                        "required (or telegram.token_file)",
                    ))
                }
            }
            if !(t.api_url.starts_with("https://") || t.api_url.starts_with("http://")) {
                return Err(invalid("telegram.api_url", "must be an http(s) URL"));
            }
            if t.mode == TelegramMode::Webhook {
                if self.http.public_url.is_none() {
                    return Err(invalid(
                        "http.public_url",
                        "required when telegram.mode = \"webhook\"",
                    ));
                }
                match &t.webhook_secret {
                    Some(s) if valid_webhook_secret(s.expose()) => {}
                    Some(_) => {
                        return Err(invalid(
                            "telegram.webhook_secret",
                            "1–256 characters of A–Z, a–z, 0–9, _ and - (Telegram's rule)",
                        ))
                    }
                    None => {
                        return Err(invalid(
                            "telegram.webhook_secret",
                            "required when telegram.mode = \"webhook\" (or telegram.webhook_secret_file)",
                        ))
                    }
                }
            }
        }
        Ok(())
    }

    /// The Twilio account for calls: `[voice]`'s own keys, each falling back to a Twilio `[sms]`.
    pub fn voice_account(&self) -> Option<TwilioAccount> {
        let v = self.voice.as_ref()?;
        let sms = self
            .sms
            .as_ref()
            .filter(|s| s.provider == SmsProvider::Twilio);
        Some(TwilioAccount {
            base_url: v.base_url().to_string(),
            account_sid: v
                .account_sid
                .clone()
                .or_else(|| sms.and_then(|s| s.account_sid.clone()))?,
            auth_token: v
                .auth_token
                .clone()
                .or_else(|| sms.and_then(|s| s.auth_token.clone()))?,
            from: v
                .from
                .clone()
                .or_else(|| sms.and_then(|s| s.from.clone()))?,
            timeout_secs: v.timeout_secs,
        })
    }

    /// The database named by `database.url` (checked when the file was read).
    pub fn database(&self) -> Location {
        Location::parse(&self.database.url)
            .unwrap_or_else(|_| Location::Sqlite(PathBuf::from("sspr.db")))
    }
}

fn typed(table: &toml::Table) -> Result<Config, serde_path_to_error::Error<toml::de::Error>> {
    serde_path_to_error::deserialize(toml::Value::Table(table.clone()))
}

/// Telegram allows only these characters in `secret_token`.
fn valid_webhook_secret(s: &str) -> bool {
    (1..=256).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn resolve(
    value: &mut Option<Secret>,
    file: &Option<PathBuf>,
    key: &str,
) -> Result<(), ConfigError> {
    if let Some(path) = file {
        if value.is_some() {
            return Err(ConfigError::Invalid {
                key: key.into(),
                message: format!("set both {key} and {key}_file; keep one"),
            });
        }
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.clone(),
            source,
        })?;
        *value = Some(Secret(text.trim().to_string()));
    }
    Ok(())
}

fn set_path(table: &mut toml::Table, path: &[String], value: &str) -> Result<(), String> {
    let (last, parents) = path.split_last().ok_or("empty key")?;
    let mut t = table;
    for p in parents {
        let entry = t
            .entry(p.clone())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        t = match entry {
            toml::Value::Table(inner) => inner,
            _ => return Err(format!("{p} is not a section")),
        };
    }
    t.insert(last.clone(), toml::Value::String(value.to_string()));
    Ok(())
}

fn file_error(origin: &Path, text: &str, e: &toml::de::Error, key: Option<String>) -> ConfigError {
    let (line, column) = e.span().map(|s| line_col(text, s.start)).unwrap_or((0, 0));
    ConfigError::File {
        path: origin.to_path_buf(),
        line,
        column,
        key: key
            .filter(|k| !k.is_empty() && k != ".")
            .map(|k| format!(", key {k}"))
            .unwrap_or_default(),
        message: e.message().trim().to_string(),
    }
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before
        .rfind('\n')
        .map_or(before.len(), |i| before.len() - i - 1)
        + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = include_str!("../sspr-bot.example.toml");

    fn parse(text: &str, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
        Config::parse(
            Path::new("sspr.toml"),
            text,
            env.iter().map(|(k, v)| (k.to_string(), v.to_string())),
        )
    }

    #[test]
    fn the_example_file_is_valid_and_means_what_it_says() {
        let c = parse(EXAMPLE, &[]).unwrap();
        assert_eq!(c.database.url, "sqlite://sspr.db");
        assert_eq!(c.database(), Location::Sqlite(PathBuf::from("sspr.db")));
        assert_eq!(c.directory.backend, DirectoryBackend::Embedded);
        assert!(c.directory.seed_demo);
        assert_eq!(
            c.providers.outbox.as_deref(),
            Some(Path::new("outbox.jsonl"))
        );
        assert_eq!(c.http.listen, "127.0.0.1:8080".parse().unwrap());
        let t = c.telegram.unwrap();
        assert_eq!(t.api_url, "https://api.telegram.org");
        assert_eq!(t.mode, TelegramMode::Polling);
    }

    #[test]
    fn environment_variables_override_keys() {
        let c = parse(
            EXAMPLE,
            &[
                ("SSPR_TELEGRAM__TOKEN", "123:from-env"),
                ("SSPR_DIRECTORY__SEED_DEMO", "false"),
                ("SSPR_HTTP__LISTEN", "127.0.0.1:9999"),
                ("OTHER__THING", "ignored"),
            ],
        )
        .unwrap();
        assert_eq!(c.telegram.unwrap().token.unwrap().expose(), "123:from-env");
        assert!(!c.directory.seed_demo);
        assert_eq!(c.http.listen.port(), 9999);
    }

    #[test]
    fn a_bad_environment_value_names_the_variable() {
        let err = parse(EXAMPLE, &[("SSPR_HTTP__LISTEN", "not an address")]).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("SSPR_HTTP__LISTEN") && msg.contains("http.listen"),
            "{msg}"
        );
    }

    #[test]
    fn a_bad_file_names_the_key_and_the_line() {
        let text = "[database]\nurl = \"sqlite://x.db\"\n\n[telegram]\ntoken = \"1:a\"\nmode = \"pigeon\"\n";
        let msg = parse(text, &[]).unwrap_err().to_string();
        assert!(msg.contains("line 6"), "{msg}");
        assert!(msg.contains("telegram.mode"), "{msg}");
        assert!(msg.contains("pigeon") || msg.contains("polling"), "{msg}");

        let msg = parse(
            "[http]\nlisten = \"127.0.0.1:80\"\npublic_ur = \"x\"\n",
            &[],
        )
        .unwrap_err()
        .to_string();
        assert!(msg.contains("line 3") && msg.contains("public_ur"), "{msg}");

        let msg = parse("[database\nurl = 1\n", &[]).unwrap_err().to_string();
        assert!(msg.contains("line 1"), "{msg}");
    }

    #[test]
    fn discord_keys_are_read_and_checked() {
        let base = "[providers]\noutbox = \"o.jsonl\"\n";
        let c = parse(
            &format!(
                "{base}[helpdesk]\nagents = [\"discord:1122\", \"telegram:7\"]\ndiscord_channel_id = 998877665544332211\n[discord]\ntoken = \"abc.def\"\n"
            ),
            &[],
        )
        .unwrap();
        let d = c.discord.unwrap();
        assert_eq!(d.token.unwrap().expose(), "abc.def");
        assert_eq!(d.api_url, "https://discord.com");
        assert_eq!(
            c.helpdesk.unwrap().discord_channel_id,
            Some(998_877_665_544_332_211)
        );
        let from_env = parse(
            &format!("{base}[discord]\napi_url = \"http://127.0.0.1:9\"\n"),
            &[("SSPR_DISCORD__TOKEN", "from.env")],
        )
        .unwrap();
        assert_eq!(
            from_env.discord.unwrap().token.unwrap().expose(),
            "from.env"
        );
        let msg = parse(&format!("{base}[discord]\n"), &[])
            .unwrap_err()
            .to_string();
        assert!(msg.starts_with("discord.token"), "{msg}");
        let msg = parse(
            &format!("{base}[discord]\ntoken = \"a\"\napi_url = \"discord.com\"\n"),
            &[],
        )
        .unwrap_err()
        .to_string();
        assert!(msg.starts_with("discord.api_url"), "{msg}");
        let msg = parse(&format!("{base}[helpdesk]\ndiscord_channel_id = 5\n"), &[])
            .unwrap_err()
            .to_string();
        assert!(msg.starts_with("helpdesk.discord_channel_id"), "{msg}");
        let msg = parse(&format!("{base}[helpdesk]\nagents = [\"slack:1\"]\n"), &[])
            .unwrap_err()
            .to_string();
        assert!(msg.contains("discord:<user id>"), "{msg}");
    }

    #[test]
    fn missing_pieces_are_named() {
        let base = "[providers]\noutbox = \"o.jsonl\"\n";
        let msg = parse(&format!("{base}[telegram]\n"), &[])
            .unwrap_err()
            .to_string();
        assert!(msg.starts_with("telegram.token"), "{msg}");
        let msg = parse(
            &format!("{base}[telegram]\ntoken = \"1:a\"\nmode = \"webhook\"\n"),
            &[],
        )
        .unwrap_err()
        .to_string();
        assert!(msg.starts_with("http.public_url"), "{msg}");
        let msg = parse(
            &format!("{base}[http]\npublic_url = \"https://x.nl\"\n[telegram]\ntoken = \"1:a\"\nmode = \"webhook\"\nwebhook_secret = \"has spaces\"\n"),
            &[],
        )
        .unwrap_err()
        .to_string();
        assert!(msg.starts_with("telegram.webhook_secret"), "{msg}");
        let msg = parse("[database]\nurl = \"postgres://sspr@db/sspr\"\n", &[])
            .unwrap_err()
            .to_string();
        assert!(
            msg.starts_with("security.key_file") && msg.contains("every replica"),
            "{msg}"
        );
        let msg = parse("[database]\nurl = \"mysql://sspr@db/sspr\"\n", &[])
            .unwrap_err()
            .to_string();
        assert!(
            msg.starts_with("database.url") && msg.contains("postgres://"),
            "{msg}"
        );
        let msg = parse(
            "[database]\nurl = \"postgres://sspr:hunter2@db:notaport/sspr\"\n[security]\nkey_file = \"k\"\n",
            &[],
        )
        .unwrap_err()
        .to_string();
        assert!(
            msg.starts_with("database.url") && !msg.contains("hunter2"),
            "a bad URL is reported without its password: {msg}"
        );
        assert!(parse("", &[])
            .unwrap_err()
            .to_string()
            .starts_with("providers.outbox"));
    }

    #[test]
    fn secrets_can_come_from_files_and_never_print() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("token");
        std::fs::write(&file, "42:secret-token\n").unwrap();
        let text = format!(
            "[providers]\noutbox = \"o.jsonl\"\n[telegram]\ntoken_file = {:?}\n",
            file.display().to_string()
        );
        let c = parse(&text, &[]).unwrap();
        let t = c.telegram.clone().unwrap();
        assert_eq!(t.token.unwrap().expose(), "42:secret-token");
        assert!(!format!("{c:?}").contains("secret-token"));
        let both = format!("{text}token = \"x\"\n");
        assert!(parse(&both, &[])
            .unwrap_err()
            .to_string()
            .contains("keep one"));
    }
}
