"""The web companion's Starlette application.

Every page a reader sees is reached from a signed link in their digest (notifications/links.py); there
are no accounts and no login.  What the app guarantees:

* A GET never changes anything (mail scanners open every link): it shows a page with one button,
  whose POST carries a CSRF token (a signed double-submit cookie; the Origin header, when sent, must
  be this site's).  The one exception to "a page first" is RFC 8058's one-click unsubscribe: a POST
  of `List-Unsubscribe=One-Click` to the List-Unsubscribe link acts at once.
* A forged, malformed, expired or already-used link gets a page saying so, a 4xx status, and
  changes nothing.  "Relevant", "not relevant" and "track" links are one-time.
* A reader sees only their own data: every query is by the address the verified token names.
* Ratings (and their undoing) are rate-limited per reader; admin logins per client.
* No secret is put in a page or a log line (tokens are cut out of logged paths); every response
  carries a content security policy (no scripts at all), no referrer, nosniff and no framing.

The config is re-read when its file changes (recipients come and go); the secret is read at start.
"""

from __future__ import annotations

import base64
import binascii
import email
import email.policy
import hmac
import logging
import re
import secrets
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jinja2
import pygal
from itsdangerous import BadSignature, URLSafeSerializer
from pygal.style import Style
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from litwatch.jobs import parts
from litwatch.jobs.commands.status import gather, health
from litwatch.jobs.config import WEB_ADMIN_PASSWORD_ENV, Config, RecipientConfig, load_config
from litwatch.notifications.exports import pubmed_url
from litwatch.notifications.links import BadLink, Claim, LinkSigner
from litwatch.watchers.articles import Article
from litwatch.watchers.errors import ConfigError, StoreError
from litwatch.watchers.ratings import DOWN, UP, rating_value, ratings_of, record_rating, undo_rating
from litwatch.watchers.store import Store

log = logging.getLogger("litwatch.web")

CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
# A digest as sent, shown alone: its own inline styles, remote images it may name; no script, no form.
ARCHIVE_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src https: data:; frame-ancestors 'none'; "
    "base-uri 'none'; form-action 'none'; "
    "sandbox allow-popups allow-popups-to-escape-sandbox allow-top-navigation-by-user-activation"
)
SVG_CSP = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'"
SECURITY_HEADERS = {
    "referrer-policy": "no-referrer",
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "cross-origin-opener-policy": "same-origin",
    "cross-origin-resource-policy": "same-origin",
    "permissions-policy": "camera=(), microphone=(), geolocation=(), interest-cohort=()",
    "cache-control": "no-store",
}
CSRF_FIELD = "csrf"
ONE_CLICK = ("List-Unsubscribe", "One-Click")
SEARCH_LIMIT = 100
CHART_WEEKS = 12
STATIC = Path(__file__).parent / "static"
_TOKEN_PATH = re.compile(r"^/(a|r)/[^/]+")


# -- rate limits ----------------------------------------------------------------------------------


