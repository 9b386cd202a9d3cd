"""A scripted model server for fault injection: it speaks OpenAI's chat-completions wire format
and misbehaves as the requested model's name says (the real local model covers the answers).

    python3 fake_model.py     # prints "PORT <n>" once it listens on 127.0.0.1

Models: fault-401 (refuses the key), fault-404 (no such model), fault-429 (busy, Retry-After:
1), fault-500, fault-garbage (200 with a body that is not JSON), fault-empty (a completion with
no text), fault-chatter (a completion with no JSON object in it), fault-slow (answers after
5 s), fault-truncated (a 200 whose body stops a third of the way through and the connection
closes), fault-cutoff (a completion cut off at its token limit mid-JSON, finish_reason
"length"), fault-long (a draft whose body is over 60,000 characters), echo-slow (after 0.3 s, answers the reference notice in the prompt as its draft: a
draft that passes, slowly enough to kill a process mid-campaign); any other name gets a short
answer. needs-key answers only with `Authorization: Bearer sk-model-test-key-0123456789`, and
401 otherwise.
"""

import json
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


KEY = "sk-model-test-key-0123456789"


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def reply(self, status, body, headers=()):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        request = json.loads(self.rfile.read(length) or b"{}")
        if not self.path.endswith("/chat/completions"):
            return self.reply(404, {"error": {"message": "not found"}})
        model = request.get("model", "")
        error = {"error": {"message": f"scripted {model}"}}
        if model == "fault-401":
            return self.reply(401, error)
        if model == "needs-key" and self.headers.get("Authorization") != f"Bearer {KEY}":
            return self.reply(401, error)
        if model == "fault-404":
            return self.reply(404, error)
        if model == "fault-429":
            return self.reply(429, error, [("Retry-After", "1")])
        if model == "fault-500":
            return self.reply(500, error)
        if model == "fault-garbage":
            return self.reply(200, b"<html>this is not a completion</html>")
        content = {
            "fault-empty": "",
            "fault-chatter": "Sure! Rotate your key soon, thanks.",
            "fault-cutoff": '{"subject": "Rotate your key", "body": "1. Create a new key at',
            "fault-long": json.dumps({"subject": "Rotate your key", "body": "1. Rotate. " * 6000}),
        }.get(model, "Ready to draft rotation notices.")
        if model == "fault-slow":
            time.sleep(5)
        if model == "echo-slow":
            time.sleep(0.3)
            prompt = request["messages"][-1]["content"]
            reference = prompt.split("Reference notice:\nSubject: ", 1)[1]
            subject, body = reference.split("\n\n", 1)
            content = json.dumps({"subject": subject, "body": body})
        completion = {
            "id": "chatcmpl-fake", "object": "chat.completion", "model": model,
            "choices": [{"index": 0,
                         "finish_reason": "length" if model == "fault-cutoff" else "stop",
                         "message": {"role": "assistant", "content": content}}],
            "usage": {"prompt_tokens": 12, "completion_tokens": 6, "total_tokens": 18},
        }
        if model == "fault-truncated":
            data = json.dumps(completion).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data[: len(data) // 3])
            self.wfile.flush()
            self.close_connection = True
            return
        self.reply(200, completion)


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(f"PORT {server.server_address[1]}", flush=True)
server.serve_forever()
