"""Shared fixtures: the fake E-utilities and iCite servers, a real SMTP server on loopback, a
config writer, and a way to run the `litwatch` command in this process."""

from __future__ import annotations

import email
import email.policy
import logging
import os
import re
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as AioSMTP
from aiosmtpd.smtp import Envelope, Session

from tests.fakes.europepmc import FakeEuropePMC
from tests.fakes.eutils import FakeEutils
from tests.fakes.icite import FakeICite
from tests.fakes.openalex import FakeOpenAlex
from tests.fakes.pubmed_xml import esc

ROOT = Path(__file__).resolve().parents[1]
API_KEY = "test-api-key-3f1e9c"  # a known secret: tests search every output for it
SMTP_PASSWORD = "test-smtp-password-77ab"

TRACKED = "39973148"
TRACKED_TITLE = (
    "A Case Series and Literature Review on Zanubrutinib Therapy for the Treatment of "
    "Relapsed/Refractory Immune Thrombocytopenia"
)
Q_BTK = (
    '(zanubrutinib OR rilzabrutinib OR ibrutinib OR "Bruton tyrosine kinase inhibitor") AND '
    '("Purpura, Thrombocytopenic, Idiopathic"[MeSH Terms] OR "immune thrombocytopenia"[Title/Abstract])'
)
Q_RILZA = "rilzabrutinib[Title/Abstract]"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    time: float = field(default_factory=time.monotonic)  # when the server accepted it

    @property
    def message(self) -> EmailMessage:
        return email.message_from_bytes(self.data, policy=email.policy.default)  # type: ignore[return-value]


@dataclass
class SmtpHandler:
    """Records what the server accepted; can refuse recipients or answer DATA with an error."""

    received: list[Received] = field(default_factory=list)
    refuse: dict[str, str] = field(default_factory=dict)  # recipient -> SMTP reply
    data_reply: str | None = None  # e.g. "421 try later"
    # text -> SMTP reply: a message whose decoded text parts contain it is refused after DATA
    # (a content filter, or a size limit that only one item's message exceeds)
    refuse_containing: dict[str, str] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_RCPT(self, server: AioSMTP, session: Session, envelope: Envelope, address: str, options):  # noqa: N802, ANN001
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: AioSMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802
        if self.data_reply:
            return self.data_reply
        if self.refuse_containing:
            parsed = email.message_from_bytes(envelope.original_content or envelope.content, policy=email.policy.default)
            text = " ".join(
                str(part.get_content()) for part in parsed.walk() if part.get_content_maintype() == "text"
            )
            for needle, reply in self.refuse_containing.items():
                if needle in text:
                    return reply
        with self.lock:
            self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content or envelope.content))
        return "250 Message accepted for delivery"


class SmtpServer:
    """aiosmtpd on 127.0.0.1; `stop()` and `start()` again on the same port simulate an outage."""

    def __init__(self, **controller_kwargs) -> None:
        self.handler = SmtpHandler()
        self.port = free_port()
        self.kwargs = controller_kwargs
        self.controller: Controller | None = None

    def start(self) -> SmtpServer:
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port, **self.kwargs)
        self.controller.start()
        return self

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    @property
    def received(self) -> list[Received]:
        return self.handler.received

    def messages(self) -> list[EmailMessage]:
        return [r.message for r in self.received]


# aiosmtpd logs every connection at INFO from its own thread; keep it out of the CLI's stderr
logging.getLogger("mail.log").setLevel(logging.WARNING)


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer().start()
    yield server
    server.stop()


@pytest.fixture
def ncbi() -> Iterator[FakeEutils]:
    with FakeEutils() as fake:
        yield fake


@pytest.fixture
def icite() -> Iterator[FakeICite]:
    with FakeICite() as fake:
        yield fake


@pytest.fixture
def epmc() -> Iterator[FakeEuropePMC]:
    with FakeEuropePMC() as fake:
        yield fake


OPENALEX_KEY = "oa-test-key-5d2c81"  # a known secret: tests search every output for it


@pytest.fixture
def openalex() -> Iterator[FakeOpenAlex]:
    with FakeOpenAlex(keys=(OPENALEX_KEY,)) as fake:
        yield fake


