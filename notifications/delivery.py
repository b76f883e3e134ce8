"""Delivery: hand a rendered digest to an SMTP server, or write it into the outbox folder.

A deliverer either returns (the message was accepted / written) or raises `DeliveryError`.
`DeliveryError.in_doubt` is True when the server may have accepted the message although we did
not see it say so (the connection broke after the message data was sent): such a delivery is
resent unchanged, with the same Message-ID, so a mail client can drop the duplicate.
"""

from __future__ import annotations

import email
import email.parser
import email.policy
import hashlib
import ipaddress
import os
import re
import smtplib
import socket
import ssl
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Protocol

from litwatch.watchers.errors import LitwatchError


class DeliveryError(LitwatchError):
    """The digest was not delivered; `in_doubt` when it may have been accepted all the same."""

    def __init__(
        self, message: str, *, in_doubt: bool = False, temporary: bool = True, message_refused: bool = False
    ) -> None:
        super().__init__(message)
        self.in_doubt = in_doubt
        self.temporary = temporary
        # The server refused this message for good after reading it (552 too large, 554 content):
        # another message, without the culprit, may well go through.
        self.message_refused = message_refused


class Deliverer(Protocol):
    method: str

    def deliver(self, message: bytes, sender: str, recipient: str) -> None: ...

    def describe(self) -> str: ...


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass
class SmtpDeliverer:
    """SMTP with STARTTLS or implicit TLS (certificates verified), or plain for a local relay."""

    host: str
    port: int
    security: str = "starttls"  # "none", "starttls", "tls"
    username: str | None = None
    password: str | None = None
    timeout: float = 60.0
    ca_file: str | None = None
    method: str = "smtp"

    def __post_init__(self) -> None:
        if self.username and self.security == "none" and not is_loopback(self.host):
            raise DeliveryError(
                f"smtp: refusing to send credentials to {self.host} without TLS (set security = \"starttls\" or \"tls\")",
                temporary=False,
            )

    def describe(self) -> str:
        return f"smtp://{self.host}:{self.port} ({self.security})"

    def _context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=self.ca_file)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        return context

    def _connect(self) -> smtplib.SMTP:
        try:
            if self.security == "tls":
                smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                    self.host, self.port, timeout=self.timeout, context=self._context()
                )
            else:
                smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        except ssl.SSLError as exc:
            raise DeliveryError(f"smtp {self.host}:{self.port}: TLS handshake failed: {exc.reason or exc}") from None
        except (OSError, smtplib.SMTPException) as exc:
            raise DeliveryError(f"smtp {self.host}:{self.port}: cannot connect: {_reason(exc)}") from None
        return smtp

    def _prepare(self, smtp: smtplib.SMTP) -> None:
        """EHLO, STARTTLS, login: everything before the envelope."""
        try:
            smtp.ehlo()
            if self.security == "starttls":
                if not smtp.has_extn("starttls"):
                    raise DeliveryError(
                        f"smtp {self.host}:{self.port}: the server does not offer STARTTLS; not sending in clear text"
                    )
                smtp.starttls(context=self._context())
                smtp.ehlo()
            if self.username:
                smtp.login(self.username, self.password or "")
        except DeliveryError:
            raise
        except ssl.SSLError as exc:
            raise DeliveryError(f"smtp {self.host}:{self.port}: TLS handshake failed: {exc.reason or exc}") from None
        except smtplib.SMTPAuthenticationError as exc:
            raise DeliveryError(
                f"smtp {self.host}:{self.port}: login refused ({exc.smtp_code})", temporary=False
            ) from None
        except (OSError, smtplib.SMTPException) as exc:
            raise DeliveryError(f"smtp {self.host}:{self.port}: {_reason(exc)}") from None

    def check(self) -> None:
        """Connect, start TLS and log in, then quit: the settings work (sends nothing)."""
        smtp = self._connect()
        try:
            self._prepare(smtp)
        finally:
            _quit(smtp)

    def deliver(self, message: bytes, sender: str, recipient: str) -> None:
        """One message in a session of its own: connect, EHLO, STARTTLS, login, one transaction, QUIT."""
        with SmtpSession(self) as session:
            session.deliver(message, sender, recipient)


def _text(reply: bytes | str) -> str:
    return (reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)).replace("\n", " ")


