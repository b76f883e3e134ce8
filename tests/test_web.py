"""The web companion over HTTP: the app served by uvicorn on loopback, spoken to with `requests`,
after runs that delivered digests to the real SMTP server.  (The browser tests are in
test_web_browser.py.)"""

from __future__ import annotations

import email
import email.policy
import logging
import signal
from pathlib import Path

import pytest
import requests

from litwatch.jobs.config import ConfigError, WebConfig, load_config
from litwatch.notifications.links import BadLink
from litwatch.watchers.ratings import DOWN, UP, ratings_of
from litwatch.watchers.readers import reader_tracked, unsubscribed
from litwatch.watchers.store import open_store
from tests.conftest import API_KEY, SMTP_PASSWORD, baseline, free_port, pmids_in, scenario_config
from tests.web_helpers import (
    ADMIN_PASSWORD,
    ANN,
    BOB,
    NEW,
    SECRET,
    csrf_of,
    delivered_scenario,
    digest_to,
    html_part,
    link_for,
    news,
    running_web,
    signer,
    text_part,
    web_config,
    web_env,  # noqa: F401 - a fixture
    web_links,
)

pytestmark = pytest.mark.usefixtures("web_env")


def _store(cfg: Path):  # noqa: ANN202
    config = load_config(cfg)
    return open_store(path=config.store_path, url=config.store.url)


def _ratings(cfg: Path, who: str) -> list[tuple[str, int]]:
    with _store(cfg) as store:
        return [(r.pmid, r.value) for r in ratings_of(store, who)]


# -- configuration ----------------------------------------------------------------------------------


def test_web_table_defaults_and_checks() -> None:
    web = WebConfig(base_url="https://lit.example.org")
    assert web.listen == "127.0.0.1:8080" and web.host_port == ("127.0.0.1", 8080)
    assert web.base_url == "https://lit.example.org/" and web.link_days == 90
    with pytest.raises(ValueError, match="use https"):
        WebConfig(base_url="http://lit.example.org")
    WebConfig(base_url="http://127.0.0.1:8080")  # loopback: plain http is fine
    with pytest.raises(ValueError, match="HOST:PORT"):
        WebConfig(base_url="https://lit.example.org", listen="8080")


def test_missing_or_short_secret_is_one_line_and_exit_2(tmp_path: Path, ncbi, litwatch, monkeypatch) -> None:  # noqa: ANN001
    baseline(ncbi)
    cfg = web_config(tmp_path, ncbi, None)
    monkeypatch.delenv("LITWATCH_WEB_SECRET")
    for command in ("run", "web", "serve"):
        r = litwatch(command, "--config", str(cfg))
        assert r.code == 2, (command, r.err)
        assert r.err.count("\n") == 1 and "LITWATCH_WEB_SECRET" in r.err, r.err
    monkeypatch.setenv("LITWATCH_WEB_SECRET", "too-short-7")
    r = litwatch("web", "--config", str(cfg))
    assert r.code == 2 and "too short" in r.err and "too-short-7" not in r.err
    # a secret file: read, never shown
    secret_file = tmp_path / "web-secret"
    secret_file.write_text(SECRET + "\n")
    monkeypatch.delenv("LITWATCH_WEB_SECRET")
    cfg = web_config(tmp_path, ncbi, None, web_extra=f'secret_file = "{secret_file}"')
    assert load_config(cfg).web_secret() == SECRET
    r = litwatch("check", "--config", str(cfg))
    assert "signing secret from web.secret_file" in r.out and SECRET not in r.out + r.err
    assert "web: listens on 127.0.0.1:" in r.out
    secret_file.write_text("short\n")
    with pytest.raises(ConfigError, match="too short"):
        load_config(cfg).web_secret()


def test_port_in_use_is_one_line_naming_it(tmp_path: Path, ncbi, litwatch) -> None:  # noqa: ANN001
    import socket

    baseline(ncbi)
    port = free_port()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port))
        taken.listen(1)
        cfg = web_config(tmp_path, ncbi, None, port=port)
        r = litwatch("web", "--config", str(cfg))
    assert r.code == 2
    assert r.err.strip().count("\n") == 0
    assert f"127.0.0.1:{port}" in r.err and "in use" in r.err


# -- the digest's links -----------------------------------------------------------------------------


