"""Named, independent random streams: the same seed always gives the same numbers.

Each part of the generator draws from its own stream (a purpose name plus chunk keys), so
adding a draw in one place does not shift the numbers of every other place.
"""

from __future__ import annotations

import hashlib
import math

import numpy as np


def _name_key(name: str) -> int:
    # Python's hash() is salted per process; a digest is the same everywhere.
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big")


def stream(seed: int, name: str, *keys: int) -> np.random.Generator:
    """A PCG64 generator for (seed, purpose, chunk keys)."""
    entropy = [seed, _name_key(name), *keys]
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(entropy)))


def customer_numbers(positions: np.ndarray, *, total: int, seed: int) -> np.ndarray:
    """Customer numbers 1..total, a seed-dependent shuffle of sign-up positions 0..total-1.

    An affine map i -> (a*i + b) mod total with gcd(a, total) = 1 is a bijection, so ids
    look scattered (as in real exports) without holding a permutation of `total` items.
    """
    rng = stream(seed, "customer-numbers")
    multiplier = max(1, int(total * 0.618_034) + int(rng.integers(0, 1000)))
    while math.gcd(multiplier, total) != 1:
        multiplier += 1
    offset = int(rng.integers(0, total))
    shuffled = (positions.astype(np.int64) * (multiplier % total) + offset) % total
    return shuffled + 1
