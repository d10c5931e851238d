"""Which condition a participant is in: balanced random assignment by permuted blocks. Pure: the
join's number, the conditions, the block size and the study's seed in, a condition's name out.

Each block of `block` participants in the order they joined holds every condition the same number
of times (block / len(conditions)), in an order shuffled by a generator seeded with the study's
seed and the block's number: the same study gives the same sequence on any machine (the seed is
in summary.json, so the assignment can be recomputed), every complete block is balanced, and the
next participant's condition cannot be guessed from the last ones within a block of two or more.
"""

from __future__ import annotations

import random
from typing import Sequence


def block_order(number: int, names: Sequence[str], block: int, seed: int) -> list[str]:
    """Block `number`'s conditions, in the order its participants get them."""
    if block <= 0 or block % len(names):
        raise ValueError(f"a block of {block} cannot hold {len(names)} conditions equally")
    order = list(names) * (block // len(names))
    # A string seed: random.Random hashes it with SHA-512, the same on every Python and platform.
    random.Random(f"{seed}:{number}").shuffle(order)
    return order


def condition_for(index: int, names: Sequence[str], block: int, seed: int) -> str:
    """The condition of the `index`-th participant to join (0-based)."""
    if index < 0:
        raise ValueError(f"a join's number is 0 or more, not {index}")
    return block_order(index // block, names, block, seed)[index % block]
