//! The store against both databases: every test body here runs once on a SQLite file and once
//! on a fresh PostgreSQL database (`SSPR_TEST_POSTGRES_URL`, default the development machine's
//! `postgres://root@127.0.0.1:5432/postgres`; each test creates and drops its own database).
//! The bodies check what the core relies on: supersession, exactly-once consumption, counters,
//! orderings, and — what replicas on one PostgreSQL need — atomicity under concurrency.

use std::sync::Arc;
use std::time::Duration;

use sspr_bot::dialogue::{Conversation, Lang};
use sspr_bot::directory::{Directory, EmbeddedDirectory};
use sspr_bot::domain::LoginName;
use sspr_bot::store::{
    AuditRow, ChallengeRow, EnrolmentChallenge, EnrolmentRow, HandoffRow, LockScope, RecoveryRow,
    RegField, Store,
};

use crate::pg::TestDb;

/// One `#[tokio::test]` per database for the generic body `$body(&Store)`.
macro_rules! on_both {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn sqlite() {
                    let db = crate::pg::TestDb::sqlite().await;
                    super::$name(&db.store).await;
                    db.finish().await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn postgres() {
                    let db = crate::pg::TestDb::postgres().await;
                    super::$name(&db.store).await;
                    db.finish().await;
                }
            }
        )*
    };
}

on_both!(
    conversations_round_trip,
    recoveries_supersede_and_close_once,
    challenges_newest_counts_and_close_once,
    security_answers_progress_in_order,
    throttle_counters,
    lockouts_keep_the_later_end,
    totp_steps_only_move_forward,
    update_ids_and_chat_addresses,
    audit_log_in_order_and_per_account,
    registrations_and_answers,
    enrolments_and_attempts,
    handoffs_claimed_once,
    reported_accounts_and_suspended_methods,
    embedded_directory,
    racing_consumers_get_one_code,
    racing_failures_count_every_one,
    racing_totp_checks_accept_one,
);

fn recovery(id: &str, conversation: &str, account: &str, now: i64) -> RecoveryRow {
    RecoveryRow {
        id: id.into(),
        conversation_key: conversation.into(),
        chat_user: "test:user".into(),
        account: account.into(),
        reason: "forgot".into(),
        decoy: false,
        lang: "nl".into(),
        offered: "email,totp".into(),
        passed: String::new(),
        phone_confirmed: false,
        status: "open".into(),
        created_at: now,
        updated_at: now,
    }
}

fn challenge(id: &str, recovery_id: &str, method: &str, now: i64) -> ChallengeRow {
    ChallengeRow {
        id: id.into(),
        recovery_id: recovery_id.into(),
        method: method.into(),
        secret_hash: Some(format!("hmac-of-{id}")),
        detail: None,
        progress: 0,
        all_ok: true,
        created_at: now,
        expires_at: now + 600,
        closed_at: None,
        result: None,
    }
}

async fn conversations_round_trip(store: &Store) {
    assert!(store.load_conversation("t:1").await.unwrap().is_none());
    let mut conv = Conversation::new(Lang::En);
    store.save_conversation("t:1", &conv, 100).await.unwrap();
    assert_eq!(
        store.load_conversation("t:1").await.unwrap().unwrap().lang,
        Lang::En
    );
    conv.lang = Lang::Nl;
    store.save_conversation("t:1", &conv, 101).await.unwrap();
    assert_eq!(
        store.load_conversation("t:1").await.unwrap().unwrap().lang,
        Lang::Nl,
        "a second save replaces the first"
    );
    assert!(store.load_conversation("t:2").await.unwrap().is_none());
}

