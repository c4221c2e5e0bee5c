"""A real SMTP server for schoolgate's tests (aiosmtpd): takes every message, with or
without AUTH (PLAIN, LOGIN or XOAUTH2), and writes each as JSON into a directory."""
import base64
import json
import os
import sys
import time

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


class Sink:
    def __init__(self, out):
        self.out = out
        self.n = 0

    async def handle_DATA(self, server, session, envelope):
        self.n += 1
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "data": envelope.content.decode("utf-8", "replace"),
            "login": session.auth_data.login.decode()
            if isinstance(session.auth_data, LoginPassword)
            else (session.auth_data or ""),
        }
        tmp = os.path.join(self.out, f".{self.n}.json")
        with open(tmp, "w") as f:
            json.dump(record, f)
        os.rename(tmp, os.path.join(self.out, f"{time.time_ns()}-{self.n}.json"))
        return "250 OK"

    async def auth_XOAUTH2(self, server, args):
        # args: ["XOAUTH2", base64 of "user=U\x01auth=Bearer T\x01\x01"]
        if len(args) < 2:
            return AuthResult(success=False, handled=False)
        raw = base64.b64decode(args[1]).decode()
        parts = dict(p.split("=", 1) for p in raw.split("\x01") if "=" in p)
        token = parts.get("auth", "").removeprefix("Bearer ")
        ok = token == os.environ.get("SINK_OAUTH_TOKEN", "")
        return AuthResult(success=ok, handled=False, auth_data=f"xoauth2:{parts.get('user')}")


def authenticate(server, session, envelope, mechanism, auth_data):
    if isinstance(auth_data, LoginPassword):
        ok = auth_data.password.decode() == os.environ.get("SINK_PASSWORD", "")
        return AuthResult(success=ok, handled=False, auth_data=auth_data)
    return AuthResult(success=False, handled=False)


def main():
    port, out = int(sys.argv[1]), sys.argv[2]
    controller = Controller(
        Sink(out),
        hostname="127.0.0.1",
        port=port,
        authenticator=authenticate,
        auth_require_tls=False,
        auth_required=bool(os.environ.get("SINK_PASSWORD") or os.environ.get("SINK_OAUTH_TOKEN")),
    )
    controller.start()
    print("ready", flush=True)
    # The controller serves from its own thread; the test kills this process when done.
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
