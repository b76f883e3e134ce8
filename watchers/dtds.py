"""NCBI DTDs the installed Biopython does not bundle: fetched once into a cache, or stood in for.

NCBI publishes a new PubMed DTD about once a year, and efetch names it in every answer's DOCTYPE
(``https://dtd.nlm.nih.gov/ncbi/pubmed/out/pubmed_YYMMDD.dtd``) before Biopython ships it.  The
parser (watchers.ncbi_xml) never goes to the network; this module, run by the E-utilities client
in the main process before an answer is parsed, makes the named DTD readable:

1. bundled with Biopython, or already in the cache: nothing to do;
2. else fetched from the DTD's own NCBI host over https (hosts under nlm.nih.gov only, no
   redirects, at most `MAX_DTD_BYTES`, `FETCH_TIMEOUT` seconds a read and `FETCH_DEADLINE` in all)
   into the cache folder beside the store, with the DTD modules it names (same folder, same host);
3. else the parser reads the answer with the newest bundled DTD of the same family
   (pubmed_250101.dtd for pubmed_270101.dtd; unknown elements are then skipped, not refused), and
   one warning per DTD says so.

Tests only: the environment variable `TEST_BASE_URL_ENV` (``LITWATCH_TEST_DTD_BASE_URL``) sends
every DTD request to that origin instead (the DTD's path kept), so that a loopback fake can stand
in for NCBI's DTD host.  It accepts https, or http to a loopback address only; it is not a
setting and nothing else reads it.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import posixpath
import re
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlparse

import requests
import urllib3

from litwatch.watchers import ncbi_xml

__all__ = ["FETCH_DEADLINE", "FETCH_TIMEOUT", "MAX_DTD_BYTES", "TEST_BASE_URL_ENV", "DtdCache", "doctype_system_id"]

log = logging.getLogger(__name__)

MAX_DTD_BYTES = 2_000_000  # the PubMed DTD is about 50 KB; its MathML modules less
FETCH_TIMEOUT = 10.0  # seconds, connect and each read
FETCH_DEADLINE = 30.0  # seconds for one DTD in all (a host that drips bytes is given up on)
MAX_MODULES = 20  # DTD modules fetched along with one DTD, at most
TEST_BASE_URL_ENV = "LITWATCH_TEST_DTD_BASE_URL"

_DOCTYPE_RE = re.compile(
    rb"<!DOCTYPE\s+[\w.:-]+\s+(?:PUBLIC\s+(?:\"[^\"]*\"|'[^']*')|SYSTEM)\s+(?:\"([^\"]*)\"|'([^']*)')"
)
_MODULE_RE = re.compile(r"<!ENTITY\s+%\s+[\w.:-]+\s+(?:PUBLIC\s+(?:\"[^\"]*\"|'[^']*')\s*|SYSTEM\s+)(?:\"([^\"]*)\"|'([^']*)')")
_warned: set[str] = set()
_warned_lock = threading.Lock()


class _FetchError(Exception):
    """A DTD could not be fetched (the reason, one line)."""


def doctype_system_id(body: bytes) -> str:
    """The system identifier of the answer's DOCTYPE ('' when it has none)."""
    match = _DOCTYPE_RE.search(body[:4096])
    if not match:
        return ""
    return (match.group(1) or match.group(2) or b"").decode("ascii", "replace")


def _test_base_url() -> str:
    value = os.environ.get(TEST_BASE_URL_ENV, "").strip()
    if not value:
        return ""
    parts = urlparse(value)
    if parts.scheme == "https":
        return value.rstrip("/")
    try:
        loopback = ipaddress.ip_address(parts.hostname or "").is_loopback
    except ValueError:
        loopback = parts.hostname == "localhost"
    return value.rstrip("/") if parts.scheme == "http" and loopback else ""


