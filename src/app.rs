//! Wiring: the store, the directory, the providers, the server key and the core, built from the
//! demo's defaults or from a configuration file. Channels get an [`App`] and nothing else.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;

use crate::config::{Config, DirectoryBackend, SmsProvider};
use crate::directory::{Directory, EmbeddedDirectory, GraphDirectory, LdapDirectory};
use crate::helpdesk::desk::Helpdesk;
use crate::i18n::Localizer;
use crate::providers::bird::BirdSms;
use crate::providers::duo::{DuoPush, PendingPush};
use crate::providers::smtp::SmtpEmail;
use crate::providers::twilio::TwilioSms;
use crate::providers::twilio_voice::TwilioVoice;
use crate::providers::{Outbox, Providers};
use crate::recovery::{Clock, Core, Keys, PhoneAnswer, Rules};
use crate::store::{Location, Store};
use tokio::sync::mpsc;

/// Everything a channel needs.
pub struct App {
    pub core: Arc<Core>,
    pub store: Store,
    /// The directory the core resets and unlocks in.
    pub directory: Arc<dyn Directory>,
    /// The same directory when it is the embedded one (demo, tests: sign-ins, seeding).
    pub embedded: Option<Arc<EmbeddedDirectory>>,
    /// The development outbox, when it replaces the real providers.
    pub outbox: Option<Arc<Outbox>>,
    pub localizer: Arc<Localizer>,
    /// Results providers learn by themselves (Duo push answers), for `serve` to hand to
    /// [`Core::late_result`].
    pub late_results: Option<mpsc::UnboundedReceiver<(String, PhoneAnswer)>>,
    /// The Duo push provider, to resume waiting for answers after a restart.
    pub duo: Option<Arc<DuoPush>>,
}

/// Where things live; the demo and a configuration file both come down to this.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The database: a SQLite file or a PostgreSQL URL.
    pub db: Location,
    /// Set: every method goes to this development outbox. Unset: the real providers.
    pub outbox: Option<PathBuf>,
    pub key_file: PathBuf,
    /// Keys replaced by a rotation, still tried for stored secrets (`security.previous_key_files`).
    pub previous_key_files: Vec<PathBuf>,
    pub seed_demo: bool,
}

impl Settings {
    pub fn from_config(config: &Config) -> anyhow::Result<Self> {
        let db = config.database();
        Ok(Self {
            key_file: config
                .security
                .key_file
                .clone()
                .or_else(|| db.sqlite_path().map(default_key_path))
                .context("security.key_file is required with a PostgreSQL database")?,
            previous_key_files: config.security.previous_key_files.clone(),
            outbox: config.providers.outbox.clone(),
            seed_demo: config.directory.seed_demo,
            db,
        })
    }
}

/// The external directory a configuration names (LDAP, Graph); `None` for the embedded table.
async fn external_directory(config: &Config) -> anyhow::Result<Option<Arc<dyn Directory>>> {
    Ok(match config.directory.backend {
        DirectoryBackend::Embedded => None,
        DirectoryBackend::Ldap => Some(Arc::new(
            LdapDirectory::connect(&config.directory)
                .await
                .context("[directory] ldap")?,
        )),
        DirectoryBackend::Graph => Some(Arc::new(
            GraphDirectory::new(&config.directory).context("[directory] graph")?,
        )),
    })
}

/// The directory of a configuration on its own, without providers or core (`admin report`):
/// LDAP, Graph, or the embedded table in `store`.
pub async fn directory_from_config(
    config: &Config,
    store: &Store,
) -> anyhow::Result<Arc<dyn Directory>> {
    Ok(match external_directory(config).await? {
        Some(external) => external,
        None => Arc::new(EmbeddedDirectory::new(store)),
    })
}

/// The helpdesk of a configuration, without its desks (the channels add those in `serve`).
pub fn helpdesk_from_config(config: &Config) -> anyhow::Result<Helpdesk> {
    let Some(h) = &config.helpdesk else {
        return Ok(Helpdesk::default());
    };
    Ok(Helpdesk {
        hours: h.office_hours().context("[helpdesk]")?,
        phone: h.phone.clone(),
        agents: h.agents.clone(),
        desks: Vec::new(),
        claim_timeout_secs: h.claim_timeout_minutes * 60,
    })
}

/// The server key's default file: beside the database, named after it (`sspr.db.key`).
pub fn default_key_path(db: &Path) -> PathBuf {
    let mut name = db.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".key");
    db.with_file_name(name)
}

impl App {
    /// Opens the app with the development outbox (or no provider at all when `settings.outbox`
    /// is unset).
    pub async fn open(
        settings: &Settings,
        clock: Arc<dyn Clock>,
        rules: Rules,
    ) -> anyhow::Result<Self> {
        let localizer = Arc::new(Localizer::new().context("loading translations")?);
        let outbox = settings.outbox.as_ref().map(|p| Arc::new(Outbox::new(p)));
        let providers = outbox.clone().map(Providers::outbox).unwrap_or_default();
        Self::open_with(settings, providers, outbox, localizer, clock, rules).await
    }

