"""The web companion's test scenario: the fake E-utilities, the real SMTP server, a config with
`[web]`, a run that delivers digests carrying signed links, and the app served by uvicorn on loopback."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path

import pytest

from litwatch.jobs.config import load_config
from litwatch.notifications.links import Claim, LinkSigner
from tests.conftest import Q_BTK, Q_RILZA, SmtpServer, add_itp_article, baseline, free_port, scenario_config
from tests.fakes.eutils import FakeEutils

SECRET = "web-secret-for-tests-0123456789-abcdef"  # a known secret: tests search every output for it
ADMIN_PASSWORD = "admin-password-for-tests-5521"
ANN, BOB = "ann@example.org", "bob@example.org"
NEW = ["41100001", "41100002", "41100003"]
URL = re.compile(r"https?://[^\s<>\"]+")


@pytest.fixture
def web_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LITWATCH_WEB_SECRET", SECRET)
    monkeypatch.delenv("LITWATCH_WEB_ADMIN_PASSWORD", raising=False)


def web_config(
    folder: Path,
    ncbi: FakeEutils,
    smtp: SmtpServer | None,
    *,
    store_url: str | None = None,
    recipients: list[str] | None = None,
    web_extra: str = "",
    extra: str = "",
    port: int | None = None,
) -> Path:
    port = port or free_port()
    web = f'[web]\nlisten = "127.0.0.1:{port}"\nbase_url = "http://127.0.0.1:{port}"\n{web_extra}\n'
    return scenario_config(
        folder, ncbi, smtp=smtp, store_url=store_url, recipients=recipients or [ANN, BOB], extra=web + extra
    )


def news(ncbi: FakeEutils, base: list[str], pmids: list[str] = NEW) -> None:
    """New hits for both watches."""
    for i, pmid in enumerate(pmids):
        add_itp_article(ncbi, pmid, days_ago=1 + i)
    ncbi.add_search(Q_BTK, base + pmids)
    ncbi.add_search(Q_RILZA, base[:3] + pmids[:1])


def delivered_scenario(tmp_path: Path, ncbi: FakeEutils, smtp: SmtpServer, litwatch, **kwargs) -> Path:  # noqa: ANN001
    """A baseline run, then a run that sends each reader a digest of NEW (with links)."""
    base = baseline(ncbi)
    cfg = web_config(tmp_path, ncbi, smtp, **kwargs)
    r = litwatch("run", "--config", str(cfg))
    assert r.code == 0, r.err
    news(ncbi, base)
    smtp.received.clear()
    r = litwatch("run", "--config", str(cfg))
    assert r.code == 0, r.err
    return cfg


def signer(cfg: Path, secret: str = SECRET, **kwargs) -> LinkSigner:  # noqa: ANN003
    config = load_config(cfg)
    assert config.web is not None
    return LinkSigner(secret, config.web.base_url, **kwargs)


def digest_to(smtp: SmtpServer, address: str) -> EmailMessage:
    got = [r.message for r in smtp.received if address in r.rcpt_tos]
    assert got, f"no digest to {address}"
    return got[-1]


def text_part(message: EmailMessage) -> str:
    return message.get_body(preferencelist=("plain",)).get_content()


def html_part(message: EmailMessage) -> str:
    return message.get_body(preferencelist=("html",)).get_content()


@dataclass(frozen=True)
class DigestLink:
    url: str
    token: str
    claim: Claim


def web_links(message: EmailMessage, s: LinkSigner) -> list[DigestLink]:
    """The web links of a digest's text part, in order, with what their tokens say."""
    out = []
    for url in URL.findall(text_part(message)):
        if not url.startswith(s.base_url):
            continue
        token = url[len(s.base_url) :].split("/")[1]
        out.append(DigestLink(url, token, s.read(token)))
    return out


def link_for(message: EmailMessage, s: LinkSigner, action: str, pmid: str = "") -> str:
    found = [x.url for x in web_links(message, s) if x.claim.action == action and x.claim.pmid == pmid]
    assert found, f"no {action} link for {pmid!r}"
    return found[0]


@contextmanager
def running_web(cfg: Path) -> Iterator[str]:
    """The web companion of `cfg` served by uvicorn on loopback, as `litwatch serve` runs it; its base URL."""
    import requests

    from litwatch.jobs.web.server import WebServer

    config = load_config(cfg)
    server = WebServer(config)
    server.start()
    base = config.web.base_url if config.web else ""
    try:
        for _ in range(100):
            try:
                if requests.get(base + "healthz", timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                import time

                time.sleep(0.05)
        yield base
    finally:
        server.stop()


CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def csrf_of(html: str) -> str:
    match = CSRF.search(html)
    assert match, "the page has no form"
    return match.group(1)
