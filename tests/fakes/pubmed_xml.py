"""Build PubMed efetch XML for test scenarios.

`make_article()` returns one ``<PubmedArticle>`` element, in the element order of the 2025 PubMed
DTD (pubmed_250101.dtd, bundled with Biopython), and `article_set()` wraps articles in the
document that ``efetch.fcgi?db=pubmed&retmode=xml`` returns: XML declaration, the real DOCTYPE
line, ``<PubmedArticleSet>``.

Escaping rule (important):

* ``title`` and the abstract texts are inserted **as given**, because PubMed puts inline markup
  (``<i>``, ``<b>``, ``<sup>``, ``<sub>``, ``<u>``) in them.  Escape plain text yourself with
  `esc()`: ``make_article("1", esc("A & B: ") + "<i>in vivo</i>")``.
* Every other value (author names, collective name, journal, DOI, RefSource, keywords, MeSH, ...)
  is plain text and is escaped here.

Example::

    xml = make_article("41000001", "CAR-T in <i>TP53</i>-mutant AML", doi="10.1/x",
                       abstract=[("Background", "..."), ("Results", "...")],
                       comments_corrections=[("RetractionIn", "Blood. 2027;1:1", "41000099")])
    body = article_set(xml)          # bytes, ready to serve
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterable, Sequence
from datetime import date
from xml.sax.saxutils import escape as _escape

__all__ = [
    "DOCTYPE",
    "PUBLICATION_TYPE_UI",
    "XML_DECLARATION",
    "article_set",
    "entrez_date_of",
    "esc",
    "make_article",
]

XML_DECLARATION = '<?xml version="1.0" ?>'
DOCTYPE = (
    '<!DOCTYPE PubmedArticleSet PUBLIC "-//NLM//DTD PubMedArticle, 1st January 2025//EN" '
    '"https://dtd.nlm.nih.gov/ncbi/pubmed/out/pubmed_250101.dtd">'
)

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

# MeSH UIs of common publication types (PublicationType/@UI is required by the DTD).  Types not
# listed here get a stable made-up UI; parsers should key on the text, not the UI.
PUBLICATION_TYPE_UI = {
    "Journal Article": "D016428",
    "Review": "D016454",
    "Systematic Review": "D000078182",
    "Meta-Analysis": "D017418",
    "Randomized Controlled Trial": "D016449",
    "Clinical Trial": "D016430",
    "Clinical Trial, Phase III": "D017428",
    "Multicenter Study": "D016448",
    "Observational Study": "D064888",
    "Comparative Study": "D003160",
    "Case Reports": "D002363",
    "Letter": "D016422",
    "Comment": "D016420",
    "Editorial": "D016421",
    "News": "D016433",
    "Preprint": "D000076942",
    "Practice Guideline": "D017065",
    "Guideline": "D016431",
    "English Abstract": "D004740",
    "Published Erratum": "D016425",
    "Retracted Publication": "D016441",
    "Retraction of Publication": "D016440",
    "Expression of Concern": "D000075742",
    "Research Support, Non-U.S. Gov't": "D013485",
    "Research Support, N.I.H., Extramural": "D052061",
}

# AbstractText/@NlmCategory takes one of these values; labels are mapped like NLM does.
_NLM_CATEGORIES = {"BACKGROUND", "OBJECTIVE", "METHODS", "RESULTS", "CONCLUSIONS", "UNASSIGNED"}
_LABEL_TO_CATEGORY = {
    "INTRODUCTION": "BACKGROUND",
    "CONTEXT": "BACKGROUND",
    "PURPOSE": "OBJECTIVE",
    "AIM": "OBJECTIVE",
    "AIMS": "OBJECTIVE",
    "OBJECTIVES": "OBJECTIVE",
    "METHOD": "METHODS",
    "DESIGN": "METHODS",
    "FINDINGS": "RESULTS",
    "CONCLUSION": "CONCLUSIONS",
    "INTERPRETATION": "CONCLUSIONS",
}


def esc(text: object) -> str:
    """Escape plain text for XML character data or a double-quoted attribute value."""
    return _escape(str(text), {'"': "&quot;"})


def _fake_ui(prefix: str, name: str) -> str:
    """A stable, made-up MeSH-style UI (e.g. 'D123456') for a name we have no real UI for."""
    return f"{prefix}{zlib.crc32(name.encode()) % 1_000_000:06d}"


def _ymd(value: str) -> tuple[int, int, int]:
    """'2026/11/20' or '2026-11-20' -> (2026, 11, 20)."""
    parts = re.split(r"[/-]", value.strip())
    if len(parts) != 3:
        raise ValueError(f"expected YYYY/MM/DD or YYYY-MM-DD, got {value!r}")
    y, m, d = (int(p) for p in parts)
    date(y, m, d)  # validate
    return y, m, d


def _date_elems(y: int, m: int, d: int, *, zero_pad: bool = False) -> str:
    fmt = "{:02d}" if zero_pad else "{}"
    return f"<Year>{y}</Year><Month>{fmt.format(m)}</Month><Day>{fmt.format(d)}</Day>"


def _abstract_xml(abstract: str | Sequence[tuple[str, ...]]) -> str:
    if isinstance(abstract, str):
        return f"<Abstract><AbstractText>{abstract}</AbstractText></Abstract>"
    parts = []
    for section in abstract:
        label, text = section[0], section[1]
        if len(section) > 2:
            category = section[2]
        else:
            up = label.upper().strip()
            category = up if up in _NLM_CATEGORIES else _LABEL_TO_CATEGORY.get(up, "UNASSIGNED")
        if label:
            parts.append(
                f'<AbstractText Label="{esc(label)}" NlmCategory="{esc(category)}">{text}</AbstractText>'
            )
        else:
            parts.append(f"<AbstractText>{text}</AbstractText>")
    if not parts:
        return ""
    return "<Abstract>" + "".join(parts) + "</Abstract>"


def _author_xml(author: Sequence[str]) -> str:
    last, fore, initials = (tuple(author) + ("", "", ""))[:3]
    inner = f"<LastName>{esc(last)}</LastName>"
    if fore:
        inner += f"<ForeName>{esc(fore)}</ForeName>"
    if initials:
        inner += f"<Initials>{esc(initials)}</Initials>"
    return f'<Author ValidYN="Y">{inner}</Author>'


def _mesh_xml(entry: str | Sequence) -> str:
    """A MeSH heading: 'Humans', ('Leukemia', True) for a major topic, or (name, major, ui)."""
    if isinstance(entry, str):
        name, major, ui = entry, False, None
    else:
        name = entry[0]
        major = bool(entry[1]) if len(entry) > 1 else False
        ui = entry[2] if len(entry) > 2 else None
    ui = ui or _fake_ui("D", name)
    yn = "Y" if major else "N"
    return (
        f'<MeshHeading><DescriptorName UI="{esc(ui)}" MajorTopicYN="{yn}">{esc(name)}'
        "</DescriptorName></MeshHeading>"
    )


def make_article(
    pmid: str,
    title: str,
    *,
    authors: Iterable[Sequence[str]] = (("Smith", "John", "J"),),
    collective: str | None = None,
    journal: str = "Blood",
    iso: str = "Blood",
    year: int = 2026,
    month: int | None = 11,
    day: int | None = 20,
    season: str | None = None,
    medline_date: str | None = None,
    volume: str | None = None,
    issue: str | None = None,
    pages: str | None = None,
    entrez_date: str = "2026/11/20",
    doi: str | None = None,
    pmcid: str | None = None,
    abstract: str | Sequence[tuple[str, ...]] | None = None,
    publication_types: Iterable[str] = ("Journal Article",),
    comments_corrections: Iterable[tuple[str, str, str | None]] = (),
    keywords: Iterable[str] = (),
    mesh: Iterable[str | Sequence] = (),
    status: str = "ppublish",
    epub: str | None = None,
    nct_ids: Iterable[str] = (),
    language: str = "eng",
    references: Iterable[tuple[str, str | None]] = (),
    citation_status: str | None = None,
    pub_model: str | None = None,
) -> str:
    """One ``<PubmedArticle>`` element as a string (see the module docstring for escaping).

    Arguments beyond the obvious ones:

    * ``authors``: (last, fore, initials) tuples; ``collective``: a group name added as the last
      author (``<CollectiveName>``).  No authors and no collective -> no AuthorList.
    * ``month``/``day``: the journal issue PubDate (month rendered 'Nov' like PubMed).  Give
      ``season="Spring"`` or ``medline_date="1998 Dec-1999 Jan"`` for the other PubDate forms.
    * ``entrez_date``: 'YYYY/MM/DD', becomes PubMedPubDate PubStatus="entrez" and "pubmed"
      (FakeEutils reads it back for edat filtering when no explicit edat is given).
    * ``abstract``: plain string, or [(label, text)] / [(label, text, NlmCategory)] sections.
    * ``comments_corrections``: [(RefType, RefSource, PMID or None)], e.g.
      ("RetractionIn", "Blood. 2027 Jan;149(1):1", "41000099").
    * ``mesh``: names, or (name, major_topic) / (name, major_topic, UI) tuples.
    * ``status``: PublicationStatus (ppublish, epublish, aheadofprint, ...).
    * ``epub``: 'YYYY-MM-DD' electronic date -> ``<ArticleDate DateType="Electronic">``.
    * ``nct_ids``: ClinicalTrials.gov numbers -> DataBankList.
    * ``pages``: MedlinePgn ('123-30' or 'e70001'); without it an ELocationID (the DOI, or a
      pii 'e<pmid>') takes its place, which the DTD allows.
    * ``references``: [(citation text, PMID or None)] -> PubmedData/ReferenceList.
    * ``citation_status``: MedlineCitation/@Status; default MEDLINE when MeSH is given,
      Publisher for aheadofprint, else PubMed-not-MEDLINE.
    """
    pmid = str(pmid).strip()
    if not pmid.isdigit():
        raise ValueError(f"pmid must be digits, got {pmid!r}")
    mesh = list(mesh)
    ey, em, ed = _ymd(entrez_date)

    # --- Article -------------------------------------------------------------------------
    if medline_date:
        pub_date = f"<MedlineDate>{esc(medline_date)}</MedlineDate>"
    else:
        pub_date = f"<Year>{int(year)}</Year>"
        if season:
            pub_date += f"<Season>{esc(season)}</Season>"
        elif month:
            pub_date += f"<Month>{_MONTHS[int(month) - 1]}</Month>"
            if day:
                pub_date += f"<Day>{int(day):02d}</Day>"
    journal_issue = ""
    if volume:
        journal_issue += f"<Volume>{esc(volume)}</Volume>"
    if issue:
        journal_issue += f"<Issue>{esc(issue)}</Issue>"
    cited_medium = "Internet" if status in ("epublish", "aheadofprint") else "Print"
    journal_xml = (
        "<Journal>"
        f'<JournalIssue CitedMedium="{cited_medium}">{journal_issue}<PubDate>{pub_date}</PubDate>'
        "</JournalIssue>"
        f"<Title>{esc(journal)}</Title><ISOAbbreviation>{esc(iso)}</ISOAbbreviation>"
        "</Journal>"
    )

    location = ""
    if pages:
        location += f"<Pagination><MedlinePgn>{esc(pages)}</MedlinePgn></Pagination>"
    if doi:
        location += f'<ELocationID EIdType="doi" ValidYN="Y">{esc(doi)}</ELocationID>'
    if not location:
        location = f'<ELocationID EIdType="pii" ValidYN="Y">e{pmid}</ELocationID>'

    author_parts = [_author_xml(a) for a in authors]
    if collective:
        author_parts.append(f'<Author ValidYN="Y"><CollectiveName>{esc(collective)}</CollectiveName></Author>')
    author_list = f'<AuthorList CompleteYN="Y">{"".join(author_parts)}</AuthorList>' if author_parts else ""

    nct_ids = list(nct_ids)
    databanks = ""
    if nct_ids:
        accs = "".join(f"<AccessionNumber>{esc(n)}</AccessionNumber>" for n in nct_ids)
        databanks = (
            '<DataBankList CompleteYN="Y"><DataBank><DataBankName>ClinicalTrials.gov</DataBankName>'
            f"<AccessionNumberList>{accs}</AccessionNumberList></DataBank></DataBankList>"
        )

    ptypes = list(publication_types) or ["Journal Article"]
    ptype_xml = "".join(
        f'<PublicationType UI="{PUBLICATION_TYPE_UI.get(p) or _fake_ui("D", p)}">{esc(p)}</PublicationType>'
        for p in ptypes
    )

    article_date = ""
    if epub:
        py, pm, pd = _ymd(epub)
        article_date = f'<ArticleDate DateType="Electronic">{_date_elems(py, pm, pd, zero_pad=True)}</ArticleDate>'

    if pub_model is None:
        if status == "epublish":
            pub_model = "Electronic"
        elif epub:
            pub_model = "Print-Electronic"
        else:
            pub_model = "Print"

    article_xml = (
        f'<Article PubModel="{esc(pub_model)}">'
        + journal_xml
        + f"<ArticleTitle>{title}</ArticleTitle>"
        + location
        + (_abstract_xml(abstract) if abstract else "")
        + author_list
        + f"<Language>{esc(language)}</Language>"
        + databanks
        + f"<PublicationTypeList>{ptype_xml}</PublicationTypeList>"
        + article_date
        + "</Article>"
    )

    # --- MedlineCitation ----------------------------------------------------------------
    if citation_status is None:
        if mesh:
            citation_status = "MEDLINE"
        elif status == "aheadofprint":
            citation_status = "Publisher"
        else:
            citation_status = "PubMed-not-MEDLINE"

    cc_parts = []
    for ref_type, ref_source, ref_pmid in comments_corrections:
        inner = f"<RefSource>{esc(ref_source)}</RefSource>"
        if ref_pmid:
            inner += f'<PMID Version="1">{esc(ref_pmid)}</PMID>'
        cc_parts.append(f'<CommentsCorrections RefType="{esc(ref_type)}">{inner}</CommentsCorrections>')
    cc_xml = f"<CommentsCorrectionsList>{''.join(cc_parts)}</CommentsCorrectionsList>" if cc_parts else ""

    mesh_xml = f"<MeshHeadingList>{''.join(_mesh_xml(m) for m in mesh)}</MeshHeadingList>" if mesh else ""

    keywords = list(keywords)
    kw_xml = ""
    if keywords:
        kws = "".join(f'<Keyword MajorTopicYN="N">{esc(k)}</Keyword>' for k in keywords)
        kw_xml = f'<KeywordList Owner="NOTNLM">{kws}</KeywordList>'

    medline_citation = (
        f'<MedlineCitation Status="{esc(citation_status)}" Owner="NLM">'
        f'<PMID Version="1">{pmid}</PMID>'
        f"<DateRevised>{_date_elems(ey, em, ed, zero_pad=True)}</DateRevised>"
        + article_xml
        + "<MedlineJournalInfo><Country>United States</Country>"
        f"<MedlineTA>{esc(iso)}</MedlineTA><NlmUniqueID>{_fake_ui('', journal)}</NlmUniqueID>"
        "</MedlineJournalInfo>"
        + ("<CitationSubset>IM</CitationSubset>" if citation_status == "MEDLINE" else "")
        + cc_xml
        + mesh_xml
        + kw_xml
        + "</MedlineCitation>"
    )

    # --- PubmedData ---------------------------------------------------------------------
    hm = "<Hour>6</Hour><Minute>0</Minute>"
    history = (
        f'<PubMedPubDate PubStatus="pubmed">{_date_elems(ey, em, ed)}{hm}</PubMedPubDate>'
        + (f'<PubMedPubDate PubStatus="medline">{_date_elems(ey, em, ed)}{hm}</PubMedPubDate>'
           if citation_status == "MEDLINE" else "")
        + f'<PubMedPubDate PubStatus="entrez">{_date_elems(ey, em, ed)}{hm}</PubMedPubDate>'
    )
    ids = f'<ArticleId IdType="pubmed">{pmid}</ArticleId>'
    if doi:
        ids += f'<ArticleId IdType="doi">{esc(doi)}</ArticleId>'
    if pmcid:
        ids += f'<ArticleId IdType="pmc">{esc(pmcid)}</ArticleId>'

    refs = list(references)
    ref_xml = ""
    if refs:
        items = []
        for citation, ref_pmid in refs:
            rid = (f'<ArticleIdList><ArticleId IdType="pubmed">{esc(ref_pmid)}</ArticleId></ArticleIdList>'
                   if ref_pmid else "")
            items.append(f"<Reference><Citation>{esc(citation)}</Citation>{rid}</Reference>")
        ref_xml = f"<ReferenceList>{''.join(items)}</ReferenceList>"

    pubmed_data = (
        f"<PubmedData><History>{history}</History>"
        f"<PublicationStatus>{esc(status)}</PublicationStatus>"
        f"<ArticleIdList>{ids}</ArticleIdList>"
        + ref_xml
        + "</PubmedData>"
    )
    return f"<PubmedArticle>{medline_citation}{pubmed_data}</PubmedArticle>"


def article_set(*articles: str) -> bytes:
    """The efetch document for these ``<PubmedArticle>`` strings, UTF-8 encoded.

    With no articles this is ``<PubmedArticleSet></PubmedArticleSet>``: what efetch answers when
    none of the requested PMIDs exist (the DTD wants one child, but that is what NCBI sends).
    """
    body = "\n".join(articles)
    if body:
        body = "\n" + body + "\n"
    text = f"{XML_DECLARATION}\n{DOCTYPE}\n<PubmedArticleSet>{body}</PubmedArticleSet>\n"
    return text.encode("utf-8")


_ENTREZ_RE = re.compile(
    r'<PubMedPubDate PubStatus="(entrez|pubmed)"><Year>(\d{4})</Year><Month>(\d{1,2})</Month><Day>(\d{1,2})</Day>'
)


def entrez_date_of(article_xml: str) -> date | None:
    """The Entrez date of a ``<PubmedArticle>`` string (PubStatus "entrez", else "pubmed")."""
    found = {m.group(1): m for m in _ENTREZ_RE.finditer(article_xml)}
    m = found.get("entrez") or found.get("pubmed")
    if not m:
        return None
    return date(int(m.group(2)), int(m.group(3)), int(m.group(4)))
