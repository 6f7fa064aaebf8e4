//! Asking for a person (issue 8), in the core: office hours, the handoff card, an agent's
//! claim, messages both ways, unlock, a reset the user finishes in their own chat, the claim
//! timeout, and callback requests posted when the desk opens. Desks are recorded in memory here;
//! the Telegram group desk has its own end-to-end tests.

use std::sync::{Arc, Mutex};

use sspr_bot::dialogue::Lang;
use sspr_bot::helpdesk::desk::{Agent, AgentAction, AgentOutcome, Desk, HandoffCard, Helpdesk};
use sspr_bot::helpdesk::OfficeHours;
use sspr_bot::recovery::{ChatRef, Outbound, TurnOutput};

use crate::support::*;

#[derive(Default)]
struct RecordingDesk {
    posted: Mutex<Vec<HandoffCard>>,
    updated: Mutex<Vec<HandoffCard>>,
    relayed: Mutex<Vec<(String, String)>>,
}

#[async_trait::async_trait]
impl Desk for RecordingDesk {
    fn name(&self) -> &'static str {
        "recording"
    }
    async fn post(&self, card: &HandoffCard) -> anyhow::Result<Option<String>> {
        self.posted.lock().unwrap().push(card.clone());
        Ok(Some(format!("card-{}", self.posted.lock().unwrap().len())))
    }
    async fn update(&self, _desk_ref: Option<&str>, card: &HandoffCard) -> anyhow::Result<()> {
        self.updated.lock().unwrap().push(card.clone());
        Ok(())
    }
    async fn relay(
        &self,
        _desk_ref: Option<&str>,
        card: &HandoffCard,
        text: &str,
    ) -> anyhow::Result<()> {
        self.relayed
            .lock()
            .unwrap()
            .push((card.handoff_id.clone(), text.to_string()));
        Ok(())
    }
}

/// What reached the user's chat outside their own turns, rendered.
#[derive(Default)]
struct Inbox {
    l10n: Mutex<Option<Arc<sspr_bot::i18n::Localizer>>>,
    texts: Mutex<Vec<String>>,
}

#[async_trait::async_trait]
impl Outbound for Inbox {
    async fn deliver(&self, _chat: &ChatRef, out: TurnOutput) {
        let l10n = self.l10n.lock().unwrap().clone().unwrap();
        for r in &out.replies {
            self.texts
                .lock()
                .unwrap()
                .push(l10n.render(out.lang, r).text);
        }
    }
}

impl Inbox {
    fn all(&self) -> String {
        self.texts.lock().unwrap().join("\n")
    }
}

const AGENT: &str = "telegram:4242";

struct Desked {
    t: TestApp,
    desk: Arc<RecordingDesk>,
    inbox: Arc<Inbox>,
}

async fn desked() -> Desked {
    let t = TestApp::new().await;
    let desk = Arc::new(RecordingDesk::default());
    t.app.core.set_helpdesk(Helpdesk {
        hours: OfficeHours::default_nl(),
        phone: "020-40 777 55".into(),
        agents: vec![AGENT.into()],
        desks: vec![desk.clone()],
        claim_timeout_secs: 600,
    });
    let inbox = Arc::new(Inbox::default());
    *inbox.l10n.lock().unwrap() = Some(Arc::clone(&t.app.localizer));
    t.app.core.register_outbound("test", inbox.clone());
    Desked { t, desk, inbox }
}

fn agent() -> Agent {
    Agent {
        id: AGENT.into(),
        name: "Piet".into(),
    }
}

impl Desked {
    fn card(&self) -> HandoffCard {
        self.desk
            .posted
            .lock()
            .unwrap()
            .last()
            .cloned()
            .expect("a card")
    }

    async fn act(&self, action: AgentAction) -> AgentOutcome {
        let id = self.card().handoff_id;
        self.t
            .app
            .core
            .agent_action(&agent(), &id, action)
            .await
            .unwrap()
    }
}

