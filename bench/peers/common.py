"""Shared by ptb_bot.py and aiogram_bot.py: command line, SQLite schema and seeding, the
accounts' TOTP secrets, e-mail masking, e-mail code hashing, TOTP checking with a replay guard,
and the Dutch texts. The framework-specific parts (conversation state, persistence) are in the
two bots; everything here is deliberately the same for both so that the benchmark compares the
frameworks and not two ways of doing the same work.
"""
from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import logging
import os
import secrets
import sqlite3
import time
from email.message import EmailMessage

import aiosmtplib
import aiosqlite
import pyotp

CODE_TTL_SECONDS = 10 * 60
MAX_TRIES = 5
MAIL_FROM = "sspr@bedrijf.nl"

# The same SQLite settings as the Rust bot (src/store/mod.rs): WAL, synchronous=NORMAL, 5 s busy
# timeout. Each bot process uses one connection (one aiosqlite thread) for the framework's state
# store and its own queries alike. The connection runs in autocommit mode (isolation_level=None):
# every statement is its own committed transaction, so no lock is held across an `await`; reads
# use execute_fetchall so that no half-read cursor keeps a read transaction open.
PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=NORMAL",
    "PRAGMA busy_timeout=5000",
    "PRAGMA foreign_keys=ON",
)

SCHEMA = """
CREATE TABLE IF NOT EXISTS accounts (
    login           TEXT PRIMARY KEY,
    alternate_email TEXT NOT NULL,
    totp_secret     TEXT NOT NULL,          -- base32
    totp_last_step  INTEGER,                -- last accepted 30 s step (replay guard)
    locked          INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""


# --- accounts ---------------------------------------------------------------------------------

def login_of(i: int) -> str:
    return f"load{i:05}@bedrijf.nl"


def alternate_of(i: int) -> str:
    return f"load{i:05}@privemail.example"


def totp_secret_of(i: int) -> str:
    """The 20 ASCII bytes `load{i:05}secret-key!`, base32 (32 characters, no padding)."""
    raw = f"load{i:05}secret-key!".encode("ascii")
    assert len(raw) == 20
    return base64.b32encode(raw).decode("ascii")


def seed(path: str, n: int) -> None:
    """(Re)creates the database at `path` with `n` accounts, in one transaction."""
    for suffix in ("", "-wal", "-shm", "-journal"):
        try:
            os.remove(path + suffix)
        except FileNotFoundError:
            pass
    t0 = time.perf_counter()
    con = sqlite3.connect(path, isolation_level=None)
    for p in PRAGMAS:
        con.execute(p)
    con.executescript(SCHEMA)
    con.execute("BEGIN")
    con.executemany(
        "INSERT INTO accounts (login, alternate_email, totp_secret) VALUES (?, ?, ?)",
        ((login_of(i), alternate_of(i), totp_secret_of(i)) for i in range(n)),
    )
    con.execute(
        "INSERT INTO meta (key, value) VALUES ('code_hmac_key', ?)", (secrets.token_hex(32),)
    )
    con.execute("COMMIT")
    con.close()
    print(f"seeded {n} accounts into {path} in {time.perf_counter() - t0:.2f} s")


async def open_db(path: str) -> aiosqlite.Connection:
    db = await aiosqlite.connect(path, isolation_level=None)
    for p in PRAGMAS:
        await db.execute_fetchall(p)
    await db.executescript(SCHEMA)
    db.row_factory = aiosqlite.Row
    return db


async def code_key(db: aiosqlite.Connection) -> bytes:
    """The server key for hashing e-mail codes (made by --seed; made here if missing)."""
    await db.execute(
        "INSERT OR IGNORE INTO meta (key, value) VALUES ('code_hmac_key', ?)",
        (secrets.token_hex(32),),
    )
    rows = await db.execute_fetchall("SELECT value FROM meta WHERE key = 'code_hmac_key'")
    return bytes.fromhex(rows[0][0])


async def find_account(db: aiosqlite.Connection, login: str) -> dict | None:
    rows = await db.execute_fetchall(
        "SELECT login, alternate_email, totp_secret IS NOT NULL AS has_totp FROM accounts"
        " WHERE login = ?",
        (login.strip().lower(),),
    )
    if not rows:
        return None
    row = rows[0]
    return {"login": row["login"], "alternate": row["alternate_email"], "has_totp": bool(row["has_totp"])}


async def check_totp(db: aiosqlite.Connection, login: str, code: str, now: float | None = None) -> str:
    """'ok', 'wrong' or 'replay'. Accepts the previous, current and next 30 s step
    (pyotp valid_window=1) but only a step later than the last one accepted for this account;
    the step is claimed with one conditional UPDATE, so two concurrent turns can't both use it."""
    code = code.strip().replace(" ", "")
    rows = await db.execute_fetchall("SELECT totp_secret FROM accounts WHERE login = ?", (login,))
    row = rows[0] if rows else None
    if row is None or not (len(code) == 6 and code.isdigit()):
        return "wrong"
    totp = pyotp.TOTP(row[0])  # SHA1, 6 digits, 30 s
    now = time.time() if now is None else now
    if not totp.verify(code, for_time=now, valid_window=1):
        return "wrong"
    step_now = int(now) // totp.interval
    step = next(
        s for s in (step_now - 1, step_now, step_now + 1)
        if hmac.compare_digest(totp.generate_otp(s), code)
    )
    cur = await db.execute(
        "UPDATE accounts SET totp_last_step = ? WHERE login = ?"
        " AND (totp_last_step IS NULL OR totp_last_step < ?)",
        (step, login, step),
    )
    return "ok" if cur.rowcount == 1 else "replay"


