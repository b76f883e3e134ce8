#!/usr/bin/env python3
"""Count the real PubMed records kept under raw/ (standard library only).

Formats read (each optionally gzip-compressed, detected by magic bytes):
  * PubMed / MEDLINE XML: PubmedArticleSet (efetch, baseline/update files) and
    the older MedlineCitationSet; every <MedlineCitation> is one record.
  * MEDLINE text ("PMID- ", "TI  - ", "AB  - ", "MH  - ", "PT  - " lines),
    including PubMed's .nbib citation-manager export.
  * BioASQ-derived CSV (columns Title, abstractText, meshMajor, pmid) as
    shipped by the "PubMed MultiLabel Text Classification" dataset.

Usage:  python3 count.py [FILE ...]      (default: every file under raw/)

Prints per file: records, with abstract, with MeSH, with both, with
publication type, with authors, publication-year range; then distinct PMIDs
overall and the 30 most common MeSH descriptors (once per distinct PMID).
"""
import ast
import collections
import csv
import gzip
import io
import os
import re
import sys
import xml.etree.ElementTree as ET

YEAR = re.compile(r"(1[89]\d\d|20\d\d)")


def _open(path):
    with open(path, "rb") as fh:
        magic = fh.read(2)
    return gzip.open(path, "rb") if magic == b"\x1f\x8b" else open(path, "rb")


def _sniff(path):
    name = path[:-3] if path.endswith(".gz") else path
    if name.endswith(".csv"):
        return "csv"
    with _open(path) as fh:
        head = fh.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n")
    return "xml" if head.startswith(b"<") else "medline"


def _text(el):
    return " ".join("".join(el.itertext()).split()) if el is not None else ""


def _year(s):
    m = YEAR.search(s or "")
    return int(m.group(1)) if m else None


def iter_xml(path):
    with _open(path) as fh:
        for _event, el in ET.iterparse(fh, events=("end",)):
            if el.tag != "MedlineCitation":
                continue
            art = el.find("Article")
            title = abstract = ""
            pubtypes, n_auth, year = [], 0, None
            if art is not None:
                title = _text(art.find("ArticleTitle"))
                abstract = " ".join(_text(a) for a in art.findall("Abstract/AbstractText"))
                pubtypes = [_text(p) for p in art.findall("PublicationTypeList/PublicationType")]
                n_auth = len(art.findall("AuthorList/Author"))
                pd = art.find("Journal/JournalIssue/PubDate")
                if pd is not None:
                    year = _year(_text(pd.find("Year")) or _text(pd.find("MedlineDate")))
            mesh = [_text(d) for d in el.findall("MeshHeadingList/MeshHeading/DescriptorName")]
            yield {"pmid": _text(el.find("PMID")), "title": title, "abstract": abstract.strip(),
                   "mesh": mesh, "pt": pubtypes, "n_authors": n_auth, "year": year}
            el.clear()


def _medline_record(r):
    if not r.get("PMID"):
        return None
    mesh = [m.split("/")[0].lstrip("*").strip() for m in r.get("MH", [])]
    return {"pmid": r["PMID"][0].strip(), "title": " ".join(r.get("TI", [])),
            "abstract": " ".join(r.get("AB", [])).strip(), "mesh": mesh,
            "pt": r.get("PT", []), "n_authors": len(r.get("AU", []) or r.get("FAU", [])),
            "year": _year((r.get("DP") or [""])[0])}


def iter_medline(path):
    with _open(path) as fh:
        text = io.TextIOWrapper(fh, encoding="utf-8-sig", errors="replace")
        rec, key = {}, None
        for line in text:
            line = line.rstrip("\r\n")
            if len(line) >= 5 and line[4] == "-" and line[:4].strip() and line[0] != " ":
                key = line[:4].strip()
                if key == "PMID" and rec.get("PMID"):   # records not separated by a blank line
                    out = _medline_record(rec)
                    if out:
                        yield out
                    rec = {}
                rec.setdefault(key, []).append(line[5:].strip())
            elif line.startswith("      ") and key and rec.get(key):
                rec[key][-1] += " " + line.strip()
            elif not line.strip():
                out = _medline_record(rec)
                if out:
                    yield out
                rec, key = {}, None
        out = _medline_record(rec)
        if out:
            yield out