#[tokio::test]
async fn at_seven_fifty_five_on_monday_the_desk_is_closed_and_a_callback_is_posted_at_eight() {
    let d = desked().await;
    let t = &d.t;
    let shown = t.say("medewerker").await;
    shown
        .expect("De ICT Servicedesk is nu gesloten")
        .expect("vandaag om 08:00")
        .expect("020-40 777 55");
    assert!(shown.buttons().contains(&"callback".to_string()));
    t.press("callback")
        .await
        .expect("Je terugbelverzoek is genoteerd")
        .expect("vandaag vanaf 08:00");
    t.app.core.helpdesk_tick().await.unwrap();
    assert!(
        d.desk.posted.lock().unwrap().is_empty(),
        "not before opening"
    );
    t.advance(5 * 60 + 1);
    t.app.core.helpdesk_tick().await.unwrap();
    let card = d.card();
    assert_eq!(card.kind, "callback");
    assert_eq!(card.platform, "test");
    // Posted once, and then it waits for an agent like any handoff.
    t.app.core.helpdesk_tick().await.unwrap();
    assert_eq!(d.desk.posted.lock().unwrap().len(), 1);
    assert_eq!(d.act(AgentAction::Claim).await, AgentOutcome::Done);
    let events: Vec<String> = t.audit("-").await.into_iter().map(|(e, _, _)| e).collect();
    assert!(
        events.contains(&"callback_requested".to_string()),
        "{events:?}"
    );
    assert!(
        events.contains(&"callback_posted".to_string()),
        "{events:?}"
    );
}

#[tokio::test]
async fn the_closed_desk_is_described_in_english_too() {
    let d = desked().await;
    let t = &d.t;
    // Friday 18:00: the desk opens again on Monday.
    t.advance((4 * 24 + 10) * 3600 + 5 * 60);
    t.say("/taal en").await;
    t.say("human")
        .await
        .expect("The ICT Service Desk is closed now")
        .expect("on Monday at 08:00");
}

#[tokio::test]
async fn a_whole_handoff_claim_messages_both_ways_unlock_and_close() {
    let d = desked().await;
    let t = &d.t;
    t.advance(10 * 60); // 08:05
    t.start(ANNA, "reason:locked").await;
    t.pass_email().await;
    t.press("method:totp").await;
    t.say("000000").await; // a wrong authenticator code
    let shown = t.press("human").await;
    shown.expect("collega van de ICT Servicedesk gevraagd");
    let card = d.card();
    assert_eq!(card.kind, "live");
    assert_eq!(card.account.as_deref(), Some(ANNA));
    assert_eq!(card.lang, Lang::Nl);
    assert!(card.passed.iter().any(|(m, _)| m == "email"), "{card:?}");
    assert!(card.failed.iter().any(|(m, _)| m == "totp"), "{card:?}");
    let code = t.last_code("email").await;
    assert!(!format!("{card:?}").contains(&code), "no code on the card");

    // Someone who is not an agent can do nothing.
    let stranger = Agent {
        id: "telegram:666".into(),
        name: "Mallory".into(),
    };
    let outcome = t
        .app
        .core
        .agent_action(&stranger, &card.handoff_id, AgentAction::Unlock)
        .await
        .unwrap();
    assert_eq!(outcome, AgentOutcome::NotAnAgent);
    assert!(t.is_locked(ANNA).await);
    // Nor can an agent before claiming it.
    assert_eq!(
        d.act(AgentAction::Message("hallo".into())).await,
        AgentOutcome::NotYours(None)
    );

    assert_eq!(d.act(AgentAction::Claim).await, AgentOutcome::Done);
    assert!(d
        .inbox
        .all()
        .contains("Piet van de ICT Servicedesk is erbij gekomen"));
    t.say("Ik heb mijn telefoon niet bij me").await;
    assert_eq!(
        d.desk.relayed.lock().unwrap().last().unwrap().1,
        "Ik heb mijn telefoon niet bij me"
    );
    d.act(AgentAction::Message("Ik ontgrendel je account nu.".into()))
        .await;
    assert!(d.inbox.all().contains("Piet: Ik ontgrendel je account nu."));
    assert_eq!(d.act(AgentAction::Unlock).await, AgentOutcome::Done);
    assert!(!t.is_locked(ANNA).await);
    assert!(d.inbox.all().contains("ontgrendeld"));
    assert_eq!(d.act(AgentAction::Close).await, AgentOutcome::Done);
    assert!(d.inbox.all().contains("heeft dit gesprek afgesloten"));
    let statuses: Vec<String> = d
        .desk
        .updated
        .lock()
        .unwrap()
        .iter()
        .map(|c| c.status.clone())
        .collect();
    assert_eq!(statuses, ["claimed by Piet", "closed"]);
    // The audit has every step, without message bodies.
    let audit = t.app.store.audit_log(Some(ANNA)).await.unwrap();
    let events: Vec<(String, String)> = audit
        .iter()
        .map(|r| (r.event.clone(), r.outcome.clone()))
        .collect();
    for e in [
        ("handoff_opened", "ok"),
        ("agent_unlock", "refused_not_an_agent"),
        ("agent_claim", "ok"),
        ("handoff_relay", "to_agent"),
        ("agent_message", "ok"),
        ("agent_unlock", "ok"),
        ("agent_close", "ok"),
    ] {
        assert!(
            events.contains(&(e.0.to_string(), e.1.to_string())),
            "{e:?} in {events:?}"
        );
    }
    let all = format!("{audit:?}");
    assert!(!all.contains("telefoon niet") && !all.contains("ontgrendel je"));
}

