//! The Discord channel against a fake Discord on loopback (REST and gateway, see
//! `fake_discord`): a whole reset from a DM with the new password entered in a modal, and what is
//! Discord's own (server channels refused, used buttons disabled, interactions answered within
//! 3 s and once, repeated ids, secrets typed as messages, rate limits, closed DMs, QR codes), and
//! the helpdesk in a Discord channel.

use std::sync::Arc;
use std::time::Duration;

use sspr_bot::channels::discord::{Discord, SECRET_ID};
use sspr_bot::dialogue::Lang;
use sspr_bot::helpdesk::desk::{Desk, Helpdesk};
use sspr_bot::helpdesk::OfficeHours;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::fake_discord::{FakeDiscord, Sent, BOT_ID, DIRECT_MESSAGES, GUILD_MESSAGES};
use crate::support::*;

const TOKEN: &str = "MTIzNDU2Nzg5MDEyMzQ1Njc4.fake.discord-bot-token";
const WAIT: Duration = Duration::from_secs(10);

struct Rig {
    t: TestApp,
    fake: FakeDiscord,
    discord: Arc<Discord>,
    shutdown: CancellationToken,
    gateway: JoinHandle<anyhow::Result<()>>,
    user: u64,
    dm: u64,
}

async fn rig() -> Rig {
    rig_with(|_, _| {}).await
}

/// The demo app, the fake Discord with one user and their DM channel, the channel connected to
/// the gateway; `setup` runs before the gateway starts (e.g. to add a helpdesk desk).
async fn rig_with(setup: impl FnOnce(&TestApp, &Arc<Discord>)) -> Rig {
    let t = TestApp::new().await;
    let fake = FakeDiscord::start(TOKEN).await;
    let (user, dm) = fake.dm_user("jan");
    let shutdown = CancellationToken::new();
    let discord = Discord::new(
        TOKEN,
        &fake.api_url,
        Arc::clone(&t.app.core),
        Arc::clone(&t.app.localizer),
        shutdown.clone(),
    )
    .unwrap();
    assert_eq!(discord.check().await.unwrap(), "SSPR");
    t.app.core.register_outbound("discord", discord.clone());
    setup(&t, &discord);
    let gateway = tokio::spawn(Arc::clone(&discord).run_gateway());
    fake.wait_ready(WAIT).await;
    Rig {
        t,
        fake,
        discord,
        shutdown,
        gateway,
        user,
        dm,
    }
}

impl Rig {
    async fn stop(self) {
        self.shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(15), self.gateway)
            .await
            .expect("the gateway stops on shutdown")
            .unwrap()
            .unwrap();
        drop(self.discord);
    }

    /// The bot's messages in the DM after `before`, once it has been quiet for 300 ms.
    async fn replies(&self, before: usize) -> Vec<Sent> {
        quiet(&self.fake, self.dm, before).await
    }

    async fn say(&self, text: &str) -> Vec<Sent> {
        let n = self.fake.sent_in(self.dm).len();
        self.fake.dm(self.user, text);
        self.replies(n).await
    }

    /// Presses `id` on the newest DM message that has it; the interaction id and the replies.
    async fn press(&self, id: &str) -> (u64, Vec<Sent>) {
        let message = newest_with(&self.fake.sent_in(self.dm), id);
        let n = self.fake.sent_in(self.dm).len();
        let interaction = self.fake.click(self.user, message, id, "nl");
        (interaction, self.replies(n).await)
    }

    /// Opens the secret modal from the newest prompt and submits `secret` in it.
    async fn enter_privately(&self, secret: &str) -> Vec<Sent> {
        let message = newest_with(&self.fake.sent_in(self.dm), SECRET_ID);
        let opened = self.fake.click(self.user, message, SECRET_ID, "nl");
        assert!(
            self.fake
                .wait_for(WAIT, |f| f.interaction(opened).unwrap().response.is_some())
                .await
        );
        let modal = self.fake.interaction(opened).unwrap().response.unwrap();
        assert_eq!(modal["type"], 9, "{modal}");
        let input = &modal["data"]["components"][0]["components"][0];
        let asked = self.fake.message(message).unwrap().content;
        let first_line = asked.lines().next().unwrap();
        assert!(
            first_line.starts_with(input["placeholder"].as_str().unwrap().trim_end_matches('…')),
            "the question is shown in the field: {input} / {asked}"
        );
        let n = self.fake.sent_in(self.dm).len();
        let submit = self.fake.submit_modal(self.user, opened, secret, "nl");
        let replies = self.replies(n).await;
        let ack = self.fake.interaction(submit).unwrap();
        assert_eq!(ack.response.as_ref().unwrap()["type"], 7, "{ack:?}");
        // The prompt's secret button is now disabled: the modal can't be sent twice.
        let prompt = self.fake.message(message).unwrap();
        assert!(prompt.button(SECRET_ID).unwrap().2, "{prompt:#?}");
        replies
    }
}

