//! Registration of verification methods (the guide's companion document, "Instellen
//! verificatiemethodes voor wachtwoordherstel"). The employee first proves control of the work
//! mailbox with a code sent there; every change after that is verified before it is stored
//! (a code to the new address or number, a first code from the new authenticator), notified to
//! the alternate and work addresses, and audited.
//!
//! The `enrolments` row, not the conversation, says whether the work mailbox was proven; each
//! effect checks it. Unknown and disabled accounts get an enrolment that looks the same and can
//! never be proven.

use anyhow::Context;
use rand::RngCore;

use super::effects::{hours_left, new_id};
use super::{totp, Core, TurnCtx};
use crate::dialogue::{
    EndReason, Enrol, EnrolTarget, Event, QrCode, Refusal, Registered, SecretText,
};
use crate::directory::Account;
use crate::domain::{
    mask_email_parts, AnswerProblem, EmailAddress, LoginName, Method, NewAnswer, OtpCode,
    PhoneNumber,
};
use crate::providers::Notice;
use crate::store::{EnrolmentChallenge, EnrolmentRow, LockScope, RegField};

type Events = anyhow::Result<Vec<Event>>;

/// How many security answers a registration sets.
const ANSWERS_REGISTERED: usize = 3;

/// Wrong codes for one new address, number or authenticator before it must be requested again.
const MAX_ATTEMPTS: i64 = 5;

/// Bytes of a new TOTP secret (160 bits, RFC 4226's recommendation).
const TOTP_SECRET_BYTES: usize = 20;

impl Core {
    pub(crate) async fn begin_enrolment(&self, ctx: &TurnCtx<'_>, login: LoginName) -> Events {
        let account = login.as_str();
        if let Some(refused) = self.gate(ctx, account, "enrolment_started").await? {
            return Ok(refused);
        }
        let found = match self.directory.find(&login).await {
            Ok(found) => found,
            Err(e) => {
                tracing::error!(error = %e, "directory lookup failed");
                self.audit(
                    ctx,
                    account,
                    "enrolment_started",
                    None,
                    "directory_unavailable",
                    None,
                )
                .await?;
                return Ok(vec![Event::Unavailable]);
            }
        };
        // Without a work mailbox nothing can be proven: such an account looks like an unknown one.
        let work = found
            .filter(|a| !a.disabled)
            .and_then(|a| a.work_email.clone());
        let row = EnrolmentRow {
            id: new_id(),
            conversation_key: ctx.chat.conversation.clone(),
            chat_user: ctx.chat.user.clone(),
            account: account.to_string(),
            decoy: work.is_none(),
            proven: false,
            status: "open".into(),
            created_at: ctx.now,
            updated_at: ctx.now,
        };
        self.store.insert_enrolment(&row).await?;
        self.audit(
            ctx,
            account,
            "enrolment_started",
            None,
            "ok",
            row.decoy
                .then(|| "unknown, disabled or without work mailbox".to_string()),
        )
        .await?;
        self.send_work_code(ctx, &row, work).await
    }

    pub(crate) async fn resend_work_code(&self, ctx: &TurnCtx<'_>, id: &str) -> Events {
        let e = match self.open_enrolment(ctx, id).await? {
            Ok(e) if !e.proven => e,
            Ok(_) => return Ok(vec![]),
            Err(events) => return Ok(events),
        };
        let work = self
            .store
            .last_enrolment_challenge(&e.id, "work_email")
            .await?
            .and_then(|c| c.target)
            .and_then(|t| EmailAddress::parse(&t).ok());
        self.send_work_code(ctx, &e, work).await
    }

