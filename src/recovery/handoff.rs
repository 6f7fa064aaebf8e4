//! Handing a conversation to a person at the ICT Servicedesk (guide §2, DESIGN §1).
//!
//! In office hours a handoff is opened and its card posted to the desks; an agent claims it,
//! messages go both ways until the agent (or the user) closes it, and the agent may unlock the
//! account or let the user set a new password in their own chat — never choose or see one.
//! Nobody claiming it in time gives the user the phone number. Outside office hours the user
//! hears when the desk opens and may leave a callback request, posted to the desk when it opens.
//! Every step is audited; message bodies never are.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::effects::new_id;
use super::{ChatRef, Core, TurnCtx};
use crate::dialogue::{Event, Opening};
use crate::directory::DirectoryError;
use crate::domain::{LoginName, Reason};
use crate::helpdesk::desk::{Agent, AgentAction, AgentOutcome, HandoffCard, Helpdesk};
use crate::store::{HandoffRow, RecoveryRow};

type Events = anyhow::Result<Vec<Event>>;

impl Core {
    /// Sets the helpdesk (office hours, phone, agents, desks); until then the default one,
    /// which has no desk.
    pub fn set_helpdesk(&self, helpdesk: Helpdesk) {
        *self
            .helpdesk
            .write()
            .expect("helpdesk lock is never poisoned: no code panics holding it") =
            Arc::new(helpdesk);
    }

    pub(crate) fn helpdesk(&self) -> Arc<Helpdesk> {
        Arc::clone(
            &self
                .helpdesk
                .read()
                .expect("helpdesk lock is never poisoned: no code panics holding it"),
        )
    }

    fn opening(&self, hd: &Helpdesk, at: DateTime<Utc>, now: DateTime<Utc>) -> Opening {
        let o = hd.hours.describe(at, now);
        Opening {
            weekday: o.weekday,
            time: o.time,
            date: o.date,
            relative: o.relative.as_str(),
        }
    }

    pub(crate) async fn request_human(
        &self,
        ctx: &TurnCtx<'_>,
        recovery_id: Option<String>,
        login: Option<LoginName>,
        reason: &str,
    ) -> Events {
        let hd = self.helpdesk();
        let now = self.now();
        if hd.desks.is_empty() {
            return Ok(vec![Event::NoDesk {
                phone: hd.phone.clone(),
            }]);
        }
        if !hd.hours.is_open(now) {
            let account = login.as_ref().map(|l| l.as_str()).unwrap_or("-");
            self.audit(ctx, account, "handoff_requested", None, "desk_closed", None)
                .await?;
            return Ok(match hd.hours.next_opening(now) {
                Some(at) => vec![Event::DeskClosed {
                    opening: self.opening(&hd, at, now),
                    phone: hd.phone.clone(),
                }],
                None => vec![Event::NoDesk {
                    phone: hd.phone.clone(),
                }],
            });
        }
        // One live handoff per conversation: asking again finds the open one.
        if let Some(open) = self.store.open_handoff(&ctx.chat.conversation).await? {
            return Ok(vec![Event::HandoffOpened {
                handoff_id: open.id,
            }]);
        }
        let row = HandoffRow {
            id: new_id(),
            kind: "live".into(),
            conversation_key: ctx.chat.conversation.clone(),
            chat_user: ctx.chat.user.clone(),
            account: login.as_ref().map(|l| l.as_str().to_string()),
            recovery_id,
            reason: reason.to_string(),
            lang: ctx.lang.code().into(),
            status: "waiting".into(),
            agent: None,
            agent_name: None,
            desk_ref: None,
            created_at: ctx.now,
            due_at: Some(ctx.now + hd.claim_timeout_secs),
            claimed_at: None,
            closed_at: None,
        };
        self.store.insert_handoff(&row).await?;
        let posted = self.post_to_desks(&hd, &row).await?;
        let account = row.account.as_deref().unwrap_or("-");
        if !posted {
            self.store.end_handoff(&row.id, "closed", ctx.now).await?;
            self.audit(
                ctx,
                account,
                "handoff_opened",
                None,
                "desk_unavailable",
                None,
            )
            .await?;
            return Ok(vec![Event::NoDesk {
                phone: hd.phone.clone(),
            }]);
        }
        self.audit(
            ctx,
            account,
            "handoff_opened",
            None,
            "ok",
            Some(format!("{} {}", row.id, row.reason)),
        )
        .await?;
        Ok(vec![Event::HandoffOpened { handoff_id: row.id }])
    }

