"""Recorded member sets, kept compactly: sorted id lists, front-coded and compressed.

A cohort's recordings form a chain, oldest first. Each one after the first stores the
diff against the one before (``entered``, ``exited``); the first, and then every
``FULL_EVERY``-th, also stores the whole set (``members``). A recording's set is the
last whole set at or before it with the later diffs applied, so reading one costs at
most ``FULL_EVERY - 1`` diffs, and a day's recording of a cohort whose members did not
change costs a few bytes.

Encoding (``pack``): byte 1 (the format), then zlib of the ids in order, each as
``varint(shared prefix with the previous id) varint(length of the rest) rest``. Sorted
ids share long prefixes, so this is about three bytes an id before compression. Sets
recorded before this format (zlib of a JSON list, which starts with byte 0x78) are read
as they are.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Final, Protocol

FULL_EVERY: Final = 30  # a whole set at least every 30 recordings of a cohort
FORMAT: Final = 1


def _varint(value: int, out: bytearray) -> None:
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)


def _read_varint(data: bytes, at: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, at
        shift += 7


def pack(ids: Iterable[str]) -> bytes:
    """The ids (sorted and made unique here) in the compact form."""
    out = bytearray()
    previous = b""
    for text in sorted(set(ids)):
        current = text.encode("utf-8")
        shared = 0
        limit = min(len(previous), len(current))
        while shared < limit and previous[shared] == current[shared]:
            shared += 1
        _varint(shared, out)
        _varint(len(current) - shared, out)
        out += current[shared:]
        previous = current
    return bytes([FORMAT]) + zlib.compress(bytes(out), 6)


def unpack(blob: bytes) -> list[str]:
    """The sorted ids of ``pack``'s form (or of the older JSON form)."""
    if not blob or blob[0] != FORMAT:
        return sorted(json.loads(zlib.decompress(blob).decode("utf-8")))
    data = zlib.decompress(blob[1:])
    ids: list[str] = []
    previous = b""
    at = 0
    while at < len(data):
        shared, at = _read_varint(data, at)
        length, at = _read_varint(data, at)
        current = previous[:shared] + data[at : at + length]
        at += length
        ids.append(current.decode("utf-8"))
        previous = current
    return ids


class Stored(Protocol):
    """The columns of a recording this module reads."""

    @property
    def members(self) -> bytes | None: ...
    @property
    def entered(self) -> bytes | None: ...
    @property
    def exited(self) -> bytes | None: ...


@dataclass(frozen=True)
class Blobs:
    """What to store for a new recording."""

    members: bytes | None
    entered: bytes | None
    exited: bytes | None


def encode(previous: set[str] | None, since_full: int, current: Sequence[str]) -> Blobs:
    """The blobs of a recording of ``current`` after one of ``previous`` (None: the first
    recording), ``since_full`` recordings after the last whole set."""
    if previous is None:
        return Blobs(pack(current), None, None)
    now = set(current)
    whole = pack(current) if since_full + 1 >= FULL_EVERY else None
    return Blobs(whole, pack(now - previous), pack(previous - now))


@dataclass(frozen=True)
class Step:
    """One recording of a chain: its set, and the change from the one before (None on
    the first)."""

    members: frozenset[str]
    entered: frozenset[str] | None
    exited: frozenset[str] | None


def replay(chain: Sequence[Stored]) -> Iterator[Step]:
    """The sets of a chain of recordings (oldest first, starting at a whole set)."""
    current: frozenset[str] | None = None
    for row in chain:
        if row.entered is not None and row.exited is not None and current is not None:
            entered, exited = frozenset(unpack(row.entered)), frozenset(unpack(row.exited))
            current = (current - exited) | entered
            yield Step(current, entered, exited)
        elif row.members is not None:
            whole = frozenset(unpack(row.members))
            if current is None:
                yield Step(whole, None, None)
            else:  # a whole set recorded without its diff (the older form)
                yield Step(whole, whole - current, current - whole)
            current = whole
        else:
            raise ValueError("a recorded member set without its earlier whole set")


def since_full(chain: Sequence[Stored]) -> int:
    """How many recordings of ``chain`` (oldest first) follow its last whole set."""
    count = 0
    for row in reversed(chain):
        if row.members is not None:
            return count
        count += 1
    return count
