//! The Telegram channel against a fake Bot API on loopback: whole resets through polling and
//! through the webhook, and what is Telegram's own (deleted secrets, used keyboards, repeated
//! updates, group chats, rate limits, blocked users, QR code photos).

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use sspr_bot::channels::telegram::{Telegram, SECRET_HEADER, WEBHOOK_PATH};
use tokio_util::sync::CancellationToken;

use sspr_bot::dialogue::{Lang, QrCode, Reply, Text};
use sspr_bot::recovery::{ChatRef, Outbound, TurnOutput};

use crate::fake_telegram::{FakeTelegram, SentMessage};
use crate::support::*;

const TOKEN: &str = "123456:TEST-token";
const CHAT: i64 = 4242;
const USER: i64 = 4242;
const SECRET: &str = "webhook-secret_123";

struct Rig {
    t: TestApp,
    fake: FakeTelegram,
    tg: Arc<Telegram>,
    shutdown: CancellationToken,
}

async fn rig() -> Rig {
    let t = TestApp::new().await;
    let fake = FakeTelegram::start(TOKEN).await;
    let shutdown = CancellationToken::new();
    let tg = Telegram::new(
        TOKEN,
        &fake.url,
        Arc::clone(&t.app.core),
        Arc::clone(&t.app.localizer),
        shutdown.clone(),
    )
    .unwrap();
    Rig {
        t,
        fake,
        tg,
        shutdown,
    }
}

/// Waits for the replies to one action: at least one new message, then quiet for 300 ms.
async fn replies(fake: &FakeTelegram, before: usize) -> Vec<SentMessage> {
    fake.wait_for_sent(before + 1, Duration::from_secs(10))
        .await;
    let mut seen = fake.sent().len();
    loop {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let now = fake.sent().len();
        if now == seen {
            return fake.sent()[before..].to_vec();
        }
        seen = now;
    }
}

fn all_text(msgs: &[SentMessage]) -> String {
    msgs.iter()
        .map(|m| m.text.as_str())
        .collect::<Vec<_>>()
        .join("\n")
}

#[track_caller]
fn button_message(msgs: &[SentMessage], data: &str) -> i32 {
    msgs.iter()
        .rev()
        .find(|m| m.buttons.iter().flatten().any(|(_, d)| d == data))
        .unwrap_or_else(|| panic!("no button {data} in {msgs:#?}"))
        .message_id
}

/// Jan resets his password with e-mail + authenticator code, driven through `say`/`press`.
async fn jan_resets<S, P>(r: &Rig, say: S, press: P)
where
    S: Fn(&str) -> i32,
    P: Fn(i32, &str),
{
    let f = &r.fake;
    let n = f.sent().len();
    say("hoi");
    let m = replies(f, n).await;
    assert!(all_text(&m).contains("Wat is je loginnaam?"), "{m:#?}");

    let n = f.sent().len();
    say(JAN);
    let m = replies(f, n).await;
    let reason_msg = button_message(&m, "reason:forgot");

    let n = f.sent().len();
    press(reason_msg, "reason:forgot");
    let m = replies(f, n).await;
    assert!(
        f.keyboards_removed().contains(&(CHAT, reason_msg)),
        "used keyboard removed"
    );
    assert!(!f.callbacks_answered().is_empty());
    let choose = button_message(&m, "method:email");

    let n = f.sent().len();
    press(choose, "method:email");
    let m = replies(f, n).await;
    assert!(all_text(&m).contains("ja*****@pr*****.example"));
    let code = r.t.last_code("email").await;

    let n = f.sent().len();
    say(&code);
    let m = replies(f, n).await;
    let choose = button_message(&m, "method:totp");

    let n = f.sent().len();
    press(choose, "method:totp");
    replies(f, n).await;

    let n = f.sent().len();
    say(&r.t.totp(JAN_TOTP, 0));
    let m = replies(f, n).await;
    assert!(
        all_text(&m).contains("verwijder je bericht"),
        "the prompt says the secret will be deleted: {m:#?}"
    );

    let before = r.t.password_hash(JAN).await;
    let n = f.sent().len();
    let first = say(GOOD_PASSWORD);
    replies(f, n).await;
    let n = f.sent().len();
    let second = say(GOOD_PASSWORD);
    let m = replies(f, n).await;
    assert!(
        all_text(&m).contains("Je wachtwoord is gewijzigd"),
        "{m:#?}"
    );
    let deleted = f.deleted();
    assert!(
        deleted.contains(&(CHAT, first)) && deleted.contains(&(CHAT, second)),
        "password messages deleted: {deleted:?}"
    );
    assert_ne!(r.t.password_hash(JAN).await, before);
    assert!(r.t.sign_in(JAN, GOOD_PASSWORD).await);
    // Nothing the bot sent repeats a secret.
    let everything = all_text(&f.sent());
    assert!(!everything.contains(GOOD_PASSWORD) && !everything.contains(&code));
}

