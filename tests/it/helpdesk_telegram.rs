//! The helpdesk handoff end to end through Telegram (issue 8): the user in a private chat with the
//! bot, the ICT Servicedesk in its Telegram group, both on the fake Bot API. Cards, buttons,
//! toasts, relays both ways, an agent-triggered unlock and close; a non-member refused; the Teams
//! Workflows desk beside it (wiremock).

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use sspr_bot::channels::telegram::Telegram;
use sspr_bot::dialogue::Lang;
use sspr_bot::helpdesk::desk::{Desk, Helpdesk};
use sspr_bot::helpdesk::teams_desk::TeamsWorkflowDesk;
use sspr_bot::helpdesk::OfficeHours;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::fake_telegram::{FakeTelegram, Member, SentMessage};
use crate::support::*;

const TOKEN: &str = "123456:TEST-token";
const USER: i64 = 5151;
const GROUP: i64 = -1_001_234_567_890;
const OTHER_GROUP: i64 = -1002;
const AGENT_ID: i64 = 777_001;
const WAIT: Duration = Duration::from_secs(10);

fn agent() -> Member {
    Member::new(AGENT_ID, "Sanne", Some("de Vries"))
}

fn stranger() -> Member {
    Member::new(666, "Mallory", None)
}

struct Rig {
    t: TestApp,
    fake: FakeTelegram,
    tg: Arc<Telegram>,
    shutdown: CancellationToken,
    polling: JoinHandle<anyhow::Result<()>>,
}

/// The demo app at Monday 08:05 (desk open), the Telegram channel polling the fake, and the
/// helpdesk group as a desk (after `before`, before `after`: other desks).
async fn rig(before: Vec<Arc<dyn Desk>>, after: Vec<Arc<dyn Desk>>) -> Rig {
    let t = TestApp::new().await;
    t.advance(10 * 60);
    let fake = FakeTelegram::start(TOKEN).await;
    fake.add_group(GROUP, "ICT Servicedesk");
    let shutdown = CancellationToken::new();
    let tg = Telegram::new(
        TOKEN,
        &fake.url,
        Arc::clone(&t.app.core),
        Arc::clone(&t.app.localizer),
        shutdown.clone(),
    )
    .unwrap();
    t.app.core.register_outbound("telegram", tg.clone());
    let group_desk: Arc<dyn Desk> = Arc::new(tg.helpdesk_desk(GROUP, Lang::Nl));
    let mut desks = before;
    desks.push(group_desk);
    desks.extend(after);
    t.app.core.set_helpdesk(Helpdesk {
        hours: OfficeHours::default_nl(),
        phone: "020-40 777 55".into(),
        agents: vec![format!("telegram:{AGENT_ID}")],
        desks,
        claim_timeout_secs: 600,
    });
    let polling = tokio::spawn(Arc::clone(&tg).run_polling());
    Rig {
        t,
        fake,
        tg,
        shutdown,
        polling,
    }
}

