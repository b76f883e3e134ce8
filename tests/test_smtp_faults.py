"""The mail server misbehaving: refused connections, silence, temporary and permanent refusals,
TLS failures.  Every test runs `litwatch run` against a real SMTP server (aiosmtpd) or a socket
that never answers, on loopback; nothing is ever lost, and nothing is sent in clear text when TLS
was asked for."""

from __future__ import annotations

import asyncio
import socket
import sqlite3
import subprocess
import threading
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiosmtpd.smtp import AuthResult, LoginPassword

from tests.conftest import (
    Q_BTK,
    SMTP_PASSWORD,
    Received,
    SmtpHandler,
    SmtpServer,
    add_itp_article,
    free_port,
    scenario_config,
)
from tests.reliability_helpers import baseline, fast_retries, pmids_in

A, B, C = "haematology@example.org", "pharmacy@example.org", "ward7@example.org"


@pytest.fixture(autouse=True)
def _fast(monkeypatch: pytest.MonkeyPatch, ncbi) -> None:  # noqa: ANN001
    fast_retries(monkeypatch, ncbi)  # these tests are about the mail server, not NCBI's pace


def smtp_config(
    folder: Path,
    ncbi,  # noqa: ANN001
    port: int,
    *,
    security: str = "none",
    timeout: float = 2,
    recipients: list[str] | None = None,
    smtp_extra: str = "",
) -> Path:
    block = (
        f'[smtp]\nhost = "127.0.0.1"\nport = {port}\nsecurity = "{security}"\ntimeout = {timeout}\n{smtp_extra}\n'
    )
    return scenario_config(folder, ncbi, recipients=recipients or [A], extra=block)


def pending(folder: Path) -> set[tuple[str, str]]:
    db = sqlite3.connect(folder / "litwatch.db")
    try:
        return set(db.execute("SELECT recipient, pmid FROM queue WHERE delivery_id IS NULL AND kind = 'hit'"))
    finally:
        db.close()


def statuses(folder: Path) -> list[str]:
    db = sqlite3.connect(folder / "litwatch.db")
    try:
        return [s for (s,) in db.execute("SELECT status FROM deliveries ORDER BY id")]
    finally:
        db.close()


def news(ncbi, base: list[str], pmid: str = "41100001") -> None:  # noqa: ANN001
    add_itp_article(ncbi, pmid, days_ago=0)
    ncbi.add_search(Q_BTK, base + [pmid])


@dataclass
class RecordingHandler(SmtpHandler):
    """Also records the commands it saw, and can stall before answering the message data."""

    commands: list[str] = field(default_factory=list)
    stall_after_data: float = 0.0

    async def handle_EHLO(self, server, session, envelope, hostname, responses):  # noqa: N802, ANN001, ANN201
        self.commands.append("EHLO")
        session.host_name = hostname
        return responses

    async def handle_MAIL(self, server, session, envelope, address, mail_options):  # noqa: N802, ANN001, ANN201
        self.commands.append("MAIL")
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802, ANN001, ANN201
        if self.stall_after_data:
            delay, self.stall_after_data = self.stall_after_data, 0.0
            with self.lock:  # accepted, but the answer comes too late for the client
                self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content))
            await asyncio.sleep(delay)
            return "250 accepted (late)"
        return await super().handle_DATA(server, session, envelope)


def recording_server(**kwargs) -> SmtpServer:  # noqa: ANN003
    server = SmtpServer(**kwargs)
    server.handler = RecordingHandler()
    return server.start()