#[tokio::test]
async fn an_agent_lets_the_user_set_a_new_password_without_seeing_it() {
    let d = desked().await;
    let t = &d.t;
    t.advance(10 * 60);
    t.say("hoi").await;
    t.say(JAN).await;
    t.press("reason:forgot").await;
    t.say("medewerker")
        .await
        .expect("collega van de ICT Servicedesk");
    d.act(AgentAction::Claim).await;
    assert_eq!(d.act(AgentAction::SendReset).await, AgentOutcome::Done);
    assert!(d
        .inbox
        .all()
        .contains("laat je nu een nieuw wachtwoord instellen"));
    let shown = t.say(GOOD_PASSWORD).await;
    assert!(shown.expects_secret);
    t.say(GOOD_PASSWORD)
        .await
        .expect("Je wachtwoord is gewijzigd");
    assert!(t.sign_in(JAN, GOOD_PASSWORD).await);
    let relayed = format!("{:?}", d.desk.relayed.lock().unwrap());
    assert!(!relayed.contains(GOOD_PASSWORD), "the desk never sees it");
    let events: Vec<(String, String)> = t
        .audit(JAN)
        .await
        .into_iter()
        .map(|(e, _, o)| (e, o))
        .collect();
    assert!(events.contains(&("agent_send_reset".into(), "ok".into())));
    assert!(events.contains(&("password_reset".into(), "ok".into())));
}

#[tokio::test]
async fn nobody_claiming_in_time_gives_the_phone_number() {
    let d = desked().await;
    let t = &d.t;
    t.advance(10 * 60);
    t.say("hoi").await;
    t.say("help").await.expect("collega van de ICT Servicedesk");
    t.advance(9 * 60);
    t.app.core.helpdesk_tick().await.unwrap();
    assert!(d.inbox.all().is_empty());
    t.advance(61);
    t.app.core.helpdesk_tick().await.unwrap();
    assert!(d.inbox.all().contains("Er is nu geen collega beschikbaar"));
    assert!(d.inbox.all().contains("020-40 777 55"));
    assert_eq!(d.act(AgentAction::Claim).await, AgentOutcome::Closed);
    // The conversation is over: a new message starts again.
    t.say("hoi").await.expect("Wat is je loginnaam?");
}

