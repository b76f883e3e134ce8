"""`litwatch history`: what was announced, when, to whom and why; `litwatch show PMID`: one stored
article in full, with why litwatch knows it."""

from __future__ import annotations

import argparse
import sys
import textwrap
from datetime import datetime, tzinfo
from zoneinfo import ZoneInfo

from litwatch.jobs import parts
from litwatch.jobs.commands.export import parse_since
from litwatch.jobs.config import Config
from litwatch.jobs.run.notify import target_names
from litwatch.jobs.terminal import printable, printable_json
from litwatch.notifications.exports import pubmed_url
from litwatch.watchers.announcements import (
    Citation,
    Correction,
    Hit,
    Item,
    PreprintHit,
    Published,
    SentArticleNotice,
    WorkCitation,
)
from litwatch.watchers.articles import Article
from litwatch.watchers.errors import EXIT_FAILED, EXIT_OK, UsageError

KIND_ORDER = {
    "sent_notice": 0,
    "correction": 0,
    "hit": 1,
    "published": 1,
    "preprint": 1,
    "citation": 2,
    "work_citation": 2,
}


class NotStored(LookupError):
    """`litwatch show` of a PMID the store does not hold."""


def _tz(config: Config) -> tzinfo | None:
    return ZoneInfo(config.schedule.timezone) if config.schedule.timezone else None


def _local(stamp: str | None, tz: tzinfo | None) -> str:
    if not stamp:
        return "—"
    return datetime.fromisoformat(stamp).astimezone(tz).strftime("%Y-%m-%d %H:%M")


def _recipient_label(recipient: str, names: dict[str, str]) -> str:
    if recipient in names:
        return f"chat {names[recipient]}"
    if recipient.startswith("notify:"):
        return "chat (a [[notify]] target no longer configured)"
    return recipient


def _short(paper: Article | None) -> str:
    """' (Wang L 2025)' or ''."""
    if paper is None or not paper.first_author:
        return ""
    return f" ({paper.first_author}{f' {paper.year}' if paper.year else ''})"


def _notice(pmid: str, source: str) -> str:
    return (f": notice PMID {pmid}" if pmid else "") + (f" ({source})" if source else "")


def _reason(item: Item) -> str:
    """The `reason` of `history --json` (its format since the first release): the watch, the cited
    PMID, or "KIND|NOTICE_PMID|SOURCE"."""
    if isinstance(item, Hit):
        return item.watch
    if isinstance(item, Citation):
        return item.cited
    if isinstance(item, Correction):
        return f"{item.kind}|{item.notice_pmid}|{item.source}"
    if isinstance(item, SentArticleNotice):
        return f"{item.kind}|{item.notice_pmid}|{item.source}|{item.sent_on}"
    if isinstance(item, WorkCitation):
        return item.cited
    if isinstance(item, PreprintHit | Published):
        return item.watch
    return item.text


def _why(item: Item, titles: dict[str, Article]) -> str:
    if isinstance(item, Hit):
        return f"watch “{item.watch}”"
    if isinstance(item, Citation):
        return f"cites tracked PMID {item.cited}" + _short(titles.get(item.cited))
    if isinstance(item, Correction):
        return f"{item.kind} of this tracked paper" + _notice(item.notice_pmid, item.source)
    if isinstance(item, SentArticleNotice):
        return f"{item.kind} of this article, sent on {item.sent_on}" + _notice(item.notice_pmid, item.source)
    if isinstance(item, WorkCitation):
        return f"a work outside PubMed citing tracked PMID {item.cited}" + _short(titles.get(item.cited))
    if isinstance(item, PreprintHit):
        return f"preprint found by watch “{item.watch}”"
    if isinstance(item, Published):
        return f"watch “{item.watch}”: now published (preprint {item.work})"
    return item.text


