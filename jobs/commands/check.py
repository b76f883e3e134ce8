"""`litwatch check`: is this config ready to run?

The config is valid (it was loaded); each watch's query is asked of PubMed for its hit count, and
PubMed's reading of it (QueryTranslation) is shown with any complaint (a phrase not found, a field
not known, ...); the mail server is connected to, TLS started and the login tried, without sending
anything; chat targets and the feed folder are checked.  Nothing is written to the store.
Exit 0 when all is well, 1 on any problem.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

from litwatch.jobs import parts
from litwatch.jobs.config import WEB_ADMIN_PASSWORD_ENV, WEB_SECRET_ENV, Config, ConfigError, warn_if_placeholder
from litwatch.jobs.run.notify import resolve_url, target_name
from litwatch.jobs.terminal import printable
from litwatch.jobs.web.server import bind
from litwatch.notifications.chat import ChatDeliverer, apprise_available
from litwatch.notifications.delivery import DeliveryError
from litwatch.watchers.entrez import EntrezError
from litwatch.watchers.errors import EXIT_FAILED, EXIT_OK, StoreError
from litwatch.watchers.icite import ICiteError
from litwatch.watchers.jsonapi import ServiceError
from litwatch.watchers.library import LibraryError, load_library
from litwatch.watchers.redact import redact_url
from litwatch.watchers.search import SearchResult
from litwatch.watchers.store import open_store


@dataclass
class Report:
    quiet: bool = False
    problems: list[str] = field(default_factory=list)

    def ok(self, text: str) -> None:
        if not self.quiet:
            print(printable(f"ok       {text}"))

    def info(self, text: str) -> None:
        if not self.quiet:
            print(printable(f"         {text}"))

    def problem(self, text: str) -> None:
        self.problems.append(text)
        print(printable(f"PROBLEM  {text}"))


def check_ncbi(config: Config, report: Report) -> None:
    """PubMed answers (one esearch for a tracked PMID): what a run of tracked papers only needs."""
    client = parts.make_client(config)
    try:
        pmid = (config.tracked.pmids or ["1"])[0]
        client.esearch(f"{pmid}[uid]", retmax=0)
    except EntrezError as exc:
        report.problem(f"PubMed could not be asked: {exc}")
    else:
        report.ok(f"PubMed answers ({config.ncbi.base_url})")
    finally:
        client.close()


def check_watches(config: Config, report: Report) -> None:
    if not config.watch:
        report.ok("no [[watch]]: tracked papers only")
        check_ncbi(config, report)  # the run still asks PubMed about the tracked papers
        return
    client = parts.make_client(config)
    try:
        for watch in config.watch:
            try:
                page = client.esearch(watch.query, retmax=0)
            except EntrezError as exc:
                report.problem(f"watch “{watch.name}”: PubMed could not be asked: {exc}")
                return  # the next watches would fail the same way
            problems = SearchResult(
                count=page.count, query_translation=page.query_translation, errors=page.errors, warnings=page.warnings
            ).problems
            line = f"watch “{watch.name}”: {page.count:,} hit{'s' if page.count != 1 else ''} in PubMed"
            if problems:
                report.problem(line)
            elif page.count == 0:
                report.ok(line + " (none yet: check the spelling if that is unexpected)")
            else:
                report.ok(line)
            # one line, unwrapped: it is meant to be copied into PubMed's search box
            searched = "PubMed searched: " + (page.query_translation or "(no translation given)")
            if problems:
                print(printable(f"         {searched}"))
            else:
                report.info(searched)
            for text in problems:
                print(printable(f"         PubMed says: {text}"))
    finally:
        client.close()


def check_smtp(config: Config, report: Report) -> None:
    if config.smtp is None:
        report.ok(f"no [smtp]: digests are written to {config.outbox_path}")
        return
    smtp = config.smtp
    where = f"smtp {smtp.host}:{smtp.effective_port} ({smtp.security})"
    try:
        deliverer = parts.make_deliverer(config)
        deliverer.check()  # type: ignore[attr-defined]
    except ConfigError as exc:
        report.problem(f"{where}: {str(exc).split(': ', 1)[-1]}")
        return
    except DeliveryError as exc:
        report.problem(f"{where}: {exc}")
        return
    steps = ["connected"]
    if smtp.security == "starttls":
        steps.append("TLS started")
    if smtp.username:
        steps.append(f"logged in as {smtp.username}")
    report.ok(f"{where}: {', '.join(steps)} (nothing sent)")


def check_notify(config: Config, report: Report) -> None:
    if not config.notify:
        return
    if not apprise_available():
        report.problem("[[notify]] is configured but Apprise is not installed: pip install 'litwatch[chat]'")
        return
    for index, target in enumerate(config.notify):
        name = target_name(target, index)
        try:
            ChatDeliverer(resolve_url(target), name).check()
        except (ConfigError, DeliveryError) as exc:
            report.problem(f"chat {name}: {exc}")
            continue
        report.ok(f"chat {name}: an Apprise URL (nothing sent)")


def _writable_folder(folder: Path) -> str | None:
    """Why files cannot be created in `folder` (created if missing, like a run does), or None."""
    probe = folder
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if not probe.is_dir():
        return f"{probe} is a file, not a folder"
    if not os.access(probe, os.W_OK | os.X_OK):
        return f"{probe} is not writable by this user"
    return None


def check_store(config: Config, report: Report) -> None:
    """What `run` needs of the store: PostgreSQL reachable, or a SQLite file that can be opened."""
    if config.store.url:
        where = redact_url(config.store.url)
        try:
            with open_store(url=config.store.url, migrate=False):
                pass
        except StoreError as exc:
            report.problem(f"store: {exc}")
            return
        report.ok(f"store {where}: PostgreSQL answers")
        return
    path = config.store_path
    if path.is_dir():
        report.problem(f"store: {path} is a folder; [store] path names the SQLite database file")
        return
    if path.exists():
        if not os.access(path, os.R_OK | os.W_OK):
            report.problem(f"store: {path} is not readable and writable by this user")
            return
        folder_problem = None if os.access(path.parent, os.W_OK | os.X_OK) else f"{path.parent} is not writable by this user (SQLite writes its journal there)"
    else:
        folder_problem = _writable_folder(path.parent)
    if folder_problem:
        report.problem(f"store: {path}: {folder_problem}")
    else:
        report.ok(f"store {path}" + ("" if path.exists() else " (created by the first run)"))


def check_outbox(config: Config, report: Report) -> None:
    if config.smtp is not None:
        return
    folder = config.outbox_path
    problem = _writable_folder(folder) if not folder.exists() or folder.is_dir() else f"{folder} is a file, not a folder"
    if problem:
        report.problem(f"outbox: {problem}")


def check_feed(config: Config, report: Report) -> None:
    folder = config.feed_path
    if folder is None:
        return
    probe = folder if folder.exists() else next((p for p in folder.parents if p.exists()), folder)
    if os.access(probe, os.W_OK):
        report.ok(f"feeds: {folder} is writable")
    else:
        report.problem(f"feeds: cannot write to {folder}")


def check_web(config: Config, report: Report) -> None:
    """[web]: the framework installed, the signing secret (never shown), the address free, the links' URL."""
    web = config.web
    if web is None:
        report.ok("no [web]: digests carry no web links (ratings from the command line: litwatch rate)")
        return
    if not all(importlib.util.find_spec(m) for m in ("starlette", "uvicorn", "pygal")):
        report.problem("[web] is configured but the web companion is not installed: pip install 'litwatch[web]'")
    try:
        secret = config.web_secret()
    except ConfigError as exc:
        report.problem(str(exc).split(": ", 1)[-1])
    else:
        source = WEB_SECRET_ENV if os.environ.get(WEB_SECRET_ENV) else f"web.secret_file {config.resolve(web.secret_file or '')}"
        report.ok(f"web: signing secret from {source} ({len(secret)} characters); links valid {web.link_days} days")
    report.ok(f"web: links point at {web.base_url}" + ("" if web.base_url.startswith("https://") else " (plain http: loopback only)"))
    try:
        bind(config).close()
    except ConfigError as exc:
        report.info(f"web: {str(exc).split(': ', 2)[-1]} (fine when litwatch serve or web is running)")
    else:
        report.ok(f"web: listens on {web.listen} (free now)")
    admin = "on" if config.web_admin_password() else f"off (set {WEB_ADMIN_PASSWORD_ENV} to turn it on)"
    report.info(f"web: admin page (run health) {admin}")
    shared = [r.email for r in config.recipients() if not r.unsubscribe]
    if shared:
        report.info("web: no unsubscribe link for " + ", ".join(shared) + " (unsubscribe = false)")


