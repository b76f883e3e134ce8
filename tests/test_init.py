"""`litwatch init`: a starter config from flags or answers, valid, private, never overwriting."""

from __future__ import annotations

import io
import stat
import sys
import tomllib
from pathlib import Path

import pytest

from litwatch.jobs.config import load_config
from tests.conftest import ROOT


class Terminal(io.StringIO):
    """Standard input typed at a terminal."""

    def isatty(self) -> bool:
        return True


def test_packaged_starter_is_the_default_config() -> None:
    starter = (ROOT / "jobs" / "starter.toml").read_bytes()
    assert starter == (ROOT / "config" / "litwatch.toml").read_bytes(), "cp config/litwatch.toml jobs/starter.toml"
    from litwatch.jobs.commands.init import starter_text

    assert starter_text().encode() == starter


def test_init_from_flags_writes_a_private_valid_config(tmp_path: Path, litwatch) -> None:  # noqa: ANN001
    folder = tmp_path / "new" / "litwatch"
    r = litwatch(
        "init", str(folder),
        "--email", "me@example.org",
        "--recipient", "lab@example.org", "--recipient", "pi@example.org",
        "--sender", "litwatch@lab.example.org",
        "--smtp-host", "smtp.example.org", "--smtp-security", "tls",
        "--smtp-username", "me@example.org", "--smtp-password-env", "LAB_SMTP_PASSWORD",
    )
    assert r.code == 0, r.err
    path = folder / "litwatch.toml"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    config = load_config(path)
    assert config.ncbi.email == "me@example.org"
    assert config.digest.recipients == ["lab@example.org", "pi@example.org"]
    assert config.digest.sender == "litwatch@lab.example.org"
    assert config.smtp is not None
    assert (config.smtp.host, config.smtp.effective_port, config.smtp.security) == ("smtp.example.org", 465, "tls")
    assert (config.smtp.username, config.smtp.password_env) == ("me@example.org", "LAB_SMTP_PASSWORD")
    # the starter's watches and comments are kept
    assert [w.name for w in config.watch] == [w.name for w in load_config(ROOT / "config" / "litwatch.toml").watch]
    assert "# Papers whose new citations" in path.read_text()
    assert "litwatch check --config" in r.out and "LAB_SMTP_PASSWORD" in r.out


def test_init_needs_no_config_and_defaults_to_the_current_folder(tmp_path: Path, monkeypatch, litwatch) -> None:  # noqa: ANN001
    monkeypatch.chdir(tmp_path)
    r = litwatch("init", "--email", "me@example.org")
    assert r.code == 0, r.err
    config = load_config(tmp_path / "litwatch.toml")
    assert config.digest.recipients == ["me@example.org"] and config.digest.sender == "me@example.org"
    assert config.smtp is None
    data = tomllib.loads((tmp_path / "litwatch.toml").read_text())
    assert "smtp" not in data


def test_init_without_answers_writes_the_starter_as_is(tmp_path: Path, litwatch) -> None:  # noqa: ANN001
    r = litwatch("init", str(tmp_path), "--quiet")
    assert r.code == 0, r.err
    assert r.out == ""
    written = (tmp_path / "litwatch.toml").read_bytes()
    assert written == (ROOT / "jobs" / "starter.toml").read_bytes()
    load_config(tmp_path / "litwatch.toml")


def test_init_never_overwrites(tmp_path: Path, litwatch) -> None:  # noqa: ANN001
    path = tmp_path / "litwatch.toml"
    path.write_text("# mine\n")
    r = litwatch("init", str(tmp_path), "--email", "me@example.org")
    assert r.code == 2
    assert r.err.strip() == f"litwatch: {path} exists; not overwriting it"
    assert path.read_text() == "# mine\n"
    r = litwatch("init", "--config", str(path))
    assert r.code == 2 and "not overwriting" in r.err


def test_init_refuses_bad_values_and_writes_nothing(tmp_path: Path, litwatch) -> None:  # noqa: ANN001
    r = litwatch("init", str(tmp_path), "--email", "not-an-address")
    assert r.code == 2
    assert "ncbi.email" in r.err and len(r.err.strip().splitlines()) == 1
    assert not (tmp_path / "litwatch.toml").exists()
    r = litwatch("init", str(tmp_path), "--config", str(tmp_path / "x.toml"))
    assert r.code == 2 and "not both" in r.err


def test_init_asks_on_a_terminal(tmp_path: Path, monkeypatch, litwatch) -> None:  # noqa: ANN001
    answers = "\n".join([
        "nope",  # not an address: asked again
        "me@example.org",
        "lab@example.org, pi@example.org",
        "",  # sender: the default (my address)
        "smtp.example.org",
        "starttls",
        "",  # port: the default for starttls
        "me@example.org",
        "",  # password variable: the default
    ]) + "\n"
    monkeypatch.setattr(sys, "stdin", Terminal(answers))
    r = litwatch("init", str(tmp_path))
    assert r.code == 0, r.err
    assert "not an e-mail address" in r.err
    config = load_config(tmp_path / "litwatch.toml")
    assert config.ncbi.email == "me@example.org" and config.digest.sender == "me@example.org"
    assert config.digest.recipients == ["lab@example.org", "pi@example.org"]
    assert config.smtp is not None and config.smtp.effective_port == 587
    assert config.smtp.password_env == "LITWATCH_SMTP_PASSWORD"


def test_init_asks_only_what_the_flags_left_open(tmp_path: Path, monkeypatch, litwatch) -> None:  # noqa: ANN001
    monkeypatch.setattr(sys, "stdin", Terminal("\n\n\n"))  # Enter, Enter, Enter: the defaults, no SMTP
    r = litwatch("init", str(tmp_path), "--email", "me@example.org")
    assert r.code == 0, r.err
    assert "Your e-mail address" not in r.err and "receives the digests" in r.err
    config = load_config(tmp_path / "litwatch.toml")
    assert config.digest.recipients == ["me@example.org"] and config.smtp is None


def test_init_stops_cleanly_at_end_of_input(tmp_path: Path, monkeypatch, litwatch) -> None:  # noqa: ANN001
    monkeypatch.setattr(sys, "stdin", Terminal(""))
    r = litwatch("init", str(tmp_path))
    assert r.code == 2 and "nothing written" in r.err
    assert not (tmp_path / "litwatch.toml").exists()


@pytest.mark.parametrize("security,port", [("starttls", 587), ("tls", 465), ("none", 25)])
def test_smtp_defaults(tmp_path: Path, litwatch, security: str, port: int) -> None:  # noqa: ANN001
    r = litwatch("init", str(tmp_path), "--email", "me@example.org", "--smtp-host", "127.0.0.1",
                 "--smtp-security", security)
    assert r.code == 0, r.err
    config = load_config(tmp_path / "litwatch.toml")
    assert config.smtp is not None and config.smtp.effective_port == port and config.smtp.username is None