#[tokio::test]
async fn jan_resets_his_password_through_long_polling() {
    let r = rig().await;
    assert!(!r.tg.check().await.unwrap().is_empty());
    let polling = tokio::spawn(Arc::clone(&r.tg).run_polling());
    let fake = &r.fake;
    jan_resets(
        &r,
        |text| fake.user_says(CHAT, USER, Some("nl"), text).1,
        |msg, data| {
            fake.user_presses(CHAT, USER, msg, data);
        },
    )
    .await;
    r.shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(15), polling)
        .await
        .expect("polling stops on shutdown")
        .unwrap()
        .unwrap();
}

async fn serve_webhook(r: &Rig) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let router = r.tg.webhook_router(SECRET);
    let stop = r.shutdown.clone();
    tokio::spawn(async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(async move { stop.cancelled().await })
            .await
            .unwrap();
    });
    r.tg.register_webhook(&url, SECRET).await.unwrap();
    assert_eq!(
        r.fake.webhook(),
        Some((format!("{url}{WEBHOOK_PATH}"), Some(SECRET.to_string())))
    );
    url
}

async fn post(url: &str, secret: Option<&str>, body: &serde_json::Value) -> u16 {
    let mut req = reqwest::Client::new()
        .post(format!("{url}{WEBHOOK_PATH}"))
        .json(body);
    if let Some(s) = secret {
        req = req.header(SECRET_HEADER, s);
    }
    req.send().await.unwrap().status().as_u16()
}

#[tokio::test]
async fn jan_resets_his_password_through_the_webhook() {
    let r = rig().await;
    let url = serve_webhook(&r).await;
    let fake = &r.fake;
    // Telegram calls the webhook; the test plays Telegram with the fake's update JSON.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<serde_json::Value>();
    let poster = {
        let url = url.clone();
        tokio::spawn(async move {
            while let Some(body) = rx.recv().await {
                assert_eq!(post(&url, Some(SECRET), &body).await, 200);
            }
        })
    };
    jan_resets(
        &r,
        |text| {
            let (json, _, msg) = fake.message_update_json(CHAT, USER, Some("nl"), text);
            tx.send(json).unwrap();
            msg
        },
        |msg, data| {
            let (json, _) = fake.callback_update_json(CHAT, USER, msg, data);
            tx.send(json).unwrap();
        },
    )
    .await;
    drop(tx);
    poster.await.unwrap();
    r.shutdown.cancel();
    r.tg.drain().await;
}

#[tokio::test]
async fn a_forged_webhook_secret_is_refused_and_nothing_is_processed() {
    let r = rig().await;
    let url = serve_webhook(&r).await;
    let (json, _, _) = r.fake.message_update_json(CHAT, USER, Some("nl"), "hoi");
    assert_eq!(post(&url, None, &json).await, 401);
    assert_eq!(post(&url, Some("webhook-secret_124"), &json).await, 401);
    assert_eq!(post(&url, Some(""), &json).await, 401);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(r.fake.sent().is_empty());
    // The same update with the right secret is then processed: the refusals did not record it.
    assert_eq!(post(&url, Some(SECRET), &json).await, 200);
    replies(&r.fake, 0).await;
}

#[tokio::test]
async fn a_repeated_update_is_processed_once() {
    let r = rig().await;
    let url = serve_webhook(&r).await;
    let (json, _, _) = r.fake.message_update_json(CHAT, USER, Some("nl"), "hoi");
    assert_eq!(post(&url, Some(SECRET), &json).await, 200);
    let first = replies(&r.fake, 0).await;
    assert_eq!(post(&url, Some(SECRET), &json).await, 200);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(r.fake.sent().len(), first.len(), "the repeat was dropped");
}

