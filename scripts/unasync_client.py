"""Write the sync client (``src/cohortd/client/_sync_*.py``) from the async one.

The async modules are the source; this rewrite (the ``unasync`` approach of httpcore)
turns each into its blocking twin, so the two clients cannot drift apart.
``tests/client/test_generated.py`` fails when a generated file is stale:
run ``scripts/uv.sh run python scripts/unasync_client.py`` after editing an async module.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CLIENT = ROOT / "src" / "cohortd" / "client"
SOURCES = ("transport", "resources", "platform", "client")

# (pattern, replacement), applied in order
RULES: tuple[tuple[str, str], ...] = (
    (
        r"the blocking twin is(\s+)generated(\s+)from this file by",
        r"generated\1from its ``_async_``\2twin by",
    ),
    (r"_async_(transport|resources|platform|client)\b", r"_sync_\1"),
    (r"\basync def __aiter__\b", "def __iter__"),
    (r"\bdef __aiter__\b", "def __iter__"),
    (r"\b__aenter__\b", "__enter__"),
    (r"\b__aexit__\b", "__exit__"),
    (r"\bAsyncIterator\b", "Iterator"),
    (r"\bAsync([A-Z]\w*)", r"\1"),
    (r"\basync def\b", "def"),
    (r"\basync for\b", "for"),
    (r"\basync with\b", "with"),
    (r"\bawait ", ""),
    (r"\baclose\b", "close"),
    (r"\bimport asyncio\b", "import time"),
    (r"\basyncio\.sleep\b", "time.sleep"),
    (r"\basync,", "blocking,"),
    (r"\basync\b", "blocking"),
)


def unasync(source: str, name: str) -> str:
    text = source
    for pattern, replacement in RULES:
        text = re.sub(pattern, replacement, text)
    banner = f"# Generated from _async_{name}.py by scripts/unasync_client.py: do not edit.\n"
    return banner + text


def write(folder: Path) -> list[Path]:
    """Write the sync modules into ``folder``, then sort their imports and format them
    with the project's ruff settings (so the committed files pass ``ruff``)."""
    written = []
    for name in SOURCES:
        source = (CLIENT / f"_async_{name}.py").read_text(encoding="utf-8")
        path = folder / f"_sync_{name}.py"
        path.write_text(unasync(source, name), encoding="utf-8")
        written.append(path)
    ruff = [sys.executable, "-m", "ruff"]
    config = ["--config", str(ROOT / "pyproject.toml")]
    files = [str(p) for p in written]
    subprocess.run(
        [*ruff, "check", *config, "--fix", "--select", "I001", "--quiet", *files], check=True
    )
    subprocess.run([*ruff, "format", *config, "--quiet", *files], check=True)
    return written


def main() -> int:
    for path in write(CLIENT):
        print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
