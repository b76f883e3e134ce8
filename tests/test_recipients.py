"""Per-recipient delivery: their watches only, at their frequency; preview and send-test."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from tests.conftest import Q_BTK, Q_RILZA, TRACKED, add_itp_article, pmids_in, scenario_config, seed_tracked

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def recipients_block(bob_weekday: str) -> str:
    return f"""
[[recipient]]
email = "alice@example.org"
watches = ["BTK inhibitors in ITP"]

[[recipient]]
email = "bob@example.org"
watches = ["Rilzabrutinib"]
frequency = "weekly"
weekday = "{bob_weekday}"
citations = false
"""


def by_recipient(smtp) -> dict[str, set[str]]:  # noqa: ANN001
    out: dict[str, set[str]] = {}
    for r in smtp.received:
        for to in r.rcpt_tos:
            out.setdefault(to, set()).update(pmids_in(r.message))
    return out


def test_recipients_get_their_watches_at_their_frequency(tmp_path: Path, store_url, ncbi, smtp, litwatch) -> None:  # noqa: ANN001
    today = WEEKDAYS[datetime.now().astimezone().weekday()]
    tomorrow = WEEKDAYS[(datetime.now().astimezone() + timedelta(days=1)).weekday()]
    add_itp_article(ncbi, "44000001", days_ago=300)
    ncbi.add_search(Q_BTK, ["44000001"])
    ncbi.add_search(Q_RILZA, [])
    seed_tracked(ncbi)
    cfg = scenario_config(tmp_path, ncbi, store_url=store_url, smtp=smtp, recipients=["carol@example.org"], extra=recipients_block(tomorrow))
    assert litwatch("run", "--config", str(cfg)).code == 0

    add_itp_article(ncbi, "44000002", days_ago=0)
    add_itp_article(ncbi, "44000003", days_ago=0)
    add_itp_article(ncbi, "44000004", days_ago=0)
    ncbi.add_search(Q_BTK, ["44000001", "44000002"])
    ncbi.add_search(Q_RILZA, ["44000003"])
    ncbi.citedin[TRACKED] = ["44000004"]
    smtp.received.clear()
    r = litwatch("run", "--config", str(cfg))
    assert r.code == 0, r.err
    got = by_recipient(smtp)
    assert got == {
        "alice@example.org": {"44000002", "44000004"},
        "carol@example.org": {"44000002", "44000003", "44000004"},
    }, "bob's weekly digest is not due today"

    # on bob's weekday, what accumulated for him goes out: his watch only, no citations
    cfg.write_text(cfg.read_text().replace(f'weekday = "{tomorrow}"', f'weekday = "{today}"'))
    smtp.received.clear()
    assert litwatch("run", "--config", str(cfg)).code == 0
    assert by_recipient(smtp) == {"bob@example.org": {"44000003"}}
    smtp.received.clear()
    assert litwatch("run", "--config", str(cfg)).code == 0
    assert smtp.received == [], "one weekly digest a week"


def test_preview_renders_without_sending_or_marking(tmp_path: Path, store_url, ncbi, smtp, litwatch) -> None:  # noqa: ANN001
    add_itp_article(ncbi, "44100001", days_ago=300)
    ncbi.add_search(Q_BTK, ["44100001"])
    ncbi.add_search(Q_RILZA, [])
    seed_tracked(ncbi)
    cfg = scenario_config(tmp_path, ncbi, store_url=store_url, smtp=smtp)
    assert litwatch("run", "--config", str(cfg)).code == 0
    add_itp_article(ncbi, "44100002", days_ago=0, title="Rilzabrutinib in <i>warm</i> autoimmune ITP")
    ncbi.add_search(Q_BTK, ["44100001", "44100002"])
    smtp.stop()  # the run queues the article but cannot deliver it
    assert litwatch("run", "--config", str(cfg)).code == 1
    smtp.start()
    smtp.received.clear()
    r = litwatch("preview", "--config", str(cfg))
    assert r.code == 0, r.err
    assert "pubmed.ncbi.nlm.nih.gov/44100002/" in r.out and "Subject: [litwatch] 1 new article" in r.out
    out = tmp_path / "next.html"
    r = litwatch("preview", "--config", str(cfg), "--recipient", "haematology@example.org", "--out", str(out))
    assert r.code == 0 and "<i>warm</i>" in out.read_text()
    assert litwatch("preview", "--config", str(cfg), "--recipient", "nobody@example.org").code == 2
    assert smtp.received == [], "preview sends nothing"
    assert litwatch("run", "--config", str(cfg)).code == 0
    assert [pmids_in(m) for m in smtp.messages()] == [{"44100002"}], "and marks nothing"


def test_send_test_uses_stored_articles_and_marks_nothing(tmp_path: Path, store_url, ncbi, smtp, litwatch) -> None:  # noqa: ANN001
    add_itp_article(ncbi, "44200001", days_ago=300)
    ncbi.add_search(Q_BTK, ["44200001"])
    ncbi.add_search(Q_RILZA, [])
    seed_tracked(ncbi)
    cfg = scenario_config(tmp_path, ncbi, store_url=store_url, smtp=smtp)
    assert litwatch("run", "--config", str(cfg)).code == 0
    smtp.received.clear()
    r = litwatch("send-test", "--config", str(cfg), "--to", "me@example.org")
    assert r.code == 0, r.err
    (got,) = smtp.received
    assert got.rcpt_tos == ["me@example.org"]
    assert got.message["Subject"].startswith("[litwatch] test:")
    assert TRACKED in pmids_in(got.message)
    smtp.stop()
    r = litwatch("send-test", "--config", str(cfg))
    assert r.code == 1 and "failed" in r.err


def test_a_second_watch_finding_a_waiting_article_is_named_in_its_digest(tmp_path: Path, store_url, ncbi, smtp, litwatch) -> None:  # noqa: ANN001
    """Bob's digest is weekly.  An article one watch found on Monday and the other on Tuesday is
    listed once in his digest, with both watches named, not only the first."""
    today = WEEKDAYS[datetime.now().astimezone().weekday()]
    tomorrow = WEEKDAYS[(datetime.now().astimezone() + timedelta(days=1)).weekday()]
    weekly = f'\n[[recipient]]\nemail = "bob@example.org"\nfrequency = "weekly"\nweekday = "{tomorrow}"\n'
    add_itp_article(ncbi, "44100001", days_ago=300)
    ncbi.add_search(Q_BTK, ["44100001"])
    ncbi.add_search(Q_RILZA, [])
    seed_tracked(ncbi)
    cfg = scenario_config(tmp_path, ncbi, store_url=store_url, smtp=smtp, recipients=[], extra=weekly)
    assert litwatch("run", "--config", str(cfg)).code == 0

    add_itp_article(ncbi, "44100002", days_ago=0)
    ncbi.add_search(Q_BTK, ["44100001", "44100002"])  # found by the first watch
    assert litwatch("run", "--config", str(cfg)).code == 0
    ncbi.add_search(Q_RILZA, ["44100002"])  # and, a run later, by the second
    assert litwatch("run", "--config", str(cfg)).code == 0
    assert smtp.received == [], "not bob's day yet"

    cfg.write_text(cfg.read_text().replace(f'weekday = "{tomorrow}"', f'weekday = "{today}"'))
    r = litwatch("run", "--config", str(cfg))
    assert r.code == 0, r.err
    (message,) = smtp.messages()
    assert pmids_in(message) == {"44100002"}
    plain = " ".join(message.get_body(("plain",)).get_content().split())
    assert plain.count("pubmed.ncbi.nlm.nih.gov/44100002/") == 1, "listed once"
    assert "report 44100002 Zhang W, Li N, Chen H Am J Hematol." in plain and "also: Rilzabrutinib" in plain