#[tokio::test]
async fn repeated_update_ids_are_remembered_across_a_restart() {
    let r = rig().await;
    let (json, _, _) = r.fake.message_update_json(CHAT, USER, Some("nl"), "hoi");
    // As the webhook does: from the raw text (teloxide's Update does not parse from a Value).
    let update: teloxide::types::Update = serde_json::from_str(&json.to_string()).unwrap();
    r.tg.accept(update.clone()).await;
    replies(&r.fake, 0).await;
    let n = r.fake.sent().len();
    // A new process on the same database.
    let t = r.t.reopen().await;
    let tg = Telegram::new(
        TOKEN,
        &r.fake.url,
        Arc::clone(&t.app.core),
        Arc::clone(&t.app.localizer),
        CancellationToken::new(),
    )
    .unwrap();
    tg.accept(update).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(r.fake.sent().len(), n);
}

#[tokio::test]
async fn a_group_chat_is_told_to_use_a_private_chat() {
    let r = rig().await;
    let polling = tokio::spawn(Arc::clone(&r.tg).run_polling());
    r.fake.group_says(-1001, USER, "wachtwoord vergeten");
    let m = replies(&r.fake, 0).await;
    assert_eq!(m.len(), 1);
    assert_eq!(m[0].chat_id, -1001);
    assert!(m[0].text.contains("alleen in een privégesprek"), "{m:#?}");
    assert!(m[0].buttons.is_empty());
    assert!(r
        .t
        .app
        .store
        .load_conversation("telegram:-1001")
        .await
        .unwrap()
        .is_none());
    r.shutdown.cancel();
    polling.await.unwrap().unwrap();
}

#[tokio::test]
async fn the_language_comes_from_the_users_telegram_client() {
    let r = rig().await;
    let polling = tokio::spawn(Arc::clone(&r.tg).run_polling());
    r.fake.user_says(CHAT, USER, Some("en-GB"), "hello");
    let m = replies(&r.fake, 0).await;
    assert!(all_text(&m).contains("What is your login name?"), "{m:#?}");
    r.shutdown.cancel();
    polling.await.unwrap().unwrap();
}

#[tokio::test]
async fn rate_limits_are_waited_out() {
    let r = rig().await;
    let polling = tokio::spawn(Arc::clone(&r.tg).run_polling());
    r.fake.fail_next(
        "sendMessage",
        429,
        json!({"ok": false, "error_code": 429, "description": "Too Many Requests: retry after 1", "parameters": {"retry_after": 1}}),
    );
    let started = std::time::Instant::now();
    r.fake.user_says(CHAT, USER, Some("nl"), "hoi");
    let m = replies(&r.fake, 0).await;
    assert!(all_text(&m).contains("Wat is je loginnaam?"));
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "retry_after honoured"
    );
    assert_eq!(r.fake.calls("sendMessage"), 2, "one 429, then the reply");
    r.shutdown.cancel();
    polling.await.unwrap().unwrap();
}

/// teloxide itself waits 10 s before reading a 5xx answer; the adapter then retries.
#[tokio::test]
async fn a_server_error_is_retried() {
    let r = rig().await;
    let polling = tokio::spawn(Arc::clone(&r.tg).run_polling());
    r.fake.fail_next(
        "sendMessage",
        502,
        json!({"ok": false, "error_code": 502, "description": "Bad Gateway"}),
    );
    r.fake.user_says(CHAT, USER, Some("nl"), "hoi");
    r.fake.wait_for_sent(1, Duration::from_secs(30)).await;
    assert!(all_text(&r.fake.sent()).contains("Wat is je loginnaam?"));
    assert_eq!(r.fake.calls("sendMessage"), 2, "one 502, then the reply");
    r.shutdown.cancel();
    polling.await.unwrap().unwrap();
}

