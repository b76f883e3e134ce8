"""A citing work as any source reports it, and how works from several sources are made one:
by PMID first, then by DOI (case-insensitive, without the https://doi.org/ prefix)."""

from __future__ import annotations

import re
from dataclasses import dataclass


def norm_doi(value: str | None) -> str:
    """'https://doi.org/10.1101/ABC' -> '10.1101/abc'; '' when not a DOI."""
    if not value:
        return ""
    doi = re.sub(r"^(?:https?://(?:dx\.)?doi\.org/|doi:)", "", value.strip(), flags=re.IGNORECASE).lower()
    return doi if doi.startswith("10.") and "/" in doi else ""


def norm_pmid(value: object) -> str:
    """'https://pubmed.ncbi.nlm.nih.gov/123' / 123 / '123' -> '123'; '' when not a PMID."""
    text = str(value or "").strip().rstrip("/").rsplit("/", 1)[-1]
    return text if text.isdigit() and text != "0" else ""


@dataclass(frozen=True, slots=True)
class CitingWork:
    """One citing work from one source."""

    pmid: str = ""
    doi: str = ""  # normalised
    title: str = ""
    year: int | None = None
    venue: str = ""
    authors: str = ""
    epmc_id: str = ""  # "PPR123" (preprints), "SRC:ID" for other non-PubMed Europe PMC records
    openalex_id: str = ""  # "W123"
    is_preprint: bool = False

    @property
    def key(self) -> str:
        """The store's key: the PMID, else "doi:...", else the source's own id."""
        if self.pmid:
            return self.pmid
        if self.doi:
            return "doi:" + self.doi
        if self.epmc_id:
            return ("ppr:" if self.epmc_id.startswith("PPR") else "epmc:") + self.epmc_id
        return "openalex:" + self.openalex_id
