#!/usr/bin/env python3
"""Development self-check for the peer bots (not the benchmark): a fake Bot API (aiohttp, long
polling) and an SMTP sink (aiosmtpd) on loopback, and one bot driven through the conversation.

    target/bench-venv/bin/python bench/peers/smoke.py --bot ptb
    target/bench-venv/bin/python bench/peers/smoke.py --bot aiogram

What it checks, with 3 accounts in 3 chats at once (--accounts N for more):
  1. /start, (an unknown login), the login, reason:forgot, method:email  -> code mailed
  2. the bot is killed with SIGKILL and started again: state must come back from SQLite
  3. (a wrong code), the e-mailed code, method:totp, the TOTP code -> "... nieuwe wachtwoord"
     and the conversation state in SQLite is the password state, while the bot runs
  4. account 0 again, authenticator first: the same TOTP code is refused (replay); /stop;
     another account: "geblokkeerd", authenticator first, then e-mail -> unlocked
  5. SIGTERM: the bot exits by itself with status 0
Callback turns must answer the query and remove the pressed message's keyboard before replying;
every turn must produce exactly one sendMessage.
"""
from __future__ import annotations

import argparse
import asyncio
import email
import itertools
import json
import os
import re
import signal
import sqlite3
import sys
import tempfile
import time
from collections import defaultdict

import pyotp
from aiohttp import web
from aiosmtpd.smtp import SMTP

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import common as c  # noqa: E402

TOKEN = "123456:SMOKE-test_token"
BOT_USER = {"id": 123456, "is_bot": True, "first_name": "Peer", "username": "peer_bot",
            "can_join_groups": False, "can_read_all_group_messages": False, "supports_inline_queries": False}
TIMEOUT = 15.0


