"""The configuration file (TOML), validated strictly when loaded.

Unknown keys, wrong types, missing required keys, malformed addresses and PMIDs, duplicate watch
names: each is a `ConfigError` whose message is one line naming the file, the key and the problem.
Paths are resolved relative to the folder of the config file.  Nothing here is global: the loaded
`Config` is passed to whatever needs it.
"""

from __future__ import annotations

import logging
import os
import re
import tomllib
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.triggers.cron import CronTrigger
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    model_validator,
)

from litwatch.notifications.delivery import is_loopback
from litwatch.watchers.errors import ConfigError

DEFAULT_CONFIG = "litwatch.toml"
CONFIG_ENV = "LITWATCH_CONFIG"
API_KEY_ENV = "LITWATCH_NCBI_API_KEY"
WEB_SECRET_ENV = "LITWATCH_WEB_SECRET"
WEB_ADMIN_PASSWORD_ENV = "LITWATCH_WEB_ADMIN_PASSWORD"
WEB_SECRET_MIN = 32  # characters of the signing secret (e.g. `openssl rand -base64 48`)
DEFAULT_BASE_URL = "https://eutils.ncbi.nlm.nih.gov/entrez/eutils/"
DEFAULT_ICITE_URL = "https://icite.od.nih.gov/api/"
DEFAULT_EUROPEPMC_URL = "https://www.ebi.ac.uk/europepmc/webservices/rest/"
DEFAULT_OPENALEX_URL = "https://api.openalex.org/"
OPENALEX_KEY_ENV = "LITWATCH_OPENALEX_KEY"

_EMAIL = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+")
_PMID = re.compile(r"[1-9][0-9]{0,9}")
# Validators match the whole value (`fullmatch`): `$` also matches before a final newline, and
# "lab@example.org\n" in a To: header pushes every later header into the body.
_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")




def _authority(url: str) -> str:
    """`user:password@host:port` of a URL (up to the first `/`, `?` or `#` after the scheme)."""
    rest = url.split("://", 1)[1] if "://" in url else url
    return re.split(r"[/?#]", rest, maxsplit=1)[0]


def store_url_problem(url: str) -> str | None:
    """What is wrong with a PostgreSQL store URL (`[store] url`, `migrate-store --to`), never
    quoting it (it may hold a password); None when it will do."""
    if not url.startswith(("postgresql://", "postgres://")):
        return "must start with postgresql:// (a SQLite store is given as a file path)"
    if _authority(url).count("@") > 1:
        return "the user name or password holds an unencoded '@' (write it as %40)"
    if not re.fullmatch(r"[^\s]+", url):
        return "holds white space"
    return None


#: Domains that can never be a real mailbox (RFC 2606, RFC 6761): an address there is a placeholder.
EXAMPLE_DOMAINS = ("example.org", "example.com", "example.net")
RESERVED_TLDS = ("test", "example", "invalid", "localhost")


def is_placeholder_address(address: str) -> bool:
    """Whether an e-mail address is at an example or reserved domain (the README's
    "you@example.org"): nobody reads it."""
    domain = address.rpartition("@")[2].rstrip(".").lower()
    return (
        any(domain == d or domain.endswith("." + d) for d in EXAMPLE_DOMAINS)
        or domain.rpartition(".")[2] in RESERVED_TLDS
    )


def placeholder_warning(config: Config) -> str | None:
    """One line for `check` and `run` when `[ncbi] email` is a placeholder (a warning, not a
    refusal: the README's first command still runs on a fresh machine)."""
    email = config.ncbi.email
    if not is_placeholder_address(email):
        return None
    return (
        f"{config.source}: [ncbi] email = {email!r} is an example address; NCBI asks for a real contact "
        "address (it writes there before blocking a client): put yours in the config"
    )


def warn_if_placeholder(config: Config) -> None:
    """Log `placeholder_warning`, if any (`check` and every run)."""
    if warning := placeholder_warning(config):
        logging.getLogger("litwatch").warning("%s", warning)


