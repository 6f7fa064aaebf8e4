//! One function per effect. Each returns the events to feed back into the engine; an `Err` is an
//! unexpected failure (database, provider) and becomes a generic apology in the chat.

use anyhow::Context;
use rand::seq::SliceRandom;
use rand::Rng;

use super::keys::digest_eq;
use super::{decoy, totp, Core, PhoneAnswer, TurnCtx};
use crate::dialogue::{Effect, EndReason, Event, Offer, Refusal, SecretText};
use crate::directory::{Account, DirectoryError};
use crate::domain::{
    normalise_answer, EmailAddress, LoginName, Method, NewPassword, OtpCode, PhoneNumber,
    PolicyViolation, Reason,
};
use crate::providers::Notice;
use crate::store::{ChallengeRow, LockScope, RecoveryRow};

/// What the core knows about an account's registered methods.
#[derive(Default)]
pub(super) struct Profile {
    pub(super) alternate_email: Option<EmailAddress>,
    pub(super) mobile: Option<PhoneNumber>,
    pub(super) totp_secret: Option<String>,
    pub(super) push_device: Option<String>,
    pub(super) answers: Vec<(String, String)>,
}

type Events = anyhow::Result<Vec<Event>>;

pub(super) fn new_id() -> String {
    let bytes: [u8; 16] = rand::rngs::OsRng.gen();
    hex::encode(bytes)
}

pub(super) fn hours_left(until: i64, now: i64) -> i64 {
    ((until - now) + 3599) / 3600
}

impl Core {
    pub(crate) async fn execute(&self, ctx: &TurnCtx<'_>, effect: Effect) -> Events {
        match effect {
            Effect::BeginRecovery { login, reason } => self.begin(ctx, login, reason).await,
            Effect::SendCode {
                recovery_id,
                method,
                phone,
            } => {
                self.send_code(ctx, &recovery_id, method, phone, false)
                    .await
            }
            Effect::ResendCode {
                recovery_id,
                method,
            } => self.send_code(ctx, &recovery_id, method, None, true).await,
            Effect::CheckCode {
                recovery_id,
                method,
                code,
            } => self.check_code(ctx, &recovery_id, method, &code).await,
            Effect::PlaceCall { recovery_id, phone } => {
                self.place_call(ctx, &recovery_id, phone).await
            }
            Effect::SendPush { recovery_id } => self.send_push(ctx, &recovery_id).await,
            Effect::StartQuestions { recovery_id } => self.start_questions(ctx, &recovery_id).await,
            Effect::CheckAnswer {
                recovery_id,
                index,
                answer,
            } => self.check_answer(ctx, &recovery_id, index, answer).await,
            Effect::CheckTotp { recovery_id, code } => {
                self.check_totp(ctx, &recovery_id, &code).await
            }
            Effect::CheckPassword {
                recovery_id,
                password,
            } => self.check_password(ctx, &recovery_id, password).await,
            Effect::ResetPassword {
                recovery_id,
                password,
                digest,
            } => {
                self.reset_password(ctx, &recovery_id, password, &digest)
                    .await
            }
            Effect::Unlock { recovery_id } => self.unlock(ctx, &recovery_id).await,
            Effect::SwitchToReset { recovery_id } => self.switch_to_reset(ctx, &recovery_id).await,
            Effect::EndRecovery { recovery_id, why } => {
                self.end_recovery(ctx, &recovery_id, why).await
            }
            Effect::BeginEnrolment { login } => self.begin_enrolment(ctx, login).await,
            Effect::ResendWorkCode { enrolment_id } => {
                self.resend_work_code(ctx, &enrolment_id).await
            }
            Effect::CheckWorkCode { enrolment_id, code } => {
                self.check_work_code(ctx, &enrolment_id, &code).await
            }
            Effect::SendEnrolCode {
                enrolment_id,
                target,
            } => self.send_enrol_code(ctx, &enrolment_id, target).await,
            Effect::ResendEnrolCode { enrolment_id, what } => {
                self.resend_enrol_code(ctx, &enrolment_id, what).await
            }
            Effect::CheckEnrolCode {
                enrolment_id,
                what,
                code,
            } => self.check_enrol_code(ctx, &enrolment_id, what, &code).await,
            Effect::OfferQuestions { enrolment_id } => {
                self.offer_questions(ctx, &enrolment_id).await
            }
            Effect::RegisterAnswer {
                enrolment_id,
                index,
                question_id,
                answer,
            } => {
                self.register_answer(ctx, &enrolment_id, index, &question_id, answer)
                    .await
            }
            Effect::CreateTotp { enrolment_id } => self.create_totp(ctx, &enrolment_id).await,
            Effect::ConfirmTotp { enrolment_id, code } => {
                self.confirm_totp(ctx, &enrolment_id, &code).await
            }
            Effect::CheckPushEnrolment { enrolment_id } => {
                self.check_push_enrolment(ctx, &enrolment_id).await
            }
            Effect::ConfirmMethods { enrolment_id } => {
                self.confirm_methods(ctx, &enrolment_id).await
            }
            Effect::EndEnrolment { enrolment_id, why } => {
                self.end_enrolment(ctx, &enrolment_id, why).await
            }
            Effect::RequestHuman {
                recovery_id,
                login,
                reason,
            } => self.request_human(ctx, recovery_id, login, reason).await,
            Effect::RequestCallback { login } => self.request_callback(ctx, login).await,
            Effect::RelayToDesk { handoff_id, text } => {
                self.relay_to_desk(ctx, &handoff_id, &text).await
            }
            Effect::LeaveHandoff { handoff_id } => self.leave_handoff(ctx, &handoff_id).await,
            Effect::ReportNotMe => self.report_not_me_in_chat(ctx).await,
            Effect::PhoneLost { recovery_id } => {
                if let Ok(r) = self.open_recovery(ctx, &recovery_id).await? {
                    self.store.set_phone_lost(&r.id).await?;
                    self.audit(ctx, &r.account, "phone_lost", None, "noted", None)
                        .await?;
                }
                Ok(vec![])
            }
        }
    }