@pytest.fixture(autouse=True)
def _environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Known secrets in the environment; no user config leaks in."""
    monkeypatch.setenv("LITWATCH_NCBI_API_KEY", API_KEY)
    monkeypatch.setenv("LITWATCH_SMTP_PASSWORD", SMTP_PASSWORD)
    monkeypatch.delenv("LITWATCH_CONFIG", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    # A DTD that Biopython does not bundle is fetched (watchers.dtds): never from the internet in
    # a test; a closed loopback port unless the test serves DTDs itself (tests/fakes/dtdhost.py).
    monkeypatch.setenv("LITWATCH_TEST_DTD_BASE_URL", "http://127.0.0.1:9")


def write_config(folder: Path, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "litwatch.toml"
    path.write_text(text, encoding="utf-8")
    path.chmod(0o600)
    return path


def toml_str(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def scenario_config(
    folder: Path,
    ncbi: FakeEutils,
    *,
    smtp: SmtpServer | None = None,
    watches: list[tuple[str, str]] | None = None,
    tracked: list[str] | None = None,
    extra: str = "",
    digest_extra: str = "",
    recipients: list[str] | None = None,
    retries: int = 2,
    store_url: str | None = None,
) -> Path:
    watches = watches if watches is not None else [("BTK inhibitors in ITP", Q_BTK), ("Rilzabrutinib", Q_RILZA)]
    tracked = tracked if tracked is not None else [TRACKED]
    recipients = recipients if recipients is not None else ["haematology@example.org"]
    lines = [
        "[ncbi]",
        'email = "lab@haematology-unit.org"',  # not an example domain: run and check would warn
        f"base_url = {toml_str(ncbi.base_url)}",
        "timeout = 5",
        f"retries = {retries}",
        "",
    ]
    for name, query in watches:
        lines += ["[[watch]]", f"name = {toml_str(name)}", f"query = {toml_str(query)}", ""]
    lines += ["[tracked]", "pmids = [" + ", ".join(toml_str(p) for p in tracked) + "]", ""]
    lines += [
        "[digest]",
        'sender = "litwatch@example.org"',
        "recipients = [" + ", ".join(toml_str(r) for r in recipients) + "]",
        digest_extra,
        "",
    ]
    if smtp is not None:
        lines += ["[smtp]", 'host = "127.0.0.1"', f"port = {smtp.port}", 'security = "none"', ""]
    if store_url is not None:
        lines += ["[store]", f"url = {toml_str(store_url)}", ""]
    lines.append(extra)
    return write_config(folder, "\n".join(lines))


@dataclass
class CliResult:
    code: int
    out: str
    err: str


@pytest.fixture
def litwatch(capsys: pytest.CaptureFixture[str]):
    """Run `litwatch ARGS...` in this process; returns exit code, stdout, stderr."""
    from litwatch.jobs.cli.main import main

    def run(*args: str) -> CliResult:
        capsys.readouterr()
        code = main(list(args))
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run


def run_subprocess(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    """Run the installed `litwatch` entry point in a child process (for signals, locks, crashes)."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "litwatch.jobs", *args], capture_output=True, text=True, env=full_env, timeout=timeout, cwd=ROOT
    )


def add_itp_article(ncbi: FakeEutils, pmid: str, *, days_ago: int = 1, title: str | None = None, **kwargs) -> None:
    """A BTK/ITP-flavoured PubMed record with an Entrez date `days_ago` before the fake's today."""
    edat = ncbi.today - timedelta(days=days_ago)
    kwargs.setdefault("authors", (("Zhang", "Wei", "W"), ("Li", "Na", "N"), ("Chen", "Hao", "H")))
    kwargs.setdefault("journal", "American journal of hematology")
    kwargs.setdefault("iso", "Am J Hematol")
    kwargs.setdefault("year", edat.year)
    kwargs.setdefault("month", edat.month)
    kwargs.setdefault("day", edat.day)
    kwargs.setdefault("doi", f"10.1002/ajh.{pmid}")
    ncbi.add_article(
        pmid,
        title if title is not None else esc(f"Zanubrutinib in immune thrombocytopenia: report {pmid}"),
        edat=edat,
        **kwargs,
    )


