"""Citations and preprints from outside PubMed (issue 16, points 2 and 3): the observe and record
steps for Europe PMC and OpenAlex, and the work references a digest needs."""

from __future__ import annotations

from collections.abc import Iterable

from litwatch.notifications.digest import Item
from litwatch.notifications.model import WorkRef
from litwatch.watchers.sources_store import Work, works
from litwatch.watchers.store import Store


def work_ref(w: Work) -> WorkRef:
    return WorkRef(key=w.key, title=w.title, url=w.url, doi=w.doi, year=w.year, venue=w.venue, authors=w.authors)


def work_refs(store: Store, items: Iterable[Item]) -> dict[str, WorkRef]:
    """The works the items name (citing works, preprints, preprints of journal versions)."""
    keys: set[str] = set()
    for i in items:
        if i.kind in ("work_citation", "preprint"):
            keys.add(i.pmid)
        elif i.kind == "published":
            keys.add(i.reason.partition("|")[0])
    return {k: work_ref(w) for k, w in works(store, keys).items()} if keys else {}