    /// The checks in front of a recovery or a registration (`event`: the audit event that
    /// records a refusal): the chat user's pause and the accounts they tried this hour, the
    /// account's recovery lockout, and a "this wasn't me" block. `Some(events)`: refused.
    pub(super) async fn gate(
        &self,
        ctx: &TurnCtx<'_>,
        account: &str,
        event: &str,
    ) -> anyhow::Result<Option<Vec<Event>>> {
        let rules = &self.rules;
        if let Some(until) = self
            .store
            .lockout_until(LockScope::ChatUser, &ctx.chat.user, ctx.now)
            .await?
        {
            return Ok(Some(vec![Event::Refused(Refusal::ChatUserPaused {
                hours: hours_left(until, ctx.now),
            })]));
        }
        let distinct = self
            .store
            .record_chat_login(
                &ctx.chat.user,
                account,
                ctx.now,
                ctx.now - rules.chat_user_window_secs,
            )
            .await?;
        if distinct > rules.max_accounts_per_chat_user {
            return Ok(Some(
                self.pause_chat_user(ctx, account, "too_many_accounts")
                    .await?,
            ));
        }
        if let Some(until) = self
            .store
            .lockout_until(LockScope::Recovery, account, ctx.now)
            .await?
        {
            self.audit(ctx, account, event, None, "refused_recovery_locked", None)
                .await?;
            return Ok(Some(vec![Event::Refused(Refusal::RecoveryLocked {
                hours: hours_left(until, ctx.now),
            })]));
        }
        if self.store.is_reported(account).await? {
            self.audit(ctx, account, event, None, "refused_reported_not_me", None)
                .await?;
            return Ok(Some(vec![Event::Refused(Refusal::AccountReported)]));
        }
        Ok(None)
    }

    async fn begin(&self, ctx: &TurnCtx<'_>, login: LoginName, reason: Reason) -> Events {
        let account = login.as_str();
        if let Some(refused) = self.gate(ctx, account, "recovery_started").await? {
            return Ok(refused);
        }
        let found = match self.directory.find(&login).await {
            Ok(found) => found,
            Err(e) => {
                tracing::error!(error = %e, "directory lookup failed");
                self.audit(
                    ctx,
                    account,
                    "recovery_started",
                    None,
                    "directory_unavailable",
                    None,
                )
                .await?;
                return Ok(vec![Event::Unavailable]);
            }
        };
        // The profile is read for unknown names too, so both paths do the same work.
        let profile = self.profile(account, found.as_ref()).await?;
        let real = found.filter(|a| !a.disabled);
        let (offers, is_decoy) = match &real {
            Some(a) => (self.real_offers(a, &profile), false),
            None => (
                decoy::offers(&self.keys, account, |m| self.providers.supports(m)),
                true,
            ),
        };
        let row = RecoveryRow {
            id: new_id(),
            conversation_key: ctx.chat.conversation.clone(),
            chat_user: ctx.chat.user.clone(),
            account: account.to_string(),
            reason: reason.id().to_string(),
            decoy: is_decoy,
            lang: ctx.lang.code().to_string(),
            offered: crate::store::join_ids(offers.iter().map(|o| o.method.id())),
            passed: String::new(),
            phone_confirmed: false,
            status: "open".into(),
            created_at: ctx.now,
            updated_at: ctx.now,
        };
        self.store.insert_recovery(&row).await?;
        let detail = if is_decoy {
            format!("{}; unknown or disabled account", reason.id())
        } else {
            reason.id().to_string()
        };
        self.audit(ctx, account, "recovery_started", None, "ok", Some(detail))
            .await?;
        Ok(vec![Event::RecoveryStarted {
            recovery_id: row.id,
            offers,
        }])
    }

    fn real_offers(&self, account: &Account, p: &Profile) -> Vec<Offer> {
        let email_hint = p.alternate_email.as_ref().map(EmailAddress::masked);
        let phone_hint = p.mobile.as_ref().map(PhoneNumber::masked);
        Method::ALL
            .into_iter()
            .filter_map(|m| {
                let (registered, hint) = match m {
                    Method::Email => (email_hint.is_some(), email_hint.clone()),
                    Method::Sms | Method::Call => (phone_hint.is_some(), phone_hint.clone()),
                    Method::Questions => (
                        !account.admin && p.answers.len() >= self.rules.questions_asked,
                        None,
                    ),
                    Method::Push => (p.push_device.is_some(), None),
                    Method::Totp => (p.totp_secret.is_some(), None),
                };
                (registered && self.providers.supports(m)).then_some(Offer { method: m, hint })
            })
            .collect()
    }

    /// [`Self::profile`] with the directory's attributes (mobile, alternate e-mail) looked up
    /// again: what a code, a call or a notice is sent to.
    async fn profile_with_directory(&self, r: &RecoveryRow) -> anyhow::Result<Profile> {
        if r.decoy {
            return self.profile(&r.account, None).await;
        }
        let login = LoginName::parse(&r.account).context("stored account is a login name")?;
        let account = self
            .directory
            .find(&login)
            .await
            .map_err(|e| anyhow::anyhow!("directory lookup: {e}"))?;
        self.profile(&r.account, account.as_ref()).await
    }