    /// A code to the work mailbox (`work`; `None` for a decoy: nothing is sent, the reply is the
    /// same).
    async fn send_work_code(
        &self,
        ctx: &TurnCtx<'_>,
        e: &EnrolmentRow,
        work: Option<EmailAddress>,
    ) -> Events {
        let hint = match &work {
            Some(w) => w.masked(),
            None => decoy_hint(&e.account),
        };
        // The minimum interval between sends is per destination: the work code just sent does
        // not hold up the code to a new private address.
        let sends_key = format!("{}:work_email", e.id);
        if let Some(refused) = self
            .send_refused(ctx, &e.account, &sends_key, Method::Email)
            .await?
        {
            self.audit(
                ctx,
                &e.account,
                "enrolment_code_sent",
                Some(Method::Email),
                "throttled",
                Some("work mailbox".into()),
            )
            .await?;
            return Ok(refused);
        }
        let code = OtpCode::random();
        let challenge = self.challenge(
            ctx,
            e,
            "work_email",
            work.as_ref().map(|w| w.as_str().to_string()),
            &code,
        );
        self.store
            .insert_enrolment_challenge(&challenge, true)
            .await?;
        self.store
            .record_send(&e.account, &ctx.chat.user, &sends_key, "email", ctx.now)
            .await?;
        if let Some(to) = &work {
            if let Some(events) = self
                .deliver_code(ctx, e, &challenge, EnrolTarget::Email(to.clone()), &code)
                .await?
            {
                return Ok(events);
            }
        }
        self.audit(
            ctx,
            &e.account,
            "enrolment_code_sent",
            Some(Method::Email),
            "ok",
            Some("work mailbox".into()),
        )
        .await?;
        Ok(vec![Event::EnrolmentStarted {
            enrolment_id: e.id.clone(),
            hint,
        }])
    }

    fn challenge(
        &self,
        ctx: &TurnCtx<'_>,
        e: &EnrolmentRow,
        kind: &str,
        target: Option<String>,
        code: &OtpCode,
    ) -> EnrolmentChallenge {
        let id = new_id();
        EnrolmentChallenge {
            secret: Some(self.keys.secret_hash(&id, code.expose())),
            id,
            enrolment_id: e.id.clone(),
            kind: kind.into(),
            target,
            position: 0,
            attempts: 0,
            created_at: ctx.now,
            expires_at: ctx.now + self.rules.code_ttl_secs,
            closed_at: None,
            result: None,
        }
    }

    /// Sends `code` to `to`. `Some(events)` when it could not go out (the challenge is closed).
    async fn deliver_code(
        &self,
        ctx: &TurnCtx<'_>,
        e: &EnrolmentRow,
        challenge: &EnrolmentChallenge,
        to: EnrolTarget,
        code: &OtpCode,
    ) -> anyhow::Result<Option<Vec<Event>>> {
        let (sent, method) = match &to {
            EnrolTarget::Email(address) => match &self.providers.email {
                Some(email) => (
                    email.send_code(address, code, ctx.lang).await,
                    Method::Email,
                ),
                None => return Ok(Some(vec![Event::Unavailable])),
            },
            EnrolTarget::Mobile(number) => match &self.providers.sms {
                Some(sms) => (sms.send_code(number, code, ctx.lang).await, Method::Sms),
                None => return Ok(Some(vec![Event::Unavailable])),
            },
        };
        let Err(err) = sent else {
            return Ok(None);
        };
        tracing::error!(error = %err, method = method.id(), "sending a registration code failed");
        self.metrics.provider_error(err.provider, method.id());
        self.store
            .close_enrolment_challenge(&challenge.id, "failed", ctx.now)
            .await?;
        self.audit(
            ctx,
            &e.account,
            "enrolment_code_sent",
            Some(method),
            "provider_error",
            None,
        )
        .await?;
        Ok(Some(vec![Event::Unavailable]))
    }

    pub(crate) async fn check_work_code(
        &self,
        ctx: &TurnCtx<'_>,
        id: &str,
        code: &OtpCode,
    ) -> Events {
        let e = match self.open_enrolment(ctx, id).await? {
            Ok(e) if !e.proven => e,
            Ok(_) => return Ok(vec![]),
            Err(events) => return Ok(events),
        };
        let Some(ch) = self.open_enrolment_challenge(ctx, &e, "work_email").await? else {
            return Ok(vec![Event::Refused(Refusal::ChallengeExpired)]);
        };
        let ok = self.code_matches(&ch, code)
            && !e.decoy
            && self
                .store
                .close_enrolment_challenge(&ch.id, "passed", ctx.now)
                .await?;
        self.metrics
            .verification("work_email", if ok { "passed" } else { "failed" });
        if !ok {
            self.audit(
                ctx,
                &e.account,
                "work_mailbox_checked",
                Some(Method::Email),
                "failed",
                None,
            )
            .await?;
            // Guessing the work code counts like any failed check: five in an hour lock the
            // account's recovery and registration for a day.
            let mut events = vec![Event::EnrolCodeWrong];
            events.extend(self.enrolment_failed(ctx, &e).await?);
            return Ok(events);
        }
        self.store.set_enrolment_proven(&e.id, ctx.now).await?;
        self.audit(
            ctx,
            &e.account,
            "work_mailbox_checked",
            Some(Method::Email),
            "passed",
            None,
        )
        .await?;
        let dir = self.directory_account(&e.account).await?;
        Ok(vec![Event::MethodsShown {
            methods: self.overview(&e.account, dir.as_ref()).await?,
            confirm_due: self.confirm_due(ctx, &e.account).await?,
        }])
    }

