"""Compact member sets: the encoding round-trips, and a chain of recordings (diffs with a
whole set every ``FULL_EVERY``) gives back every recorded set and every diff exactly."""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass

from hypothesis import given, settings
from hypothesis import strategies as st

from cohortd.intelligence import member_sets
from cohortd.intelligence.member_sets import FULL_EVERY, encode, pack, replay, since_full, unpack

ids = st.text(alphabet="abcxyz_019é", min_size=1, max_size=12)


@given(st.lists(ids, max_size=200))
def test_pack_round_trips(values: list[str]) -> None:
    assert unpack(pack(values)) == sorted(set(values))


def test_pack_is_compact_on_sorted_ids() -> None:
    # 10,000 ids "cus_00000000".."cus_00009999": shared prefixes leave ~3 bytes an id
    # before zlib; the result is far under the 120,000 bytes of the text itself
    values = [f"cus_{n:08d}" for n in range(10_000)]
    blob = pack(values)
    assert unpack(blob) == values
    assert len(blob) < 20_000


def test_older_json_sets_are_read() -> None:
    legacy = zlib.compress(json.dumps(["b", "a"]).encode())
    assert unpack(legacy) == ["a", "b"]


@dataclass
class Row:
    members: bytes | None
    entered: bytes | None
    exited: bytes | None


@settings(max_examples=40, deadline=None)
@given(st.lists(st.sets(st.sampled_from([f"c{n}" for n in range(12)])), min_size=1, max_size=70))
def test_a_chain_replays_every_set_and_diff(sets: list[set[str]]) -> None:
    chain: list[Row] = []
    previous: set[str] | None = None
    for current in sets:
        blobs = encode(previous, since_full(chain) if chain else 0, sorted(current))
        chain.append(Row(blobs.members, blobs.entered, blobs.exited))
        previous = current
    # whole sets: the first recording, then at least one every FULL_EVERY recordings
    wholes = [i for i, r in enumerate(chain) if r.members is not None]
    assert wholes[0] == 0
    assert all(b - a <= FULL_EVERY for a, b in zip(wholes, [*wholes[1:], len(chain)], strict=True))
    steps = list(replay(chain))
    assert [set(s.members) for s in steps] == sets
    assert steps[0].entered is None
    for before, after, step in zip(sets, sets[1:], steps[1:], strict=False):
        assert (step.entered, step.exited) == (after - before, before - after)
    # from the last whole set on, as a run reads it, the last set is the same
    last = max(wholes)
    *_, tail = replay(chain[last:])
    assert set(tail.members) == sets[-1]
    assert since_full(chain) == len(chain) - 1 - last
    assert chain[0].members[0] == member_sets.FORMAT  # type: ignore[index]
