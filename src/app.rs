//! Wiring: the store, the directory, the providers, the server key and the core, built from the
//! demo's defaults or from a configuration file. Channels get an [`App`] and nothing else.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;

use crate::config::Config;
use crate::directory::EmbeddedDirectory;
use crate::i18n::Localizer;
use crate::providers::{Outbox, Providers};
use crate::recovery::{Clock, Core, Keys, Rules};
use crate::store::Store;

/// Everything a channel needs.
pub struct App {
    pub core: Arc<Core>,
    pub store: Store,
    pub directory: Arc<EmbeddedDirectory>,
    pub outbox: Arc<Outbox>,
    pub localizer: Arc<Localizer>,
}

/// Where things live; the demo and a configuration file both come down to this.
#[derive(Clone, Debug)]
pub struct Settings {
    pub db: PathBuf,
    pub outbox: PathBuf,
    pub key_file: PathBuf,
    pub seed_demo: bool,
}

impl Settings {
    pub fn from_config(config: &Config) -> anyhow::Result<Self> {
        let db = config.sqlite_path();
        Ok(Self {
            key_file: config
                .security
                .key_file
                .clone()
                .unwrap_or_else(|| default_key_path(&db)),
            outbox: config
                .providers
                .outbox
                .clone()
                .context("providers.outbox is required")?,
            seed_demo: config.directory.seed_demo,
            db,
        })
    }
}

/// The server key's default file: beside the database, named after it (`sspr.db.key`).
pub fn default_key_path(db: &Path) -> PathBuf {
    let mut name = db.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".key");
    db.with_file_name(name)
}

impl App {
    pub async fn open(
        settings: &Settings,
        clock: Arc<dyn Clock>,
        rules: Rules,
    ) -> anyhow::Result<Self> {
        let store = Store::open(&settings.db).await?;
        let keys = Keys::load_or_create(&settings.key_file)?;
        let directory = Arc::new(EmbeddedDirectory::new(store.pool().clone()));
        if settings.seed_demo {
            crate::demo::seed_if_empty(&store, &directory, &keys, clock.now().timestamp()).await?;
        }
        let outbox = Arc::new(Outbox::new(&settings.outbox));
        let core = Arc::new(Core::new(
            store.clone(),
            directory.clone(),
            Providers::outbox(outbox.clone()),
            keys,
            clock,
            rules,
        ));
        Ok(Self {
            core,
            store,
            directory,
            outbox,
            localizer: Arc::new(Localizer::new().context("loading translations")?),
        })
    }

    pub async fn from_config(config: &Config, clock: Arc<dyn Clock>) -> anyhow::Result<Self> {
        Self::open(&Settings::from_config(config)?, clock, Rules::default()).await
    }
}