    pub(crate) async fn request_callback(
        &self,
        ctx: &TurnCtx<'_>,
        login: Option<LoginName>,
    ) -> Events {
        let hd = self.helpdesk();
        let now = self.now();
        let Some(at) = hd.hours.next_opening(now) else {
            return Ok(vec![Event::NoDesk {
                phone: hd.phone.clone(),
            }]);
        };
        let row = HandoffRow {
            id: new_id(),
            kind: "callback".into(),
            conversation_key: ctx.chat.conversation.clone(),
            chat_user: ctx.chat.user.clone(),
            account: login.as_ref().map(|l| l.as_str().to_string()),
            recovery_id: None,
            reason: "callback".into(),
            lang: ctx.lang.code().into(),
            status: "queued".into(),
            agent: None,
            agent_name: None,
            desk_ref: None,
            created_at: ctx.now,
            due_at: Some(at.timestamp()),
            claimed_at: None,
            closed_at: None,
        };
        self.store.insert_handoff(&row).await?;
        self.audit(
            ctx,
            row.account.as_deref().unwrap_or("-"),
            "callback_requested",
            None,
            "ok",
            Some(row.id.clone()),
        )
        .await?;
        Ok(vec![Event::CallbackQueued {
            opening: self.opening(&hd, at, now),
        }])
    }

    pub(crate) async fn relay_to_desk(
        &self,
        ctx: &TurnCtx<'_>,
        handoff_id: &str,
        text: &str,
    ) -> Events {
        let Some(h) = self.store.handoff(handoff_id).await? else {
            return Ok(vec![]);
        };
        if h.conversation_key != ctx.chat.conversation
            || !matches!(h.status.as_str(), "waiting" | "claimed")
        {
            return Ok(vec![]);
        }
        let hd = self.helpdesk();
        let card = self.card(&h).await?;
        for desk in &hd.desks {
            if let Err(e) = desk.relay(h.desk_ref.as_deref(), &card, text).await {
                tracing::error!(
                    desk = desk.name(),
                    error = format!("{e:#}"),
                    "relaying to the desk failed"
                );
            }
        }
        self.audit(
            ctx,
            h.account.as_deref().unwrap_or("-"),
            "handoff_relay",
            None,
            "to_agent",
            Some(h.id.clone()),
        )
        .await?;
        Ok(vec![])
    }

    pub(crate) async fn leave_handoff(&self, ctx: &TurnCtx<'_>, handoff_id: &str) -> Events {
        let Some(h) = self.store.handoff(handoff_id).await? else {
            return Ok(vec![]);
        };
        if h.conversation_key == ctx.chat.conversation
            && self.store.end_handoff(&h.id, "closed", ctx.now).await?
        {
            self.audit(
                ctx,
                h.account.as_deref().unwrap_or("-"),
                "handoff_closed",
                None,
                "by_user",
                Some(h.id.clone()),
            )
            .await?;
            self.update_cards(&h.id, "closed_by_user").await;
        }
        Ok(vec![])
    }

