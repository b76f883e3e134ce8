"""Secrets: the NCBI API key and the SMTP password never appear in logs, error messages, `status`
output, the database or the digests; certificates are verified; credentials never travel in clear
text to a host other than loopback; files holding secrets are private."""

from __future__ import annotations

import email
import email.policy
import json
import os
import sqlite3
import ssl
import stat
from pathlib import Path

import pytest
from aiosmtpd.smtp import AuthResult

from litwatch.jobs.config import load_config
from litwatch.jobs.parts import make_client, make_deliverer, make_icite
from litwatch.notifications.delivery import DeliveryError, SmtpDeliverer
from litwatch.watchers.entrez import EntrezClient, EntrezError, Pacer
from tests.conftest import (
    API_KEY,
    Q_BTK,
    SMTP_PASSWORD,
    SmtpServer,
    add_itp_article,
    free_port,
    run_subprocess,
    scenario_config,
)
from tests.fakes import Response
from tests.reliability_helpers import baseline, fast_retries

FILE_KEY = "file-api-key-5e6f7a"  # in the config file; the environment's key wins, and neither may show
SECRETS = (API_KEY, SMTP_PASSWORD, FILE_KEY)


class Login:
    """aiosmtpd authenticator: accepts the known password unless told to refuse."""

    def __init__(self) -> None:
        self.refuse = False
        self.logins = 0

    def __call__(self, server, session, envelope, mechanism, auth_data):  # noqa: ANN001, ANN204
        self.logins += 1
        ok = not self.refuse and auth_data.password == SMTP_PASSWORD.encode()
        return AuthResult(success=ok, handled=False)


def _decoded(raw: bytes) -> list[str]:
    """Every header and every decoded part of a message (base64 and quoted-printable undone)."""
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    out = [f"{k}: {v}" for k, v in msg.items()]
    for part in msg.walk():
        payload = part.get_payload(decode=True)
        if payload:
            out.append(payload.decode("utf-8", "replace"))
    return out


def scan(where: dict[str, str | bytes]) -> list[str]:
    """Where any secret shows up."""
    found = []
    for name, content in where.items():
        text = content.decode("utf-8", "replace") if isinstance(content, bytes) else content
        for secret in SECRETS:
            if secret in text:
                found.append(f"{secret} in {name}")
    return found


def everything_stored(folder: Path, smtp: SmtpServer) -> dict[str, str | bytes]:
    where: dict[str, str | bytes] = {}
    for path in folder.rglob("*"):
        if path.is_file() and path.suffix != ".toml":
            where[str(path)] = path.read_bytes()
    db = sqlite3.connect(folder / "litwatch.db")
    try:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        for table in tables:
            rows = db.execute(f'SELECT * FROM "{table}"').fetchall()
            where[f"table {table}"] = repr(rows)
        for (message_id, message) in db.execute("SELECT message_id, message FROM deliveries"):
            for i, text in enumerate(_decoded(bytes(message))):
                where[f"deliveries.message {message_id} part {i}"] = text
    finally:
        db.close()
    for n, got in enumerate(smtp.received):
        for i, text in enumerate(_decoded(got.data)):
            where[f"received message {n} part {i}"] = text
    return where


