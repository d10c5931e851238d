"""maskscope.folder's pure parts: mask rules, the order of a report, its summary, which files are photos."""

from pathlib import Path

import numpy as np
import pytest

from maskscope.folder import FolderRun, Row, photos_in, rule_mask


def test_the_centre_rules_hide_a_centred_square_or_all_but_it():
    centre = rule_mask("centre", 8, 4)
    assert centre.shape == (4, 8) and centre.sum() == 4 and centre[1:3, 3:5].all()
    assert np.array_equal(rule_mask("outside-centre", 8, 4), ~centre)


def test_a_region_rule_hides_that_region():
    regions = np.array([[0, 1], [2, 1]], np.uint8)
    assert rule_mask("region:1", 2, 2, lambda: regions).tolist() == [[False, True], [False, True]]


@pytest.mark.parametrize("rule", ["sideways", "region:", "region:x", "region:-1"])
def test_unknown_rules_are_refused(rule):
    with pytest.raises(ValueError, match="unknown rule"):
        rule_mask(rule, 2, 2, lambda: np.zeros((2, 2), np.uint8))


def row(name, survived, area=0.1, probability=0.9, after=0.5, error=""):
    return Row(name, Path(name), "cat", probability, "dog", 0.6, after, survived, area, error=error)


def test_a_flip_report_puts_the_smallest_flips_first_and_the_unflipped_after():
    run = FolderRun("flip search", "m", "gray", [row("a", True, 0.0), row("b", False, 0.3), row("c", False, 0.05),
                                                 row("d", False, error="broken")], 1.0)
    assert [r.name for r in run.sorted_rows()] == ["c", "b", "a", "d"]
    assert run.summary().startswith("flip search over 3 photos: the class survives in 1 (33%); median area 17.5%")


def test_a_rule_report_puts_the_largest_drop_first():
    run = FolderRun("rule centre", "m", "gray", [row("a", True, after=0.8), row("b", False, after=0.1),
                                                 row("c", True, after=0.5)], 1.0)
    assert [r.name for r in run.sorted_rows()] == ["b", "c", "a"]
    assert "the class survives in 2 (67%)" in run.summary()


def test_only_photos_are_taken_from_a_folder(tmp_path):
    for name in ("b.JPG", "a.png", "notes.txt", "c.webp"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "sub.png").mkdir()
    assert [p.name for p in photos_in(tmp_path)] == ["a.png", "b.JPG", "c.webp"]
    with pytest.raises(FileNotFoundError):
        photos_in(tmp_path / "missing")


def test_a_folder_past_the_photo_limit_and_concurrency_out_of_range_are_refused(tmp_path, monkeypatch):
    from maskscope import folder
    for i in range(4):
        (tmp_path / f"{i}.png").write_bytes(b"x")
    monkeypatch.setattr(folder, "MAX_PHOTOS", 3)
    with pytest.raises(ValueError, match="holds 4 photos; one run takes at most 3"):
        folder.photos_in(tmp_path)
    for concurrency in (0, 65):
        with pytest.raises(ValueError, match="concurrency must be between 1 and 64"):
            folder.run_folder(None, tmp_path, rule="centre", concurrency=concurrency)
    with pytest.raises(ValueError, match="give either search"):
        folder.run_folder(None, tmp_path)