#[tokio::test]
async fn without_a_desk_asking_for_a_person_gives_the_phone_number() {
    let t = TestApp::new().await;
    t.advance(10 * 60);
    t.say("hoi").await;
    t.say("medewerker")
        .await
        .expect("Bel de ICT Servicedesk op 020-40 777 55")
        .expect("Wat is je loginnaam?");
}

#[tokio::test]
async fn after_a_recovery_lockout_a_person_is_offered() {
    let d = desked().await;
    let t = &d.t;
    t.start(JAN, "reason:forgot").await;
    t.press("method:totp").await;
    let mut last = None;
    for _ in 0..5 {
        last = Some(t.say("000000").await);
    }
    let shown = last.unwrap();
    shown.expect("24 uur");
    assert!(
        shown.buttons().contains(&"human".to_string()),
        "{:?}",
        shown.buttons()
    );
}

#[tokio::test]
async fn the_user_can_leave_the_handoff() {
    let d = desked().await;
    let t = &d.t;
    t.advance(10 * 60);
    t.say("medewerker").await;
    t.say("/stop").await.expect("Gestopt");
    assert_eq!(d.act(AgentAction::Claim).await, AgentOutcome::Closed);
    let statuses: Vec<String> = d
        .desk
        .updated
        .lock()
        .unwrap()
        .iter()
        .map(|c| c.status.clone())
        .collect();
    assert_eq!(statuses, ["closed_by_user"]);
}

#[test]
fn the_helpdesk_configuration_is_checked_and_names_the_bad_key() {
    let base = "[database]\nurl = \"sqlite://x.db\"\n[providers]\noutbox = \"o.jsonl\"\n";
    let parse = |extra: &str| {
        sspr_bot::config::Config::parse(
            std::path::Path::new("t.toml"),
            &format!("{base}{extra}"),
            Vec::new(),
        )
    };
    let ok = parse(
        "[helpdesk]\nhours = { mon = \"08:00-12:00,13:00-17:00\", sat = \"10:00-12:00\" }\n\
         holidays = [\"2026-12-24\"]\nagents = [\"telegram:1\", \"teams:abc\"]\n",
    )
    .unwrap();
    let hours = ok.helpdesk.unwrap().office_hours().unwrap();
    // Saturday 5 December 2026, 10:30 Amsterdam.
    let at = chrono::DateTime::parse_from_rfc3339("2026-12-05T09:30:00Z").unwrap();
    assert!(hours.is_open(at.with_timezone(&chrono::Utc)));
    for (extra, key) in [
        ("[helpdesk]\nhours = { mon = \"8-18\" }\n", "helpdesk.hours"),
        (
            "[helpdesk]\nhours = { maandag = \"08:00-18:00\" }\n",
            "helpdesk.hours",
        ),
        (
            "[helpdesk]\ntimezone = \"Mars/Olympus\"\n",
            "helpdesk.hours",
        ),
        (
            "[helpdesk]\nholidays = [\"25-12-2026\"]\n",
            "helpdesk.hours",
        ),
        ("[helpdesk]\nagents = [\"123456\"]\n", "helpdesk.agents"),
        (
            "[helpdesk]\ntelegram_chat_id = -100123\n",
            "helpdesk.telegram_chat_id",
        ),
        (
            "[helpdesk]\nteams_workflow_url = \"http://x.example/\"\n",
            "helpdesk.teams_workflow_url",
        ),
        (
            "[helpdesk]\nclaim_timeout_minutes = 0\n",
            "helpdesk.claim_timeout_minutes",
        ),
    ] {
        let err = parse(extra).unwrap_err().to_string();
        assert!(err.contains(key), "{extra}: {err}");
    }
}

