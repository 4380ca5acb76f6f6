"""``AnswerCache``: bounded in bytes, least recently used out first, counted."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from cohortd.api.cache import AnswerCache


def test_least_recently_used_goes_first() -> None:
    cache = AnswerCache(max_bytes=10)
    cache.put("a", b"aaaa")  # 4 bytes
    cache.put("b", b"bbbb")  # 8
    assert cache.get("a") == b"aaaa"  # a is now the most recent
    cache.put("c", b"cccc")  # 12 > 10: b, the least recent, goes
    assert cache.get("b") is None
    assert cache.get("a") == b"aaaa" and cache.get("c") == b"cccc"
    assert (cache.bytes, len(cache), cache.evictions) == (8, 2, 1)
    assert (cache.hits, cache.misses) == (3, 1)


def test_an_answer_larger_than_the_cache_is_not_kept() -> None:
    cache = AnswerCache(max_bytes=3)
    cache.put("a", b"abcd")
    assert cache.get("a") is None and cache.bytes == 0


def test_zero_bytes_turns_it_off() -> None:
    cache = AnswerCache(max_bytes=0)
    cache.put("a", b"x")
    assert cache.get("a") is None and len(cache) == 0


def test_replacing_a_key_counts_its_bytes_once() -> None:
    cache = AnswerCache(max_bytes=100)
    cache.put("a", b"12345")
    cache.put("a", b"12")
    assert cache.bytes == 2 and cache.get("a") == b"12"


@settings(max_examples=200, deadline=None)
@given(
    limit=st.integers(0, 64),
    steps=st.lists(
        st.tuples(st.booleans(), st.integers(0, 8), st.binary(max_size=20)), max_size=60
    ),
)
def test_bounded_and_equal_to_a_plain_lru(limit: int, steps: list[tuple[bool, int, bytes]]) -> None:
    """Against a slow obvious model (a list, most recent last): same answers, and the
    bytes held never exceed the bound and always equal the sum of what is held."""
    cache = AnswerCache(max_bytes=limit)
    model: list[tuple[int, bytes]] = []
    for is_put, key, body in steps:
        if is_put:
            if len(body) <= limit:
                model = [(k, v) for k, v in model if k != key] + [(key, body)]
                while sum(len(v) for _, v in model) > limit:
                    model.pop(0)
            cache.put(key, body)
        else:
            found = next((v for k, v in model if k == key), None)
            if found is not None:
                model = [(k, v) for k, v in model if k != key] + [(key, found)]
            assert cache.get(key) == found
        assert cache.bytes == sum(len(v) for _, v in model) <= limit
        assert len(cache) == len(model)