class FakeBotAPI:
    def __init__(self) -> None:
        self.updates: list[dict] = []
        self.next_update_id = 1
        self.confirmed = 0
        self.cond = asyncio.Condition()
        self.events: dict[int, asyncio.Queue] = defaultdict(asyncio.Queue)  # chat id -> (method, params)
        self.callback_chat: dict[str, int] = {}
        self.message_ids = itertools.count(1000)
        self.polling = asyncio.Event()
        self.calls: dict[str, int] = defaultdict(int)

    async def push(self, update: dict) -> None:
        async with self.cond:
            update["update_id"] = self.next_update_id
            self.next_update_id += 1
            self.updates.append(update)
            self.cond.notify_all()

    async def params(self, request: web.Request) -> dict:
        if request.content_type == "application/json":
            return await request.json() if request.can_read_body else {}
        form = await request.post()
        out = {}
        for k, v in form.items():
            if isinstance(v, str) and v[:1] in "[{":
                try:
                    v = json.loads(v)
                except ValueError:
                    pass
            out[k] = v
        return out

    def message(self, chat_id: int, text: str, reply_markup=None) -> dict:
        m = {"message_id": next(self.message_ids), "date": int(time.time()), "from": BOT_USER,
             "chat": {"id": chat_id, "type": "private", "first_name": "Load"}, "text": text}
        if reply_markup and "inline_keyboard" in reply_markup:
            m["reply_markup"] = reply_markup
        return m

    async def handle(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != TOKEN:
            return web.json_response({"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401)
        method = request.match_info["method"]
        p = await self.params(request)
        self.calls[method] += 1
        m = method.lower()
        if m == "getme":
            result = BOT_USER
        elif m == "getupdates":
            result = await self.get_updates(p)
        elif m == "sendmessage":
            chat_id = int(p["chat_id"])
            result = self.message(chat_id, p["text"], p.get("reply_markup"))
            self.events[chat_id].put_nowait(("sendMessage", p, result))
        elif m == "editmessagereplymarkup":
            chat_id = int(p["chat_id"])
            self.events[chat_id].put_nowait(("editMessageReplyMarkup", p, True))
            result = True
        elif m == "answercallbackquery":
            chat_id = self.callback_chat.get(p["callback_query_id"], 0)
            self.events[chat_id].put_nowait(("answerCallbackQuery", p, True))
            result = True
        elif m == "getwebhookinfo":
            result = {"url": "", "has_custom_certificate": False, "pending_update_count": 0}
        elif m == "getmycommands":
            result = []
        elif m in ("deletewebhook", "setmycommands", "close", "logout", "deletemycommands"):
            result = True
        else:
            return web.json_response({"ok": False, "error_code": 404, "description": f"Not Found: {method}"},
                                     status=404)
        return web.json_response({"ok": True, "result": result})

    async def get_updates(self, p: dict) -> list:
        self.polling.set()
        offset = int(p.get("offset") or 0)
        timeout = float(p.get("timeout") or 0)
        limit = int(p.get("limit") or 100)
        async with self.cond:
            if offset:
                self.confirmed = max(self.confirmed, offset)
            self.updates = [u for u in self.updates if u["update_id"] >= self.confirmed]
            if not self.updates and timeout > 0:
                try:
                    await asyncio.wait_for(self.cond.wait(), timeout)
                except asyncio.TimeoutError:
                    pass
            return self.updates[:limit]


class Sink:
    def __init__(self) -> None:
        self.mail: dict[str, asyncio.Queue] = defaultdict(asyncio.Queue)

    async def handle_DATA(self, server, session, envelope):  # aiosmtpd hook
        msg = email.message_from_bytes(envelope.content)
        body = msg.get_payload(decode=True).decode(msg.get_content_charset() or "utf-8")
        for rcpt in envelope.rcpt_tos:
            self.mail[rcpt].put_nowait((envelope.mail_from, msg, body))
        return "250 OK"


class Failure(Exception):
    pass


class Chat:
    def __init__(self, api: FakeBotAPI, chat_id: int, log: list):
        self.api, self.id, self.log = api, chat_id, log
        self.last: dict | None = None  # last sendMessage result (for pressing its buttons)

    def user(self) -> dict:
        return {"id": self.id, "is_bot": False, "first_name": "Load", "language_code": "nl"}

    async def say(self, text: str) -> dict:
        msg = {"message_id": next(self.api.message_ids), "date": int(time.time()), "from": self.user(),
               "chat": {"id": self.id, "type": "private", "first_name": "Load"}, "text": text}
        if text.startswith("/"):
            msg["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
        self.log.append(f"[{self.id}] >>> {text}")
        await self.api.push({"message": msg})
        return await self.reply(callback=False)

    async def press(self, data: str) -> dict:
        if not self.last or data not in buttons(self.last):
            raise Failure(f"[{self.id}] no button {data!r} on the last message")
        qid = f"q{next(self.api.message_ids)}"
        self.api.callback_chat[qid] = self.id
        self.log.append(f"[{self.id}] >>> [{data}]")
        await self.api.push({"callback_query": {"id": qid, "from": self.user(), "chat_instance": str(self.id),
                                                "message": self.last, "data": data}})
        return await self.reply(callback=True, pressed=self.last["message_id"])

    async def reply(self, callback: bool, pressed: int | None = None) -> dict:
        seen = []
        while True:
            try:
                method, p, result = await asyncio.wait_for(self.api.events[self.id].get(), TIMEOUT)
            except asyncio.TimeoutError:
                raise Failure(f"[{self.id}] no sendMessage within {TIMEOUT} s (saw {seen})") from None
            seen.append(method)
            if method == "editMessageReplyMarkup":
                if int(p["message_id"]) != pressed or p.get("reply_markup") not in (None, "", {}):
                    raise Failure(f"[{self.id}] unexpected editMessageReplyMarkup {p}")
            if method == "sendMessage":
                break
        if callback and seen != ["answerCallbackQuery", "editMessageReplyMarkup", "sendMessage"]:
            raise Failure(f"[{self.id}] callback turn made {seen}")
        if not callback and seen != ["sendMessage"]:
            raise Failure(f"[{self.id}] message turn made {seen}")
        self.last = result
        b = buttons(result)
        self.log.append(f"[{self.id}] <<< {result['text']}" + (f"  {b}" if b else ""))
        return result


def buttons(message: dict) -> dict[str, str]:
    rows = (message.get("reply_markup") or {}).get("inline_keyboard", [])
    return {b["callback_data"]: b["text"] for row in rows for b in row}


def expect(cond: bool, what: str) -> None:
    if not cond:
        raise Failure(what)


class Runner:
    def __init__(self, bot: str, workdir: str, api_port: int, smtp_port: int):
        script = {"ptb": "ptb_bot.py", "aiogram": "aiogram_bot.py"}[bot]
        self.bot = bot
        self.cmd = [sys.executable, os.path.join(HERE, script)]
        self.db = os.path.join(workdir, f"{bot}.db")
        self.stderr = os.path.join(workdir, f"{bot}.stderr")
        self.args = ["--base-url", f"http://127.0.0.1:{api_port}", "--token", TOKEN, "--db", self.db,
                     "--smtp-host", "127.0.0.1", "--smtp-port", str(smtp_port)]
        self.proc = None

    async def seed(self, n: int) -> str:
        p = await asyncio.create_subprocess_exec(*self.cmd, "--seed", str(n), "--db", self.db,
                                                 stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        out, _ = await p.communicate()
        expect(p.returncode == 0, f"--seed failed: {out.decode()}")
        return out.decode().strip()

    async def start(self) -> None:
        with open(self.stderr, "ab") as err:
            self.proc = await asyncio.create_subprocess_exec(*self.cmd, *self.args, stdout=err, stderr=err)


async def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bot", choices=["ptb", "aiogram"], required=True)
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    ap.add_argument("--accounts", type=int, default=3, help="accounts/chats driven at once (default 3)")
    args = ap.parse_args()

    api = FakeBotAPI()
    app = web.Application()
    app.router.add_route("*", "/bot{token}/{method}", api.handle)
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    api_port = site._server.sockets[0].getsockname()[1]
    sink = Sink()
    smtp_server = await asyncio.get_running_loop().create_server(
        lambda: SMTP(sink, hostname="sink.invalid"), "127.0.0.1", 0)
    smtp_port = smtp_server.sockets[0].getsockname()[1]

    workdir = tempfile.mkdtemp(prefix=f"peer-smoke-{args.bot}-")
    bot = Runner(args.bot, workdir, api_port, smtp_port)
    log: list[str] = []
    ok = False
    try:
        log.append(await bot.seed(args.accounts + 1))  # the last one for step 4
        await bot.start()
        await asyncio.wait_for(api.polling.wait(), 30)
        t0 = time.perf_counter()
        chats = [Chat(api, 700000 + i, log) for i in range(args.accounts)]
        mails: dict[int, str] = {}

        async def part1(i: int) -> None:
            ch, login, alt = chats[i], c.login_of(i), c.alternate_of(i)
            masked = c.mask_email(alt)
            r = await ch.say("/start")
            expect("loginnaam" in r["text"], "greeting asks for the login name")
            if i == 0:
                r = await ch.say("niemand@bedrijf.nl")
                expect("niemand@bedrijf.nl" in r["text"] and "ken" in r["text"], "unknown login is refused")
            r = await ch.say(login)
            expect(r["text"] == f"Waarmee kan ik je helpen voor {login}?", "reason question")
            expect(list(buttons(r)) == ["reason:forgot", "reason:locked"], "reason buttons")
            r = await ch.press("reason:forgot")
            expect(r["text"].startswith("Verificatiestap 1 van 2"), "step 1 of 2")
            expect(buttons(r) == {"method:email": f"E-mail naar {masked}",
                                  "method:totp": "Een code uit de Authenticator-app invoeren"}, "method buttons")
            expect(masked == "lo*****@pr*****.example", "mask")
            r = await ch.press("method:email")
            expect(r["text"] == f"Ik heb een code gestuurd naar {masked}. Typ de code hier.", "code sent")
            sender, msg, body = await asyncio.wait_for(sink.mail[alt].get(), TIMEOUT)
            expect(sender == "sspr@bedrijf.nl" and msg["From"] == "sspr@bedrijf.nl", "mail from sspr@bedrijf.nl")
            codes = re.findall(r"(?<!\d)\d{6}(?!\d)", body)
            expect(len(codes) == 1, f"one 6-digit code in the mail body: {body!r}")
            mails[i] = codes[0]
            log.append(f"[{ch.id}] (mail to {alt}: code {codes[0]})")

        async def part2(i: int) -> None:
            ch = chats[i]
            if i == 1:
                wrong = "000000" if mails[i] != "000000" else "111111"
                r = await ch.say(wrong)
                expect("klopt niet" in r["text"], "wrong e-mail code is refused")
            r = await ch.say(mails[i])
            expect(r["text"].startswith("Verificatiestap 2 van 2"), "step 2 of 2")
            expect(list(buttons(r)) == ["method:totp"], "only the authenticator is left")
            r = await ch.press("method:totp")
            expect(r["text"] == "Typ de 6-cijferige code uit je Authenticator-app.", "asks for TOTP")
            code = pyotp.TOTP(c.totp_secret_of(i)).now()
            r = await ch.say(code)
            expect("wachtwoord" in r["text"] and r["text"].startswith("Beide controles"), "both checks passed")
            totp_used[i] = code

        totp_used: dict[int, str] = {}
        await asyncio.gather(*(part1(i) for i in range(args.accounts)))
        t1 = time.perf_counter()

        # crash: the code hashes and states must come back from SQLite
        await asyncio.sleep(0.5)
        log.append(f"--- SIGKILL pid {bot.proc.pid}, start again ---")
        bot.proc.send_signal(signal.SIGKILL)
        await bot.proc.wait()
        api.polling.clear()
        await bot.start()
        await asyncio.wait_for(api.polling.wait(), 30)

        t2 = time.perf_counter()
        await asyncio.gather(*(part2(i) for i in range(args.accounts)))
        t3 = time.perf_counter()

        # state on disk while the bot runs
        await asyncio.sleep(0.5)
        con = sqlite3.connect(bot.db)
        if args.bot == "ptb":
            rows = dict(con.execute("SELECT key, state FROM ptb_conversations WHERE name='password_reset'"))
            states = {cid: rows.get(json.dumps([cid, cid])) for cid in (ch.id for ch in chats)}
            want = json.dumps("NEW_PASSWORD")
        else:
            rows = dict(con.execute("SELECT key, state FROM aiogram_fsm"))
            states = {cid: rows.get(f"fsm:{cid}:{cid}") for cid in (ch.id for ch in chats)}
            want = "Reset:new_password"
        con.close()
        log.append(f"states in SQLite: {states}")
        expect(all(s == want for s in states.values()), "password state committed to SQLite")

        # replay guard and /stop, authenticator first
        ch = chats[0]
        await ch.say("/start")
        await ch.say(c.login_of(0))
        await ch.press("reason:forgot")
        r = await ch.press("method:totp")
        expect(r["text"].startswith("Typ de 6-cijferige code"), "asks for TOTP first")
        r = await ch.say(totp_used[0])
        expect("al gebruikt" in r["text"], "a used TOTP step is refused")
        r = await ch.say("/stop")
        expect(r["text"].startswith("Gestopt"), "/stop cancels")

        # "account locked", authenticator first, then e-mail, with a fresh account
        n = args.accounts
        ch, alt = Chat(api, 700000 + n, log), c.alternate_of(n)
        await ch.say("/start")
        await ch.say(c.login_of(n))
        await ch.press("reason:locked")
        await ch.press("method:totp")
        r = await ch.say(pyotp.TOTP(c.totp_secret_of(n)).now())
        expect(r["text"].startswith("Verificatiestap 2 van 2") and list(buttons(r)) == ["method:email"],
               "after the authenticator only e-mail is left")
        await ch.press("method:email")
        _, _, body = await asyncio.wait_for(sink.mail[alt].get(), TIMEOUT)
        r = await ch.say(re.findall(r"(?<!\d)\d{6}(?!\d)", body)[0])
        expect(r["text"] == c.T_DONE_LOCKED, "account unlocked")
        chats.append(ch)

        await asyncio.sleep(0.5)
        for chat in chats:
            expect(api.events[chat.id].empty(), f"[{chat.id}] no extra messages")

        bot.proc.send_signal(signal.SIGTERM)
        rc = await asyncio.wait_for(bot.proc.wait(), 20)
        log.append(f"--- SIGTERM: exit status {rc} ---")
        expect(rc == 0, "clean exit on SIGTERM")
        n = args.accounts
        log.append(f"timing: part 1 ({5 * n + 1} turns, {n} chats) {t1 - t0:.2f} s, "
                   f"part 2 ({4 * n + 1} turns) {t3 - t2:.2f} s")
        log.append(f"API calls: {dict(api.calls)}")
        ok = True
    except (Failure, asyncio.TimeoutError) as e:
        log.append(f"FAILURE: {e!r}")
    finally:
        if bot.proc and bot.proc.returncode is None:
            bot.proc.send_signal(signal.SIGKILL)
            await bot.proc.wait()
        smtp_server.close()
        await runner.cleanup()

    print("\n".join(log))
    with open(bot.stderr, encoding="utf-8", errors="replace") as f:
        err = f.read().strip()
    if err:
        print(f"--- bot stderr ({bot.stderr}) ---\n{err[-4000:]}")
    print(f"{'PASS' if ok else 'FAIL'}: {args.bot}")
    if ok and not args.keep:
        import shutil
        shutil.rmtree(workdir, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
