"""The digest composer: (config, store, clock) -> a recipient's digest, its message and subject.

Shared by the run (jobs/run/deliver.py), `litwatch preview` and `litwatch send-test`, so none of
them builds a pipeline or an Entrez client to render a digest, and the subject is the digest's
own (`subject_line`), never parsed back out of the rendered bytes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from email.utils import make_msgid

from litwatch.jobs.config import Config, RecipientConfig, WatchConfig
from litwatch.jobs.run.outside import work_refs
from litwatch.jobs.run.ranking import Ranking, too_many_to_rank
from litwatch.jobs.web.links import links_for, signer_for
from litwatch.notifications.digest import build_digest
from litwatch.notifications.model import Digest, Entry, WatchNote
from litwatch.notifications.render import ATTACH_MAX, message_bytes, render_digest, subject_line
from litwatch.watchers.announcements import (
    Citation,
    Correction,
    Item,
    Note,
    PreprintHit,
    Published,
    SentArticleNotice,
    WorkCitation,
)
from litwatch.watchers.articles import Article, PubDate
from litwatch.watchers.store import Store
from litwatch.watchers.tracked import query_terms

FULL_RECORDS = ATTACH_MAX  # a digest loads at most this many full records (listed and attached)
TEST_PREFIX = "[litwatch] test: "
ARTICLE_CACHE = 2000  # decoded articles a composer keeps across one run's digests


@dataclass(frozen=True, slots=True)
class Composed:
    """A rendered digest: the bytes to store and send, and its subject."""

    message: bytes
    subject: str
    message_id: str


class Composer:
    def __init__(self, config: Config, store: Store, clock: Callable[[], datetime]) -> None:
        self.config = config
        self.store = store
        self.clock = clock
        self.links = signer_for(config)  # [web]: the digests' signed links (ConfigError: no secret)
        self.ranking = Ranking(config, store)  # what the readers' rankings share, read once
        # Articles decoded for one digest, kept for the next (issue 17: a citation of a tracked
        # paper goes to every reader who takes them).  Filled only while digests are composed,
        # after the run's record step, when the stored records no longer change.
        self._decoded: dict[str, Article] = {}
        self._watch_terms: dict[str, tuple[str, ...]] = {}

    def _terms(self, w: WatchConfig) -> tuple[str, ...]:
        """The watch's key terms (its `terms`, or those of its query), worked out once a run."""
        terms = self._watch_terms.get(w.name)
        if terms is None:
            terms = self._watch_terms[w.name] = tuple(w.terms) if w.terms else query_terms(w.query)
        return terms

    def _articles(self, pmids: set[str]) -> dict[str, Article]:
        """`store.articles.get`, the last `ARTICLE_CACHE` decoded articles kept."""
        cache = self._decoded
        out = {p: cache[p] for p in pmids if p in cache}
        if len(out) < len(pmids):
            loaded = self.store.articles.get(p for p in pmids if p not in out)
            out.update(loaded)
            cache.update(loaded)
            while len(cache) > ARTICLE_CACHE:
                del cache[next(iter(cache))]
        return out

    def message_id(self, idstring: str) -> str:
        domain = self.config.digest.sender.rpartition("@")[2]
        return make_msgid(idstring=idstring, domain=domain)

    def digest(self, r: RecipientConfig, items: Sequence[Item]) -> Digest:
        """`r`'s digest of these queued items, with the stored articles they name."""
        cfg = self.config
        cited = {i.cited for i in items if isinstance(i, Citation | WorkCitation)}
        # (works outside PubMed and preprints are not PubMed records: their references come from `works`)
        pmids = {i.pmid for i in items if not isinstance(i, Note | WorkCitation | PreprintHit)} | cited
        sources: dict[tuple[str, str], list[str]] = {}
        for c, g, s in self.store.citations.of(cited):
            sources.setdefault((c, g), []).append(s)
        watches = cfg.watches_of(r)

        def build(articles: dict[str, Article]) -> Digest:
            return build_digest(
                r.email,
                items,
                articles,
                created=self.clock(),
                watch_order=[w.name for w in watches],
                watch_terms={w.name: self._terms(w) for w in watches},
                watch_queries={w.name: w.query for w in watches},
                citation_sources=sources,
                works=work_refs(self.store, items),
            )

        if len(pmids) <= FULL_RECORDS:
            return self.ranking.rank(r, build(self._articles(pmids)))
        # A huge digest (a large backfill): only what is listed or attached needs the full records.
        # Build it with light stand-ins (PMID and Entrez date, which is all the order needs; the
        # papers named in sentences, cited or corrected, in full), then put the full records into
        # the first FULL_RECORDS entries.  Stand-ins are never shown: entries beyond the listed and
        # attached ones are named by PMID only.
        no_date = PubDate()
        articles = {
            p: Article(pmid=p, title_html="", entrez_date=d, pub_date=no_date)
            for p, d in self.store.articles.entrez_dates(pmids).items()
        }
        named = {i.pmid for i in items if isinstance(i, Correction | SentArticleNotice | Published)}
        articles.update(self.store.articles.get(named | cited))
        digest = build(articles)
        del articles
        head = digest.entries[:FULL_RECORDS]
        full = self.store.articles.get(e.article.pmid for e in head)
        head = tuple(replace(e, article=full.get(e.article.pmid, e.article)) for e in head)
        return too_many_to_rank(cfg, r, replace(digest, entries=head + digest.entries[FULL_RECORDS:]))

    def sample(self, recipient: str, count: int = 5) -> Digest:
        """`litwatch send-test`'s digest: the last `count` stored articles, and a note saying so."""
        articles = self.store.articles.get(pmids := self.store.articles.latest(count))
        return Digest(
            recipient=recipient,
            created=self.clock(),
            entries=tuple(Entry(article=articles[p], watches=("Sample",)) for p in pmids if p in articles),
            notes=(WatchNote("litwatch send-test", "This is a test digest; nothing was marked as sent."),),
        )

    def render(self, digest: Digest, message_id: str, *, subject_prefix: str = "") -> Composed:
        """The message of a digest; `subject_prefix` replaces the subject's "[litwatch] "."""
        message = render_digest(
            digest,
            sender=self.config.digest.sender,
            message_id=message_id,
            max_items=self.config.digest.max_items,
            attach=tuple(self.config.digest.attach),
            templates_dir=self.config.templates_path,
            links=links_for(self.config, self.links, digest.recipient),
        )
        subject = subject_line(digest)
        if subject_prefix:
            subject = subject_prefix + subject.removeprefix("[litwatch] ")
            message.replace_header("Subject", subject)
        return Composed(message_bytes(message), subject, message_id)