class DtdCache:
    """The DTD cache folder and the fetching into it (see the module docstring)."""

    def __init__(self, folder: Path | None, session: requests.Session | None = None) -> None:
        self.folder = Path(folder) if folder is not None else None
        self._session = session or requests.Session()
        self._ready: set[str] = set()  # DTD names this process can read (or has given up on)
        self._lock = threading.Lock()

    def prepare(self, body: bytes) -> None:
        """Make the DTD that `body` names readable by the parser; never raises for a DTD problem."""
        system_id = doctype_system_id(body)
        if not system_id:
            return
        name = posixpath.basename(urlparse(system_id).path)
        if name in self._ready:
            return
        with self._lock:
            if name in self._ready:
                return
            try:
                self._prepare(system_id, name)
            except (_FetchError, OSError) as exc:
                _warn_fallback(name, str(exc))
            self._ready.add(name)

    def _prepare(self, system_id: str, name: str) -> None:
        if not ncbi_xml.usable_file_name(name):
            return  # the parser refuses it: nothing to fetch, nothing to write
        if ncbi_xml.dtd_available(name, (str(self.folder),) if self.folder else ()):
            return
        if self.folder is None:
            raise _FetchError("no DTD cache folder")
        parts = urlparse(system_id)
        if not parts.scheme:
            raise _FetchError("the DOCTYPE names no host")
        if not ncbi_xml.is_ncbi_host(parts.hostname or ""):
            return  # the parser refuses it: nothing to fetch
        text = self._fetch(parts.hostname or "", parts.path)
        found: list[tuple[str, bytes]] = [(name, text)]
        directory = posixpath.dirname(parts.path)
        for module in _modules(text)[:MAX_MODULES]:  # plain file names only (_modules checks)
            if not ncbi_xml.dtd_available(module, (str(self.folder),)):  # noqa: SIM102
                found.append((module, self._fetch(parts.hostname or "", f"{directory}/{module}")))
        self.folder.mkdir(parents=True, exist_ok=True)
        for file_name, data in reversed(found):  # modules first: the DTD appears only when whole
            _write_atomically(self.folder / file_name, data)
        log.info("fetched the NCBI DTD %s into %s", name, self.folder)

    def _fetch(self, host: str, path: str) -> bytes:
        base = _test_base_url() or f"https://{host}"
        url = base + path
        started = time.monotonic()
        try:
            with self._session.get(url, timeout=FETCH_TIMEOUT, allow_redirects=False, stream=True) as resp:
                if resp.status_code != 200:
                    raise _FetchError(f"{url}: HTTP {resp.status_code}")
                data = bytearray()
                while True:
                    # read1: whatever has arrived (a bare read waits to fill its size, and a host
                    # that drips a byte at a time would never let the deadline be checked)
                    chunk = resp.raw.read1(65536, decode_content=True)
                    if not chunk:
                        break
                    data += chunk
                    if len(data) > MAX_DTD_BYTES:
                        raise _FetchError(f"{url}: larger than {MAX_DTD_BYTES} bytes")
                    if time.monotonic() - started > FETCH_DEADLINE:
                        raise _FetchError(f"{url}: no whole answer within {FETCH_DEADLINE:.0f} s")
        except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
            raise _FetchError(f"{url}: {type(exc).__name__}") from None
        if b"<!ELEMENT" not in data and b"<!ENTITY" not in data or b"<!DOCTYPE" in data[:1000] or b"<html" in data[:1000].lower():
            raise _FetchError(f"{url}: not a DTD")
        return bytes(data)


def _modules(text: bytes) -> list[str]:
    """The DTD modules (external parameter entities) that a DTD names by a plain relative file name."""
    names: list[str] = []
    for match in _MODULE_RE.finditer(text.decode("utf-8", "replace")):
        name = match.group(1) or match.group(2) or ""
        if ncbi_xml.usable_file_name(name) and name not in names:
            names.append(name)
    return names


def _write_atomically(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".dtd-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _warn_fallback(name: str, why: str) -> None:
    """One warning per DTD and process: the answer is read with the newest bundled DTD of its family."""
    with _warned_lock:
        if name in _warned:
            return
        _warned.add(name)
    stand_in = ncbi_xml.stand_in_dtd(name)
    if stand_in:
        log.warning(
            "NCBI's answers use the DTD %s, which Biopython does not bundle and which could not be fetched (%s); "
            "reading them with %s instead (elements it does not know are skipped): upgrade Biopython",
            name, why, stand_in,
        )
    else:
        log.warning("NCBI's answers use the DTD %s, which Biopython does not bundle and which could not be fetched (%s)", name, why)