class SilentServer:
    """Accepts TCP connections and never says a word."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.conns: list[socket.socket] = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(conn)

    def close(self) -> None:
        self.sock.close()
        for conn in self.conns:
            conn.close()


# -- the server cannot be reached ------------------------------------------------------------------


def test_connection_refused_then_delivered_when_the_server_is_back(tmp_path: Path, ncbi, litwatch) -> None:  # noqa: ANN001
    base = baseline(ncbi)
    port = free_port()
    cfg = smtp_config(tmp_path, ncbi, port)
    r = litwatch("run", "--config", str(cfg))
    assert r.code == 1
    assert "cannot connect: connection refused" in r.err
    news(ncbi, base)
    r = litwatch("run", "--config", str(cfg))
    assert r.code == 1
    assert pending(tmp_path) == {(A, "41100001")}

    server = SmtpServer()
    server.port = port
    server.start()
    try:
        r = litwatch("run", "--config", str(cfg))
        assert r.code == 0, r.err
        (msg,) = server.messages()  # the first-run notes and the news, in one digest
        assert pmids_in(msg) == {"41100001"} and "First run" in msg.get_body(("plain",)).get_content()
        assert statuses(tmp_path)[-1] == "sent" and pending(tmp_path) == set()
    finally:
        server.stop()


def test_a_server_that_never_answers_times_out(tmp_path: Path, ncbi, litwatch) -> None:  # noqa: ANN001
    base = baseline(ncbi)
    silent = SilentServer()
    try:
        cfg = smtp_config(tmp_path, ncbi, silent.port, timeout=0.5)
        news(ncbi, base)
        r = litwatch("run", "--config", str(cfg))
        assert r.code == 1
        assert "cannot connect" in r.err and "timed out" in r.err
        assert statuses(tmp_path) == ["failed"], "never accepted: closed, its items back in the queue"
    finally:
        silent.close()
    server = SmtpServer().start()
    try:
        cfg.write_text(cfg.read_text().replace(f"port = {silent.port}", f"port = {server.port}"))
        r = litwatch("run", "--config", str(cfg))
        assert r.code == 0, r.err
        assert len(server.received) == 1
    finally:
        server.stop()


def test_no_answer_after_the_message_data_is_in_doubt_and_resent_with_the_same_message_id(
    tmp_path: Path, ncbi, litwatch  # noqa: ANN001
) -> None:
    base = baseline(ncbi)
    server = recording_server()
    try:
        cfg = smtp_config(tmp_path, ncbi, server.port, timeout=0.5)
        assert litwatch("run", "--config", str(cfg)).code == 0
        news(ncbi, base)
        server.received.clear()
        server.handler.stall_after_data = 1.5
        r = litwatch("run", "--config", str(cfg))
        assert r.code == 1
        assert "connection lost after the message was sent" in r.err and "same Message-ID" in r.err
        assert statuses(tmp_path)[-1] == "sending"
        r = litwatch("run", "--config", str(cfg))
        assert r.code == 0, r.err
        first, second = server.received
        assert first.data == second.data, "resent unchanged"
        assert first.message["Message-ID"] == second.message["Message-ID"]
        assert statuses(tmp_path)[-1] == "sent"
        assert litwatch("run", "--config", str(cfg)).code == 0
        assert len(server.received) == 2
    finally:
        server.stop()


def test_an_in_doubt_digest_refused_on_resend_is_resent_as_it_is_later(tmp_path: Path, ncbi, litwatch) -> None:  # noqa: ANN001
    base = baseline(ncbi)
    server = recording_server()
    try:
        cfg = smtp_config(tmp_path, ncbi, server.port, timeout=0.5)
        assert litwatch("run", "--config", str(cfg)).code == 0
        news(ncbi, base)
        server.received.clear()
        server.handler.stall_after_data = 1.5  # taken, but the answer comes too late
        assert litwatch("run", "--config", str(cfg)).code == 1
        server.handler.refuse[A] = "450 4.2.1 Mailbox busy, try later"
        r = litwatch("run", "--config", str(cfg))
        assert r.code == 1 and "450" in r.err
        assert statuses(tmp_path)[-1] == "sending", "still in doubt: it may be with the recipient already"
        server.handler.refuse.clear()
        assert litwatch("run", "--config", str(cfg)).code == 0
        ids = {got.message["Message-ID"] for got in server.received if "41100001" in pmids_in(got.message)}
        assert len(ids) == 1, "the article reached the recipient in one message only"
        assert pending(tmp_path) == set() and set(statuses(tmp_path)) == {"sent"}
    finally:
        server.stop()


# -- refusals ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("stage", ["RCPT", "DATA"])
@pytest.mark.parametrize("reply", ["421 4.3.2 Service shutting down, try later", "450 4.2.1 Mailbox busy, try later"])
def test_temporary_refusal_is_retried_next_run(tmp_path: Path, ncbi, litwatch, smtp, stage: str, reply: str) -> None:  # noqa: ANN001
    base = baseline(ncbi)
    cfg = smtp_config(tmp_path, ncbi, smtp.port)
    assert litwatch("run", "--config", str(cfg)).code == 0
    news(ncbi, base)
    smtp.received.clear()
    if stage == "RCPT":
        smtp.handler.refuse[A] = reply
    else:
        smtp.handler.data_reply = reply
    r = litwatch("run", "--config", str(cfg))
    assert r.code == 1
    assert reply.split()[0] in r.err and A in r.err
    assert smtp.received == []
    assert statuses(tmp_path)[-1] == "failed" and pending(tmp_path) == {(A, "41100001")}

    smtp.handler.refuse.clear()
    smtp.handler.data_reply = None
    r = litwatch("run", "--config", str(cfg))
    assert r.code == 0, r.err
    assert [pmids_in(m) for m in smtp.messages()] == [{"41100001"}]
    assert pending(tmp_path) == set()


def test_one_recipient_refused_the_others_still_receive(tmp_path: Path, ncbi, litwatch, smtp) -> None:  # noqa: ANN001
    base = baseline(ncbi)
    cfg = smtp_config(tmp_path, ncbi, smtp.port, recipients=[A, B, C])
    assert litwatch("run", "--config", str(cfg)).code == 0
    news(ncbi, base)
    smtp.received.clear()
    smtp.handler.refuse[B] = "550 5.1.1 <pharmacy@example.org>: Recipient address rejected: User unknown"
    r = litwatch("run", "--config", str(cfg))
    assert r.code == 1
    assert sorted(rc for got in smtp.received for rc in got.rcpt_tos) == [A, C]
    assert all(pmids_in(m) == {"41100001"} for m in smtp.messages())
    refused = [line for line in r.err.splitlines() if B in line]
    assert refused and all("550" in line for line in refused), r.err
    assert A not in r.err and C not in r.err
    assert pending(tmp_path) == {(B, "41100001")}

    smtp.handler.refuse.clear()
    smtp.received.clear()
    r = litwatch("run", "--config", str(cfg))
    assert r.code == 0, r.err
    assert [(got.rcpt_tos, pmids_in(got.message)) for got in smtp.received] == [([B], {"41100001"})]


# -- TLS -------------------------------------------------------------------------------------------


def test_tls_against_a_plain_server_fails_and_never_falls_back(tmp_path: Path, ncbi, litwatch) -> None:  # noqa: ANN001
    baseline(ncbi)
    server = recording_server()
    try:
        cfg = smtp_config(
            tmp_path, ncbi, server.port, security="tls",
            smtp_extra='username = "lab"\npassword_env = "LITWATCH_SMTP_PASSWORD"',
        )
        r = litwatch("run", "--config", str(cfg))
        assert r.code == 1
        assert "TLS handshake failed" in r.err
        assert server.handler.commands == [], "not one SMTP command in clear text"
        assert server.received == []
    finally:
        server.stop()


def test_starttls_not_offered_refuses_to_send(tmp_path: Path, ncbi, litwatch) -> None:  # noqa: ANN001
    baseline(ncbi)
    server = recording_server(auth_require_tls=False, authenticator=lambda *a: AuthResult(success=True, handled=False))
    try:
        cfg = smtp_config(
            tmp_path, ncbi, server.port, security="starttls",
            smtp_extra='username = "lab"\npassword_env = "LITWATCH_SMTP_PASSWORD"',
        )
        r = litwatch("run", "--config", str(cfg))
        assert r.code == 1
        assert "does not offer STARTTLS; not sending in clear text" in r.err
        assert server.handler.commands == ["EHLO"], "no login, no envelope"
        assert server.received == []
        assert statuses(tmp_path) == ["failed"] and pending(tmp_path) == set()  # the first-run notes wait
    finally:
        server.stop()


# -- TLS that works: a self-signed certificate made for the test -----------------------------------


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("certs")
    out = {}
    for name in ("server", "other"):
        key, cert = folder / f"{name}.key", folder / f"{name}.pem"
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=127.0.0.1",
             "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
            check=True, capture_output=True,
        )  # fmt: skip
        out[name], out[f"{name}_key"] = cert, key
    return out


def server_context(certs: dict[str, Path]):  # noqa: ANN201
    import ssl

    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(certs["server"], certs["server_key"])
    return ctx


class Authenticator:
    def __init__(self) -> None:
        self.seen: list[tuple[str, bytes, bytes, bool]] = []

    def __call__(self, server, session, envelope, mechanism, auth_data):  # noqa: ANN001, ANN204
        assert isinstance(auth_data, LoginPassword)
        self.seen.append((mechanism, auth_data.login, auth_data.password, session.ssl is not None))
        return AuthResult(success=auth_data.password == SMTP_PASSWORD.encode(), handled=False)


LOGIN = 'username = "lab"\npassword_env = "LITWATCH_SMTP_PASSWORD"\nca_file = "{ca}"'


def test_starttls_with_a_verified_certificate_and_login(tmp_path: Path, ncbi, litwatch, certs) -> None:  # noqa: ANN001
    baseline(ncbi)
    auth = Authenticator()
    server = recording_server(tls_context=server_context(certs), require_starttls=True, authenticator=auth, auth_required=True)
    try:
        cfg = smtp_config(tmp_path, ncbi, server.port, security="starttls", smtp_extra=LOGIN.format(ca=certs["server"]))
        r = litwatch("run", "--config", str(cfg))
        assert r.code == 0, r.err
        assert len(server.received) == 1
        assert [(login, password, tls) for _m, login, password, tls in auth.seen] == [
            (b"lab", SMTP_PASSWORD.encode(), True)
        ], "the password went over TLS only"
    finally:
        server.stop()


def test_implicit_tls_with_a_verified_certificate(tmp_path: Path, ncbi, litwatch, certs) -> None:  # noqa: ANN001
    baseline(ncbi)
    server = recording_server(ssl_context=server_context(certs))
    try:
        cfg = smtp_config(tmp_path, ncbi, server.port, security="tls", smtp_extra=f'ca_file = "{certs["server"]}"')
        r = litwatch("run", "--config", str(cfg))
        assert r.code == 0, r.err
        assert len(server.received) == 1
    finally:
        server.stop()


@pytest.mark.parametrize("security", ["starttls", "tls"])
def test_an_untrusted_certificate_is_refused(tmp_path: Path, ncbi, litwatch, certs, security: str) -> None:  # noqa: ANN001
    baseline(ncbi)
    auth = Authenticator()
    kwargs = {"ssl_context": server_context(certs)} if security == "tls" else {"tls_context": server_context(certs)}
    server = recording_server(authenticator=auth, **kwargs)
    try:
        cfg = smtp_config(tmp_path, ncbi, server.port, security=security, smtp_extra=LOGIN.format(ca=certs["other"]))
        r = litwatch("run", "--config", str(cfg))
        assert r.code == 1
        assert "TLS handshake failed" in r.err and "CERTIFICATE_VERIFY_FAILED" in r.err
        assert auth.seen == [] and server.received == []
        assert "MAIL" not in server.handler.commands
    finally:
        server.stop()


# -- permanent refusals of a message (issue 13, A2) --------------------------------------------------

TOO_LARGE = "552 5.3.4 Message size exceeds fixed maximum message size"


def _blob_bytes(folder: Path) -> dict[str, int]:
    db = sqlite3.connect(folder / "litwatch.db")
    try:
        return dict(db.execute("SELECT status, SUM(LENGTH(message)) FROM deliveries GROUP BY status"))
    finally:
        db.close()


def test_a_message_refused_for_good_sets_its_culprit_aside_and_delivers_the_rest(tmp_path: Path, ncbi, litwatch, smtp) -> None:  # noqa: ANN001
    """One item the server will never take (552 for every message holding it) among five: the
    other four are delivered in this run, the culprit is set aside and the admin told; the next
    day's news goes out; no refused message is kept in the store."""
    base = baseline(ncbi)
    cfg = scenario_config(tmp_path, ncbi, recipients=[A], digest_extra='admin = "it@example.org"',
                          extra=f'[smtp]\nhost = "127.0.0.1"\nport = {smtp.port}\nsecurity = "none"\ntimeout = 2\n')
    assert litwatch("run", "--config", str(cfg)).code == 0
    new = [str(41100001 + i) for i in range(5)]
    for pmid in new:
        add_itp_article(ncbi, pmid, days_ago=0, title="A hostile giant CULPRIT record" if pmid == "41100004" else None)
    ncbi.add_search(Q_BTK, base + new)
    smtp.received.clear()
    smtp.handler.refuse_containing["CULPRIT"] = TOO_LARGE
    r = litwatch("run", "--config", str(cfg))
    assert r.code == 1
    to_reader = [got.message for got in smtp.received if got.rcpt_tos == [A]]
    assert set().union(*(pmids_in(m) for m in to_reader)) == set(new) - {"41100004"}
    assert sum(len(pmids_in(m)) for m in to_reader) == 4, "each delivered once"
    alerts = [got.message for got in smtp.received if got.rcpt_tos == ["it@example.org"]]
    assert len(alerts) == 1 and "41100004" in alerts[0].get_body().get_content()
    assert "set aside" in str(alerts[0]["Subject"])
    line = [ln for ln in r.err.splitlines() if "41100004" in ln]
    assert line and "552" in line[0] and "Traceback" not in r.err
    assert pending(tmp_path) == set()
    assert _blob_bytes(tmp_path).get("failed", 0) == 0 and _blob_bytes(tmp_path).get("set_aside", 0) == 0

    # the next day: the culprit is not tried again, the news goes out
    smtp.received.clear()
    news(ncbi, base + new, "41100010")
    r = litwatch("run", "--config", str(cfg))
    assert r.code == 0, r.err
    assert [pmids_in(got.message) for got in smtp.received] == [{"41100010"}]


def test_refused_attempts_do_not_grow_the_store(tmp_path: Path, ncbi, litwatch, smtp) -> None:  # noqa: ANN001
    """A digest refused for now, run after run: each attempt is recorded, no copy of its message kept."""
    base = baseline(ncbi)
    cfg = smtp_config(tmp_path, ncbi, smtp.port)
    assert litwatch("run", "--config", str(cfg)).code == 0
    news(ncbi, base)
    smtp.handler.data_reply = "451 4.3.0 try again later"
    for _ in range(3):
        assert litwatch("run", "--config", str(cfg)).code == 1
    assert statuses(tmp_path)[-3:] == ["failed"] * 3
    assert _blob_bytes(tmp_path).get("failed", 0) == 0