    async fn enrolment_failed(&self, ctx: &TurnCtx<'_>, e: &EnrolmentRow) -> Events {
        let rules = &self.rules;
        let n = self
            .store
            .record_failure(
                &e.account,
                "work_email",
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
                &e.account,
                ctx.now + rules.lockout_secs,
            )
            .await?;
        self.store
            .close_enrolment(&e.id, "cancelled", ctx.now)
            .await?;
        self.audit(
            ctx,
            &e.account,
            "recovery_locked",
            Some(Method::Email),
            "locked",
            Some(format!("{n} failed checks within the hour")),
        )
        .await?;
        Ok(vec![Event::Refused(Refusal::RecoveryLocked {
            hours: hours_left(ctx.now + rules.lockout_secs, ctx.now),
        })])
    }

    pub(crate) async fn send_enrol_code(
        &self,
        ctx: &TurnCtx<'_>,
        id: &str,
        target: EnrolTarget,
    ) -> Events {
        let e = match self.proven_enrolment(ctx, id).await? {
            Ok(e) => e,
            Err(events) => return Ok(events),
        };
        let (kind, what, method, value, hint) = match &target {
            EnrolTarget::Email(a) => {
                let dir = self.directory_account(&e.account).await?;
                if is_work_address(a, &e.account, dir.as_ref()) {
                    return Ok(vec![Event::EnrolTargetRefused { what: Enrol::Email }]);
                }
                (
                    "alternate_email",
                    Enrol::Email,
                    Method::Email,
                    a.as_str().to_string(),
                    a.masked(),
                )
            }
            // A Dutch number that is not a mobile one (06) cannot receive a text message.
            EnrolTarget::Mobile(n)
                if n.as_str().starts_with("+31") && !n.as_str().starts_with("+316") =>
            {
                return Ok(vec![Event::EnrolTargetRefused {
                    what: Enrol::Mobile,
                }]);
            }
            EnrolTarget::Mobile(n) => (
                "mobile",
                Enrol::Mobile,
                Method::Sms,
                n.as_str().to_string(),
                n.masked(),
            ),
        };
        let sends_key = format!("{}:{kind}", e.id);
        if let Some(refused) = self
            .send_refused(ctx, &e.account, &sends_key, method)
            .await?
        {
            self.audit(
                ctx,
                &e.account,
                "enrolment_code_sent",
                Some(method),
                "throttled",
                None,
            )
            .await?;
            return Ok(refused);
        }
        let code = OtpCode::random();
        let challenge = self.challenge(ctx, &e, kind, Some(value), &code);
        self.store
            .insert_enrolment_challenge(&challenge, true)
            .await?;
        self.store
            .record_send(&e.account, &ctx.chat.user, &sends_key, method.id(), ctx.now)
            .await?;
        if let Some(events) = self
            .deliver_code(ctx, &e, &challenge, target, &code)
            .await?
        {
            return Ok(events);
        }
        self.audit(
            ctx,
            &e.account,
            "enrolment_code_sent",
            Some(method),
            "ok",
            Some(kind.into()),
        )
        .await?;
        Ok(vec![Event::EnrolCodeSent { what, hint }])
    }

    pub(crate) async fn resend_enrol_code(
        &self,
        ctx: &TurnCtx<'_>,
        id: &str,
        what: Enrol,
    ) -> Events {
        let kind = match what {
            Enrol::Email => "alternate_email",
            Enrol::Mobile => "mobile",
            _ => return Ok(vec![Event::Refused(Refusal::RecoveryClosed)]),
        };
        let last = self.store.last_enrolment_challenge(id, kind).await?;
        let target = last.and_then(|c| c.target).and_then(|t| match what {
            Enrol::Email => EmailAddress::parse(&t).ok().map(EnrolTarget::Email),
            _ => PhoneNumber::parse(&t).ok().map(EnrolTarget::Mobile),
        });
        match target {
            Some(t) => self.send_enrol_code(ctx, id, t).await,
            None => Ok(vec![Event::Refused(Refusal::ChallengeExpired)]),
        }
    }

