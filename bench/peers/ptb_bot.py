#!/usr/bin/env python3
"""The password-reset conversation in python-telegram-bot 22, written the way a team would:
a persistent ConversationHandler, recovery facts in context.user_data, and a BasePersistence
subclass backed by SQLite (aiosqlite).

    python bench/peers/ptb_bot.py --seed 60000 --db /tmp/ptb.db
    python bench/peers/ptb_bot.py --base-url http://127.0.0.1:8081 --token 123:ABC --db /tmp/ptb.db \
        --smtp-host 127.0.0.1 --smtp-port 2525

Two things PTB does not do out of the box, and how this file does them:

* Durable state each turn. PTB writes persistence only from Application.update_persistence(),
  which runs every `update_interval` seconds (60 by default) and at shutdown. A handler cannot
  flush its own turn: the ConversationHandler records the new state only after the callback has
  returned, and marks user_data dirty only after the whole update. So the update processor
  below calls update_persistence() after each update has been processed completely: the new
  conversation state and user_data are committed to SQLite right after the reply was sent, and
  before the next update of the same chat is looked at.

* Concurrency without reordering. `concurrent_updates=True` would run all updates concurrently,
  including two of the same chat, and the ConversationHandler docs warn against it. The
  update processor below runs up to 256 updates at once (PTB's default for concurrent updates)
  but one at a time per chat, in arrival order.
"""
from __future__ import annotations

import asyncio
import json
import os
import sys
import time
import warnings
from collections import defaultdict
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common as c  # noqa: E402

if __name__ == "__main__":
    ARGS = c.parse_args("ptb_bot.py")
    if ARGS.seed is not None:  # --seed needs no framework (importing one takes seconds)
        c.seed(ARGS.db, ARGS.seed)
        sys.exit(0)

import aiosqlite  # noqa: E402
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update  # noqa: E402
from telegram.ext import (  # noqa: E402
    Application,
    ApplicationBuilder,
    BasePersistence,
    BaseUpdateProcessor,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    ConversationHandler,
    MessageHandler,
    PersistenceInput,
    filters,
)
from telegram.warnings import PTBUserWarning  # noqa: E402

# ConversationHandler states
ASK_LOGIN, ASK_REASON, ASK_METHOD, EMAIL_CODE, TOTP_CODE, NEW_PASSWORD = (
    "ASK_LOGIN", "ASK_REASON", "ASK_METHOD", "EMAIL_CODE", "TOTP_CODE", "NEW_PASSWORD",
)


# --- persistence ----------------------------------------------------------------------------------