def history_records(config: Config, *, since: str | None = None, watch: str | None = None) -> list[dict]:
    """One record per delivered message, oldest first: when, to whom, and each item with why."""
    with parts.make_store(config) as store:
        rows = [r for r in store.queue.history(since=parse_since(since), watch=watch) if r[2].TYPE in KIND_ORDER]
        messages = store.deliveries.sent_messages(since=parse_since(since)) if watch is None else []
        pmids = {r[2].pmid for r in rows} | {r[2].cited for r in rows if isinstance(r[2], Citation)}
        articles = store.articles.get(pmids)
        rated = {(x.recipient, x.pmid): x.label for x in store.ratings.all()}
    names = target_names(config)
    out: list[dict] = []
    by_message: dict[str, dict] = {}
    for sent_at, recipient, announced, message_id in rows:
        kind, pmid = announced.TYPE, announced.pmid
        record = by_message.get(message_id)
        if record is None:
            record = {
                "sent_at": sent_at,
                "recipient": recipient,
                "to": _recipient_label(recipient, names),
                "message_id": message_id,
                "items": [],
            }
            by_message[message_id] = record
            out.append(record)
        article = articles.get(pmid)
        notices = ("correction", "sent_notice")  # a notice on a paper is its own item; hits and citations merge
        notice = kind in notices
        same = [i for i in record["items"] if i["pmid"] == pmid and (i["kind"] in notices) == notice]
        item = same[0] if same else None
        if item is None:
            item = {"pmid": pmid, "kind": kind, "title": article.title if article else "", "reasons": []}
            if kind != "correction" and (rating := rated.get((recipient.lower(), pmid))):
                item["rating"] = rating  # the reader's rating of it, "up" or "down" (litwatch rate)
            record["items"].append(item)
        item["reasons"].append({"kind": kind, "reason": _reason(announced), "why": _why(announced, articles)})
    for sent_at, recipient, message_id, subject in messages:
        if message_id not in by_message:  # a digest of notes only (a first run's baselines), or empty
            record = {
                "sent_at": sent_at,
                "recipient": recipient,
                "to": _recipient_label(recipient, names),
                "message_id": message_id,
                "subject": subject,
                "items": [],
            }
            by_message[message_id] = record
            out.append(record)
    order = {m[2]: i for i, m in enumerate(messages)}  # when they were sent, to the second, then sent first
    out.sort(key=lambda r: (r["sent_at"] or "", order.get(r["message_id"], len(order))))
    for record in out:
        record["items"].sort(key=lambda i: (KIND_ORDER.get(i["kind"], 9), -int(i["pmid"]) if i["pmid"].isdigit() else 0))
    return out


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 2].rstrip() + " …"


def history(config: Config, *, since: str | None, watch: str | None, as_json: bool) -> int:
    records = history_records(config, since=since, watch=watch)
    if as_json:
        print(printable_json(records, indent=2))
        return EXIT_OK
    if not records:
        since_text = f" since {since}" if since else ""
        watch_text = f" by the watch “{watch}”" if watch else ""
        print(f"Nothing was announced{since_text}{watch_text}.")
        return EXIT_OK
    tz = _tz(config)
    width = 100
    for record in records:
        n = len(record["items"])
        if not n:
            what = record.get("subject") or "no articles"
            print(printable(f"{_local(record['sent_at'], tz)}  to {record['to']}  (no articles: {what})"))
            print()
            continue
        print(f"{_local(record['sent_at'], tz)}  to {record['to']}  ({n} item{'s' if n != 1 else ''})")
        for item in record["items"]:
            title = item["title"] or "(title not stored)"
            print(printable(_cut(f"  PMID {item['pmid']:>9}  {title}", width)))
            rating = f"; rated {item['rating']}" if "rating" in item else ""
            print(printable("                   " + "; ".join(r["why"] for r in item["reasons"]) + rating))
        print()
    return EXIT_OK


# -- show -----------------------------------------------------------------------------------------


def show_record(config: Config, pmid: str) -> tuple[Article, dict]:
    with parts.make_store(config) as store:
        article = store.articles.get([pmid]).get(pmid)
        if article is None:
            raise NotStored(pmid)
        context = store.articles.context(pmid)
        cited = store.articles.get(c for c, _, _ in context["cites"])
    context["cited_articles"] = cited
    return article, context


def _field(label: str, value: str, out: list[str]) -> None:
    if value:
        wrapped = textwrap.wrap(value, width=96, initial_indent=f"{label + ':':<21}", subsequent_indent=" " * 21)
        out.extend(wrapped or [f"{label}:"])