def _reason(exc: BaseException) -> str:
    if isinstance(exc, smtplib.SMTPResponseException):
        return f"{exc.smtp_code} {_text(exc.smtp_error)}"
    if isinstance(exc, socket.timeout | TimeoutError):
        return "timed out"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    return str(exc) or type(exc).__name__


def _quit(smtp: smtplib.SMTP) -> None:
    try:
        smtp.quit()
    except (OSError, smtplib.SMTPException):
        smtp.close()


@dataclass
class OutboxDeliverer:
    """Writes each digest as `NAME.eml` (the whole message) and `NAME.html` (its HTML part)."""

    folder: Path
    method: str = "outbox"

    def describe(self) -> str:
        return f"outbox {self.folder}"

    def deliver(self, message: bytes, sender: str, recipient: str) -> None:
        parsed = email.message_from_bytes(_before_attachments(message), policy=email.policy.default)
        name = outbox_name(parsed, recipient)
        html = parsed.get_body(preferencelist=("html",))
        written: list[Path] = []
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            if html is not None:
                written.append(write_atomic(self.folder / f"{name}.html", html.get_content().encode("utf-8")))
            write_atomic(self.folder / f"{name}.eml", message)
        except OSError as exc:
            # All or nothing: an .html without its .eml (a full disk) would be a second copy of
            # the digest once the items go out again under another name.
            for path in written:
                try:
                    path.unlink()
                except OSError:
                    pass
            raise DeliveryError(f"outbox {self.folder}: cannot write: {exc.strerror or exc}") from None


def _before_attachments(message: bytes) -> bytes:
    """A digest (multipart/mixed: the text and HTML, then attachments) without its attachments,
    closed properly: the part to read the HTML from, without parsing megabytes of attachments.
    Any other message is returned whole."""
    head_end = message.find(b"\r\n\r\n")
    if head_end < 0:
        return message
    head = email.parser.BytesHeaderParser(policy=email.policy.default).parsebytes(message[: head_end + 4])
    boundary = head.get_boundary() if head.get_content_type() == "multipart/mixed" else None
    if not boundary:
        return message
    delimiter = b"\r\n--" + boundary.encode("ascii", "replace")
    first = message.find(delimiter, head_end)
    second = message.find(delimiter, first + len(delimiter)) if first >= 0 else -1
    if second < 0:
        return message
    return message[:second] + delimiter + b"--\r\n"


def outbox_name(message: email.message.EmailMessage, recipient: str) -> str:
    """'2026-11-25-lab@example.org-1a2b3c4d': the date, the recipient, a hash of the Message-ID."""
    date = message["Date"].datetime.strftime("%Y-%m-%d") if message["Date"] else "undated"
    who = re.sub(r"[^A-Za-z0-9@._+-]", "_", recipient)
    digest = hashlib.sha256(str(message["Message-ID"]).encode()).hexdigest()[:8]
    return f"{date}-{who}-{digest}"


