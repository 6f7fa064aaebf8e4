#!/usr/bin/env python3
"""The password-reset conversation in aiogram 3, written the way a team would: a Router with FSM
states (StatesGroup), recovery facts in the FSM data, and a BaseStorage subclass backed by SQLite
(aiosqlite) that commits every write.

    python bench/peers/aiogram_bot.py --seed 60000 --db /tmp/aiogram.db
    python bench/peers/aiogram_bot.py --base-url http://127.0.0.1:8081 --token 123:ABC --db /tmp/aiogram.db \
        --smtp-host 127.0.0.1 --smtp-port 2525

aiogram handles each update in its own task (handle_as_tasks=True, no limit), so updates of
different chats run concurrently. SimpleEventIsolation holds a per-(chat, user) lock around the
whole handling of an update, so one chat's updates are handled one after the other; aiogram's
default (DisabledEventIsolation) would not. State and data are written by the handlers through
FSMContext before they reply, each write a committed SQLite statement.
"""
from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from collections.abc import Mapping
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common as c  # noqa: E402

if __name__ == "__main__":
    ARGS = c.parse_args("aiogram_bot.py")
    if ARGS.seed is not None:  # --seed needs no framework (importing one takes seconds)
        c.seed(ARGS.db, ARGS.seed)
        sys.exit(0)

import aiosqlite  # noqa: E402
from aiogram import Bot, Dispatcher, F, Router  # noqa: E402
from aiogram.client.session.aiohttp import AiohttpSession  # noqa: E402
from aiogram.client.telegram import TelegramAPIServer  # noqa: E402
from aiogram.filters import Command, CommandStart  # noqa: E402
from aiogram.fsm.context import FSMContext  # noqa: E402
from aiogram.fsm.state import State, StatesGroup  # noqa: E402
from aiogram.fsm.storage.base import BaseStorage, DefaultKeyBuilder, KeyBuilder, StateType, StorageKey  # noqa: E402
from aiogram.fsm.storage.memory import SimpleEventIsolation  # noqa: E402
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message  # noqa: E402


class Reset(StatesGroup):
    login = State()
    reason = State()
    method = State()
    email_code = State()
    totp_code = State()
    new_password = State()


# --- storage ------------------------------------------------------------------------------------------

class SQLiteStorage(BaseStorage):
    """FSM state and data in one SQLite row per key; every write is its own committed statement.
    Takes the process's aiosqlite connection (as aiogram's RedisStorage takes a Redis client)."""

    SCHEMA = """
    CREATE TABLE IF NOT EXISTS aiogram_fsm (
        key   TEXT PRIMARY KEY,
        state TEXT,
        data  TEXT NOT NULL DEFAULT '{}'
    );
    """

    def __init__(self, db: aiosqlite.Connection, key_builder: KeyBuilder | None = None):
        self.db = db
        self.key_builder = key_builder or DefaultKeyBuilder()

    @classmethod
    async def open(cls, db: aiosqlite.Connection) -> "SQLiteStorage":
        await db.executescript(cls.SCHEMA)
        return cls(db)

    async def set_state(self, key: StorageKey, state: StateType = None) -> None:
        value = state.state if isinstance(state, State) else state
        await self.db.execute(
            "INSERT INTO aiogram_fsm (key, state) VALUES (?, ?)"
            " ON CONFLICT (key) DO UPDATE SET state = excluded.state",
            (self.key_builder.build(key), value),
        )

    async def get_state(self, key: StorageKey) -> str | None:
        rows = await self.db.execute_fetchall("SELECT state FROM aiogram_fsm WHERE key = ?",
                                              (self.key_builder.build(key),))
        return rows[0][0] if rows else None

    async def set_data(self, key: StorageKey, data: Mapping[str, Any]) -> None:
        await self.db.execute(
            "INSERT INTO aiogram_fsm (key, data) VALUES (?, ?)"
            " ON CONFLICT (key) DO UPDATE SET data = excluded.data",
            (self.key_builder.build(key), json.dumps(dict(data))),
        )

    async def get_data(self, key: StorageKey) -> dict[str, Any]:
        rows = await self.db.execute_fetchall("SELECT data FROM aiogram_fsm WHERE key = ?",
                                              (self.key_builder.build(key),))
        return json.loads(rows[0][0]) if rows else {}

    # update_data: BaseStorage's get_data + set_data (safe: SimpleEventIsolation serialises a key).

    async def close(self) -> None:
        # Called by the Dispatcher at shutdown; the connection is the process's only one.
        await self.db.close()


# --- handlers ----------------------------------------------------------------------------------------

router = Router()


def keyboard(buttons: list[tuple[str, str]]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text=label, callback_data=data)] for data, label in buttons]
    )


@router.message(CommandStart())
async def start(message: Message, state: FSMContext) -> None:
    await state.set_data({})
    await state.set_state(Reset.login)
    await message.answer(c.T_START)


@router.message(Command("stop"))
async def stop(message: Message, state: FSMContext) -> None:
    if await state.get_state() is None:
        return
    await state.clear()
    await message.answer(c.T_STOPPED)


@router.message(Reset.login, F.text)
async def got_login(message: Message, state: FSMContext, db: aiosqlite.Connection) -> None:
    text = message.text.strip()
    account = await c.find_account(db, text)
    if account is None:
        await message.answer(c.T_UNKNOWN.format(login=text))
        return
    await state.set_data({"login": account["login"], "alternate": account["alternate"],
                          "has_totp": account["has_totp"], "passed": []})
    await state.set_state(Reset.reason)
    await message.answer(c.T_REASON.format(login=account["login"]), reply_markup=keyboard(c.REASON_BUTTONS))