    pub(crate) async fn check_enrol_code(
        &self,
        ctx: &TurnCtx<'_>,
        id: &str,
        what: Enrol,
        code: &OtpCode,
    ) -> Events {
        let e = match self.proven_enrolment(ctx, id).await? {
            Ok(e) => e,
            Err(events) => return Ok(events),
        };
        let (kind, field) = match what {
            Enrol::Email => ("alternate_email", RegField::AlternateEmail),
            Enrol::Mobile => ("mobile", RegField::Mobile),
            _ => return Ok(vec![Event::Refused(Refusal::RecoveryClosed)]),
        };
        let Some(ch) = self.open_enrolment_challenge(ctx, &e, kind).await? else {
            return Ok(vec![Event::Refused(Refusal::ChallengeExpired)]);
        };
        let ok = self.code_matches(&ch, code)
            && self
                .store
                .close_enrolment_challenge(&ch.id, "passed", ctx.now)
                .await?;
        if !ok {
            return self.wrong_attempt(ctx, &e, &ch, kind).await;
        }
        let Some(value) = ch.target.as_deref() else {
            anyhow::bail!("enrolment challenge {} has no target", ch.id);
        };
        self.register(ctx, &e, what, field, value).await
    }

    /// A wrong code for a new address, number or authenticator: counted per challenge, and after
    /// [`MAX_ATTEMPTS`] a new one must be asked for.
    async fn wrong_attempt(
        &self,
        ctx: &TurnCtx<'_>,
        e: &EnrolmentRow,
        ch: &EnrolmentChallenge,
        kind: &'static str,
    ) -> Events {
        self.metrics.verification(kind, "failed");
        self.audit(
            ctx,
            &e.account,
            "enrolment_code_checked",
            None,
            "failed",
            Some(kind.into()),
        )
        .await?;
        let attempts = self.store.count_enrolment_attempt(&ch.id).await?;
        if attempts >= MAX_ATTEMPTS {
            self.store
                .close_enrolment_challenge(&ch.id, "failed", ctx.now)
                .await?;
            return Ok(vec![
                Event::EnrolCodeWrong,
                Event::Refused(Refusal::ChallengeExpired),
            ]);
        }
        Ok(vec![Event::EnrolCodeWrong])
    }

    pub(crate) async fn offer_questions(&self, ctx: &TurnCtx<'_>, id: &str) -> Events {
        let e = match self.proven_enrolment(ctx, id).await? {
            Ok(e) => e,
            Err(events) => return Ok(events),
        };
        let dir = self.directory_account(&e.account).await?;
        // Security questions are not offered to admin accounts (DESIGN §3).
        if dir.as_ref().is_some_and(|a| a.admin) {
            return Ok(vec![Event::Refused(Refusal::RecoveryClosed)]);
        }
        Ok(vec![Event::QuestionsOffered {
            question_ids: self.rules.registration_questions.clone(),
        }])
    }

