-- sspr-bot schema (PostgreSQL): the same tables as the SQLite migrations 0001–0007 in one step,
-- with PostgreSQL's types (BIGINT Unix seconds, BOOLEAN flags, BIGSERIAL where SQLite has an
-- implicit rowid the queries order by). Later migrations come in pairs: ../NNNN_x.sql for SQLite
-- and NNNN_x.sql here. Nothing secret in plain text, as in the SQLite schema: codes and push
-- numbers as keyed HMACs, answers and passwords as argon2id, TOTP secrets encrypted.

CREATE TABLE conversations (
    key         TEXT PRIMARY KEY,
    data        TEXT NOT NULL,
    updated_at  BIGINT NOT NULL
);

CREATE TABLE recoveries (
    id               TEXT PRIMARY KEY,
    conversation_key TEXT NOT NULL,
    chat_user        TEXT NOT NULL,
    account          TEXT NOT NULL,
    reason           TEXT NOT NULL CHECK (reason IN ('forgot', 'locked')),
    decoy            BOOLEAN NOT NULL,
    lang             TEXT NOT NULL,
    offered          TEXT NOT NULL,
    passed           TEXT NOT NULL DEFAULT '',
    phone_confirmed  BOOLEAN NOT NULL DEFAULT FALSE,
    status           TEXT NOT NULL DEFAULT 'open'
                     CHECK (status IN ('open', 'done', 'cancelled', 'expired', 'superseded')),
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL,
    approved_by      TEXT,
    phone_lost       BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE INDEX recoveries_account ON recoveries (account, status);
CREATE INDEX recoveries_conversation ON recoveries (conversation_key, status);

CREATE TABLE challenges (
    rowid        BIGSERIAL,
    id           TEXT PRIMARY KEY,
    recovery_id  TEXT NOT NULL REFERENCES recoveries (id),
    method       TEXT NOT NULL,
    secret_hash  TEXT,
    detail       TEXT,
    progress     BIGINT NOT NULL DEFAULT 0,
    all_ok       BOOLEAN NOT NULL DEFAULT TRUE,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    closed_at    BIGINT,
    result       TEXT
);
CREATE INDEX challenges_recovery ON challenges (recovery_id, method, closed_at);

CREATE TABLE failures (account TEXT NOT NULL, method TEXT NOT NULL, at BIGINT NOT NULL);
CREATE INDEX failures_account ON failures (account, at);
CREATE TABLE sends (
    account     TEXT NOT NULL,
    chat_user   TEXT NOT NULL,
    recovery_id TEXT NOT NULL,
    method      TEXT NOT NULL,
    at          BIGINT NOT NULL
);
CREATE INDEX sends_account ON sends (account, method, at);
CREATE INDEX sends_chat_user ON sends (chat_user, at);
CREATE INDEX sends_recovery ON sends (recovery_id, method, at);
CREATE TABLE chat_logins (chat_user TEXT NOT NULL, account TEXT NOT NULL, at BIGINT NOT NULL);
CREATE INDEX chat_logins_user ON chat_logins (chat_user, at);
CREATE TABLE lockouts (
    scope    TEXT NOT NULL CHECK (scope IN ('recovery', 'email', 'chat_user')),
    subject  TEXT NOT NULL,
    until    BIGINT NOT NULL,
    PRIMARY KEY (scope, subject)
);

CREATE TABLE totp_steps (account TEXT PRIMARY KEY, last_step BIGINT NOT NULL);

CREATE TABLE audit (
    id         BIGSERIAL PRIMARY KEY,
    time       BIGINT NOT NULL,
    account    TEXT NOT NULL,
    chat_user  TEXT NOT NULL,
    event      TEXT NOT NULL,
    method     TEXT,
    outcome    TEXT NOT NULL,
    detail     TEXT
);
CREATE INDEX audit_account ON audit (account, id);

CREATE TABLE registrations (
    account             TEXT PRIMARY KEY,
    alternate_email     TEXT,
    mobile              TEXT,
    totp_secret         TEXT,
    push_device         TEXT,
    updated_at          BIGINT NOT NULL,
    alternate_email_at  BIGINT,
    mobile_at           BIGINT,
    totp_at             BIGINT,
    push_at             BIGINT,
    questions_at        BIGINT,
    confirmed_at        BIGINT,
    suspended           TEXT
);
CREATE TABLE security_answers (
    rowid        BIGSERIAL,
    account      TEXT NOT NULL,
    question_id  TEXT NOT NULL,
    answer_hash  TEXT NOT NULL,
    PRIMARY KEY (account, question_id)
);

CREATE TABLE directory_accounts (
    login            TEXT PRIMARY KEY,
    display_name     TEXT NOT NULL,
    password_hash    TEXT NOT NULL,
    locked           BOOLEAN NOT NULL DEFAULT FALSE,
    disabled         BOOLEAN NOT NULL DEFAULT FALSE,
    admin            BOOLEAN NOT NULL DEFAULT FALSE,
    failed_sign_ins  BIGINT NOT NULL DEFAULT 0,
    department       TEXT
);

CREATE TABLE processed_updates (
    channel    TEXT NOT NULL,
    update_id  TEXT NOT NULL,
    at         BIGINT NOT NULL,
    PRIMARY KEY (channel, update_id)
);
CREATE INDEX processed_updates_at ON processed_updates (at);

CREATE TABLE enrolments (
    id               TEXT PRIMARY KEY,
    conversation_key TEXT NOT NULL,
    chat_user        TEXT NOT NULL,
    account          TEXT NOT NULL,
    decoy            BOOLEAN NOT NULL,
    proven           BOOLEAN NOT NULL DEFAULT FALSE,
    status           TEXT NOT NULL DEFAULT 'open'
                     CHECK (status IN ('open', 'done', 'cancelled', 'expired', 'superseded')),
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL
);
CREATE INDEX enrolments_conversation ON enrolments (conversation_key, status);

CREATE TABLE enrolment_challenges (
    rowid         BIGSERIAL,
    id            TEXT PRIMARY KEY,
    enrolment_id  TEXT NOT NULL REFERENCES enrolments (id),
    kind          TEXT NOT NULL
                  CHECK (kind IN ('work_email', 'alternate_email', 'mobile', 'totp', 'answer')),
    target        TEXT,
    secret        TEXT,
    position      BIGINT NOT NULL DEFAULT 0,
    attempts      BIGINT NOT NULL DEFAULT 0,
    created_at    BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL,
    closed_at     BIGINT,
    result        TEXT
);
CREATE INDEX enrolment_challenges_enrolment ON enrolment_challenges (enrolment_id, kind, closed_at);

CREATE TABLE chat_addresses (
    conversation_key TEXT PRIMARY KEY,
    address          TEXT NOT NULL,
    updated_at       BIGINT NOT NULL
);

CREATE TABLE handoffs (
    id               TEXT PRIMARY KEY,
    kind             TEXT NOT NULL CHECK (kind IN ('live', 'callback', 'urgent', 'notice')),
    conversation_key TEXT NOT NULL,
    chat_user        TEXT NOT NULL,
    account          TEXT,
    recovery_id      TEXT,
    reason           TEXT NOT NULL,
    lang             TEXT NOT NULL,
    status           TEXT NOT NULL
                     CHECK (status IN ('waiting', 'claimed', 'closed', 'timed_out', 'queued')),
    agent            TEXT,
    agent_name       TEXT,
    desk_ref         TEXT,
    created_at       BIGINT NOT NULL,
    due_at           BIGINT,
    claimed_at       BIGINT,
    closed_at        BIGINT
);
CREATE INDEX handoffs_conversation ON handoffs (conversation_key, status);
CREATE INDEX handoffs_due ON handoffs (status, due_at);

CREATE TABLE reported_accounts (
    account     TEXT PRIMARY KEY,
    reported_at BIGINT NOT NULL,
    via         TEXT NOT NULL CHECK (via IN ('chat', 'email'))
);
