"""The department benchmark's SMTP server: aiosmtpd on loopback, in a process of its own.

A mail server is another program on another machine; in the benchmark's own process it would read
each ~100 KB digest under the same GIL as the fake E-utilities server, whose arrival stamps (what
its rate limit counts) would then be late by as long as a message takes to read, and a client
that paces right would be answered 429.  The counts it keeps are shared memory (`Mailbox`).
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

_CONNECTIONS, _MESSAGES, _BYTES = range(3)


class Mailbox:
    """What the server received: connections, messages and their bytes (settable, to reset them)."""

    def __init__(self, counts: Any) -> None:
        self._counts = counts

    def _get(self, k: int) -> int:
        with self._counts.get_lock():
            return int(self._counts[k])

    def _set(self, k: int, value: int) -> None:
        with self._counts.get_lock():
            self._counts[k] = value

    connections = property(lambda self: self._get(_CONNECTIONS), lambda self, v: self._set(_CONNECTIONS, v))
    messages = property(lambda self: self._get(_MESSAGES), lambda self, v: self._set(_MESSAGES, v))
    bytes = property(lambda self: self._get(_BYTES), lambda self, v: self._set(_BYTES, v))


def _serve(port: int, counts: Any, ready: Any, stop: Any) -> None:
    """The server process: accepts every message, counts it, until `stop` is set."""
    from aiosmtpd.controller import Controller

    class Counting:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
            with counts.get_lock():
                counts[_MESSAGES] += 1
                counts[_BYTES] += len(envelope.original_content or b"")
            return "250 OK"

    class CountingController(Controller):
        def factory(self) -> Any:
            with counts.get_lock():
                counts[_CONNECTIONS] += 1
            return super().factory()

    controller = CountingController(Counting(), hostname="127.0.0.1", port=port, data_size_limit=None)
    controller.start()
    with counts.get_lock():
        counts[_CONNECTIONS] = 0  # (Controller.start connects once to see that the server is up)
    ready.set()
    stop.wait()
    controller.stop()


@contextmanager
def smtp_server() -> Iterator[tuple[Mailbox, int]]:
    from tests.conftest import free_port

    ctx = multiprocessing.get_context("spawn")
    counts = ctx.Array("q", 3)
    ready, stop = ctx.Event(), ctx.Event()
    port = free_port()
    process = ctx.Process(target=_serve, args=(port, counts, ready, stop), name="bench-smtp", daemon=True)
    process.start()
    try:
        while not ready.wait(0.2):
            if not process.is_alive():
                raise RuntimeError(f"the benchmark's SMTP server did not start (exit {process.exitcode})")
        yield Mailbox(counts), port
    finally:
        stop.set()
        process.join(10)
        if process.is_alive():
            process.kill()