    pub(crate) async fn register_answer(
        &self,
        ctx: &TurnCtx<'_>,
        id: &str,
        index: usize,
        question_id: &str,
        answer: SecretText,
    ) -> Events {
        let e = match self.proven_enrolment(ctx, id).await? {
            Ok(e) => e,
            Err(events) => return Ok(events),
        };
        if !self
            .rules
            .registration_questions
            .iter()
            .any(|q| q == question_id)
        {
            return Ok(vec![Event::Refused(Refusal::ChallengeExpired)]);
        }
        if index == 0 {
            // A new round of answers: whatever an earlier round left behind is void.
            for old in self
                .store
                .open_enrolment_challenges(&e.id, "answer")
                .await?
            {
                self.store
                    .close_enrolment_challenge(&old.id, "superseded", ctx.now)
                    .await?;
            }
        }
        let pending: Vec<EnrolmentChallenge> = self
            .store
            .open_enrolment_challenges(&e.id, "answer")
            .await?
            .into_iter()
            .filter(|c| c.expires_at >= ctx.now)
            .collect();
        if pending.len() > index {
            // The same answer delivered twice: already taken.
            return Ok(vec![]);
        }
        if pending.len() < index
            || pending
                .iter()
                .any(|c| c.target.as_deref() == Some(question_id))
        {
            return Ok(vec![Event::Refused(Refusal::ChallengeExpired)]);
        }
        let texts = self
            .question_texts
            .get(question_id)
            .cloned()
            .unwrap_or_default();
        let answer = match NewAnswer::parse(&answer.0, &texts) {
            Ok(a) => a,
            Err(problem) => return Ok(vec![Event::AnswerRefused { problem }]),
        };
        for other in &pending {
            let Some(hash) = other.secret.clone() else {
                continue;
            };
            if crate::hashing::verify(answer.expose().to_string(), hash).await? {
                return Ok(vec![Event::AnswerRefused {
                    problem: AnswerProblem::Duplicate,
                }]);
            }
        }
        let hash = crate::hashing::hash(answer.expose().to_string()).await?;
        self.store
            .insert_enrolment_challenge(
                &EnrolmentChallenge {
                    id: new_id(),
                    enrolment_id: e.id.clone(),
                    kind: "answer".into(),
                    target: Some(question_id.to_string()),
                    secret: Some(hash.clone()),
                    position: index as i64,
                    attempts: 0,
                    created_at: ctx.now,
                    expires_at: ctx.now + crate::dialogue::IDLE_EXPIRY.num_seconds(),
                    closed_at: None,
                    result: None,
                },
                false,
            )
            .await?;
        if index + 1 < ANSWERS_REGISTERED {
            return Ok(vec![Event::AnswerTaken]);
        }
        let mut answers: Vec<(String, String)> = pending
            .iter()
            .filter_map(|c| Some((c.target.clone()?, c.secret.clone()?)))
            .collect();
        answers.push((question_id.to_string(), hash));
        if answers.len() != ANSWERS_REGISTERED {
            anyhow::bail!("pending answers of enrolment {} are incomplete", e.id);
        }
        self.store
            .replace_security_answers(&e.account, &answers, ctx.now)
            .await?;
        for c in self
            .store
            .open_enrolment_challenges(&e.id, "answer")
            .await?
        {
            self.store
                .close_enrolment_challenge(&c.id, "passed", ctx.now)
                .await?;
        }
        let dir = self.directory_account(&e.account).await?;
        let before = self.profile(&e.account, dir.as_ref()).await?;
        self.saved(
            ctx,
            &e,
            Enrol::Questions,
            dir.as_ref(),
            before.alternate_email,
        )
        .await
    }

    pub(crate) async fn create_totp(&self, ctx: &TurnCtx<'_>, id: &str) -> Events {
        let e = match self.proven_enrolment(ctx, id).await? {
            Ok(e) => e,
            Err(events) => return Ok(events),
        };
        let mut secret = vec![0u8; TOTP_SECRET_BYTES];
        rand::rngs::OsRng.fill_bytes(&mut secret);
        let uri = totp::otpauth_uri(&secret, &self.rules.totp_issuer, &e.account);
        self.store
            .insert_enrolment_challenge(
                &EnrolmentChallenge {
                    id: new_id(),
                    enrolment_id: e.id.clone(),
                    kind: "totp".into(),
                    target: None,
                    secret: Some(self.keys.encrypt(&secret)),
                    position: 0,
                    attempts: 0,
                    created_at: ctx.now,
                    expires_at: ctx.now + self.rules.code_ttl_secs,
                    closed_at: None,
                    result: None,
                },
                true,
            )
            .await?;
        self.audit(
            ctx,
            &e.account,
            "totp_offered",
            Some(Method::Totp),
            "ok",
            None,
        )
        .await?;
        Ok(vec![Event::TotpCreated { qr: QrCode(uri) }])
    }