async fn quiet(fake: &FakeDiscord, channel: u64, before: usize) -> Vec<Sent> {
    assert!(
        fake.wait_sent(channel, before + 1, WAIT).await,
        "no reply in {channel}; violations: {:?}",
        fake.violations()
    );
    let mut seen = fake.sent_in(channel).len();
    loop {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let now = fake.sent_in(channel).len();
        if now == seen {
            return fake.sent_in(channel)[before..].to_vec();
        }
        seen = now;
    }
}

#[track_caller]
fn newest_with(msgs: &[Sent], id: &str) -> u64 {
    msgs.iter()
        .rev()
        .find(|m| !m.deleted && m.has_button(id))
        .unwrap_or_else(|| panic!("no button {id} in {msgs:#?}"))
        .id
}

fn text(msgs: &[Sent]) -> String {
    msgs.iter()
        .map(|m| m.content.as_str())
        .collect::<Vec<_>>()
        .join("\n")
}

/// No request was refused, and every interaction was answered once, within Discord's 3 s.
fn assert_clean(fake: &FakeDiscord, interactions: &[u64]) {
    assert!(
        fake.violations().is_empty(),
        "refused: {:?}",
        fake.violations()
    );
    for id in interactions {
        assert!(fake.interaction(*id).is_some(), "{id} delivered");
    }
    // Every interaction delivered (not only those named) was answered, within Discord's 3 s.
    for i in fake.interactions() {
        let after = i
            .answered_after
            .unwrap_or_else(|| panic!("{} never answered", i.id));
        // The figure, for `cargo test discord -- --nocapture`.
        eprintln!("discord: interaction answered {after:?} after delivery");
        assert!(
            after < Duration::from_secs(3),
            "{} answered after {after:?}",
            i.id
        );
    }
    // Nothing the bot sent may ping anyone.
    for m in fake.messages().iter().filter(|m| m.author == BOT_ID) {
        assert_eq!(
            m.allowed_mentions.as_ref().map(|a| a["parse"].clone()),
            Some(serde_json::json!([])),
            "{m:#?}"
        );
    }
}