async fn recoveries_supersede_and_close_once(store: &Store) {
    store
        .insert_recovery(&recovery("r1", "t:1", "jan@x.nl", 100))
        .await
        .unwrap();
    store
        .insert_recovery(&recovery("r2", "t:1", "jan@x.nl", 110))
        .await
        .unwrap();
    assert_eq!(
        store.recovery("r1").await.unwrap().unwrap().status,
        "superseded",
        "a new recovery in the conversation supersedes the open one"
    );
    let r2 = store.recovery("r2").await.unwrap().unwrap();
    assert_eq!(r2, recovery("r2", "t:1", "jan@x.nl", 110));

    assert_eq!(
        store.add_passed("r2", "email", 120).await.unwrap(),
        vec!["email"]
    );
    assert_eq!(
        store.add_passed("r2", "email", 121).await.unwrap(),
        vec!["email"],
        "a method passes once"
    );
    assert_eq!(
        store.add_passed("r2", "totp", 122).await.unwrap(),
        vec!["email", "totp"]
    );
    store.set_phone_confirmed("r2").await.unwrap();
    assert!(store.recovery("r2").await.unwrap().unwrap().phone_confirmed);

    store
        .insert_recovery(&recovery("r3", "t:2", "jan@x.nl", 130))
        .await
        .unwrap();
    store
        .insert_challenge(&challenge("c3", "r3", "email", 130))
        .await
        .unwrap();
    assert_eq!(
        store
            .cancel_other_recoveries("jan@x.nl", "r2", 140)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        store
            .challenge("c3")
            .await
            .unwrap()
            .unwrap()
            .result
            .as_deref(),
        Some("cancelled")
    );
    assert!(store.close_recovery("r2", "done", 150).await.unwrap());
    assert!(
        !store.close_recovery("r2", "done", 151).await.unwrap(),
        "closed once"
    );
}

async fn challenges_newest_counts_and_close_once(store: &Store) {
    store
        .insert_recovery(&recovery("r1", "t:1", "jan@x.nl", 100))
        .await
        .unwrap();
    // Two codes in the same second: the later insert is the newest.
    store
        .insert_challenge(&challenge("c1", "r1", "email", 100))
        .await
        .unwrap();
    store
        .insert_challenge(&challenge("c2", "r1", "email", 100))
        .await
        .unwrap();
    assert_eq!(
        store
            .latest_challenge("r1", "email")
            .await
            .unwrap()
            .unwrap()
            .id,
        "c2"
    );
    assert_eq!(
        store
            .challenge("c1")
            .await
            .unwrap()
            .unwrap()
            .result
            .as_deref(),
        Some("superseded")
    );
    assert!(store.close_challenge("c2", "passed", 105).await.unwrap());
    assert!(
        !store.close_challenge("c2", "passed", 106).await.unwrap(),
        "a code is consumed once"
    );
    let closed = store.challenge("c2").await.unwrap().unwrap();
    assert_eq!(
        (closed.closed_at, closed.result.as_deref()),
        (Some(105), Some("passed"))
    );

    let mut push = challenge("p1", "r1", "push", 110);
    push.secret_hash = None;
    store.insert_challenge(&push).await.unwrap();
    store.set_challenge_detail("p1", "duo-tx-1").await.unwrap();
    let open = store.open_challenges("push").await.unwrap();
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].detail.as_deref(), Some("duo-tx-1"));
    assert_eq!(
        store
            .pending_phone_challenge("t:1", "push")
            .await
            .unwrap()
            .map(|c| c.id),
        Some("p1".to_string())
    );
}

async fn security_answers_progress_in_order(store: &Store) {
    store
        .insert_recovery(&recovery("r1", "t:1", "jan@x.nl", 100))
        .await
        .unwrap();
    let mut q = challenge("q1", "r1", "questions", 100);
    q.secret_hash = None;
    q.detail = Some("birth_city,first_pet,favourite_book".into());
    store.insert_challenge(&q).await.unwrap();
    assert_eq!(
        store.record_answer("q1", 0, true).await.unwrap(),
        Some((1, true))
    );
    assert_eq!(
        store.record_answer("q1", 0, true).await.unwrap(),
        None,
        "an answer for a question already answered is not counted"
    );
    assert_eq!(
        store.record_answer("q1", 1, false).await.unwrap(),
        Some((2, false))
    );
    assert_eq!(
        store.record_answer("q1", 2, true).await.unwrap(),
        Some((3, false)),
        "one wrong answer spoils the set"
    );
}

