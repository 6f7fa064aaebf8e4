#!/usr/bin/env python3
"""Drives `sspr-bot demo --json` through N complete password resets of Jan (e-mail code read from
the outbox + authenticator code + new password twice) and prints turn latencies.

    cargo build --release && python3 bench/console_turns.py [N]

Each reset is 9 turns; a reset's last turn includes the argon2id hash of the new password, and the
TOTP replay guard means each reset must use a fresh 30 s step, so the clock is *not* simulated:
resets use codes from successive steps by waiting when needed. Pass N<=3 to avoid waiting.
"""
import base64, hashlib, hmac, json, os, struct, subprocess, sys, tempfile, time

N = int(sys.argv[1]) if len(sys.argv) > 1 else 3
BIN = os.path.join(os.path.dirname(__file__), "..", "target", "release", "sspr-bot")
SECRET = base64.b32decode("JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP")


def totp(step):
    h = hmac.new(SECRET, struct.pack(">Q", step), hashlib.sha1).digest()
    o = h[-1] & 15
    return "%06d" % ((struct.unpack(">I", h[o:o + 4])[0] & 0x7FFFFFFF) % 1000000)


def main():
    d = tempfile.mkdtemp()
    db, outbox = os.path.join(d, "b.db"), os.path.join(d, "outbox.jsonl")
    p = subprocess.Popen([BIN, "demo", "--json", "--db", db], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, text=True, bufsize=1)
    lat = []

    def send(obj):
        t = time.perf_counter()
        p.stdin.write(json.dumps(obj) + "\n")
        p.stdin.flush()
        line = p.stdout.readline()
        lat.append(time.perf_counter() - t)
        return json.loads(line)

    used = set()
    for i in range(N):
        for obj in ({"text": "hoi"}, {"text": "j.k.devries@bedrijf.nl"},
                    {"button": "reason:forgot"}, {"button": "method:email"}):
            send(obj)
        code = json.loads(open(outbox).read().splitlines()[-1])["code"]
        send({"text": code})
        send({"button": "method:totp"})
        while int(time.time()) // 30 in used:
            time.sleep(0.5)
        step = int(time.time()) // 30
        used.add(step)
        send({"text": totp(step)})
        send({"text": f"Paars konijn eet {i} wortels"})
        r = send({"text": f"Paars konijn eet {i} wortels"})
        assert "gewijzigd" in r["replies"][0]["text"], r
    p.stdin.close()
    p.wait()
    lat.sort()
    n = len(lat)
    print(f"{N} resets, {n} turns: median {lat[n // 2] * 1000:.2f} ms, "
          f"p90 {lat[int(n * 0.9)] * 1000:.2f} ms, max {lat[-1] * 1000:.2f} ms")


main()
