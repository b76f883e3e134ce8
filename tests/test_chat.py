"""Chat notifications ([[notify]]) through Apprise, against a webhook receiver on loopback:
a short summary after the digests; a failed message fails the run and is sent by the next one,
once; the URL (a secret) is never shown."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.conftest import Q_BTK, Q_RILZA, TRACKED, add_itp_article, db_rows, scenario_config, seed_tracked

TOKEN = "T0KEN-s3cret-9f8e7d"
BASE = [str(41000000 + i) for i in range(3)]


class Receiver:
    """A webhook endpoint: records each JSON body; answers `status`."""

    def __init__(self) -> None:
        self.bodies: list[dict] = []
        self.paths: list[str] = []
        self.status = 200
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                receiver.paths.append(self.path)
                if receiver.status == 200:
                    receiver.bodies.append(json.loads(body))
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"json://127.0.0.1:{self.server.server_address[1]}/hooks/{TOKEN}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def setup(tmp_path: Path, ncbi, smtp, notify: str, store_url: str | None = None) -> Path:  # noqa: ANN001
    for i, pmid in enumerate(BASE):
        add_itp_article(ncbi, pmid, days_ago=400 + i)
    ncbi.add_search(Q_BTK, BASE)
    ncbi.add_search(Q_RILZA, BASE[:1])
    seed_tracked(ncbi, citing=[BASE[0]])
    return scenario_config(tmp_path, ncbi, smtp=smtp, extra=notify, store_url=store_url)


def news(ncbi, pmids: list[str], citing: list[str] = ()) -> None:  # noqa: ANN001
    for i, pmid in enumerate(pmids):
        add_itp_article(ncbi, pmid, days_ago=1 + i, title=f"Zanubrutinib [{pmid}] in ITP")
    for pmid in citing:
        add_itp_article(ncbi, pmid, days_ago=1, title=f"A paper citing the case series ({pmid})")
    ncbi.add_search(Q_BTK, list(dict.fromkeys(ncbi.searches[Q_BTK] + pmids)))
    ncbi.citedin[TRACKED] = list(dict.fromkeys(ncbi.citedin[TRACKED] + list(citing)))


def test_summary_after_the_digests(tmp_path: Path, ncbi, smtp, receiver, litwatch, store_url) -> None:  # noqa: ANN001
    cfg = setup(tmp_path, ncbi, smtp, f'[[notify]]\nname = "lab chat"\nurl = "{receiver.url}"\n', store_url)
    r = litwatch("run", "--config", str(cfg))
    assert r.code == 0, r.err
    assert receiver.bodies == [], "a baseline run has nothing to tell"

    news(ncbi, [str(41100001 + i) for i in range(6)], citing=["41100100"])
    r = litwatch("run", "--config", str(cfg), "-vv")
    assert r.code == 0, r.err
    assert len(smtp.received) == 2 and len(receiver.bodies) == 1
    body = receiver.bodies[0]
    assert receiver.paths == [f"/hooks/{TOKEN}"]
    assert body["title"] == "litwatch: 6 new articles, 1 new citation"
    message = body["message"]
    assert message.count("https://pubmed.ncbi.nlm.nih.gov/") == 5, "the top 5, linked"
    assert "[A paper citing the case series (41100100)](https://pubmed.ncbi.nlm.nih.gov/41100100/)" in message
    assert "(cites PMID 39973148)" in message
    assert "[Zanubrutinib \\[41100001\\] in ITP](https://pubmed.ncbi.nlm.nih.gov/41100001/)" in message
    assert "and 2 more in the e-mail digest" in message
    assert "chat message lab chat sent" in r.err
    assert TOKEN not in r.err + r.out, "the URL holds a secret: never logged, even with -vv"

    # nothing new: nothing sent
    assert litwatch("run", "--config", str(cfg)).code == 0
    assert len(receiver.bodies) == 1


def test_a_failed_message_fails_the_run_and_is_sent_once_by_the_next(
    tmp_path: Path, ncbi, smtp, receiver, litwatch, monkeypatch  # noqa: ANN001
) -> None:
    monkeypatch.setenv("LAB_WEBHOOK", receiver.url)
    cfg = setup(tmp_path, ncbi, smtp, '[[notify]]\nname = "lab chat"\nurl_env = "LAB_WEBHOOK"\n')
    assert litwatch("run", "--config", str(cfg)).code == 0

    news(ncbi, ["41100001"])
    receiver.status = 500
    r = litwatch("run", "--config", str(cfg))
    assert r.code == 1
    assert "chat message lab chat" in r.err and "not delivered" in r.err
    assert TOKEN not in r.err
    assert len(receiver.paths) >= 1 and receiver.bodies == []
    assert len(smtp.received) == 2, "the e-mail digest went out all the same"

    receiver.status = 200
    news(ncbi, ["41100002"])
    r = litwatch("run", "--config", str(cfg))
    assert r.code == 0, r.err
    assert len(receiver.bodies) == 1, "one message with what the failed one held, and what is new"
    message = receiver.bodies[0]["message"]
    assert "41100001" in message and "41100002" in message
    assert receiver.bodies[0]["title"] == "litwatch: 2 new articles"

    assert litwatch("run", "--config", str(cfg)).code == 0
    assert len(receiver.bodies) == 1, "never repeated"
    statuses = [row[0] for row in db_rows(cfg, "SELECT status FROM deliveries WHERE method = 'notify' ORDER BY id")]
    assert statuses == ["failed", "sent"]
    r = litwatch("history", "--config", str(cfg))
    assert "to chat lab chat  (2 items)" in r.out and "to haematology@example.org  (1 item)" in r.out


def test_missing_url_variable_is_reported(tmp_path: Path, ncbi, smtp, receiver, litwatch) -> None:  # noqa: ANN001
    cfg = setup(tmp_path, ncbi, smtp, '[[notify]]\nurl_env = "NOT_SET_ANYWHERE"\n')
    assert litwatch("run", "--config", str(cfg)).code == 0
    news(ncbi, ["41100001"])
    r = litwatch("run", "--config", str(cfg))
    assert r.code == 1 and "chat message notify[0] not sent: environment variable NOT_SET_ANYWHERE is not set" in r.err


def test_without_apprise_the_run_says_so_and_goes_on(tmp_path: Path, ncbi, smtp, receiver, litwatch, monkeypatch) -> None:  # noqa: ANN001
    import litwatch.jobs.run.subscribers as notify_module

    cfg = setup(tmp_path, ncbi, smtp, f'[[notify]]\nurl = "{receiver.url}"\n')
    assert litwatch("run", "--config", str(cfg)).code == 0
    news(ncbi, ["41100001"])
    monkeypatch.setattr(notify_module, "apprise_available", lambda: False)
    r = litwatch("run", "--config", str(cfg))
    assert r.code == 0, "the digests are what matters"
    lines = [line for line in r.err.splitlines() if "Apprise" in line]
    assert lines == [
        "litwatch: WARNING: [[notify]] is configured but Apprise is not installed: pip install 'litwatch[chat]'; "
        "chat messages wait until it is"
    ]
    assert len(smtp.received) == 2 and receiver.bodies == []
    monkeypatch.undo()
    r = litwatch("run", "--config", str(cfg))
    assert r.code == 0, r.err
    assert len(receiver.bodies) == 1 and "41100001" in receiver.bodies[0]["message"]


def test_notify_table_is_strict_and_the_url_stays_secret(tmp_path: Path, ncbi, litwatch) -> None:  # noqa: ANN001
    cfg = scenario_config(tmp_path, ncbi, extra="[[notify]]\nname = \"x\"\n")
    r = litwatch("run", "--config", str(cfg))
    assert r.code == 2 and "notify[0]" in r.err and "url: give either url or url_env" in r.err
    cfg = scenario_config(tmp_path, ncbi, extra=f'[[notify]]\nurl = "json://h/{TOKEN}"\nurl_env = "X"\n')
    r = litwatch("run", "--config", str(cfg))
    assert r.code == 2 and TOKEN not in r.err
    cfg = scenario_config(tmp_path, ncbi, extra=f'[[notify]]\nurl = "{TOKEN}"\n')
    r = litwatch("run", "--config", str(cfg))
    assert r.code == 2 and "not an Apprise URL" in r.err and TOKEN not in r.err
    # a URL in the file is a secret in the file: it should not be readable by others
    ncbi.add_search(Q_BTK, ["41000001"])
    ncbi.add_search(Q_RILZA, ["41000001"])
    cfg = scenario_config(tmp_path, ncbi, extra=f'[[notify]]\nurl = "json://127.0.0.1:9/{TOKEN}"\n')
    cfg.chmod(0o644)
    r = litwatch("check", "--config", str(cfg))
    assert "holds a secret and is readable by others" in r.err and TOKEN not in r.err + r.out


def test_check_looks_at_chat_targets_without_sending(tmp_path: Path, ncbi, receiver, litwatch) -> None:  # noqa: ANN001
    ncbi.add_search(Q_BTK, ["41000001"])
    ncbi.add_search(Q_RILZA, ["41000001"])
    cfg = scenario_config(
        tmp_path, ncbi,
        extra=f'[[notify]]\nname = "lab chat"\nurl = "{receiver.url}"\n\n[[notify]]\nname = "typo"\nurl = "nosuch://x/{TOKEN}"\n',
    )
    r = litwatch("check", "--config", str(cfg))
    assert r.code == 1
    assert "ok       chat lab chat: an Apprise URL (nothing sent)" in r.out
    assert "PROBLEM  chat typo: not a URL Apprise understands" in r.out
    assert receiver.paths == [] and TOKEN not in r.out + r.err


def test_a_message_left_sending_is_resent_unchanged(tmp_path: Path, ncbi, smtp, receiver, litwatch) -> None:  # noqa: ANN001
    """The one crash rule, for chat as for e-mail: a run that died after posting but before
    marking the message sent leaves it "sending"; the next run posts the stored payload again,
    unchanged (a chat has no Message-ID to drop the duplicate: it may be seen twice)."""
    import sqlite3

    cfg = setup(tmp_path, ncbi, smtp, f'[[notify]]\nname = "lab chat"\nurl = "{receiver.url}"\n')
    assert litwatch("run", "--config", str(cfg)).code == 0
    news(ncbi, ["41100001"])
    assert litwatch("run", "--config", str(cfg)).code == 0
    assert len(receiver.bodies) == 1
    first = receiver.bodies[0]
    db = sqlite3.connect(tmp_path / "litwatch.db")
    with db:  # as a SIGKILL between the post and "sent" would leave it
        db.execute("UPDATE deliveries SET status = 'sending', sent_at = NULL WHERE method = 'notify'")
    db.close()

    news(ncbi, ["41100002"])
    r = litwatch("run", "--config", str(cfg), "-v")
    assert r.code == 0, r.err
    assert "resending chat message lab chat" in r.err
    assert receiver.bodies[1] == first, "the stored payload, unchanged"
    assert "41100002" in receiver.bodies[2]["message"] and "41100001" not in receiver.bodies[2]["message"]
    statuses = [row[0] for row in db_rows(cfg, "SELECT status FROM deliveries WHERE method = 'notify' ORDER BY id")]
    assert statuses == ["sent", "sent"]


def test_chat_names_corrections_as_the_e_mail_does() -> None:
    """One table of correction kinds: a chat message says "Retracted", as the e-mail does."""
    from datetime import UTC, datetime

    from litwatch.notifications.chat import chat_text
    from litwatch.notifications.model import Correction, Digest, PaperRef
    from litwatch.notifications.render import render_digest

    digest = Digest(
        recipient="a@example.org",
        created=datetime(2026, 11, 30, tzinfo=UTC),
        corrections=(Correction(paper=PaperRef(pmid=TRACKED), kind="RetractionIn", notice_pmid="41999999"),),
    )
    _, body = chat_text(digest)
    assert "- **Retracted** of a tracked paper" in body
    message = render_digest(digest, sender="litwatch@example.org", message_id="<t@example.org>")
    assert ">Retracted<" in message.get_body(preferencelist=("html",)).get_content()
    assert "!! RETRACTED: PMID 39973148" in message.get_body(preferencelist=("plain",)).get_content()