#[tokio::test]
async fn jan_resets_his_password_from_a_dm_entering_it_in_a_modal() {
    let r = rig().await;
    let f = &r.fake;
    let intents = f.intents().unwrap();
    assert_eq!(
        intents,
        DIRECT_MESSAGES | GUILD_MESSAGES,
        "no privileged intent"
    );

    let m = r.say("hoi").await;
    assert!(text(&m).contains("Wat is je loginnaam?"), "{m:#?}");
    let m = r.say(JAN).await;
    let reason = newest_with(&m, "reason:forgot");

    let (pressed, m) = r.press("reason:forgot").await;
    // Acknowledged by updating the message: all its buttons disabled, the chosen one marked.
    let ack = f.interaction(pressed).unwrap();
    assert_eq!(ack.response.as_ref().unwrap()["type"], 7);
    let used = f.message(reason).unwrap();
    assert!(used.buttons.iter().flatten().all(|b| b.2), "{used:#?}");
    assert_eq!(
        used.button("reason:forgot").unwrap().3,
        3,
        "chosen one green"
    );
    let mut interactions = vec![pressed];

    newest_with(&m, "method:email");
    let (i, m) = r.press("method:email").await;
    interactions.push(i);
    assert!(text(&m).contains("ja*****@pr*****.example"), "{m:#?}");
    let code = r.t.last_code("email").await;
    let m = r.say(&code).await;
    newest_with(&m, "method:totp");
    let (i, _) = r.press("method:totp").await;
    interactions.push(i);
    let m = r.say(&r.t.totp(JAN_TOTP, 0)).await;
    // The password prompt: a button that opens a modal, and the note why.
    assert!(text(&m).contains("Privé invoeren"), "{m:#?}");
    let prompt = m.iter().rev().find(|s| s.has_button(SECRET_ID)).unwrap();
    assert_eq!(prompt.button(SECRET_ID).unwrap().3, 3);

    let before = r.t.password_hash(JAN).await;
    let m = r.enter_privately(GOOD_PASSWORD).await;
    assert!(
        m.iter().any(|s| s.has_button(SECRET_ID)),
        "asked again to confirm, privately: {m:#?}"
    );
    let m = r.enter_privately(GOOD_PASSWORD).await;
    assert!(text(&m).contains("Je wachtwoord is gewijzigd"), "{m:#?}");
    assert_ne!(r.t.password_hash(JAN).await, before);
    assert!(r.t.sign_in(JAN, GOOD_PASSWORD).await);

    // The modal showed the translated title and a required, bounded text input.
    let opened = f
        .requests()
        .iter()
        .filter(|p| p.starts_with("POST /interactions/"))
        .count();
    assert!(opened >= 6, "{:?}", f.requests());
    // Nothing the bot sent repeats a secret, and nothing was refused.
    let everything = text(
        &f.messages()
            .into_iter()
            .filter(|m| m.author == BOT_ID)
            .collect::<Vec<_>>(),
    );
    assert!(!everything.contains(GOOD_PASSWORD) && !everything.contains(&code));
    assert!(!r.t.all_stored_text().await.contains(GOOD_PASSWORD));
    assert_clean(f, &interactions);
    r.stop().await;
}

#[tokio::test]
async fn a_server_channel_is_told_to_use_a_dm_and_nothing_is_started() {
    let r = rig().await;
    let f = &r.fake;
    let channel = f.server_channel();
    let member = f.member("piet");
    // Chatter that is not meant for the bot is not answered (nor even readable to it).
    f.say_in_server(channel, member, "wie heeft de sleutel?", false, None);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(f.sent_in(channel).is_empty());
    f.say_in_server(channel, member, "@SSPR wachtwoord vergeten", true, None);
    let m = quiet(f, channel, 0).await;
    assert_eq!(m.len(), 1, "{m:#?}");
    assert!(
        m[0].content.contains("alleen in een privébericht"),
        "{m:#?}"
    );
    assert!(m[0].buttons.is_empty());
    // No conversation was stored for the server channel.
    assert!(!r.t.all_stored_text().await.contains(&channel.to_string()));
    assert_clean(f, &[]);
    r.stop().await;
}

#[tokio::test]
async fn repeated_message_and_interaction_ids_are_processed_once() {
    let r = rig().await;
    let f = &r.fake;
    r.say("hoi").await;
    let m = r.say(JAN).await;
    assert_eq!(m.len(), 1);
    // The gateway replays the login name (a resumed session): no second answer.
    let n = f.sent_in(r.dm).len();
    f.redeliver_last();
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(f.sent_in(r.dm).len(), n, "a repeated message is dropped");

    let (pressed, _) = r.press("reason:forgot").await;
    let n = f.sent_in(r.dm).len();
    f.redeliver_last();
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(
        f.sent_in(r.dm).len(),
        n,
        "a repeated interaction is dropped"
    );
    assert!(
        f.violations().is_empty(),
        "the repeat was not answered a second time: {:?}",
        f.violations()
    );
    assert_clean(f, &[pressed]);
    r.stop().await;
}

#[tokio::test]
async fn two_sessions_on_one_database_handle_each_event_once() {
    // Two processes with one bot token each hold a gateway session and get every event (as two
    // replicas would); the shared database lets one of them take each.
    let r = rig().await;
    let f = &r.fake;
    let second = Discord::new(
        TOKEN,
        &f.api_url,
        Arc::clone(&r.t.app.core),
        Arc::clone(&r.t.app.localizer),
        r.shutdown.clone(),
    )
    .unwrap();
    second.check().await.unwrap();
    let gateway = tokio::spawn(Arc::clone(&second).run_gateway());
    f.wait_sessions(2, WAIT).await;
    let m = r.say("hoi").await;
    assert_eq!(m.len(), 1, "{m:#?}");
    let m = r.say(JAN).await;
    assert_eq!(m.len(), 1, "{m:#?}");
    let (pressed, m) = r.press("reason:forgot").await;
    assert_eq!(m.len(), 1, "one turn for the press: {m:#?}");
    // Acknowledged once: a second answer would have been refused (40060) and recorded.
    assert_clean(f, &[pressed]);
    r.shutdown.cancel();
    gateway.await.unwrap().unwrap();
    r.stop().await;
}