    /// An agent acts on handoff `handoff_id` (found by id or by the desk's card reference).
    /// Only agents in `helpdesk.agents` can; everything is audited with the agent's id.
    pub async fn agent_action(
        &self,
        agent: &Agent,
        handoff: &str,
        action: AgentAction,
    ) -> anyhow::Result<AgentOutcome> {
        let hd = self.helpdesk();
        let now = self.now().timestamp();
        let h = match self.store.handoff(handoff).await? {
            Some(h) => Some(h),
            None => self.store.handoff_by_desk_ref(handoff).await?,
        };
        let Some(h) = h else {
            return Ok(AgentOutcome::UnknownHandoff);
        };
        let account = h.account.clone().unwrap_or_else(|| "-".into());
        let event = format!("agent_{}", action.id());
        let audit = |outcome: &str, detail: String| {
            let row = crate::store::AuditRow {
                time: now,
                account: account.clone(),
                chat_user: agent.id.clone(),
                event: event.clone(),
                method: None,
                outcome: outcome.to_string(),
                detail: Some(detail),
            };
            async move { self.store.append_audit(&row).await }
        };
        if !hd.is_agent(&agent.id) {
            audit("refused_not_an_agent", h.id.clone()).await?;
            return Ok(AgentOutcome::NotAnAgent);
        }
        if !matches!(h.status.as_str(), "waiting" | "claimed") {
            return Ok(AgentOutcome::Closed);
        }
        let chat = ChatRef::new(h.conversation_key.clone(), h.chat_user.clone());
        if let AgentAction::Claim = action {
            if !self
                .store
                .claim_handoff(&h.id, &agent.id, &agent.name, now)
                .await?
            {
                return Ok(AgentOutcome::NotYours(h.agent_name.clone()));
            }
            audit("ok", h.id.clone()).await?;
            self.update_cards(&h.id, "claimed").await;
            self.push_events(
                &chat,
                vec![Event::AgentJoined {
                    handoff_id: h.id.clone(),
                    name: agent.name.clone(),
                }],
            )
            .await?;
            return Ok(AgentOutcome::Done);
        }
        if h.agent.as_deref() != Some(agent.id.as_str()) {
            return Ok(AgentOutcome::NotYours(h.agent_name.clone()));
        }
        match action {
            AgentAction::Claim => unreachable!("handled above"),
            AgentAction::Message(text) => {
                audit("ok", format!("{} to_user", h.id)).await?;
                self.push_events(
                    &chat,
                    vec![Event::AgentMessage {
                        name: agent.name.clone(),
                        text,
                    }],
                )
                .await?;
            }
            AgentAction::Close => {
                self.store.end_handoff(&h.id, "closed", now).await?;
                audit("ok", h.id.clone()).await?;
                self.update_cards(&h.id, "closed").await;
                self.push_events(
                    &chat,
                    vec![Event::HandoffEnded {
                        timed_out: false,
                        phone: hd.phone.clone(),
                    }],
                )
                .await?;
            }
            AgentAction::Unlock => {
                let Some(login) = h.account.as_deref().and_then(|a| LoginName::parse(a).ok())
                else {
                    return Ok(AgentOutcome::NoAccount);
                };
                match self.directory.unlock(&login).await {
                    Ok(()) => {}
                    Err(e) => {
                        let why = match &e {
                            DirectoryError::UnlockUnsupported => "unsupported_by_directory",
                            DirectoryError::NotFound => "not_found",
                            _ => "directory_unavailable",
                        };
                        audit(why, h.id.clone()).await?;
                        return Ok(AgentOutcome::Failed(e.to_string()));
                    }
                }
                audit("ok", h.id.clone()).await?;
                self.metrics.unlock();
                self.push_events(&chat, vec![Event::AgentUnlocked]).await?;
            }
            AgentAction::SendReset => {
                let Some(login) = h.account.as_deref().and_then(|a| LoginName::parse(a).ok())
                else {
                    return Ok(AgentOutcome::NoAccount);
                };
                let found = self.directory.find(&login).await;
                if !matches!(found, Ok(Some(ref a)) if !a.disabled) {
                    audit("refused_no_such_account", h.id.clone()).await?;
                    return Ok(AgentOutcome::Failed("no such (enabled) account".into()));
                }
                let row = RecoveryRow {
                    id: new_id(),
                    conversation_key: h.conversation_key.clone(),
                    chat_user: h.chat_user.clone(),
                    account: login.as_str().to_string(),
                    reason: Reason::Forgot.id().into(),
                    decoy: false,
                    lang: h.lang.clone(),
                    offered: String::new(),
                    passed: String::new(),
                    phone_confirmed: false,
                    status: "open".into(),
                    created_at: now,
                    updated_at: now,
                };
                self.store.insert_recovery(&row).await?;
                self.store.approve_recovery(&row.id, &agent.id).await?;
                audit("ok", format!("{} recovery {}", h.id, row.id)).await?;
                self.push_events(
                    &chat,
                    vec![Event::AgentApprovedReset {
                        recovery_id: row.id,
                        login,
                    }],
                )
                .await?;
            }
        }
        Ok(AgentOutcome::Done)
    }

