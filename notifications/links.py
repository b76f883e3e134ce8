"""Signed links of the web companion: what a digest's "relevant", "not relevant", "track this
paper", "unsubscribe" and "your page" links carry, and how the web app reads them back.

A token is `itsdangerous`-signed (HMAC-SHA1 over a key derived from the secret and a salt of its
own) and holds (reader, action, PMID, expiry).  The reader is not named by address: `reader_id` is
an HMAC of the lower-cased address, so a link shows no e-mail address to a proxy's log, and no one
can make the link of another reader without the secret.  Rotating the secret revokes every link.

Actions: `up` and `down` (rate a paper), `track` (track a paper): one-time, the web app records each
used token; `unsubscribe` (also the List-Unsubscribe header's link) and `home` (the reader's pages):
usable until they expire.

Pure apart from the clock: no I/O, no configuration; `render_digest` takes a `DigestLinks`.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable
from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeSerializer

__all__ = [
    "ACTIONS",
    "ONE_TIME",
    "BadLink",
    "Claim",
    "DigestLinks",
    "ItemLinks",
    "LinkSigner",
]

ACTIONS = ("up", "down", "track", "unsubscribe", "home")
ONE_TIME = frozenset({"up", "down", "track"})
_SALT = "litwatch-web-link-v1"
_DAY = 86400


class BadLink(Exception):
    """A token that cannot be used: `kind` is "forged" (bad signature or not ours: also every link
    signed with a secret since rotated), "malformed" or "expired"."""

    def __init__(self, kind: str, message: str, claim: Claim | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.claim = claim


@dataclass(frozen=True, slots=True)
class Claim:
    """What a verified token says."""

    reader: str  # reader_id(address)
    action: str  # one of ACTIONS
    pmid: str  # "" for unsubscribe and home
    expires: int  # Unix time

    @property
    def one_time(self) -> bool:
        return self.action in ONE_TIME


@dataclass(frozen=True, slots=True)
class ItemLinks:
    relevant: str
    not_relevant: str
    track: str


@dataclass(frozen=True, slots=True)
class DigestLinks:
    """The links of one reader's digest."""

    signer: LinkSigner
    recipient: str
    home: str
    unsubscribe: str | None  # None: the config does not let this reader unsubscribe (a shared address)

    def item(self, pmid: str) -> ItemLinks:
        return ItemLinks(
            relevant=self.signer.url(self.recipient, "up", pmid),
            not_relevant=self.signer.url(self.recipient, "down", pmid),
            track=self.signer.url(self.recipient, "track", pmid),
        )


class LinkSigner:
    """Makes and reads the signed links under `base_url` (which ends with "/")."""

    def __init__(
        self, secret: str, base_url: str, *, days: int = 90, clock: Callable[[], float] = time.time
    ) -> None:
        if not base_url.endswith("/"):
            base_url += "/"
        self.base_url = base_url
        self.days = days
        self._clock = clock
        self._serializer = URLSafeSerializer(secret, salt=_SALT)
        self._reader_key = hmac.new(secret.encode("utf-8"), b"litwatch-reader-id", hashlib.sha256).digest()

    def reader_id(self, address: str) -> str:
        """A stable, unguessable name of a reader (20 hex digits) for this secret."""
        mac = hmac.new(self._reader_key, address.strip().lower().encode("utf-8"), hashlib.sha256)
        return mac.hexdigest()[:20]

    def token(self, address: str, action: str, pmid: str = "", *, days: int | None = None) -> str:
        if action not in ACTIONS:
            raise ValueError(f"unknown link action {action!r}")
        expires = int(self._clock()) + _DAY * (self.days if days is None else days)
        return str(self._serializer.dumps([self.reader_id(address), action, pmid, expires]))

    def url(self, address: str, action: str, pmid: str = "") -> str:
        if action == "home":
            return f"{self.base_url}r/{self.token(address, action)}/"
        return f"{self.base_url}a/{self.token(address, action, pmid)}"

    def read(self, token: str, *, check_expiry: bool = True) -> Claim:
        """The claim of a token; `BadLink` when it is forged, malformed or expired."""
        if not token or len(token) > 1000 or "." not in token:
            raise BadLink("malformed", "this link is incomplete or damaged")
        try:
            payload = self._serializer.loads(token)
        except BadSignature:
            raise BadLink("forged", "this link was not made by this litwatch, or is no longer valid") from None
        if (
            not isinstance(payload, list)
            or len(payload) != 4
            or not all(isinstance(p, str) for p in payload[:3])
            or not isinstance(payload[3], int)
            or payload[1] not in ACTIONS
        ):
            raise BadLink("malformed", "this link is incomplete or damaged")
        claim = Claim(reader=payload[0], action=payload[1], pmid=payload[2], expires=payload[3])
        if check_expiry and claim.expires < self._clock():
            raise BadLink("expired", "this link has expired", claim)
        return claim

    @staticmethod
    def token_id(token: str) -> str:
        """A digest of a token (what the app records of a one-time token it has used)."""
        return hashlib.sha256(token.encode("utf-8")).hexdigest()

    def digest_links(self, address: str, *, unsubscribe: bool = True) -> DigestLinks:
        return DigestLinks(
            signer=self,
            recipient=address,
            home=self.url(address, "home"),
            unsubscribe=self.url(address, "unsubscribe") if unsubscribe else None,
        )
