"""The benchmark's workload: painting masks, never-seen photos, the C++ load generator's file."""

import io
import struct

from PIL import Image

from bench.workload import load_workload, uncached_requests, unique_photo, write_requests_file
from maskscope.photos import photo_id
from maskscope.v1 import classifier_pb2 as pb
from tests.conftest import ROOT

SAMPLES = ROOT / "build" / "bench" / "samples"


def test_a_unique_photo_has_the_same_pixels_and_a_new_id():
    photo = load_workload(SAMPLES)[0].image
    variants = [unique_photo(photo, n) for n in (1, 2)]
    assert len({photo_id(v) for v in [photo, *variants]}) == 3
    assert all(Image.open(io.BytesIO(v)).tobytes() == Image.open(io.BytesIO(photo)).tobytes() for v in variants)


def test_uncached_requests_never_repeat_a_photo():
    requests = uncached_requests(load_workload(SAMPLES)[1], 0)
    ids = {photo_id(pb.ClassifyRequest.FromString(next(requests)).image) for _ in range(30)}
    assert len(ids) == 30


def test_the_load_generators_file_holds_each_clients_upload_then_its_masks_by_id(tmp_path):
    workload = load_workload(SAMPLES)
    path = write_requests_file(tmp_path / "requests.bin", 3, workload)
    data, position = path.read_bytes(), 4
    assert struct.unpack_from("<I", data)[0] == 3
    for client in range(3):
        (count,) = struct.unpack_from("<I", data, position)
        position += 4
        requests = []
        for _ in range(count):
            (length,) = struct.unpack_from("<I", data, position)
            requests.append(pb.ClassifyRequest.FromString(data[position + 4:position + 4 + length]))
            position += 4 + length
        interaction = workload[client]
        assert requests[0].image == interaction.image and count == 1 + len(interaction.masks)
        assert {r.image_id for r in requests[1:]} == {photo_id(interaction.image)}
        assert requests[1].mask == interaction.masks[client], "each client starts at its own mask"
    assert position == len(data)