async fn throttle_counters(store: &Store) {
    assert_eq!(
        store
            .record_failure("jan@x.nl", "email", 100, 0)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        store
            .record_failure("jan@x.nl", "totp", 200, 0)
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        store
            .record_failure("jan@x.nl", "totp", 300, 150)
            .await
            .unwrap(),
        2,
        "only failures after `since` count"
    );
    assert_eq!(
        store
            .record_failure("anna@x.nl", "totp", 300, 0)
            .await
            .unwrap(),
        1
    );

    store
        .record_send("jan@x.nl", "tg:1", "r1", "sms", 100)
        .await
        .unwrap();
    store
        .record_send("jan@x.nl", "tg:1", "r1", "sms", 160)
        .await
        .unwrap();
    store
        .record_send("jan@x.nl", "tg:2", "r2", "email", 170)
        .await
        .unwrap();
    assert_eq!(store.last_send("r1", "sms").await.unwrap(), Some(160));
    assert_eq!(store.last_send("r1", "email").await.unwrap(), None);
    assert_eq!(
        store.sends_for_account("jan@x.nl", "sms", 0).await.unwrap(),
        2
    );
    assert_eq!(store.sends_for_chat_user("tg:1", 120).await.unwrap(), 1);

    assert_eq!(
        store
            .record_chat_login("tg:1", "jan@x.nl", 100, 0)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        store
            .record_chat_login("tg:1", "jan@x.nl", 101, 0)
            .await
            .unwrap(),
        1,
        "the same account twice is one account"
    );
    assert_eq!(
        store
            .record_chat_login("tg:1", "anna@x.nl", 102, 0)
            .await
            .unwrap(),
        2
    );
}

async fn lockouts_keep_the_later_end(store: &Store) {
    assert_eq!(
        store
            .lockout_until(LockScope::Recovery, "jan@x.nl", 100)
            .await
            .unwrap(),
        None
    );
    store
        .set_lockout(LockScope::Recovery, "jan@x.nl", 1000)
        .await
        .unwrap();
    store
        .set_lockout(LockScope::Recovery, "jan@x.nl", 500)
        .await
        .unwrap();
    assert_eq!(
        store
            .lockout_until(LockScope::Recovery, "jan@x.nl", 100)
            .await
            .unwrap(),
        Some(1000),
        "a shorter lockout does not shorten a longer one"
    );
    store
        .set_lockout(LockScope::Recovery, "jan@x.nl", 2000)
        .await
        .unwrap();
    assert_eq!(
        store
            .lockout_until(LockScope::Recovery, "jan@x.nl", 100)
            .await
            .unwrap(),
        Some(2000)
    );
    assert_eq!(
        store
            .lockout_until(LockScope::Recovery, "jan@x.nl", 2000)
            .await
            .unwrap(),
        None,
        "over when its time has come"
    );
    assert_eq!(
        store
            .lockout_until(LockScope::ChatUser, "jan@x.nl", 100)
            .await
            .unwrap(),
        None,
        "scopes are separate"
    );
}

async fn totp_steps_only_move_forward(store: &Store) {
    assert!(store.accept_totp_step("jan@x.nl", 10).await.unwrap());
    assert!(!store.accept_totp_step("jan@x.nl", 10).await.unwrap());
    assert!(!store.accept_totp_step("jan@x.nl", 9).await.unwrap());
    assert!(store.accept_totp_step("jan@x.nl", 11).await.unwrap());
    assert!(store.accept_totp_step("anna@x.nl", 10).await.unwrap());
}

async fn update_ids_and_chat_addresses(store: &Store) {
    assert!(store.first_delivery("telegram", "1", 100).await.unwrap());
    assert!(!store.first_delivery("telegram", "1", 101).await.unwrap());
    assert!(store.first_delivery("teams", "1", 101).await.unwrap());
    let week = sspr_bot::store::UPDATE_MEMORY_SECS;
    assert_eq!(store.prune_updates(101 + week + 1).await.unwrap(), 2);
    assert!(store.first_delivery("telegram", "1", 100).await.unwrap());

    assert_eq!(store.chat_address("teams:a").await.unwrap(), None);
    store
        .set_chat_address("teams:a", "https://smba.example/1", 100)
        .await
        .unwrap();
    store
        .set_chat_address("teams:a", "https://smba.example/2", 101)
        .await
        .unwrap();
    assert_eq!(
        store.chat_address("teams:a").await.unwrap().as_deref(),
        Some("https://smba.example/2")
    );
}