    pub(crate) async fn confirm_totp(&self, ctx: &TurnCtx<'_>, id: &str, code: &OtpCode) -> Events {
        let e = match self.proven_enrolment(ctx, id).await? {
            Ok(e) => e,
            Err(events) => return Ok(events),
        };
        let Some(ch) = self.open_enrolment_challenge(ctx, &e, "totp").await? else {
            return Ok(vec![Event::Refused(Refusal::ChallengeExpired)]);
        };
        let Some(encrypted) = ch.secret.clone() else {
            anyhow::bail!("TOTP enrolment {} has no secret", ch.id);
        };
        let secret = self
            .keys
            .decrypt(&encrypted)
            .context("decrypting a new TOTP secret")?;
        let now = u64::try_from(ctx.now).unwrap_or(0);
        let step = totp::matching_step(&secret, code, now, self.rules.totp_skew_steps);
        let ok = step.is_some()
            && self
                .store
                .close_enrolment_challenge(&ch.id, "passed", ctx.now)
                .await?;
        let Some(step) = step.filter(|_| ok) else {
            return self.wrong_attempt(ctx, &e, &ch, "totp").await;
        };
        // The confirming code is spent: it cannot also open a recovery.
        self.store.accept_totp_step(&e.account, step as i64).await?;
        self.register(ctx, &e, Enrol::Totp, RegField::Totp, &encrypted)
            .await
    }

    pub(crate) async fn check_push_enrolment(&self, ctx: &TurnCtx<'_>, id: &str) -> Events {
        let e = match self.proven_enrolment(ctx, id).await? {
            Ok(e) => e,
            Err(events) => return Ok(events),
        };
        let Some(push) = &self.providers.push else {
            return Ok(vec![Event::Unavailable]);
        };
        let login = LoginName::parse(&e.account).context("stored account is a login name")?;
        let device = match push.enrolled_device(&login).await {
            Ok(device) => device,
            Err(err) => {
                tracing::error!(error = %err, "reading the push enrolment failed");
                self.metrics.provider_error(err.provider, "push");
                return Ok(vec![Event::Unavailable]);
            }
        };
        let Some(device) = device else {
            self.audit(
                ctx,
                &e.account,
                "push_enrolment_checked",
                Some(Method::Push),
                "not_enrolled",
                None,
            )
            .await?;
            return Ok(vec![Event::PushNotEnrolled]);
        };
        self.register(ctx, &e, Enrol::Push, RegField::Push, &device)
            .await
    }

    pub(crate) async fn confirm_methods(&self, ctx: &TurnCtx<'_>, id: &str) -> Events {
        let e = match self.proven_enrolment(ctx, id).await? {
            Ok(e) => e,
            Err(events) => return Ok(events),
        };
        self.store.confirm_registration(&e.account, ctx.now).await?;
        self.audit(ctx, &e.account, "methods_confirmed", None, "ok", None)
            .await?;
        Ok(vec![Event::MethodsConfirmed])
    }

    pub(crate) async fn end_enrolment(
        &self,
        ctx: &TurnCtx<'_>,
        id: &str,
        why: EndReason,
    ) -> Events {
        let Some(e) = self.store.enrolment(id).await? else {
            return Ok(vec![]);
        };
        if e.conversation_key == ctx.chat.conversation
            && self.store.close_enrolment(id, why.id(), ctx.now).await?
        {
            self.audit(ctx, &e.account, "enrolment_ended", None, why.id(), None)
                .await?;
        }
        Ok(vec![])
    }

    /// After a successful recovery: if the account's methods were last confirmed longer ago than
    /// the configured days, an enrolment (proven by the recovery's two methods) to ask about them.
    pub(crate) async fn reconfirm_after_recovery(
        &self,
        ctx: &TurnCtx<'_>,
        login: &LoginName,
    ) -> anyhow::Result<Option<Event>> {
        let account = login.as_str();
        if !self.confirm_due(ctx, account).await? {
            return Ok(None);
        }
        let row = EnrolmentRow {
            id: new_id(),
            conversation_key: ctx.chat.conversation.clone(),
            chat_user: ctx.chat.user.clone(),
            account: account.to_string(),
            decoy: false,
            proven: true,
            status: "open".into(),
            created_at: ctx.now,
            updated_at: ctx.now,
        };
        self.store.insert_enrolment(&row).await?;
        self.audit(
            ctx,
            account,
            "reconfirmation_asked",
            None,
            "ok",
            Some("after a verified recovery".into()),
        )
        .await?;
        let dir = self.directory_account(account).await?;
        Ok(Some(Event::ReconfirmDue {
            enrolment_id: row.id,
            login: login.clone(),
            methods: self.overview(account, dir.as_ref()).await?,
        }))
    }

