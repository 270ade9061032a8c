"""A real SMTP server on 127.0.0.1 (aiosmtpd) for tests: it keeps what it receives, and can
refuse recipients, ask for a password, hang without ever greeting, answer QUIT wrongly, or
listen on another address than loopback."""

from __future__ import annotations

import asyncio
import socket
import threading
import warnings
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword


@dataclass
class Received:
    """One message as the server got it."""

    mail_from: str
    rcpt_tos: list[str]
    data: bytes

    @property
    def message(self) -> EmailMessage:
        parsed = BytesParser(policy=policy.default).parsebytes(self.data)
        assert isinstance(parsed, EmailMessage)
        return parsed


@dataclass
class _Handler:
    refuse: set[str]
    messages: list[Received] = field(default_factory=list)
    quit_reply: str | None = None

    async def handle_QUIT(self, server: Any, session: Any, envelope: Any) -> str:
        return self.quit_reply or "221 Bye"

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                          rcpt_options: list[str]) -> str:
        if address in self.refuse:
            return "550 5.1.1 no such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(Received(envelope.mail_from, list(envelope.rcpt_tos),
                                      envelope.original_content or envelope.content))
        return "250 Message accepted for delivery"


class _Silent(asyncio.Protocol):
    """Accepts the connection and never says a word."""


class SmtpServer:
    """Start with `with SmtpServer(...) as server:`; `server.port`, `server.messages`."""

    def __init__(self, *, refuse: tuple[str, ...] = (), hang: bool = False,
                 login: tuple[str, str] | None = None, quit_reply: str | None = None,
                 host: str = "127.0.0.1") -> None:
        self.handler = _Handler(set(refuse), quit_reply=quit_reply)
        self.host = host
        self.hang = hang
        self.login = login
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.AbstractServer | None = None

    @property
    def messages(self) -> list[Received]:
        return self.handler.messages

    def _authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str,
                      auth_data: Any) -> AuthResult:
        ok = isinstance(auth_data, LoginPassword) and self.login is not None and (
            auth_data.login.decode(), auth_data.password.decode()) == self.login
        return AuthResult(success=ok, handled=False)

    def _protocol(self) -> asyncio.BaseProtocol:
        if self.hang:
            return _Silent()
        with warnings.catch_warnings():
            # Loopback only, so AUTH without TLS is fine here.
            warnings.simplefilter("ignore", UserWarning)
            return SMTP(self.handler, hostname="smtp.test", auth_require_tls=False,
                        auth_required=self.login is not None,
                        authenticator=self._authenticate if self.login else None)

    def __enter__(self) -> SmtpServer:
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(
            self._loop.create_server(self._protocol, self.host, 0), self._loop)
        self._server = future.result(timeout=10)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def __exit__(self, *exc: object) -> None:
        async def close() -> None:
            assert self._server is not None
            self._server.close()
            if hasattr(self._server, "close_clients"):
                self._server.close_clients()

        asyncio.run_coroutine_threadsafe(close(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()


def outward_address() -> str | None:
    """This machine's address on its way out (not loopback), or None when it has none."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("192.0.2.1", 9))  # a UDP "connect" sends nothing; it picks the route
        except OSError:
            return None
        address = str(s.getsockname()[0])
    return None if address.startswith("127.") else address


def closed_port() -> int:
    """A loopback port where nothing listens: connections are refused."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
