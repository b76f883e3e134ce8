"""Synthetic but realistic PubMed data for the benchmarks: records, and Entrez dates over decades.

Records are built on demand from their PMID (`LazyRecords`), so a fake server can "hold" 50,000
of them without building them up front.  Each is what `efetch` returns for a typical recent
journal article: 4-9 authors, a structured abstract of about 1,500 characters, 6-12 MeSH headings,
keywords, DOI, publication types, and a reference list of 20-40 entries on half of them (PubMed
includes reference lists for PMC-deposited articles).  About 10 KB of XML a record on average.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Iterable, Iterator, Mapping
from datetime import date, timedelta

from tests.fakes.pubmed_xml import esc, make_article

WORDS = ["immune", "thrombocytopenia", "platelet", "count", "response", "rate", "patients", "treatment", "therapy", "bleeding", "risk", "zanubrutinib", "rilzabrutinib", "ibrutinib", "kinase", "inhibitor", "tyrosine", "bruton", "refractory", "relapsed", "chronic", "cohort", "retrospective", "prospective", "randomized", "trial", "outcome", "survival", "analysis", "adverse", "events", "safety", "efficacy", "dose", "median", "months", "follow-up", "children", "adults", "eltrombopag", "romiplostim", "rituximab", "splenectomy", "corticosteroids", "dexamethasone", "antibody", "autoimmune", "megakaryocyte", "bone", "marrow", "diagnosis", "guideline"]
SURNAMES = ["Zhang", "Wang", "Li", "Liu", "Chen", "Yang", "Huang", "Smith", "Garcia", "Muller", "Rossi", "Tanaka", "Kim", "Nguyen", "Silva", "Cohen", "Novak", "Jensen", "Dubois", "Kowalski", "Ivanova", "Ahmed", "Singh", "Okafor"]
FORENAMES = ["Wei", "Lu", "Anna", "Maria", "John", "Yuki", "Min", "Sara", "Carlos", "Hans", "Giulia", "Omar", "Priya", "Chidi", "Lena", "Pavel"]
JOURNALS = (
    ("American journal of hematology", "Am J Hematol"),
    ("Blood", "Blood"),
    ("British journal of haematology", "Br J Haematol"),
    ("Haematologica", "Haematologica"),
    ("Thrombosis research", "Thromb Res"),
    ("Frontiers in immunology", "Front Immunol"),
)
MESH = ("Humans", "Female", "Male", "Adult", "Middle Aged", "Aged", "Child", "Thrombocytopenia",
        "Purpura, Thrombocytopenic, Idiopathic", "Platelet Count", "Treatment Outcome", "Retrospective Studies",
        "Protein Kinase Inhibitors", "Agammaglobulinaemia Tyrosine Kinase", "Recurrence", "Prospective Studies")
SECTIONS = ("Background", "Methods", "Results", "Conclusions")


def _sentence(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n)).capitalize() + "."


def article_xml(pmid: str, edat: date) -> str:
    """One realistic `<PubmedArticle>` for `pmid`, with Entrez date `edat` (deterministic)."""
    rng = random.Random(int(pmid))
    journal, iso = rng.choice(JOURNALS)
    abstract = [
        (label, " ".join(_sentence(rng, rng.randint(14, 24)) for _ in range(rng.randint(2, 4))))
        for label in SECTIONS
    ]
    refs = []
    if rng.random() < 0.5:
        refs = [
            (
                (f"{rng.choice(SURNAMES)} {rng.choice('ABCDEFGH')}, et al. {_sentence(rng, 9)} "
                 f"{rng.choice(JOURNALS)[1]}. {rng.randint(1995, 2025)};{rng.randint(1, 140)}:{rng.randint(1, 999)}."),
                str(rng.randint(10_000_000, 39_000_000)),
            )
            for _ in range(rng.randint(20, 40))
        ]
    return make_article(
        pmid,
        esc(_sentence(rng, rng.randint(10, 20))[:-1]) + (": a <i>post hoc</i> analysis" if rng.random() < 0.2 else ""),
        authors=[(rng.choice(SURNAMES), rng.choice(FORENAMES), rng.choice("ABCDEFGHJKLMNPRSTW"))
                 for _ in range(rng.randint(4, 9))],
        journal=journal,
        iso=iso,
        year=edat.year,
        month=edat.month,
        day=edat.day,
        volume=str(rng.randint(1, 150)),
        issue=str(rng.randint(1, 12)),
        pages=f"{rng.randint(100, 900)}-{rng.randint(901, 999)}",
        entrez_date=edat.strftime("%Y/%m/%d"),
        doi=f"10.1002/bench.{pmid}",
        pmcid=f"PMC{pmid}" if refs else None,
        abstract=abstract,
        publication_types=rng.choice((("Journal Article",), ("Journal Article", "Review"),
                                      ("Randomized Controlled Trial", "Journal Article"))),
        keywords=rng.sample(WORDS, rng.randint(3, 6)),
        mesh=rng.sample(MESH, rng.randint(6, 12)),
        epub=(edat - timedelta(days=rng.randint(0, 20))).isoformat(),
        references=refs,
    )


class LazyRecords(Mapping[str, str]):
    """pmid -> record XML, built when asked for, for every pmid with an Entrez date in `edat`.

    Plugs into `FakeEutils.records` (which only uses `in`, `[]` and `.get`).
    """

    def __init__(self, edat: Mapping[str, date], extra: dict[str, str] | None = None) -> None:
        self.edat = edat
        self.extra = extra if extra is not None else {}

    def __getitem__(self, pmid: str) -> str:
        if pmid in self.extra:
            return self.extra[pmid]
        if pmid not in self.edat:
            raise KeyError(pmid)
        return article_xml(pmid, self.edat[pmid])

    def get(self, pmid: str, default: str | None = None) -> str | None:  # type: ignore[override]
        """Only records set explicitly: the fake's esearch calls `get` for every hit, for an Entrez
        date that `edat` already gives; building 50,000 records per search would time the fake."""
        return self.extra.get(pmid, default)

    def __setitem__(self, pmid: str, xml: str) -> None:
        self.extra[pmid] = xml

    def prebuild(self, pmids: Iterable[str]) -> None:
        """Build these records now, so that serving them during a measured run costs the fake
        (which shares the machine with the client) next to nothing."""
        for pmid in pmids:
            self.extra[pmid] = article_xml(pmid, self.edat[pmid])

    def __contains__(self, pmid: object) -> bool:
        return pmid in self.extra or pmid in self.edat

    def __iter__(self) -> Iterator[str]:
        yield from self.extra
        yield from (p for p in self.edat if p not in self.extra)

    def __len__(self) -> int:
        return len(set(self.extra) | set(self.edat))


# PubMed records a year, in thousands (approximate: growth, then the post-2020 plateau).
_PUBMED_PER_YEAR = {1950: 90, 1960: 150, 1970: 210, 1980: 270, 1990: 400, 2000: 530, 2005: 700,
                    2010: 930, 2015: 1150, 2020: 1600, 2021: 1700, 2022: 1650, 2023: 1600, 2024: 1650, 2025: 1700}


def _per_year(year: int) -> float:
    years = sorted(_PUBMED_PER_YEAR)
    if year >= years[-1]:
        return _PUBMED_PER_YEAR[years[-1]]
    for a, b in itertools.pairwise(years):
        if a <= year <= b:
            return _PUBMED_PER_YEAR[a] + (_PUBMED_PER_YEAR[b] - _PUBMED_PER_YEAR[a]) * (year - a) / (b - a)
    return _PUBMED_PER_YEAR[years[0]]


def decades_of_dates(n: int, today: date, *, seed: int = 7, topic_growth: float = 0.03) -> list[date]:
    """`n` Entrez dates from 1950 to `today`, spread like a real topic's hits: PubMed's own yearly
    growth (with its post-2020 plateau) times the topic's extra growth a year."""
    rng = random.Random(seed)
    years = list(range(1950, today.year + 1))
    weights = [_per_year(y) * math.exp(topic_growth * (y - 1950)) for y in years]
    weights[-1] *= today.timetuple().tm_yday / 365  # this year is not over
    out = []
    for y in rng.choices(years, weights, k=n):
        last = today if y == today.year else date(y, 12, 31)
        span = (last - date(y, 1, 1)).days
        out.append(date(y, 1, 1) + timedelta(days=rng.randint(0, span)))
    return out


def recent_dates(n: int, today: date, days: int, *, seed: int = 11) -> list[date]:
    """`n` Entrez dates in the last `days` days (weekdays a little busier, like PubMed)."""
    rng = random.Random(seed)
    out = []
    while len(out) < n:
        d = today - timedelta(days=rng.randrange(days))
        if d.weekday() < 5 or rng.random() < 0.3:
            out.append(d)
    return out
