"""web_client/samples.py: the gallery's photos, written once, and their index."""

import json

from PIL import Image

from web_client.samples import SAMPLES, extract


def test_every_sample_is_written_as_a_jpeg_and_listed(tmp_path):
    index = extract(tmp_path)
    assert [item["name"] for item in index] == list(SAMPLES)
    assert json.loads((tmp_path / "index.json").read_text()) == index
    for item in index:
        with Image.open(tmp_path / item["file"]) as photo:
            assert photo.format == "JPEG" and photo.width * photo.height > 100_000
    first = (tmp_path / index[0]["file"]).stat().st_mtime_ns
    extract(tmp_path)  # written once
    assert (tmp_path / index[0]["file"]).stat().st_mtime_ns == first
