"""A reader's library file (`[[recipient]] library = "..."`): the papers they already care about.

Read formats, told apart by the file's content (the extension only breaks ties):
  - RIS (Zotero, EndNote, Mendeley exports: "TY  - JOUR" ... "ER  -"), with rispy;
  - BibTeX (@article{...}), with bibtexparser;
  - CSL-JSON (Zotero's "CSL JSON" export: a list of items, or one item);
  - a plain list of PMIDs (whitespace, commas or one per line; `#` starts a comment).

Each paper becomes a `LibraryPaper`: its PMID when the file gives one (a PMID field, an accession
number, a PubMed URL, or a note "PMID: 123"), and its title, abstract and keywords.  Any problem
(missing, unreadable, not one of the formats, no papers in it) is one `LibraryError` line naming the
file; the caller ranks without the library and says so.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import rispy
from bibtexparser.entrypoint import parse_string

__all__ = ["LibraryError", "LibraryPaper", "load_library", "parse_library"]

MAX_BYTES = 50_000_000  # a library file larger than this is refused, not read into memory

_PMID_FIELD = re.compile(r"^[1-9][0-9]{0,9}$")
_PMID_IN_TEXT = re.compile(r"(?:PMID\s*:?\s*|pubmed\.ncbi\.nlm\.nih\.gov/|ncbi\.nlm\.nih\.gov/pubmed/)([1-9][0-9]{0,9})", re.IGNORECASE)
_TAGS = re.compile(r"<[^>]+>")


class LibraryError(Exception):
    """The library file cannot be used, as one line: `FILE: PROBLEM`."""


@dataclass(frozen=True, slots=True)
class LibraryPaper:
    pmid: str = ""
    title: str = ""
    abstract: str = ""
    keywords: tuple[str, ...] = ()
    authors: tuple[str, ...] = ()  # "Smith J" (family name and initials) where known
    journal: str = ""

    @property
    def text(self) -> str:
        """What the ranker compares new articles with."""
        return " ".join(p for p in (self.title, self.abstract, " ".join(self.keywords)) if p)

    @property
    def label(self) -> str:
        if self.pmid:
            return f"PMID {self.pmid}"
        title = self.title if len(self.title) <= 60 else self.title[:59].rstrip() + "\u2026"
        return f"\u201c{title}\u201d"


def _clean(value: Any) -> str:
    if isinstance(value, list):
        value = " ".join(str(v) for v in value)
    text = _TAGS.sub("", str(value or ""))
    text = text.replace("{", "").replace("}", "")
    return " ".join(text.split())


def _pmid_from(*values: Any) -> str:
    for value in values:
        if value is None:
            continue
        for v in value if isinstance(value, list) else [value]:
            s = str(v).strip()
            if _PMID_FIELD.match(s):
                return s
            if m := _PMID_IN_TEXT.search(s):
                return m.group(1)
    return ""


def _initials(given: str) -> str:
    return "".join(p[0] for p in re.split(r"[\s.\-]+", given) if p)


def _ris_author(name: str) -> str:
    family, _, given = name.partition(",")
    return (family.strip() + (" " + _initials(given.strip()) if given.strip() else "")).strip()


def _parse_ris(text: str) -> list[LibraryPaper]:
    records = rispy.loads(text, skip_unknown_tags=True)
    out: list[LibraryPaper] = []
    for r in records:
        notes = r.get("notes") or []
        pmid = _pmid_from(r.get("pubmed_id"), r.get("accession_number"), r.get("urls"), notes, r.get("custom1"))
        authors = [*(r.get("authors") or []), *(r.get("first_authors") or [])]
        out.append(
            LibraryPaper(
                pmid=pmid,
                title=_clean(r.get("title") or r.get("primary_title") or ""),
                abstract=_clean(r.get("abstract") or r.get("notes_abstract") or ""),
                keywords=tuple(_clean(k) for k in r.get("keywords") or () if _clean(k)),
                authors=tuple(_ris_author(str(a)) for a in authors if str(a).strip()),
                journal=_clean(r.get("journal_name") or r.get("secondary_title") or r.get("alternate_title3") or ""),
            )
        )
    return out


def _parse_bibtex(text: str) -> list[LibraryPaper]:
    library = parse_string(text)
    out: list[LibraryPaper] = []
    for entry in library.entries:
        fields = {f.key.lower(): f.value for f in entry.fields}
        authors = [a.strip() for a in str(fields.get("author", "")).split(" and ") if a.strip()]
        out.append(
            LibraryPaper(
                pmid=_pmid_from(fields.get("pmid"), fields.get("eprint") if str(fields.get("eprinttype", "")).lower() == "pubmed" else None, fields.get("url"), fields.get("note")),
                title=_clean(fields.get("title", "")),
                abstract=_clean(fields.get("abstract", "")),
                keywords=tuple(k for k in (_clean(x) for x in re.split(r"[;,]", str(fields.get("keywords", "")))) if k),
                authors=tuple(_ris_author(_clean(a)) for a in authors),
                journal=_clean(fields.get("journal", "")),
            )
        )
    return out


def _parse_csl_json(data: Any) -> list[LibraryPaper]:
    items = data if isinstance(data, list) else [data]
    out: list[LibraryPaper] = []
    for item in items:
        if not isinstance(item, dict):
            raise ValueError("a CSL-JSON file is a list of items (objects)")
        names = []
        for a in item.get("author") or []:
            if isinstance(a, dict):
                family = str(a.get("family") or a.get("literal") or "").strip()
                given = str(a.get("given") or "").strip()
                if family:
                    names.append(family + (" " + _initials(given) if given else ""))
        keywords = item.get("keyword") or ""
        out.append(
            LibraryPaper(
                pmid=_pmid_from(item.get("PMID"), item.get("pmid"), item.get("URL"), item.get("note")),
                title=_clean(item.get("title", "")),
                abstract=_clean(item.get("abstract", "")),
                keywords=tuple(k for k in (_clean(x) for x in re.split(r"[;,]", str(keywords))) if k),
                authors=tuple(names),
                journal=_clean(item.get("container-title", "")),
            )
        )
    return out


def _parse_pmid_list(text: str) -> list[LibraryPaper] | None:
    tokens: list[str] = []
    for line in text.splitlines():
        line = line.split("#", 1)[0]
        tokens += [t for t in re.split(r"[\s,;]+", line) if t]
    if not tokens or not all(_PMID_FIELD.match(t) for t in tokens):
        return None
    return [LibraryPaper(pmid=p) for p in dict.fromkeys(tokens)]


def parse_library(text: str, name: str = "") -> list[LibraryPaper]:
    """The papers of a library file's `text`; ValueError when it is none of the formats."""
    stripped = text.lstrip("\ufeff").strip()
    suffix = Path(name).suffix.lower()
    if not stripped:
        raise ValueError("the file is empty")
    if stripped[0] in "[{" or suffix in (".json", ".csljson"):
        try:
            data = json.loads(stripped)
        except json.JSONDecodeError as exc:
            raise ValueError(f"not valid CSL-JSON ({exc.msg}, line {exc.lineno})") from None
        return _parse_csl_json(data)
    if re.search(r"^TY  - ", stripped, re.MULTILINE) or suffix in (".ris", ".nbib"):
        papers = _parse_ris(stripped)
        if papers:
            return papers
    if re.search(r"^\s*@\w+\s*[{(]", stripped, re.MULTILINE) or suffix in (".bib", ".bibtex"):
        papers = _parse_bibtex(stripped)
        if papers:
            return papers
    pmids = _parse_pmid_list(stripped)
    if pmids is not None:
        return pmids
    raise ValueError("not RIS, BibTeX, CSL-JSON or a list of PMIDs")


def load_library(path: Path) -> list[LibraryPaper]:
    """Read a library file; `LibraryError` (one line naming the file) on any problem."""
    try:
        if path.stat().st_size > MAX_BYTES:
            raise LibraryError(f"{path}: library file larger than {MAX_BYTES // 1_000_000} MB; not read")
        raw = path.read_bytes()
    except FileNotFoundError:
        raise LibraryError(f"{path}: library file not found") from None
    except IsADirectoryError:
        raise LibraryError(f"{path}: library file is a folder") from None
    except OSError as exc:
        raise LibraryError(f"{path}: cannot read the library file: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")  # old EndNote exports
    try:
        papers = parse_library(text, path.name)
    except LibraryError:
        raise
    except Exception as exc:  # noqa: BLE001 - any parser failure is one line naming the file
        raise LibraryError(f"{path}: not a library file: {' '.join(str(exc).split()) or type(exc).__name__}") from None
    papers = [p for p in papers if p.pmid or p.text]
    if not papers:
        raise LibraryError(f"{path}: no papers in the library file")
    return papers