def test_every_digest_item_carries_signed_links_and_list_unsubscribe(tmp_path: Path, ncbi, smtp, litwatch) -> None:  # noqa: ANN001
    cfg = delivered_scenario(tmp_path, ncbi, smtp, litwatch)
    s = signer(cfg)
    for who in (ANN, BOB):
        message = digest_to(smtp, who)
        assert pmids_in(message) == set(NEW)
        links = web_links(message, s)
        assert {(x.claim.action, x.claim.pmid) for x in links} == {
            *((a, p) for a in ("up", "down", "track") for p in NEW), ("home", ""), ("unsubscribe", "")
        }
        assert all(x.claim.reader == s.reader_id(who) for x in links), "each reader's own links"
        assert who not in "".join(x.url for x in links), "no address in a link"
        html = html_part(message)
        for x in links:
            assert f'href="{x.url}"' in html, "the HTML part has the same links"
        text = text_part(message)
        assert text.count("Relevant:") == text.count("Not relevant:") == text.count("Track this paper:") == 3
        unsubscribe = link_for(message, s, "unsubscribe")
        assert message["List-Unsubscribe"] == f"<{unsubscribe}>"
        assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert "Unsubscribe" in html and unsubscribe in text
    # the secret itself is nowhere: not in a message, not in the store
    assert all(SECRET.encode() not in r.data for r in smtp.received)
    assert SECRET.encode() not in (tmp_path / "litwatch.db").read_bytes()


def test_without_web_digests_carry_no_web_links(tmp_path: Path, ncbi, smtp, litwatch) -> None:  # noqa: ANN001
    base = baseline(ncbi)
    cfg = scenario_config(tmp_path, ncbi, smtp=smtp)
    assert litwatch("run", "--config", str(cfg)).code == 0
    news(ncbi, base)
    assert litwatch("run", "--config", str(cfg)).code == 0
    message = smtp.received[-1].message
    assert pmids_in(message) == set(NEW)
    assert message["List-Unsubscribe"] is None and "Relevant" not in text_part(message)
    assert "Unsubscribe" not in html_part(message)


def test_shared_address_gets_no_unsubscribe_link(tmp_path: Path, ncbi, smtp, litwatch) -> None:  # noqa: ANN001
    extra = '[[recipient]]\nemail = "list@example.org"\nunsubscribe = false\n'
    cfg = delivered_scenario(tmp_path, ncbi, smtp, litwatch, extra=extra)
    message = digest_to(smtp, "list@example.org")
    assert message["List-Unsubscribe"] is None
    assert {x.claim.action for x in web_links(message, signer(cfg))} == {"up", "down", "track", "home"}
    # a forged attempt with a made-up unsubscribe token for it is refused, nothing changes
    token = signer(cfg).url("list@example.org", "unsubscribe")
    with running_web(cfg):
        r = requests.post(token, data={"List-Unsubscribe": "One-Click"}, timeout=10)
    assert r.status_code == 409
    with _store(cfg) as store:
        assert unsubscribed(store) == {}


# -- one-click actions: GET shows, POST acts, once --------------------------------------------------


