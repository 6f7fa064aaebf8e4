-- Self-service registration of verification methods (issue 6).

-- When each method was registered or last changed, and when the employee last confirmed that
-- all of them are still right (NULL: never asked).
ALTER TABLE registrations ADD COLUMN alternate_email_at INTEGER;
ALTER TABLE registrations ADD COLUMN mobile_at INTEGER;
ALTER TABLE registrations ADD COLUMN totp_at INTEGER;
ALTER TABLE registrations ADD COLUMN push_at INTEGER;
ALTER TABLE registrations ADD COLUMN questions_at INTEGER;
ALTER TABLE registrations ADD COLUMN confirmed_at INTEGER;

-- One registration session from one conversation: the core's own record of whether the
-- employee proved control of the work mailbox, which authorises every change.
CREATE TABLE enrolments (
    id               TEXT PRIMARY KEY,
    conversation_key TEXT NOT NULL,
    chat_user        TEXT NOT NULL,
    account          TEXT NOT NULL,
    decoy            INTEGER NOT NULL,     -- 1: unknown or disabled account, nothing is ever sent
    proven           INTEGER NOT NULL DEFAULT 0,
    status           TEXT NOT NULL DEFAULT 'open'
                     CHECK (status IN ('open', 'done', 'cancelled', 'expired', 'superseded')),
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL
);
CREATE INDEX enrolments_conversation ON enrolments (conversation_key, status);

-- What an enrolment is verifying: a code to the work mailbox, to a new alternate address or
-- to a new mobile number; a new TOTP secret waiting for its first code; a new security answer
-- waiting for the other two. Nothing in plain text: codes as keyed HMACs, the TOTP secret
-- encrypted with the server key, answers as argon2id.
CREATE TABLE enrolment_challenges (
    id            TEXT PRIMARY KEY,
    enrolment_id  TEXT NOT NULL REFERENCES enrolments (id),
    kind          TEXT NOT NULL
                  CHECK (kind IN ('work_email', 'alternate_email', 'mobile', 'totp', 'answer')),
    target        TEXT,                    -- the address or E.164 number; answer: question id
    secret        TEXT,                    -- HMAC of the code; encrypted TOTP secret; argon2id
    position      INTEGER NOT NULL DEFAULT 0,
    attempts      INTEGER NOT NULL DEFAULT 0,
    created_at    INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL,
    closed_at     INTEGER,
    result        TEXT
);
CREATE INDEX enrolment_challenges_enrolment ON enrolment_challenges (enrolment_id, kind, closed_at);
