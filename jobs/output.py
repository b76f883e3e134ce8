"""Files a command writes where the user said (`export --output`, `preview --out`).

* A folder is refused in one line (give a file name).
* Missing parent folders are created.
* Something that is not a regular file (`/dev/stdout`, a named pipe, a terminal), or a symbolic
  link to one, is written through, never replaced by a file.
* A regular file (or a link to one) is replaced atomically (all or nothing), at the link's
  target, so the link stays a link; an existing file keeps its permissions (a 0600 file stays
  0600); a new one gets `new_mode`.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from litwatch.notifications.delivery import write_atomic
from litwatch.watchers.errors import UsageError


class OutputError(UsageError):
    """The output file cannot be written: one line naming it."""


def write_output(path: Path, data: bytes, *, new_mode: int = 0o644) -> None:
    try:
        st = path.stat()  # follows a link
    except FileNotFoundError:
        st = None
    except OSError as exc:
        raise OutputError(f"{path}: cannot write: {exc.strerror or exc}") from None
    if st is not None and stat.S_ISDIR(st.st_mode):
        raise OutputError(f"{path} is a folder; give a file name (e.g. {path / 'out'})")
    try:
        if st is not None and not stat.S_ISREG(st.st_mode):
            with open(path, "wb") as fh:  # /dev/stdout, a pipe, a terminal: write through it
                fh.write(data)
            return
        target = Path(os.path.realpath(path))
        target.parent.mkdir(parents=True, exist_ok=True)
        mode = stat.S_IMODE(st.st_mode) if st is not None else new_mode
        write_atomic(target, data, mode)
    except OSError as exc:
        raise OutputError(f"{path}: cannot write: {exc.strerror or exc}") from None
