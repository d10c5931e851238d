"""Pins the images in deploy/k8s/images, the one place every overlay takes them from.

    python deploy/pin_images.py NAME=REPOSITORY@sha256:DIGEST [...]   pin these (tag dropped)
    python deploy/pin_images.py --check                               exit 1 while one is not pinned

NAME is an image's name in the manifests (maskscope-web, maskscope-inference,
maskscope-inference-cpu, postgres). A digest comes from the build that pushed the image
(`docker buildx build --push --metadata-file web.json ...`: its "containerimage.digest") or from
the registry (`docker buildx imagetools inspect postgres:15`: its "Digest").
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import yaml

COMPONENT = Path(__file__).resolve().parent / "k8s" / "images" / "kustomization.yaml"
PINNED = re.compile(r"^(?P<repository>[a-z0-9][a-z0-9._/:-]*?)(?::[\w][\w.-]{0,127})?@(?P<digest>sha256:[0-9a-f]{64})$")


class PinError(ValueError):
    pass


def pin(images: list[dict], name: str, reference: str) -> None:
    """Points image `name` at `reference` (REPOSITORY[:TAG]@sha256:DIGEST), by digest only."""
    match = PINNED.match(reference)
    if match is None:
        raise PinError(f"{name}={reference}: not REPOSITORY@sha256:<64 hex digits>")
    entry = next((image for image in images if image["name"] == name), None)
    if entry is None:
        raise PinError(f"{name}: no such image (the images are {', '.join(i['name'] for i in images)})")
    entry.pop("newTag", None)
    entry["newName"], entry["digest"] = match["repository"], match["digest"]


def unpinned(images: list[dict]) -> list[str]:
    return [image["name"] for image in images if not str(image.get("digest", "")).startswith("sha256:")]


def write(path: Path, component: dict) -> None:
    text = path.read_text()
    header = "".join(line for line in text.splitlines(keepends=True) if line.startswith("#"))
    path.write_text(header + yaml.safe_dump(component, sort_keys=False))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python deploy/pin_images.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("pins", nargs="*", metavar="NAME=REPOSITORY@sha256:DIGEST")
    parser.add_argument("--check", action="store_true", help="exit 1 while an image has no digest")
    args = parser.parse_args(argv)
    component = yaml.safe_load(COMPONENT.read_text())
    try:
        for item in args.pins:
            name, _, reference = item.partition("=")
            pin(component["images"], name, reference)
    except PinError as exc:
        parser.error(str(exc))
    if args.pins:
        write(COMPONENT, component)
    if args.check and (names := unpinned(component["images"])):
        print(f"not pinned to a digest: {', '.join(names)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