def test_rating_link_get_changes_nothing_post_rates_once(tmp_path: Path, ncbi, smtp, litwatch, store_url) -> None:  # noqa: ANN001
    cfg = delivered_scenario(tmp_path, ncbi, smtp, litwatch, store_url=store_url)
    s = signer(cfg)
    message = digest_to(smtp, ANN)
    up = link_for(message, s, "up", NEW[0])
    with running_web(cfg):
        session = requests.Session()
        page = session.get(up, timeout=10)
        assert page.status_code == 200 and "Rate it relevant" in page.text
        assert "Zanubrutinib in immune thrombocytopenia: report 41100001" in page.text
        session.get(up, timeout=10)  # a mail scanner opening it twice
        assert _ratings(cfg, ANN) == [], "a GET changes nothing"

        # without the page's CSRF token, or from another site: refused
        assert session.post(up, data={}, timeout=10).status_code == 403
        other_site = session.post(up, data={"csrf": csrf_of(page.text)}, headers={"Origin": "https://evil.example"}, timeout=10)
        assert other_site.status_code == 403
        fresh = requests.post(up, data={"csrf": csrf_of(page.text)}, timeout=10)  # no cookie
        assert fresh.status_code == 403
        assert _ratings(cfg, ANN) == []

        done = session.post(up, data={"csrf": csrf_of(page.text)}, timeout=10)
        assert done.status_code == 200 and "Rated relevant" in done.text, done.text
        assert _ratings(cfg, ANN) == [(NEW[0], UP)]
        assert _ratings(cfg, BOB) == [], "only this reader's"

        # replayed: a page saying so, 4xx, nothing changed
        again = session.post(up, data={"csrf": csrf_of(page.text)}, timeout=10)
        assert again.status_code == 409 and "already used" in again.text
        reopened = session.get(up, timeout=10)
        assert reopened.status_code == 410 and "already used" in reopened.text

        # the opposite link of the same digest changes the rating
        down = link_for(message, s, "down", NEW[0])
        page = session.get(down, timeout=10)
        assert session.post(down, data={"csrf": csrf_of(page.text)}, timeout=10).status_code == 200
        assert _ratings(cfg, ANN) == [(NEW[0], DOWN)]

        # track this paper
        track = link_for(message, s, "track", NEW[1])
        page = session.get(track, timeout=10)
        assert "Track it" in page.text
        assert session.post(track, data={"csrf": csrf_of(page.text)}, timeout=10).status_code == 200
    with _store(cfg) as store:
        assert [p for p, _ in reader_tracked(store, ANN)] == [NEW[1]]
        assert reader_tracked(store, BOB) == []
        assert any(t.pmid == NEW[1] and t.origin == "web" for t in store.tracked())
    r = litwatch("track", "list", "--config", str(cfg))
    assert NEW[1] in r.out


