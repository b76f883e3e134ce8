"""Notices on any article ever sent (issue 16, point 1): a reader who was sent an article is told
once, above everything else, when PubMed records its retraction or expression of concern; the
search costs at most 3 requests a day whatever the size of the store."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, time, timedelta
from pathlib import Path

from litwatch.jobs.config import load_config
from litwatch.jobs.parts import make_client, make_deliverer, make_store
from litwatch.jobs.run.pipeline import Pipeline, RunSummary
from litwatch.watchers.entrez import EntrezClient
from litwatch.watchers.notices import notice_query, scan_notices
from tests.conftest import Q_BTK, Q_RILZA, SmtpServer, add_itp_article, db_rows, scenario_config, text_of
from tests.fakes.eutils import FakeEutils

NOTICE_Q = notice_query(["retraction", "concern"])


def two_readers(tmp_path: Path, ncbi: FakeEutils, smtp: SmtpServer, store_url: str | None) -> Path:
    """Reader a@ follows the BTK watch, reader b@ only the rilzabrutinib watch; nothing tracked."""
    extra = (
        '[[recipient]]\nemail = "a@example.org"\nwatches = ["BTK"]\n\n'
        '[[recipient]]\nemail = "b@example.org"\nwatches = ["Rilza"]\n'
    )
    cfg = scenario_config(
        tmp_path, ncbi, smtp=smtp, store_url=store_url, watches=[("BTK", Q_BTK), ("Rilza", Q_RILZA)],
        tracked=[], recipients=[], extra=extra,
    )
    cfg.write_text(cfg.read_text().replace("recipients = []\n", ""))
    return cfg


def run_on(cfg: Path, day: datetime) -> RunSummary:
    config = load_config(cfg)
    store = make_store(config)
    client = make_client(config)
    try:
        return Pipeline(config, store, client, make_deliverer(config), clock=lambda: day).run()
    finally:
        client.close()
        store.close()


def notice_requests(ncbi: FakeEutils, notice_ids: set[str]) -> int:
    searches = [r for r in ncbi.requests_for("esearch") if "Retraction of Publication" in (r.get("term") or "")]
    fetches = [r for r in ncbi.requests_for("efetch") if set(",".join(r.params.get("id", [])).split(",")) & notice_ids]
    return len(searches) + len(fetches)


def days(ncbi: FakeEutils) -> Callable[[int], datetime]:
    base = datetime.combine(ncbi.today, time(6, 0)).astimezone()
    return lambda n: base - timedelta(days=3 - n)  # day 3 is the fake's today


def test_untracked_article_sent_on_day_1_retracted_on_day_3(tmp_path: Path, store_url, ncbi, smtp, litwatch) -> None:  # noqa: ANN001
    day = days(ncbi)
    old = [str(41000000 + i) for i in range(3)]
    for i, p in enumerate(old):
        add_itp_article(ncbi, p, days_ago=400 + i)
    ncbi.add_search(Q_BTK, old)
    ncbi.add_search(Q_RILZA, old[:1])
    cfg = two_readers(tmp_path, ncbi, smtp, store_url)
    assert run_on(cfg, day(0)).outcome == "ok"  # day 0: the baselines

    add_itp_article(ncbi, "42000777", days_ago=2, title="Zanubrutinib halves bleeding in ITP: a trial")
    ncbi.add_search(Q_BTK, old + ["42000777"])
    smtp.received.clear()
    assert run_on(cfg, day(1)).outcome == "ok"  # day 1: sent to a@ only
    assert [m["To"] for m in smtp.messages()] == ["a@example.org"]
    (sent_at,) = db_rows(cfg, "SELECT MAX(sent_at) FROM deliveries WHERE recipient = 'a@example.org'")[0]

    # day 3: PubMed enters a retraction notice for it
    add_itp_article(
        ncbi, "42000999", days_ago=0, title="Retraction: Zanubrutinib halves bleeding in ITP",
        publication_types=("Retraction of Publication",),
        comments_corrections=[("RetractionOf", "Am J Hematol. 2026;101(1):1", "42000777")],
        journal="American journal of hematology", iso="Am J Hematol",
    )
    ncbi.add_search(NOTICE_Q, ["42000999"])
    ncbi.add_search(Q_BTK, old + ["42000777"])
    smtp.received.clear()
    ncbi.clear()
    summary = run_on(cfg, day(3))
    assert summary.outcome == "ok", summary.errors
    assert notice_requests(ncbi, {"42000999"}) == 2, "one esearch, one efetch"
    (msg,) = smtp.messages()
    assert msg["To"] == "a@example.org", "b@ was never sent the article: told nothing"
    assert "retraction" in msg["Subject"].lower()
    text = text_of(msg)
    assert "You were sent" in text and f"on {sent_at[:10]}; it has been retracted" in text
    assert "Zanubrutinib halves bleeding in ITP" in text
    assert "pubmed.ncbi.nlm.nih.gov/42000999" in text and "found in PubMed" in text
    head, _, rest = text.partition("ARTICLES YOU WERE SENT")
    assert rest and "new article" not in head.lower(), "above everything else"
    html = msg.get_body(("html",)).get_content()
    assert html.index("You were sent") < html.index('class="sum"'), "above everything else in HTML too"

    # told once: a second run the same day asks nothing; the next day tells nothing again
    smtp.received.clear()
    ncbi.clear()
    assert run_on(cfg, day(3)).outcome == "ok"
    assert notice_requests(ncbi, {"42000999"}) == 0, "once a day"
    assert smtp.received == []
    assert run_on(cfg, day(4)).outcome == "ok"
    assert smtp.received == []
    assert db_rows(cfg, "SELECT recipient, pmid, notice_pmid FROM sent_notices") == [
        ("a@example.org", "42000777", "42000999")
    ]
    history = litwatch("history", "--config", str(cfg))
    assert history.code == 0, history.err
    assert f"RetractionOf of this article, sent on {sent_at[:10]}: notice PMID 42000999" in " ".join(history.out.split())


def test_notice_search_failure_does_not_fail_the_run_and_catches_up(tmp_path: Path, store_url, ncbi, smtp) -> None:  # noqa: ANN001
    day = days(ncbi)
    old = [str(41000000 + i) for i in range(2)]
    for i, p in enumerate(old):
        add_itp_article(ncbi, p, days_ago=400 + i)
    ncbi.add_search(Q_BTK, old)
    ncbi.add_search(Q_RILZA, [])
    cfg = two_readers(tmp_path, ncbi, smtp, store_url)
    assert run_on(cfg, day(0)).outcome == "ok"
    add_itp_article(ncbi, "42000777", days_ago=2)
    ncbi.add_search(Q_BTK, old + ["42000777"])
    assert run_on(cfg, day(1)).outcome == "ok"
    add_itp_article(ncbi, "42000999", days_ago=0, publication_types=("Expression of Concern",),
                    comments_corrections=[("ExpressionOfConcernFor", "Am J Hematol. 2026", "42000777")])
    ncbi.add_search(NOTICE_Q, ["42000999"])
    smtp.received.clear()
    # the notice search fails on day 3 (the watch's search succeeds)
    ncbi.fail_next("500", count=10, endpoint="efetch")
    summary = run_on(cfg, day(3))
    assert summary.outcome == "ok" and any("notice" in w for w in summary.warnings)
    assert smtp.received == []
    (err,) = db_rows(cfg, "SELECT last_error FROM source_state WHERE name = 'pubmed-notices'")[0]
    assert "HTTP 500" in err
    ncbi.clear_faults()
    assert run_on(cfg, day(3)).outcome == "ok", "tried again: the last check did not succeed"
    (msg,) = smtp.messages()
    assert "expression of concern" in text_of(msg).lower()


def test_budget_three_requests_whatever_the_store(ncbi) -> None:  # noqa: ANN001
    """900 notices in the window: one esearch and two efetch (800 records); 100 left for the next
    check, which reads only those."""
    notices = [str(45000000 + i) for i in range(900)]
    for p in notices:
        ncbi.add_article(p, "Retraction", publication_types=("Retraction of Publication",),
                         comments_corrections=[("RetractionOf", "J. 2020", str(int(p) - 4000000))],
                         edat=ncbi.today)
    ncbi.add_search(NOTICE_Q, notices)
    client = EntrezClient(email="lab@example.org", base_url=ncbi.base_url)
    read: set[str] = set()
    scan = scan_notices(client, kinds=["retraction", "concern"], since=ncbi.today - timedelta(days=3),
                        today=ncbi.today, already_read=lambda ids: read & set(ids))
    assert client.requests_made == 3 == ncbi.count()
    assert len(scan.read) == 800 and scan.left == 100 and scan.covered_through is None
    assert {n.target_pmid for n in scan.links} == {str(int(p) - 4000000) for p in sorted(scan.read)}
    read |= scan.read
    ncbi.clear()
    scan = scan_notices(client, kinds=["retraction", "concern"], since=ncbi.today - timedelta(days=3),
                        today=ncbi.today, already_read=lambda ids: read & set(ids))
    assert ncbi.count() == 2 and len(scan.read) == 100 and scan.covered_through == ncbi.today