class SQLitePersistence(BasePersistence[dict, dict, dict]):
    """user_data, chat_data, bot_data and conversations in SQLite, one row per entry, JSON."""

    SCHEMA = """
    CREATE TABLE IF NOT EXISTS ptb_user_data (user_id INTEGER PRIMARY KEY, data TEXT NOT NULL);
    CREATE TABLE IF NOT EXISTS ptb_chat_data (chat_id INTEGER PRIMARY KEY, data TEXT NOT NULL);
    CREATE TABLE IF NOT EXISTS ptb_bot_data (id INTEGER PRIMARY KEY CHECK (id = 0), data TEXT NOT NULL);
    CREATE TABLE IF NOT EXISTS ptb_conversations (
        name TEXT NOT NULL, key TEXT NOT NULL, state TEXT NOT NULL, PRIMARY KEY (name, key)
    );
    """

    def __init__(self, path: str, store_data: PersistenceInput | None = None,
                 update_interval: float = 60):
        super().__init__(store_data=store_data, update_interval=update_interval)
        self.path = path
        self._db: aiosqlite.Connection | None = None

    async def db(self) -> aiosqlite.Connection:
        if self._db is None:
            self._db = await c.open_db(self.path)
            await self._db.executescript(self.SCHEMA)
        return self._db

    async def _load(self, table: str, key_col: str) -> dict[int, dict]:
        rows = await (await self.db()).execute_fetchall(f"SELECT {key_col}, data FROM {table}")
        return {row[0]: json.loads(row[1]) for row in rows}

    async def _put(self, table: str, key_col: str, key: int, data: dict) -> None:
        db = await self.db()
        await db.execute(
            f"INSERT INTO {table} ({key_col}, data) VALUES (?, ?)"
            f" ON CONFLICT ({key_col}) DO UPDATE SET data = excluded.data",
            (key, json.dumps(data)),
        )

    async def get_user_data(self) -> dict[int, dict]:
        return await self._load("ptb_user_data", "user_id")

    async def get_chat_data(self) -> dict[int, dict]:
        return await self._load("ptb_chat_data", "chat_id")

    async def get_bot_data(self) -> dict:
        return (await self._load("ptb_bot_data", "id")).get(0, {})

    async def get_callback_data(self):
        return None

    async def get_conversations(self, name: str) -> dict:
        rows = await (await self.db()).execute_fetchall(
            "SELECT key, state FROM ptb_conversations WHERE name = ?", (name,))
        return {tuple(json.loads(row[0])): json.loads(row[1]) for row in rows}

    async def update_conversation(self, name: str, key: tuple, new_state: object | None) -> None:
        db = await self.db()
        if new_state is None:
            await db.execute("DELETE FROM ptb_conversations WHERE name = ? AND key = ?",
                             (name, json.dumps(list(key))))
        else:
            await db.execute(
                "INSERT INTO ptb_conversations (name, key, state) VALUES (?, ?, ?)"
                " ON CONFLICT (name, key) DO UPDATE SET state = excluded.state",
                (name, json.dumps(list(key)), json.dumps(new_state)),
            )

    async def update_user_data(self, user_id: int, data: dict) -> None:
        await self._put("ptb_user_data", "user_id", user_id, data)

    async def update_chat_data(self, chat_id: int, data: dict) -> None:
        await self._put("ptb_chat_data", "chat_id", chat_id, data)

    async def update_bot_data(self, data: dict) -> None:
        await self._put("ptb_bot_data", "id", 0, data)

    async def update_callback_data(self, data) -> None:
        pass

    async def drop_user_data(self, user_id: int) -> None:
        await (await self.db()).execute("DELETE FROM ptb_user_data WHERE user_id = ?", (user_id,))

    async def drop_chat_data(self, chat_id: int) -> None:
        await (await self.db()).execute("DELETE FROM ptb_chat_data WHERE chat_id = ?", (chat_id,))

    # One process owns the database: the in-memory copies are authoritative, nothing to refresh.
    async def refresh_user_data(self, user_id: int, user_data: dict) -> None:
        pass

    async def refresh_chat_data(self, chat_id: int, chat_data: dict) -> None:
        pass

    async def refresh_bot_data(self, bot_data: dict) -> None:
        pass

    async def flush(self) -> None:
        # Every write above is already committed (autocommit). flush() is the last call at
        # shutdown (after the final update_persistence), so it closes the connection.
        if self._db is not None:
            await self._db.close()
            self._db = None


# --- update processing: concurrent across chats, ordered within a chat, flushed per update -------

class PerChatUpdateProcessor(BaseUpdateProcessor):
    def __init__(self, max_concurrent_updates: int = 256):
        super().__init__(max_concurrent_updates)
        self.application: Application | None = None
        self._locks: dict[Any, asyncio.Lock] = {}
        self._waiting: dict[Any, int] = defaultdict(int)

    async def do_process_update(self, update: object, coroutine) -> None:
        key = update.effective_chat.id if isinstance(update, Update) and update.effective_chat else None
        if key is None:
            await coroutine
            return
        lock = self._locks.setdefault(key, asyncio.Lock())
        self._waiting[key] += 1
        try:
            async with lock:
                await coroutine  # Application.process_update: handlers, then marks user_data dirty
                await self.application.update_persistence()  # commit this turn's state
        finally:
            self._waiting[key] -= 1
            if self._waiting[key] == 0:
                del self._waiting[key]
                del self._locks[key]

    async def initialize(self) -> None:
        pass

    async def shutdown(self) -> None:
        pass


