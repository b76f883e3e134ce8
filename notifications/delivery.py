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
from dataclasses import dataclass
from pathlib import Path
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
        smtp = self._connect()
        try:
            self._prepare(smtp)
            try:
                code, reply = smtp.mail(sender)
                if code != 250:
                    raise DeliveryError(f"smtp: sender {sender} refused: {code} {_text(reply)}", temporary=code < 500)
                code, reply = smtp.rcpt(recipient)
                if code not in (250, 251):
                    raise DeliveryError(
                        f"smtp: recipient {recipient} refused: {code} {_text(reply)}", temporary=code < 500
                    )
            except (OSError, smtplib.SMTPException) as exc:
                raise DeliveryError(f"smtp {self.host}:{self.port}: {_reason(exc)}") from None
            try:
                code, reply = smtp.data(message)
                if code != 250:  # smtplib returns the final reply to the message data, never raises it
                    raise smtplib.SMTPDataError(code, reply)
            except smtplib.SMTPDataError as exc:
                raise DeliveryError(
                    f"smtp: message to {recipient} refused: {exc.smtp_code} {_text(exc.smtp_error)}",
                    temporary=exc.smtp_code < 500,
                    message_refused=exc.smtp_code >= 500,
                ) from None
            except (OSError, smtplib.SMTPException) as exc:
                raise DeliveryError(
                    f"smtp {self.host}:{self.port}: connection lost after the message was sent ({_reason(exc)}); "
                    "it will be resent with the same Message-ID",
                    in_doubt=True,
                ) from None
        finally:
            _quit(smtp)


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