async fn audit_log_in_order_and_per_account(store: &Store) {
    for (i, account) in ["jan@x.nl", "anna@x.nl", "jan@x.nl"].iter().enumerate() {
        store
            .append_audit(&AuditRow {
                time: 100 + i as i64,
                account: account.to_string(),
                chat_user: "tg:1".into(),
                event: format!("event{i}"),
                method: (i == 1).then(|| "email".to_string()),
                outcome: "ok".into(),
                detail: None,
            })
            .await
            .unwrap();
    }
    let all = store.audit_log(None).await.unwrap();
    assert_eq!(
        all.iter().map(|r| r.event.as_str()).collect::<Vec<_>>(),
        ["event0", "event1", "event2"]
    );
    assert_eq!(all[1].method.as_deref(), Some("email"));
    let jan = store.audit_log(Some("jan@x.nl")).await.unwrap();
    assert_eq!(
        jan.iter().map(|r| r.event.as_str()).collect::<Vec<_>>(),
        ["event0", "event2"]
    );
}

async fn registrations_and_answers(store: &Store) {
    assert!(store.registration("jan@x.nl").await.unwrap().is_none());
    store
        .set_registered(
            "jan@x.nl",
            RegField::AlternateEmail,
            Some("jan@prive.example"),
            100,
        )
        .await
        .unwrap();
    store
        .set_registered("jan@x.nl", RegField::Mobile, Some("+31612345678"), 110)
        .await
        .unwrap();
    let r = store.registration("jan@x.nl").await.unwrap().unwrap();
    assert_eq!(r.alternate_email.as_deref(), Some("jan@prive.example"));
    assert_eq!(r.mobile.as_deref(), Some("+31612345678"));
    let times = store.registration_times("jan@x.nl").await.unwrap().unwrap();
    assert_eq!(
        (times.alternate_email_at, times.mobile_at, times.totp_at),
        (Some(100), Some(110), None)
    );
    assert_eq!(
        store
            .clear_registered("jan@x.nl", RegField::Mobile, 120)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        store
            .clear_registered("jan@x.nl", RegField::Mobile, 121)
            .await
            .unwrap(),
        0,
        "nothing left to clear"
    );
    assert!(store.confirm_registration("jan@x.nl", 130).await.unwrap());

    let answers = vec![
        ("first_pet".to_string(), "$argon2id$a".to_string()),
        ("birth_city".to_string(), "$argon2id$b".to_string()),
        ("favourite_book".to_string(), "$argon2id$c".to_string()),
    ];
    store
        .replace_security_answers("jan@x.nl", &answers, 140)
        .await
        .unwrap();
    assert_eq!(
        store.security_answers("jan@x.nl").await.unwrap(),
        answers,
        "answers come back in the order they were given"
    );
    let fewer = vec![("birth_city".to_string(), "$argon2id$d".to_string())];
    store
        .replace_security_answers("jan@x.nl", &fewer, 150)
        .await
        .unwrap();
    assert_eq!(store.security_answers("jan@x.nl").await.unwrap(), fewer);
}