#[tokio::test]
async fn a_dropped_gateway_connection_is_resumed_and_the_conversation_goes_on() {
    let r = rig().await;
    let f = &r.fake;
    r.say("hoi").await;
    f.drop_sessions();
    f.wait_ready(Duration::from_secs(30)).await;
    let (identified, resumed) = f.connects();
    // Close code 4000 may be resumed: the same session goes on, nothing is identified again.
    assert_eq!((identified, resumed), (1, 1));
    let m = r.say(JAN).await;
    assert!(m.iter().any(|s| s.has_button("reason:forgot")), "{m:#?}");
    assert_clean(f, &[]);
    r.stop().await;
}

#[tokio::test]
async fn a_second_press_on_a_used_message_is_told_it_was_used() {
    let r = rig().await;
    let f = &r.fake;
    r.say("hoi").await;
    r.say(JAN).await;
    let message = newest_with(&f.sent_in(r.dm), "reason:forgot");
    // A second client still shows the buttons enabled.
    let stale = f.message(message).unwrap();
    let (first, _) = r.press("reason:forgot").await;
    let n = f.sent_in(r.dm).len();
    let second = f.click_stale(r.user, message, "reason:locked", &stale, "nl");
    assert!(
        f.wait_for(WAIT, |f| f.interaction(second).unwrap().response.is_some())
            .await
    );
    let answer = f.interaction(second).unwrap().response.unwrap();
    assert_eq!(answer["type"], 4);
    assert_eq!(answer["data"]["flags"], 64, "ephemeral: {answer}");
    assert!(answer["data"]["content"]
        .as_str()
        .unwrap()
        .contains("al gebruikt"));
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(f.sent_in(r.dm).len(), n, "the second choice ran no turn");
    assert_clean(f, &[first, second]);
    r.stop().await;
}

/// Up to the new password with e-mail and authenticator code.
async fn to_password_prompt(r: &Rig) {
    r.say("hoi").await;
    r.say(JAN).await;
    r.press("reason:forgot").await;
    r.press("method:email").await;
    let code = r.t.last_code("email").await;
    r.say(&code).await;
    r.press("method:totp").await;
    r.say(&r.t.totp(JAN_TOTP, 0)).await;
}

#[tokio::test]
async fn a_password_typed_as_a_message_is_not_used() {
    let r = rig().await;
    let f = &r.fake;
    to_password_prompt(&r).await;
    let before = r.t.password_hash(JAN).await;
    let m = r.say(GOOD_PASSWORD).await;
    assert!(text(&m).contains("niet gebruikt"), "{m:#?}");
    assert!(text(&m).contains("Verwijder het bericht"), "{m:#?}");
    assert!(
        m.last().unwrap().has_button(SECRET_ID),
        "the prompt again, with its button: {m:#?}"
    );
    assert_eq!(r.t.password_hash(JAN).await, before);
    assert!(!r.t.all_stored_text().await.contains(GOOD_PASSWORD));
    // Through the modal it works.
    r.enter_privately(GOOD_PASSWORD).await;
    let m = r.enter_privately(GOOD_PASSWORD).await;
    assert!(text(&m).contains("Je wachtwoord is gewijzigd"), "{m:#?}");
    assert_clean(f, &[]);
    r.stop().await;
}

#[tokio::test]
async fn a_modal_submitted_after_the_conversation_moved_on_is_not_used() {
    let r = rig().await;
    let f = &r.fake;
    to_password_prompt(&r).await;
    let prompt = newest_with(&f.sent_in(r.dm), SECRET_ID);
    let opened = f.click(r.user, prompt, SECRET_ID, "nl");
    assert!(
        f.wait_for(WAIT, |f| f.interaction(opened).unwrap().response.is_some())
            .await
    );
    // While the modal is open, the user cancels by typing.
    r.say("/stop").await;
    let n = f.sent_in(r.dm).len();
    f.submit_modal(r.user, opened, GOOD_PASSWORD, "nl");
    let m = quiet(f, r.dm, n).await;
    assert!(text(&m).contains("eerdere vraag"), "{m:#?}");
    assert!(!r.t.sign_in(JAN, GOOD_PASSWORD).await);
    assert_clean(f, &[opened]);
    r.stop().await;
}