    /// Registered methods: the app's own registrations first, then the directory's attributes.
    pub(super) async fn profile(
        &self,
        account: &str,
        dir: Option<&Account>,
    ) -> anyhow::Result<Profile> {
        // Suspended: after a recovery without the phone, until registered again.
        let (reg, suspended) = self.store.registration_with_suspended(account).await?;
        let reg = reg.unwrap_or_default();
        let answers = self.store.security_answers(account).await?;
        let live = |name: &str| !suspended.iter().any(|s| s == name);
        Ok(Profile {
            alternate_email: reg
                .alternate_email
                .as_deref()
                .and_then(|e| EmailAddress::parse(e).ok())
                .or_else(|| dir.and_then(|d| d.alternate_email.clone())),
            mobile: reg
                .mobile
                .as_deref()
                .and_then(|m| PhoneNumber::parse(m).ok())
                .or_else(|| dir.and_then(|d| d.mobile.clone()))
                .filter(|_| live("mobile")),
            totp_secret: reg.totp_secret.filter(|_| live("totp")),
            push_device: reg.push_device.filter(|_| live("push")),
            answers,
        })
    }

    /// The recovery `id`, if it is open, belongs to this conversation, is not idle too long, and
    /// its account's recovery is not locked. Otherwise the events that say why not.
    async fn open_recovery(
        &self,
        ctx: &TurnCtx<'_>,
        id: &str,
    ) -> anyhow::Result<Result<RecoveryRow, Vec<Event>>> {
        let closed = Ok(Err(vec![Event::Refused(Refusal::RecoveryClosed)]));
        let Some(r) = self.store.recovery(id).await? else {
            return closed;
        };
        if r.conversation_key != ctx.chat.conversation || r.status != "open" {
            return closed;
        }
        if ctx.now - r.updated_at > crate::dialogue::IDLE_EXPIRY.num_seconds() {
            self.store.close_recovery(id, "expired", ctx.now).await?;
            self.audit(ctx, &r.account, "recovery_ended", None, "expired", None)
                .await?;
            return closed;
        }
        if let Some(until) = self
            .store
            .lockout_until(LockScope::Recovery, &r.account, ctx.now)
            .await?
        {
            return Ok(Err(vec![Event::Refused(Refusal::RecoveryLocked {
                hours: hours_left(until, ctx.now),
            })]));
        }
        self.store.touch_recovery(id, ctx.now).await?;
        Ok(Ok(r))
    }

    /// Like [`Self::open_recovery`], and `method` was offered in it.
    async fn recovery_for(
        &self,
        ctx: &TurnCtx<'_>,
        id: &str,
        method: Method,
    ) -> anyhow::Result<Result<RecoveryRow, Vec<Event>>> {
        Ok(match self.open_recovery(ctx, id).await? {
            Ok(r) if r.offered_ids().iter().any(|m| m == method.id()) => Ok(r),
            Ok(_) => Err(vec![Event::Refused(Refusal::RecoveryClosed)]),
            Err(e) => Err(e),
        })
    }

    /// Counts a failed check; the fifth within the hour locks recovery of the account for 24 h.
    async fn failed(&self, ctx: &TurnCtx<'_>, r: &RecoveryRow, method: Method) -> Events {
        let rules = &self.rules;
        let n = self
            .store
            .record_failure(
                &r.account,
                method.id(),
                ctx.now,
                ctx.now - rules.failure_window_secs,
            )
            .await?;
        if n < rules.max_failures {
            return Ok(vec![]);
        }
        self.store
            .set_lockout(
                LockScope::Recovery,
                &r.account,
                ctx.now + rules.lockout_secs,
            )
            .await?;
        self.store
            .close_recovery(&r.id, "cancelled", ctx.now)
            .await?;
        self.audit(
            ctx,
            &r.account,
            "recovery_locked",
            Some(method),
            "locked",
            Some(format!("{n} failed checks within the hour")),
        )
        .await?;
        Ok(vec![Event::Refused(Refusal::RecoveryLocked {
            hours: hours_left(ctx.now + rules.lockout_secs, ctx.now),
        })])
    }

    pub(super) async fn pause_chat_user(
        &self,
        ctx: &TurnCtx<'_>,
        account: &str,
        why: &str,
    ) -> Events {
        let until = ctx.now + self.rules.lockout_secs;
        self.store
            .set_lockout(LockScope::ChatUser, &ctx.chat.user, until)
            .await?;
        self.audit(
            ctx,
            account,
            "chat_user_paused",
            None,
            "paused",
            Some(why.to_string()),
        )
        .await?;
        Ok(vec![Event::Refused(Refusal::ChatUserPaused {
            hours: hours_left(until, ctx.now),
        })])
    }

    /// The throttles in front of every send (code, call, push) for `account` in the recovery or
    /// enrolment `request_id`. `None`: go ahead.
    pub(super) async fn send_refused(
        &self,
        ctx: &TurnCtx<'_>,
        account: &str,
        request_id: &str,
        method: Method,
    ) -> anyhow::Result<Option<Vec<Event>>> {
        let rules = &self.rules;
        let store = &self.store;
        if let Some(until) = store
            .lockout_until(LockScope::ChatUser, &ctx.chat.user, ctx.now)
            .await?
        {
            return Ok(Some(vec![Event::Refused(Refusal::ChatUserPaused {
                hours: hours_left(until, ctx.now),
            })]));
        }
        if let Some(last) = store.last_send(request_id, method.id()).await? {
            let wait = rules.resend_interval_secs - (ctx.now - last);
            if wait > 0 {
                return Ok(Some(vec![Event::Refused(Refusal::TooSoon {
                    seconds: wait,
                })]));
            }
        }
        if store
            .sends_for_chat_user(&ctx.chat.user, ctx.now - rules.chat_user_window_secs)
            .await?
            >= rules.max_sends_per_chat_user
        {
            return Ok(Some(
                self.pause_chat_user(ctx, account, "too_many_sends").await?,
            ));
        }
        if method == Method::Email {
            if let Some(until) = store
                .lockout_until(LockScope::Email, account, ctx.now)
                .await?
            {
                return Ok(Some(vec![Event::Refused(Refusal::EmailCapReached {
                    hours: hours_left(until, ctx.now),
                })]));
            }
            if store
                .sends_for_account(account, method.id(), ctx.now - rules.email_window_secs)
                .await?
                >= rules.max_emails
            {
                let until = ctx.now + rules.lockout_secs;
                store.set_lockout(LockScope::Email, account, until).await?;
                self.audit(ctx, account, "email_blocked", Some(method), "blocked", None)
                    .await?;
                return Ok(Some(vec![Event::Refused(Refusal::EmailCapReached {
                    hours: hours_left(until, ctx.now),
                })]));
            }
        }
        if method == Method::Push
            && store
                .sends_for_account(account, method.id(), ctx.now - rules.push_window_secs)
                .await?
                >= rules.max_pushes
        {
            return Ok(Some(vec![Event::Refused(Refusal::PushCapReached)]));
        }
        Ok(None)
    }

