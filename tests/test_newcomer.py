"""A newcomer's mistakes and the state around a run (issue 13, D and F): every command tried as a
new user would.  "One line": exit code as documented, one stderr line naming the file, key, value
or host, nothing lost, no traceback."""

from __future__ import annotations

import email.policy
import os
import socket
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC
from email.message import EmailMessage
from pathlib import Path

import pytest

from litwatch.jobs.config import load_config
from litwatch.notifications.delivery import DeliveryError, OutboxDeliverer, outbox_name
from litwatch.watchers.store import run_lock
from tests.conftest import ROOT, baseline, run_subprocess, scenario_config
from tests.fakes import FakeEutils

IS_ROOT = os.geteuid() == 0

CONFIG = """\
[ncbi]
email = "lab@haematology-unit.org"
base_url = "http://127.0.0.1:9/entrez/eutils/"
retries = 0

[[watch]]
name = "BTK inhibitors in ITP"
query = "zanubrutinib[tiab] AND ITP[tiab]"

[tracked]
pmids = ["39973148"]

[digest]
sender = "litwatch@haematology-unit.org"
recipients = ["haematology@haematology-unit.org"]
"""


@contextmanager
def unwritable(folder: Path) -> Iterator[None]:
    """`folder` that this user cannot create files in: mode 0500, or for root (who writes anywhere)
    the immutable attribute (chattr +i), which stops root too."""
    if not IS_ROOT:
        folder.chmod(0o500)
        try:
            yield
        finally:
            folder.chmod(0o700)
        return
    if subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode != 0:
        pytest.skip("root, and no chattr +i here: cannot make a folder unwritable")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(folder)], check=True)


def write(folder: Path, text: str = CONFIG, name: str = "litwatch.toml") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    path.chmod(0o600)
    return path


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


# -- D11: validators match whole values ---------------------------------------------------------


@pytest.mark.parametrize(
    ("old", "new", "key"),
    [
        ('recipients = ["haematology@haematology-unit.org"]', 'recipients = ["haematology@haematology-unit.org\\n"]', "digest.recipients"),
        ('sender = "litwatch@haematology-unit.org"', 'sender = "litwatch@haematology-unit.org\\n"', "digest.sender"),
        ('email = "lab@haematology-unit.org"', 'email = "lab@haematology-unit.org\\n"', "ncbi.email"),
        ('pmids = ["39973148"]', 'pmids = ["39973148\\n"]', "tracked.pmids"),
        ('base_url = "http://127.0.0.1:9/entrez/eutils/"', 'base_url = "http://127.0.0.1:9/entrez/eutils/\\n"', "ncbi.base_url"),
    ],
)
def test_a_value_with_a_trailing_newline_is_refused(tmp_path: Path, litwatch, old: str, new: str, key: str) -> None:  # noqa: ANN001
    cfg = write(tmp_path, CONFIG.replace(old, new))
    r = litwatch("check", "--config", str(cfg))
    assert r.code == 2
    assert f": {key}" in one_line(r.err)


def test_command_line_values_with_a_trailing_newline_are_refused(tmp_path: Path, litwatch) -> None:  # noqa: ANN001
    cfg = write(tmp_path)
    for args in (("track", "add", "39973148\n"), ("show", "39973148\n"), ("send-test", "--to", "lab@haematology-unit.org\n")):
        r = litwatch(*args, "--config", str(cfg))
        assert r.code == 2, args
        one_line(r.err)


# -- D12: the run lock is the store's own --------------------------------------------------------


def test_a_symlinked_store_path_takes_the_same_lock(tmp_path: Path, litwatch) -> None:  # noqa: ANN001
    real = write(tmp_path / "a", CONFIG + '\n[store]\npath = "litwatch.db"\n')
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "link.db").symlink_to(tmp_path / "a" / "litwatch.db")
    other = write(tmp_path / "b", CONFIG + '\n[store]\npath = "link.db"\n')
    with run_lock(store_path=load_config(real).store_path):
        r = litwatch("run", "--config", str(other))
    assert r.code == 75, r.err
    assert "another litwatch run holds" in one_line(r.err)


# -- D13: export --output, the outbox --------------------------------------------------------------


