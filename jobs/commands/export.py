"""`litwatch export`: stored articles as RIS, BibTeX, CSV or JSON, for a reference manager, LaTeX,
a spreadsheet or a script.

All stored articles, or those a watch found (`--watch`), or those first seen since a date
(`--since`), oldest first.  Standard output, or a file (`--output`, replaced atomically).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from datetime import UTC, date, datetime
from pathlib import Path

from litwatch.jobs import parts
from litwatch.jobs.config import Config
from litwatch.jobs.output import write_output
from litwatch.notifications.bibtex import articles_to_bibtex
from litwatch.notifications.exports import articles_to_csv, articles_to_ris, pubmed_url
from litwatch.notifications.model import Entry
from litwatch.watchers.errors import EXIT_OK, UsageError

log = logging.getLogger("litwatch")


def parse_since(value: str | None) -> str | None:
    """'2026-11-01' (a date, read as UTC midnight) or a full ISO time; None stays None."""
    if value is None:
        return None
    try:
        return date.fromisoformat(value).isoformat()
    except ValueError:
        pass
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise UsageError(f"--since: not a date (YYYY-MM-DD): {value!r}") from None
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).astimezone(UTC).isoformat(timespec="seconds")


def export_text(config: Config, fmt: str, *, watch: str | None = None, since: str | None = None) -> tuple[str, int]:
    """(the export, number of articles)."""
    with parts.make_store(config) as store:
        rows = store.articles.stored(watch=watch, since=since)
        watches = store.watches.of(a.pmid for a, _ in rows)
    entries = [Entry(article=a, watches=tuple(watches.get(a.pmid, ()))) for a, _ in rows]
    if fmt == "ris":
        text = articles_to_ris(entries)
    elif fmt == "bibtex":
        text = articles_to_bibtex(entries)
    elif fmt == "csv":
        text = articles_to_csv(entries)
    else:
        records = []
        for entry, (_, seen) in zip(entries, rows, strict=True):
            a = entry.article
            records.append(
                {
                    "pmid": a.pmid,
                    "url": pubmed_url(a.pmid),
                    "title": a.title,
                    "year": a.year,
                    "first_author": a.first_author,
                    "first_seen": seen,
                    "watches": list(entry.watches),
                    "article": a.to_dict(),
                }
            )
        text = json.dumps(records, ensure_ascii=False, indent=2) + "\n"
    return text, len(entries)


def export(
    config: Config,
    fmt: str,
    *,
    watch: str | None = None,
    since: str | None = None,
    output: Path | None = None,
) -> int:
    if watch is not None and watch not in {w.name for w in config.watch}:
        names = ", ".join(repr(w.name) for w in config.watch) or "none"
        raise UsageError(f"--watch: no watch is named {watch!r} (watches: {names})")
    text, count = export_text(config, fmt, watch=watch, since=parse_since(since))
    if output is None:
        sys.stdout.write(text)
        sys.stdout.flush()
    else:
        write_output(output, text.encode("utf-8"))
    where = f" to {output}" if output else ""
    if count:
        log.info("exported %d article%s as %s%s", count, "s" if count != 1 else "", fmt, where)
    else:
        log.warning("no stored article matches; nothing exported%s", where and f" (wrote an empty {fmt} file{where})")
    return EXIT_OK


def command(args: argparse.Namespace, config: Config) -> int:
    return export(
        config, args.format, watch=args.watch, since=args.since, output=Path(args.output) if args.output else None
    )