    /// Steps 6a/7a: the full number typed must be the registered one. Returns the number on a
    /// match; otherwise the events of a failed check.
    async fn check_number(
        &self,
        ctx: &TurnCtx<'_>,
        r: &RecoveryRow,
        method: Method,
        typed: Option<PhoneNumber>,
        profile: &Profile,
    ) -> anyhow::Result<Result<PhoneNumber, Vec<Event>>> {
        let registered = if r.decoy {
            None
        } else {
            profile.mobile.clone()
        };
        match (typed, registered) {
            // A resend or a second call reuses the number confirmed earlier in this recovery.
            (None, Some(reg)) if r.phone_confirmed => Ok(Ok(reg)),
            (Some(t), Some(reg)) if t == reg => {
                self.store.set_phone_confirmed(&r.id).await?;
                self.audit(ctx, &r.account, "number_check", Some(method), "ok", None)
                    .await?;
                Ok(Ok(reg))
            }
            (None, _) => Ok(Err(vec![Event::Refused(Refusal::RecoveryClosed)])),
            (Some(_), _) => {
                self.audit(
                    ctx,
                    &r.account,
                    "number_check",
                    Some(method),
                    "mismatch",
                    None,
                )
                .await?;
                let mut events = vec![Event::NumberMismatch { method }];
                events.extend(self.failed(ctx, r, method).await?);
                Ok(Err(events))
            }
        }
    }

    async fn send_code(
        &self,
        ctx: &TurnCtx<'_>,
        id: &str,
        method: Method,
        phone: Option<PhoneNumber>,
        resend: bool,
    ) -> Events {
        if !matches!(method, Method::Email | Method::Sms) {
            return Ok(vec![Event::Refused(Refusal::RecoveryClosed)]);
        }
        let r = match self.recovery_for(ctx, id, method).await? {
            Ok(r) => r,
            Err(events) => return Ok(events),
        };
        let profile = self.profile_with_directory(&r).await?;
        let mobile = if method == Method::Sms {
            let typed = if resend { None } else { phone };
            match self.check_number(ctx, &r, method, typed, &profile).await? {
                Ok(n) => Some(n),
                Err(events) => return Ok(events),
            }
        } else {
            None
        };
        if let Some(refused) = self.send_refused(ctx, &r.account, &r.id, method).await? {
            self.audit(
                ctx,
                &r.account,
                "code_sent",
                Some(method),
                "throttled",
                None,
            )
            .await?;
            return Ok(refused);
        }
        let code = OtpCode::random();
        let challenge_id = new_id();
        self.store
            .insert_challenge(&ChallengeRow {
                id: challenge_id.clone(),
                recovery_id: r.id.clone(),
                method: method.id().into(),
                secret_hash: Some(self.keys.secret_hash(&challenge_id, code.expose())),
                detail: None,
                progress: 0,
                all_ok: true,
                created_at: ctx.now,
                expires_at: ctx.now + self.rules.code_ttl_secs,
                closed_at: None,
                result: None,
            })
            .await?;
        self.store
            .record_send(&r.account, &ctx.chat.user, &r.id, method.id(), ctx.now)
            .await?;
        if !r.decoy {
            let sent = match (method, &profile.alternate_email, &mobile) {
                (Method::Email, Some(to), _) => match &self.providers.email {
                    Some(email) => email.send_code(to, &code, ctx.lang).await,
                    None => return Ok(vec![Event::Unavailable]),
                },
                (Method::Sms, _, Some(to)) => match &self.providers.sms {
                    Some(sms) => sms.send_code(to, &code, ctx.lang).await,
                    None => return Ok(vec![Event::Unavailable]),
                },
                _ => return Ok(vec![Event::Refused(Refusal::RecoveryClosed)]),
            };
            if let Err(e) = sent {
                tracing::error!(error = %e, method = method.id(), "sending a code failed");
                self.metrics.provider_error(e.provider, method.id());
                self.store
                    .close_challenge(&challenge_id, "failed", ctx.now)
                    .await?;
                self.audit(
                    ctx,
                    &r.account,
                    "code_sent",
                    Some(method),
                    "provider_error",
                    None,
                )
                .await?;
                return Ok(vec![Event::Unavailable]);
            }
        }
        self.audit(
            ctx,
            &r.account,
            "code_sent",
            Some(method),
            "ok",
            resend.then(|| "resend".to_string()),
        )
        .await?;
        Ok(vec![Event::CodeSent { method }])
    }