async fn enrolments_and_attempts(store: &Store) {
    let enrolment = |id: &str, at: i64| EnrolmentRow {
        id: id.into(),
        conversation_key: "t:1".into(),
        chat_user: "tg:1".into(),
        account: "sanne@x.nl".into(),
        decoy: false,
        proven: false,
        status: "open".into(),
        created_at: at,
        updated_at: at,
    };
    store.insert_enrolment(&enrolment("e1", 100)).await.unwrap();
    store.insert_enrolment(&enrolment("e2", 110)).await.unwrap();
    assert_eq!(
        store.enrolment("e1").await.unwrap().unwrap().status,
        "superseded"
    );
    store.set_enrolment_proven("e2", 120).await.unwrap();
    assert!(store.enrolment("e2").await.unwrap().unwrap().proven);

    let code = |id: &str, at: i64| EnrolmentChallenge {
        id: id.into(),
        enrolment_id: "e2".into(),
        kind: "alternate_email".into(),
        target: Some("sanne@prive.example".into()),
        secret: Some(format!("hmac-{id}")),
        position: 0,
        attempts: 0,
        created_at: at,
        expires_at: at + 600,
        closed_at: None,
        result: None,
    };
    store
        .insert_enrolment_challenge(&code("k1", 130), true)
        .await
        .unwrap();
    store
        .insert_enrolment_challenge(&code("k2", 130), true)
        .await
        .unwrap();
    assert_eq!(
        store
            .last_enrolment_challenge("e2", "alternate_email")
            .await
            .unwrap()
            .unwrap()
            .id,
        "k2",
        "same second: the later one"
    );
    let open = store
        .open_enrolment_challenges("e2", "alternate_email")
        .await
        .unwrap();
    assert_eq!(
        open.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(),
        ["k2"]
    );
    assert_eq!(store.count_enrolment_attempt("k2").await.unwrap(), 1);
    assert_eq!(store.count_enrolment_attempt("k2").await.unwrap(), 2);
    assert!(store
        .close_enrolment_challenge("k2", "passed", 140)
        .await
        .unwrap());
    assert!(!store
        .close_enrolment_challenge("k2", "passed", 141)
        .await
        .unwrap());
    assert!(store.close_enrolment("e2", "done", 150).await.unwrap());
    assert!(!store.close_enrolment("e2", "done", 151).await.unwrap());
}

async fn handoffs_claimed_once(store: &Store) {
    let h = HandoffRow {
        id: "h1".into(),
        kind: "live".into(),
        conversation_key: "t:1".into(),
        chat_user: "tg:1".into(),
        account: Some("jan@x.nl".into()),
        recovery_id: None,
        reason: "asked".into(),
        lang: "nl".into(),
        status: "waiting".into(),
        agent: None,
        agent_name: None,
        desk_ref: None,
        created_at: 100,
        due_at: Some(400),
        claimed_at: None,
        closed_at: None,
    };
    store.insert_handoff(&h).await.unwrap();
    store.set_handoff_desk_ref("h1", "tg:-100:7").await.unwrap();
    assert_eq!(
        store
            .handoff_by_desk_ref("tg:-100:7")
            .await
            .unwrap()
            .map(|h| h.id),
        Some("h1".to_string())
    );
    assert_eq!(
        store
            .unclaimed_handoffs(500)
            .await
            .unwrap()
            .iter()
            .map(|h| h.id.as_str())
            .collect::<Vec<_>>(),
        ["h1"]
    );
    assert!(store
        .claim_handoff("h1", "telegram:1", "Eva", 200)
        .await
        .unwrap());
    assert!(
        !store
            .claim_handoff("h1", "telegram:2", "Bram", 201)
            .await
            .unwrap(),
        "the first agent has it"
    );
    let claimed = store.open_handoff("t:1").await.unwrap().unwrap();
    assert_eq!(claimed.agent_name.as_deref(), Some("Eva"));
    assert!(store.end_handoff("h1", "closed", 300).await.unwrap());
    assert!(store.open_handoff("t:1").await.unwrap().is_none());
}

async fn reported_accounts_and_suspended_methods(store: &Store) {
    assert!(!store.is_reported("jan@x.nl").await.unwrap());
    store.report_account("jan@x.nl", "chat", 100).await.unwrap();
    assert!(store.is_reported("jan@x.nl").await.unwrap());
    store.unreport_account("jan@x.nl").await.unwrap();
    assert!(!store.is_reported("jan@x.nl").await.unwrap());

    store
        .insert_recovery(&recovery("r1", "t:1", "jan@x.nl", 100))
        .await
        .unwrap();
    assert!(!store.phone_lost("r1").await.unwrap());
    store.set_phone_lost("r1").await.unwrap();
    assert!(store.phone_lost("r1").await.unwrap());
    let methods = vec!["mobile".to_string(), "totp".to_string()];
    store
        .set_suspended_methods("jan@x.nl", &methods, 110)
        .await
        .unwrap();
    assert_eq!(store.suspended_methods("jan@x.nl").await.unwrap(), methods);

    assert!(store.close_recovery("r1", "done", 120).await.unwrap());
    assert_eq!(
        store
            .last_finished_recovery("t:1", 100)
            .await
            .unwrap()
            .as_deref(),
        Some("jan@x.nl")
    );
    store.approve_recovery("r1", "Eva").await.unwrap();
}

