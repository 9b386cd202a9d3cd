"""A scriptable SMTP server for Rekey's delivery tests (aiosmtpd, from Debian's python3-aiosmtpd).

Every accepted message is appended to a JSON-lines log with its Message-ID, recipient, subject
and text part. A script file (JSON, re-read on every message) says what to reply to a recipient
on successive attempts, for example {"slow@x.example": ["451 4.3.0 try later", "250"]}: an
entry is used once, and "drop" closes the connection in the middle of DATA. Recipients without
a script, or past the end of theirs, get 250. A number under "_delay_secs" makes every reply
wait that long (a slow server, so a test can kill Rekey while messages are in flight).

Usage: python3 smtp_sink.py LOG SCRIPT [PORT]  (prints "PORT <n>" once listening)
"""

import asyncio
import email
import email.policy
import json
import os
import sys

from aiosmtpd.controller import Controller


class Sink:
    def __init__(self, log, script):
        self.log = log
        self.script = script
        self.used = {}

    def read_script(self):
        try:
            with open(self.script) as f:
                return json.load(f)
        except (FileNotFoundError, json.JSONDecodeError):
            return {}

    def next_reply(self, script, recipient):
        replies = script.get(recipient, [])
        n = self.used.get(recipient, 0)
        self.used[recipient] = n + 1
        return replies[n] if n < len(replies) else "250"

    async def handle_DATA(self, server, session, envelope):
        recipient = envelope.rcpt_tos[0] if envelope.rcpt_tos else ""
        script = self.read_script()
        reply = self.next_reply(script, recipient)
        delay = script.get("_delay_secs")
        if delay:
            await asyncio.sleep(float(delay))
        if reply == "drop":
            server.transport.close()
            return "421 4.4.2 closing"
        if not reply.startswith("250"):
            return reply
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        text = message.get_body(preferencelist=("plain",))
        html = message.get_body(preferencelist=("html",))
        record = {
            "message_id": message.get("Message-ID"),
            "from": envelope.mail_from,
            "to": recipient,
            "subject": str(message.get("Subject")),
            "text": text.get_content() if text else None,
            "html": html.get_content() if html else None,
        }
        with open(self.log, "a") as f:
            f.write(json.dumps(record) + "\n")
            f.flush()
            os.fsync(f.fileno())
        return "250 2.0.0 Message accepted"


def main():
    log, script = sys.argv[1], sys.argv[2]
    port = int(sys.argv[3]) if len(sys.argv) > 3 else 0
    controller = Controller(Sink(log, script), hostname="127.0.0.1", port=port)
    controller.start()
    print(f"PORT {controller.server.sockets[0].getsockname()[1]}", flush=True)
    try:
        asyncio.get_event_loop().run_until_complete(asyncio.Event().wait())
    except KeyboardInterrupt:
        pass
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