#[tokio::test]
async fn an_older_prompts_button_opens_no_modal() {
    let r = rig().await;
    let f = &r.fake;
    to_password_prompt(&r).await;
    let older = newest_with(&f.sent_in(r.dm), SECRET_ID);
    // The user starts over and reaches the password prompt again; the old prompt's button is
    // still enabled in the chat.
    r.say("/stop").await;
    r.t.advance(60); // a fresh authenticator code (a used one is not taken twice)
    to_password_prompt(&r).await;
    let newer = newest_with(&f.sent_in(r.dm), SECRET_ID);
    assert_ne!(older, newer);
    let i = f.click(r.user, older, SECRET_ID, "nl");
    assert!(
        f.wait_for(WAIT, |f| f.interaction(i).unwrap().response.is_some())
            .await
    );
    let answer = f.interaction(i).unwrap().response.unwrap();
    assert_eq!(answer["type"], 4, "no modal: {answer}");
    assert!(answer["data"]["content"]
        .as_str()
        .unwrap()
        .contains("eerdere vraag"));
    // The newer one works.
    r.enter_privately(GOOD_PASSWORD).await;
    let m = r.enter_privately(GOOD_PASSWORD).await;
    assert!(text(&m).contains("Je wachtwoord is gewijzigd"), "{m:#?}");
    assert_clean(f, &[i]);
    r.stop().await;
}

#[tokio::test]
async fn rate_limits_are_waited_out() {
    let r = rig().await;
    let f = &r.fake;
    f.rate_limit_next("/messages", 1.0);
    let m = r.say("hoi").await;
    assert!(text(&m).contains("Wat is je loginnaam?"));
    let limited = f.rate_limited();
    assert_eq!(limited.len(), 1, "{limited:?}");
    let (_, given, retried) = &limited[0];
    let waited = retried.expect("retried") - *given;
    assert!(
        waited >= Duration::from_millis(950),
        "retried after {waited:?}"
    );
    assert_eq!(m.len(), 1, "sent once: {m:#?}");
    r.stop().await;
}

#[tokio::test]
async fn an_emptied_bucket_holds_the_next_message_until_it_resets() {
    let r = rig().await;
    let f = &r.fake;
    r.say("hoi").await;
    // The answer to the login name empties the DM's bucket for a second; the next message on
    // that route waits for the reset instead of running into a 429.
    f.exhaust_next("/messages", 1.0);
    r.say(JAN).await;
    r.press("reason:forgot").await;
    let emptied = f.exhausted();
    assert_eq!(emptied.len(), 1, "{emptied:?}");
    let (_, at, next) = &emptied[0];
    let waited = next.expect("a later message") - *at;
    assert!(
        waited >= Duration::from_millis(950),
        "sent after {waited:?}"
    );
    assert!(f.rate_limited().is_empty(), "no 429 was needed");
    assert_clean(f, &[]);
    r.stop().await;
}

#[tokio::test]
async fn a_server_error_is_retried() {
    let r = rig().await;
    let f = &r.fake;
    f.fail_next("/messages", 502);
    let m = r.say("hoi").await;
    assert_eq!(m.len(), 1, "sent once, after the retry: {m:#?}");
    assert!(text(&m).contains("Wat is je loginnaam?"));
    r.stop().await;
}

const OTPAUTH: &str = "otpauth://totp/Voorbeeld%20BV:j.k.devries%40bedrijf.nl?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP&issuer=Voorbeeld%20BV";

