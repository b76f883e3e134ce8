"""`litwatch check`: PubMed's reading of each query, the mail server, without storing or sending."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import API_KEY, Q_BTK, Q_RILZA, free_port, scenario_config, write_config

TRANSLATION = (
    '("zanubrutinib"[Supplementary Concept] OR "zanubrutinib"[All Fields]) AND '
    '"purpura, thrombocytopenic, idiopathic"[MeSH Terms]'
)


def test_check_all_well(tmp_path: Path, ncbi, smtp, litwatch) -> None:  # noqa: ANN001
    ncbi.add_search(Q_BTK, [str(41000000 + i) for i in range(1234)])
    ncbi.translations[Q_BTK] = TRANSLATION
    ncbi.add_search(Q_RILZA, ["41000001"])
    cfg = scenario_config(tmp_path, ncbi, smtp=smtp)
    r = litwatch("check", "--config", str(cfg))
    assert r.code == 0, r.out + r.err
    assert "watch “BTK inhibitors in ITP”: 1,234 hits in PubMed" in r.out
    assert "watch “Rilzabrutinib”: 1 hit in PubMed" in r.out
    assert "PubMed searched:" in r.out
    flat = " ".join(r.out.split())
    assert TRANSLATION in flat, "PubMed's translation is shown"
    assert f"smtp 127.0.0.1:{smtp.port} (none): connected (nothing sent)" in r.out
    assert smtp.received == [], "check sends nothing"
    # one count request per watch, no ids asked for, nothing stored
    searches = ncbi.requests_for("esearch")
    assert len(searches) == 2 and all(req.params["retmax"] == ["0"] for req in searches)
    assert not (tmp_path / "litwatch.db").exists()
    assert API_KEY not in r.out + r.err


def test_check_shows_what_pubmed_did_not_find(tmp_path: Path, ncbi, smtp, litwatch) -> None:  # noqa: ANN001
    ncbi.add_search(Q_BTK, ["41000001"])
    typo = "rilzabrutnib[Title/Abstract]"  # not in the fake's searches: PhraseNotFound, like PubMed
    cfg = scenario_config(tmp_path, ncbi, smtp=smtp, watches=[("BTK inhibitors in ITP", Q_BTK), ("Typo", typo)])
    r = litwatch("check", "--config", str(cfg))
    assert r.code == 1
    assert "PROBLEM  watch “Typo”: 0 hits in PubMed" in r.out
    assert "PubMed says: PhraseNotFound: rilzabrutnib[Title/Abstract]" in r.out
    assert "ok       watch “BTK inhibitors in ITP”: 1 hit" in r.out
    assert "1 problem found" in r.err


def test_check_reports_a_phrase_pubmed_ignored(tmp_path: Path, ncbi, litwatch) -> None:  # noqa: ANN001
    query = "rilzabrutinib OR PRN-1008x"
    ncbi.add_search(query, ["41000001", "41000002"])
    ncbi.warnings[query] = "PRN-1008x"  # PubMed drops an unknown word from an OR and says so
    cfg = scenario_config(tmp_path, ncbi, watches=[("Rilzabrutinib", query)])
    r = litwatch("check", "--config", str(cfg))
    assert r.code == 1
    assert "PROBLEM  watch “Rilzabrutinib”: 2 hits" in r.out and "PhraseNotFound: PRN-1008x" in r.out
    assert "digests are written to" in r.out, "no [smtp]: the outbox is named"


def test_check_fails_when_the_mail_server_is_unreachable(tmp_path: Path, ncbi, litwatch) -> None:  # noqa: ANN001
    ncbi.add_search(Q_BTK, ["41000001"])
    ncbi.add_search(Q_RILZA, ["41000001"])
    port = free_port()  # nothing listens there
    cfg = scenario_config(tmp_path, ncbi)
    cfg.write_text(cfg.read_text() + f'\n[smtp]\nhost = "127.0.0.1"\nport = {port}\nsecurity = "none"\n')
    r = litwatch("check", "--config", str(cfg))
    assert r.code == 1
    assert f"PROBLEM  smtp 127.0.0.1:{port} (none): smtp 127.0.0.1:{port}: cannot connect" in r.out


def test_check_fails_when_the_password_variable_is_missing(tmp_path: Path, ncbi, smtp, litwatch, monkeypatch) -> None:  # noqa: ANN001
    ncbi.add_search(Q_BTK, ["41000001"])
    ncbi.add_search(Q_RILZA, ["41000001"])
    monkeypatch.delenv("LITWATCH_SMTP_PASSWORD")
    cfg = scenario_config(tmp_path, ncbi)
    cfg.write_text(
        cfg.read_text() + f'\n[smtp]\nhost = "127.0.0.1"\nport = {smtp.port}\nsecurity = "none"\n'
        'username = "lab"\npassword_env = "LITWATCH_SMTP_PASSWORD"\n'
    )
    r = litwatch("check", "--config", str(cfg))
    assert r.code == 1
    assert "environment variable LITWATCH_SMTP_PASSWORD is not set" in r.out


def test_check_when_ncbi_is_down(tmp_path: Path, ncbi, litwatch) -> None:  # noqa: ANN001
    ncbi.down = True
    cfg = scenario_config(tmp_path, ncbi, retries=0)
    r = litwatch("check", "--config", str(cfg))
    assert r.code == 1
    assert "PubMed could not be asked" in r.out and API_KEY not in r.out


def test_check_quiet_prints_only_problems(tmp_path: Path, ncbi, smtp, litwatch) -> None:  # noqa: ANN001
    ncbi.add_search(Q_BTK, ["41000001"])
    ncbi.add_search(Q_RILZA, ["41000001"])
    cfg = scenario_config(tmp_path, ncbi, smtp=smtp)
    r = litwatch("check", "--config", str(cfg), "--quiet")
    assert (r.code, r.out, r.err) == (0, "", "")
    cfg2 = scenario_config(tmp_path / "b", ncbi, watches=[("Typo", "no such query")])
    r = litwatch("check", "--config", str(cfg2), "-q")
    assert r.code == 1 and r.out.startswith("PROBLEM")
    assert "ok " not in r.out


def test_check_a_bad_config_is_a_usage_error(tmp_path: Path, litwatch) -> None:  # noqa: ANN001
    cfg = write_config(tmp_path, '[ncbi]\nemail = "x"\n')
    r = litwatch("check", "--config", str(cfg))
    assert r.code == 2 and "ncbi.email" in r.err
