"""The configuration file (TOML), validated strictly when loaded.

Unknown keys, wrong types, missing required keys, malformed addresses and PMIDs, duplicate watch
names: each is a `ConfigError` whose message is one line naming the file, the key and the problem.
Paths are resolved relative to the folder of the config file.  Nothing here is global: the loaded
`Config` is passed to whatever needs it.
"""

from __future__ import annotations

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
DEFAULT_BASE_URL = "https://eutils.ncbi.nlm.nih.gov/entrez/eutils/"
DEFAULT_ICITE_URL = "https://icite.od.nih.gov/api/"
DEFAULT_EUROPEPMC_URL = "https://www.ebi.ac.uk/europepmc/webservices/rest/"
DEFAULT_OPENALEX_URL = "https://api.openalex.org/"
OPENALEX_KEY_ENV = "LITWATCH_OPENALEX_KEY"

_EMAIL = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$")
_PMID = re.compile(r"^[1-9][0-9]{0,9}$")
_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")




def _email(value: str) -> str:
    if not _EMAIL.match(value):
        raise ValueError(f"not an e-mail address: {value!r}")
    return value


def _pmid(value: str) -> str:
    if not _PMID.match(value):
        raise ValueError(f"not a PMID (a positive whole number, as a string): {value!r}")
    return value


def _url(value: str) -> str:
    if not re.match(r"^https?://[^\s/]+", value):
        raise ValueError(f"not an http(s) URL: {value!r}")
    return value if value.endswith("/") else value + "/"


Email = Annotated[str, AfterValidator(_email)]
Pmid = Annotated[str, AfterValidator(_pmid)]
Url = Annotated[str, AfterValidator(_url)]
NonEmpty = Annotated[str, Field(min_length=1)]


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
        if self.url is not None and not self.url.startswith(("postgresql://", "postgres://")):
            raise ValueError("url: must start with postgresql://")
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

    pmids: list[Pmid] = Field(default_factory=list, description="Tracked PMIDs.")
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

    # Not from the file: where it was read from (paths are relative to its folder).
    source: Path = Field(default=Path("litwatch.toml"), exclude=True)

    @model_validator(mode="after")
    def _cross_checks(self) -> Config:
        names = [w.name for w in self.watch]
        for i, name in enumerate(names):
            if name in names[:i]:
                raise ValueError(f"watch[{i}].name: duplicate watch name {name!r}")
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
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    if "source" in data:
        raise ConfigError(f"{path}: source: unknown key")
    return parse_config(data, path.resolve())