    /// "This wasn't me" from the chat that just finished a reset or unlock.
    pub(crate) async fn report_not_me_in_chat(&self, ctx: &TurnCtx<'_>) -> Events {
        let since = ctx.now - 24 * 60 * 60;
        let Some(account) = self
            .store
            .last_finished_recovery(&ctx.chat.conversation, since)
            .await?
        else {
            return Ok(vec![Event::Refused(
                crate::dialogue::Refusal::RecoveryClosed,
            )]);
        };
        self.report_not_me(&account, "chat", Some(ctx.chat)).await?;
        Ok(vec![Event::ReportedNotMe])
    }

    /// The owner of `account` did not do the last reset or unlock: self-service recovery and
    /// registration are blocked until an admin lifts it (`admin unblock`), every open recovery
    /// of the account is cancelled, and an urgent handoff goes to the desk (in or out of office
    /// hours: it waits there for the first agent).
    pub async fn report_not_me(
        &self,
        account: &str,
        via: &str,
        chat: Option<&ChatRef>,
    ) -> anyhow::Result<()> {
        let now = self.now().timestamp();
        let newly = self.store.report_account(account, via, now).await?;
        let cancelled = self.store.cancel_other_recoveries(account, "", now).await?;
        let (conversation_key, chat_user) = match chat {
            Some(c) => (c.conversation.clone(), c.user.clone()),
            None => (format!("{via}:{account}"), "-".to_string()),
        };
        self.store
            .append_audit(&crate::store::AuditRow {
                time: now,
                account: account.to_string(),
                chat_user: chat_user.clone(),
                event: "reported_not_me".into(),
                method: None,
                outcome: if newly { "blocked" } else { "already_blocked" }.into(),
                detail: Some(format!("via {via}; {cancelled} open recoveries cancelled")),
            })
            .await?;
        if !newly {
            return Ok(());
        }
        let hd = self.helpdesk();
        let lang = match chat {
            Some(c) => self.load(c).await.map(|conv| conv.lang).unwrap_or_default(),
            None => crate::dialogue::Lang::default(),
        };
        let row = HandoffRow {
            id: new_id(),
            kind: "urgent".into(),
            conversation_key,
            chat_user,
            account: Some(account.to_string()),
            recovery_id: None,
            reason: "not_me".into(),
            lang: lang.code().into(),
            status: "waiting".into(),
            agent: None,
            agent_name: None,
            desk_ref: None,
            created_at: now,
            due_at: None,
            claimed_at: None,
            closed_at: None,
        };
        self.store.insert_handoff(&row).await?;
        if !self.post_to_desks(&hd, &row).await? {
            tracing::error!(
                "an urgent \"this wasn't me\" report reached no desk; it is in the audit log"
            );
        }
        Ok(())
    }

