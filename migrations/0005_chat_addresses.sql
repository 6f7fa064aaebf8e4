-- Where a platform wants replies for a conversation that did not just write to us (a call
-- answered, a push approved, a helpdesk agent's message): Teams' serviceUrl per conversation.
CREATE TABLE chat_addresses (
    conversation_key TEXT PRIMARY KEY,      -- "teams:<conversation id>"
    address          TEXT NOT NULL,         -- the platform's reply address (Teams: serviceUrl)
    updated_at       INTEGER NOT NULL
);