    async fn check_code(
        &self,
        ctx: &TurnCtx<'_>,
        id: &str,
        method: Method,
        code: &OtpCode,
    ) -> Events {
        let r = match self.recovery_for(ctx, id, method).await? {
            Ok(r) => r,
            Err(events) => return Ok(events),
        };
        let Some(ch) = self.open_challenge(ctx, &r, method).await? else {
            return Ok(vec![Event::Refused(Refusal::ChallengeExpired)]);
        };
        let expected = ch.secret_hash.as_deref().unwrap_or_default();
        let matches = digest_eq(&self.keys.secret_hash(&ch.id, code.expose()), expected);
        // Single use: of two racing checks with the right code, one closes the challenge.
        let ok = matches
            && !r.decoy
            && self
                .store
                .close_challenge(&ch.id, "passed", ctx.now)
                .await?;
        self.verdict(ctx, &r, method, ok, "code_checked").await
    }

    /// The newest challenge for `method` if it is still open and not expired.
    async fn open_challenge(
        &self,
        ctx: &TurnCtx<'_>,
        r: &RecoveryRow,
        method: Method,
    ) -> anyhow::Result<Option<ChallengeRow>> {
        let Some(ch) = self.store.latest_challenge(&r.id, method.id()).await? else {
            return Ok(None);
        };
        if ch.closed_at.is_some() {
            return Ok(None);
        }
        if ctx.now > ch.expires_at {
            self.store
                .close_challenge(&ch.id, "expired", ctx.now)
                .await?;
            self.audit(
                ctx,
                &r.account,
                "challenge_expired",
                Some(method),
                "expired",
                None,
            )
            .await?;
            return Ok(None);
        }
        Ok(Some(ch))
    }

    /// Records the outcome of one method and returns the events for the engine.
    async fn verdict(
        &self,
        ctx: &TurnCtx<'_>,
        r: &RecoveryRow,
        method: Method,
        ok: bool,
        event: &str,
    ) -> Events {
        self.metrics
            .verification(method.id(), if ok { "passed" } else { "failed" });
        if ok {
            self.store.add_passed(&r.id, method.id(), ctx.now).await?;
            self.audit(ctx, &r.account, event, Some(method), "passed", None)
                .await?;
            return Ok(vec![Event::Verified { method, ok: true }]);
        }
        self.audit(ctx, &r.account, event, Some(method), "failed", None)
            .await?;
        let mut events = vec![Event::Verified { method, ok: false }];
        events.extend(self.failed(ctx, r, method).await?);
        Ok(events)
    }

    async fn place_call(&self, ctx: &TurnCtx<'_>, id: &str, phone: Option<PhoneNumber>) -> Events {
        let method = Method::Call;
        let r = match self.recovery_for(ctx, id, method).await? {
            Ok(r) => r,
            Err(events) => return Ok(events),
        };
        let profile = self.profile_with_directory(&r).await?;
        let to = match self.check_number(ctx, &r, method, phone, &profile).await? {
            Ok(n) => n,
            Err(events) => return Ok(events),
        };
        if let Some(refused) = self.send_refused(ctx, &r.account, &r.id, method).await? {
            self.audit(
                ctx,
                &r.account,
                "call_placed",
                Some(method),
                "throttled",
                None,
            )
            .await?;
            return Ok(refused);
        }
        let challenge_id = new_id();
        self.store
            .insert_challenge(&ChallengeRow {
                id: challenge_id.clone(),
                recovery_id: r.id.clone(),
                method: method.id().into(),
                secret_hash: None,
                detail: None,
                progress: 0,
                all_ok: true,
                created_at: ctx.now,
                expires_at: ctx.now + self.rules.phone_ttl_secs,
                closed_at: None,
                result: None,
            })
            .await?;
        self.store
            .record_send(&r.account, &ctx.chat.user, &r.id, method.id(), ctx.now)
            .await?;
        if !r.decoy {
            let Some(voice) = &self.providers.voice else {
                return Ok(vec![Event::Unavailable]);
            };
            if let Err(e) = voice.place_call(&to, &challenge_id, ctx.lang).await {
                tracing::error!(error = %e, "placing a call failed");
                self.metrics.provider_error(e.provider, method.id());
                self.store
                    .close_challenge(&challenge_id, "failed", ctx.now)
                    .await?;
                self.audit(
                    ctx,
                    &r.account,
                    "call_placed",
                    Some(method),
                    "provider_error",
                    None,
                )
                .await?;
                return Ok(vec![Event::Unavailable]);
            }
        }
        self.audit(ctx, &r.account, "call_placed", Some(method), "ok", None)
            .await?;
        Ok(vec![Event::CallPlaced])
    }

