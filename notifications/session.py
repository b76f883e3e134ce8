"""One SMTP session for many digests.

`SmtpDeliverer.deliver` opens a connection, says EHLO, starts TLS, logs in, sends one message and
quits: for five hundred readers that is five hundred TLS handshakes and logins, which mail servers
meter.  `SmtpSession` keeps one connection open for a run's digests, one SMTP transaction (MAIL,
RCPT, DATA) each.  Each message is still accepted or refused on its own, and recorded so by the
caller, exactly as `deliver` does:

* a refused sender or recipient: RSET, that message fails, the session goes on with the next;
* a refused message (DATA answered with an error): that message fails, the session goes on;
* the server closes the connection between messages (an idle timeout, a limit of messages per
  connection, a 421 "closing"), seen before the message data was sent: a new connection, and the
  same message is sent on it (once; it cannot have been accepted);
* the connection breaks after the message data was sent: that message is in doubt (resent with the
  same Message-ID by a later run); the next message opens a new connection;
* the server cannot be reached, TLS or the login fails: that message fails, and so do the rest of
  the session's at once, with the same error (not one timeout per reader).

`delivery_session(deliverer)` gives a session for an `SmtpDeliverer` and the deliverer itself for
anything else (the outbox), so callers need not care.
"""

from __future__ import annotations

import smtplib
from collections.abc import Iterator
from contextlib import contextmanager
from types import TracebackType

from litwatch.notifications.delivery import (
    Deliverer,
    DeliveryError,
    SmtpDeliverer,
    _quit,
    _reason,
    _text,
)


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