def test_export_output_writes_through_links_and_keeps_the_mode(tmp_path: Path, litwatch) -> None:  # noqa: ANN001
    cfg = write(tmp_path)
    # an existing 0600 file stays 0600
    private = tmp_path / "private.csv"
    private.write_text("old\n")
    private.chmod(0o600)
    assert litwatch("export", "--format", "csv", "--output", str(private), "--config", str(cfg)).code == 0
    assert stat.S_IMODE(private.stat().st_mode) == 0o600 and private.read_text().startswith("pmid,")
    # a link to a file stays a link; the file it names gets the export
    link = tmp_path / "latest.csv"
    link.symlink_to(private)
    assert litwatch("export", "--format", "csv", "--output", str(link), "--config", str(cfg)).code == 0
    assert link.is_symlink() and private.read_text().startswith("pmid,")
    # a link to something that is not a file (/dev/stdout; here a named pipe) is written through
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    out = tmp_path / "stdout"
    out.symlink_to(fifo)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()))
    reader.start()
    r = litwatch("export", "--format", "csv", "--output", str(out), "--config", str(cfg))
    reader.join(10)
    assert r.code == 0, r.err
    assert out.is_symlink() and stat.S_ISFIFO(fifo.stat().st_mode)
    assert got and got[0].startswith(b"pmid,")


def test_an_outbox_write_that_fails_leaves_no_orphan_html(tmp_path: Path) -> None:
    msg = EmailMessage(policy=email.policy.SMTP)
    msg["From"], msg["To"], msg["Subject"] = "a@haematology-unit.org", "b@haematology-unit.org", "digest"
    msg["Date"], msg["Message-ID"] = "Mon, 30 Nov 2026 08:00:00 +0000", "<1@haematology-unit.org>"
    msg.set_content("text")
    msg.add_alternative("<p>html</p>", subtype="html")
    folder = tmp_path / "digests"
    name = outbox_name(msg, "b@haematology-unit.org")
    (folder / f"{name}.eml").mkdir(parents=True)  # the .eml cannot be written (as on a full disk)
    with pytest.raises(DeliveryError):
        OutboxDeliverer(folder).deliver(msg.as_bytes(), "a@haematology-unit.org", "b@haematology-unit.org")
    assert not (folder / f"{name}.html").exists()
    assert sorted(p.name for p in folder.iterdir()) == [f"{name}.eml"]


# -- F21: one line where a traceback was ------------------------------------------------------------


def test_a_store_folder_that_cannot_be_created_is_one_line(tmp_path: Path, litwatch) -> None:  # noqa: ANN001
    (tmp_path / "afile").write_text("")
    cfg = write(tmp_path, CONFIG + '\n[store]\npath = "afile/litwatch.db"\n')
    r = litwatch("run", "--config", str(cfg))
    assert r.code == 1
    assert "afile" in one_line(r.err)


def test_a_store_folder_that_is_not_writable_is_one_line(tmp_path: Path, litwatch) -> None:  # noqa: ANN001
    """A cron job under the wrong user."""
    (tmp_path / "ro").mkdir()
    cfg = write(tmp_path, CONFIG + '\n[store]\npath = "ro/litwatch.db"\n')
    with unwritable(tmp_path / "ro"):
        r = litwatch("run", "--config", str(cfg))
        c = litwatch("check", "--config", str(cfg))
    assert r.code == 1 and "ro/litwatch.db" in one_line(r.err)
    assert c.code == 1 and any(line.startswith("PROBLEM  store:") for line in c.out.splitlines()), c.out


def test_a_postgresql_store_without_psycopg_says_what_to_install(tmp_path: Path) -> None:
    shadow = tmp_path / "shadow" / "psycopg"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ImportError('No module named psycopg')\n")
    cfg = write(tmp_path, CONFIG + '\n[store]\nurl = "postgresql://127.0.0.1:9/litwatch"\n')
    for command in ("run", "status"):
        done = run_subprocess(command, "--config", str(cfg), env={"PYTHONPATH": str(tmp_path / "shadow")})
        assert done.returncode == 1, done.stderr
        assert "pip install 'litwatch[postgres]'" in one_line(done.stderr)


def test_output_paths_a_newcomer_gets_wrong(tmp_path: Path, litwatch) -> None:  # noqa: ANN001
    cfg = write(tmp_path)
    folder = tmp_path / "somewhere"
    folder.mkdir()
    for args in (("preview", "--out", str(folder)), ("export", "--format", "ris", "--output", str(folder))):
        r = litwatch(*args, "--config", str(cfg))
        assert r.code == 2, args
        assert "is a folder" in one_line(r.err)
    r = litwatch("preview", "--out", str(tmp_path / "missing" / "dirs" / "next.html"), "--config", str(cfg))
    assert r.code == 0, r.err
    assert (tmp_path / "missing" / "dirs" / "next.html").is_file()