    async fn send_push(&self, ctx: &TurnCtx<'_>, id: &str) -> Events {
        let method = Method::Push;
        let r = match self.recovery_for(ctx, id, method).await? {
            Ok(r) => r,
            Err(events) => return Ok(events),
        };
        if let Some(refused) = self.send_refused(ctx, &r.account, &r.id, method).await? {
            self.audit(
                ctx,
                &r.account,
                "push_sent",
                Some(method),
                "throttled",
                None,
            )
            .await?;
            return Ok(refused);
        }
        let profile = self.profile(&r.account, None).await?;
        let Some(device) = profile.push_device.filter(|_| !r.decoy) else {
            return Ok(vec![Event::Refused(Refusal::RecoveryClosed)]);
        };
        let number: u32 = rand::rngs::OsRng.gen_range(10..100);
        let challenge_id = new_id();
        self.store
            .insert_challenge(&ChallengeRow {
                id: challenge_id.clone(),
                recovery_id: r.id.clone(),
                method: method.id().into(),
                secret_hash: Some(self.keys.secret_hash(&challenge_id, &number.to_string())),
                detail: None,
                progress: 0,
                all_ok: true,
                created_at: ctx.now,
                expires_at: ctx.now + self.rules.phone_ttl_secs,
                closed_at: None,
                result: None,
            })
            .await?;
        self.store
            .record_send(&r.account, &ctx.chat.user, &r.id, method.id(), ctx.now)
            .await?;
        let login = LoginName::parse(&r.account).context("stored account is a login name")?;
        let Some(push) = &self.providers.push else {
            return Ok(vec![Event::Unavailable]);
        };
        let sent = push
            .send_push(&device, &login, &challenge_id, number, ctx.lang)
            .await;
        if let Ok(Some(reference)) = &sent {
            self.store
                .set_challenge_detail(&challenge_id, reference)
                .await?;
        }
        if let Err(e) = sent {
            tracing::error!(error = %e, "sending a push failed");
            self.metrics.provider_error(e.provider, method.id());
            self.store
                .close_challenge(&challenge_id, "failed", ctx.now)
                .await?;
            self.audit(
                ctx,
                &r.account,
                "push_sent",
                Some(method),
                "provider_error",
                None,
            )
            .await?;
            return Ok(vec![Event::Unavailable]);
        }
        self.audit(ctx, &r.account, "push_sent", Some(method), "ok", None)
            .await?;
        Ok(vec![Event::PushSent { number }])
    }

    /// A call answered or a push answered, for an open challenge of this conversation.
    pub(crate) async fn phone_result(
        &self,
        ctx: &TurnCtx<'_>,
        ch: &ChallengeRow,
        answer: PhoneAnswer,
    ) -> Vec<Event> {
        match self.phone_result_inner(ctx, ch, answer).await {
            Ok(events) => events,
            Err(e) => {
                tracing::error!(error = format!("{e:#}"), "handling a phone answer failed");
                vec![Event::Unavailable]
            }
        }
    }

    async fn phone_result_inner(
        &self,
        ctx: &TurnCtx<'_>,
        ch: &ChallengeRow,
        answer: PhoneAnswer,
    ) -> Events {
        let method = Method::from_id(&ch.method).context("challenge has a known method")?;
        if answer.method() != method {
            return Ok(vec![]);
        }
        // A repeated callback, an answer to a call or push that a newer one replaced, or a call's
        // final status after the recovery ended: nothing to say to the user.
        match self.store.challenge(&ch.id).await? {
            Some(current) if current.closed_at.is_none() => {}
            _ => return Ok(vec![]),
        }
        let r = match self.recovery_for(ctx, &ch.recovery_id, method).await? {
            Ok(r) => r,
            Err(events) => return Ok(events),
        };
        if ctx.now > ch.expires_at {
            self.store
                .close_challenge(&ch.id, "expired", ctx.now)
                .await?;
            return Ok(vec![Event::Refused(Refusal::ChallengeExpired)]);
        }
        let (ok, result) = match answer {
            PhoneAnswer::CallKeys(key) => {
                (key == '#', if key == '#' { "passed" } else { "failed" })
            }
            PhoneAnswer::NoKeys => (false, "failed"),
            PhoneAnswer::CallEnded(why) => (false, why.id()),
            PhoneAnswer::ApprovePush(n) => {
                let expected = ch.secret_hash.as_deref().unwrap_or_default();
                let ok = digest_eq(&self.keys.secret_hash(&ch.id, &n.to_string()), expected);
                (ok, if ok { "passed" } else { "failed" })
            }
            PhoneAnswer::ApprovedInApp => (true, "passed"),
            PhoneAnswer::DenyPush => (false, "denied"),
            PhoneAnswer::PushTimedOut => (false, "expired"),
        };
        // Of two deliveries of the same answer (a repeated callback), one closes the challenge.
        if !self.store.close_challenge(&ch.id, result, ctx.now).await? {
            return Ok(vec![]);
        }
        match answer {
            PhoneAnswer::DenyPush => {
                self.metrics.verification(method.id(), "denied");
                self.audit(
                    ctx,
                    &r.account,
                    "push_answered",
                    Some(method),
                    "denied",
                    None,
                )
                .await?;
                let mut events = vec![Event::PushDenied];
                events.extend(self.failed(ctx, &r, method).await?);
                return Ok(events);
            }
            // Nobody answered: not a failed check, the user picks another way.
            PhoneAnswer::PushTimedOut => {
                self.audit(
                    ctx,
                    &r.account,
                    "push_answered",
                    Some(method),
                    "expired",
                    None,
                )
                .await?;
                return Ok(vec![Event::PushExpired]);
            }
            PhoneAnswer::CallEnded(why) => {
                self.audit(ctx, &r.account, "call_ended", Some(method), why.id(), None)
                    .await?;
                return Ok(vec![Event::CallEnded { why }]);
            }
            _ => {}
        }
        let event = if method == Method::Call {
            "call_answered"
        } else {
            "push_answered"
        };
        self.verdict(ctx, &r, method, ok && !r.decoy, event).await
    }

    async fn start_questions(&self, ctx: &TurnCtx<'_>, id: &str) -> Events {
        let method = Method::Questions;
        let r = match self.recovery_for(ctx, id, method).await? {
            Ok(r) => r,
            Err(events) => return Ok(events),
        };
        let answers = self.store.security_answers(&r.account).await?;
        let mut ids: Vec<String> = answers.into_iter().map(|(q, _)| q).collect();
        ids.shuffle(&mut rand::rngs::OsRng);
        ids.truncate(self.rules.questions_asked);
        if ids.len() < self.rules.questions_asked {
            return Ok(vec![Event::Refused(Refusal::RecoveryClosed)]);
        }
        self.store
            .insert_challenge(&ChallengeRow {
                id: new_id(),
                recovery_id: r.id.clone(),
                method: method.id().into(),
                secret_hash: None,
                detail: Some(crate::store::join_ids(ids.iter().map(String::as_str))),
                progress: 0,
                all_ok: true,
                created_at: ctx.now,
                expires_at: ctx.now + self.rules.code_ttl_secs,
                closed_at: None,
                result: None,
            })
            .await?;
        self.audit(ctx, &r.account, "questions_asked", Some(method), "ok", None)
            .await?;
        Ok(vec![Event::QuestionsChosen { question_ids: ids }])
    }