#[tokio::test]
async fn a_user_who_blocked_the_bot_ends_the_conversation_quietly() {
    let r = rig().await;
    let polling = tokio::spawn(Arc::clone(&r.tg).run_polling());
    r.fake.user_says(CHAT, USER, Some("nl"), "hoi");
    replies(&r.fake, 0).await;
    let n = r.fake.sent().len();
    r.fake.user_says(CHAT, USER, Some("nl"), JAN);
    let m = replies(&r.fake, n).await;
    let reason = button_message(&m, "reason:forgot");
    let n = r.fake.sent().len();
    r.fake.block_chat(CHAT);
    r.fake.user_presses(CHAT, USER, reason, "reason:forgot");
    // The recovery opened by that press is ended, without anything more being sent.
    let mut ended = false;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if r.t
            .audit(JAN)
            .await
            .contains(&("recovery_ended".into(), None, "cancelled".into()))
        {
            ended = true;
            break;
        }
    }
    assert!(ended, "{:?}", r.t.audit(JAN).await);
    assert_eq!(r.fake.sent().len(), n);
    r.shutdown.cancel();
    polling.await.unwrap().unwrap();
}

#[tokio::test]
async fn turns_of_one_chat_run_in_order_while_chats_run_side_by_side() {
    let r = rig().await;
    // Everything is queued before the bot polls, so it all arrives in one batch.
    for chat in [CHAT, CHAT + 1] {
        r.fake.user_says(chat, chat, Some("nl"), "hoi");
        r.fake.user_says(chat, chat, Some("nl"), JAN);
        r.fake
            .user_says(chat, chat, Some("nl"), "wachtwoord vergeten");
    }
    let polling = tokio::spawn(Arc::clone(&r.tg).run_polling());
    replies(&r.fake, 0).await;
    let sent = r.fake.wait_for_sent(6, Duration::from_secs(10)).await;
    for chat in [CHAT, CHAT + 1] {
        let texts: Vec<&str> = sent
            .iter()
            .filter(|m| m.chat_id == chat)
            .map(|m| m.text.as_str())
            .collect();
        assert_eq!(texts.len(), 3, "{texts:#?}");
        assert!(texts[0].contains("Wat is je loginnaam?"), "{texts:#?}");
        assert!(texts[1].contains("Waarmee kan ik je helpen"), "{texts:#?}");
        assert!(texts[2].contains("Verificatiestap 1 van 2"), "{texts:#?}");
    }
    r.shutdown.cancel();
    polling.await.unwrap().unwrap();
}

// ---- QR codes ----

const OTPAUTH: &str = "otpauth://totp/Voorbeeld%20BV:j.k.devries%40bedrijf.nl?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP&issuer=Voorbeeld%20BV";

/// A turn whose reply carries a QR code, delivered as the core delivers late results.
async fn deliver_qr(r: &Rig) {
    // The chat is known to Telegram once the user has written.
    r.fake.message_update_json(CHAT, USER, Some("nl"), "hoi");
    let reply = Reply {
        qr: Some(QrCode(OTPAUTH.to_string())),
        ..Reply::text(Text::new("console-error"))
    };
    let chat = ChatRef::new(format!("telegram:{CHAT}"), format!("telegram:user:{USER}"));
    r.tg.deliver(
        &chat,
        TurnOutput {
            lang: Lang::Nl,
            replies: vec![reply],
            expects_secret: false,
        },
    )
    .await;
}

/// What a phone camera reads in a PNG.
pub(crate) fn scan(png_bytes: &[u8]) -> String {
    let mut decoder = png::Decoder::new(std::io::Cursor::new(png_bytes));
    decoder.set_transformations(png::Transformations::EXPAND);
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    let (w, h) = (info.width as usize, info.height as usize);
    let channels = info.line_size / w;
    let mut image = rqrr::PreparedImage::prepare_from_greyscale(w, h, |x, y| {
        buf[y * info.line_size + x * channels]
    });
    let grids = image.detect_grids();
    assert_eq!(grids.len(), 1);
    grids[0].decode().unwrap().1
}