def format_article(article: Article, context: dict, tz: tzinfo | None = None) -> str:
    a = article
    out = [f"PMID {a.pmid}  {pubmed_url(a.pmid)}", ""]
    out += textwrap.wrap(a.title or "(no title)", width=96)
    out.append("")
    _field("Authors", ", ".join(x.display for x in a.authors), out)
    journal = a.journal + (f" ({a.journal_iso})" if a.journal_iso and a.journal_iso != a.journal else "")
    _field("Journal", journal, out)
    _field("In the book", a.book_title, out)
    _field("Editors", ", ".join(x.display for x in a.editors), out)
    _field("Publisher", ": ".join(p for p in (a.publisher_location, a.publisher) if p), out)
    _field("NCBI Bookshelf", f"{a.book_accession}  {a.bookshelf_url}" if a.bookshelf_url else "", out)
    _field("Published", a.pub_date.display(), out)
    volume = a.volume + (f"({a.issue})" if a.issue else "") + (f":{a.pages}" if a.pages else "")
    _field("Volume(issue):pages", volume, out)
    _field("Published online", a.epub_date, out)
    _field("Status", {"aheadofprint": "ahead of print"}.get(a.publication_status, a.publication_status), out)
    _field("Entrez date", a.entrez_date, out)
    _field("DOI", f"{a.doi}  https://doi.org/{a.doi}" if a.doi else "", out)
    _field("Publisher item id", a.pii, out)
    _field("PMC", f"{a.pmcid}  https://pmc.ncbi.nlm.nih.gov/articles/{a.pmcid}/" if a.pmcid else "", out)
    _field("Language", a.language, out)
    _field("Publication types", "; ".join(a.publication_types), out)
    _field("MeSH terms", "; ".join(a.mesh_headings), out)
    _field("Keywords", "; ".join(a.keywords), out)
    _field("Data banks", "; ".join(a.databank_ids), out)
    notes = [f"{c.ref_type} {c.ref_source}" + (f" (PMID {c.pmid})" if c.pmid else "") for c in a.comments_corrections]
    _field("Comments/corrections", "; ".join(notes), out)
    if a.abstract:
        out += ["", "Abstract:"]
        for line in a.abstract_text.splitlines():
            out += textwrap.wrap(line, width=96, initial_indent="  ", subsequent_indent="  ") or [""]
    out += ["", "In litwatch:"]
    lines: list[str] = []
    for watch, seen, baseline in context["watches"]:
        how = "in its first-run baseline" if baseline else "announced"
        lines.append(f"found by the watch “{watch}” {_local(seen, tz)} ({how})")
    for cited, source, seen in context["cites"]:
        label = _short(context["cited_articles"].get(cited))
        lines.append(f"cites tracked PMID {cited}{label}, found {_local(seen, tz)} via {source}")
    tracked = context["tracked"]
    if tracked is not None:
        note = f", note: {tracked.note}" if tracked.note else ""
        since = _local(tracked.added_at, tz)
        lines.append(f"tracked since {since} ({tracked.origin}{note}); {context['cited_by']} citing papers known")
    for kind, notice, source, seen in context["corrections"]:
        lines.append(f"{kind} recorded {_local(seen, tz)}" + _notice(notice, source))
    announced: dict[str, str] = {}
    for recipient, sent_at in context["announced"]:
        announced.setdefault(recipient, sent_at)
    for recipient, sent_at in announced.items():
        who = "a chat target" if recipient.startswith("notify:") else recipient
        lines.append(f"announced to {who} {_local(sent_at, tz)}")
    out += [f"  - {line}" for line in lines] or ["  - stored only (not announced)"]
    return "\n".join(out) + "\n"


def show(config: Config, pmid: str, *, as_json: bool) -> int:
    try:
        article, context = show_record(config, pmid)
    except NotStored:
        why = "litwatch stores the articles it announced or tracks"
        print(f"litwatch: PMID {pmid} is not in the store ({why})", file=sys.stderr)
        return EXIT_FAILED
    if as_json:
        data = {
            "article": article.to_dict(),
            "url": pubmed_url(pmid),
            "watches": [{"watch": w, "first_seen": s, "baseline": bool(b)} for w, s, b in context["watches"]],
            "cites": [{"pmid": c, "source": s, "first_seen": f} for c, s, f in context["cites"]],
            "tracked": context["tracked"] is not None,
            "cited_by": context["cited_by"],
            "announced": [{"recipient": r, "sent_at": s} for r, s in context["announced"]],
        }
        print(printable_json(data, indent=2))
        return EXIT_OK
    sys.stdout.write(printable(format_article(article, context, _tz(config))))
    return EXIT_OK


def history_command(args: argparse.Namespace, config: Config) -> int:
    return history(config, since=args.since, watch=args.watch, as_json=args.json)


def show_command(args: argparse.Namespace, config: Config) -> int:
    if not args.pmid.isdigit():
        raise UsageError(f"not a PMID: {args.pmid!r}")
    return show(config, args.pmid, as_json=args.json)