    async fn check_answer(
        &self,
        ctx: &TurnCtx<'_>,
        id: &str,
        index: usize,
        answer: SecretText,
    ) -> Events {
        let method = Method::Questions;
        let r = match self.recovery_for(ctx, id, method).await? {
            Ok(r) => r,
            Err(events) => return Ok(events),
        };
        let Some(ch) = self.open_challenge(ctx, &r, method).await? else {
            return Ok(vec![Event::Refused(Refusal::ChallengeExpired)]);
        };
        let ids = crate::store::split_ids(ch.detail.as_deref().unwrap_or_default());
        let stored = self.store.security_answers(&r.account).await?;
        let hash = ids
            .get(index)
            .and_then(|q| stored.iter().find(|(id, _)| id == q))
            .map(|(_, h)| h.clone());
        let ok = match hash {
            Some(h) => crate::hashing::verify(normalise_answer(&answer.0), h).await?,
            None => false,
        };
        let Some((taken, all_ok)) = self.store.record_answer(&ch.id, index as i64, ok).await?
        else {
            // Not the answer the challenge was waiting for (a repeated message): ignore it.
            return Ok(vec![]);
        };
        if (taken as usize) < ids.len() {
            return Ok(vec![Event::AnswerNoted]);
        }
        let result = if all_ok { "passed" } else { "failed" };
        self.store.close_challenge(&ch.id, result, ctx.now).await?;
        self.verdict(ctx, &r, method, all_ok, "questions_checked")
            .await
    }

    async fn check_totp(&self, ctx: &TurnCtx<'_>, id: &str, code: &OtpCode) -> Events {
        let method = Method::Totp;
        let r = match self.recovery_for(ctx, id, method).await? {
            Ok(r) => r,
            Err(events) => return Ok(events),
        };
        let profile = self.profile(&r.account, None).await?;
        // An unknown account is checked against a secret nobody has, so the work is the same.
        let secret = match (&profile.totp_secret, r.decoy) {
            (Some(enc), false) => self.keys.decrypt(enc).context("decrypting TOTP secret")?,
            _ => self.keys.decoy_bytes(&r.account).to_vec(),
        };
        let now = u64::try_from(ctx.now).unwrap_or(0);
        let step = totp::matching_step(&secret, code, now, self.rules.totp_skew_steps);
        let ok = match step {
            Some(s) if !r.decoy => {
                let fresh = self.store.accept_totp_step(&r.account, s as i64).await?;
                if !fresh {
                    self.audit(
                        ctx,
                        &r.account,
                        "totp_replayed",
                        Some(method),
                        "refused",
                        None,
                    )
                    .await?;
                }
                fresh
            }
            _ => false,
        };
        self.verdict(ctx, &r, method, ok, "totp_checked").await
    }

    /// The final step is allowed only on the core's own record: two distinct methods passed.
    async fn authorised(
        &self,
        ctx: &TurnCtx<'_>,
        id: &str,
        reason: Reason,
    ) -> anyhow::Result<Result<RecoveryRow, Vec<Event>>> {
        let r = match self.open_recovery(ctx, id).await? {
            Ok(r) => r,
            Err(events) => return Ok(Err(events)),
        };
        let passed = r
            .passed_ids()
            .iter()
            .filter_map(|id| Method::from_id(id))
            .collect::<Vec<_>>();
        // Two different methods passed — or a helpdesk agent, who talked to the user, approved
        // this recovery (audited with the agent's name when it was approved).
        let approved = !r.decoy && self.store.recovery_approver(&r.id).await?.is_some();
        let verified = Method::distinct_factors(passed) >= 2 || approved;
        if r.decoy || !verified || r.reason != reason.id() {
            self.audit(
                ctx,
                &r.account,
                "final_step",
                None,
                "refused_not_verified",
                None,
            )
            .await?;
            return Ok(Err(vec![Event::Refused(Refusal::RecoveryClosed)]));
        }
        Ok(Ok(r))
    }

    async fn check_password(&self, ctx: &TurnCtx<'_>, id: &str, password: SecretText) -> Events {
        let r = match self.authorised(ctx, id, Reason::Forgot).await? {
            Ok(r) => r,
            Err(events) => return Ok(events),
        };
        let login = LoginName::parse(&r.account).context("stored account is a login name")?;
        let policy = self.rules.password.clone();
        let pw = password.0;
        let (pw, parsed) = tokio::task::spawn_blocking(move || {
            let parsed = NewPassword::parse(&pw, &login, &policy).map(|_| ());
            (pw, parsed)
        })
        .await
        .context("password policy task")?;
        // Only a password the local rules accept is looked up.
        let parsed = match (parsed, &self.breach) {
            (Ok(()), Some(check)) if check.is_breached(&pw).await == Some(true) => {
                Err(vec![PolicyViolation::Breached])
            }
            (parsed, _) => parsed,
        };
        match parsed {
            Ok(()) => Ok(vec![Event::PasswordAccepted {
                digest: self.keys.password_digest(&r.id, &pw),
            }]),
            Err(violations) => {
                let detail = violations
                    .iter()
                    .map(|v| format!("{v:?}"))
                    .collect::<Vec<_>>()
                    .join(", ");
                self.audit(
                    ctx,
                    &r.account,
                    "password_rejected",
                    None,
                    "policy",
                    Some(detail),
                )
                .await?;
                Ok(vec![Event::PasswordRejected { violations }])
            }
        }
    }