def test_init_onto_a_file_is_one_line(tmp_path: Path, litwatch) -> None:  # noqa: ANN001
    (tmp_path / "notes.txt").write_text("mine\n")
    r = litwatch("init", str(tmp_path / "notes.txt"), "--email", "lab@haematology-unit.org")
    assert r.code == 2 and "is a file, not a folder" in one_line(r.err)
    assert (tmp_path / "notes.txt").read_text() == "mine\n"


def test_init_into_an_unwritable_folder_is_one_line(tmp_path: Path, litwatch) -> None:  # noqa: ANN001
    (tmp_path / "ro").mkdir()
    with unwritable(tmp_path / "ro"):
        r = litwatch("init", str(tmp_path / "ro"), "--email", "lab@haematology-unit.org")
    assert r.code == 2 and "cannot write" in one_line(r.err)


def test_a_closed_pipe_is_no_traceback(tmp_path: Path) -> None:
    cfg = write(tmp_path)
    for command in ("check", "export --format csv", "status", "completion bash"):
        done = subprocess.run(
            ["bash", "-c", f"set -o pipefail; {sys.executable} -m litwatch.jobs {command} --config {cfg} | true"],
            capture_output=True, text=True, cwd=ROOT, timeout=60,
        )
        assert "Traceback" not in done.stderr and "BrokenPipe" not in done.stderr, (command, done.stderr)
        assert done.returncode in (0, 141), (command, done.returncode)  # 0: all written before the reader left


# -- F22: check tests what run needs ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "setup", "words"),
    [
        ('\n[store]\npath = "db"\n', "folder:db", "is a folder"),
        ('\n[store]\npath = "afile/litwatch.db"\n', "file:afile", "is a file, not a folder"),
        ('outbox = "digests"\n', "file:digests", "outbox"),
        ('\n[store]\nurl = "postgresql://127.0.0.1:9/litwatch"\n', "", "cannot connect to PostgreSQL"),
        ("", "", "PubMed could not be asked"),
    ],
    ids=["store path is a folder", "store folder is a file", "outbox is a file", "PostgreSQL unreachable",
         "NCBI unreachable with tracked papers only"],
)
def test_check_finds_what_would_fail_the_run(tmp_path: Path, litwatch, extra: str, setup: str, words: str) -> None:  # noqa: ANN001
    text = CONFIG.replace("[[watch]]\nname", "[[watchx]]\nname") if False else CONFIG  # noqa: SIM108
    text = text.replace('[[watch]]\nname = "BTK inhibitors in ITP"\nquery = "zanubrutinib[tiab] AND ITP[tiab]"\n', "")
    text = text.replace("[digest]\n", "[digest]\n" + extra) if extra.startswith("outbox") else text + extra
    cfg = write(tmp_path, text)
    kind, _, name = setup.partition(":")
    if kind == "folder":
        (tmp_path / name).mkdir()
    elif kind == "file":
        (tmp_path / name).write_text("")
    r = litwatch("check", "--config", str(cfg))
    assert r.code == 1, r.out + r.err
    assert any(line.startswith("PROBLEM") and words in line for line in r.out.splitlines()), r.out
    assert "Traceback" not in r.err


# -- F23: migrate-store validates its target -----------------------------------------------------------


@pytest.mark.parametrize("target", ["mysql://x/y", "sqlite:///tmp/x.db", "postgresql://lab@db@127.0.0.1/x"])
def test_migrate_store_refuses_a_target_it_cannot_use(tmp_path: Path, litwatch, monkeypatch: pytest.MonkeyPatch, target: str) -> None:  # noqa: ANN001
    monkeypatch.chdir(tmp_path)
    cfg = write(tmp_path)
    before = set(tmp_path.rglob("*"))
    r = litwatch("migrate-store", "--config", str(cfg), "--to", target)
    assert r.code == 2
    one_line(r.err)
    assert set(tmp_path.rglob("*")) == before, "nothing written"


# -- F24: the README's placeholder address ------------------------------------------------------------


def test_a_placeholder_ncbi_address_is_one_warning(tmp_path: Path, ncbi: FakeEutils, litwatch) -> None:  # noqa: ANN001
    baseline(ncbi, 3)
    cfg = scenario_config(tmp_path, ncbi)
    text = cfg.read_text().replace('email = "lab@haematology-unit.org"', 'email = "you@example.org"')
    cfg.write_text(text)
    for command in ("check", "run"):
        r = litwatch(command, "--config", str(cfg))
        assert r.code == 0, r.err
        warnings = [line for line in r.err.splitlines() if "[ncbi] email" in line]
        assert len(warnings) == 1 and "you@example.org" in warnings[0] and "WARNING" in warnings[0], r.err
    for address in ("lab@lab.test", "me@mail.invalid", "x@example.com", "y@sub.example.net"):
        cfg.write_text(text.replace("you@example.org", address))
        assert "[ncbi] email" in litwatch("check", "--config", str(cfg)).err, address
    cfg.write_text(text.replace("you@example.org", "lab@haematology-unit.org"))
    assert "[ncbi] email" not in litwatch("check", "--config", str(cfg)).err