def iter_csv(path):
    csv.field_size_limit(1 << 30)
    with _open(path) as fh:
        for row in csv.DictReader(io.TextIOWrapper(fh, encoding="utf-8", errors="replace")):
            try:
                mesh = list(ast.literal_eval(row.get("meshMajor") or "[]"))
            except (ValueError, SyntaxError):
                mesh = []
            yield {"pmid": (row.get("pmid") or "").strip(), "title": row.get("Title", ""),
                   "abstract": (row.get("abstractText") or "").strip(), "mesh": mesh,
                   "pt": [], "n_authors": 0, "year": None}


READERS = {"xml": iter_xml, "medline": iter_medline, "csv": iter_csv}


def main(argv):
    here = os.path.dirname(os.path.abspath(__file__))
    paths = argv[1:] or sorted(
        os.path.join(dp, f) for dp, _dn, fn in os.walk(os.path.join(here, "raw")) for f in fn)
    all_pmids, mesh_pmids, both_pmids = set(), set(), set()
    mesh_counter = collections.Counter()
    totals = collections.Counter()
    groups = collections.OrderedDict()
    hdr = f"{'file':58s} {'records':>7s} {'abstr':>6s} {'MeSH':>6s} {'both':>6s} {'pubtyp':>6s} {'authrs':>6s}  years"
    print(hdr)
    for path in paths:
        c = collections.Counter()
        years = []
        try:
            for r in READERS[_sniff(path)](path):
                c["records"] += 1
                c["abstract"] += bool(r["abstract"])
                c["mesh"] += bool(r["mesh"])
                c["both"] += bool(r["abstract"] and r["mesh"])
                c["pt"] += bool(r["pt"])
                c["authors"] += bool(r["n_authors"])
                if r["year"]:
                    years.append(r["year"])
                all_pmids.add(r["pmid"])
                if r["mesh"] and r["abstract"]:
                    both_pmids.add(r["pmid"])
                if r["mesh"] and r["pmid"] not in mesh_pmids:
                    mesh_pmids.add(r["pmid"])
                    mesh_counter.update(set(r["mesh"]))
        except ET.ParseError as exc:
            print(f"  !! XML parse error in {path}: {exc}")
        totals.update(c)
        name = os.path.relpath(path, here)
        group = os.path.dirname(name)
        groups.setdefault(group, collections.Counter()).update(c)
        yr = f"{min(years)}-{max(years)}" if years else "-"
        if len(paths) <= 40 or not group.endswith("metapub_fixtures"):
            print(f"{name:58s} {c['records']:7d} {c['abstract']:6d} {c['mesh']:6d} {c['both']:6d} "
                  f"{c['pt']:6d} {c['authors']:6d}  {yr}")
    print("-" * len(hdr))
    for group, c in groups.items():
        print(f"{'[dir] ' + group:58s} {c['records']:7d} {c['abstract']:6d} {c['mesh']:6d} {c['both']:6d} "
              f"{c['pt']:6d} {c['authors']:6d}")
    print(f"{'TOTAL (all files)':58s} {totals['records']:7d} {totals['abstract']:6d} {totals['mesh']:6d} "
          f"{totals['both']:6d} {totals['pt']:6d} {totals['authors']:6d}")
    print(f"distinct PMIDs overall: {len(all_pmids)}; with MeSH: {len(mesh_pmids)}; "
          f"with MeSH and abstract: {len(both_pmids)}; distinct MeSH descriptors: {len(mesh_counter)}")
    print("30 most common MeSH descriptors (number of distinct PMIDs carrying each):")
    for name, n in mesh_counter.most_common(30):
        print(f"  {n:7d}  {name}")


if __name__ == "__main__":
    try:
        main(sys.argv)
    except BrokenPipeError:
        pass