    async fn reset_password(
        &self,
        ctx: &TurnCtx<'_>,
        id: &str,
        password: SecretText,
        digest: &str,
    ) -> Events {
        let r = match self.authorised(ctx, id, Reason::Forgot).await? {
            Ok(r) => r,
            Err(events) => return Ok(events),
        };
        if !digest_eq(&self.keys.password_digest(&r.id, &password.0), digest) {
            return Ok(vec![Event::PasswordMismatch]);
        }
        let login = LoginName::parse(&r.account).context("stored account is a login name")?;
        let pw = match NewPassword::parse(&password.0, &login, &self.rules.password) {
            Ok(pw) => pw,
            Err(violations) => return Ok(vec![Event::PasswordRejected { violations }]),
        };
        let outcome = self.directory.reset_password(&login, &pw).await;
        self.finish(
            ctx,
            &r,
            &login,
            outcome,
            "password_reset",
            Notice::PasswordReset,
            Event::PasswordReset,
        )
        .await
    }

    async fn unlock(&self, ctx: &TurnCtx<'_>, id: &str) -> Events {
        let r = match self.authorised(ctx, id, Reason::Locked).await? {
            Ok(r) => r,
            Err(events) => return Ok(events),
        };
        let login = LoginName::parse(&r.account).context("stored account is a login name")?;
        let outcome = self.directory.unlock(&login).await;
        self.finish(
            ctx,
            &r,
            &login,
            outcome,
            "account_unlocked",
            Notice::Unlocked,
            Event::Unlocked,
        )
        .await
    }

    /// After the directory answered the final step: close, cancel the account's other
    /// recoveries, audit, notify the alternate address.
    #[allow(clippy::too_many_arguments)]
    async fn finish(
        &self,
        ctx: &TurnCtx<'_>,
        r: &RecoveryRow,
        login: &LoginName,
        outcome: Result<(), DirectoryError>,
        event: &str,
        notice: Notice,
        done: Event,
    ) -> Events {
        match outcome {
            Ok(()) => {}
            Err(DirectoryError::UnlockUnsupported) => {
                self.audit(
                    ctx,
                    &r.account,
                    event,
                    None,
                    "unsupported_by_directory",
                    None,
                )
                .await?;
                return Ok(vec![Event::UnlockUnsupported]);
            }
            Err(DirectoryError::Rejected(rule)) => {
                self.audit(
                    ctx,
                    &r.account,
                    event,
                    None,
                    "refused_by_directory",
                    Some(format!("{rule:?}")),
                )
                .await?;
                return Ok(vec![Event::DirectoryRefused { rule }]);
            }
            Err(e) => {
                self.metrics.error();
                tracing::error!(error = %e, event, "directory refused the final step");
                self.audit(ctx, &r.account, event, None, "directory_unavailable", None)
                    .await?;
                return Ok(vec![Event::Unavailable]);
            }
        }
        match notice {
            Notice::PasswordReset => self.metrics.reset(),
            Notice::Unlocked => self.metrics.unlock(),
            Notice::MethodsChanged => {}
        }
        self.store.close_recovery(&r.id, "done", ctx.now).await?;
        let cancelled = self
            .store
            .cancel_other_recoveries(&r.account, &r.id, ctx.now)
            .await?;
        self.audit(
            ctx,
            &r.account,
            event,
            None,
            "ok",
            (cancelled > 0).then(|| format!("{cancelled} other recoveries cancelled")),
        )
        .await?;
        let profile = self.profile_with_directory(r).await?;
        if let (Some(to), Some(email)) = (&profile.alternate_email, &self.providers.email) {
            // The "this wasn't me" link, when the server has a public address.
            let link = self.not_me_link(&r.account, ctx.now);
            let sent = email
                .send_notice(to, login, notice, link.as_deref(), ctx.lang)
                .await;
            let outcome = if sent.is_ok() { "ok" } else { "provider_error" };
            if let Err(e) = sent {
                tracing::error!(error = %e, "sending the notification failed");
                self.metrics.provider_error(e.provider, "email");
            }
            self.audit(
                ctx,
                &r.account,
                "notification_sent",
                Some(Method::Email),
                outcome,
                Some(notice.id().into()),
            )
            .await?;
        }
        let mut events = vec![done];
        events.extend(self.after_phoneless_recovery(ctx, r).await?);
        events.extend(self.reconfirm_after_recovery(ctx, login).await?);
        Ok(events)
    }

    /// "Account locked" on a directory that cannot unlock: the verified recovery sets a new
    /// password instead (which ends a lockout everywhere).
    async fn switch_to_reset(&self, ctx: &TurnCtx<'_>, id: &str) -> Events {
        let r = match self.authorised(ctx, id, Reason::Locked).await? {
            Ok(r) => r,
            Err(events) => return Ok(events),
        };
        self.store
            .set_recovery_reason(&r.id, Reason::Forgot.id())
            .await?;
        self.audit(
            ctx,
            &r.account,
            "reason_changed",
            None,
            "ok",
            Some("locked, now forgot".into()),
        )
        .await?;
        Ok(vec![Event::SwitchedToReset])
    }

    async fn end_recovery(&self, ctx: &TurnCtx<'_>, id: &str, why: EndReason) -> Events {
        let Some(r) = self.store.recovery(id).await? else {
            return Ok(vec![]);
        };
        if r.conversation_key == ctx.chat.conversation
            && self.store.close_recovery(id, why.id(), ctx.now).await?
        {
            self.audit(ctx, &r.account, "recovery_ended", None, why.id(), None)
                .await?;
        }
        Ok(vec![])
    }
}