def check_libraries(config: Config, report: Report) -> None:
    """Each reader's library file ([[recipient]] library): readable, and how many papers."""
    for r in config.recipients():
        if not r.library:
            continue
        try:
            papers = load_library(config.resolve(r.library))
        except LibraryError as exc:
            report.problem(f"library of {r.email}: {exc}")
        else:
            with_pmid = sum(1 for p in papers if p.pmid)
            report.ok(f"library of {r.email}: {len(papers)} papers ({with_pmid} with a PMID)")


def check_sources(config: Config, report: Report) -> None:
    """Each outside source configured: one small request each (nothing is stored)."""
    try:
        clients = parts.make_sources(config)
    except ConfigError as exc:
        report.problem(str(exc).split(": ", 1)[-1])
        return
    sample = config.tracked.pmids[0] if config.tracked.pmids else "23456789"
    try:
        if clients.icite is not None:
            try:
                n = len(clients.icite.cited_by([sample]).get(sample, set()))
                report.ok(f"iCite: answers (PMID {sample}: {n} citing papers)")
            except ICiteError as exc:
                report.problem(f"iCite: {exc}")
        epmc = clients.europepmc
        if epmc is not None and "europepmc" in config.tracked.sources:
            try:
                n = len(epmc.citations(sample))
                report.ok(f"Europe PMC: answers (PMID {sample}: {n} citing works)")
            except ServiceError as exc:
                report.problem(f"Europe PMC: {exc}")
        for watch in config.watch:
            if not watch.preprint_query or epmc is None:
                continue
            try:
                n = epmc.count(f"({watch.preprint_query}) AND SRC:PPR")
            except ServiceError as exc:
                report.problem(f"watch “{watch.name}”: preprint_query: {exc}")
                continue
            line = f"watch “{watch.name}”: {n:,} preprint{'s' if n != 1 else ''} in Europe PMC"
            report.ok(line + (" (none yet: check the query if that is unexpected)" if n == 0 else ""))
        oa = clients.openalex
        if oa is not None:
            keyed = f"key from {config.tracked.openalex_key_env}" if oa.api_key else "no API key"
            try:
                wid = oa.work_id(sample)
            except ServiceError as exc:
                report.problem(f"OpenAlex ({keyed}): {exc}")
            else:
                report.ok(f"OpenAlex ({keyed}): answers (PMID {sample}: {wid or 'not known to OpenAlex'})")
                if not oa.api_key:
                    report.info("without a key OpenAlex allows only a small daily budget: get a free key at "
                                "openalex.org/settings/api")
    finally:
        clients.close()


def check(config: Config, *, quiet: bool = False) -> int:
    report = Report(quiet=quiet)
    report.ok(f"config {config.source}")
    check_store(config, report)
    check_watches(config, report)
    check_sources(config, report)
    check_smtp(config, report)
    check_outbox(config, report)
    check_notify(config, report)
    check_feed(config, report)
    check_web(config, report)
    check_libraries(config, report)
    sys.stdout.flush()
    if report.problems:
        n = len(report.problems)
        print(f"litwatch: {n} problem{'s' if n != 1 else ''} found", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


def command(args: argparse.Namespace, config: Config) -> int:
    warn_if_placeholder(config)
    return check(config, quiet=args.quiet)