def seed_tracked(ncbi: FakeEutils, citing: list[str] | None = None) -> None:
    """The zanubrutinib case series (PMID 39973148) and its cited-by list."""
    ncbi.add_article(
        TRACKED,
        esc(TRACKED_TITLE),
        edat=date(2025, 2, 20),
        authors=(("Wang", "Lu", "L"), ("Sun", "Hui", "H")),
        journal="Cancer reports (Hoboken, N.J.)",
        iso="Cancer Rep (Hoboken)",
        year=2025,
        month=2,
        day=18,
        doi="10.1002/cnr2.70152",
        pmcid="PMC11840241",
        publication_types=("Journal Article", "Case Reports", "Review"),
    )
    ncbi.citedin[TRACKED] = list(citing or [])


# -- both stores: SQLite and PostgreSQL --------------------------------------------------------------

POSTGRES_ENV = "LITWATCH_TEST_POSTGRES_URL"
POSTGRES_SKIP = f"PostgreSQL half skipped: set {POSTGRES_ENV}=postgresql://127.0.0.1:5432/test"


def with_search_path(url: str, schema: str) -> str:
    """`url` with `options=-csearch_path=SCHEMA` added (libpq URL query parameter)."""
    return f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{schema}"


@contextmanager
def postgres_schema() -> Iterator[str]:
    """A fresh schema in the test database (dropped afterwards): its URL.  Skips without the env var."""
    base = os.environ.get(POSTGRES_ENV)
    if not base:
        pytest.skip(POSTGRES_SKIP)
    with fresh_schema(base) as url:
        yield url


@contextmanager
def fresh_schema(base: str, prefix: str = "lw_") -> Iterator[str]:
    """A new schema in the database at `base`, dropped afterwards: the URL that uses it."""
    import psycopg

    schema = f"{prefix}{uuid.uuid4().hex}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    try:
        yield with_search_path(base, schema)
    finally:
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest) -> Iterator[str | None]:
    """None (the SQLite file beside the config) or the URL of a fresh, isolated PostgreSQL schema."""
    if request.param == "sqlite":
        yield None
        return
    with postgres_schema() as url:
        yield url


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """The URL of a fresh, isolated PostgreSQL schema (skips without LITWATCH_TEST_POSTGRES_URL)."""
    with postgres_schema() as url:
        yield url


def db_rows(cfg_path: Path, sql: str, params: tuple = ()) -> list[tuple]:
    """Rows of `sql` (`?` placeholders) run on the store the config names, SQLite or PostgreSQL."""
    from litwatch.jobs.config import load_config
    from litwatch.watchers.store import open_store

    config = load_config(cfg_path)
    with open_store(path=config.store_path, url=config.store.url, migrate=False) as store:
        return store.rows(sql, params)


# Debian's Chromium (installed by .ci/run), headless and kept off the network: without the
# background-networking flags it tries to reach the internet at every start.
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


PUBMED_LINK = re.compile(r"pubmed\.ncbi\.nlm\.nih\.gov/(\d+)/")


def pmids_in(message: EmailMessage) -> set[str]:
    """PMIDs linked from a digest's text part."""
    text = message.get_body(preferencelist=("plain",)).get_content()
    return set(PUBMED_LINK.findall(text))


def text_of(message: EmailMessage) -> str:
    """A digest's text part with whitespace folded (wrapping does not matter)."""
    return " ".join(message.get_body(preferencelist=("plain",)).get_content().split())


def baseline(ncbi: FakeEutils, n: int = 25, *, first: int = 41000000, rilza: int = 3, cited: bool = True) -> list[str]:
    """n old BTK/ITP hits (the first `rilza` also rilzabrutinib hits) and the tracked paper,
    cited by the first hit when `cited`."""
    ids = [str(first + i) for i in range(n)]
    for i, pmid in enumerate(ids):
        add_itp_article(ncbi, pmid, days_ago=400 + i)
    ncbi.add_search(Q_BTK, ids)
    ncbi.add_search(Q_RILZA, ids[:rilza])
    seed_tracked(ncbi, citing=ids[:1] if cited else [])
    return ids