async fn wait_until_deleted(fake: &FakeTelegram, message: (i64, i32), within: Duration) -> bool {
    let until = std::time::Instant::now() + within;
    while std::time::Instant::now() < until {
        if fake.deleted().contains(&message) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

#[tokio::test]
async fn a_qr_code_goes_as_a_protected_photo_before_its_text_and_is_deleted_later() {
    let r = rig().await;
    r.tg.set_qr_lifetime(Duration::from_millis(800));
    deliver_qr(&r).await;

    let photos = r.fake.photos();
    assert_eq!(photos.len(), 1);
    let photo = &photos[0];
    assert_eq!(photo.chat_id, CHAT);
    assert_eq!(photo.file_name.as_deref(), Some("qr.png"));
    assert!(photo.protect_content, "no forwarding or saving");
    assert!(photo.has_spoiler, "hidden until tapped");
    assert_eq!(photo.caption, None);
    assert_eq!(scan(&photo.bytes), OTPAUTH, "the photo scans as the URI");
    // Then the text, below the picture.
    let sent = r.fake.sent();
    assert_eq!(sent.len(), 1, "{sent:#?}");
    assert_eq!(sent[0].chat_id, CHAT);
    assert!(sent[0].message_id > photo.message_id);
    assert!(
        !sent[0].text.contains("secret="),
        "the URI is not repeated as text"
    );

    // The photo holds the secret: it stays only for the QR lifetime.
    assert!(!r.fake.deleted().contains(&(CHAT, photo.message_id)));
    assert!(
        wait_until_deleted(&r.fake, (CHAT, photo.message_id), Duration::from_secs(5)).await,
        "the QR code photo is deleted: {:?}",
        r.fake.deleted()
    );
    assert_eq!(
        r.fake.deleted(),
        vec![(CHAT, photo.message_id)],
        "only the photo"
    );
}

#[tokio::test]
async fn qr_code_photos_still_shown_are_deleted_on_shutdown() {
    let r = rig().await;
    deliver_qr(&r).await;
    let photo = r.fake.photos()[0].message_id;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        r.fake.deleted().is_empty(),
        "kept for ten minutes meanwhile"
    );
    r.shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(5), r.tg.drain())
        .await
        .expect("drain does not wait out the QR lifetime");
    assert_eq!(r.fake.deleted(), vec![(CHAT, photo)]);
}

#[tokio::test]
async fn a_qr_code_that_cannot_be_sent_still_leaves_the_text() {
    let r = rig().await;
    r.fake.fail_next(
        "sendPhoto",
        400,
        json!({"ok": false, "error_code": 400, "description": "Bad Request: IMAGE_PROCESS_FAILED"}),
    );
    deliver_qr(&r).await;
    assert!(r.fake.photos().is_empty());
    assert_eq!(r.fake.calls("sendPhoto"), 1, "a refusal is not retried");
    assert_eq!(r.fake.sent().len(), 1);
}

#[tokio::test]
async fn a_rate_limited_qr_code_is_sent_once_after_the_wait() {
    let r = rig().await;
    r.fake.fail_next(
        "sendPhoto",
        429,
        json!({"ok": false, "error_code": 429, "description": "Too Many Requests: retry after 1", "parameters": {"retry_after": 1}}),
    );
    deliver_qr(&r).await;
    assert_eq!(r.fake.calls("sendPhoto"), 2, "one 429, then the photo");
    assert_eq!(r.fake.photos().len(), 1);
    assert_eq!(r.fake.sent().len(), 1);
}

// ---- registering methods ----

/// A new employee in the embedded directory, nothing registered yet; the work mailbox is the
/// login name.
const NEW_HIRE: &str = "s.jansen@bedrijf.nl";

async fn add_new_hire(t: &TestApp) {
    t.app
        .embedded
        .as_ref()
        .expect("the demo runs on the embedded directory")
        .put_account(
            &sspr_bot::domain::LoginName::parse(NEW_HIRE).unwrap(),
            "Sanne Jansen",
            "Oud wachtwoord 2025!",
            false,
            false,
            false,
        )
        .await
        .unwrap();
}

/// The user types `text`; returns the user's message id and the bot's replies.
async fn user_types(r: &Rig, text: &str) -> (i32, Vec<SentMessage>) {
    let n = r.fake.sent().len();
    let (_, msg) = r.fake.user_says(CHAT, USER, Some("nl"), text);
    (msg, replies(&r.fake, n).await)
}

/// The user presses the button `data` on the newest message in `shown` that has it.
async fn user_taps(r: &Rig, shown: &[SentMessage], data: &str) -> Vec<SentMessage> {
    let msg = button_message(shown, data);
    let n = r.fake.sent().len();
    r.fake.user_presses(CHAT, USER, msg, data);
    replies(&r.fake, n).await
}

