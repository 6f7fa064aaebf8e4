-- Helpdesk handoffs (issue 8): a conversation handed to a person at the ICT Servicedesk, a
-- callback request queued outside office hours, or an urgent "this wasn't me" report. What the
-- desk sees is rebuilt from these rows and the audit log: never a code, answer or password.
CREATE TABLE handoffs (
    id               TEXT PRIMARY KEY,
    kind             TEXT NOT NULL CHECK (kind IN ('live', 'callback', 'urgent', 'notice')),
    conversation_key TEXT NOT NULL,
    chat_user        TEXT NOT NULL,
    account          TEXT,                  -- the login name, when the conversation knew it
    recovery_id      TEXT,                  -- the recovery it came from, if any
    reason           TEXT NOT NULL,         -- why: asked, callback, … (a word, not user text)
    lang             TEXT NOT NULL,
    status           TEXT NOT NULL
                     CHECK (status IN ('waiting', 'claimed', 'closed', 'timed_out', 'queued')),
    agent            TEXT,                  -- "telegram:123" of the agent who claimed it
    agent_name       TEXT,
    desk_ref         TEXT,                  -- the desk's reference of the posted card
    created_at       INTEGER NOT NULL,
    due_at           INTEGER,               -- callback: when the desk opens; live: claim deadline
    claimed_at       INTEGER,
    closed_at        INTEGER
);
CREATE INDEX handoffs_conversation ON handoffs (conversation_key, status);
CREATE INDEX handoffs_due ON handoffs (status, due_at);

-- A recovery an agent may finish for the user (after talking to them): the final step is then
-- authorised by the agent, audited with their name, instead of by two passed methods.
ALTER TABLE recoveries ADD COLUMN approved_by TEXT;