async def unlock(db: aiosqlite.Connection, login: str) -> None:
    await db.execute("UPDATE accounts SET locked = 0 WHERE login = ?", (login,))


# --- e-mail codes -------------------------------------------------------------------------------

def new_code() -> str:
    return f"{secrets.randbelow(1_000_000):06d}"


def hash_code(key: bytes, login: str, code: str) -> str:
    return hmac.new(key, f"{login}\0{code}".encode(), hashlib.sha256).hexdigest()


def code_matches(key: bytes, login: str, code: str, stored_hash: str) -> bool:
    return hmac.compare_digest(hash_code(key, login, code.strip().replace(" ", "")), stored_hash)


async def send_code_mail(host: str, port: int, to: str, code: str) -> None:
    msg = EmailMessage()
    msg["From"] = MAIL_FROM
    msg["To"] = to
    msg["Subject"] = "Je verificatiecode"
    msg.set_content(
        "Hallo,\n\n"
        "Je verificatiecode voor het herstellen van je wachtwoord is:\n\n"
        f"{code}\n\n"
        "De code is 10 minuten geldig. Heb je dit niet zelf aangevraagd? Negeer dan dit bericht.\n"
    )
    await aiosmtplib.send(msg, hostname=host, port=port, use_tls=False, start_tls=False, timeout=30)


def mask_email(address: str) -> str:
    """load00042@privemail.example -> lo*****@pr*****.example"""
    local, _, domain = address.partition("@")
    first, dot, rest = domain.partition(".")
    return f"{local[:2]}*****@{first[:2]}*****{dot}{rest}"


# --- texts and buttons (callback_data ids are part of the benchmark contract) ------------------

T_START = "Hallo! Ik help je je wachtwoord opnieuw in te stellen of je account te deblokkeren. Wat is je loginnaam?"
T_UNKNOWN = "Ik ken de loginnaam {login} niet. Controleer hem en typ hem opnieuw."
T_REASON = "Waarmee kan ik je helpen voor {login}?"
REASON_BUTTONS = [
    ("reason:forgot", "Ik ben mijn wachtwoord vergeten"),
    ("reason:locked", "Mijn account is geblokkeerd"),
]
T_STEP = "Verificatiestap {n} van 2: hoe wil je bevestigen dat jij het bent?"
T_METHOD_EMAIL = "E-mail naar {masked}"
T_METHOD_TOTP = "Een code uit de Authenticator-app invoeren"
T_CODE_SENT = "Ik heb een code gestuurd naar {masked}. Typ de code hier."
T_MAIL_FAILED = "Het versturen van de e-mail is mislukt. Kies opnieuw of probeer het later nog eens."
T_CODE_WRONG = "Die code klopt niet. Probeer het nog eens (nog {left} pogingen)."
T_CODE_EXPIRED = "Die code is verlopen. Begin opnieuw met /start."
T_TOO_MANY = "Te veel onjuiste pogingen. Begin opnieuw met /start."
T_TOTP_ASK = "Typ de 6-cijferige code uit je Authenticator-app."
T_TOTP_REPLAY = "Die code is al gebruikt. Wacht op de volgende code in je Authenticator-app en typ die."
T_DONE_FORGOT = "Beide controles zijn gelukt. Typ je nieuwe wachtwoord."
T_DONE_LOCKED = "Beide controles zijn gelukt. Je account is weer vrijgegeven."
T_NEW_PASSWORD = "Het instellen van een nieuw wachtwoord zit niet in deze vergelijkingsbot. Tot ziens!"
T_STOPPED = "Gestopt. Typ /start om opnieuw te beginnen."
T_NO_METHODS = "Er is geen andere controle mogelijk voor dit account. Neem contact op met de servicedesk."


def method_buttons(data: dict) -> list[tuple[str, str]]:
    """The verification methods not yet passed, as (callback_data, label)."""
    passed = data.get("passed", [])
    out = []
    if "email" not in passed:
        out.append(("method:email", T_METHOD_EMAIL.format(masked=mask_email(data["alternate"]))))
    if "totp" not in passed and data.get("has_totp"):
        out.append(("method:totp", T_METHOD_TOTP))
    return out


# --- command line -------------------------------------------------------------------------------

def parse_args(prog: str) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog=prog, description="Peer bot for the sspr-bot benchmark")
    ap.add_argument("--db", required=True, help="SQLite database path")
    ap.add_argument("--seed", type=int, metavar="N", help="(re)create --db with N accounts and exit")
    ap.add_argument("--base-url", help="fake Bot API, e.g. http://127.0.0.1:8081")
    ap.add_argument("--token", help="bot token, e.g. 123456:ABC")
    ap.add_argument("--smtp-host", default="127.0.0.1")
    ap.add_argument("--smtp-port", type=int, default=25)
    args = ap.parse_args()
    if args.seed is None and not (args.base_url and args.token):
        ap.error("either --seed N, or --base-url and --token")
    return args


def setup_logging() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
