//! `sspr-bot serve`: the HTTP server and every configured chat channel, until shutdown. On
//! shutdown (SIGTERM, Ctrl-C) the HTTP server stops taking requests and finishes those in flight;
//! a turn that has started always runs to its end, because turns are not cancelled mid-way.

use std::sync::Arc;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::app::App;
use crate::channels::discord::Discord;
use crate::channels::teams::auth::BotAuth;
use crate::channels::teams::{connector, Teams};
use crate::channels::telegram::Telegram;
use crate::config::{Config, TeamsConfig, TelegramMode};

/// Runs until `shutdown` is cancelled. `listener` is bound by the caller (port 0 in tests).
pub async fn serve(
    mut app: App,
    config: &Config,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let addr = listener.local_addr().context("listener address")?;
    let mut router = crate::http::router(Arc::clone(&app.core));
    // Twilio's call script and callbacks, when calls go through Twilio.
    if let (None, Some(account), Some(public)) =
        (&app.outbox, config.voice_account(), &config.http.public_url)
    {
        router = router.merge(crate::providers::twilio_voice::router(
            Arc::clone(&app.core),
            Arc::clone(&app.localizer),
            account.auth_token,
            public.clone(),
        ));
    }
    let mut telegram = None;
    let mut polling = None;
    if let Some(tc) = &config.telegram {
        let token = tc.token.as_ref().context("telegram.token")?;
        let tg = Telegram::new(
            token.expose(),
            &tc.api_url,
            Arc::clone(&app.core),
            Arc::clone(&app.localizer),
            shutdown.clone(),
        )?;
        let name = tg.check().await?;
        app.core.register_outbound("telegram", tg.clone());
        match tc.mode {
            TelegramMode::Polling => {
                tracing::info!(bot = %name, "telegram: long polling");
                polling = Some(tokio::spawn(Arc::clone(&tg).run_polling()));
            }
            TelegramMode::Webhook => {
                let public = config
                    .http
                    .public_url
                    .as_deref()
                    .context("http.public_url")?;
                let secret = tc
                    .webhook_secret
                    .as_ref()
                    .context("telegram.webhook_secret")?;
                router = router.merge(tg.webhook_router(secret.expose()));
                tg.register_webhook(public, secret.expose()).await?;
                tracing::info!(bot = %name, "telegram: webhook registered");
            }
        }
        telegram = Some(tg);
    }
    let mut discord = None;
    let mut gateway = None;
    if let Some(dc) = &config.discord {
        let token = dc.token.as_ref().context("discord.token")?;
        let d = Discord::new(
            token.expose(),
            &dc.api_url,
            Arc::clone(&app.core),
            Arc::clone(&app.localizer),
            shutdown.clone(),
        )?;
        let name = d.check().await?;
        app.core.register_outbound("discord", d.clone());
        tracing::info!(bot = %name, "discord: connecting to the gateway");
        // serenity reconnects by itself; it gives up only on what a reconnect can't fix (a
        // revoked token, intents not allowed): then the whole service stops, so that the
        // supervisor's restart and alerting see it.
        let (run, stop) = (Arc::clone(&d), shutdown.clone());
        gateway = Some(tokio::spawn(async move {
            let result = run.run_gateway().await;
            if result.is_err() {
                stop.cancel();
            }
            result
        }));
        discord = Some(d);
    }
    // The helpdesk's desks: the Telegram group and the Discord channel (where agents act), then
    // the Teams channel.
    if let Some(hc) = &config.helpdesk {
        let mut helpdesk = crate::app::helpdesk_from_config(config)?;
        if let (Some(chat_id), Some(tg)) = (hc.telegram_chat_id, &telegram) {
            helpdesk.desks.push(Arc::new(
                tg.helpdesk_desk(chat_id, crate::dialogue::Lang::Nl),
            ));
            tracing::info!(chat_id, "helpdesk: Telegram group");
        }
        if let (Some(channel_id), Some(d)) = (hc.discord_channel_id, &discord) {
            helpdesk.desks.push(Arc::new(
                d.helpdesk_desk(channel_id, crate::dialogue::Lang::Nl),
            ));
            tracing::info!(channel_id, "helpdesk: Discord channel");
        }
        if let Some(url) = &hc.teams_workflow_url {
            helpdesk.desks.push(Arc::new(
                crate::helpdesk::teams_desk::TeamsWorkflowDesk::new(
                    url,
                    Arc::clone(&app.localizer),
                )
                .context("helpdesk.teams_workflow_url")?,
            ));
            tracing::info!("helpdesk: Teams channel (Workflows webhook)");
        }
        if helpdesk.desks.is_empty() {
            tracing::warn!(
                "helpdesk: no desk configured: users asking for a person get the phone number"
            );
        }
        app.core.set_helpdesk(helpdesk);
    }
    let mut teams = None;
    if let Some(tc) = &config.teams {
        let t = teams_channel(&app, tc, shutdown.clone())?;
        app.core.register_outbound("teams", t.clone());
        router = router.merge(t.router());
        tracing::info!(
            path = crate::channels::teams::MESSAGES_PATH,
            "teams: messaging endpoint"
        );
        teams = Some(t);
    }
    if config.telegram.is_none() && config.teams.is_none() && config.discord.is_none() {
        tracing::warn!("no chat channel is configured: only the HTTP endpoints are served");
    }
    // Late results are taken once every channel that delivers them is registered.
    // Pushes that were waiting when the previous process stopped are waited for again.
    match app.resume_pushes().await {
        Ok(0) => {}
        Ok(n) => tracing::info!(pushes = n, "resumed waiting for push answers"),
        Err(e) => tracing::error!(error = format!("{e:#}"), "resuming pushes failed"),
    }
    // Results providers learn by themselves (push answers) go into their conversations.
    if let Some(mut results) = app.late_results.take() {
        let core = Arc::clone(&app.core);
        let stop = shutdown.clone();
        tokio::spawn(async move {
            loop {
                let next = tokio::select! {
                    r = results.recv() => r,
                    _ = stop.cancelled() => None,
                };
                let Some((challenge, answer)) = next else {
                    break;
                };
                if let Err(e) = core.late_result(&challenge, answer).await {
                    tracing::error!(
                        error = format!("{e:#}"),
                        "a late result could not be delivered"
                    );
                }
            }
        });
    }
    // Remembered update, activity, message and interaction ids older than
    // `UPDATE_MEMORY_SECS` are forgotten, for every channel: at start and then hourly.
    {
        let core = Arc::clone(&app.core);
        let stop = shutdown.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(std::time::Duration::from_secs(60 * 60));
            loop {
                tokio::select! {
                    _ = every.tick() => {}
                    _ = stop.cancelled() => break,
                }
                match core
                    .store()
                    .prune_updates(chrono::Utc::now().timestamp())
                    .await
                {
                    Ok(0) => {}
                    Ok(n) => tracing::debug!(ids = n, "forgot old event ids"),
                    Err(e) => tracing::warn!(error = format!("{e:#}"), "pruning event ids failed"),
                }
            }
        });
    }
    // Callback requests posted when the desk opens; handoffs nobody claimed ended.
    {
        let core = Arc::clone(&app.core);
        let stop = shutdown.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(std::time::Duration::from_secs(30));
            loop {
                tokio::select! {
                    _ = every.tick() => {}
                    _ = stop.cancelled() => break,
                }
                if let Err(e) = core.helpdesk_tick().await {
                    tracing::error!(error = format!("{e:#}"), "helpdesk: periodic work failed");
                }
            }
        });
    }
    tracing::info!(%addr, "HTTP server listening");
    let stop = shutdown.clone();
    let http = axum::serve(listener, router)
        .with_graceful_shutdown(async move { stop.cancelled().await })
        .await
        .context("HTTP server");
    // The HTTP server returns on shutdown or on failure; either way the channels stop too.
    shutdown.cancel();
    if let Some(task) = polling {
        match task.await {
            Ok(result) => result?,
            Err(e) => tracing::error!(error = %e, "telegram polling task failed"),
        }
    }
    if let Some(task) = gateway {
        match task.await {
            Ok(result) => result?,
            Err(e) => tracing::error!(error = %e, "discord gateway task failed"),
        }
    }
    if let Some(tg) = telegram {
        tg.drain().await;
    }
    if let Some(d) = discord {
        d.drain().await;
    }
    if let Some(t) = teams {
        t.drain().await;
    }
    http?;
    tracing::info!("stopped");
    Ok(())
}