# --- handlers ----------------------------------------------------------------------------------------

def keyboard(buttons: list[tuple[str, str]]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[InlineKeyboardButton(label, callback_data=data)] for data, label in buttons])


def db_of(context: ContextTypes.DEFAULT_TYPE) -> aiosqlite.Connection:
    return context.bot_data["db"]


async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> str:
    context.user_data.clear()
    await update.message.reply_text(c.T_START)
    return ASK_LOGIN


async def got_login(update: Update, context: ContextTypes.DEFAULT_TYPE) -> str:
    text = update.message.text.strip()
    account = await c.find_account(db_of(context), text)
    if account is None:
        await update.message.reply_text(c.T_UNKNOWN.format(login=text))
        return ASK_LOGIN
    context.user_data.clear()
    context.user_data.update(login=account["login"], alternate=account["alternate"],
                             has_totp=account["has_totp"], passed=[])
    await update.message.reply_text(c.T_REASON.format(login=account["login"]),
                                    reply_markup=keyboard(c.REASON_BUTTONS))
    return ASK_REASON


async def got_reason(update: Update, context: ContextTypes.DEFAULT_TYPE) -> str:
    query = update.callback_query
    await query.answer()
    await query.edit_message_reply_markup(reply_markup=None)
    context.user_data["reason"] = query.data.removeprefix("reason:")
    return await ask_method(update, context)


async def ask_method(update: Update, context: ContextTypes.DEFAULT_TYPE) -> str | int:
    buttons = c.method_buttons(context.user_data)
    if not buttons:
        await update.effective_chat.send_message(c.T_NO_METHODS)
        return ConversationHandler.END
    n = len(context.user_data["passed"]) + 1
    await update.effective_chat.send_message(c.T_STEP.format(n=n), reply_markup=keyboard(buttons))
    return ASK_METHOD


async def got_method(update: Update, context: ContextTypes.DEFAULT_TYPE) -> str:
    query = update.callback_query
    await query.answer()
    await query.edit_message_reply_markup(reply_markup=None)
    method = query.data.removeprefix("method:")
    ud = context.user_data
    if method in ud["passed"]:
        return await ask_method(update, context)
    if method == "totp":
        await update.effective_chat.send_message(c.T_TOTP_ASK)
        ud["tries"] = 0
        return TOTP_CODE
    # e-mail
    code = c.new_code()
    try:
        await c.send_code_mail(context.bot_data["smtp"][0], context.bot_data["smtp"][1], ud["alternate"], code)
    except Exception:
        await update.effective_chat.send_message(c.T_MAIL_FAILED)
        return await ask_method(update, context)
    ud.update(code_hash=c.hash_code(context.bot_data["code_key"], ud["login"], code),
              code_expires=time.time() + c.CODE_TTL_SECONDS, tries=0)
    await update.effective_chat.send_message(c.T_CODE_SENT.format(masked=c.mask_email(ud["alternate"])))
    return EMAIL_CODE


async def passed(update: Update, context: ContextTypes.DEFAULT_TYPE, method: str) -> str | int:
    ud = context.user_data
    ud["passed"].append(method)
    ud.pop("code_hash", None)
    ud.pop("code_expires", None)
    if c.method_buttons(ud):
        return await ask_method(update, context)
    if ud.get("reason") == "locked":
        await c.unlock(db_of(context), ud["login"])
        await update.message.reply_text(c.T_DONE_LOCKED)
        ud.clear()
        return ConversationHandler.END
    await update.message.reply_text(c.T_DONE_FORGOT)
    return NEW_PASSWORD


