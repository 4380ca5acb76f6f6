"""The running server's address, written into the data dir so the CLI can find it.

DuckDB lets one process write a database file. While ``cohortd serve`` holds the embedded
default, CLI commands that write (``cohortd import``) read this file and go through the
server's HTTP API instead of opening the DuckDB file themselves.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Final

SERVER_FILE: Final = "server.json"


@dataclass(frozen=True, slots=True)
class ServerInfo:
    url: str
    pid: int


def write_server_file(data_dir: Path, url: str) -> Path:
    """Record this process as the server at ``url`` (atomically: write, then rename)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    target = data_dir / SERVER_FILE
    partial = data_dir / f".{SERVER_FILE}.{os.getpid()}"
    partial.write_text(json.dumps({"url": url, "pid": os.getpid()}))
    partial.replace(target)
    return target


def read_server_file(data_dir: Path) -> ServerInfo | None:
    """The live server of ``data_dir``, or None (no file, unreadable, or its process is gone)."""
    try:
        recorded = json.loads((data_dir / SERVER_FILE).read_text())
        info = ServerInfo(url=str(recorded["url"]), pid=int(recorded["pid"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return info if _alive(info.pid) else None


def remove_server_file(data_dir: Path) -> None:
    """Remove the file if this process wrote it (called when the server stops)."""
    found = data_dir / SERVER_FILE
    try:
        if int(json.loads(found.read_text())["pid"]) == os.getpid():
            found.unlink()
    except (OSError, ValueError, KeyError, TypeError):
        return


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # signal 0: existence check only
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