@router.callback_query(Reset.reason, F.data.in_({"reason:forgot", "reason:locked"}))
async def got_reason(query: CallbackQuery, state: FSMContext) -> None:
    await query.answer()
    await query.message.edit_reply_markup(reply_markup=None)
    data = await state.update_data(reason=query.data.removeprefix("reason:"))
    await ask_method(query.message, state, data)


async def ask_method(message: Message, state: FSMContext, data: dict) -> None:
    buttons = c.method_buttons(data)
    if not buttons:
        await state.clear()
        await message.answer(c.T_NO_METHODS)
        return
    await state.set_state(Reset.method)
    await message.answer(c.T_STEP.format(n=len(data["passed"]) + 1), reply_markup=keyboard(buttons))


@router.callback_query(Reset.method, F.data.in_({"method:email", "method:totp"}))
async def got_method(query: CallbackQuery, state: FSMContext, db: aiosqlite.Connection,
                     code_key: bytes, smtp: tuple[str, int]) -> None:
    await query.answer()
    await query.message.edit_reply_markup(reply_markup=None)
    method = query.data.removeprefix("method:")
    data = await state.get_data()
    if method in data["passed"]:
        await ask_method(query.message, state, data)
        return
    if method == "totp":
        await state.update_data(tries=0)
        await state.set_state(Reset.totp_code)
        await query.message.answer(c.T_TOTP_ASK)
        return
    code = c.new_code()
    try:
        await c.send_code_mail(smtp[0], smtp[1], data["alternate"], code)
    except Exception:
        await query.message.answer(c.T_MAIL_FAILED)
        await ask_method(query.message, state, data)
        return
    await state.update_data(code_hash=c.hash_code(code_key, data["login"], code),
                            code_expires=time.time() + c.CODE_TTL_SECONDS, tries=0)
    await state.set_state(Reset.email_code)
    await query.message.answer(c.T_CODE_SENT.format(masked=c.mask_email(data["alternate"])))


async def passed(message: Message, state: FSMContext, db: aiosqlite.Connection, method: str) -> None:
    data = await state.get_data()
    data["passed"].append(method)
    data.pop("code_hash", None)
    data.pop("code_expires", None)
    if c.method_buttons(data):
        await state.set_data(data)
        await ask_method(message, state, data)
        return
    if data.get("reason") == "locked":
        await c.unlock(db, data["login"])
        await state.clear()
        await message.answer(c.T_DONE_LOCKED)
        return
    await state.set_data(data)
    await state.set_state(Reset.new_password)
    await message.answer(c.T_DONE_FORGOT)


async def wrong(message: Message, state: FSMContext, text: str) -> None:
    data = await state.get_data()
    tries = data.get("tries", 0) + 1
    if tries >= c.MAX_TRIES:
        await state.clear()
        await message.answer(c.T_TOO_MANY)
        return
    await state.update_data(tries=tries)
    await message.answer(text.format(left=c.MAX_TRIES - tries))


@router.message(Reset.email_code, F.text)
async def got_email_code(message: Message, state: FSMContext, db: aiosqlite.Connection, code_key: bytes) -> None:
    data = await state.get_data()
    if time.time() > data.get("code_expires", 0):
        await state.clear()
        await message.answer(c.T_CODE_EXPIRED)
        return
    if not c.code_matches(code_key, data["login"], message.text, data["code_hash"]):
        await wrong(message, state, c.T_CODE_WRONG)
        return
    await passed(message, state, db, "email")


@router.message(Reset.totp_code, F.text)
async def got_totp_code(message: Message, state: FSMContext, db: aiosqlite.Connection) -> None:
    data = await state.get_data()
    result = await c.check_totp(db, data["login"], message.text)
    if result == "replay":
        await wrong(message, state, c.T_TOTP_REPLAY)
    elif result != "ok":
        await wrong(message, state, c.T_CODE_WRONG)
    else:
        await passed(message, state, db, "totp")


@router.message(Reset.new_password, F.text)
async def got_new_password(message: Message, state: FSMContext) -> None:
    # Not benchmarked (and not implemented): the benchmark stops when this state is reached.
    await state.clear()
    await message.answer(c.T_NEW_PASSWORD)


# --- wiring ------------------------------------------------------------------------------------------

async def run(args) -> None:
    db = await c.open_db(args.db)  # one SQLite connection per process, shared with the FSM storage
    storage = await SQLiteStorage.open(db)
    dp = Dispatcher(storage=storage, events_isolation=SimpleEventIsolation())
    dp.include_router(router)
    dp["db"] = db
    dp["code_key"] = await c.code_key(db)
    dp["smtp"] = (args.smtp_host, args.smtp_port)
    bot = Bot(args.token, session=AiohttpSession(api=TelegramAPIServer.from_base(args.base_url)))
    # handle_signals=True (default): SIGINT/SIGTERM stop polling; the storage (and with it the
    # connection) is closed on shutdown.
    await dp.start_polling(bot, polling_timeout=10, allowed_updates=["message", "callback_query"])


def main() -> None:
    c.setup_logging()
    asyncio.run(run(ARGS))


if __name__ == "__main__":
    main()
