"""web_client/study/assignment.py: permuted blocks, balanced and the same for the same seed."""

from collections import Counter

import pytest

from web_client.study.assignment import block_order, condition_for

NAMES = ["paint", "paint+map", "map", "none"]


@pytest.mark.parametrize("block", [4, 8, 12])
def test_every_complete_block_holds_each_condition_equally(block):
    for seed in range(20):
        sequence = [condition_for(i, NAMES, block, seed) for i in range(block * 5)]
        for start in range(0, len(sequence), block):
            assert Counter(sequence[start:start + block]) == {name: block // 4 for name in NAMES}


def test_forty_joins_in_blocks_of_four_are_ten_each_and_an_unfinished_block_is_off_by_at_most_one():
    assert Counter(condition_for(i, NAMES, 4, 2026) for i in range(40)) == {name: 10 for name in NAMES}
    counts = Counter(condition_for(i, NAMES, 8, 2026) for i in range(43))
    assert max(counts.values()) - min(counts.values()) <= 2 and sum(counts.values()) == 43


def test_the_same_seed_gives_the_same_sequence_and_another_seed_another():
    first = [condition_for(i, NAMES, 4, 11) for i in range(40)]
    assert first == [condition_for(i, NAMES, 4, 11) for i in range(40)]
    assert first != [condition_for(i, NAMES, 4, 12) for i in range(40)]
    # Blocks are shuffled apart: not one order repeated (the next condition is not guessable).
    assert len({tuple(block_order(b, NAMES, 4, 11)) for b in range(10)}) > 1


def test_the_sequence_is_fixed_across_pythons_and_machines():
    """String seeds are hashed by SHA-512 in random.Random: this list is the same everywhere (a
    changed algorithm would reassign a running study's next participants)."""
    assert [condition_for(i, NAMES, 4, 7) for i in range(8)] == [
        "none", "map", "paint+map", "paint", "paint+map", "none", "map", "paint"]


def test_one_condition_and_bad_blocks():
    assert {condition_for(i, ["all"], 1, 0) for i in range(10)} == {"all"}
    with pytest.raises(ValueError, match="cannot hold 4 conditions equally"):
        condition_for(0, NAMES, 6, 0)
    with pytest.raises(ValueError, match="0 or more"):
        condition_for(-1, NAMES, 4, 0)