#[tokio::test]
async fn a_qr_code_goes_as_a_spoilered_image_before_its_text_and_is_deleted_later() {
    use sspr_bot::dialogue::{QrCode, Reply, Text};
    use sspr_bot::recovery::{ChatRef, Outbound, TurnOutput};
    let r = rig().await;
    let f = &r.fake;
    r.discord.set_qr_lifetime(Duration::from_millis(800));
    let reply = Reply {
        qr: Some(QrCode(OTPAUTH.to_string())),
        ..Reply::text(Text::new("console-error"))
    };
    let chat = ChatRef::new(
        format!("discord:{}", r.dm),
        format!("discord:user:{}", r.user),
    );
    r.discord
        .deliver(
            &chat,
            TurnOutput {
                lang: Lang::Nl,
                replies: vec![reply],
                expects_secret: false,
            },
        )
        .await;
    let sent = f.sent_in(r.dm);
    assert_eq!(sent.len(), 2, "{sent:#?}");
    let (image, text_msg) = (&sent[0], &sent[1]);
    assert_eq!(image.files.len(), 1);
    assert_eq!(image.files[0].0, "SPOILER_qr.png", "hidden until tapped");
    assert_eq!(crate::telegram::scan(&image.files[0].1), OTPAUTH);
    assert!(
        !text_msg.content.contains("secret="),
        "the URI is not repeated as text"
    );
    assert!(
        f.wait_for(WAIT, |f| f.message(image.id).unwrap().deleted)
            .await,
        "the QR code image is deleted after its lifetime"
    );
    assert!(!f.message(text_msg.id).unwrap().deleted, "only the image");
    assert_clean(f, &[]);
    r.stop().await;
}

