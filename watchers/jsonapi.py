"""The transport shared by the JSON services beyond NCBI (Europe PMC, OpenAlex): connect and read
timeouts, pacing (one request start per `interval` seconds, across threads), bounded retries with
exponential backoff and jitter (tenacity; `Retry-After` honoured) on connection errors, 429, 5xx
and bodies that are not JSON, and a one-line error with any secret replaced by `***`.
"""

from __future__ import annotations

import json
import math
import random
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

import requests
import tenacity

from litwatch.watchers import httpio
from litwatch.watchers.entrez import Pacer
from litwatch.watchers.errors import LitwatchError
from litwatch.watchers.redact import redact
from litwatch.watchers.wording import count

MAX_BODY = 64 * 1024 * 1024  # decoded bytes of one JSON answer
USER_AGENT = "litwatch (https://github.com/litwatch; mailto:{email})"


class ServiceError(LitwatchError):
    """A service gave no valid answer, even after retries.  The message is one line, secret-free."""


class _Retry(Exception):
    """A failure worth another try (raised by `check` as `RetryAnswer`)."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


RetryAnswer = _Retry  # what a service's `check` raises for a 200 answer worth asking for again


def _retry_after(value: str | None) -> float | None:
    try:
        return float(value) if value else None
    except ValueError:
        return None


class JsonService:
    """One service's HTTP: `get_json(path, params)` -> the decoded JSON object."""

    name = "service"
    error: type[ServiceError] = ServiceError

    def __init__(
        self,
        base_url: str,
        *,
        email: str = "",
        secrets: Sequence[str] = (),
        interval: float = 0.2,
        timeout: float = 60.0,
        connect_timeout: float = 10.0,
        deadline: float = 300.0,
        retries: int = 3,
        backoff: float = 2.0,
        max_backoff: float = 60.0,
        sleep: Callable[[float], None] = time.sleep,
        session: requests.Session | None = None,
    ) -> None:
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        self.timeout = (connect_timeout, timeout)
        self.deadline = max(deadline, timeout)  # the whole request, answer included
        self.retries = retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.interval = interval
        self._secrets = [s for s in secrets if s]
        self._sleep = sleep
        self._pacer = Pacer(sleep=sleep)
        self._session = session or httpio.session()
        self._session.headers["User-Agent"] = USER_AGENT.format(email=email or "unknown")
        self._session.headers["Accept"] = "application/json"
        self.requests_made = 0
        self.last_headers: Mapping[str, str] = {}

    def close(self) -> None:
        self._session.close()

    def redact(self, text: str) -> str:
        """One line, every spelling of the client's secrets replaced by `***` (watchers/redact.py)."""
        return redact(text, self._secrets)

    def _wait(self, state: tenacity.RetryCallState) -> float:
        exc: BaseException | None = state.outcome.exception() if state.outcome else None
        if isinstance(exc, _Retry) and exc.retry_after is not None:
            return min(max(float(exc.retry_after), 0.0), self.max_backoff)
        delay = self.backoff * math.pow(2, state.attempt_number - 1)
        return min(delay, self.max_backoff) * random.uniform(0.5, 1.0)

    def check(self, body: Any, resp: requests.Response) -> Any:
        """A service's own check of a decoded 200 answer; raise `self.error` or `_Retry`."""
        return body

    def get_json(self, path: str, params: Sequence[tuple[str, str]] = ()) -> Any:
        url = self.base_url + path.lstrip("/")
        what = path.split("?")[0].strip("/") or "/"

        def attempt() -> Any:
            self._pacer.wait(self.interval)
            self.requests_made += 1
            # Untrusted answers (watchers/httpio.py): the decoded size capped while reading, an
            # overall deadline, no redirect followed.
            with httpio.deadline(self.deadline) as watch:
                try:
                    resp = self._session.get(
                        url, params=list(params), timeout=self.timeout, allow_redirects=False, stream=True
                    )
                    raw = httpio.read_body(resp, MAX_BODY)
                except httpio.BodyTooLarge as exc:
                    raise self.error(f"{self.name} {what}: {exc}; refused") from None
                except requests.RequestException as exc:
                    if watch.expired:
                        raise _Retry(f"{self.name} {what}: no complete answer within {self.deadline:g} s") from None
                    raise _Retry(f"{self.name} {what}: {type(exc).__name__}") from None
            self.last_headers = resp.headers
            if 300 <= resp.status_code < 400:
                target = urlsplit(resp.headers.get("Location", "")).netloc.rsplit("@", 1)[-1][:100]
                raise self.error(
                    f"{self.name} {what}: HTTP {resp.status_code}: redirected to {target or '?'}; "
                    "litwatch follows no redirect: check the service's URL"
                )
            if resp.status_code == 429 or resp.status_code >= 500:
                raise _Retry(
                    f"{self.name} {what}: HTTP {resp.status_code}", _retry_after(resp.headers.get("Retry-After"))
                )
            if resp.status_code != 200:
                raise self.error(self.redact(f"{self.name} {what}: HTTP {resp.status_code}{_detail(raw)}"))
            try:
                body = json.loads(raw)
            except ValueError:
                kind = resp.headers.get("Content-Type", "?").split(";")[0]
                raise _Retry(f"{self.name} {what}: not JSON ({kind})") from None
            return self.check(body, resp)

        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(self.retries + 1),
            wait=self._wait,
            retry=tenacity.retry_if_exception_type(_Retry),
            sleep=self._sleep,
            reraise=True,
        )
        try:
            return retrying(attempt)
        except _Retry as exc:
            raise self.error(self.redact(f"{exc} (gave up after {count(self.retries + 1, 'attempt')})")) from None


def _detail(raw: bytes) -> str:
    """A short reason from an error body: JSON `message`/`error`, else nothing."""
    try:
        body = json.loads(raw)
    except ValueError:
        return ""
    if isinstance(body, dict):
        msg = body.get("message") or body.get("error") or body.get("errMsg")
        if isinstance(msg, list) and msg and isinstance(msg[0], dict):
            msg = msg[0].get("message") or msg[0].get("type")
        if isinstance(msg, str) and msg:
            return f" ({' '.join(msg.split())[:160]})"
    return ""