/// The Teams channel of a configuration: token checks and a connector token with an app id;
/// without one, local testing (the configuration only allows that on a loopback listener).
fn teams_channel(
    app: &App,
    tc: &TeamsConfig,
    shutdown: CancellationToken,
) -> anyhow::Result<Arc<Teams>> {
    let http = connector::http_client().context("teams: HTTP client")?;
    let (auth, credentials) = match (&tc.app_id, &tc.app_password, &tc.tenant_id) {
        (Some(app_id), Some(password), Some(tenant)) => (
            Some(BotAuth::new(&tc.openid_metadata_url, app_id, http.clone())),
            Some(
                connector::Credentials::new(app_id.clone(), password.clone(), tenant.clone())
                    .with_token_url(tc.token_url.clone()),
            ),
        ),
        (None, _, _) => {
            tracing::warn!(
                "teams: no app_id: local testing mode, activities are NOT authenticated \
                 (only allowed while http.listen is a loopback address)"
            );
            (None, None)
        }
        _ => anyhow::bail!("teams.app_password and teams.tenant_id are required with teams.app_id"),
    };
    Ok(Teams::new(
        Arc::clone(&app.core),
        Arc::clone(&app.localizer),
        auth,
        connector::Connector::new(credentials, http),
        shutdown,
    ))
}

/// Cancels `token` on SIGTERM or Ctrl-C.
pub fn cancel_on_signals(token: CancellationToken) {
    tokio::spawn(async move {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            let Ok(mut term) = signal(SignalKind::terminate()) else {
                tracing::error!("cannot listen for SIGTERM");
                return;
            };
            tokio::select! {
                _ = term.recv() => tracing::info!("SIGTERM: shutting down"),
                _ = tokio::signal::ctrl_c() => tracing::info!("Ctrl-C: shutting down"),
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
        token.cancel();
    });
}