#[tokio::test]
async fn this_wasnt_me_in_the_chat_blocks_recovery_and_alerts_the_desk() {
    let d = desked().await;
    let t = &d.t;
    t.start(JAN, "reason:forgot").await;
    t.pass_email().await;
    t.pass_totp(JAN_TOTP).await;
    t.say(GOOD_PASSWORD).await;
    let done = t.say(GOOD_PASSWORD).await;
    done.expect("Je wachtwoord is gewijzigd");
    assert!(done.buttons().contains(&"not_me".to_string()));
    t.press("not_me")
        .await
        .expect("nu geblokkeerd en de ICT Servicedesk is gewaarschuwd");
    // Outside office hours (07:55) the urgent card still goes to the desk.
    let card = d.card();
    assert_eq!(card.kind, "urgent");
    assert_eq!(card.account.as_deref(), Some(JAN));
    // Recovery and registration of the account are refused from any chat.
    t.say("hoi").await;
    t.say(JAN).await;
    t.press("reason:forgot")
        .await
        .expect("geblokkeerd na een melding");
    t.say("/registreren").await;
    t.say(JAN).await.expect("geblokkeerd na een melding");
    let events: Vec<(String, String)> = t
        .audit(JAN)
        .await
        .into_iter()
        .map(|(e, _, o)| (e, o))
        .collect();
    assert!(events.contains(&("reported_not_me".into(), "blocked".into())));
    assert!(events.contains(&("recovery_started".into(), "refused_reported_not_me".into())));
    // An admin lifts it after talking to Jan.
    let login = sspr_bot::domain::LoginName::parse(JAN).unwrap();
    assert!(sspr_bot::admin::unblock(&t.app.store, &login, 0)
        .await
        .unwrap());
    t.say("hoi").await;
    t.say(JAN).await;
    t.press("reason:forgot")
        .await
        .expect("Verificatiestap 1 van 2");
}

/// The story: a lost phone on Saturday; e-mail and questions do the reset; the phone's
/// methods are suspended until registered again, the user is told how, and the desk is told.
#[tokio::test]
async fn a_lost_phone_ends_in_a_reset_with_the_phone_methods_suspended() {
    let d = desked().await;
    let t = &d.t;
    t.advance(5 * 24 * 3600); // Saturday 5 December, 07:55
    t.start(JAN, "reason:forgot").await;
    let shown = t.press("no_phone").await;
    let offered = shown.buttons();
    assert!(offered.contains(&"method:email".to_string()), "{offered:?}");
    assert!(
        !offered
            .iter()
            .any(|b| b == "method:sms" || b == "method:totp"),
        "{offered:?}"
    );
    t.pass_email().await;
    t.pass_questions(&JAN_ANSWERS)
        .await
        .expect("Beide verificatiestappen");
    t.say(GOOD_PASSWORD).await;
    t.say(GOOD_PASSWORD)
        .await
        .expect("Je wachtwoord is gewijzigd")
        .expect("zijn de methodes sms, bellen en Authenticator-app van je account uitgeschakeld");
    assert!(t.sign_in(JAN, GOOD_PASSWORD).await);
    let card = d.card();
    assert_eq!(
        (card.kind.as_str(), card.reason.as_str()),
        ("notice", "phone_lost")
    );
    // The next recovery offers no phone methods, even "with the phone".
    t.start(JAN, "reason:forgot").await;
    let offered = t.press("with_phone").await.buttons();
    for m in ["method:sms", "method:call", "method:totp", "method:push"] {
        assert!(
            !offered.contains(&m.to_string()),
            "{m} still offered: {offered:?}"
        );
    }
    assert!(offered.contains(&"method:email".to_string()));
    let suspended = t.app.store.suspended_methods(JAN).await.unwrap();
    assert_eq!(suspended, ["mobile", "totp", "push"]);
    let events: Vec<String> = t.audit(JAN).await.into_iter().map(|(e, _, _)| e).collect();
    assert!(events.contains(&"phone_lost".to_string()));
    assert!(events.contains(&"phone_methods_suspended".to_string()));
    // With a new phone, Jan registers his authenticator again: that one is back, the others
    // stay suspended.
    t.say("/stop").await;
    t.say("/registreren").await;
    t.say(JAN).await;
    let code = t
        .outbox_lines()
        .await
        .iter()
        .rev()
        .find(|l| l["to"] == JAN)
        .and_then(|l| l["code"].as_str().map(str::to_string))
        .unwrap();
    t.say(&code)
        .await
        .expect("Code uit de Authenticator-app: niet vastgelegd");
    let qr = t.press("reg:totp").await;
    let uri = qr.replies.iter().find_map(|r| r.qr.clone()).unwrap().0;
    let secret = uri
        .split(['?', '&'])
        .find_map(|p| p.strip_prefix("secret="))
        .unwrap()
        .to_string();
    t.say(&t.totp(&secret, 0)).await.expect("Vastgelegd");
    assert_eq!(
        t.app.store.suspended_methods(JAN).await.unwrap(),
        ["mobile", "push"]
    );
}