#[tokio::test]
async fn a_user_who_closed_their_dms_ends_the_conversation_quietly() {
    let r = rig().await;
    let f = &r.fake;
    r.say("hoi").await;
    f.block(r.user);
    f.dm(r.user, JAN);
    // The reply fails with 50007; the conversation is ended (cancelled) rather than left open.
    let conversation = format!("discord:{}", r.dm);
    let core = Arc::clone(&r.t.app.core);
    let ended = async {
        for _ in 0..50 {
            let chat = sspr_bot::recovery::ChatRef::new(conversation.clone(), "x");
            if core.current_prompt(&chat).await.unwrap().is_none() {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        false
    };
    assert!(ended.await);
    r.stop().await;
}

#[tokio::test]
async fn ephemeral_notes_follow_the_clients_locale() {
    let r = rig().await;
    let f = &r.fake;
    r.say("hoi").await;
    r.say(JAN).await;
    let message = newest_with(&f.sent_in(r.dm), "reason:forgot");
    let stale = f.message(message).unwrap();
    r.press("reason:forgot").await;
    // The second press comes from a client set to English.
    let id = f.click_stale(r.user, message, "reason:forgot", &stale, "en-US");
    assert!(
        f.wait_for(WAIT, |f| f.interaction(id).unwrap().response.is_some())
            .await
    );
    let answer = f.interaction(id).unwrap().response.unwrap();
    assert_eq!(
        answer["data"]["content"], "This button has already been used.",
        "{answer}"
    );
    r.stop().await;
}

// ---------------------------------------------------------------------------------------------
// The helpdesk in a Discord channel

const DESK_AGENT: &str = "sanne";

struct DeskRig {
    r: Rig,
    desk: u64,
    agent: u64,
}

async fn desk_rig() -> DeskRig {
    let r = rig().await;
    // The desk channel and agent exist in the fake; the desk is set on the running channel.
    let desk = r.fake.server_channel();
    let agent = r.fake.member(DESK_AGENT);
    r.t.advance(10 * 60); // Monday 08:05: the desk is open.
    let card_desk: Arc<dyn Desk> = Arc::new(r.discord.helpdesk_desk(desk, Lang::Nl));
    r.t.app.core.set_helpdesk(Helpdesk {
        hours: OfficeHours::default_nl(),
        phone: "020-40 777 55".into(),
        agents: vec![format!("discord:{agent}")],
        desks: vec![card_desk],
        claim_timeout_secs: 600,
    });
    DeskRig { r, desk, agent }
}

#[tokio::test]
async fn a_handoff_through_the_discord_helpdesk_channel() {
    let d = desk_rig().await;
    let (r, f) = (&d.r, &d.r.fake);
    r.say("hoi").await;
    r.say(ANNA).await;
    r.press("reason:locked").await;
    let opened = r.say("medewerker").await;
    assert!(
        text(&opened).contains("collega van de ICT Servicedesk"),
        "{opened:#?}"
    );
    assert!(quiet(f, d.desk, 0).await.len() == 1);
    let card = f.sent_in(d.desk)[0].clone();
    assert!(
        card.content.contains("Account: a.bakker@bedrijf.nl"),
        "{card:#?}"
    );
    assert!(card.content.contains("Kanaal: Discord"), "{card:#?}");
    let handoff = card
        .buttons
        .iter()
        .flatten()
        .find_map(|(id, ..)| id.strip_prefix("hd:claim:"))
        .expect("claim button")
        .to_string();

    // A stranger's press is refused, in an ephemeral note.
    let stranger = f.member("mallory");
    let i = f.click(stranger, card.id, &format!("hd:claim:{handoff}"), "nl");
    assert!(
        f.wait_for(WAIT, |f| f.interaction(i).unwrap().edited.is_some())
            .await
    );
    let note = f.interaction(i).unwrap();
    assert_eq!(note.response.as_ref().unwrap()["type"], 5);
    assert_eq!(note.response.as_ref().unwrap()["data"]["flags"], 64);
    assert!(note.edited.unwrap()["content"]
        .as_str()
        .unwrap()
        .contains("Alleen medewerkers"),);

    // The agent claims: the card changes, the user hears someone is there.
    let n_user = f.sent_in(r.dm).len();
    let i = f.click(d.agent, card.id, &format!("hd:claim:{handoff}"), "nl");
    assert!(
        f.wait_for(WAIT, |f| f.interaction(i).unwrap().edited.is_some())
            .await
    );
    assert!(
        f.wait_for(WAIT, |f| f
            .message(card.id)
            .unwrap()
            .content
            .contains("opgepakt door sanne"))
            .await,
        "{:#?}",
        f.message(card.id)
    );
    let to_user = quiet(f, r.dm, n_user).await;
    assert!(text(&to_user).contains("sanne"), "{to_user:#?}");

    // The agent writes through the modal; the user gets it in the DM.
    let n_user = f.sent_in(r.dm).len();
    let open = f.click(d.agent, card.id, &format!("hdmsg:{handoff}"), "nl");
    assert!(
        f.wait_for(WAIT, |f| f.interaction(open).unwrap().response.is_some())
            .await
    );
    assert_eq!(f.interaction(open).unwrap().response.unwrap()["type"], 9);
    let submit = f.submit_modal(d.agent, open, "Hoi Anna, ik kijk even mee.", "nl");
    let to_user = quiet(f, r.dm, n_user).await;
    assert!(text(&to_user).contains("ik kijk even mee"), "{to_user:#?}");
    assert!(
        f.wait_for(WAIT, |f| f.interaction(submit).unwrap().edited.is_some())
            .await
    );

    // The user answers in the DM: relayed under the card.
    let n_desk = f.sent_in(d.desk).len();
    f.dm(r.user, "Dank je! @everyone");
    let relayed = quiet(f, d.desk, n_desk).await;
    assert!(relayed[0].content.contains("Dank je!"), "{relayed:#?}");
    assert_eq!(relayed[0].reference, Some(card.id));

    // The agent replies to the relayed message, mentioning the bot: that reaches the user too.
    let n_user = f.sent_in(r.dm).len();
    f.say_in_server(
        d.desk,
        d.agent,
        &format!("<@{BOT_ID}> Probeer nu opnieuw in te loggen"),
        true,
        Some(relayed[0].id),
    );
    let to_user = quiet(f, r.dm, n_user).await;
    assert!(
        text(&to_user).contains("Probeer nu opnieuw in te loggen"),
        "{to_user:#?}"
    );
    assert!(!text(&to_user).contains("<@"), "{to_user:#?}");

    // Unlock, then close: the card ends without buttons.
    assert!(r.t.is_locked(ANNA).await);
    let i = f.click(d.agent, card.id, &format!("hd:unlock:{handoff}"), "nl");
    assert!(
        f.wait_for(WAIT, |f| f.interaction(i).unwrap().edited.is_some())
            .await
    );
    assert!(!r.t.is_locked(ANNA).await);
    let i = f.click(d.agent, card.id, &format!("hd:close:{handoff}"), "nl");
    assert!(
        f.wait_for(WAIT, |f| f.interaction(i).unwrap().edited.is_some())
            .await
    );
    assert!(
        f.wait_for(WAIT, |f| f.message(card.id).unwrap().buttons.is_empty())
            .await
    );
    assert_clean(f, &[]);
    d.r.stop().await;
}