def write_atomic(path: Path, data: bytes, mode: int = 0o600) -> Path:
    """Write to a temporary file beside `path`, fsync, rename: readers see all or nothing."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return path


# -- one SMTP session for many messages -------------------------------------------------------------
# One SMTP session for many digests.
#
# `SmtpDeliverer.deliver` opens a connection, says EHLO, starts TLS, logs in, sends one message and
# quits: for five hundred readers that is five hundred TLS handshakes and logins, which mail servers
# meter.  `SmtpSession` keeps one connection open for a run's digests, one SMTP transaction (MAIL,
# RCPT, DATA) each.  Each message is still accepted or refused on its own, and recorded so by the
# caller, exactly as `deliver` does:
#
# * a refused sender or recipient: RSET, that message fails, the session goes on with the next;
# * a refused message (DATA answered with an error): that message fails, the session goes on;
# * the server closes the connection between messages (an idle timeout, a limit of messages per
#   connection, a 421 "closing"), seen before the message data was sent: a new connection, and the
#   same message is sent on it (once; it cannot have been accepted);
# * the connection breaks after the message data was sent: that message is in doubt (resent with the
#   same Message-ID by a later run); the next message opens a new connection;
# * the server cannot be reached, TLS or the login fails: that message fails, and so do the rest of
#   the session's at once, with the same error (not one timeout per reader).
#
# `delivery_session(deliverer)` gives a session for an `SmtpDeliverer` and the deliverer itself for
# anything else (the outbox), so callers need not care.


class _Closed(Exception):
    """The connection was found closed before the message data was sent: try a new one."""


class SmtpSession:
    """An `SmtpDeliverer`'s connection kept open across messages (see the module's notes)."""

    def __init__(self, deliverer: SmtpDeliverer) -> None:
        self.deliverer = deliverer
        self.method = deliverer.method
        self.connections = 0  # connections opened (for logs and tests)
        self.messages = 0  # messages the server accepted
        self._smtp: smtplib.SMTP | None = None
        self._broken: DeliveryError | None = None  # the server cannot be reached: fail fast

    def describe(self) -> str:
        return self.deliverer.describe()

    def __enter__(self) -> SmtpSession:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        """QUIT (or just close) the open connection, if any."""
        if self._smtp is not None:
            _quit(self._smtp)
            self._smtp = None

    def _drop(self) -> None:
        if self._smtp is not None:
            try:
                self._smtp.close()
            except OSError:
                pass
            self._smtp = None

    def _open(self) -> smtplib.SMTP:
        if self._broken is not None:
            raise DeliveryError(str(self._broken), temporary=self._broken.temporary)
        if self._smtp is None:
            try:
                smtp = self.deliverer._connect()
                try:
                    self.deliverer._prepare(smtp)
                except BaseException:
                    smtp.close()
                    raise
            except DeliveryError as exc:
                self._broken = exc
                raise
            self._smtp = smtp
            self.connections += 1
        return self._smtp

    def deliver(self, message: bytes, sender: str, recipient: str) -> None:
        """Send one message in this session; raises `DeliveryError` as `SmtpDeliverer.deliver` does."""
        for attempt in (1, 2):
            smtp = self._open()
            try:
                self._transaction(smtp, message, sender, recipient)
            except _Closed as exc:
                self._drop()
                if attempt == 2:
                    raise DeliveryError(f"smtp {self.deliverer.host}:{self.deliverer.port}: {exc}") from None
                continue
            self.messages += 1
            return

    def _reset(self, smtp: smtplib.SMTP) -> None:
        """RSET after a refused envelope, so the next message starts clean (a new connection if
        the server does not answer it)."""
        try:
            code, _ = smtp.rset()
        except (OSError, smtplib.SMTPException):
            code = 0
        if code != 250:
            self._drop()

    def _transaction(self, smtp: smtplib.SMTP, message: bytes, sender: str, recipient: str) -> None:
        try:
            code, reply = smtp.mail(sender)
            if code == 421:
                raise _Closed(f"{code} {_text(reply)}")
            if code != 250:
                self._reset(smtp)
                raise DeliveryError(f"smtp: sender {sender} refused: {code} {_text(reply)}", temporary=code < 500)
            code, reply = smtp.rcpt(recipient)
            if code == 421:
                raise _Closed(f"{code} {_text(reply)}")
            if code not in (250, 251):
                self._reset(smtp)
                raise DeliveryError(f"smtp: recipient {recipient} refused: {code} {_text(reply)}", temporary=code < 500)
        except (smtplib.SMTPServerDisconnected, OSError) as exc:
            raise _Closed(_reason(exc)) from None
        except smtplib.SMTPException as exc:  # a reply smtplib could not read: start afresh
            raise _Closed(_reason(exc)) from None
        try:
            code, reply = smtp.data(message)
            if code != 250:  # smtplib returns the final reply to the message data, never raises it
                raise smtplib.SMTPDataError(code, reply)
        except smtplib.SMTPDataError as exc:
            if exc.smtp_code == 421:
                self._drop()
            else:  # DATA itself may have been refused, leaving the envelope open: start clean
                self._reset(smtp)
            raise DeliveryError(
                f"smtp: message to {recipient} refused: {exc.smtp_code} {_text(exc.smtp_error)}",
                temporary=exc.smtp_code < 500,
                message_refused=exc.smtp_code >= 500,
            ) from None
        except (OSError, smtplib.SMTPException) as exc:
            self._drop()
            raise DeliveryError(
                f"smtp {self.deliverer.host}:{self.deliverer.port}: connection lost after the message was sent "
                f"({_reason(exc)}); it will be resent with the same Message-ID",
                in_doubt=True,
            ) from None


@contextmanager
def delivery_session(deliverer: Deliverer) -> Iterator[Deliverer]:
    """A session of many messages: an `SmtpSession` for SMTP (closed at the end), else `deliverer`."""
    if not isinstance(deliverer, SmtpDeliverer):
        yield deliverer
        return
    with SmtpSession(deliverer) as session:
        yield session
