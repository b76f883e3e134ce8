"""`litwatch track add|remove|list`: tracked papers from the command line.

PMIDs from the config file and from the command line are merged.  A PMID listed in the config is
the config's: `track remove` refuses it (edit the config instead), so the two never disagree.
"""

from __future__ import annotations

import argparse
import re
import sys

from litwatch.jobs import parts
from litwatch.jobs.config import Config
from litwatch.jobs.terminal import printable, printable_json
from litwatch.watchers.errors import EXIT_FAILED, EXIT_OK, EXIT_USAGE, UsageError

_PMID = re.compile(r"[1-9][0-9]{0,9}")


def _check_pmids(pmids: list[str]) -> None:
    for p in pmids:
        if not _PMID.fullmatch(p):
            raise UsageError(f"not a PMID: {p!r}")


def track_add(config: Config, pmids: list[str], note: str) -> int:
    _check_pmids(pmids)
    client = parts.make_client(config)
    try:
        found = {r.pmid: r for r in client.fetch_records(pmids)}
    finally:
        client.close()
    status = EXIT_OK
    with parts.make_store(config) as store:
        with store.transaction():
            store.articles.put(found.values())
            for p in pmids:
                if p not in found:
                    print(f"litwatch: PMID {p} is not in PubMed; not tracked", file=sys.stderr)
                    status = EXIT_FAILED
                    continue
                origin = "config" if p in config.tracked.pmids else "cli"
                added = store.tracked.add(p, origin, note)
                a = found[p].article()
                print(printable(f"{'tracking' if added else 'already tracked'}: {p} {a.first_author} {a.year or ''} {a.title[:70]}"))
    return status


def track_remove(config: Config, pmids: list[str]) -> int:
    _check_pmids(pmids)
    status = EXIT_OK
    with parts.make_store(config) as store:
        with store.transaction():
            for p in pmids:
                if p in config.tracked.pmids:
                    print(
                        f"litwatch: PMID {p} is listed in {config.source} ([tracked] pmids); remove it there",
                        file=sys.stderr,
                    )
                    status = EXIT_USAGE
                elif store.tracked.remove(p):
                    print(f"no longer tracking: {p}")
                else:
                    print(f"litwatch: PMID {p} was not tracked", file=sys.stderr)
                    status = max(status, EXIT_FAILED)
    return status


def tracked_rows(config: Config) -> list[dict]:
    with parts.make_store(config) as store:
        tracked = {t.pmid: t for t in store.tracked.all()}
        pending = [p for p in config.tracked.pmids if p not in tracked]
        articles = store.articles.get(list(tracked) + pending)
        counts = store.citations.counts()
    rows = []
    for pmid in list(tracked) + pending:
        a = articles.get(pmid)
        t = tracked.get(pmid)
        rows.append(
            {
                "pmid": pmid,
                "title": a.title if a else "",
                "first_author": a.first_author if a else "",
                "year": a.year if a else None,
                "citations": counts.get(pmid, 0),
                "note": t.note if t else "",
                "origin": t.origin if t else "config (not yet looked up)",
            }
        )
    return rows


def track_list(config: Config, *, as_json: bool = False) -> int:
    rows = tracked_rows(config)
    if as_json:
        print(printable_json(rows, indent=2))
        return EXIT_OK
    if not rows:
        print("no tracked papers")
        return EXIT_OK
    print(f"{'PMID':<10} {'YEAR':<5} {'CITED':>5}  {'FIRST AUTHOR':<20} TITLE / NOTE")
    for r in rows:
        title = r["title"] if len(r["title"]) <= 60 else r["title"][:59] + "\u2026"
        print(printable(f"{r['pmid']:<10} {str(r['year'] or ''):<5} {r['citations']:>5}  {r['first_author'][:20]:<20} {title}"))
        extra = " · ".join(x for x in (r["note"], r["origin"]) if x)
        if extra:
            print(printable(f"{'':<44}{extra}"))
    return EXIT_OK


def command(args: argparse.Namespace, config: Config) -> int:
    if args.track_command == "add":
        return track_add(config, args.pmids, args.note)
    if args.track_command == "remove":
        return track_remove(config, args.pmids)
    return track_list(config, as_json=args.json)