def url_has_password(url: str) -> bool:
    """Whether a URL carries a password (`user:PASSWORD@`, `?password=`)."""
    user = _authority(url).rpartition("@")[0]
    return ":" in user or re.search(r"[?&]password=", url, re.IGNORECASE) is not None


def _email(value: str) -> str:
    if not _EMAIL.fullmatch(value):
        raise ValueError(f"not an e-mail address: {value!r}")
    return value


def _pmid(value: str) -> str:
    if not _PMID.fullmatch(value):
        raise ValueError(f"not a PMID (a positive whole number, as a string): {value!r}")
    return value


def _url(value: str) -> str:
    if not re.fullmatch(r"https?://[^\s/?#]+(?:[/?#]\S*)?", value):
        raise ValueError(f"not an http(s) URL: {value!r}")
    return value if value.endswith("/") else value + "/"


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("is only white space")
    return value


def _same_name(name: str) -> str:
    """How names are compared: case and runs of white space do not tell two watches apart."""
    return " ".join(name.split()).casefold()


def _unique_pmids(values: list[str]) -> list[str]:
    """Tracked PMIDs listed twice: merged, with a warning (not an error: nothing is ambiguous)."""
    seen: dict[str, None] = {}
    for value in values:
        if value in seen:
            logging.getLogger("litwatch").warning("[tracked] pmids: PMID %s is listed more than once; merged", value)
        seen[value] = None
    return list(seen)


Email = Annotated[str, AfterValidator(_email)]
Pmid = Annotated[str, AfterValidator(_pmid)]
Url = Annotated[str, AfterValidator(_url)]
NonEmpty = Annotated[str, Field(min_length=1), AfterValidator(_not_blank)]