# -- F25: what was silently accepted ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("old", "new", "key"),
    [
        ('query = "zanubrutinib[tiab] AND ITP[tiab]"', 'query = "   "', "watch[0].query"),
        ('[digest]\n', '[digest]\ntemplates = "no-such-folder"\n', "digest.templates"),
        ('[tracked]', '[[watch]]\nname = "btk  INHIBITORS in itp"\nquery = "x"\n\n[tracked]', "watch[1].name"),
    ],
    ids=["blank query", "missing templates folder", "names differing in case and spaces"],
)
def test_silently_accepted_config_values_are_refused(tmp_path: Path, litwatch, old: str, new: str, key: str) -> None:  # noqa: ANN001
    cfg = write(tmp_path, CONFIG.replace(old, new, 1))
    r = litwatch("check", "--config", str(cfg))
    assert r.code == 2
    assert f": {key}: " in one_line(r.err)


def test_silently_accepted_command_lines_are_refused(tmp_path: Path, litwatch) -> None:  # noqa: ANN001
    cfg = write(tmp_path)
    done = run_subprocess("serve", "--grace", "-5", "--config", str(cfg))
    assert done.returncode == 2 and "--grace" in one_line(done.stderr)
    for args in (
        ("send-test", "--to", "notanemail", "--config", str(cfg)),
        ("init", str(tmp_path / "new"), "--email", "lab@haematology-unit.org", "--smtp-username", "lab"),
    ):
        r = litwatch(*args)
        assert r.code == 2, args
        one_line(r.err)
    assert not (tmp_path / "new").exists()


def test_interactive_init_checks_each_answer_as_it_is_typed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, litwatch) -> None:  # noqa: ANN001
    from tests.test_init import Terminal

    answers = "\n".join([
        "me@haematology-unit.org", "", "", "smtp.haematology-unit.org", "starttls",
        "99999",  # not a port: asked again, nothing lost
        "2525", "me", "",
    ]) + "\n"
    monkeypatch.setattr(sys, "stdin", Terminal(answers))
    r = litwatch("init", str(tmp_path))
    assert r.code == 0, r.err
    assert "a port number, 1 to 65535" in r.err
    config = load_config(tmp_path / "litwatch.toml")
    assert config.smtp is not None and config.smtp.port == 2525 and config.smtp.username == "me"
    assert config.ncbi.email == "me@haematology-unit.org"


def test_duplicate_tracked_pmids_are_merged_with_a_warning(tmp_path: Path, litwatch) -> None:  # noqa: ANN001
    cfg = write(tmp_path, CONFIG.replace('pmids = ["39973148"]', 'pmids = ["39973148", "39973148"]'))
    assert load_config(cfg).tracked.pmids == ["39973148"]
    r = litwatch("status", "--config", str(cfg))
    assert r.code == 0
    assert [line for line in r.err.splitlines() if "39973148" in line and "merged" in line]


# -- F26, F27, F28 ------------------------------------------------------------------------------------


def test_config_before_or_after_the_command(tmp_path: Path, litwatch) -> None:  # noqa: ANN001
    cfg = write(tmp_path)
    before = litwatch("--config", str(cfg), "status")
    after = litwatch("status", "--config", str(cfg))
    assert before.code == after.code == 0, before.err
    assert before.out == after.out
    assert litwatch("-c", str(cfg), "-q", "track", "list").code == 0


def test_a_config_with_a_byte_order_mark_is_read(tmp_path: Path, litwatch) -> None:  # noqa: ANN001
    cfg = tmp_path / "litwatch.toml"
    cfg.write_bytes(b"\xef\xbb\xbf" + CONFIG.encode())
    cfg.chmod(0o600)
    assert load_config(cfg).ncbi.email == "lab@haematology-unit.org"
    assert litwatch("status", "--config", str(cfg)).code == 0


