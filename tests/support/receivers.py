"""Real local receivers for alerts: an SMTP server (aiosmtpd) and an HTTP endpoint, both on
127.0.0.1, recording what they were sent."""

from __future__ import annotations

import json
import socket
import threading
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from aiosmtpd.controller import Controller


class SmtpReceiver:
    def __init__(self) -> None:
        self.messages: list[Message] = []
        receiver = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):
                receiver.messages.append(message_from_bytes(envelope.original_content))
                return "250 OK"

        with socket.socket() as probe:  # aiosmtpd needs a concrete port: it connects to itself
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)

    def __enter__(self) -> SmtpReceiver:
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()

    def texts(self) -> list[str]:
        """Subject and body of each message, decoded."""
        out = []
        for message in self.messages:
            parts = [p for p in message.walk() if p.get_content_maintype() == "text"]
            body = "".join(p.get_payload(decode=True).decode() for p in parts)
            out.append(f"{message['Subject']}\n{body}")
        return out


class HttpReceiver:
    def __init__(self) -> None:
        self.posts: list[dict] = []
        self.headers: list[dict] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.posts.append({"path": self.path, "body": json.loads(body)})
                receiver.headers.append(dict(self.headers))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> HttpReceiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def bodies(self, path: str) -> list[dict]:
        return [p["body"] for p in self.posts if p["path"] == path]