#[tokio::test]
async fn without_email_and_questions_a_user_without_a_phone_is_offered_a_person() {
    let d = desked().await;
    let t = &d.t;
    // Pieter is an admin: no security questions, so without his phone only e-mail is left.
    t.start(PIETER, "reason:forgot").await;
    let shown = t.press("no_phone").await;
    shown.expect("Zonder telefoon lukt het alleen");
    assert!(
        shown.buttons().contains(&"human".to_string()),
        "{:?}",
        shown.buttons()
    );
}

/// The "done when": Saturday, phone lost, account locked; the desk opens Monday 08:00,
/// sees the callback request, and an agent talks to the employee through the bot and unlocks
/// the account without ever seeing a secret.
#[tokio::test]
async fn a_saturday_callback_is_answered_on_monday_morning_and_ends_in_an_unlock() {
    let d = desked().await;
    let t = &d.t;
    t.advance(5 * 24 * 3600 + 2 * 3600); // Saturday 5 December, 09:55
    t.start(ANNA, "reason:locked").await;
    t.press("no_phone").await;
    t.say("medewerker")
        .await
        .expect("De ICT Servicedesk is nu gesloten")
        .expect("maandag om 08:00");
    t.press("callback").await.expect("maandag vanaf 08:00");
    // Sunday night: nothing yet.
    t.advance(44 * 3600);
    t.app.core.helpdesk_tick().await.unwrap();
    assert!(d.desk.posted.lock().unwrap().is_empty());
    // Monday 08:00.
    t.advance(2 * 3600 + 5 * 60 + 30);
    t.app.core.helpdesk_tick().await.unwrap();
    let card = d.card();
    assert_eq!(card.kind, "callback");
    assert_eq!(card.account.as_deref(), Some(ANNA));
    assert_eq!(d.act(AgentAction::Claim).await, AgentOutcome::Done);
    assert!(d
        .inbox
        .all()
        .contains("Piet van de ICT Servicedesk is erbij gekomen"));
    d.act(AgentAction::Message(
        "Goedemorgen Anna, je belde over je account?".into(),
    ))
    .await;
    t.say("Ja, het is geblokkeerd en mijn telefoon is weg.")
        .await;
    assert_eq!(
        d.desk.relayed.lock().unwrap().last().unwrap().1,
        "Ja, het is geblokkeerd en mijn telefoon is weg."
    );
    assert_eq!(d.act(AgentAction::Unlock).await, AgentOutcome::Done);
    assert!(!t.is_locked(ANNA).await);
    assert!(d.inbox.all().contains("ontgrendeld"));
    assert_eq!(d.act(AgentAction::Close).await, AgentOutcome::Done);
    let events: Vec<String> = t.audit(ANNA).await.into_iter().map(|(e, _, _)| e).collect();
    for e in [
        "callback_requested",
        "callback_posted",
        "agent_claim",
        "agent_unlock",
    ] {
        assert!(events.contains(&e.to_string()), "{e} in {events:?}");
    }
}