class RateLimiter:
    """At most `limit` events per `window` seconds for each key (in this process)."""

    def __init__(self, limit: int, window: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.window = window
        self._clock = clock
        self._events: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def allow(self, key: str) -> bool:
        now = self._clock()
        with self._lock:
            events = self._events.setdefault(key, deque())
            while events and events[0] <= now - self.window:
                events.popleft()
            if len(events) >= self.limit:
                return False
            events.append(now)
            if len(self._events) > 10_000:  # forget idle keys
                for k in [k for k, v in self._events.items() if not v]:
                    del self._events[k]
            return True


# -- pages ----------------------------------------------------------------------------------------


class PageError(Exception):
    """Answer with an error page: `status`, a title and one sentence (no secret in either)."""

    def __init__(self, status: int, title: str, text: str) -> None:
        super().__init__(text)
        self.status = status
        self.title = title
        self.text = text


@dataclass(frozen=True)
class Reader:
    recipient: RecipientConfig
    claim: Claim
    token: str

    @property
    def email(self) -> str:
        return str(self.recipient.email)


_BAD_LINK = {
    "forged": (403, "This link is not valid", "This link was not made by this litwatch, or it was revoked. Nothing was changed."),
    "malformed": (400, "This link is damaged", "This link is incomplete or damaged (was it cut in two by the mail program?). Nothing was changed."),
    "expired": (410, "This link has expired", "This link has expired. The links in your newer digests work. Nothing was changed."),
}


class WebApp:
    def __init__(self, config: Config, *, clock: Callable[[], float] = time.time) -> None:
        if config.web is None:
            raise ConfigError(f"{config.source}: web: no [web] table")
        self.config = config
        self._config_mtime = self._mtime()
        self.signer = LinkSigner(config.web_secret(), config.web.base_url, days=config.web.link_days, clock=clock)
        self._csrf = URLSafeSerializer(config.web_secret(), salt="litwatch-web-csrf-v1")
        self.admin_password = config.web_admin_password()
        self.clock = clock
        self.rating_limit = RateLimiter(config.web.ratings_per_minute)
        self.admin_limit = RateLimiter(10)
        base = urlsplit(config.web.base_url)
        self.origin = f"{base.scheme}://{base.netloc}"
        self.base_path = base.path if base.path.endswith("/") else base.path + "/"
        self.secure = base.scheme == "https"
        self.csrf_cookie = "__Host-litwatch-csrf" if self.secure else "litwatch-csrf"
        self._reload_lock = threading.Lock()
        self.env = jinja2.Environment(
            loader=jinja2.PackageLoader("litwatch.jobs.web", "templates"),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        with self._store(migrate=True):
            pass  # the schema is current before the first request

    # -- plumbing ---------------------------------------------------------------------------------

    def _mtime(self) -> float:
        try:
            return float(self.config.source.stat().st_mtime)
        except OSError:
            return 0.0

    def current_config(self) -> Config:
        """The config, re-read when its file changed (a broken edit keeps the one read before)."""
        mtime = self._mtime()
        if mtime != self._config_mtime:
            with self._reload_lock:
                if mtime != self._config_mtime:
                    self._config_mtime = mtime
                    try:
                        fresh = load_config(self.config.source)
                    except ConfigError as exc:
                        log.error("%s; the web app keeps the config read before", exc)
                    else:
                        if fresh.web is not None:
                            self.config = fresh
        return self.config

    @contextmanager
    def _store(self, *, migrate: bool = False) -> Iterator[Store]:
        store = parts.make_store(self.config, migrate=migrate)
        try:
            yield store
        finally:
            store.close()

    def page(self, name: str, status: int = 200, headers: dict[str, str] | None = None, **context: Any) -> HTMLResponse:
        context.setdefault("base", self.base_path)
        context.setdefault("reader", None)
        context.setdefault("nav", "")
        html = self.env.get_template(name).render(**context)
        return HTMLResponse(html, status_code=status, headers=headers)

    def error_page(self, exc: PageError, reader: Reader | None = None) -> HTMLResponse:
        return self.page("error.html.j2", exc.status, title=exc.title, text=exc.text, reader=reader, home=self._home(reader))

    def _home(self, reader: Reader | None) -> str:
        return f"{self.base_path}r/{reader.token}/" if reader and reader.claim.action == "home" else ""

    def reader_of(self, token: str, *, actions: tuple[str, ...]) -> Reader:
        """The reader a token names, if the token is good and for one of `actions`."""
        try:
            claim = self.signer.read(token)
        except BadLink as exc:
            status, title, text = _BAD_LINK[exc.kind]
            raise PageError(status, title, text) from None
        if claim.action not in actions:
            raise PageError(404, "Not found", "This link does not lead here. Nothing was changed.")
        config = self.current_config()
        for r in config.recipients():
            if hmac.compare_digest(self.signer.reader_id(r.email), claim.reader):
                return Reader(r, claim, token)
        raise PageError(404, "No such reader", "This link belongs to an address that no longer receives these digests. Nothing was changed.")

    # -- CSRF -------------------------------------------------------------------------------------

    def csrf_pair(self, request: Request) -> tuple[str, str | None]:
        """(the form's token, a new cookie value to set or None)."""
        cookie = request.cookies.get(self.csrf_cookie)
        new = None
        if not cookie or len(cookie) > 100:
            cookie = new = secrets.token_urlsafe(32)
        return str(self._csrf.dumps(cookie)), new

    def set_csrf_cookie(self, response: Response, value: str | None) -> None:
        if value is not None:
            response.set_cookie(
                self.csrf_cookie, value, httponly=True, samesite="strict", secure=self.secure, path="/"
            )

    def check_csrf(self, request: Request, form: dict[str, str]) -> None:
        origin = request.headers.get("origin")
        # "null": what browsers send under Referrer-Policy no-referrer; the token and cookie decide then
        if origin is not None and origin not in (self.origin, "null"):
            raise PageError(403, "Refused", "This form was sent from another site. Nothing was changed.")
        cookie = request.cookies.get(self.csrf_cookie, "")
        try:
            expected = self._csrf.loads(form.get(CSRF_FIELD, ""))
        except BadSignature:
            expected = None
        if not cookie or not isinstance(expected, str) or not hmac.compare_digest(expected, cookie):
            raise PageError(
                403,
                "Please try again",
                "This form could not be checked (it is old, or cookies are off). Open the link again and press the button. Nothing was changed.",
            )

    def posted_pmid(self, request: Request, form: dict[str, str]) -> str:
        """The PMID a reader's page form posts (a rating undone, a paper untracked), CSRF-checked."""
        self.check_csrf(request, form)
        pmid = form.get("pmid", "")
        if not pmid.isdigit():
            raise PageError(400, "Unknown request", "Nothing was changed.")
        return pmid

    # -- small helpers ----------------------------------------------------------------------------

    @staticmethod
    def article(store: Store, pmid: str) -> Article | None:
        return store.articles.get([pmid]).get(pmid) if pmid else None

    def nav(self, reader: Reader) -> dict[str, str]:
        root = f"{self.base_path}r/{reader.token}/"
        return {
            "Archive": root,
            "Search": root + "search",
            "Ratings": root + "ratings",
            "Tracked papers": root + "tracked",
            "Watches": root + "watches",
            "Subscription": root + "subscription",
        }

    def reader_page(self, request: Request, reader: Reader, name: str, nav: str, **context: Any) -> HTMLResponse:
        csrf, new = self.csrf_pair(request)
        response = self.page(name, reader=reader, links=self.nav(reader), nav=nav, csrf=csrf, **context)
        self.set_csrf_cookie(response, new)
        return response


# -- request handling (Starlette endpoints) -------------------------------------------------------


async def _form(request: Request) -> dict[str, str]:
    try:
        form = await request.form(max_files=0, max_fields=20, max_part_size=64 * 1024)
    except Exception:  # noqa: BLE001 - a body that is not a form
        return {}
    return {k: v for k, v in form.items() if isinstance(v, str)}


def _local(stamp: str | None) -> str:
    if not stamp:
        return ""
    try:
        return datetime.fromisoformat(stamp).strftime("%Y-%m-%d %H:%M UTC")
    except ValueError:
        return stamp


def build_app(config: Config, *, clock: Callable[[], float] = time.time) -> Starlette:
    """The ASGI application for `config` (which has a `[web]` table)."""
    web = WebApp(config, clock=clock)

    def guarded(
        handler: Callable[[Request, dict[str, str]], Response], *, form: bool = False
    ) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            data = await _form(request) if form and request.method == "POST" else {}
            try:
                return await run_in_threadpool(handler, request, data)
            except PageError as exc:
                return web.error_page(exc)
            except StoreError as exc:
                log.error("web: %s", exc)
                return web.error_page(PageError(503, "Try again later", "The store cannot be reached just now. Nothing was changed."))

        return endpoint

    # -- the links of a digest: /a/TOKEN ----------------------------------------------------------

    def action(request: Request, form: dict[str, str]) -> Response:
        token = request.path_params["token"]
        reader = web.reader_of(token, actions=("up", "down", "track", "unsubscribe"))
        claim = reader.claim
        if claim.action == "unsubscribe":
            return unsubscribe(request, form, reader)
        token_id = LinkSigner.token_id(token)
        with web._store() as store:
            article = web.article(store, claim.pmid)
            used = store.readers.link_used(token_id)
            if used is not None:
                return web.page(
                    "used.html.j2", 409 if request.method == "POST" else 410,
                    used=_local(used), claim=claim, article=article, home=web.signer.url(reader.email, "home"),
                )
            if request.method == "GET":
                csrf, new = web.csrf_pair(request)
                response = web.page(
                    "action.html.j2", claim=claim, article=article, csrf=csrf, email=reader.email,
                    current=rating_value(store, reader.email, claim.pmid) if claim.action != "track" else None,
                    pubmed=pubmed_url(claim.pmid),
                )
                web.set_csrf_cookie(response, new)
                return response
            web.check_csrf(request, form)
            if claim.action in ("up", "down") and not web.rating_limit.allow(reader.email.lower()):
                raise PageError(429, "Too many ratings", "Too many ratings in a minute: wait a moment and press the button again. Nothing was changed.")
            with store.transaction():
                if not store.readers.use_link(token_id, reader.email, claim.action, claim.pmid):
                    return web.page("used.html.j2", 409, used=_local(store.readers.link_used(token_id)), claim=claim,
                                    article=article, home=web.signer.url(reader.email, "home"))
                if claim.action == "track":
                    store.tracked.add(claim.pmid, "web")
                    store.readers.track(reader.email, claim.pmid)
                else:
                    record_rating(store, reader.email, claim.pmid, UP if claim.action == "up" else DOWN, source="web")
        log.info("web: %s %s by a reader", claim.action, claim.pmid)
        return web.page("done.html.j2", claim=claim, article=article, home=web.signer.url(reader.email, "home"))

    def unsubscribe(request: Request, form: dict[str, str], reader: Reader) -> Response:
        r = reader.recipient
        if request.method == "POST" and form.get(ONE_CLICK[0]) == ONE_CLICK[1] and CSRF_FIELD not in form:
            # RFC 8058: the mail client's one-click POST; no page, no cookie
            if not r.unsubscribe:
                return PlainTextResponse("This address's digests are set by the administrator.\n", status_code=409)
            with web._store() as store:
                store.readers.set_subscribed(r.email, False, via="one-click")
            log.info("web: a reader unsubscribed (one-click)")
            return PlainTextResponse("Unsubscribed.\n")
        return subscription(request, form, reader)

    def subscription(request: Request, form: dict[str, str], reader: Reader) -> Response:
        r = reader.recipient
        with web._store() as store:
            changed = False
            if request.method == "POST":
                web.check_csrf(request, form)
                if not r.unsubscribe:
                    raise PageError(409, "Set by the administrator", "This address's digests are set in litwatch's configuration; ask its administrator. Nothing was changed.")
                want = form.get("do")
                if want not in ("unsubscribe", "subscribe"):
                    raise PageError(400, "Unknown request", "Nothing was changed.")
                changed = store.readers.set_subscribed(r.email, want == "subscribe", via="web")
                if changed:
                    log.info("web: a reader %s", "subscribed again" if want == "subscribe" else "unsubscribed")
            since = store.readers.unsubscribed().get(r.email.lower())
        csrf, new = web.csrf_pair(request)
        response = web.page(
            "subscription.html.j2",
            reader=reader if reader.claim.action == "home" else None,
            links=web.nav(reader) if reader.claim.action == "home" else {},
            nav="Subscription", csrf=csrf, email=r.email, allowed=r.unsubscribe,
            since=_local(since) if since else "", changed=changed, done=request.method == "POST",
            home=web.signer.url(r.email, "home"),
        )
        web.set_csrf_cookie(response, new)
        return response

    # -- the reader's pages: /r/TOKEN/... ---------------------------------------------------------

    def home_reader(request: Request) -> Reader:
        return web.reader_of(request.path_params["token"], actions=("home",))

    def archive(request: Request, form: dict[str, str]) -> Response:
        reader = home_reader(request)
        with web._store() as store:
            sent = store.readers.sent_to(reader.email)
            since = store.readers.unsubscribed().get(reader.email.lower())
        rows = [{"id": i, "sent": _local(at), "subject": s} for i, at, s in sent]
        return web.reader_page(request, reader, "archive.html.j2", "Archive", rows=rows,
                               since=_local(since) if since else "")

    def _delivery(reader: Reader, delivery_id: str) -> tuple[str, bytes]:
        if not delivery_id.isdigit():
            raise PageError(404, "Not found", "No such digest.")
        with web._store() as store:
            found = store.readers.delivered_message(reader.email, int(delivery_id))
        if found is None:
            raise PageError(404, "Not found", "No such digest among those sent to you.")
        return found

    def archived(request: Request, form: dict[str, str]) -> Response:
        reader = home_reader(request)
        delivery_id = request.path_params["id"]
        what = request.path_params.get("what", "")
        if what not in ("", "eml"):
            raise PageError(404, "Not found", "No such digest.")
        subject, raw = _delivery(reader, delivery_id)
        if what == "eml":
            return Response(raw, media_type="message/rfc822", headers={
                "content-disposition": f'attachment; filename="litwatch-digest-{int(delivery_id)}.eml"'})
        message = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        body = message.get_body(preferencelist=("html", "plain"))
        content = body.get_content() if body is not None else ""
        if body is not None and body.get_content_type() == "text/plain":
            return PlainTextResponse(content, headers={"content-security-policy": ARCHIVE_CSP})
        return HTMLResponse(content, headers={"content-security-policy": ARCHIVE_CSP})

    def search(request: Request, form: dict[str, str]) -> Response:
        reader = home_reader(request)
        q = request.query_params.get("q", "").strip()[:200]
        words = [w.lower() for w in q.split()]
        results: list[dict[str, Any]] = []
        total = 0
        if words:
            with web._store() as store:
                sent = store.readers.sent_articles(reader.email)
                articles = store.articles.get(p for p, _, _ in sent)
            for pmid, delivery_id, sent_at in sorted(sent, key=lambda r: (r[2], int(r[0])), reverse=True):
                a = articles.get(pmid)
                if a is None:
                    continue
                haystack = " ".join(
                    [a.pmid, a.title, a.abstract_text, a.journal, a.journal_iso, *(x.display for x in a.authors)]
                ).lower()
                if all(w in haystack for w in words):
                    total += 1
                    if len(results) < SEARCH_LIMIT:
                        results.append({"article": a, "url": pubmed_url(a.pmid), "sent": _local(sent_at),
                                        "digest": delivery_id})
        return web.reader_page(request, reader, "search.html.j2", "Search", q=q, results=results, total=total)

    def ratings_page(request: Request, form: dict[str, str]) -> Response:
        reader = home_reader(request)
        undone = ""
        with web._store() as store:
            if request.method == "POST":
                pmid = web.posted_pmid(request, form)
                if not web.rating_limit.allow(reader.email.lower()):
                    raise PageError(429, "Too many ratings", "Too many changes in a minute: wait a moment and try again. Nothing was changed.")
                if undo_rating(store, reader.email, pmid):
                    undone = pmid
                    log.info("web: a rating of %s undone", pmid)
            mine = ratings_of(store, reader.email)
            articles = store.articles.get(r.pmid for r in mine)
        rows = [{"rating": r, "article": articles.get(r.pmid), "url": pubmed_url(r.pmid), "at": _local(r.rated_at)}
                for r in reversed(mine)]
        return web.reader_page(request, reader, "ratings.html.j2", "Ratings", rows=rows, undone=undone)

    def tracked_page(request: Request, form: dict[str, str]) -> Response:
        reader = home_reader(request)
        removed = ""
        with web._store() as store:
            if request.method == "POST":
                pmid = web.posted_pmid(request, form)
                if store.readers.untrack(reader.email, pmid):
                    removed = pmid
            mine = store.readers.tracked(reader.email)
            # shared: the config's, `track add`'s and follow = "announced"'s; not what other readers tracked
            everyone = [t for t in store.tracked.all() if t.origin != "web" and t.pmid not in {p for p, _ in mine}]
            counts = store.citations.counts()
            articles = store.articles.get([p for p, _ in mine] + [t.pmid for t in everyone])
        rows = [{"pmid": p, "article": articles.get(p), "url": pubmed_url(p), "at": _local(at), "citations": counts.get(p, 0)}
                for p, at in mine]
        shared = [{"pmid": t.pmid, "article": articles.get(t.pmid), "url": pubmed_url(t.pmid), "citations": counts.get(t.pmid, 0)}
                  for t in everyone]
        return web.reader_page(request, reader, "tracked.html.j2", "Tracked papers", rows=rows, shared=shared,
                               removed=removed, citations=reader.recipient.citations)

    def _reader_watches(reader: Reader) -> list[Any]:
        config = web.current_config()
        return config.watches_of(reader.recipient)

    def _weekly(store: Store, watch: str) -> list[tuple[str, int]]:
        now = datetime.fromtimestamp(web.clock(), UTC)
        monday = (now - timedelta(days=now.weekday())).date()
        weeks = [monday - timedelta(weeks=i) for i in range(CHART_WEEKS - 1, -1, -1)]
        counts = {w: 0 for w in weeks}
        since = weeks[0].isoformat()
        for seen in store.readers.new_hits_since(watch, since):
            day = datetime.fromisoformat(seen).date()
            start = day - timedelta(days=day.weekday())
            if start in counts:
                counts[start] += 1
        return [(w.isoformat(), n) for w, n in counts.items()]

    def watches_page(request: Request, form: dict[str, str]) -> Response:
        reader = home_reader(request)
        mine = _reader_watches(reader)
        with web._store() as store:
            counts = store.watches.counts()
            rows = []
            for i, w in enumerate(mine):
                weekly = _weekly(store, w.name)
                rows.append({"index": i, "watch": w, "hits": counts.get(w.name),
                             "recent": sum(n for _, n in weekly)})
        return web.reader_page(request, reader, "watches.html.j2", "Watches", rows=rows, weeks=CHART_WEEKS)

    def chart(request: Request, form: dict[str, str]) -> Response:
        reader = home_reader(request)
        mine = _reader_watches(reader)
        index = request.path_params["index"]
        if not index.isdigit() or int(index) >= len(mine):
            raise PageError(404, "Not found", "No such watch.")
        with web._store() as store:
            weekly = _weekly(store, mine[int(index)].name)
        style = Style(background="transparent", plot_background="transparent", colors=("#0b57d0",),
                      font_family="sans-serif", label_font_size=10, major_label_font_size=10)
        bar = pygal.Bar(width=520, height=200, show_legend=False, js=[], style=style, explicit_size=True,
                        x_label_rotation=0, show_y_guides=True, print_values=False, margin=8)
        bar.x_labels = [w[5:] for w, _ in weekly]
        bar.x_labels_major = [w[5:] for w, _ in weekly][:: max(1, len(weekly) // 6)]
        bar.show_minor_x_labels = False
        top = max([n for _, n in weekly] + [1])
        step = max(1, -(-top // 5))
        bar.y_labels = list(range(0, top + step, step))  # whole numbers: items are counted
        bar.add("new items", [n for _, n in weekly])
        svg = bar.render()
        return Response(svg, media_type="image/svg+xml", headers={"content-security-policy": SVG_CSP})

    def subscription_page(request: Request, form: dict[str, str]) -> Response:
        return subscription(request, form, home_reader(request))

    # -- the admin: run health --------------------------------------------------------------------

    def admin(request: Request, form: dict[str, str]) -> Response:
        if not web.admin_password:
            raise PageError(404, "No admin page", f"The admin page is off: set {WEB_ADMIN_PASSWORD_ENV} where litwatch runs.")
        client = request.client.host if request.client else "?"
        challenge = {"www-authenticate": 'Basic realm="litwatch admin", charset="UTF-8"'}
        given = _basic_password(request.headers.get("authorization", ""))
        if given is None or not hmac.compare_digest(given.encode("utf-8"), web.admin_password.encode("utf-8")):
            if given is not None and not web.admin_limit.allow(client):
                return web.page("error.html.j2", 429, title="Too many attempts", text="Wait a minute.", home="")
            if given is not None:
                log.warning("web: a wrong admin password from %s", client)
            return web.page("error.html.j2", 401, headers=challenge, title="Admin", text="The admin password is needed.", home="")
        config = web.current_config()
        info = gather(config)
        ok, reason = health(config, info)
        with web._store() as store:
            gone = store.readers.unsubscribed()
        return web.page("admin.html.j2", info=info, ok=ok, reason=reason, cron=config.schedule.cron,
                        unsubscribed=sorted(gone.items()))

    def index(request: Request, form: dict[str, str]) -> Response:
        return web.page("index.html.j2")

    def health_check(request: Request, form: dict[str, str]) -> Response:
        return PlainTextResponse("ok\n")

    def static_css(request: Request, form: dict[str, str]) -> Response:
        return Response((STATIC / "web.css").read_bytes(), media_type="text/css",
                        headers={"cache-control": "public, max-age=3600"})

    routes = [
        Route("/", guarded(index)),
        Route("/healthz", guarded(health_check)),
        Route("/static/web.css", guarded(static_css)),
        Route("/a/{token}", guarded(action, form=True), methods=["GET", "POST"]),
        Route("/r/{token}/", guarded(archive)),
        Route("/r/{token}/archive/{id}.{what}", guarded(archived)),
        Route("/r/{token}/archive/{id}", guarded(archived)),
        Route("/r/{token}/search", guarded(search)),
        Route("/r/{token}/ratings", guarded(ratings_page, form=True), methods=["GET", "POST"]),
        Route("/r/{token}/tracked", guarded(tracked_page, form=True), methods=["GET", "POST"]),
        Route("/r/{token}/watches", guarded(watches_page)),
        Route("/r/{token}/watches/{index}.svg", guarded(chart)),
        Route("/r/{token}/subscription", guarded(subscription_page, form=True), methods=["GET", "POST"]),
        Route("/admin", guarded(admin)),
    ]

    async def not_found(request: Request, exc: Exception) -> Response:
        status = getattr(exc, "status_code", 404)
        title = "Not found" if status == 404 else "Not allowed"
        return web.page("error.html.j2", status, title=title, text="There is nothing here.", home="")

    app = Starlette(routes=routes, exception_handlers={404: not_found, 405: not_found})
    app.state.web = web
    return SecurityHeaders(app)  # type: ignore[return-value]


def _basic_password(header: str) -> str | None:
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic" or not value:
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return decoded.partition(":")[2]


class SecurityHeaders:
    """ASGI middleware: the security headers on every response (a handler's own CSP wins), and one
    log line per request with any token cut out of the path."""

    def __init__(self, app: Starlette) -> None:
        self.app: ASGIApp = app
        self.state = app.state  # the WebApp, for tests and the server

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.monotonic()
        status = 0

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                headers = list(message.get("headers", []))
                present = {k.decode("latin-1").lower() for k, _ in headers}
                if "content-security-policy" not in present:
                    headers.append((b"content-security-policy", CSP.encode()))
                for name, value in SECURITY_HEADERS.items():
                    if name not in present:
                        headers.append((name.encode(), value.encode()))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        finally:
            path = _TOKEN_PATH.sub(lambda m: f"/{m.group(1)}/…", str(scope.get("path", "")))
            log.info("web: %s %s %s %.0f ms", scope.get("method", ""), path, status, (time.monotonic() - started) * 1000)