impl Rig {
    async fn stop(self) {
        self.shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(15), self.polling)
            .await
            .expect("polling stops on shutdown")
            .unwrap()
            .unwrap();
        drop(self.tg);
    }

    /// The user writes; returns what the bot sent to the user's chat in answer.
    async fn user_says(&self, text: &str) -> Vec<SentMessage> {
        let n = self.fake.sent().len();
        self.fake.user_says(USER, USER, Some("nl"), text);
        quiet(&self.fake, n).await
    }

    async fn user_presses(&self, data: &str) -> Vec<SentMessage> {
        let msg = self
            .fake
            .sent()
            .iter()
            .rev()
            .find(|m| m.chat_id == USER && m.buttons.iter().flatten().any(|(_, d)| d == data))
            .unwrap_or_else(|| panic!("no button {data} in the user's chat"))
            .message_id;
        let n = self.fake.sent().len();
        self.fake.user_presses(USER, USER, msg, data);
        quiet(&self.fake, n).await
    }

    /// A member presses a desk button on the card; returns the toast.
    async fn press(&self, who: &Member, card: i32, data: &str) -> String {
        let id = self.fake.member_presses(GROUP, who, card, data);
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let answered = self
                .fake
                .requests("answerCallbackQuery")
                .iter()
                .any(|p| p["callback_query_id"].as_str() == Some(id.as_str()));
            if answered {
                // What the action sent (to the user, edits) settles first.
                quiet_for(&self.fake).await;
                return self.fake.callback_answer(&id).unwrap_or_default();
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "callback {data} not answered"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn to_user(&self, since: usize) -> String {
        texts(&self.fake.sent()[since..], USER)
    }
}

/// Waits for at least one new message after `before`, then for quiet; returns the new ones.
async fn quiet(fake: &FakeTelegram, before: usize) -> Vec<SentMessage> {
    fake.wait_for_sent(before + 1, WAIT).await;
    quiet_for(fake).await;
    fake.sent()[before..].to_vec()
}

/// Waits until nothing new was sent or edited for 300 ms.
async fn quiet_for(fake: &FakeTelegram) {
    let mut seen = (fake.sent().len(), fake.edits().len());
    loop {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let now = (fake.sent().len(), fake.edits().len());
        if now == seen {
            return;
        }
        seen = now;
    }
}

/// Waits until a message to `chat` satisfying `pred` was sent after `since`.
async fn wait_in(fake: &FakeTelegram, since: usize, chat: i64, what: &str) -> SentMessage {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        if let Some(m) = fake.sent()[since..]
            .iter()
            .find(|m| m.chat_id == chat && m.text.contains(what))
        {
            return m.clone();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no {what:?} in chat {chat}: {:#?}",
            &fake.sent()[since..]
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn texts(msgs: &[SentMessage], chat: i64) -> String {
    msgs.iter()
        .filter(|m| m.chat_id == chat)
        .map(|m| m.text.as_str())
        .collect::<Vec<_>>()
        .join("\n")
}

/// The card in the group: its message id and the handoff id in its buttons.
fn card(fake: &FakeTelegram) -> (SentMessage, String) {
    let card = fake
        .sent()
        .into_iter()
        .find(|m| m.chat_id == GROUP && !m.buttons.is_empty())
        .expect("a card in the helpdesk group");
    let handoff = card
        .buttons
        .iter()
        .flatten()
        .find_map(|(_, d)| d.strip_prefix("hd:claim:"))
        .expect("a Claim button")
        .to_string();
    (card, handoff)
}

async fn handoff_row(t: &TestApp, id: &str) -> sspr_bot::store::HandoffRow {
    t.app.store.handoff(id).await.unwrap().expect("the handoff")
}

fn callbacks(buttons: &[Vec<(String, String)>]) -> Vec<String> {
    buttons.iter().flatten().map(|(_, d)| d.clone()).collect()
}

#[tokio::test]
async fn a_whole_handoff_through_the_helpdesk_group_ends_with_an_unlock() {
    let r = rig(vec![], vec![]).await;
    let (fake, t) = (&r.fake, &r.t);

    // Anna (locked out) passes the e-mail code, fails the authenticator code, asks for a person.
    r.user_says("hoi").await;
    r.user_says(ANNA).await;
    r.user_presses("reason:locked").await;
    r.user_presses("method:email").await;
    let code = t.last_code("email").await;
    r.user_says(&code).await;
    r.user_presses("method:totp").await;
    r.user_says("000000").await;
    let n = fake.sent().len();
    let opened = r.user_says("medewerker").await;
    assert!(
        texts(&opened, USER).contains("collega van de ICT Servicedesk gevraagd"),
        "{opened:#?}"
    );
    wait_in(fake, n, GROUP, ANNA).await;

    // The card: account, what passed and failed with Amsterdam times, the buttons; no secret.
    let (card_msg, handoff) = card(fake);
    assert_eq!(handoff.len(), 32, "{handoff}");
    let text = &card_msg.text;
    assert!(
        text.starts_with(&format!("💬 #{}", &handoff[..6])),
        "{text}"
    );
    for needle in [
        "Account: a.bakker@bedrijf.nl",
        "Taal: Nederlands",
        "Kanaal: Telegram",
        "Reden: vroeg zelf om een medewerker",
        "Gelukt: e-mail 08:0",
        "Mislukt: Authenticator-code 08:0",
        "Gevraagd: 30-11-2026 08:0",
        "Status: wacht op een collega",
    ] {
        assert!(text.contains(needle), "{needle:?} in:\n{text}");
    }
    assert!(!text.contains(&code) && !text.contains("000000"), "{text}");
    assert_eq!(
        callbacks(&card_msg.buttons),
        [
            format!("hd:claim:{handoff}"),
            format!("hd:unlock:{handoff}"),
            format!("hd:reset:{handoff}"),
            format!("hd:close:{handoff}"),
        ]
    );
    assert_eq!(
        handoff_row(t, &handoff).await.desk_ref.as_deref(),
        Some(card_msg.message_id.to_string().as_str())
    );

    // Someone in the group who is no agent: refused, nothing changes.
    let n = fake.sent().len();
    let toast = r
        .press(
            &stranger(),
            card_msg.message_id,
            &format!("hd:claim:{handoff}"),
        )
        .await;
    assert!(
        toast.contains("Alleen medewerkers van de ICT Servicedesk"),
        "{toast}"
    );
    let toast = r
        .press(
            &stranger(),
            card_msg.message_id,
            &format!("hd:unlock:{handoff}"),
        )
        .await;
    assert!(toast.contains("Er is niets gebeurd"), "{toast}");
    assert_eq!(handoff_row(t, &handoff).await.status, "waiting");
    assert!(t.is_locked(ANNA).await);
    assert_eq!(fake.sent().len(), n, "nobody was told anything");
    assert!(fake.edits().is_empty(), "the card is unchanged");

    // The agent claims it: the user is told who they are talking to; the card says so.
    let n = fake.sent().len();
    let toast = r
        .press(
            &agent(),
            card_msg.message_id,
            &format!("hd:claim:{handoff}"),
        )
        .await;
    assert!(toast.contains("Opgepakt"), "{toast}");
    assert!(
        r.to_user(n)
            .contains("Sanne de Vries van de ICT Servicedesk is erbij gekomen"),
        "{}",
        r.to_user(n)
    );
    let (now, buttons) = fake.current(GROUP, card_msg.message_id).unwrap();
    assert!(
        now.contains("Status: opgepakt door Sanne de Vries"),
        "{now}"
    );
    assert!(
        !callbacks(&buttons)
            .iter()
            .any(|d| d.starts_with("hd:claim:")),
        "no Claim once claimed: {buttons:?}"
    );
    assert_eq!(
        handoff_row(t, &handoff).await.agent.as_deref(),
        Some("telegram:777001")
    );

    // The user writes: relayed to the group as a reply to the card.
    let n = fake.sent().len();
    r.user_says("Ik heb mijn telefoon niet bij me").await;
    let relay = wait_in(fake, n, GROUP, "Ik heb mijn telefoon niet bij me").await;
    assert_eq!(
        relay.text,
        format!(
            "#{} a.bakker@bedrijf.nl: Ik heb mijn telefoon niet bij me",
            &handoff[..6]
        )
    );
    let request = fake
        .requests("sendMessage")
        .into_iter()
        .rev()
        .find(|p| p["text"].as_str() == Some(relay.text.as_str()))
        .unwrap();
    let reply_to: Value = match &request["reply_parameters"] {
        Value::String(s) => serde_json::from_str(s).unwrap(),
        v => v.clone(),
    };
    assert_eq!(reply_to["message_id"], card_msg.message_id);

    // The agent replies to the card, and to the relayed message: both reach the user.
    let n = fake.sent().len();
    fake.member_says(
        GROUP,
        &agent(),
        Some(card_msg.message_id),
        "Geen probleem, ik ontgrendel je account nu.",
    );
    wait_in(
        fake,
        n,
        USER,
        "Sanne de Vries: Geen probleem, ik ontgrendel je account nu.",
    )
    .await;
    let n = fake.sent().len();
    fake.member_says(GROUP, &agent(), Some(relay.message_id), "Een moment.");
    wait_in(fake, n, USER, "Sanne de Vries: Een moment.").await;
    // Agents talking among themselves (no reply to the bot) stays in the group.
    let n = fake.sent().len();
    fake.member_says(GROUP, &agent(), None, "Wie haalt er koffie?");
    fake.member_says(GROUP, &stranger(), Some(relay.message_id), "Ik niet");
    let refused = wait_in(fake, n, GROUP, "Alleen medewerkers").await;
    quiet_for(fake).await;
    assert_eq!(
        fake.sent()[n..].to_vec(),
        vec![refused],
        "only the stranger's reply to the bot is answered"
    );

    // Unlock: the directory account is unlocked and the user told.
    let n = fake.sent().len();
    let toast = r
        .press(
            &agent(),
            card_msg.message_id,
            &format!("hd:unlock:{handoff}"),
        )
        .await;
    assert!(toast.contains("Account ontgrendeld"), "{toast}");
    assert!(!t.is_locked(ANNA).await);
    assert!(r.to_user(n).contains("ontgrendeld"), "{}", r.to_user(n));

    // Close: the user is told, the card shows it and loses its buttons.
    let n = fake.sent().len();
    let toast = r
        .press(
            &agent(),
            card_msg.message_id,
            &format!("hd:close:{handoff}"),
        )
        .await;
    assert!(toast.contains("Afgesloten"), "{toast}");
    assert!(
        r.to_user(n).contains("heeft dit gesprek afgesloten"),
        "{}",
        r.to_user(n)
    );
    let (now, buttons) = fake.current(GROUP, card_msg.message_id).unwrap();
    assert!(now.contains("Status: afgesloten"), "{now}");
    assert!(buttons.is_empty(), "{buttons:?}");
    assert_eq!(handoff_row(t, &handoff).await.status, "closed");

    // A late reply to the card is not delivered, and the agent hears why.
    let n = fake.sent().len();
    fake.member_says(GROUP, &agent(), Some(card_msg.message_id), "Nog iets?");
    wait_in(fake, n, GROUP, "al afgesloten").await;
    assert!(!r.to_user(n).contains("Nog iets?"));

    // Nothing in the group ever showed a code or the user's password.
    let group = texts(&fake.sent(), GROUP) + &texts(&fake.edits(), GROUP);
    assert!(!group.contains(&code), "{group}");
    // Every step is audited, with the agent's id and without message bodies.
    let audit = t.app.store.audit_log(Some(ANNA)).await.unwrap();
    let events: Vec<(String, String, String)> = audit
        .iter()
        .map(|a| (a.event.clone(), a.outcome.clone(), a.chat_user.clone()))
        .collect();
    for (event, outcome, who) in [
        ("agent_claim", "refused_not_an_agent", "telegram:666"),
        ("agent_claim", "ok", "telegram:777001"),
        ("agent_message", "ok", "telegram:777001"),
        ("agent_unlock", "ok", "telegram:777001"),
        ("agent_close", "ok", "telegram:777001"),
        ("handoff_relay", "to_agent", "telegram:user:5151"),
    ] {
        assert!(
            events.contains(&(event.into(), outcome.into(), who.into())),
            "{event} {outcome} {who} in {events:#?}"
        );
    }
    let audit_text = format!("{audit:?}");
    assert!(!audit_text.contains("telefoon niet bij me") && !audit_text.contains("Een moment"));
    r.stop().await;
}

#[tokio::test]
async fn an_agent_who_answers_before_claiming_is_told_to_claim_first() {
    let r = rig(vec![], vec![]).await;
    let fake = &r.fake;
    r.user_says("hoi").await;
    r.user_says(ANNA).await;
    let n = fake.sent().len();
    r.user_says("medewerker").await;
    wait_in(fake, n, GROUP, "Account: a.bakker@bedrijf.nl").await;
    let (card_msg, _) = card(fake);
    // Asked right after the login name: nothing passed or failed yet.
    assert!(card_msg.text.contains("Gelukt: niets"), "{}", card_msg.text);
    let n = fake.sent().len();
    fake.member_says(GROUP, &agent(), Some(card_msg.message_id), "Hallo?");
    let told = wait_in(fake, n, GROUP, "eerst op").await;
    assert!(told.text.contains("Oppakken"), "{}", told.text);
    assert!(!r.to_user(n).contains("Hallo?"));
    r.stop().await;
}

#[tokio::test]
async fn other_groups_are_still_told_to_use_a_private_chat() {
    let r = rig(vec![], vec![]).await;
    r.fake.group_says(OTHER_GROUP, USER, "wachtwoord vergeten");
    let m = quiet(&r.fake, 0).await;
    assert_eq!(m.len(), 1, "{m:#?}");
    assert_eq!(m[0].chat_id, OTHER_GROUP);
    assert!(m[0].text.contains("alleen in een privégesprek"), "{m:#?}");
    // The helpdesk group itself gets no such answer to its chatter.
    r.fake.member_says(GROUP, &agent(), None, "goedemorgen");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(r.fake.sent().len(), 1);
    r.stop().await;
}

const WORKFLOW_PATH: &str = "/workflows/abc/triggers/manual/paths/invoke";
const SIG: &str = "SECRETSIGnatureXYZ";

#[tokio::test]
async fn the_teams_workflow_gets_an_adaptive_card_and_a_line_when_claimed() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(WORKFLOW_PATH))
        .respond_with(ResponseTemplate::new(202))
        .mount(&server)
        .await;
    let url = format!("{}{WORKFLOW_PATH}?api-version=1&sig={SIG}", server.uri());
    let l10n = Arc::new(sspr_bot::i18n::Localizer::new().unwrap());
    let teams: Arc<dyn Desk> = Arc::new(TeamsWorkflowDesk::new(&url, l10n).unwrap());
    let r = rig(vec![], vec![teams]).await;
    let fake = &r.fake;
    r.user_says("hoi").await;
    r.user_says(ANNA).await;
    let n = fake.sent().len();
    r.user_says("medewerker").await;
    wait_in(fake, n, GROUP, ANNA).await;
    let (card_msg, handoff) = card(fake);

    let posts = server.received_requests().await.unwrap();
    assert_eq!(posts.len(), 1);
    assert_eq!(
        posts[0].headers.get("content-type").unwrap(),
        "application/json"
    );
    let body: Value = serde_json::from_slice(&posts[0].body).unwrap();
    assert_eq!(body["type"], "message");
    let attachments = body["attachments"].as_array().unwrap();
    assert_eq!(attachments.len(), 1);
    assert_eq!(
        attachments[0]["contentType"],
        "application/vnd.microsoft.card.adaptive"
    );
    assert!(attachments[0]["contentUrl"].is_null());
    let content = &attachments[0]["content"];
    assert_eq!(content["type"], "AdaptiveCard");
    assert_eq!(content["version"], "1.4");
    assert_eq!(
        content["$schema"],
        "http://adaptivecards.io/schemas/adaptive-card.json"
    );
    let title = content["body"][0]["text"].as_str().unwrap();
    assert!(title.contains(&format!("#{}", &handoff[..6])), "{title}");
    let facts = content["body"][1]["facts"].as_array().unwrap();
    assert!(
        facts
            .iter()
            .any(|f| f["title"] == "Account" && f["value"] == ANNA),
        "{facts:?}"
    );
    assert!(content["body"][2]["text"]
        .as_str()
        .unwrap()
        .contains("Telegram-groep"));
    // The Telegram group's card is the one agents answer.
    assert_eq!(
        r.t.app
            .store
            .handoff(&handoff)
            .await
            .unwrap()
            .unwrap()
            .desk_ref,
        Some(card_msg.message_id.to_string())
    );

    r.press(
        &agent(),
        card_msg.message_id,
        &format!("hd:claim:{handoff}"),
    )
    .await;
    let posts = server.received_requests().await.unwrap();
    assert_eq!(posts.len(), 2);
    let update: Value = serde_json::from_slice(&posts[1].body).unwrap();
    let line = update["attachments"][0]["content"]["body"][0]["text"]
        .as_str()
        .unwrap();
    assert!(line.contains("opgepakt door Sanne de Vries"), "{line}");
    // The user's messages stay out of Teams.
    r.user_says("Hallo?").await;
    wait_in(fake, 0, GROUP, "Hallo?").await;
    assert_eq!(server.received_requests().await.unwrap().len(), 2);
    r.stop().await;
}

#[tokio::test]
async fn an_unreachable_teams_workflow_does_not_fail_the_handoff_the_telegram_group_took() {
    // Nothing listens on port 1.
    let url = format!("http://127.0.0.1:1{WORKFLOW_PATH}?sig={SIG}");
    let l10n = Arc::new(sspr_bot::i18n::Localizer::new().unwrap());
    let teams: Arc<dyn Desk> = Arc::new(TeamsWorkflowDesk::new(&url, l10n).unwrap());
    // Teams first: its failure must not keep the group's card from being the reference.
    let ((), logs) = logs_of(async {
        let r = rig(vec![teams], vec![]).await;
        let fake = &r.fake;
        r.user_says("hoi").await;
        r.user_says(ANNA).await;
        let n = fake.sent().len();
        let opened = r.user_says("medewerker").await;
        assert!(
            texts(&opened, USER).contains("collega van de ICT Servicedesk gevraagd"),
            "{opened:#?}"
        );
        wait_in(fake, n, GROUP, ANNA).await;
        let (card_msg, handoff) = card(fake);
        let toast = r
            .press(
                &agent(),
                card_msg.message_id,
                &format!("hd:claim:{handoff}"),
            )
            .await;
        assert!(toast.contains("Opgepakt"), "{toast}");
        let n = fake.sent().len();
        fake.member_says(GROUP, &agent(), Some(card_msg.message_id), "Ik help je.");
        wait_in(fake, n, USER, "Sanne de Vries: Ik help je.").await;
        r.stop().await;
    })
    .await;
    assert!(logs.contains("posting a handoff failed"), "{logs}");
    assert!(
        !logs.contains(SIG),
        "the workflow URL's signature is never logged: {logs}"
    );
    assert!(!logs.contains("Ik help je"), "no message body in the logs");
}
