"""NCBI's own answers (issue 13, E19): an <ERROR> in an efetch, elink or esearch answer is shown in
NCBI's words; one that asking again cannot change is not retried, a temporary one is."""

from __future__ import annotations

import pytest

from litwatch.watchers.entrez import EntrezClient, EntrezError, Pacer, ncbi_error_text
from tests.fakes.pubmed_xml import esc

EFETCH_EMPTY_IDS = (
    '<?xml version="1.0" encoding="UTF-8" ?>\n'
    '<!DOCTYPE eEfetchResult PUBLIC "-//NLM//DTD efetch 20131226//EN" '
    '"https://eutils.ncbi.nlm.nih.gov/eutils/dtd/20131226/efetch.dtd">\n'
    "<eEfetchResult>\n\t<ERROR>ID list is empty! Possibly it has no correct IDs.</ERROR>\n</eEfetchResult>\n"
)
ELINK_NO_HISTORY = (
    '<?xml version="1.0" encoding="UTF-8" ?>\n'
    '<!DOCTYPE eLinkResult PUBLIC "-//NLM//DTD elink 20101123//EN" '
    '"https://eutils.ncbi.nlm.nih.gov/eutils/dtd/20101123/elink.dtd">\n'
    "<eLinkResult>\n\t<ERROR>Cannot retrieve history data. query_key: 1, WebEnv: MCID_x</ERROR>\n</eLinkResult>\n"
)
# as recorded (taxize's cassette, tests/data/ncbi/real/error): NCBI's own temporary failure
EFETCH_TIMEOUT = (
    '<?xml version="1.0" encoding="UTF-8" ?>\n<!DOCTYPE eEfetchResult PUBLIC "-//NLM//DTD efetch 20131226//EN" '
    '"https://eutils.ncbi.nlm.nih.gov/eutils/dtd/20131226/efetch.dtd">\n<eFetchResult>\n\t<ERROR>'
    "Error: External viewer error: Empty Response. Bytes read: 0 Status: Timeout</ERROR>\n</eFetchResult>\n"
)


def client_for(ncbi, **kwargs) -> EntrezClient:  # noqa: ANN001, ANN003
    kwargs.setdefault("backoff", 0.01)
    return EntrezClient(email="lab@example.org", api_key="k-secret-1", base_url=ncbi.base_url, pacer=Pacer(), **kwargs)


def test_efetch_error_is_shown_in_ncbis_words_and_not_retried(ncbi) -> None:  # noqa: ANN001
    ncbi.add_article("41000001")
    ncbi.answer_next("efetch", EFETCH_EMPTY_IDS)
    client = client_for(ncbi, retries=3)
    with pytest.raises(EntrezError) as info:
        list(client.fetch_records(["41000001"]))
    text = str(info.value)
    assert "ID list is empty! Possibly it has no correct IDs." in text and text.startswith("efetch: ")
    assert "not retried" in text and "<eEfetchResult>" not in text
    assert ncbi.count("efetch") == 1, "asked once: the same request gets the same answer"


def test_elink_history_error_is_shown_in_ncbis_words_and_not_retried(ncbi) -> None:  # noqa: ANN001
    ncbi.answer_next("elink", ELINK_NO_HISTORY)
    client = client_for(ncbi, retries=3)
    with pytest.raises(EntrezError, match="elink: NCBI answered: Cannot retrieve history data") as info:
        client.cited_by(["41000001"])
    assert "\n" not in str(info.value)
    assert ncbi.count("elink") == 1


def test_a_temporary_ncbi_error_is_retried_and_named(ncbi) -> None:  # noqa: ANN001
    ncbi.add_article("41000001")
    ncbi.answer_next("efetch", EFETCH_TIMEOUT, count=2)
    client = client_for(ncbi, retries=1)
    with pytest.raises(EntrezError) as info:
        list(client.fetch_records(["41000001"]))
    assert "NCBI answered: Error: External viewer error: Empty Response. Bytes read: 0 Status: Timeout" in str(info.value)
    assert "gave up after 2 attempts" in str(info.value)
    ncbi.answer_next("efetch", EFETCH_TIMEOUT)
    assert [r.pmid for r in client_for(ncbi, retries=1).fetch_records(["41000001"])] == ["41000001"]


def test_ncbi_error_text_is_one_printable_line() -> None:
    body = b"<eFetchResult><ERROR>a &amp; b\n\x1b[2Jc</ERROR><ERROR>second</ERROR></eFetchResult>"
    assert ncbi_error_text(body) == "a & b [2Jc; second"
    assert ncbi_error_text(b"<PubmedArticleSet></PubmedArticleSet>") == ""
    assert ncbi_error_text(f"<x><ERROR>{esc('<b>')}</ERROR></x>".encode()) == "<b>"