def test_forged_expired_damaged_and_revoked_links(tmp_path: Path, ncbi, smtp, litwatch, monkeypatch) -> None:  # noqa: ANN001
    cfg = delivered_scenario(tmp_path, ncbi, smtp, litwatch)
    s = signer(cfg)
    up = link_for(digest_to(smtp, ANN), s, "up", NEW[0])
    head, _, sig = up.rpartition(".")
    forged = head + "." + ("A" if sig[0] != "A" else "B") + sig[1:]
    other_pmid = signer(cfg, secret="another-secret-of-enough-length-000000").url(ANN, "up", NEW[1])
    expired = signer(cfg, clock=lambda: 1_000_000_000.0).url(ANN, "up", NEW[1])
    damaged = up[: len(up) // 2]
    with running_web(cfg) as base:
        for url, status, words in (
            (forged, 403, "not valid"),
            (other_pmid, 403, "not valid"),
            (expired, 410, "expired"),
            (damaged, 400, "damaged"),
            (base + "r/nonsense/ratings", 400, "damaged"),
        ):
            for method in ("get", "post"):
                r = requests.request(method, url, data={"csrf": "x"}, timeout=10)
                assert r.status_code == status and words in r.text and "Nothing was changed" in r.text, (url, r.text)
    assert _ratings(cfg, ANN) == []
    with pytest.raises(BadLink):
        signer(cfg, secret="another-secret-of-enough-length-000000").read(up.rsplit("/", 1)[1])

    # rotating the secret revokes every link sent
    monkeypatch.setenv("LITWATCH_WEB_SECRET", "a-new-secret-after-rotation-0123456789")
    with running_web(cfg):
        r = requests.get(up, timeout=10)
        assert r.status_code == 403 and "not valid" in r.text


def test_ratings_are_rate_limited(tmp_path: Path, ncbi, smtp, litwatch) -> None:  # noqa: ANN001
    cfg = delivered_scenario(tmp_path, ncbi, smtp, litwatch, web_extra="ratings_per_minute = 2")
    s = signer(cfg)
    message = digest_to(smtp, ANN)
    session = requests.Session()
    with running_web(cfg):
        codes = []
        for pmid in NEW:
            url = link_for(message, s, "up", pmid)
            page = session.get(url, timeout=10)
            codes.append(session.post(url, data={"csrf": csrf_of(page.text)}, timeout=10).status_code)
        assert codes == [200, 200, 429]
        # the refused link was not used up: it works once the minute is over (not waited for here)
        page = session.get(link_for(message, s, "up", NEW[2]), timeout=10)
        assert page.status_code == 200 and "Rate it relevant" in page.text
    assert sorted(_ratings(cfg, ANN)) == [(NEW[0], UP), (NEW[1], UP)]


# -- unsubscribe ------------------------------------------------------------------------------------


def test_one_click_unsubscribe_then_the_next_run_skips_that_reader_only(tmp_path: Path, ncbi, smtp, litwatch, store_url) -> None:  # noqa: ANN001
    cfg = delivered_scenario(tmp_path, ncbi, smtp, litwatch, store_url=store_url)
    message = digest_to(smtp, BOB)
    unsubscribe = message["List-Unsubscribe"].strip("<>")
    with running_web(cfg):
        # RFC 8058: the mail program POSTs this body to the header's URL; no page, no cookie
        r = requests.post(unsubscribe, files={"List-Unsubscribe": (None, "One-Click")}, timeout=10)  # multipart
        assert r.status_code == 200, r.text
        r = requests.post(unsubscribe, data={"List-Unsubscribe": "One-Click"}, timeout=10)  # urlencoded, again
        assert r.status_code == 200, r.text
        page = requests.get(unsubscribe, timeout=10)
        assert "is unsubscribed" in page.text and "Subscribe again" in page.text

    news(ncbi, baseline(ncbi), ["41200001"])
    smtp.received.clear()
    r = litwatch("run", "--config", str(cfg), "-v")
    assert r.code == 0, r.err
    assert [x.rcpt_tos for x in smtp.received] == [[ANN]], "only the reader who stayed"
    assert f"{BOB}: unsubscribed on" in r.err
    status = litwatch("status", "--config", str(cfg))
    assert f"unsubscribed:   {BOB}" in status.out
    import json

    assert list(json.loads(litwatch("status", "--config", str(cfg), "--json").out)["unsubscribed"]) == [BOB]
    history = litwatch("history", "--config", str(cfg))
    assert f"{BOB} unsubscribed (with the mail program's unsubscribe button)" in history.out

    # subscribing again, from the same page: news from then on
    with running_web(cfg):
        session = requests.Session()
        page = session.get(unsubscribe, timeout=10)
        r = session.post(unsubscribe, data={"csrf": csrf_of(page.text), "do": "subscribe"}, timeout=10)
        assert r.status_code == 200 and "subscribed again" in r.text
    news(ncbi, baseline(ncbi), ["41200002"])
    smtp.received.clear()
    assert litwatch("run", "--config", str(cfg)).code == 0
    assert sorted(x.rcpt_tos[0] for x in smtp.received) == [ANN, BOB]
    assert pmids_in(digest_to(smtp, BOB)) == {"41200002"}, "nothing queued while unsubscribed"
    history = litwatch("history", "--config", str(cfg), "--json")
    assert '"event": "subscribed"' in history.out


def test_the_config_can_say_otherwise_after_an_unsubscribe(tmp_path: Path, ncbi, smtp, litwatch) -> None:  # noqa: ANN001
    cfg = delivered_scenario(tmp_path, ncbi, smtp, litwatch, recipients=[ANN])
    with running_web(cfg):
        unsubscribe = digest_to(smtp, ANN)["List-Unsubscribe"].strip("<>")
        assert requests.post(unsubscribe, data={"List-Unsubscribe": "One-Click"}, timeout=10).status_code == 200
    news(ncbi, baseline(ncbi), ["41200001"])
    smtp.received.clear()
    assert litwatch("run", "--config", str(cfg)).code == 0
    assert smtp.received == []
    # the administrator decides this address gets the digests whatever its readers click
    text = cfg.read_text().replace(f'recipients = ["{ANN}"]', "recipients = []")
    cfg.write_text(text + f'\n[[recipient]]\nemail = "{ANN}"\nunsubscribe = false\n')
    news(ncbi, baseline(ncbi), ["41200001", "41200002"])
    assert litwatch("run", "--config", str(cfg)).code == 0
    message = digest_to(smtp, ANN)
    assert pmids_in(message) == {"41200002"} and message["List-Unsubscribe"] is None
    assert "unsubscribed:" not in litwatch("status", "--config", str(cfg)).out


# -- the reader's pages -----------------------------------------------------------------------------


def test_reader_pages_show_only_their_own_data(tmp_path: Path, ncbi, smtp, litwatch) -> None:  # noqa: ANN001
    cfg = delivered_scenario(tmp_path, ncbi, smtp, litwatch)
    s = signer(cfg)
    ann_msg, bob_msg = digest_to(smtp, ANN), digest_to(smtp, BOB)
    ann_home = link_for(ann_msg, s, "home")
    bob_home = link_for(bob_msg, s, "home")
    with _store(cfg) as store:
        ids = dict(store.rows("SELECT recipient, MAX(id) FROM deliveries WHERE status = 'sent' GROUP BY recipient"))
    with running_web(cfg):
        session = requests.Session()
        home = session.get(ann_home, timeout=10)
        assert home.status_code == 200 and ANN in home.text and BOB not in home.text
        assert ann_msg["Subject"] in home.text

        # the archive: the digest as sent, and its bytes
        page = session.get(f"{ann_home}archive/{ids[ANN]}", timeout=10)
        assert page.status_code == 200 and page.text == html_part(ann_msg)
        assert "sandbox" in page.headers["content-security-policy"]
        raw = session.get(f"{ann_home}archive/{ids[ANN]}.eml", timeout=10)
        assert email.message_from_bytes(raw.content, policy=email.policy.default)["Message-ID"] == ann_msg["Message-ID"]
        # another reader's digest is not there for Ann
        assert session.get(f"{ann_home}archive/{ids[BOB]}", timeout=10).status_code == 404
        assert session.get(f"{bob_home}archive/{ids[BOB]}", timeout=10).status_code == 200

        # search over what she was sent
        found = session.get(ann_home + "search", params={"q": "zanubrutinib 41100002"}, timeout=10)
        assert "1 article found" in found.text and "report 41100002" in found.text
        assert "0 articles found" in session.get(ann_home + "search", params={"q": "nothing-like-this"}, timeout=10).text

        # ratings, undone from the page
        up = link_for(ann_msg, s, "up", NEW[2])
        session.post(up, data={"csrf": csrf_of(session.get(up, timeout=10).text)}, timeout=10)
        ratings = session.get(ann_home + "ratings", timeout=10)
        assert "report 41100003" in ratings.text and "relevant" in ratings.text
        assert "report 41100003" not in session.get(bob_home + "ratings", timeout=10).text
        undone = session.post(ann_home + "ratings", data={"csrf": csrf_of(ratings.text), "pmid": NEW[2]}, timeout=10)
        assert undone.status_code == 200 and "undone" in undone.text
        assert _ratings(cfg, ANN) == []

        # tracked papers: hers, and those tracked for everyone
        track = link_for(ann_msg, s, "track", NEW[0])
        session.post(track, data={"csrf": csrf_of(session.get(track, timeout=10).text)}, timeout=10)
        tracked = session.get(ann_home + "tracked", timeout=10)
        assert "report 41100001" in tracked.text and "Tracked for every reader" in tracked.text
        assert "Stop tracking" not in session.get(bob_home + "tracked", timeout=10).text
        stop = session.post(ann_home + "tracked", data={"csrf": csrf_of(tracked.text), "pmid": NEW[0]}, timeout=10)
        assert "no longer tracked" in stop.text

        # watches, each with its chart of new items per week
        watches = session.get(ann_home + "watches", timeout=10)
        assert "BTK inhibitors in ITP" in watches.text and "3 new in the last 12 weeks" in watches.text
        chart = session.get(ann_home + "watches/0.svg", timeout=10)
        assert chart.headers["content-type"].startswith("image/svg+xml") and b"<svg" in chart.content
        assert session.get(ann_home + "watches/9.svg", timeout=10).status_code == 404

        # an action link is not a key to the pages
        assert session.get(up.replace("/a/", "/r/") + "/", timeout=10).status_code == 404


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def test_security_headers_and_no_secrets_in_pages_or_logs(tmp_path: Path, ncbi, smtp, litwatch) -> None:  # noqa: ANN001
    cfg = delivered_scenario(tmp_path, ncbi, smtp, litwatch)
    logger = logging.getLogger("litwatch.web")
    handler = _Lines()
    logger.addHandler(handler)
    level = logger.level
    logger.setLevel(logging.INFO)
    s = signer(cfg)
    message = digest_to(smtp, ANN)
    home, up = link_for(message, s, "home"), link_for(message, s, "up", NEW[0])
    bodies: list[str] = []
    with running_web(cfg) as base:
        for url in (base, home, home + "search?q=x", home + "ratings", home + "watches", up, base + "nope"):
            r = requests.get(url, timeout=10)
            bodies.append(r.text)
            csp = r.headers["content-security-policy"]
            assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp and "script-src" not in csp
            assert r.headers["referrer-policy"] == "no-referrer"
            assert r.headers["x-content-type-options"] == "nosniff"
            assert r.headers["x-frame-options"] == "DENY"
            assert "server" not in {k.lower() for k in r.headers}
            assert "<script" not in r.text
    logger.removeHandler(handler)
    logger.setLevel(level)
    logged = "\n".join(handler.lines)
    assert "web: GET /r/…/ 200" in logged and "web: GET /a/… 200" in logged
    for secret in (SECRET, API_KEY, SMTP_PASSWORD, up.rsplit("/", 1)[1], home.split("/r/")[1].strip("/")):
        assert secret not in logged
        assert all(secret not in b for b in bodies[:1])
    for b in bodies:
        assert SECRET not in b and API_KEY not in b and SMTP_PASSWORD not in b


def test_admin_run_health(tmp_path: Path, ncbi, smtp, litwatch, monkeypatch) -> None:  # noqa: ANN001
    cfg = delivered_scenario(tmp_path, ncbi, smtp, litwatch)
    with running_web(cfg) as base:
        assert requests.get(base + "admin", timeout=10).status_code == 404, "off without the password"
    monkeypatch.setenv("LITWATCH_WEB_ADMIN_PASSWORD", ADMIN_PASSWORD)
    with running_web(cfg) as base:
        r = requests.get(base + "admin", timeout=10)
        assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Basic")
        assert requests.get(base + "admin", auth=("admin", "wrong"), timeout=10).status_code == 401
        r = requests.get(base + "admin", auth=("admin", ADMIN_PASSWORD), timeout=10)
        assert r.status_code == 200
        status = litwatch("status", "--config", str(cfg), "--json")
        import json

        facts = json.loads(status.out)
        assert f"ok: {facts['health']}" in r.text
        assert facts["next_run"] in r.text and f"{facts['articles']} articles" in r.text
        for run in facts["runs"]:
            assert f"<td>{run['id']}</td>" in r.text
        for secret in (ADMIN_PASSWORD, SECRET, API_KEY, SMTP_PASSWORD):
            assert secret not in r.text
        codes = [requests.get(base + "admin", auth=("admin", f"guess{i}"), timeout=10).status_code for i in range(12)]
        assert 429 in codes, "wrong passwords are rate-limited"


def test_serve_serves_the_web_companion_beside_the_scheduler(tmp_path: Path, ncbi, smtp) -> None:  # noqa: ANN001
    from tests.test_serve import FAR_CRON, Child, wait_until

    baseline(ncbi)
    cfg = web_config(tmp_path, ncbi, smtp, extra=FAR_CRON)
    base = load_config(cfg).web.base_url  # type: ignore[union-attr]
    child = Child("serve", "--config", str(cfg))
    try:
        def up() -> bool:
            try:
                return requests.get(base + "healthz", timeout=2).status_code == 200
            except requests.ConnectionError:
                return False

        wait_until(up, 30, "the web companion")
        assert child.signal(signal.SIGTERM) == 0, child.err
    finally:
        child.kill()
    assert "web: serving" in child.err and SECRET not in child.err
    with pytest.raises(requests.ConnectionError):
        requests.get(base + "healthz", timeout=2)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_litwatch_web_serves_alone_and_stops_cleanly(tmp_path: Path, ncbi, signum: int) -> None:  # noqa: ANN001
    from tests.test_serve import Child, wait_until

    baseline(ncbi)
    cfg = web_config(tmp_path, ncbi, None)
    base = load_config(cfg).web.base_url  # type: ignore[union-attr]
    child = Child("web", "--config", str(cfg))
    try:
        def up() -> bool:
            try:
                return requests.get(base, timeout=2).status_code == 200
            except requests.ConnectionError:
                return False

        wait_until(up, 30, "litwatch web")
        assert child.signal(signum) == 0, child.err
    finally:
        child.kill()
    assert "stopped" in child.lines[-1] and "Traceback" not in child.err
    assert ncbi.requests == [], "serving pages asks nothing of NCBI"
