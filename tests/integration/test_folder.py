"""Many photos at once: the Python client's search and run_folder, and the CLI's `search` and
`folder`, against the real server with the real model."""

import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from maskscope.folder import run_folder
from maskscope.photos import PhotoError
from maskscope.processes import ROOT
from tests.integration.test_client_library import client  # noqa: F401 (a fixture)


@pytest.fixture
def folder(tmp_path, photo_png):
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("coffee", "chelsea", "rocket"):
        (photos / f"{name}.png").write_bytes(photo_png[name])
    (photos / "broken.jpg").write_bytes(b"not a photo at all")
    (photos / "notes.txt").write_text("not a photo, and not taken for one")
    return photos


def test_a_search_from_python_flips_and_its_mask_shows_it(client, photo_png):
    found = client.search(photo_png["coffee"], goal="flip")
    assert found.found and found.label == "espresso" and found.top.label != "espresso"
    assert found.hidden.shape == (400, 600) and 0 < found.hidden.mean() < 0.5
    assert client.classify(photo_png["coffee"], found.hidden).top.label == found.top.label
    assert "turns espresso" in str(found) and "<img src='data:image/png;base64," in found._repr_html_()


def test_a_search_over_the_callers_regions(client, photo_png):
    regions = np.zeros((400, 600), np.uint8)
    regions[:, 300:] = 1
    found = client.search(photo_png["coffee"], goal="keep", regions=regions)
    assert found.minimal and found.region_count == 2 and set(found.regions) <= {0, 1}
    with pytest.raises(PhotoError, match="regions are 10x10 but the image is 600x400"):
        client.search(photo_png["coffee"], regions=np.zeros((10, 10), np.uint8))
    with pytest.raises(PhotoError, match="whole numbers from 0 to 255"):
        client.search(photo_png["coffee"], regions=np.full((400, 600), 300))
    own = client.regions(photo_png["coffee"])
    assert own.shape == (400, 600) and own.max() > 20


def test_a_rule_over_a_folder_says_what_survives(client, folder):
    run = run_folder(client, folder, rule="outside-centre")
    assert [r.name for r in run.rows] == ["broken.jpg", "chelsea.png", "coffee.png", "rocket.png"]
    broken, *done = run.rows
    assert "could not be read" in broken.error and len(run.done) == 3
    for row in done:  # each row's verdict is what the service says, asked again here
        photo = folder / row.name
        before = client.classify(photo)
        width, height = Image.open(photo).size
        side = min(width, height) // 2
        mask = np.ones((height, width), bool)
        mask[(height - side) // 2:(height - side) // 2 + side, (width - side) // 2:(width - side) // 2 + side] = False
        after = client.classify(photo, mask)
        assert row.survived == (after.top.class_index == before.top.class_index)
        assert row.area == pytest.approx(mask.mean())
    ordered = [r.name for r in run.sorted_rows()]
    drops = {r.name: r.probability - r.class_after for r in done}
    assert ordered[:3] == sorted(drops, key=lambda n: -drops[n]) and ordered[-1] == "broken.jpg"
    assert f"the class survives in {run.survived} ({run.survived / 3:.0%})" in run.summary()


def test_the_cli_writes_one_report_sorted_by_effect(server, folder, tmp_path):
    out = tmp_path / "report.html"
    done = subprocess.run([sys.executable, "-m", "inference_service.client", "folder", str(folder), "--search", "flip",
                           "--out", str(out), "--addr", server.address], capture_output=True, text=True, cwd=ROOT,
                          timeout=600)
    assert done.returncode == 0, done.stderr
    report = out.read_text()
    assert report.count("class='card'") == 4 and "flip search over 3 photos" in report
    assert report.index("coffee.png") > report.index("chelsea.png")  # 5% flips it, chelsea's cat far less
    assert "could not be read" in report and report.index("broken.jpg") > report.index("coffee.png")
    assert report.count("data:image/jpeg;base64,") == 3


def test_the_cli_refuses_what_it_cannot_run(server, folder, tmp_path):
    def cli(*args):
        return subprocess.run([sys.executable, "-m", "inference_service.client", *args, "--addr", server.address],
                              capture_output=True, text=True, cwd=ROOT, timeout=120)

    assert "unknown rule 'sideways'" in cli("folder", str(folder), "--rule", "sideways").stderr
    assert "is not a folder" in cli("folder", str(tmp_path / "nowhere"), "--search", "flip").stderr
    bad = cli("search", str(folder / "coffee.png"), "--max-classifications", "999999")
    assert bad.returncode == 1 and "INVALID_ARGUMENT: max_classifications must be between 1 and" in bad.stderr
    found = cli("search", str(folder / "coffee.png"), "--keep", "--mask-out", str(tmp_path / "kept.png"),
                "--max-classifications", "300")
    assert found.returncode == 0 and "keeping only" in found.stdout and (tmp_path / "kept.png").exists()