/// `/registreren`, the login name and the code from the work mailbox: the overview.
async fn registration_overview(r: &Rig) -> Vec<SentMessage> {
    let (_, m) = user_types(r, "/registreren").await;
    assert!(all_text(&m).contains("Voor welke loginnaam"), "{m:#?}");
    let (_, m) = user_types(r, NEW_HIRE).await;
    assert!(all_text(&m).contains("zakelijke adres"), "{m:#?}");
    let code =
        r.t.outbox_lines()
            .await
            .iter()
            .rev()
            .find(|l| l["to"] == NEW_HIRE && l.get("code").is_some())
            .and_then(|l| l["code"].as_str().map(str::to_string))
            .expect("a code to the work mailbox");
    let (_, m) = user_types(r, &code).await;
    assert!(
        all_text(&m).contains(&format!("Verificatiemethodes voor {NEW_HIRE}")),
        "{m:#?}"
    );
    m
}

#[tokio::test]
async fn an_authenticator_app_registered_through_telegram_scans_from_the_photo() {
    let r = rig().await;
    add_new_hire(&r.t).await;
    let polling = tokio::spawn(Arc::clone(&r.tg).run_polling());
    let overview = registration_overview(&r).await;

    let m = user_taps(&r, &overview, "reg:totp").await;
    assert!(all_text(&m).contains("Typ daarna de code"), "{m:#?}");
    let photos = r.fake.photos();
    assert_eq!(photos.len(), 1, "one QR code photo");
    let photo = &photos[0];
    assert_eq!(photo.chat_id, CHAT);
    assert_eq!(photo.file_name.as_deref(), Some("qr.png"));
    assert!(photo.protect_content, "no forwarding or saving");
    assert!(
        photo.message_id < m[0].message_id,
        "the picture comes first"
    );
    let uri = scan(&photo.bytes);
    assert!(uri.starts_with("otpauth://totp/"), "{uri}");
    assert!(uri.contains("s.jansen%40bedrijf.nl"), "{uri}");
    let secret = uri
        .split(['?', '&'])
        .find_map(|p| p.strip_prefix("secret="))
        .expect("a secret in the URI");

    // The app's code (at the test clock's time) confirms it; a code is not a secret to delete.
    let (typed, m) = user_types(&r, &r.t.totp(secret, 0)).await;
    assert!(
        all_text(&m).contains("Vastgelegd: de Authenticator-app (code)"),
        "{m:#?}"
    );
    assert!(
        !r.fake.deleted().contains(&(CHAT, typed)),
        "the typed code stays: {:?}",
        r.fake.deleted()
    );
    let reg = r.t.app.store.registration(NEW_HIRE).await.unwrap().unwrap();
    assert!(reg.totp_secret.is_some());
    assert!(
        !all_text(&r.fake.sent()).contains(secret),
        "the secret is only in the picture"
    );
    r.shutdown.cancel();
    polling.await.unwrap().unwrap();
}

#[tokio::test]
async fn security_answers_registered_through_telegram_are_deleted() {
    let r = rig().await;
    add_new_hire(&r.t).await;
    let polling = tokio::spawn(Arc::clone(&r.tg).run_polling());
    let overview = registration_overview(&r).await;

    let mut m = user_taps(&r, &overview, "reg:questions").await;
    for q in ["q:birth_city", "q:first_pet", "q:first_concert"] {
        m = user_taps(&r, &m, q).await;
    }
    assert!(
        all_text(&m).contains("Je antwoord op vraag 1 van 3"),
        "{m:#?}"
    );
    let answers = ["Zwolle", "Snuffie", "Doe Maar in Ahoy"];
    let mut typed = Vec::new();
    for answer in answers {
        let (msg, shown) = user_types(&r, answer).await;
        typed.push(msg);
        m = shown;
    }
    assert!(
        all_text(&m).contains("Vastgelegd: je beveiligingsvragen"),
        "{m:#?}"
    );
    let deleted = r.fake.deleted();
    for msg in typed {
        assert!(
            deleted.contains(&(CHAT, msg)),
            "answer {msg} deleted: {deleted:?}"
        );
    }
    let everything = all_text(&r.fake.sent());
    for answer in answers {
        assert!(!everything.contains(answer), "{answer} repeated by the bot");
    }
    assert_eq!(
        r.t.app
            .store
            .security_answers(NEW_HIRE)
            .await
            .unwrap()
            .len(),
        3
    );
    r.shutdown.cancel();
    polling.await.unwrap().unwrap();
}