class _Table(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class NcbiConfig(_Table):
    """`[ncbi]`: who we are to NCBI and where E-utilities live."""

    email: Email = Field(description="Your e-mail address; NCBI requires it on every request.")
    api_key: str | None = Field(
        default=None,
        description=f"NCBI API key (10 requests/s instead of 3); the environment variable {API_KEY_ENV} wins.",
    )
    base_url: Url = Field(default=DEFAULT_BASE_URL, description="E-utilities base URL.")
    timeout: float = Field(default=60.0, gt=0, description="Read timeout of one request, in seconds.")
    deadline: float = Field(
        default=300.0,
        gt=0,
        description="The longest one request may take, answer included, in seconds (then it is retried).",
    )
    retries: int = Field(default=5, ge=0, le=20, description="Retries of a failed request before the run fails.")

    @model_validator(mode="after")
    def _check_https(self) -> NcbiConfig:
        host = re.sub(r"^https?://(?:[^@/]*@)?(\[[^\]]*\]|[^:/]*).*$", r"\1", self.base_url).strip("[]")
        if self.base_url.startswith("http://") and not is_loopback(host):
            raise ValueError("base_url: plain http would send the API key and the queries in clear text; use https")
        return self


class StoreConfig(_Table):
    """`[store]`: where state lives."""

    path: str = Field(default="litwatch.db", description="SQLite database file (relative to the config file).")
    url: str | None = Field(default=None, description="postgresql://... URL; used instead of `path` when set.")
    busy_timeout: float = Field(
        default=30.0,
        gt=0,
        le=3600,
        description="SQLite: seconds to wait while another process writes to the database, then the run fails.",
    )

    @model_validator(mode="after")
    def _check_url(self) -> StoreConfig:
        if self.url is not None and (problem := store_url_problem(self.url)):
            raise ValueError(f"url: {problem}")
        return self


class WatchConfig(_Table):
    """`[[watch]]`: one PubMed search followed every run."""

    name: NonEmpty = Field(description="Name shown in the digest; unique.")
    query: NonEmpty = Field(description="PubMed query, in PubMed's own syntax.")
    backfill_days: int = Field(
        default=0, ge=0, description="On the first run, announce hits whose Entrez date is in the last N days."
    )
    window_days: int | None = Field(
        default=None,
        ge=30,
        description="Diff only hits with an Entrez date in the last N days (default: the whole result set).",
    )
    terms: list[NonEmpty] | None = Field(
        default=None, description="Key terms shown in bold in the digest (default: taken from the query)."
    )
    preprint_query: NonEmpty | None = Field(
        default=None,
        description="Also search preprints (Europe PMC's preprint index; Europe PMC query syntax, not PubMed's).",
    )


class TrackedConfig(_Table):
    """`[tracked]`: papers whose new citations and corrections are reported."""

    pmids: Annotated[list[Pmid], AfterValidator(_unique_pmids)] = Field(default_factory=list, description="Tracked PMIDs.")
    follow: Literal["listed", "announced"] = Field(
        default="listed", description='"announced": every article a digest announces becomes tracked.'
    )
    sources: list[Literal["pubmed", "icite", "europepmc", "openalex"]] = Field(
        default_factory=lambda: list[Literal["pubmed", "icite", "europepmc", "openalex"]](["pubmed"]),
        min_length=1,
        description="Where cited-by links come from.",
    )
    icite_url: Url = Field(default=DEFAULT_ICITE_URL, description="iCite API base URL.")
    europepmc_url: Url = Field(default=DEFAULT_EUROPEPMC_URL, description="Europe PMC REST API base URL.")
    openalex_url: Url = Field(default=DEFAULT_OPENALEX_URL, description="OpenAlex API base URL.")
    openalex_key_env: NonEmpty = Field(
        default=OPENALEX_KEY_ENV, description="Environment variable holding your OpenAlex API key (optional)."
    )
    openalex_key_file: str | None = Field(
        default=None, description="File holding your OpenAlex API key (first line); the environment variable wins."
    )
    backfill_days: int = Field(
        default=0, ge=0, description="On a paper's first lookup, announce citing papers entered in the last N days."
    )
    recheck_days: int = Field(
        default=1, ge=0, description="Re-check tracked papers for retractions and corrections every N days."
    )


class SentConfig(_Table):
    """`[sent]`: notices on articles already sent to a reader (whether tracked or not)."""

    notices: list[Literal["retraction", "concern", "erratum"]] = Field(
        default_factory=lambda: list[Literal["retraction", "concern", "erratum"]](["retraction", "concern"]),
        description="Notices reported to each reader who was sent the article ([] turns this off). "
        "At most 3 PubMed requests a day.",
    )
    overlap_days: int = Field(
        default=3, ge=0, le=60, description="Days the daily notice search reaches back before its last check."
    )


class RecipientConfig(_Table):
    """`[[recipient]]`: one person and what they receive."""

    email: Email
    watches: list[NonEmpty] | None = Field(default=None, description="Watch names (default: all).")
    frequency: Literal["daily", "weekly"] = "daily"
    weekday: Literal[_WEEKDAYS] = Field(default="monday", description="Day of the weekly digest.")  # type: ignore[valid-type]
    citations: bool = Field(default=True, description="Receive citation and retraction notices.")
    unsubscribe: bool = Field(
        default=True,
        description="With [web]: the reader may unsubscribe from the digest's link (false: a shared address, "
        "e.g. a mailing list, whose digests only the config stops; its digests carry no unsubscribe link).",
    )
    rank: bool = Field(
        default=True,
        description="List the articles by what matters to this reader, each with a line saying why "
        "(false: newest first, as before; see [ranking]).",
    )
    library: str | None = Field(
        default=None,
        description="The reader's library (relative to the config file): RIS, BibTeX, CSL-JSON or a list of "
        "PMIDs, e.g. a Zotero export; articles close to its papers rank higher.",
    )
    authors: list[NonEmpty] = Field(
        default_factory=list, description='Favourite authors ("Kuter DJ", or a family name): their articles rank higher.'
    )
    journals: list[NonEmpty] = Field(
        default_factory=list, description='Favourite journals ("Blood", full name or abbreviation): their articles rank higher.'
    )
    min_score: float | None = Field(
        default=None,
        description='Articles scoring below this go to the "ranked lower" list at the end (and the attachments).',
    )


class DigestConfig(_Table):
    """`[digest]`: what is sent, from whom, to whom."""

    recipients: list[Email] = Field(default_factory=list, description="Simple form: these get everything, daily.")
    sender: Email = Field(description="From address of the digest.")
    outbox: str = Field(default="digests", description="Folder for .eml/.html digests when there is no [smtp].")
    send_empty: bool = Field(default=False, description="Send a digest even when nothing is new.")
    max_items: int = Field(default=50, ge=1, le=1000, description="Articles listed in full; the rest are linked.")
    attach: list[Literal["ris", "csv"]] = Field(
        default_factory=lambda: list[Literal["ris", "csv"]](["ris"]),
        description="Attachments with the digest's articles (the first 1,000; `litwatch export` gives all).",
    )
    templates: str | None = Field(default=None, description="Folder of template overrides.")
    admin: Email | None = Field(default=None, description="Who is told when runs keep failing.")
    admin_after_failures: int = Field(
        default=3,
        ge=1,
        le=100,
        description="Tell `admin` after this many failed runs in a row (or digests failing for over a day); "
        "then at most once a day while it lasts.",
    )


class RankingConfig(_Table):
    """`[ranking]`: how each reader's digest is ordered: points per signal (README: Ranking)."""

    enabled: bool = Field(default=True, description="false: no digest is ranked (newest first, as before).")
    title: float = Field(default=3.0, description="A watch's term in the title.")
    abstract: float = Field(default=1.5, description="A watch's term in the abstract (not the title).")
    mesh: float = Field(default=0.5, description="A watch's term only in the MeSH terms or keywords.")
    design: float = Field(
        default=1.0, description="Times the study design's points (meta-analysis 3 ... letters -1, errata -2)."
    )
    similarity: float = Field(
        default=8.0, description="Times the similarity (0-1) to the closest tracked, rated-up or library paper."
    )
    dissimilarity: float = Field(default=8.0, description="Times the similarity to the closest paper rated down (subtracted).")
    author: float = Field(default=2.0, description="A favourite author wrote it.")
    journal: float = Field(default=1.0, description="It is in a favourite journal.")
    recency: float = Field(default=1.0, description="Times 0.5 ** (age in days / half_life_days).")
    half_life_days: float = Field(default=14.0, gt=0, description="Age at which the recency points halve.")
    model: float = Field(
        default=5.0, description="Times (2p - 1), p from the reader's own model of their ratings (up: 1, down: -1)."
    )
    model_min_ratings: int = Field(
        default=6, ge=4, description="Ratings (at least two up and two down) before the reader's own model is used."
    )


class SmtpConfig(_Table):
    """`[smtp]`: the mail server; without this table digests go to the outbox folder."""

    host: NonEmpty
    port: int | None = Field(default=None, ge=1, le=65535, description="Default: 25, 587 (starttls), 465 (tls).")
    security: Literal["none", "starttls", "tls"] = "starttls"
    username: str | None = None
    password_env: str | None = Field(default=None, description="Environment variable holding the password.")
    password_file: str | None = Field(default=None, description="File holding the password (first line).")
    timeout: float = Field(default=60.0, gt=0, description="Seconds to wait for the server.")
    ca_file: str | None = Field(default=None, description="CA certificates file to verify the server with.")

    @property
    def effective_port(self) -> int:
        return self.port or {"none": 25, "starttls": 587, "tls": 465}[self.security]

    @model_validator(mode="after")
    def _check_login(self) -> SmtpConfig:
        if (self.password_env or self.password_file) and not self.username:
            raise ValueError("username: required when a password is configured")
        if self.password_env and self.password_file:
            raise ValueError("password_env: give password_env or password_file, not both")
        if self.username and self.security == "none" and not is_loopback(self.host):
            raise ValueError("security: \"none\" would send the password in clear text; use \"starttls\" or \"tls\"")
        return self


class ScheduleConfig(_Table):
    """`[schedule]`: when `litwatch serve` runs."""

    cron: NonEmpty = Field(default="30 5 * * *", description="Crontab expression (minute hour day month weekday).")
    timezone: str | None = Field(default=None, description="IANA time zone (default: the machine's).")
    misfire_grace: int = Field(default=6 * 3600, ge=1, description="Seconds a missed run may still start late.")

    @model_validator(mode="after")
    def _check(self) -> ScheduleConfig:
        if self.timezone is not None:
            try:
                ZoneInfo(self.timezone)
            except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a folder, a name too long
                raise ValueError(f"timezone: unknown IANA time zone {self.timezone!r}") from None
        try:
            trigger = CronTrigger.from_crontab(self.cron, timezone="UTC")
        except ValueError as exc:
            raise ValueError(f"cron: not a crontab expression {self.cron!r} ({exc})") from None
        if trigger.get_next_fire_time(None, datetime.now(UTC)) is None:
            raise ValueError(f"cron: {self.cron!r} never fires (no such date)")
        return self


class FeedConfig(_Table):
    """`[feed]`: Atom feeds of what was announced (one per watch, one of citing papers), rewritten every run."""

    folder: NonEmpty = Field(
        description="Folder of the feeds (relative to the config file): WATCH-NAME.xml per watch, citations.xml."
    )
    entries: int = Field(default=100, ge=1, le=1000, description="Articles per feed, most recently announced first.")
    base_url: Url | None = Field(
        default=None, description="Public URL the folder is served at; gives each feed its rel=\"self\" link."
    )


class NotifyConfig(_Table):
    """`[[notify]]`: a chat message after the digests (an Apprise URL; needs `pip install 'litwatch[chat]'`)."""

    name: str | None = Field(
        default=None, description="Shown in logs and errors instead of the URL (default: notify[N])."
    )
    url: SecretStr | None = Field(
        default=None,
        description="Apprise URL: slack://..., msteams://..., matrixs://..., mmosts://..., jsons://host/path ... "
        "It holds a secret: prefer url_env.",
    )
    url_env: str | None = Field(default=None, description="Environment variable holding the URL.")

    @model_validator(mode="after")
    def _check_url(self) -> NotifyConfig:
        if (self.url is None) == (self.url_env is None):
            raise ValueError("url: give either url or url_env")
        if self.url is not None and "://" not in self.url.get_secret_value():
            raise ValueError("url: not an Apprise URL (SCHEMA://...)")
        return self


class WebConfig(_Table):
    """`[web]`: the web companion (one-click ratings, tracking, unsubscribe, archive); needs `pip install 'litwatch[web]'`."""

    listen: NonEmpty = Field(
        default="127.0.0.1:8080", description="HOST:PORT the app listens on (put a TLS reverse proxy in front)."
    )
    base_url: Url = Field(
        description="Public URL of the app, used in the digests' links: https://... (plain http only on loopback)."
    )
    secret_file: str | None = Field(
        default=None,
        description=f"File holding the signing secret (first line, at least {WEB_SECRET_MIN} characters); "
        f"the environment variable {WEB_SECRET_ENV} wins.  Changing it revokes every link sent.",
    )
    link_days: int = Field(default=90, ge=1, le=3650, description="Days the links in a digest stay valid.")
    ratings_per_minute: int = Field(default=30, ge=1, le=1000, description="Ratings a reader may make per minute.")

    @property
    def host_port(self) -> tuple[str, int]:
        host, _, port = self.listen.rpartition(":")
        return host.strip("[]"), int(port)

    @model_validator(mode="after")
    def _check(self) -> WebConfig:
        host, sep, port = self.listen.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"listen: not HOST:PORT {self.listen!r}")
        url_host = re.sub(r"^https?://(?:[^@/]*@)?(\[[^\]]*\]|[^:/]*).*$", r"\1", self.base_url).strip("[]")
        if self.base_url.startswith("http://") and not is_loopback(url_host):
            raise ValueError("base_url: the links carry signed tokens; use https (plain http only on loopback)")
        return self


