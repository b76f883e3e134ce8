"""Running the web companion with uvicorn: alone in the foreground (`litwatch web`) or in a thread
beside the scheduler (`litwatch serve`).

The listening socket is bound here first, so that an address in use is one line naming it (exit 2),
not a traceback from inside the server.  uvicorn's access log is off: paths hold the readers'
tokens; the app logs each request with the token cut out (jobs/web/app.py).
"""

from __future__ import annotations

import errno
import logging
import signal
import socket
import threading
from typing import Any

from litwatch.jobs.config import Config
from litwatch.watchers.errors import EXIT_OK, ConfigError

log = logging.getLogger("litwatch.web")


def _require_framework(config: Config) -> None:
    try:
        import starlette  # noqa: F401, PLC0415 - the optional extra
        import uvicorn  # noqa: F401, PLC0415 - the optional extra
    except ImportError:
        raise ConfigError(
            f"{config.source}: web: the web companion needs its extra: pip install 'litwatch[web]'"
        ) from None


def bind(config: Config) -> socket.socket:
    """The listening socket of `[web] listen`; `ConfigError` naming the address when it cannot be had."""
    assert config.web is not None
    host, port = config.web.host_port
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise ConfigError(f"{config.source}: web.listen: cannot listen on {config.web.listen}: {exc.strerror}") from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
    except OSError as exc:
        sock.close()
        why = "address already in use" if exc.errno == errno.EADDRINUSE else (exc.strerror or str(exc))
        raise ConfigError(f"{config.source}: web.listen: cannot listen on {config.web.listen}: {why}") from None
    return sock


class WebServer:
    """The app of `config` on its own socket, served by uvicorn."""

    def __init__(self, config: Config) -> None:
        _require_framework(config)
        import uvicorn  # noqa: PLC0415 - the optional extra

        from litwatch.jobs.web.app import build_app  # noqa: PLC0415 - it imports the optional extra

        assert config.web is not None
        self.config = config
        config.web_secret()  # ConfigError (one line) before anything else
        self.socket = bind(config)  # ConfigError naming the address in use
        try:
            app = build_app(config)  # migrates the store first
        except BaseException:
            self.socket.close()
            raise
        self.server = uvicorn.Server(
            uvicorn.Config(
                app,
                log_config=None,
                access_log=False,
                server_header=False,
                proxy_headers=True,
                timeout_graceful_shutdown=5,
                lifespan="off",
            )
        )
        self._thread: threading.Thread | None = None

    @property
    def address(self) -> str:
        host, port = self.socket.getsockname()[:2]
        return f"{host}:{port}"

    def run(self) -> None:
        """Serve in this thread until SIGINT/SIGTERM (uvicorn's own handlers, in the main thread).

        uvicorn raises the signal again once it has stopped, for the handlers that were there
        before: these note it, so that a clean stop is exit 0, not death by the signal."""
        log.info("web: serving %s on %s", self.config.web.base_url if self.config.web else "", self.address)
        stopped_by: list[int] = []
        previous = {s: signal.signal(s, lambda signum, frame: stopped_by.append(signum)) for s in (signal.SIGTERM, signal.SIGINT)}
        try:
            self.server.run(sockets=[self.socket])
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)
            self.socket.close()
        if stopped_by:
            log.info("web: %s: stopped", signal.Signals(stopped_by[0]).name)

    def start(self) -> None:
        """Serve in a thread (no signal handlers there: the caller stops it with `stop`)."""
        self._thread = threading.Thread(target=self._serve, name="litwatch-web", daemon=True)
        self._thread.start()
        log.info("web: serving %s on %s", self.config.web.base_url if self.config.web else "", self.address)

    def _serve(self) -> None:
        try:
            self.server.run(sockets=[self.socket])
        except Exception:  # noqa: BLE001 - logged; the scheduler goes on
            log.exception("web: the server stopped")

    def stop(self, timeout: float = 10.0) -> None:
        self.server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)
        try:
            self.socket.close()
        except OSError:
            pass


def start_beside(config: Config) -> WebServer | None:
    """For `litwatch serve`: the web companion in a thread when the config has `[web]`."""
    if config.web is None:
        return None
    server = WebServer(config)
    server.start()
    return server


def web(config: Config, args: Any = None) -> int:
    """`litwatch web`: the web companion alone, in the foreground."""
    if config.web is None:
        raise ConfigError(f"{config.source}: web: no [web] table: nothing to serve (see the README's [web])")
    if not getattr(args, "quiet", False) and not getattr(args, "verbose", 0):
        root = logging.getLogger()  # a service's log, like `litwatch serve`
        root.setLevel(logging.INFO)
        for handler in root.handlers:
            handler.setLevel(logging.INFO)
    WebServer(config).run()
    return EXIT_OK


def command(args: Any, config: Config) -> int:
    """`litwatch web` (COMMANDS in jobs/cli/main.py)."""
    return web(config, args)
