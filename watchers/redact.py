"""The one redactor of secrets: what may be logged, shown or stored is passed through here.

Secrets litwatch holds: the NCBI API key (in request URLs), the PostgreSQL password (in the store
URL), and chat URLs (whose tokens are the secret).  `redact` makes a text one line and replaces
every spelling of each secret (as given, URL-quoted, percent-decoded) with `***`; a URL whose
host may be shown is first written as `redact_url` shows it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import quote, quote_plus, unquote, urlsplit

MASK = "***"


def one_line(text: object) -> str:
    return " ".join(str(text).split())


def _spellings(secrets: Iterable[str]) -> list[str]:
    found: set[str] = set()
    for secret in secrets:
        if secret:
            found |= {secret, quote_plus(secret), quote(secret, safe=""), unquote(secret)}
    return sorted((s for s in found if s), key=len, reverse=True)  # longest first: no partial leftovers


def redact(text: object, secrets: Iterable[str] = (), *, urls: Iterable[str] = ()) -> str:
    """`text` as one line, each of `urls` shown as `redact_url` shows it and every spelling of
    every secret replaced by `***`."""
    line = one_line(text)
    for url in urls:
        if url:
            line = line.replace(url, redact_url(url))
    for secret in _spellings(secrets):
        line = line.replace(secret, MASK)
    return line


def redact_url(url: str) -> str:
    """The URL with any password (`user:PASSWORD@`, `?password=`) replaced by `***`."""
    # up to the last `@` of the authority: a password with an unencoded `@` is hidden whole
    out = re.sub(r"^([a-z][a-z0-9+.-]*://[^/?#@:]*):[^/?#]*@", r"\1:***@", url, flags=re.IGNORECASE)
    return re.sub(r"([?&]password=)[^&#]*", r"\1***", out, flags=re.IGNORECASE)


def url_password(url: str) -> list[str]:
    """The password spellings found in a database URL (`user:PASSWORD@`, `?password=`)."""
    found: list[str] = []
    try:
        raw = urlsplit(url).netloc.rpartition("@")[0]
    except ValueError:
        raw = ""
    if ":" in raw:
        found.append(raw.split(":", 1)[1])
    found += re.findall(r"[?&]password=([^&#]*)", url, flags=re.IGNORECASE)
    return [s for s in found if s]


def url_parts(url: str, min_length: int = 4) -> list[str]:
    """A URL that is a secret as a whole (a chat webhook): it and each part that could hold a
    token (user, password, path segments, query values, fragment) of at least `min_length`."""
    parts = {url}
    try:
        split = urlsplit(url)
        parts |= {split.username or "", split.password or "", split.query, split.fragment}
        parts |= set(split.path.split("/")) | set(re.split(r"[&=]", split.query))
    except ValueError:
        pass
    return [p for p in parts if len(p) >= min_length]