async fn embedded_directory(store: &Store) {
    let dir = EmbeddedDirectory::new(store);
    let jan = LoginName::parse("j.k.devries@bedrijf.nl").unwrap();
    dir.put_account(
        &jan,
        "Jan de Vries",
        "Oud-wachtwoord-1",
        false,
        false,
        false,
    )
    .await
    .unwrap();
    assert!(dir.set_department(&jan, Some("Finance")).await.unwrap());
    assert!(dir.sign_in(&jan, "Oud-wachtwoord-1").await.unwrap());
    for _ in 0..3 {
        assert!(!dir.sign_in(&jan, "fout").await.unwrap());
    }
    let account = dir.find(&jan).await.unwrap().unwrap();
    assert!(account.locked, "three wrong sign-ins lock the account");
    dir.unlock(&jan).await.unwrap();
    assert!(!dir.find(&jan).await.unwrap().unwrap().locked);
    assert_eq!(dir.list_accounts().await.unwrap().len(), 1);
}

/// Replicas answering the same code at the same moment: one consumption wins.
async fn racing_consumers_get_one_code(store: &Store) {
    store
        .insert_recovery(&recovery("r1", "t:1", "jan@x.nl", 100))
        .await
        .unwrap();
    store
        .insert_challenge(&challenge("c1", "r1", "email", 100))
        .await
        .unwrap();
    let tasks: Vec<_> = (0..16)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move { store.close_challenge("c1", "passed", 100 + i).await })
        })
        .collect();
    let mut won = 0;
    for t in tasks {
        won += usize::from(t.await.unwrap().unwrap());
    }
    assert_eq!(won, 1);
}

/// Failures recorded at the same moment are each counted: the counts seen are 1, 2, …, n, so
/// exactly one check sees the third failure and locks the account.
async fn racing_failures_count_every_one(store: &Store) {
    let tasks: Vec<_> = (0..12)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.record_failure("jan@x.nl", "totp", 100, 0).await })
        })
        .collect();
    let mut seen = Vec::new();
    for t in tasks {
        seen.push(t.await.unwrap().unwrap());
    }
    seen.sort();
    assert_eq!(seen, (1..=12).collect::<Vec<i64>>());
}

async fn racing_totp_checks_accept_one(store: &Store) {
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.accept_totp_step("jan@x.nl", 55_000_000).await })
        })
        .collect();
    let mut accepted = 0;
    for t in tasks {
        accepted += usize::from(t.await.unwrap().unwrap());
    }
    assert_eq!(accepted, 1);
}

/// Two stores on one PostgreSQL database are two replicas: a conversation's turn taken by one
/// makes the other wait until it is released; other conversations do not wait.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_conversations_turn_is_held_across_replicas() {
    let db = TestDb::postgres().await;
    let other = Store::open_at(&db.location).await.unwrap();
    let held = db.store.lock_conversation("telegram:42").await.unwrap();

    let waiting = {
        let other = other.clone();
        tokio::spawn(async move {
            let _turn = other.lock_conversation("telegram:42").await.unwrap();
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!waiting.is_finished(), "the second replica waits");
    tokio::time::timeout(
        Duration::from_secs(5),
        other.lock_conversation("telegram:43"),
    )
    .await
    .expect("another conversation does not wait")
    .unwrap();

    drop(held);
    tokio::time::timeout(Duration::from_secs(5), waiting)
        .await
        .expect("released when the first turn ends")
        .unwrap();
    other.close().await;
    db.finish().await;
}

/// A turn that ends with an error (the guard dropped without ceremony) still lets the next turn
/// in: the lock is tied to a transaction that rolls back when its connection is returned.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_turn_lock_dropped_midway_is_released() {
    let db = TestDb::postgres().await;
    for _ in 0..40 {
        let turn = db.store.lock_conversation("telegram:7").await.unwrap();
        drop(turn);
    }
    let shared = Arc::new(db.store.clone());
    let again = tokio::time::timeout(
        Duration::from_secs(5),
        shared.lock_conversation("telegram:7"),
    )
    .await;
    assert!(again.is_ok(), "no lock left behind");
    drop(again);
    db.finish().await;
}
