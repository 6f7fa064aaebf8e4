-- sspr-bot schema (SQLite). Times are Unix seconds (UTC). No code, answer, password or token is
-- stored in plain text: codes and push numbers as keyed HMACs, answers and passwords as argon2id,
-- TOTP secrets encrypted (ChaCha20-Poly1305) with the server key.

-- Conversation state between turns (serde JSON of dialogue::Conversation).
CREATE TABLE conversations (
    key         TEXT PRIMARY KEY,          -- "channel:chat id"
    data        TEXT NOT NULL,
    updated_at  INTEGER NOT NULL
);

-- One recovery attempt for one account from one conversation: the core's own record of what
-- passed, which authorises the final step.
CREATE TABLE recoveries (
    id               TEXT PRIMARY KEY,
    conversation_key TEXT NOT NULL,
    chat_user        TEXT NOT NULL,
    account          TEXT NOT NULL,
    reason           TEXT NOT NULL CHECK (reason IN ('forgot', 'locked')),
    decoy            INTEGER NOT NULL,     -- 1: unknown or disabled account, nothing is ever sent
    lang             TEXT NOT NULL,
    offered          TEXT NOT NULL,        -- comma-separated method ids
    passed           TEXT NOT NULL DEFAULT '',
    phone_confirmed  INTEGER NOT NULL DEFAULT 0,
    status           TEXT NOT NULL DEFAULT 'open'
                     CHECK (status IN ('open', 'done', 'cancelled', 'expired', 'superseded')),
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL
);
CREATE INDEX recoveries_account ON recoveries (account, status);
CREATE INDEX recoveries_conversation ON recoveries (conversation_key, status);

-- A code sent, a call placed, a push sent, or a set of questions asked.
CREATE TABLE challenges (
    id           TEXT PRIMARY KEY,
    recovery_id  TEXT NOT NULL REFERENCES recoveries (id),
    method       TEXT NOT NULL,
    secret_hash  TEXT,                     -- HMAC of code / push number; NULL for calls, questions
    detail       TEXT,                     -- questions: the chosen question ids
    progress     INTEGER NOT NULL DEFAULT 0,
    all_ok       INTEGER NOT NULL DEFAULT 1,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    closed_at    INTEGER,
    result       TEXT                      -- passed, failed, denied, superseded, cancelled
);
CREATE INDEX challenges_recovery ON challenges (recovery_id, method, closed_at);

-- Counters for the throttles of DESIGN §3.
CREATE TABLE failures (account TEXT NOT NULL, method TEXT NOT NULL, at INTEGER NOT NULL);
CREATE INDEX failures_account ON failures (account, at);
CREATE TABLE sends (
    account     TEXT NOT NULL,
    chat_user   TEXT NOT NULL,
    recovery_id TEXT NOT NULL,
    method      TEXT NOT NULL,
    at          INTEGER NOT NULL
);
CREATE INDEX sends_account ON sends (account, method, at);
CREATE INDEX sends_chat_user ON sends (chat_user, at);
CREATE INDEX sends_recovery ON sends (recovery_id, method, at);
CREATE TABLE chat_logins (chat_user TEXT NOT NULL, account TEXT NOT NULL, at INTEGER NOT NULL);
CREATE INDEX chat_logins_user ON chat_logins (chat_user, at);
CREATE TABLE lockouts (
    scope    TEXT NOT NULL CHECK (scope IN ('recovery', 'email', 'chat_user')),
    subject  TEXT NOT NULL,
    until    INTEGER NOT NULL,
    PRIMARY KEY (scope, subject)
);

-- TOTP replay guard: the last time step accepted per account.
CREATE TABLE totp_steps (account TEXT PRIMARY KEY, last_step INTEGER NOT NULL);

-- What happened, for admins. Never a secret.
CREATE TABLE audit (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    time       INTEGER NOT NULL,
    account    TEXT NOT NULL,
    chat_user  TEXT NOT NULL,
    event      TEXT NOT NULL,
    method     TEXT,
    outcome    TEXT NOT NULL,
    detail     TEXT
);
CREATE INDEX audit_account ON audit (account, id);

-- Registered verification methods (registration dialogue and import come later).
CREATE TABLE registrations (
    account          TEXT PRIMARY KEY,
    alternate_email  TEXT,
    mobile           TEXT,                 -- E.164
    totp_secret      TEXT,                 -- hex(nonce || ciphertext)
    push_device      TEXT,
    updated_at       INTEGER NOT NULL
);
CREATE TABLE security_answers (
    account      TEXT NOT NULL,
    question_id  TEXT NOT NULL,
    answer_hash  TEXT NOT NULL,            -- argon2id PHC string of the normalised answer
    PRIMARY KEY (account, question_id)
);

-- The embedded directory (demo and tests); LDAP and Graph replace it in production.
CREATE TABLE directory_accounts (
    login            TEXT PRIMARY KEY,
    display_name     TEXT NOT NULL,
    password_hash    TEXT NOT NULL,        -- argon2id PHC string
    locked           INTEGER NOT NULL DEFAULT 0,
    disabled         INTEGER NOT NULL DEFAULT 0,
    admin            INTEGER NOT NULL DEFAULT 0,
    failed_sign_ins  INTEGER NOT NULL DEFAULT 0
);