def test_offline_names_the_host_it_cannot_resolve(monkeypatch: pytest.MonkeyPatch) -> None:
    from litwatch.watchers.entrez import EntrezClient, EntrezError, Pacer

    def offline(host, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", offline)  # what getaddrinfo says with no network
    client = EntrezClient(email="lab@haematology-unit.org", retries=0, pacer=Pacer())
    with pytest.raises(EntrezError) as caught:
        client.esearch("zanubrutinib")
    assert "cannot resolve the host name eutils.ncbi.nlm.nih.gov" in str(caught.value)


# -- F29: wording -------------------------------------------------------------------------------------


def _text_and_html(entries: int, max_items: int) -> tuple[str, str]:
    from datetime import datetime

    from litwatch.notifications.model import Digest, Entry
    from litwatch.notifications.render import render_digest
    from tests.test_render import bulk_article

    digest = Digest(
        recipient="lab@haematology-unit.org",
        created=datetime(2026, 11, 30, 8, 0, tzinfo=UTC),
        entries=tuple(Entry(bulk_article(i), watches=("BTK",)) for i in range(entries)),
    )
    msg = render_digest(digest, sender="litwatch@haematology-unit.org", message_id="<1@haematology-unit.org>", max_items=max_items)
    return msg.get_body(("plain",)).get_content(), msg.get_body(("html",)).get_content()


def test_counts_read_right_in_the_singular_and_for_two(ncbi: FakeEutils) -> None:
    from litwatch.notifications.model import PaperRef
    from litwatch.watchers.entrez import EntrezClient, EntrezError, Pacer

    text, html = _text_and_html(2, 1)
    flat = " ".join(text.split())
    assert "The first is listed here." in flat and "first 1 are" not in flat
    assert "Attached, with both articles" in flat and "with all 2" not in flat + html and "with both articles" in html
    text, html = _text_and_html(1, 50)
    assert "Attached, with the article" in " ".join(text.split()) and "with all 1" not in text + html
    assert not [line for line in text.splitlines() if line.strip() == "DOI:"], "no lone DOI: line"
    assert PaperRef("1", "Rilzabrutinib in immune thrombocytopenia.", "Kuter DJ", 2022).label() == (
        "Kuter DJ 2022, \u201cRilzabrutinib in immune thrombocytopenia\u201d, PMID 1"
    )
    ncbi.fail_next("500", count=5)
    client = EntrezClient(email="lab@haematology-unit.org", base_url=ncbi.base_url, retries=0, pacer=Pacer())
    with pytest.raises(EntrezError, match=r"gave up after 1 attempt\)"):
        client.esearch("zanubrutinib")


def test_run_preview_and_alert_wording_for_one(tmp_path: Path, ncbi: FakeEutils, smtp, litwatch) -> None:  # noqa: ANN001
    from tests.conftest import Q_BTK, add_itp_article

    base = baseline(ncbi, 3)
    cfg = scenario_config(tmp_path, ncbi, smtp=smtp)
    assert litwatch("run", "--config", str(cfg)).code == 0
    add_itp_article(ncbi, "41100001", days_ago=0)
    ncbi.add_search(Q_BTK, base + ["41100001"])
    smtp.stop()  # the article stays queued
    r = litwatch("run", "--config", str(cfg), "-v")
    smtp.start()
    assert r.code == 1
    assert "fetching 1 record" in r.err and "1 records" not in r.err
    r = litwatch("preview", "--out", str(tmp_path / "p.html"), "--config", str(cfg))
    assert r.code == 0 and r.out.startswith("1 article, 0 notices: written to"), r.out
    r = litwatch("send-test", "--config", str(cfg))
    assert r.code == 0 and "sample articles; not recorded" in r.out, r.out + r.err
    from litwatch.jobs.run.alerts import find_problems
    from litwatch.watchers.store import open_store

    with open_store(path=tmp_path / "other.db") as store:
        run_id = store.runs.start()
        store.runs.finish(run_id, "failed", error="x")
        problems, _ = find_problems(store, 1, __import__("datetime").datetime.now(__import__("datetime").UTC))
    assert [p.headline for p in problems] == ["the last run failed"]


def test_status_shows_a_run_whose_process_is_gone_as_abandoned(tmp_path: Path, litwatch) -> None:  # noqa: ANN001
    from litwatch.watchers.store import open_store

    cfg = write(tmp_path)
    with open_store(path=tmp_path / "litwatch.db") as store:
        store.runs.start()  # left "running": its process was killed
    r = litwatch("status", "--config", str(cfg))
    assert "abandoned" in r.out and "running" not in r.out, r.out
    with run_lock(store_path=tmp_path / "litwatch.db"):  # while a run really holds the lock: running
        r = litwatch("status", "--config", str(cfg))
    assert " running " in r.out, r.out