    /// Whether the account registered anything here and last confirmed it too long ago.
    async fn confirm_due(&self, ctx: &TurnCtx<'_>, account: &str) -> anyhow::Result<bool> {
        let Some(times) = self.store.registration_times(account).await? else {
            return Ok(false);
        };
        Ok(ctx.now - times.last_confirmed() > self.rules.reconfirm_after_secs)
    }

    /// Stores `value` as the account's `field` and announces it ([`Self::saved`]), telling the
    /// private address it replaces too.
    async fn register(
        &self,
        ctx: &TurnCtx<'_>,
        e: &EnrolmentRow,
        what: Enrol,
        field: RegField,
        value: &str,
    ) -> Events {
        let dir = self.directory_account(&e.account).await?;
        let before = self.profile(&e.account, dir.as_ref()).await?;
        self.store
            .set_registered(&e.account, field, Some(value), ctx.now)
            .await?;
        self.saved(ctx, e, what, dir.as_ref(), before.alternate_email)
            .await
    }

    /// After a change: audit, notify, and the new overview.
    async fn saved(
        &self,
        ctx: &TurnCtx<'_>,
        e: &EnrolmentRow,
        what: Enrol,
        dir: Option<&Account>,
        old_alternate: Option<EmailAddress>,
    ) -> Events {
        self.metrics.verification(what.id(), "registered");
        self.audit(
            ctx,
            &e.account,
            "method_registered",
            None,
            "ok",
            Some(what.id().into()),
        )
        .await?;
        self.notify_change(ctx, e, dir, old_alternate).await?;
        Ok(vec![Event::MethodSaved {
            what,
            methods: self.overview(&e.account, dir).await?,
        }])
    }

    /// "Your methods were changed" to the old and new alternate address and the work address,
    /// so a change someone else made does not go unnoticed.
    async fn notify_change(
        &self,
        ctx: &TurnCtx<'_>,
        e: &EnrolmentRow,
        dir: Option<&Account>,
        old_alternate: Option<EmailAddress>,
    ) -> anyhow::Result<()> {
        let Some(email) = &self.providers.email else {
            return Ok(());
        };
        let now = self.profile(&e.account, dir).await?;
        let mut to: Vec<EmailAddress> = Vec::new();
        for a in [
            old_alternate,
            now.alternate_email,
            dir.and_then(|d| d.work_email.clone()),
        ]
        .into_iter()
        .flatten()
        {
            if !to.contains(&a) {
                to.push(a);
            }
        }
        let login = LoginName::parse(&e.account).context("stored account is a login name")?;
        let mut failed = 0;
        for address in &to {
            if let Err(err) = email
                .send_notice(address, &login, Notice::MethodsChanged, None, ctx.lang)
                .await
            {
                failed += 1;
                tracing::error!(error = %err, "sending the registration notice failed");
                self.metrics.provider_error(err.provider, "email");
            }
        }
        self.audit(
            ctx,
            &e.account,
            "notification_sent",
            Some(Method::Email),
            if failed == 0 { "ok" } else { "provider_error" },
            Some(format!(
                "{}; {} of {} addresses",
                Notice::MethodsChanged.id(),
                to.len() - failed,
                to.len()
            )),
        )
        .await?;
        Ok(())
    }

    /// What the account has registered, for the menu: only methods this deployment can use.
    async fn overview(
        &self,
        account: &str,
        dir: Option<&Account>,
    ) -> anyhow::Result<Vec<Registered>> {
        let reg = self.store.registration(account).await?.unwrap_or_default();
        let p = self.profile(account, dir).await?;
        let admin = dir.is_some_and(|a| a.admin);
        let mut out = Vec::new();
        for what in Enrol::ALL {
            let (usable, registered, hint, from_directory) = match what {
                Enrol::Email => (
                    self.providers.email.is_some(),
                    p.alternate_email.is_some(),
                    p.alternate_email.as_ref().map(EmailAddress::masked),
                    reg.alternate_email.is_none() && p.alternate_email.is_some(),
                ),
                Enrol::Mobile => (
                    self.providers.sms.is_some(),
                    p.mobile.is_some(),
                    p.mobile.as_ref().map(PhoneNumber::masked),
                    reg.mobile.is_none() && p.mobile.is_some(),
                ),
                Enrol::Questions => (
                    !admin,
                    p.answers.len() >= self.rules.questions_asked,
                    None,
                    false,
                ),
                Enrol::Totp => (true, p.totp_secret.is_some(), None, false),
                Enrol::Push => (
                    self.providers.push.is_some(),
                    p.push_device.is_some(),
                    None,
                    false,
                ),
            };
            if usable {
                out.push(Registered {
                    what,
                    registered,
                    hint,
                    from_directory,
                });
            }
        }
        Ok(out)
    }

