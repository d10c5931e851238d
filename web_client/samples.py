"""Extracts the sample photos (from scikit-image, matplotlib and scikit-learn) for the page's gallery:
animals, objects and places, as the paper's were.

    python -m web_client.samples --out web_client/static/samples
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from PIL import Image

DEFAULT_DIR = Path(__file__).resolve().parent / "static" / "samples"
SAMPLES = {  # name: title shown in the gallery
    "coffee": "Coffee",
    "chelsea": "Chelsea the cat",
    "astronaut": "Astronaut",
    "rocket": "Rocket",
    "grace_hopper": "Grace Hopper",
    "china": "A temple in China",
    "flower": "A flower",
}


def sample_array(name: str) -> np.ndarray:
    if name in ("china", "flower"):
        from sklearn.datasets import load_sample_image
        return load_sample_image(f"{name}.jpg")
    if name == "grace_hopper":
        import matplotlib
        path = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"
        return np.asarray(Image.open(path).convert("RGB"))
    import skimage.data
    return getattr(skimage.data, name)()


def extract(out_dir: Path = DEFAULT_DIR) -> list[dict]:
    """Writes NAME.jpg for every sample and index.json listing them; returns that list."""
    out_dir.mkdir(parents=True, exist_ok=True)
    index = []
    for name, title in SAMPLES.items():
        path = out_dir / f"{name}.jpg"
        if not path.exists():
            Image.fromarray(sample_array(name)).save(path, "JPEG", quality=92)
        index.append({"name": name, "title": title, "file": path.name})
    (out_dir / "index.json").write_text(json.dumps(index, indent=2) + "\n")
    return index


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m web_client.samples", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=DEFAULT_DIR)
    args = parser.parse_args(argv)
    print(f"wrote {len(extract(args.out))} sample photos to {args.out}")


if __name__ == "__main__":
    main()