class Config(_Table):
    ncbi: NcbiConfig
    store: StoreConfig = Field(default_factory=StoreConfig)
    watch: list[WatchConfig] = Field(default_factory=list)
    tracked: TrackedConfig = Field(default_factory=TrackedConfig)
    sent: SentConfig = Field(default_factory=SentConfig)
    digest: DigestConfig
    recipient: list[RecipientConfig] = Field(default_factory=list)
    smtp: SmtpConfig | None = None
    schedule: ScheduleConfig = Field(default_factory=ScheduleConfig)
    feed: FeedConfig | None = None
    notify: list[NotifyConfig] = Field(default_factory=list)
    web: WebConfig | None = None
    ranking: RankingConfig = Field(default_factory=RankingConfig)

    # Not from the file: where it was read from (paths are relative to its folder).
    source: Path = Field(default=Path("litwatch.toml"), exclude=True)

    @model_validator(mode="after")
    def _cross_checks(self) -> Config:
        names = [w.name for w in self.watch]
        same = [_same_name(n) for n in names]
        for i, name in enumerate(names):
            if same[i] in same[:i]:
                first = names[same.index(same[i])]
                also = "" if first == name else f" (the same as {first!r} but for case or spaces)"
                raise ValueError(f"watch[{i}].name: duplicate watch name {name!r}{also}")
        for i, r in enumerate(self.recipient):
            for w in r.watches or ():
                if w not in names:
                    raise ValueError(f"recipient[{i}].watches: no watch is named {w!r}")
        emails = [r.email.lower() for r in self.recipient] + [e.lower() for e in self.digest.recipients]
        for e in emails:
            if emails.count(e) > 1:
                raise ValueError(f"recipient: {e!r} is listed twice")
        if not emails:
            raise ValueError("digest.recipients: no recipients (give [digest] recipients or [[recipient]] tables)")
        if not self.watch and not self.tracked.pmids:
            raise ValueError("watch: nothing to do (no [[watch]] and no [tracked] pmids)")
        return self

    # -- derived values -------------------------------------------------------------------------

    @property
    def folder(self) -> Path:
        return self.source.parent

    def resolve(self, path: str) -> Path:
        p = Path(path).expanduser()
        return p if p.is_absolute() else self.folder / p

    @property
    def store_path(self) -> Path:
        return self.resolve(self.store.path)

    @property
    def outbox_path(self) -> Path:
        return self.resolve(self.digest.outbox)

    @property
    def feed_path(self) -> Path | None:
        return self.resolve(self.feed.folder) if self.feed else None

    @property
    def templates_path(self) -> Path | None:
        return self.resolve(self.digest.templates) if self.digest.templates else None

    def api_key(self) -> str | None:
        return os.environ.get(API_KEY_ENV) or self.ncbi.api_key

    def openalex_key(self) -> str | None:
        """The OpenAlex API key: its environment variable, else its file, else None (never the config)."""
        value = os.environ.get(self.tracked.openalex_key_env)
        if value:
            return value.strip()
        if self.tracked.openalex_key_file:
            path = self.resolve(self.tracked.openalex_key_file)
            try:
                return path.read_text(encoding="utf-8").splitlines()[0].strip() or None
            except (OSError, IndexError) as exc:
                raise ConfigError(f"{self.source}: tracked.openalex_key_file: cannot read {path}: {exc}") from None
        return None

    def recipients(self) -> list[RecipientConfig]:
        """Every recipient: the `[[recipient]]` tables, then the simple `[digest] recipients`."""
        return list(self.recipient) + [RecipientConfig(email=e) for e in self.digest.recipients]

    def watches_of(self, r: RecipientConfig) -> list[WatchConfig]:
        """The watches `r` follows (`[[recipient]] watches`, default all), in the config's order."""
        if r.watches is None:
            return list(self.watch)
        names = set(r.watches)
        return [w for w in self.watch if w.name in names]

    def smtp_password(self) -> str | None:
        if self.smtp is None:
            return None
        if self.smtp.password_env:
            value = os.environ.get(self.smtp.password_env)
            if value is None:
                raise ConfigError(
                    f"{self.source}: smtp.password_env: environment variable {self.smtp.password_env} is not set"
                )
            return value
        if self.smtp.password_file:
            path = self.resolve(self.smtp.password_file)
            try:
                return path.read_text(encoding="utf-8").splitlines()[0].strip()
            except (OSError, IndexError) as exc:
                raise ConfigError(f"{self.source}: smtp.password_file: cannot read {path}: {exc}") from None
        return None

    def web_secret(self) -> str:
        """The signing secret of the web links: $LITWATCH_WEB_SECRET, else `[web] secret_file`.

        Raises `ConfigError` (one line, never the secret) when it is missing or short."""
        if self.web is None:
            raise ConfigError(f"{self.source}: web: no [web] table")
        value = os.environ.get(WEB_SECRET_ENV)
        where = f"environment variable {WEB_SECRET_ENV}"
        if not value and self.web.secret_file:
            path = self.resolve(self.web.secret_file)
            where = f"web.secret_file {path}"
            try:
                value = path.read_text(encoding="utf-8").splitlines()[0].strip()
            except (OSError, IndexError, UnicodeDecodeError) as exc:
                why = "it is empty" if isinstance(exc, IndexError) else getattr(exc, "strerror", None) or type(exc).__name__
                raise ConfigError(f"{self.source}: web.secret_file: cannot read {path}: {why}") from None
        if not value:
            raise ConfigError(
                f"{self.source}: web: no signing secret: set {WEB_SECRET_ENV} or [web] secret_file "
                f"(at least {WEB_SECRET_MIN} characters, e.g. from `openssl rand -base64 48`)"
            )
        if len(value) < WEB_SECRET_MIN:
            raise ConfigError(
                f"{self.source}: web: the signing secret in {where} is too short "
                f"({len(value)} characters; at least {WEB_SECRET_MIN})"
            )
        return value

    def web_admin_password(self) -> str | None:
        """The admin page's password ($LITWATCH_WEB_ADMIN_PASSWORD); None: no admin page."""
        return os.environ.get(WEB_ADMIN_PASSWORD_ENV) or None