    /// Opens the app with the providers of a configuration: the outbox if `[providers] outbox`
    /// is set, otherwise `[email]` and `[sms]`.
    pub async fn from_config(config: &Config, clock: Arc<dyn Clock>) -> anyhow::Result<Self> {
        let settings = Settings::from_config(config)?;
        let mut rules = Rules::default();
        rules.password.min_chars = config.password.min_length;
        rules.breach_check_url = config.password.breach_check_url.clone();
        rules.registration_questions = config.registration.questions.clone();
        rules.reconfirm_after_secs = config.registration.reconfirm_days * 24 * 60 * 60;
        rules.totp_issuer = config.registration.totp_issuer.clone();
        rules.public_url = config.http.public_url.clone();
        let helpdesk = helpdesk_from_config(config)?;
        let directory = external_directory(config).await?;
        let localizer = Arc::new(Localizer::new().context("loading translations")?);
        if let Some(path) = &settings.outbox {
            let outbox = Arc::new(Outbox::new(path));
            let providers = Providers::outbox(outbox.clone());
            let app = Self::assemble(
                &settings,
                directory,
                providers,
                Some(outbox),
                localizer,
                clock,
                rules,
            )
            .await?;
            app.core.set_helpdesk(helpdesk);
            return Ok(app);
        }
        let mut providers = Providers::default();
        if let Some(email) = &config.email {
            providers.email = Some(Arc::new(
                SmtpEmail::new(email, Arc::clone(&localizer)).context("[email]")?,
            ));
        }
        let (late_tx, late_rx) = mpsc::unbounded_channel();
        if let Some(account) = config.voice_account() {
            let public = config
                .http
                .public_url
                .as_deref()
                .context("[voice] needs http.public_url")?;
            providers.voice = Some(Arc::new(
                TwilioVoice::new(&account, public, Arc::clone(&localizer)).context("[voice]")?,
            ));
        }
        let duo = match &config.push {
            Some(push) => Some(Arc::new(
                DuoPush::new(push, Arc::clone(&localizer), late_tx).context("[push]")?,
            )),
            None => None,
        };
        if let Some(duo) = &duo {
            providers.push = Some(duo.clone());
        }
        if let Some(sms) = &config.sms {
            providers.sms = Some(match sms.provider {
                SmsProvider::Twilio => {
                    Arc::new(TwilioSms::new(sms, Arc::clone(&localizer)).context("[sms]")?)
                }
                SmsProvider::Bird => {
                    Arc::new(BirdSms::new(sms, Arc::clone(&localizer)).context("[sms]")?)
                }
            });
        }
        let mut app = Self::assemble(
            &settings, directory, providers, None, localizer, clock, rules,
        )
        .await?;
        app.late_results = Some(late_rx);
        app.duo = duo;
        app.core.set_helpdesk(helpdesk);
        Ok(app)
    }

    /// After a restart: pushes still waiting for their answer are polled again, with what is
    /// left of their time; one without a stored Duo reference is told to the user as unanswered.
    /// Returns how many were resumed.
    pub async fn resume_pushes(&self) -> anyhow::Result<usize> {
        let Some(duo) = &self.duo else {
            return Ok(0);
        };
        let timeout = i64::try_from(duo.timeout_secs()).unwrap_or(i64::MAX);
        let mut resumed = Vec::new();
        for ch in self.store.open_challenges("push").await? {
            match ch.detail {
                Some(txid) => resumed.push(PendingPush {
                    push_id: ch.id,
                    txid,
                    deadline_unix: ch.created_at.saturating_add(timeout),
                }),
                None => {
                    self.core
                        .late_result(&ch.id, PhoneAnswer::PushTimedOut)
                        .await?;
                }
            }
        }
        let n = resumed.len();
        duo.resume(resumed).await;
        Ok(n)
    }

    /// Wires an app around the given providers (tests swap real providers in here).
    pub async fn open_with(
        settings: &Settings,
        providers: Providers,
        outbox: Option<Arc<Outbox>>,
        localizer: Arc<Localizer>,
        clock: Arc<dyn Clock>,
        rules: Rules,
    ) -> anyhow::Result<Self> {
        Self::assemble(settings, None, providers, outbox, localizer, clock, rules).await
    }

    /// `directory`: an external one (LDAP, Graph), or `None` for the embedded table.
    #[allow(clippy::too_many_arguments)]
    async fn assemble(
        settings: &Settings,
        directory: Option<Arc<dyn Directory>>,
        providers: Providers,
        outbox: Option<Arc<Outbox>>,
        localizer: Arc<Localizer>,
        clock: Arc<dyn Clock>,
        rules: Rules,
    ) -> anyhow::Result<Self> {
        let store = Store::open_at(&settings.db).await?;
        let keys = Keys::load_or_create(&settings.key_file)?
            .with_previous(&settings.previous_key_files)
            .context("[security] previous_key_files")?;
        let (directory, embedded) = match directory {
            Some(external) => (external, None),
            None => {
                let embedded = Arc::new(EmbeddedDirectory::new(&store));
                if settings.seed_demo {
                    crate::demo::seed_if_empty(&store, &embedded, &keys, clock.now().timestamp())
                        .await?;
                }
                (embedded.clone() as Arc<dyn Directory>, Some(embedded))
            }
        };
        let core = Arc::new(Core::new(
            store.clone(),
            directory.clone(),
            providers,
            keys,
            clock,
            rules,
        ));
        Ok(Self {
            core,
            store,
            directory,
            embedded,
            outbox,
            localizer,
            late_results: None,
            duo: None,
        })
    }
}
