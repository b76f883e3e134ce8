"""`litwatch rate up|down|undo|clear|list`: each reader's ratings from the command line.

A rating takes effect at the reader's next digest: a paper rated up joins their reference set (what
new articles are compared with), a paper rated down their negative set, and once they have rated
enough papers a model of their own refines the order (notifications/ranking.py).  Ratings are kept
per reader in the store (watchers/ratings.py, the API the web companion uses too).

The recipient is `--recipient EMAIL`, or the only recipient of the config; an address the config does
not list is refused (exit 2).  A PMID the reader was never sent may be rated all the same (it joins
their reference set; a note says so); its record is fetched from PubMed when the store lacks it.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from typing import Any

from litwatch.jobs import parts
from litwatch.jobs.config import Config, RecipientConfig
from litwatch.jobs.terminal import printable
from litwatch.watchers.entrez import EntrezError
from litwatch.watchers.errors import EXIT_FAILED, EXIT_OK, UsageError
from litwatch.watchers.ratings import (
    DOWN,
    UP,
    all_ratings,
    clear_ratings,
    ratings_of,
    record_rating,
    undo_rating,
    was_sent,
)
from litwatch.watchers.store import Store

_PMID = re.compile(r"^[1-9][0-9]{0,9}$")


def resolve_recipient(config: Config, recipient: str | None) -> RecipientConfig:
    """The recipient named (case-insensitively), or the only one; UsageError otherwise."""
    everyone = config.recipients()
    if recipient is None:
        if len(everyone) == 1:
            return everyone[0]
        names = ", ".join(r.email for r in everyone)
        raise UsageError(f"--recipient: the config lists {len(everyone)} recipients ({names}); say whose rating it is")
    for r in everyone:
        if r.email.lower() == recipient.strip().lower():
            return r
    raise UsageError(f"--recipient: {recipient} is not a recipient in {config.source}")


def _check_pmids(pmids: list[str]) -> None:
    for p in pmids:
        if not _PMID.match(p):
            raise UsageError(f"not a PMID: {p!r}")


def _fetch_missing(config: Config, store: Store, pmids: list[str]) -> tuple[set[str], str]:
    """Fetch and store the records of `pmids` the store lacks.  (PMIDs PubMed has no record of,
    a one-line problem when PubMed could not be asked: '' when it could.)"""
    known = store.articles.known(pmids)
    missing = [p for p in pmids if p not in known]
    if not missing:
        return set(), ""
    client = parts.make_client(config)
    try:
        found = {r.pmid: r for r in client.fetch_records(missing)}
    except EntrezError as exc:
        return set(), str(exc)
    finally:
        client.close()
    with store.transaction():
        store.articles.put(found.values())
    return {p for p in missing if p not in found}, ""


def rate(config: Config, value: int, pmids: list[str], recipient: str | None) -> int:
    r = resolve_recipient(config, recipient)
    _check_pmids(pmids)
    word = "up" if value == UP else "down"
    status = EXIT_OK
    with parts.make_store(config) as store:
        unknown, problem = _fetch_missing(config, store, pmids)
        titles = store.articles.get(pmids)
        for p in dict.fromkeys(pmids):
            if p in unknown:
                print(f"litwatch: PMID {p} is not in PubMed; not rated", file=sys.stderr)
                status = EXIT_FAILED
                continue
            changed = record_rating(store, r.email, p, value, source="cli")
            a = titles.get(p)
            title = f" {a.title[:70]}" if a else ""
            print(printable(f"rated {word}{'' if changed else ' (already)'}: {p}{title}"))
            if not was_sent(store, r.email, p):
                print(f"note: PMID {p} was never sent to {r.email}; it joins their reference set all the same")
            if a is None:
                why = f" ({problem})" if problem else ""
                print(f"note: the record of PMID {p} could not be fetched{why}; it counts once litwatch stores it")
    return status


def undo(config: Config, pmids: list[str], recipient: str | None) -> int:
    r = resolve_recipient(config, recipient)
    _check_pmids(pmids)
    status = EXIT_OK
    with parts.make_store(config) as store:
        for p in dict.fromkeys(pmids):
            if undo_rating(store, r.email, p):
                print(f"rating removed: {p}")
            else:
                print(f"litwatch: PMID {p} was not rated by {r.email}", file=sys.stderr)
                status = EXIT_FAILED
    return status


def clear(config: Config, recipient: str | None) -> int:
    r = resolve_recipient(config, recipient)
    with parts.make_store(config) as store:
        n = clear_ratings(store, r.email)
    print(f"{n} rating{'s' if n != 1 else ''} of {r.email} removed")
    return EXIT_OK


def rating_rows(config: Config, recipient: str | None) -> list[dict[str, Any]]:
    """Ratings with the articles' titles: the reader's, or everyone's when there are several
    recipients and none is named."""
    with parts.make_store(config) as store:
        if recipient is None and len(config.recipients()) > 1:
            ratings = all_ratings(store)
        else:
            ratings = ratings_of(store, resolve_recipient(config, recipient).email)
        articles = store.articles.get({x.pmid for x in ratings})
    rows: list[dict[str, Any]] = []
    for x in ratings:
        a = articles.get(x.pmid)
        rows.append({**x.as_dict(), "title": a.title if a else "", "first_author": a.first_author if a else "", "year": a.year if a else None})
    return rows


def rate_list(config: Config, recipient: str | None, *, as_json: bool) -> int:
    rows = rating_rows(config, recipient)
    if as_json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return EXIT_OK
    if not rows:
        print("no ratings")
        return EXIT_OK
    several = len({r["recipient"] for r in rows}) > 1
    for row in rows:
        who = f"{row['recipient']}  " if several else ""
        title = row["title"] if len(row["title"]) <= 60 else row["title"][:59] + "\u2026"
        print(printable(f"{who}{row['rating']:<5} {row['pmid']:<10} {row['rated_at'][:10]}  {title}"))
    return EXIT_OK


# -- the command ----------------------------------------------------------------------------------


def command(args: argparse.Namespace, config: Config) -> int:
    action = args.rate_command
    if action in ("up", "down"):
        return rate(config, UP if action == "up" else DOWN, args.pmids, args.recipient)
    if action == "undo":
        return undo(config, args.pmids, args.recipient)
    if action == "clear":
        return clear(config, args.recipient)
    return rate_list(config, args.recipient, as_json=args.json)
