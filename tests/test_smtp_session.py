"""Many digests in one SMTP session (issue 17): what a real SMTP server (aiosmtpd on loopback) saw,
connections against messages; each message accepted or refused on its own; a connection the
server closes between messages is replaced; digests built, recorded and sent one at a time."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as AioSMTP
from aiosmtpd.smtp import Envelope, Session

from litwatch.notifications.delivery import DeliveryError, SmtpDeliverer, SmtpSession, delivery_session
from tests.conftest import baseline, free_port, scenario_config

READERS = [f"reader{k:02d}@example.org" for k in range(24)]


@dataclass
class Counting:
    """An SMTP handler that counts connections and transactions and can misbehave on cue."""

    connections: int = 0
    accepted: list[str] = field(default_factory=list)  # recipients whose message was accepted
    refuse_rcpt: dict[str, str] = field(default_factory=dict)
    refuse_data: dict[str, str] = field(default_factory=dict)
    per_connection: int | None = None  # close the connection (421) after this many messages
    vanish_on_data: set[str] = field(default_factory=set)  # close without answering the DATA
    on_data: Callable[[str], None] | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_MAIL(self, server: AioSMTP, session: Session, envelope: Envelope, address: str, options: Any) -> str:  # noqa: N802
        done = getattr(session, "done", 0)
        if self.per_connection is not None and done >= self.per_connection:
            server.loop.call_soon(server.transport.close)
            return "421 4.7.0 too many messages in this connection, closing"
        envelope.mail_from = address
        return "250 OK"

    async def handle_RCPT(self, server: AioSMTP, session: Session, envelope: Envelope, address: str, options: Any) -> str:  # noqa: N802
        if address in self.refuse_rcpt:
            return self.refuse_rcpt[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: AioSMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802
        rcpt = envelope.rcpt_tos[0]
        if self.on_data is not None:
            self.on_data(rcpt)
        if rcpt in self.vanish_on_data:
            self.vanish_on_data.discard(rcpt)
            server.transport.close()
            return "250 never seen"
        if rcpt in self.refuse_data:
            return self.refuse_data[rcpt]
        session.done = getattr(session, "done", 0) + 1  # type: ignore[attr-defined]
        with self.lock:
            self.accepted.append(rcpt)
        return "250 Message accepted for delivery"


class CountingController(Controller):
    def factory(self) -> AioSMTP:
        self.handler.connections += 1
        return super().factory()


@pytest.fixture
def server() -> Iterator[tuple[Counting, int]]:
    handler = Counting()
    port = free_port()
    controller = CountingController(handler, hostname="127.0.0.1", port=port)
    controller.start()
    handler.connections = 0  # Controller.start connects once to see that the server is up
    yield handler, port
    controller.stop()


@dataclass
class Port:
    port: int


def config(tmp_path: Path, ncbi, port: int) -> Path:  # noqa: ANN001
    baseline(ncbi)
    return scenario_config(tmp_path, ncbi, smtp=Port(port), recipients=READERS)  # type: ignore[arg-type]


def deliveries(cfg: Path) -> dict[str, str]:
    with sqlite3.connect(cfg.parent / "litwatch.db") as db:
        return dict(db.execute("SELECT recipient, status FROM deliveries ORDER BY id"))


def test_one_session_carries_every_digest(tmp_path: Path, ncbi, litwatch, server) -> None:  # noqa: ANN001
    handler, port = server
    cfg = config(tmp_path, ncbi, port)
    r = litwatch("run", "--config", str(cfg))
    assert r.code == 0, r.err
    assert sorted(handler.accepted) == READERS, "every reader's digest, once"
    assert handler.connections == 1, "one connection for 24 messages"
    assert set(deliveries(cfg).values()) == {"sent"}


def test_a_refused_message_among_many_fails_alone(tmp_path: Path, ncbi, litwatch, server) -> None:  # noqa: ANN001
    handler, port = server
    handler.refuse_rcpt[READERS[3]] = "550 5.1.1 no such mailbox"
    handler.refuse_data[READERS[7]] = "452 4.3.1 insufficient system storage"
    handler.refuse_rcpt[READERS[11]] = "450 4.2.1 mailbox busy, try later"
    cfg = config(tmp_path, ncbi, port)
    r = litwatch("run", "--config", str(cfg))
    assert r.code == 1, "a failed digest fails the run"
    assert sorted(handler.accepted) == sorted(set(READERS) - {READERS[3], READERS[7], READERS[11]})
    assert handler.connections == 1, "a refusal is followed by RSET on the same connection"
    status = deliveries(cfg)
    assert [status[x] for x in (READERS[3], READERS[7], READERS[11])] == ["failed"] * 3
    assert sum(s == "sent" for s in status.values()) == len(READERS) - 3
    assert "digests_sent=21 digests_failed=3" in r.err
    with sqlite3.connect(cfg.parent / "litwatch.db") as db:
        waiting = {x for (x,) in db.execute("SELECT DISTINCT recipient FROM queue WHERE delivery_id IS NULL")}
    assert waiting == {READERS[3], READERS[7], READERS[11]}, "their items wait for the next run"


def test_a_server_that_closes_the_connection_between_messages(tmp_path: Path, ncbi, litwatch, server) -> None:  # noqa: ANN001
    handler, port = server
    handler.per_connection = 10
    cfg = config(tmp_path, ncbi, port)
    r = litwatch("run", "--config", str(cfg))
    assert r.code == 0, r.err
    assert sorted(handler.accepted) == READERS, "no message lost or sent twice"
    assert handler.connections == 3, "24 messages, 10 a connection"


def test_a_connection_lost_after_the_data_leaves_that_digest_in_doubt_only(
    tmp_path: Path, ncbi, litwatch, server  # noqa: ANN001
) -> None:
    handler, port = server
    handler.vanish_on_data.add(READERS[5])
    cfg = config(tmp_path, ncbi, port)
    r = litwatch("run", "--config", str(cfg))
    assert r.code == 1
    status = deliveries(cfg)
    assert status[READERS[5]] == "sending", "in doubt: resent as it is by the next run"
    assert sorted(handler.accepted) == sorted(set(READERS) - {READERS[5]})
    assert handler.connections == 2, "the next digest opens a new connection"

    r = litwatch("run", "--config", str(cfg))
    assert deliveries(cfg)[READERS[5]] == "sent"
    assert sorted(handler.accepted) == READERS


def test_digests_are_built_recorded_and_sent_one_at_a_time(tmp_path: Path, ncbi, litwatch, server) -> None:  # noqa: ANN001
    """When the server receives a digest, it is the newest delivery recorded ("sending"), every
    earlier one is already marked sent, and no later one has been recorded (the next digest may
    be composed while this one is sent, but it is recorded only after this one's outcome)."""
    handler, port = server
    cfg = config(tmp_path, ncbi, port)
    seen: list[tuple[str, list[tuple[str, str]]]] = []

    def look(rcpt: str) -> None:
        with sqlite3.connect(cfg.parent / "litwatch.db") as db:
            seen.append((rcpt, list(db.execute("SELECT recipient, status FROM deliveries ORDER BY id"))))

    handler.on_data = look
    r = litwatch("run", "--config", str(cfg))
    assert r.code == 0, r.err
    assert len(seen) == len(READERS)
    for k, (rcpt, rows) in enumerate(seen):
        assert len(rows) == k + 1, "nothing recorded ahead of the message being sent"
        assert rows[-1] == (rcpt, "sending")
        assert all(status == "sent" for _, status in rows[:-1])


def test_a_server_that_cannot_be_reached_fails_the_session_at_once() -> None:
    port = free_port()  # nothing listens
    deliverer = SmtpDeliverer(host="127.0.0.1", port=port, security="none", timeout=5)
    with SmtpSession(deliverer) as session:
        for _ in range(3):
            with pytest.raises(DeliveryError, match="cannot connect"):
                session.deliver(b"Subject: x\r\n\r\nx\r\n", "a@example.org", "b@example.org")
        assert session.connections == 0


def test_the_outbox_needs_no_session(tmp_path: Path) -> None:
    from litwatch.notifications.delivery import OutboxDeliverer

    outbox = OutboxDeliverer(tmp_path)
    with delivery_session(outbox) as sending:
        assert sending is outbox