async def wrong(update: Update, context: ContextTypes.DEFAULT_TYPE, text: str) -> str | int | None:
    ud = context.user_data
    ud["tries"] = ud.get("tries", 0) + 1
    if ud["tries"] >= c.MAX_TRIES:
        await update.message.reply_text(c.T_TOO_MANY)
        ud.clear()
        return ConversationHandler.END
    await update.message.reply_text(text.format(left=c.MAX_TRIES - ud["tries"]))
    return None  # stay in the state


async def got_email_code(update: Update, context: ContextTypes.DEFAULT_TYPE) -> str | int | None:
    ud = context.user_data
    if time.time() > ud.get("code_expires", 0):
        await update.message.reply_text(c.T_CODE_EXPIRED)
        ud.clear()
        return ConversationHandler.END
    if not c.code_matches(context.bot_data["code_key"], ud["login"], update.message.text, ud["code_hash"]):
        return await wrong(update, context, c.T_CODE_WRONG)
    return await passed(update, context, "email")


async def got_totp_code(update: Update, context: ContextTypes.DEFAULT_TYPE) -> str | int | None:
    ud = context.user_data
    result = await c.check_totp(db_of(context), ud["login"], update.message.text)
    if result == "replay":
        return await wrong(update, context, c.T_TOTP_REPLAY)
    if result != "ok":
        return await wrong(update, context, c.T_CODE_WRONG)
    return await passed(update, context, "totp")


async def got_new_password(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    # Not benchmarked (and not implemented): the benchmark stops when NEW_PASSWORD is reached.
    await update.message.reply_text(c.T_NEW_PASSWORD)
    context.user_data.clear()
    return ConversationHandler.END


async def stop(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    context.user_data.clear()
    await update.effective_chat.send_message(c.T_STOPPED)
    return ConversationHandler.END


# --- wiring ------------------------------------------------------------------------------------------

def build(args) -> Application:
    text = filters.TEXT & ~filters.COMMAND
    # per_message=False with CallbackQueryHandlers is intended here (buttons are tracked per chat).
    warnings.filterwarnings("ignore", category=PTBUserWarning, message=".*per_message.*")
    conversation = ConversationHandler(
        entry_points=[CommandHandler("start", start)],
        states={
            ASK_LOGIN: [MessageHandler(text, got_login)],
            ASK_REASON: [CallbackQueryHandler(got_reason, pattern=r"^reason:(forgot|locked)$")],
            ASK_METHOD: [CallbackQueryHandler(got_method, pattern=r"^method:(email|totp)$")],
            EMAIL_CODE: [MessageHandler(text, got_email_code)],
            TOTP_CODE: [MessageHandler(text, got_totp_code)],
            NEW_PASSWORD: [MessageHandler(text, got_new_password)],
        },
        fallbacks=[CommandHandler("stop", stop)],
        allow_reentry=True,
        name="password_reset",
        persistent=True,
    )

    async def post_init(app: Application) -> None:
        # One SQLite connection per process: the handlers use the persistence's connection.
        db = await app.persistence.db()
        app.bot_data["db"] = db  # bot_data is not persisted (store_data below)
        app.bot_data["code_key"] = await c.code_key(db)
        app.bot_data["smtp"] = (args.smtp_host, args.smtp_port)

    processor = PerChatUpdateProcessor(256)
    app = (
        ApplicationBuilder()
        .token(args.token)
        .base_url(f"{args.base_url.rstrip('/')}/bot")
        .persistence(SQLitePersistence(
            args.db,
            store_data=PersistenceInput(bot_data=False, chat_data=False, user_data=True, callback_data=False),
        ))
        .concurrent_updates(processor)
        .post_init(post_init)
        .build()
    )
    processor.application = app
    app.add_handler(conversation)
    return app


def main() -> None:
    c.setup_logging()
    # run_polling stops on SIGINT, SIGTERM and SIGABRT, then writes persistence a last time.
    build(ARGS).run_polling(allowed_updates=["message", "callback_query"], timeout=10, poll_interval=0.0)


if __name__ == "__main__":
    main()