def test_secrets_never_leak(tmp_path: Path, ncbi, litwatch, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001, PLR0915
    fast_retries(monkeypatch, ncbi)
    login = Login()
    smtp = SmtpServer(authenticator=login, auth_require_tls=False).start()
    outputs: dict[str, str | bytes] = {}

    def run(label: str, *args: str, config: Path | None = None, expect: int | None = None) -> None:
        r = litwatch(*args, "--config", str(config or cfg))
        outputs[f"{label}: stdout"] = r.out
        outputs[f"{label}: stderr"] = r.err
        if expect is not None:
            assert r.code == expect, (label, r.code, r.err)

    try:
        base = baseline(ncbi)
        cfg = scenario_config(
            tmp_path,
            ncbi,
            retries=1,
            extra=(
                f'[smtp]\nhost = "127.0.0.1"\nport = {smtp.port}\nsecurity = "none"\nusername = "lab"\n'
                'password_env = "LITWATCH_SMTP_PASSWORD"\ntimeout = 2\n'
            ),
        )
        cfg.write_text(cfg.read_text().replace("[ncbi]\n", f'[ncbi]\napi_key = "{FILE_KEY}"\n'))
        cfg.chmod(0o600)
        broken = tmp_path / "broken.toml"  # the same store, NCBI unreachable
        broken.write_text(cfg.read_text().replace(ncbi.base_url, f"http://127.0.0.1:{free_port()}/entrez/eutils/"))
        broken.chmod(0o600)

        run("first run", "run", "-vv", expect=0)
        add_itp_article(ncbi, "41100001", days_ago=0)
        ncbi.add_search(Q_BTK, base + ["41100001"])

        # NCBI refuses the key and echoes it, as the real one does
        real_handle = ncbi.handle
        echo = json.dumps({"error": "API key invalid", "api-key": API_KEY, "type": "invalid"}).encode()
        ncbi.handle = lambda endpoint, params: Response(400, echo, "application/json")
        run("key refused", "run", "-vv", expect=1)
        run("key refused, json logs", "run", "-vv", "--log-format", "json", expect=1)
        ncbi.handle = real_handle
        # NCBI unreachable: the URL with the key is in the connection error
        run("ncbi unreachable", "run", "-vv", config=broken, expect=1)
        run("ncbi unreachable, json logs", "run", "-vv", "--log-format", "json", config=broken, expect=1)
        # the mail server refuses the password, then is down
        login.refuse = True
        run("login refused", "run", "-vv", expect=1)
        login.refuse = False
        smtp.stop()
        run("smtp down", "run", "-vv", expect=1)
        smtp.start()
        # the queue is delivered; status and friends show the failures above
        run("delivering run", "run", "-vv", expect=0)
        run("status", "status", "-vv")
        run("status --json", "status", "--json")
        run("status --check", "status", "--check")
        run("track list", "track", "list", "--json")
        run("preview", "preview", "-vv")
        child = run_subprocess("run", "-vv", "--config", str(broken))
        outputs["subprocess run: stdout"], outputs["subprocess run: stderr"] = child.stdout, child.stderr
        assert child.returncode == 1

        assert login.logins >= 3, "the password was used"
        assert any("41100001" in m.as_string() for m in smtp.messages()), "the digest went out in the end"
        assert "login refused" in str(outputs["login refused: stderr"])
        assert "HTTP 400" in str(outputs["key refused: stderr"]) and "***" in str(outputs["key refused: stderr"])
        assert "ConnectionError" in str(outputs["ncbi unreachable: stderr"])
        where = {**outputs, **everything_stored(tmp_path, smtp)}
        assert len(where) > 30
        assert scan(where) == []
        # NCBI got the environment's key; the SMTP password went to the SMTP server only
        assert {r.api_key for r in ncbi.requests} == {API_KEY}
        assert not any(SMTP_PASSWORD in json.dumps(r.params) for r in ncbi.requests)
    finally:
        smtp.stop()


def test_entrez_error_messages_are_redacted(ncbi) -> None:  # noqa: ANN001
    odd_key = "k+y/z=1&x"  # sent URL-encoded: redacted in both spellings
    echo = json.dumps({"error": "API key invalid", "api-key": odd_key}).encode() + b" " + odd_key.encode()
    ncbi.handle = lambda endpoint, params: Response(400, echo + b" k%2By%2Fz%3D1%26x", "application/json")
    client = EntrezClient(email="lab@example.org", api_key=odd_key, base_url=ncbi.base_url, retries=0, pacer=Pacer())
    with pytest.raises(EntrezError) as info:
        client.esearch("x")
    assert odd_key not in str(info.value) and "k%2By%2Fz%3D1%26x" not in str(info.value)
    closed = EntrezClient(
        email="lab@example.org", api_key=API_KEY, base_url=f"http://127.0.0.1:{free_port()}/", retries=0, pacer=Pacer()
    )
    with pytest.raises(EntrezError) as info:
        closed.esearch("x")
    assert "ConnectionError" in str(info.value) and API_KEY not in str(info.value)


def test_certificate_verification_stays_on(tmp_path: Path) -> None:
    for security in ("starttls", "tls"):
        context = SmtpDeliverer(host="mail.example.org", port=587, security=security)._context()
        assert context.verify_mode == ssl.CERT_REQUIRED
        assert context.check_hostname is True
        assert context.minimum_version >= ssl.TLSVersion.TLSv1_2
    cfg = tmp_path / "litwatch.toml"
    cfg.write_text(
        '[ncbi]\nemail = "lab@example.org"\n[tracked]\npmids = ["1"]\nsources = ["pubmed", "icite"]\n'
        '[digest]\nsender = "a@example.org"\nrecipients = ["b@example.org"]\n'
        '[smtp]\nhost = "mail.example.org"\nsecurity = "tls"\nca_file = "ca.pem"\n'
    )
    config = load_config(cfg)
    deliverer = make_deliverer(config)
    assert deliverer.ca_file == str(tmp_path.resolve() / "ca.pem")
    assert make_client(config)._session.verify is True
    assert make_icite(config)._session.verify is True
    assert config.ncbi.base_url.startswith("https://") and config.tracked.icite_url.startswith("https://")


def test_credentials_never_in_clear_text_to_a_remote_host(tmp_path: Path, litwatch) -> None:  # noqa: ANN001
    with pytest.raises(DeliveryError, match="refusing to send credentials to mail.example.org without TLS") as info:
        SmtpDeliverer(host="mail.example.org", port=25, security="none", username="lab", password=SMTP_PASSWORD)
    assert info.value.temporary is False and SMTP_PASSWORD not in str(info.value)
    SmtpDeliverer(host="127.0.0.1", port=25, security="none", username="lab", password=SMTP_PASSWORD)  # loopback relay
    base = '[ncbi]\nemail = "lab@example.org"\n[tracked]\npmids = ["1"]\n[digest]\nsender = "a@example.org"\nrecipients = ["b@example.org"]\n'
    for extra, key in [
        ('[smtp]\nhost = "mail.example.org"\nsecurity = "none"\nusername = "lab"\npassword_env = "LITWATCH_SMTP_PASSWORD"\n', "smtp.security"),
        ("", "ncbi.base_url"),
    ]:
        text = base + extra if extra else base.replace("[ncbi]\n", '[ncbi]\nbase_url = "http://eutils.example.org/"\n')
        cfg = tmp_path / "litwatch.toml"
        cfg.write_text(text)
        r = litwatch("run", "--config", str(cfg))
        assert r.code == 2
        assert f": {key}: " in r.err and "clear text" in r.err


def _readable_config(tmp_path: Path, extra: str, mode: int) -> Path:
    cfg = tmp_path / "litwatch.toml"
    cfg.write_text(
        '[ncbi]\nemail = "lab@example.org"\n' + extra
        + '[tracked]\npmids = ["1"]\n[digest]\nsender = "a@example.org"\nrecipients = ["b@example.org"]\n'
    )  # fmt: skip
    cfg.chmod(mode)
    return cfg


@pytest.mark.parametrize(
    ("extra", "mode", "warned"),
    [
        (f'api_key = "{FILE_KEY}"\n', 0o644, "config"),
        (f'api_key = "{FILE_KEY}"\n', 0o640, "config"),
        (f'api_key = "{FILE_KEY}"\n', 0o600, None),
        ("", 0o644, None),  # no secret in it
    ],
)
def test_warn_when_a_config_holding_a_secret_is_readable_by_others(tmp_path: Path, litwatch, extra: str, mode: int, warned: str | None) -> None:  # noqa: ANN001
    cfg = _readable_config(tmp_path, extra, mode)
    r = litwatch("status", "--config", str(cfg))
    assert r.code == 0, r.err
    warnings = [line for line in r.err.splitlines() if "readable by others" in line]
    if warned:
        assert warnings == [f"litwatch: WARNING: {cfg.resolve()} holds a secret and is readable by others; run: chmod 600 {cfg.resolve()}"]
    else:
        assert warnings == []
    assert FILE_KEY not in r.err + r.out


def test_warn_when_the_password_file_is_readable_by_others(tmp_path: Path, litwatch) -> None:  # noqa: ANN001
    password = tmp_path / "smtp-password"
    password.write_text(SMTP_PASSWORD + "\n")
    cfg = tmp_path / "litwatch.toml"
    cfg.write_text(
        '[ncbi]\nemail = "lab@example.org"\n[tracked]\npmids = ["1"]\n[digest]\nsender = "a@example.org"\n'
        'recipients = ["b@example.org"]\n[smtp]\nhost = "mail.example.org"\nusername = "lab"\npassword_file = "smtp-password"\n'
    )
    cfg.chmod(0o644)  # holds no secret itself
    for mode, expected in ((0o644, 1), (0o600, 0)):
        password.chmod(mode)
        r = litwatch("status", "--config", str(cfg))
        warnings = [line for line in r.err.splitlines() if "readable by others" in line]
        assert len(warnings) == expected, r.err
        assert all(str(password) in line for line in warnings)
        assert SMTP_PASSWORD not in r.err + r.out


def test_the_store_and_digests_are_private(tmp_path: Path, ncbi, litwatch, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    fast_retries(monkeypatch, ncbi)
    baseline(ncbi, 2)
    cfg = scenario_config(tmp_path, ncbi)
    old = os.umask(0o022)  # a permissive umask: privacy must not depend on it
    try:
        r = litwatch("run", "--config", str(cfg))
    finally:
        os.umask(old)
    assert r.code == 0, r.err
    db = tmp_path / "litwatch.db"
    assert stat.S_IMODE(db.stat().st_mode) == 0o600
    private = [db, *tmp_path.glob("litwatch.db-*"), *tmp_path.glob("litwatch.db.*"), *(tmp_path / "digests").iterdir()]
    assert len(private) >= 3
    for path in private:
        assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0, f"{path.name}: {oct(path.stat().st_mode)}"


# -- issue 13, C10 ----------------------------------------------------------------------------------

CHAT_TOKEN = "SECRETpathTOKEN0123456789"
LOOPBACK_NCBI = 'base_url = "http://127.0.0.1:9/"\nretries = 0\n'  # `check` asks PubMed: a closed loopback port, never the internet


def test_check_vv_never_shows_a_chat_url(tmp_path: Path, litwatch) -> None:  # noqa: ANN001
    """Apprise's DEBUG line "Loaded JSON URL: jsons://host/.../TOKEN" stays out of `check -vv`."""
    cfg = _readable_config(tmp_path, LOOPBACK_NCBI, 0o600)
    cfg.write_text(cfg.read_text() + f'[[notify]]\nname = "lab"\nurl = "jsons://hooks.example.org/services/T0/{CHAT_TOKEN}"\n')
    r = litwatch("check", "--config", str(cfg), "-vv")
    assert "chat lab: an Apprise URL" in r.out
    assert CHAT_TOKEN not in r.out + r.err


def test_migrate_store_refuses_a_password_on_the_command_line(tmp_path: Path, litwatch) -> None:  # noqa: ANN001
    cfg = _readable_config(tmp_path, "", 0o600)
    r = litwatch("migrate-store", "--config", str(cfg), "--to", "postgresql://lab:Hunter2secret@127.0.0.1:5432/test")
    assert r.code == 2
    assert "Hunter2secret" not in r.err + r.out
    assert "PGPASSWORD" in r.err and len(r.err.strip().splitlines()) == 1


@pytest.mark.parametrize("mode", [0o644, 0o600])
def test_warn_when_a_config_holding_a_store_password_is_readable_by_others(tmp_path: Path, litwatch, mode: int) -> None:  # noqa: ANN001
    cfg = _readable_config(tmp_path, LOOPBACK_NCBI + "[store]\nurl = \"postgresql://lab:Hunter2secret@127.0.0.1:9/test\"\n", mode)
    r = litwatch("check", "--config", str(cfg))
    warned = [line for line in r.err.splitlines() if "readable by others" in line]
    assert len(warned) == (1 if mode == 0o644 else 0), r.err
    assert "Hunter2secret" not in r.err + r.out


def test_a_store_password_with_an_unencoded_at_sign_never_leaks(tmp_path: Path, litwatch) -> None:  # noqa: ANN001
    """`user:p@ss@host`: libpq would read the host as "ss@host" and name it in its error.  Refused
    as a config error (exit 2, one line), and the redaction hides the password whole."""
    from litwatch.watchers.redact import redact_url

    cfg = _readable_config(tmp_path, "[store]\nurl = \"postgresql://lab:s3cr3t@tailpart@127.0.0.1:9/test\"\n", 0o600)
    for command in (("run",), ("status",), ("migrate-store", "--to", str(tmp_path / "copy.db"))):
        r = litwatch(*command, "--config", str(cfg))
        assert r.code == 2, (command, r.err)
        assert "s3cr3t" not in r.err + r.out and "tailpart" not in r.err + r.out
        assert "store.url" in r.err and "%40" in r.err and len(r.err.strip().splitlines()) == 1
    assert redact_url("postgresql://lab:s3cr3t@tailpart@db.example.org/x") == "postgresql://lab:***@db.example.org/x"
    r = litwatch("migrate-store", "--config", str(_readable_config(tmp_path, "", 0o600)), "--to", "postgresql://lab:s3@cr@127.0.0.1/x")
    assert r.code == 2 and "s3" not in r.err.replace("litwatch", "")
