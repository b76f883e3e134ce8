#!/usr/bin/env python3
"""Count PubMed records in the raw files next to this script.

Standalone (standard library only). Reads every file under raw/ (or the
paths given on the command line):
  * PubMed / MEDLINE XML (PubmedArticleSet, MedlineCitationSet), optionally .gz
  * MEDLINE text format (PMID- / TI  - / AB  - / MH  - lines), optionally .gz
  * directories or .tar.gz archives are not expected; list files explicitly.
Prints per file: records, with abstract, with MeSH, with publication type,
with authors; then distinct PMIDs overall and the 30 most common MeSH
descriptors (counted once per record).
"""
import collections
import gzip
import io
import os
import sys
import xml.etree.ElementTree as ET


def _open(path):
    with open(path, "rb") as fh:
        head = fh.read(2)
    if head == b"\x1f\x8b":
        return gzip.open(path, "rb")
    return open(path, "rb")


def _sniff(path):
    with _open(path) as fh:
        head = fh.read(4096).lstrip()
    if head.startswith(b"<"):
        return "xml"
    return "medline"


def _text(el):
    return "".join(el.itertext()).strip() if el is not None else ""


def iter_xml(path):
    """Yield dicts from PubMed/MEDLINE XML, streaming."""
    with _open(path) as fh:
        for _event, el in ET.iterparse(fh, events=("end",)):
            if el.tag != "MedlineCitation":
                continue
            pmid = _text(el.find("PMID"))
            art = el.find("Article")
            abstract = ""
            title = ""
            pubtypes, authors = [], []
            if art is not None:
                title = _text(art.find("ArticleTitle"))
                abstract = " ".join(_text(a) for a in art.findall("Abstract/AbstractText"))
                pubtypes = [_text(p) for p in art.findall("PublicationTypeList/PublicationType")]
                authors = art.findall("AuthorList/Author")
            mesh = [_text(d) for d in el.findall("MeshHeadingList/MeshHeading/DescriptorName")]
            yield {"pmid": pmid, "title": title, "abstract": abstract.strip(),
                   "mesh": mesh, "pt": pubtypes, "n_authors": len(authors)}
            el.clear()


def iter_medline(path):
    """Yield dicts from MEDLINE text format."""
    with _open(path) as fh:
        text = io.TextIOWrapper(fh, encoding="utf-8", errors="replace")
        rec, key = {}, None

        def emit(r):
            if r.get("PMID"):
                mesh = [m.split("/")[0].lstrip("*").strip() for m in r.get("MH", [])]
                return {"pmid": r["PMID"][0].strip(), "title": " ".join(r.get("TI", [])),
                        "abstract": " ".join(r.get("AB", [])).strip(), "mesh": mesh,
                        "pt": r.get("PT", []), "n_authors": len(r.get("AU", []))}
            return None

        for line in text:
            line = line.rstrip("\r\n")
            if not line.strip():
                if rec:
                    out = emit(rec)
                    if out:
                        yield out
                rec, key = {}, None
                continue
            if len(line) > 4 and line[4] == "-" and line[:4].strip() and not line.startswith("    "):
                key = line[:4].strip()
                rec.setdefault(key, []).append(line[6:].strip())
            elif line.startswith("      ") and key:
                rec[key][-1] += " " + line.strip()
        if rec:
            out = emit(rec)
            if out:
                yield out


def main(argv):
    here = os.path.dirname(os.path.abspath(__file__))
    paths = argv[1:] or sorted(
        os.path.join(dp, f) for dp, _dn, fn in os.walk(os.path.join(here, "raw")) for f in fn)
    all_pmids = set()
    mesh_pmids = set()
    mesh_counter = collections.Counter()
    totals = collections.Counter()
    print(f"{'file':60s} {'records':>8s} {'abstract':>8s} {'MeSH':>8s} {'abs+MeSH':>8s} {'pubtype':>8s} {'authors':>8s}")
    for path in paths:
        kind = _sniff(path)
        it = iter_xml(path) if kind == "xml" else iter_medline(path)
        c = collections.Counter()
        try:
            for r in it:
                c["records"] += 1
                c["abstract"] += bool(r["abstract"])
                c["mesh"] += bool(r["mesh"])
                c["both"] += bool(r["abstract"] and r["mesh"])
                c["pt"] += bool(r["pt"])
                c["authors"] += bool(r["n_authors"])
                all_pmids.add(r["pmid"])
                if r["mesh"] and r["pmid"] not in mesh_pmids:
                    mesh_pmids.add(r["pmid"])
                    mesh_counter.update(set(r["mesh"]))
        except ET.ParseError as exc:
            print(f"  !! parse error in {path}: {exc}")
        totals.update(c)
        name = os.path.relpath(path, here)
        print(f"{name:60s} {c['records']:8d} {c['abstract']:8d} {c['mesh']:8d} {c['both']:8d} {c['pt']:8d} {c['authors']:8d}")
    print(f"{'TOTAL':60s} {totals['records']:8d} {totals['abstract']:8d} {totals['mesh']:8d} {totals['both']:8d} {totals['pt']:8d} {totals['authors']:8d}")
    print(f"distinct PMIDs overall: {len(all_pmids)}; distinct PMIDs with MeSH: {len(mesh_pmids)}; "
          f"distinct MeSH descriptors: {len(mesh_counter)}")
    print("30 most common MeSH descriptors (records, counted once per distinct PMID):")
    for name, n in mesh_counter.most_common(30):
        print(f"  {n:7d}  {name}")


if __name__ == "__main__":
    main(sys.argv)
