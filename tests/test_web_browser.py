"""The web companion in a real browser: Debian's headless Chromium driven by Playwright (pointed at
/usr/bin/chromium; nothing is downloaded), opening the links of digests that the real SMTP server
received.  Skipped, with the reason, when Chromium or Playwright is missing; .ci/run installs both."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from litwatch.jobs.config import load_config
from litwatch.watchers.ratings import ratings_of
from litwatch.watchers.store import open_store
from tests.conftest import CHROMIUM, CHROMIUM_FLAGS, PUBMED_LINK, Q_BTK, add_itp_article, baseline
from tests.fakes.pubmed_xml import esc
from tests.web_helpers import (
    ANN,
    BOB,
    NEW,
    delivered_scenario,
    digest_to,
    link_for,
    news,
    running_web,
    signer,
    web_config,
    web_env,  # noqa: F401 - a fixture
)

FLAGS = CHROMIUM_FLAGS

playwright_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed (pip install -e '.[test]')")
pytestmark = [
    pytest.mark.skipif(not CHROMIUM.exists(), reason="/usr/bin/chromium is not installed (apt-get install chromium)"),
    pytest.mark.usefixtures("web_env"),
]


@pytest.fixture
def page(tmp_path: Path) -> Iterator[object]:
    """A page of a fresh Chromium profile (its own --user-data-dir under tmp_path)."""
    profile = tmp_path / "chromium-profile"
    with playwright_api.sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(profile), executable_path=str(CHROMIUM), headless=True, args=FLAGS, timeout=60_000
        )
        try:
            page = context.pages[0] if context.pages else context.new_page()
            page.set_default_timeout(20_000)
            yield page
        finally:
            context.close()
    shutil.rmtree(profile, ignore_errors=True)


def _store(cfg: Path):  # noqa: ANN202
    config = load_config(cfg)
    return open_store(path=config.store_path, url=config.store.url)


def _preview_order(litwatch, cfg: Path, who: str) -> list[str]:  # noqa: ANN001
    r = litwatch("preview", "--config", str(cfg), "--recipient", who)
    assert r.code == 0, r.err
    order: list[str] = []
    for pmid in PUBMED_LINK.findall(r.out):
        if pmid not in order:
            order.append(pmid)
    return order


HEPATIC = (
    "Eltrombopag hepatotoxicity in immune thrombocytopenia: transaminase elevation, liver injury "
    "and hepatobiliary adverse events with thrombopoietin receptor agonists"
)


def test_rating_in_the_browser_moves_the_next_preview(tmp_path: Path, ncbi, smtp, litwatch, page) -> None:  # noqa: ANN001
    # digest 1 lists a paper on eltrombopag's liver toxicity among others
    base = baseline(ncbi)
    cfg = web_config(tmp_path, ncbi, smtp)
    assert litwatch("run", "--config", str(cfg)).code == 0
    add_itp_article(ncbi, "41100001", days_ago=2, title=esc(HEPATIC),
                    abstract="Hepatotoxicity, transaminase elevation and liver injury with eltrombopag; hepatobiliary events.")
    add_itp_article(ncbi, "41100002", days_ago=2)
    ncbi.add_search(Q_BTK, base + ["41100001", "41100002"])
    smtp.received.clear()
    assert litwatch("run", "--config", str(cfg)).code == 0
    message = digest_to(smtp, ANN)

    # two new papers wait for the next digest (the mail server is down for a run)
    add_itp_article(ncbi, "41300001", days_ago=1, title=esc("Zanubrutinib for relapsed immune thrombocytopenia: a case series"),
                    abstract="Zanubrutinib, a Bruton tyrosine kinase inhibitor, in relapsed refractory immune thrombocytopenia.")
    add_itp_article(ncbi, "41300002", days_ago=1, title=esc("Liver injury and transaminase elevation with eltrombopag in immune thrombocytopenia"),
                    abstract="Hepatotoxicity and hepatobiliary adverse events, transaminase elevation, with eltrombopag.")
    ncbi.add_search(Q_BTK, base + ["41100001", "41100002", "41300001", "41300002"])
    smtp.stop()
    assert litwatch("run", "--config", str(cfg)).code == 1
    smtp.start()
    before = _preview_order(litwatch, cfg, ANN)
    assert before.index("41300001") < before.index("41300002"), before

    # the reader opens "Relevant" under the liver paper in the digest they received, and presses the button
    relevant = link_for(message, signer(cfg), "up", "41100001")
    with running_web(cfg):
        response = page.goto(relevant)
        assert response is not None and response.status == 200
        assert page.locator("h1").inner_text() == "Relevant"
        assert HEPATIC in page.locator(".paper").inner_text()
        with _store(cfg) as store:
            assert ratings_of(store, ANN) == [], "opening the link changed nothing"
        page.screenshot(path=str(tmp_path / "action.png"))
        page.locator("#confirm").click()
        page.wait_for_selector(".done")
        page.screenshot(path=str(tmp_path / "done.png"))
        assert "Rated relevant" in page.locator(".done").inner_text()
        # pressing again (the page resubmitted) is refused and changes nothing
        again = page.goto(relevant)
        assert again is not None and again.status == 410 and "already used" in page.content()

    after = _preview_order(litwatch, cfg, ANN)
    assert after.index("41300002") < after.index("41300001"), after
    assert _preview_order(litwatch, cfg, BOB) == [p for p in before if p in _preview_order(litwatch, cfg, BOB)], (
        "the other reader's order is theirs"
    )
    r = litwatch("preview", "--config", str(cfg), "--recipient", ANN)
    assert "PMID 41100001 you rated up" in " ".join(r.out.split())


def test_archive_page_renders_the_past_digest(tmp_path: Path, ncbi, smtp, litwatch, page) -> None:  # noqa: ANN001
    cfg = delivered_scenario(tmp_path, ncbi, smtp, litwatch)
    message = digest_to(smtp, ANN)
    html = message.get_body(preferencelist=("html",)).get_content()
    home = re.search(r'href="([^"]+/r/[^"]+/)"[^>]*>Your page<', html)
    assert home, "the digest's footer links to the reader's page"
    with running_web(cfg):
        page.goto(home.group(1))
        assert ANN in page.locator(".who").inner_text()
        page.get_by_role("link", name=message["Subject"]).click()
        page.wait_for_load_state()
        body = page.locator("body").inner_text()
        assert "3 new articles" in body
        for pmid in NEW:
            assert f"report {pmid}" in body
        assert page.get_by_role("link", name="Relevant", exact=True).count() == 3, "the digest as sent, with its links"
        page.screenshot(path=str(tmp_path / "archive.png"))
        page.go_back()
        page.get_by_role("link", name="Search").click()
        page.locator("input[name=q]").fill("41100002")
        page.get_by_role("button", name="Search").click()
        assert "1 article found" in page.locator("main").inner_text()
        page.get_by_role("link", name="Watches").click()
        page.wait_for_load_state("load")
        page.screenshot(path=str(tmp_path / "watches.png"))
        chart = page.locator("img").first
        assert chart.evaluate("img => img.complete && img.naturalWidth > 0"), "the SVG chart is shown"


def test_unsubscribe_in_the_browser_then_the_next_run_skips_only_that_reader(tmp_path: Path, ncbi, smtp, litwatch, page) -> None:  # noqa: ANN001
    cfg = delivered_scenario(tmp_path, ncbi, smtp, litwatch)
    message = digest_to(smtp, BOB)
    html = message.get_body(preferencelist=("html",)).get_content()
    footer = re.search(r'href="([^"]+/a/[^"]+)"[^>]*>Unsubscribe<', html)
    assert footer and footer.group(1) == message["List-Unsubscribe"].strip("<>")
    with running_web(cfg):
        page.goto(footer.group(1))
        with _store(cfg) as store:
            assert store.readers.unsubscribed() == {}, "opening the link changed nothing"
        page.get_by_role("button", name="Unsubscribe").click()
        page.wait_for_selector(".done")
        assert "You are unsubscribed" in page.locator("main").inner_text()
        assert page.get_by_role("button", name="Subscribe again").count() == 1

    news(ncbi, baseline(ncbi), ["41200001"])
    smtp.received.clear()
    assert litwatch("run", "--config", str(cfg)).code == 0
    assert [r.rcpt_tos for r in smtp.received] == [[ANN]]


def test_forged_or_expired_links_get_a_clear_page(tmp_path: Path, ncbi, smtp, litwatch, page) -> None:  # noqa: ANN001
    cfg = delivered_scenario(tmp_path, ncbi, smtp, litwatch)
    s = signer(cfg)
    relevant = link_for(digest_to(smtp, ANN), s, "up", NEW[0])
    forged = relevant[:-4] + ("AAAA" if not relevant.endswith("AAAA") else "BBBB")
    expired = signer(cfg, clock=lambda: 1_000_000_000.0).url(ANN, "up", NEW[0])
    with running_web(cfg):
        for url, status, heading in ((forged, 403, "This link is not valid"), (expired, 410, "This link has expired")):
            response = page.goto(url)
            assert response is not None and response.status == status
            assert page.locator("h1").inner_text() == heading
            assert "Nothing was changed" in page.locator("main").inner_text()
            assert page.locator("button").count() == 0, "nothing to press"
    with _store(cfg) as store:
        assert ratings_of(store, ANN) == []