def config_path(cli_value: str | None) -> Path:
    """The config file: `--config`, else `$LITWATCH_CONFIG`, else `./litwatch.toml`."""
    return Path(cli_value or os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG)


def _loc(loc: tuple[object, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif isinstance(part, str) and part.startswith(("function-", "literal[", "union[", "nullable[")):
            continue
        else:
            out += ("." if out else "") + str(part)
    return out


def _problem(err: Mapping[str, Any]) -> str:
    kind = err.get("type", "")
    msg = str(err.get("msg", ""))
    if kind == "extra_forbidden":
        return "unknown key"
    if kind == "missing":
        return "required key is missing"
    msg = msg.removeprefix("Value error, ")
    if "input" in err and kind not in ("value_error",):
        value = err["input"]
        if not isinstance(value, dict | list):
            return f"{msg} (got {value!r})"
    return msg


_KEY_PREFIX = re.compile(r"([A-Za-z_][A-Za-z0-9_]*(?:\[\d+\])?(?:\.[A-Za-z_][A-Za-z0-9_]*(?:\[\d+\])?)*): ")


def parse_config(data: dict, source: Path) -> Config:
    try:
        return Config.model_validate({**data, "source": source})
    except ValidationError as exc:
        err = exc.errors()[0]
        where = _loc(err["loc"])
        problem = _problem(err)
        if err.get("type") == "value_error" and (key := _KEY_PREFIX.match(problem)):
            # a table's own check names its key: "smtp" + "security: ..." -> "smtp.security: ..."
            where = f"{where}.{key[1]}" if where else key[1]
            problem = problem[key.end() :]
        raise ConfigError(f"{source}: {where or '(top level)'}: {problem}") from None


def load_config(path: Path) -> Config:
    """Read and validate a config file; raise `ConfigError` with one line on any problem."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file (give --config FILE or set {CONFIG_ENV})") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        data = tomllib.loads(raw.decode("utf-8-sig"))  # a byte-order mark (Notepad's UTF-8) is read past
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    if "source" in data:
        raise ConfigError(f"{path}: source: unknown key")
    config = parse_config(data, path.resolve())
    templates = config.templates_path
    if templates is not None and not templates.is_dir():
        what = "is not a folder" if templates.exists() else "does not exist"
        raise ConfigError(f"{config.source}: digest.templates: {templates} {what}")
    return config