    /// After a successful recovery the user did without their phone: the phone's methods (SMS
    /// and call, push, authenticator code) are suspended until registered again, and the desk
    /// is told.
    pub(crate) async fn after_phoneless_recovery(
        &self,
        ctx: &TurnCtx<'_>,
        r: &crate::store::RecoveryRow,
    ) -> Events {
        if r.decoy || !self.store.phone_lost(&r.id).await? {
            return Ok(vec![]);
        }
        let profile = self.profile(&r.account, None).await?;
        let dir = match LoginName::parse(&r.account) {
            Ok(login) => self.directory.find(&login).await.ok().flatten(),
            Err(_) => None,
        };
        let mut suspended = self.store.suspended_methods(&r.account).await?;
        for (name, present) in [
            (
                "mobile",
                profile.mobile.is_some() || dir.as_ref().is_some_and(|d| d.mobile.is_some()),
            ),
            ("totp", profile.totp_secret.is_some()),
            ("push", profile.push_device.is_some()),
        ] {
            if present && !suspended.iter().any(|s| s == name) {
                suspended.push(name.to_string());
            }
        }
        self.store
            .set_suspended_methods(&r.account, &suspended, ctx.now)
            .await?;
        self.audit(
            ctx,
            &r.account,
            "phone_methods_suspended",
            None,
            "ok",
            Some(suspended.join(",")),
        )
        .await?;
        let hd = self.helpdesk();
        if !hd.desks.is_empty() {
            let row = HandoffRow {
                id: new_id(),
                kind: "notice".into(),
                conversation_key: ctx.chat.conversation.clone(),
                chat_user: ctx.chat.user.clone(),
                account: Some(r.account.clone()),
                recovery_id: Some(r.id.clone()),
                reason: "phone_lost".into(),
                lang: ctx.lang.code().into(),
                status: "closed".into(),
                agent: None,
                agent_name: None,
                desk_ref: None,
                created_at: ctx.now,
                due_at: None,
                claimed_at: None,
                closed_at: Some(ctx.now),
            };
            self.store.insert_handoff(&row).await?;
            self.post_to_desks(&hd, &row).await?;
        }
        Ok(vec![Event::PhoneMethodsSuspended])
    }

    /// Work that depends on the clock: callback requests posted when the desk opens, and live
    /// handoffs nobody claimed in time ended with the phone number. `serve` calls it every
    /// half minute.
    pub async fn helpdesk_tick(&self) -> anyhow::Result<()> {
        let hd = self.helpdesk();
        let now = self.now();
        let ts = now.timestamp();
        if hd.hours.is_open(now) && !hd.desks.is_empty() {
            for h in self.store.due_callbacks(ts).await? {
                if self.post_to_desks(&hd, &h).await? {
                    self.store.callback_posted(&h.id).await?;
                    self.audit_system(&h, "callback_posted", "ok").await?;
                }
            }
        }
        for h in self.store.unclaimed_handoffs(ts).await? {
            if h.kind == "callback" {
                continue;
            }
            if self.store.end_handoff(&h.id, "timed_out", ts).await? {
                self.audit_system(&h, "handoff_timed_out", "no_agent")
                    .await?;
                self.update_cards(&h.id, "timed_out").await;
                let chat = ChatRef::new(h.conversation_key.clone(), h.chat_user.clone());
                self.push_events(
                    &chat,
                    vec![Event::HandoffEnded {
                        timed_out: true,
                        phone: hd.phone.clone(),
                    }],
                )
                .await?;
            }
        }
        Ok(())
    }

    async fn audit_system(&self, h: &HandoffRow, event: &str, outcome: &str) -> anyhow::Result<()> {
        self.store
            .append_audit(&crate::store::AuditRow {
                time: self.now().timestamp(),
                account: h.account.clone().unwrap_or_else(|| "-".into()),
                chat_user: h.chat_user.clone(),
                event: event.into(),
                method: None,
                outcome: outcome.into(),
                detail: Some(h.id.clone()),
            })
            .await
    }

    /// Posts the handoff's card to every desk; the first reference a desk gives is kept. False
    /// when no desk took it.
    async fn post_to_desks(&self, hd: &Helpdesk, h: &HandoffRow) -> anyhow::Result<bool> {
        let card = self.card(h).await?;
        let mut posted = false;
        let mut referenced = false;
        for desk in &hd.desks {
            match desk.post(&card).await {
                Ok(reference) => {
                    // The first desk that gives a reference (Telegram) is where agents answer.
                    if let (false, Some(r)) = (referenced, reference) {
                        self.store.set_handoff_desk_ref(&h.id, &r).await?;
                        referenced = true;
                    }
                    posted = true;
                }
                Err(e) => {
                    tracing::error!(
                        desk = desk.name(),
                        error = format!("{e:#}"),
                        "posting a handoff failed"
                    )
                }
            }
        }
        Ok(posted)
    }

