"""Small helpers shared by the reliability tests (crash, faults, hostile input, secrets)."""

from __future__ import annotations

import sqlite3
from email.message import EmailMessage
from pathlib import Path

from tests.conftest import baseline as _baseline
from tests.conftest import pmids_in, text_of  # noqa: F401 - re-exported for the reliability tests


def html_of(message: EmailMessage) -> str:
    return message.get_body(preferencelist=("html",)).get_content()

def table_counts(db_path: Path) -> dict[str, int]:
    with sqlite3.connect(db_path) as db:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        return {t: db.execute(f'SELECT COUNT(*) FROM "{t}"').fetchone()[0] for t in tables}

def dump(db_path: Path) -> dict[str, list[tuple]]:
    """Every row of every table (the store's whole state)."""
    db = sqlite3.connect(db_path)
    try:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        return {t: sorted(db.execute(f'SELECT * FROM "{t}"').fetchall(), key=repr) for t in tables}
    finally:
        db.close()

def fast_retries(monkeypatch, ncbi=None) -> None:  # noqa: ANN001
    """In-process runs retry NCBI after 10 ms instead of seconds (the config has no backoff knob).

    With `ncbi` (the fake), requests are not paced either and the fake's rate limit is off: for
    tests about something else than NCBI's pace.
    """
    import litwatch.jobs.parts as parts
    from litwatch.watchers.entrez import Pacer

    original = parts.make_client
    if ncbi is not None:
        ncbi.rate_limit = ncbi.rate_limit_with_key = None

    def make_client(config):  # noqa: ANN001, ANN202
        client = original(config)
        client.backoff = 0.01
        if ncbi is not None:
            client.pacer = Pacer(sleep=lambda s: None)
        return client

    monkeypatch.setattr(parts, "make_client", make_client)

def block_internet(monkeypatch) -> list[str]:  # noqa: ANN001
    """Fail any attempt to resolve or connect to a host other than loopback; returns the attempts."""
    import ipaddress
    import socket

    attempts: list[str] = []

    def loopback(host) -> bool:  # noqa: ANN001
        if host in ("localhost", None, ""):
            return True
        try:
            return ipaddress.ip_address(str(host).split("%")[0]).is_loopback
        except ValueError:
            return False

    real_getaddrinfo = socket.getaddrinfo
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex

    def getaddrinfo(host, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        if not loopback(host if not isinstance(host, bytes) else host.decode()):
            attempts.append(f"resolve {host}")
            raise OSError(f"test: no internet (tried to resolve {host})")
        return real_getaddrinfo(host, *args, **kwargs)

    def check(address) -> None:  # noqa: ANN001
        if isinstance(address, tuple) and not loopback(address[0]):
            attempts.append(f"connect {address}")
            raise OSError(f"test: no internet (tried to connect to {address})")

    def connect(self, address):  # noqa: ANN001, ANN202
        check(address)
        return real_connect(self, address)

    def connect_ex(self, address):  # noqa: ANN001, ANN202
        check(address)
        return real_connect_ex(self, address)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    return attempts

def baseline(ncbi, n: int = 5) -> list[str]:  # noqa: ANN001
    """n old BTK/ITP hits (3 of them also rilzabrutinib hits) and the tracked paper cited by the first."""
    return _baseline(ncbi, n)
