"""The config file: every bad one is exit 2 and one stderr line naming the file, the key and the
problem; good ones resolve paths against their folder; the loader never fails any other way."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from litwatch.jobs.config import API_KEY_ENV, CONFIG_ENV, Config, ConfigError, config_path, load_config, parse_config
from tests.conftest import API_KEY, write_config
from tests.reliability_helpers import block_internet

GOOD = """\
[ncbi]
email = "lab@example.org"

[[watch]]
name = "BTK inhibitors in ITP"
query = "zanubrutinib[tiab] AND ITP[tiab]"

[[watch]]
name = "Rilzabrutinib"
query = "rilzabrutinib[tiab]"

[tracked]
pmids = ["39973148"]

[digest]
sender = "litwatch@example.org"
recipients = ["haematology@example.org"]
"""

SMTP_REMOTE = '\n[smtp]\nhost = "mail.example.org"\n'


@pytest.fixture(autouse=True)
def _no_internet(monkeypatch: pytest.MonkeyPatch) -> None:
    block_internet(monkeypatch)  # a config wrongly taken for good must not reach NCBI


def _replace(old: str, new: str) -> str:
    assert GOOD.count(old) == 1, old
    return GOOD.replace(old, new)


# (id, config text, key path that must be named, words of the problem)
BAD: list[tuple[str, str, str, str]] = [
    # unknown keys, at every level
    ("unknown top-level key", 'colour = "blue"\n' + GOOD, "colour", "unknown key"),
    ("unknown top-level table", GOOD + "\n[mail]\nhost = \"x\"\n", "mail", "unknown key"),
    ("unknown key in [ncbi]", _replace('email = "lab@example.org"', 'email = "lab@example.org"\nemial = "x"'), "ncbi.emial", "unknown key"),
    ("unknown key in watch[1]", _replace('query = "rilzabrutinib[tiab]"', 'query = "rilzabrutinib[tiab]"\nqeury = "x"'), "watch[1].qeury", "unknown key"),
    ("unknown key in [tracked]", _replace('pmids = ["39973148"]', 'pmids = ["39973148"]\npmid = "1"'), "tracked.pmid", "unknown key"),
    ("unknown key in [digest]", GOOD + 'reply_to = "x@example.org"\n', "digest.reply_to", "unknown key"),
    ("unknown key in [smtp]", GOOD + SMTP_REMOTE + 'security = "tls"\nusername = "lab"\npassword = "hunter2"\n', "smtp.password", "unknown key"),
    ("unknown key in [store]", GOOD + '\n[store]\nfile = "x.db"\n', "store.file", "unknown key"),
    ("unknown key in [schedule]", GOOD + '\n[schedule]\ncrontab = "0 5 * * *"\n', "schedule.crontab", "unknown key"),
    ("unknown key in recipient[0]", GOOD + '\n[[recipient]]\nemail = "a@example.org"\nfreq = "daily"\n', "recipient[0].freq", "unknown key"),
    ("source is not a key", "source = \"x\"\n" + GOOD, "source", "unknown key"),
    # wrong types
    ("timeout as text", _replace('email = "lab@example.org"', 'email = "lab@example.org"\ntimeout = "fast"'), "ncbi.timeout", "valid number"),
    ("retries as a float", _replace('email = "lab@example.org"', 'email = "lab@example.org"\nretries = 2.5'), "ncbi.retries", "valid integer"),
    ("pmids as one string", _replace('pmids = ["39973148"]', 'pmids = "39973148"'), "tracked.pmids", "valid list"),
    ("send_empty as text", GOOD + 'send_empty = "yes"\n', "digest.send_empty", "valid boolean"),
    ("watch as a table", GOOD.replace("[[watch]]", "[watch]", 1).replace("[[watch]]\n", "[x]\n", 1), "watch", "valid list"),
    ("api_key as a number", _replace('email = "lab@example.org"', 'email = "lab@example.org"\napi_key = 123'), "ncbi.api_key", "valid string"),
    ("port out of range", GOOD + SMTP_REMOTE + "port = 70000\n", "smtp.port", "less than or equal to 65535"),
    ("window_days too short", _replace('query = "rilzabrutinib[tiab]"', 'query = "rilzabrutinib[tiab]"\nwindow_days = 7'), "watch[1].window_days", "greater than or equal to 30"),
    ("busy_timeout zero", GOOD + "\n[store]\nbusy_timeout = 0\n", "store.busy_timeout", "greater than 0"),
    ("unknown attachment", GOOD + 'attach = ["pdf"]\n', "digest.attach[0]", "'ris' or 'csv'"),
    ("unknown frequency", GOOD + '\n[[recipient]]\nemail = "a@example.org"\nfrequency = "hourly"\n', "recipient[0].frequency", "'daily' or 'weekly'"),
    # missing required keys
    ("no [ncbi]", GOOD.replace('[ncbi]\nemail = "lab@example.org"\n', ""), "ncbi", "required key is missing"),
    ("no ncbi.email", _replace('email = "lab@example.org"', 'timeout = 5'), "ncbi.email", "required key is missing"),
    ("no digest.sender", _replace('sender = "litwatch@example.org"\n', ""), "digest.sender", "required key is missing"),
    ("no watch query", _replace('query = "rilzabrutinib[tiab]"\n', ""), "watch[1].query", "required key is missing"),
    ("empty watch name", _replace('name = "Rilzabrutinib"', 'name = ""'), "watch[1].name", "at least 1 character"),
    ("nothing to watch", GOOD.split("[[watch]]")[0] + GOOD.split("[tracked]")[1].split("\n", 2)[2], "watch", "nothing to do"),
    # malformed values
    ("malformed ncbi.email", _replace('email = "lab@example.org"', 'email = "lab at example.org"'), "ncbi.email", "not an e-mail address"),
    ("malformed recipient", _replace('recipients = ["haematology@example.org"]', 'recipients = ["haematology@"]'), "digest.recipients[0]", "not an e-mail address"),
    ("malformed sender", _replace('sender = "litwatch@example.org"', 'sender = "litwatch"'), "digest.sender", "not an e-mail address"),
    ("malformed PMID", _replace('pmids = ["39973148"]', 'pmids = ["39973148x"]'), "tracked.pmids[0]", "not a PMID"),
    ("PMID zero", _replace('pmids = ["39973148"]', 'pmids = ["0"]'), "tracked.pmids[0]", "not a PMID"),
    ("PMID as a number", _replace('pmids = ["39973148"]', "pmids = [39973148]"), "tracked.pmids[0]", "valid string"),
    ("base_url not http", _replace('email = "lab@example.org"', 'email = "lab@example.org"\nbase_url = "ftp://x.org/"'), "ncbi.base_url", "not an http(s) URL"),
    ("store url not postgresql", GOOD + '\n[store]\nurl = "mysql://db/x"\n', "store.url", "must start with postgresql://"),
    # duplicates and cross-references
    ("duplicate watch names", _replace('name = "Rilzabrutinib"', 'name = "BTK inhibitors in ITP"'), "watch[1].name", "duplicate watch name"),
    ("recipient listed twice", GOOD + '\n[[recipient]]\nemail = "Haematology@example.org"\n', "recipient", "listed twice"),
    ("recipient names an unknown watch", GOOD + '\n[[recipient]]\nemail = "a@example.org"\nwatches = ["Rilza"]\n', "recipient[0].watches", "no watch is named 'Rilza'"),
    ("no recipients", _replace('recipients = ["haematology@example.org"]', "recipients = []"), "digest.recipients", "no recipients"),
    # mail security
    ("bad security value", GOOD + SMTP_REMOTE + 'security = "ssl"\n', "smtp.security", "'none', 'starttls' or 'tls'"),
    ("password in clear text to a remote host", GOOD + SMTP_REMOTE + 'security = "none"\nusername = "lab"\npassword_env = "LITWATCH_SMTP_PASSWORD"\n', "smtp.security", "clear text"),
    ("password without a username", GOOD + SMTP_REMOTE + 'password_env = "LITWATCH_SMTP_PASSWORD"\n', "smtp.username", "required when a password is configured"),
    ("two passwords", GOOD + SMTP_REMOTE + 'username = "lab"\npassword_env = "X"\npassword_file = "y"\n', "smtp.password_env", "not both"),
    ("API key over plain http", _replace('email = "lab@example.org"', 'email = "lab@example.org"\nbase_url = "http://eutils.example.org/"'), "ncbi.base_url", "plain http"),
    # schedule
    ("unknown timezone", GOOD + '\n[schedule]\ntimezone = "Europe/Atlantis"\n', "schedule.timezone", "unknown IANA time zone"),
    ("timezone that is a folder", GOOD + '\n[schedule]\ntimezone = "Europe"\n', "schedule.timezone", "unknown IANA time zone"),
    ("timezone too long", GOOD + f'\n[schedule]\ntimezone = "Europe/{"x" * 300}"\n', "schedule.timezone", "unknown IANA time zone"),
    ("bad cron", GOOD + '\n[schedule]\ncron = "61 5 * * *"\n', "schedule.cron", "not a crontab expression"),
    ("cron with six fields", GOOD + '\n[schedule]\ncron = "0 0 5 * * *"\n', "schedule.cron", "not a crontab expression"),
    ("cron that never fires", GOOD + '\n[schedule]\ncron = "0 5 31 2 *"\n', "schedule.cron", "never"),
]


@pytest.mark.parametrize(("text", "key", "problem"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_config_is_exit_2_and_one_line(tmp_path: Path, litwatch, text: str, key: str, problem: str) -> None:  # noqa: ANN001
    path = write_config(tmp_path, text)
    r = litwatch("run", "--config", str(path))
    assert r.code == 2
    assert r.out == ""
    lines = r.err.splitlines()
    assert len(lines) == 1, r.err
    line = lines[0]
    assert line.startswith(f"litwatch: {path}: {key}: "), line
    assert problem in line, line
    assert "hunter2" not in line and API_KEY not in line


def test_at_least_25_bad_configs() -> None:
    assert len(BAD) >= 25
    assert len({b[0] for b in BAD}) == len(BAD)


@pytest.mark.parametrize(
    ("name", "data", "problem"),
    [
        ("toml syntax error", b'[ncbi]\nemail = "lab@example.org\n', "not valid TOML: "),
        ("not UTF-8", GOOD.replace("Rilzabrutinib", "Rilzabrutinib \xe9").encode("latin-1"), "not UTF-8 text (byte "),
        ("binary junk", b"\x00\x01\x02\xff" * 10, "not UTF-8 text"),
        ("empty file", b"", "ncbi: required key is missing"),
    ],
)
def test_unreadable_config_files(tmp_path: Path, litwatch, name: str, data: bytes, problem: str) -> None:  # noqa: ANN001
    path = tmp_path / "litwatch.toml"
    path.write_bytes(data)
    r = litwatch("status", "--config", str(path))
    assert r.code == 2
    (line,) = r.err.splitlines()
    assert line.startswith(f"litwatch: {path}: ") and problem in line, line
    if name == "toml syntax error":
        assert "line 2" in line


def test_missing_config_file(tmp_path: Path, litwatch) -> None:  # noqa: ANN001
    path = tmp_path / "nowhere" / "litwatch.toml"
    r = litwatch("run", "--config", str(path))
    assert r.code == 2
    assert r.err.splitlines() == [f"litwatch: {path}: no such config file (give --config FILE or set {CONFIG_ENV})"]


def test_config_that_is_a_folder(tmp_path: Path, litwatch) -> None:  # noqa: ANN001
    r = litwatch("run", "--config", str(tmp_path))
    assert r.code == 2
    (line,) = r.err.splitlines()
    assert line.startswith(f"litwatch: {tmp_path}: cannot read")


def test_missing_password_variable_is_exit_2(tmp_path: Path, litwatch, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    path = write_config(
        tmp_path, GOOD + SMTP_REMOTE + 'security = "tls"\nusername = "lab"\npassword_env = "NO_SUCH_VARIABLE"\n'
    )
    monkeypatch.delenv("NO_SUCH_VARIABLE", raising=False)
    r = litwatch("run", "--config", str(path))
    assert r.code == 2
    assert r.err.splitlines() == [
        f"litwatch: {path.resolve()}: smtp.password_env: environment variable NO_SUCH_VARIABLE is not set"
    ]


# -- good configs ----------------------------------------------------------------------------------


def test_relative_paths_are_resolved_against_the_config_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "etc" / "litwatch"
    path = write_config(
        folder,
        GOOD
        + 'outbox = "out"\ntemplates = "tpl"\n'
        + '\n[store]\npath = "data/lw.db"\n'
        + '\n[smtp]\nhost = "mail.example.org"\nusername = "lab"\npassword_file = "secret.txt"\nca_file = "certs/ca.pem"\n',
    )
    (folder / "secret.txt").write_text("s3cret\nsecond line\n")
    (folder / "tpl").mkdir()  # a templates folder that does not exist is refused
    monkeypatch.chdir(tmp_path)
    config = load_config(Path("etc/litwatch/litwatch.toml"))
    real = folder.resolve()
    assert config.source == path.resolve()
    assert config.store_path == real / "data" / "lw.db"
    assert config.outbox_path == real / "out"
    assert config.templates_path == real / "tpl"
    assert config.resolve(config.smtp.ca_file) == real / "certs" / "ca.pem"
    assert config.smtp_password() == "s3cret"
    home = load_config(path).resolve("~/x")
    assert home == Path(os.environ["HOME"]) / "x"


def test_relative_store_path_in_a_real_run(tmp_path: Path, ncbi, litwatch, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    from tests.conftest import scenario_config
    from tests.reliability_helpers import baseline

    baseline(ncbi, 2)
    folder = tmp_path / "conf"
    path = scenario_config(folder, ncbi, extra='[store]\npath = "state/lw.db"\n')
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    r = litwatch("run", "--config", os.path.relpath(path, elsewhere))
    assert r.code == 0, r.err
    assert (folder / "state" / "lw.db").is_file()
    assert list((folder / "digests").glob("*.eml"))
    assert list(elsewhere.iterdir()) == []


def test_litwatch_config_variable(tmp_path: Path, litwatch, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    env_path = write_config(tmp_path / "from-env", GOOD)
    monkeypatch.setenv(CONFIG_ENV, str(env_path))
    assert config_path(None) == env_path
    assert config_path("other.toml") == Path("other.toml"), "--config wins"
    r = litwatch("status")
    assert r.code == 0, r.err
    assert str(tmp_path / "from-env" / "litwatch.db") in r.out
    monkeypatch.delenv(CONFIG_ENV)
    monkeypatch.chdir(tmp_path)
    assert config_path(None) == Path("litwatch.toml")


def test_api_key_variable_wins_over_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_config(tmp_path, _replace('email = "lab@example.org"', 'email = "lab@example.org"\napi_key = "key-from-file"'))
    config = load_config(path)
    assert os.environ[API_KEY_ENV] == API_KEY
    assert config.api_key() == API_KEY
    monkeypatch.delenv(API_KEY_ENV)
    assert config.api_key() == "key-from-file"
    monkeypatch.setenv(API_KEY_ENV, "")
    assert config.api_key() == "key-from-file", "an empty variable is no key"


def test_api_key_variable_is_what_ncbi_sees(tmp_path: Path, ncbi, litwatch) -> None:  # noqa: ANN001
    from tests.conftest import scenario_config
    from tests.reliability_helpers import baseline

    baseline(ncbi, 2)
    path = scenario_config(tmp_path, ncbi)
    path.write_text(path.read_text().replace("[ncbi]\n", '[ncbi]\napi_key = "key-from-file"\n'))
    assert litwatch("run", "--config", str(path)).code == 0
    assert ncbi.requests and {r.api_key for r in ncbi.requests} == {API_KEY}


def test_loopback_smtp_without_tls_may_log_in(tmp_path: Path) -> None:
    path = write_config(
        tmp_path, GOOD + '\n[smtp]\nhost = "127.0.0.1"\nsecurity = "none"\nusername = "lab"\npassword_env = "P"\n'
    )
    assert load_config(path).smtp.effective_port == 25


def test_plain_http_is_allowed_to_a_loopback_test_server(tmp_path: Path) -> None:
    path = write_config(tmp_path, _replace('email = "lab@example.org"', 'email = "lab@example.org"\nbase_url = "http://127.0.0.1:8080/eutils"'))
    assert load_config(path).ncbi.base_url == "http://127.0.0.1:8080/eutils/"


# -- fuzzing: a Config or a ConfigError, nothing else -------------------------------------------------

KEYS = {
    "": ["ncbi", "store", "watch", "tracked", "digest", "recipient", "smtp", "schedule", "feed", "notify", "x"],
    "ncbi": ["email", "api_key", "base_url", "timeout", "retries"],
    "store": ["path", "url", "busy_timeout"],
    "watch": ["name", "query", "backfill_days", "window_days", "terms"],
    "tracked": ["pmids", "follow", "sources", "icite_url", "backfill_days", "recheck_days"],
    "digest": ["recipients", "sender", "outbox", "send_empty", "max_items", "attach", "templates", "admin"],
    "recipient": ["email", "watches", "frequency", "weekday", "citations"],
    "smtp": ["host", "port", "security", "username", "password_env", "password_file", "timeout", "ca_file"],
    "schedule": ["cron", "timezone", "misfire_grace"],
}
NASTY = [
    "", " ", "lab@example.org", "a@b", "39973148", "0", "-1", "none", "tls", "starttls", "daily", "weekly",
    "monday", "pubmed", "icite", "ris", "csv", "announced", "Europe", "Europe/Paris", "UTC/", "../../etc",
    "x" * 300, "0 5 31 2 *", "*/0 * * * *", "30 5 * * *", "http://127.0.0.1/", "https://x.org", "ftp://x",
    "postgresql://u@h/d", "\x00", "\u202e", "é", "\ud7ff",
]  # fmt: skip
scalars = st.one_of(
    st.sampled_from(NASTY),
    st.text(max_size=20),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
)


def _values(section: str):  # noqa: ANN202
    inner = st.recursive(scalars, lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=5), c, max_size=3), max_leaves=6)
    keys = KEYS.get(section, [])
    if not keys:
        return inner
    table = st.dictionaries(st.sampled_from(keys) | st.text(max_size=6), inner, max_size=6)
    return st.one_of(table, st.lists(table, max_size=3), inner)


configs = st.fixed_dictionaries(
    {},
    optional={name: _values(name) for name in KEYS[""]},
)


def _only_config_or_config_error(call) -> None:  # noqa: ANN001
    try:
        result = call()
    except ConfigError as exc:
        text = str(exc)
        assert text and "\n" not in text, text
    else:
        assert isinstance(result, Config)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(configs)
def test_fuzz_parse_config(data: dict) -> None:
    _only_config_or_config_error(lambda: parse_config(data, Path("/etc/litwatch/litwatch.toml")))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(
    st.one_of(
        st.binary(max_size=200),
        st.text(max_size=200).map(str.encode),
        # edits of a good config: the parser gets deep before it fails
        st.tuples(st.integers(0, len(GOOD)), st.integers(0, 20), st.text(max_size=10)).map(
            lambda e: (GOOD[: e[0]] + e[2] + GOOD[e[0] + e[1] :]).encode("utf-8", "surrogatepass")
        ),
        st.tuples(st.sampled_from(sorted({k for ks in KEYS.values() for k in ks})), st.sampled_from(NASTY)).map(
            lambda kv: (GOOD + f"\n[schedule]\n{kv[0]} = {_toml_str(kv[1])}\n").encode("utf-8", "surrogatepass")
        ),
    )
)
def test_fuzz_load_config(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "fuzz.toml"
    path.write_bytes(data)
    _only_config_or_config_error(lambda: load_config(path))


def _toml_str(value: str) -> str:
    return '"' + "".join(c if c.isprintable() and c not in '"\\' else f"\\u{ord(c):04x}" for c in value) + '"'


def test_the_good_config_is_good(tmp_path: Path) -> None:
    assert tomllib.loads(GOOD)
    load_config(write_config(tmp_path, GOOD))