    async fn update_cards(&self, handoff_id: &str, status: &str) {
        let hd = self.helpdesk();
        let card = match self.store.handoff(handoff_id).await {
            Ok(Some(h)) => match self.card(&h).await {
                Ok(mut card) => {
                    card.status = match (&h.agent_name, status) {
                        (Some(name), "claimed") => format!("claimed by {name}"),
                        _ => status.to_string(),
                    };
                    (card, h.desk_ref)
                }
                Err(e) => {
                    tracing::error!(error = format!("{e:#}"), "building a handoff card failed");
                    return;
                }
            },
            _ => return,
        };
        for desk in &hd.desks {
            if let Err(e) = desk.update(card.1.as_deref(), &card.0).await {
                tracing::warn!(
                    desk = desk.name(),
                    error = format!("{e:#}"),
                    "updating a handoff card failed"
                );
            }
        }
    }

    /// The card of a handoff: what passed and what failed in its recovery (from the audit log,
    /// which never holds a secret).
    async fn card(&self, h: &HandoffRow) -> anyhow::Result<HandoffCard> {
        let mut passed = Vec::new();
        let mut failed = Vec::new();
        if let Some(account) = &h.account {
            let since = match &h.recovery_id {
                Some(id) => self
                    .store
                    .recovery(id)
                    .await?
                    .map_or(h.created_at - 3600, |r| r.created_at),
                None => h.created_at - 3600,
            };
            for row in self.store.audit_log(Some(account)).await? {
                if row.time < since {
                    continue;
                }
                let Some(method) = row.method.clone() else {
                    if row.outcome == "locked" {
                        failed.push((row.event.clone(), row.time));
                    }
                    continue;
                };
                match row.outcome.as_str() {
                    "passed" => passed.push((method, row.time)),
                    "failed" | "mismatch" | "denied" => failed.push((method, row.time)),
                    _ => {}
                }
            }
        }
        let lang = crate::dialogue::Lang::parse(&h.lang).unwrap_or_default();
        Ok(HandoffCard {
            handoff_id: h.id.clone(),
            kind: h.kind.clone(),
            account: h.account.clone(),
            lang,
            platform: h
                .conversation_key
                .split(':')
                .next()
                .unwrap_or_default()
                .to_string(),
            passed,
            failed,
            reason: h.reason.clone(),
            created_at: h.created_at,
            status: h.status.clone(),
        })
    }

    /// Runs events in a conversation outside its own turn and delivers the replies through its
    /// channel (as late results are).
    pub(crate) async fn push_events(
        &self,
        chat: &ChatRef,
        events: Vec<Event>,
    ) -> anyhow::Result<()> {
        let turn = self.begin_turn(&chat.conversation).await?;
        let out = self.run_events(chat, events).await;
        drop(turn);
        let out = out?;
        self.deliver(chat, out).await;
        Ok(())
    }
}

/// The "this wasn't me" link of the notice e-mails (README, "This wasn't me").
impl Core {
    /// `{public_url}/not-me?t={token}` for `account`, valid [`super::keys::NOT_ME_LINK_SECS`] from `now`;
    /// `None` without a public URL (the demo, tests): the e-mail then gives only the phone number.
    pub(crate) fn not_me_link(&self, account: &str, now: i64) -> Option<String> {
        let base = self
            .rules
            .public_url
            .as_deref()?
            .trim()
            .trim_end_matches('/');
        let token = self
            .keys
            .not_me_token(account, now.saturating_add(super::keys::NOT_ME_LINK_SECS));
        Some(format!("{base}/not-me?t={token}"))
    }

    /// The account a "this wasn't me" token was issued for, if it is genuine and still valid by
    /// the core's clock (for the `/not-me` page).
    pub fn not_me_account(&self, token: &str) -> Option<String> {
        self.keys.verify_not_me(token, self.now().timestamp())
    }
}
