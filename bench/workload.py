"""The benchmark's workload: real sample photos and brush-stroke masks, as the page sends them."""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from maskscope.photos import photo_id
from inference_service.pipeline.masks import encode_png
from maskscope.v1 import classifier_pb2 as pb

PHOTOS = ("coffee", "chelsea", "astronaut", "rocket", "grace_hopper")


@dataclass(frozen=True)
class Interaction:
    photo: str
    image: bytes  # the photo as the page uploads it (the sample's JPEG)
    masks: tuple[bytes, ...]  # 1-bit PNGs of growing brush strokes, encoded as the page's png.js does


def stroke_masks(width: int, height: int, count: int, seed: int, per_stroke: int = 8) -> list[bytes]:
    """`count` masks of a live painting session: brush strokes dragged across the photo, the mask
    sent every ~90 ms (each adds a short segment, as the page's live mode sends them)."""
    rng = np.random.default_rng(seed)
    canvas = Image.new("1", (width, height), 0)
    draw = ImageDraw.Draw(canvas)
    side = max(width, height)
    brush, step = int(side * 0.07), side * 0.05
    masks = []
    for i in range(count):
        if i % per_stroke == 0:  # a new stroke somewhere in the middle of the photo
            point = np.array([rng.uniform(0.25, 0.75) * width, rng.uniform(0.25, 0.75) * height])
            angle = rng.uniform(0, 2 * np.pi)
        angle += rng.normal(0, 0.4)
        nxt = np.clip(point + step * np.array([np.cos(angle), np.sin(angle)]), 0, [width - 1, height - 1])
        draw.line([tuple(point), tuple(nxt)], fill=1, width=brush)
        for x, y in (point, nxt):  # round caps, as the page's brush has
            draw.ellipse([x - brush / 2, y - brush / 2, x + brush / 2, y + brush / 2], fill=1)
        point = nxt
        masks.append(encode_png(np.asarray(canvas)))
    return masks


def load_workload(samples_dir: Path, masks_per_photo: int = 24) -> list[Interaction]:
    if not all((samples_dir / f"{name}.jpg").exists() for name in PHOTOS):
        from web_client.samples import extract  # needs scikit-image and matplotlib, once
        extract(samples_dir)
    interactions = []
    for i, name in enumerate(PHOTOS):
        data = (samples_dir / f"{name}.jpg").read_bytes()
        width, height = Image.open(io.BytesIO(data)).size
        interactions.append(Interaction(name, data, tuple(stroke_masks(width, height, masks_per_photo, seed=i))))
    return interactions


def full_request(interaction: Interaction, mask_index: int) -> pb.ClassifyRequest:
    return pb.ClassifyRequest(image=interaction.image, mask=interaction.masks[mask_index], fill=pb.FILL_GRAY)


def mask_request(image_id: str, interaction: Interaction, mask_index: int) -> pb.ClassifyRequest:
    return pb.ClassifyRequest(image_id=image_id, mask=interaction.masks[mask_index], fill=pb.FILL_GRAY)


def painting_requests(image_id: str, interaction: Interaction) -> list[bytes]:
    """Every mask of the interaction as a serialized image_id + mask request, in painting order."""
    return [mask_request(image_id, interaction, k).SerializeToString() for k in range(len(interaction.masks))]


def write_requests_file(path: Path, clients: int, workload: list[Interaction]) -> Path:
    """The painting load for bench/loadgen.cc: per client, the photo's upload and then its masks by
    image_id (the id is the photo's SHA-256), each client starting at its own mask as bench.load's do."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as out:
        out.write(struct.pack("<I", clients))
        for index in range(clients):
            interaction = workload[index % len(workload)]
            painting = painting_requests(photo_id(interaction.image), interaction)
            shift = index % len(painting)
            requests = [full_request(interaction, 0).SerializeToString(), *painting[shift:], *painting[:shift]]
            out.write(struct.pack("<I", len(requests)))
            for request in requests:
                out.write(struct.pack("<I", len(request)) + request)
    return path


def unique_photo(photo: bytes, number: int) -> bytes:
    """The JPEG with a comment segment naming `number`: the same pixels, bytes (so an image id) no
    server has seen. For the uncached load: every request a photo arriving for the first time."""
    if photo[:2] != b"\xff\xd8":
        raise ValueError("not a JPEG")
    comment = f"maskscope bench {number:016d}".encode()
    return photo[:2] + b"\xff\xfe" + struct.pack(">H", len(comment) + 2) + comment + photo[2:]


def uncached_requests(interaction: Interaction, first_number: int):
    """Endless full requests (a new photo and one of the masks each), numbered from `first_number`."""
    number = first_number
    while True:
        mask = interaction.masks[number % len(interaction.masks)]
        yield pb.ClassifyRequest(image=unique_photo(interaction.image, number), mask=mask,
                                 fill=pb.FILL_GRAY).SerializeToString()
        number += 1