    async fn directory_account(&self, account: &str) -> anyhow::Result<Option<Account>> {
        let login = LoginName::parse(account).context("stored account is a login name")?;
        self.directory
            .find(&login)
            .await
            .map_err(|e| anyhow::anyhow!("directory lookup: {e}"))
    }

    /// The enrolment `id` if it is open, belongs to this conversation, is not idle too long and
    /// its account is not locked; otherwise the events that say why not.
    async fn open_enrolment(
        &self,
        ctx: &TurnCtx<'_>,
        id: &str,
    ) -> anyhow::Result<Result<EnrolmentRow, Vec<Event>>> {
        let closed = Ok(Err(vec![Event::Refused(Refusal::RecoveryClosed)]));
        let Some(e) = self.store.enrolment(id).await? else {
            return closed;
        };
        if e.conversation_key != ctx.chat.conversation || e.status != "open" {
            return closed;
        }
        if ctx.now - e.updated_at > crate::dialogue::IDLE_EXPIRY.num_seconds() {
            self.store.close_enrolment(id, "expired", ctx.now).await?;
            self.audit(ctx, &e.account, "enrolment_ended", None, "expired", None)
                .await?;
            return closed;
        }
        if let Some(until) = self
            .store
            .lockout_until(LockScope::Recovery, &e.account, ctx.now)
            .await?
        {
            return Ok(Err(vec![Event::Refused(Refusal::RecoveryLocked {
                hours: hours_left(until, ctx.now),
            })]));
        }
        self.store.touch_enrolment(id, ctx.now).await?;
        Ok(Ok(e))
    }

    /// Like [`Self::open_enrolment`], and the work mailbox was proven.
    async fn proven_enrolment(
        &self,
        ctx: &TurnCtx<'_>,
        id: &str,
    ) -> anyhow::Result<Result<EnrolmentRow, Vec<Event>>> {
        Ok(match self.open_enrolment(ctx, id).await? {
            Ok(e) if e.proven && !e.decoy => Ok(e),
            Ok(_) => Err(vec![Event::Refused(Refusal::RecoveryClosed)]),
            Err(events) => Err(events),
        })
    }

    /// The newest open challenge of `kind`, unless it expired.
    async fn open_enrolment_challenge(
        &self,
        ctx: &TurnCtx<'_>,
        e: &EnrolmentRow,
        kind: &str,
    ) -> anyhow::Result<Option<EnrolmentChallenge>> {
        let Some(ch) = self
            .store
            .open_enrolment_challenges(&e.id, kind)
            .await?
            .pop()
        else {
            return Ok(None);
        };
        if ctx.now > ch.expires_at {
            self.store
                .close_enrolment_challenge(&ch.id, "expired", ctx.now)
                .await?;
            return Ok(None);
        }
        Ok(Some(ch))
    }

    fn code_matches(&self, ch: &EnrolmentChallenge, code: &OtpCode) -> bool {
        let expected = ch.secret.as_deref().unwrap_or_default();
        super::keys::digest_eq(&self.keys.secret_hash(&ch.id, code.expose()), expected)
    }
}

/// The masked "work address" shown for an account without one: the login name masked like an
/// address, so the reply looks like a real account's.
fn decoy_hint(account: &str) -> String {
    match EmailAddress::parse(account) {
        Ok(a) => a.masked(),
        Err(_) => mask_email_parts(account, "", ""),
    }
}

/// An alternate address must reach the employee when work sign-in does not: not the work
/// address, not the login name, and not another address at the company's domain.
fn is_work_address(address: &EmailAddress, account: &str, dir: Option<&Account>) -> bool {
    let domain = |s: &str| s.rsplit_once('@').map(|(_, d)| d.to_lowercase());
    let candidate = domain(address.as_str());
    let work = dir.and_then(|d| d.work_email.as_ref());
    address.as_str() == account.to_lowercase()
        || work.is_some_and(|w| w == address)
        || candidate.is_some()
            && (candidate == domain(account)
                || work.is_some_and(|w| domain(w.as_str()) == candidate))
}
