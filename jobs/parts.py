"""The composition root: every part a command or a run needs, built from a `Config`, in one place.

Commands never build a store, a client or a deliverer themselves: they ask here, so a setting
such as `[store] busy_timeout` holds for every command, not only for `run`.

- `make_store(config)`: the store (SQLite or PostgreSQL), migrated, with `[store] busy_timeout`.
- `make_lock(config)`: the run lock of that store (one run per store at a time).
- `make_client(config)`: the Entrez client (`[ncbi]`).
- `make_icite(config)`: the iCite client, or None when `[tracked] sources` leaves iCite out.
- `make_sources(config)`: the outside services' clients (iCite, Europe PMC, OpenAlex) a run needs.
- `make_deliverer(config)`: the e-mail deliverer (`[smtp]`, else the outbox folder).
- `make_clock(config)`: now, in `[schedule] timezone` (default: the machine's).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from litwatch.jobs.config import Config
from litwatch.jobs.run.outside import Clients
from litwatch.notifications.delivery import Deliverer, OutboxDeliverer, SmtpDeliverer
from litwatch.watchers.entrez import EntrezClient
from litwatch.watchers.europepmc import EuropePMCClient
from litwatch.watchers.icite import ICiteClient
from litwatch.watchers.openalex import OpenAlexClient
from litwatch.watchers.store import Store, open_store, run_lock

Clock = Callable[[], datetime]


def make_store(config: Config, *, migrate: bool = True) -> Store:
    """The configured store, honouring `[store] busy_timeout`."""
    return open_store(path=config.store_path, url=config.store.url, timeout=config.store.busy_timeout, migrate=migrate)


def make_store_at(config: Config, *, path: Path | None = None, url: str | None = None) -> Store:
    """Another store than the configured one (`migrate-store --to`), with the same busy timeout."""
    return open_store(path=path, url=url, timeout=config.store.busy_timeout)


def make_lock(config: Config) -> AbstractContextManager[None]:
    """The run lock of the configured store; entering it raises `LockBusy` when it is taken."""
    return run_lock(store_path=config.store_path, url=config.store.url)


def make_client(config: Config) -> EntrezClient:
    return EntrezClient(
        email=config.ncbi.email,
        api_key=config.api_key(),
        base_url=config.ncbi.base_url,
        timeout=config.ncbi.timeout,
        deadline=config.ncbi.deadline,
        retries=config.ncbi.retries,
        dtd_cache=config.store_path.parent / "ncbi-dtds",  # DTDs newer than Biopython (watchers.dtds)
    )


def make_icite(config: Config) -> ICiteClient | None:
    if "icite" not in config.tracked.sources:
        return None
    return ICiteClient(
        config.tracked.icite_url, email=config.ncbi.email, timeout=config.ncbi.timeout, deadline=config.ncbi.deadline
    )


def make_sources(config: Config) -> Clients:
    """The clients of the cited-by and preprint sources `config` asks for (jobs/run/outside.py):
    iCite, Europe PMC (also for a watch's `preprint_query`), OpenAlex (its key from the environment
    or a file, never the config)."""
    t = config.tracked
    wants_epmc = "europepmc" in t.sources or any(w.preprint_query for w in config.watch)
    common: dict[str, Any] = {"email": config.ncbi.email, "timeout": config.ncbi.timeout, "deadline": config.ncbi.deadline}
    return Clients(
        icite=make_icite(config),
        europepmc=EuropePMCClient(t.europepmc_url, **common) if wants_epmc else None,
        openalex=OpenAlexClient(t.openalex_url, api_key=config.openalex_key(), **common)
        if "openalex" in t.sources
        else None,
    )


def make_deliverer(config: Config) -> Deliverer:
    if config.smtp is None:
        return OutboxDeliverer(config.outbox_path)
    smtp = config.smtp
    return SmtpDeliverer(
        host=smtp.host,
        port=smtp.effective_port,
        security=smtp.security,
        username=smtp.username,
        password=config.smtp_password(),
        timeout=smtp.timeout,
        ca_file=str(config.resolve(smtp.ca_file)) if smtp.ca_file else None,
    )


def make_clock(config: Config) -> Clock:
    """Now, aware, in the schedule's time zone (the machine's when none is set)."""
    tz = ZoneInfo(config.schedule.timezone) if config.schedule.timezone else None
    return lambda: datetime.now(tz).astimezone()
