"""`make bench`'s search section: what the Search RPC finds on the sample photos against two
yardsticks, each computed here with plain Classify calls, apart from the server's search:

- the occlusion baseline: the photo's own regions ranked by the model's occlusion map (Explain,
  the mean drop over each region's pixels), hidden in that order until the class flips;
- the exhaustive optimum on 12 regions (the photo's own merged by k-means on place and colour):
  every set, smallest first, until one flips.

Areas are shares of the model's crop, counted as the service counts them."""

from __future__ import annotations

import itertools
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from maskscope import Client
from maskscope.processes import ROOT, start_inference, stop_process

SAMPLES = ROOT / "web_client" / "static" / "samples"
TWELVE = 12
EXHAUSTIVE_CHUNK = 32  # sets classified at a time while looking for the least that flips


def crop_box(explanation) -> tuple[int, int, int, int]:
    return tuple(int(round(v)) for v in explanation.crop)


def region_areas(labels: np.ndarray, crop: tuple[int, int, int, int]) -> np.ndarray:
    left, top, right, bottom = crop
    counts = np.bincount(labels[top:bottom, left:right].ravel(), minlength=int(labels.max()) + 1)
    return counts / ((right - left) * (bottom - top))


def map_per_region(explanation, labels: np.ndarray) -> np.ndarray:
    """Each region's mean occlusion drop over its pixels inside the crop (the map's cells spread
    over the photo's pixels)."""
    left, top, right, bottom = explanation.crop
    rows, cols = explanation.drop.shape
    height, width = labels.shape
    ys = ((np.arange(height) + 0.5 - top) / (bottom - top) * rows).astype(int)
    xs = ((np.arange(width) + 0.5 - left) / (right - left) * cols).astype(int)
    inside = ((ys >= 0) & (ys < rows))[:, None] & ((xs >= 0) & (xs < cols))[None, :]
    values = explanation.drop[np.clip(ys, 0, rows - 1)[:, None], np.clip(xs, 0, cols - 1)[None, :]]
    count = np.bincount(labels[inside], minlength=int(labels.max()) + 1)
    total = np.bincount(labels[inside], weights=values[inside], minlength=len(count))
    return np.divide(total, count, out=np.full(len(count), -np.inf), where=count > 0)


def first_flip(client: Client, photo, labels: np.ndarray, sets: list[list[int]], class_index: int,
               pool: ThreadPoolExecutor, chunk: int = 16) -> int | None:
    """The index of the first of `sets` (hidden regions) whose hiding makes class_index lose
    top-1, classified `chunk` at a time in order; None if none does. Also returns the count tried."""
    for start in range(0, len(sets), chunk):
        part = sets[start:start + chunk]
        results = list(pool.map(lambda s: client.classify(photo, np.isin(labels, s)).top.class_index, part))
        for offset, top in enumerate(results):
            if top != class_index:
                return start + offset
    return None


def occlusion_baseline(client: Client, photo, labels: np.ndarray, explanation, areas: np.ndarray,
                       pool: ThreadPoolExecutor) -> float | None:
    """The area hidden when following the occlusion map's ranking of regions until the class flips."""
    values = map_per_region(explanation, labels)
    order = [int(r) for r in np.argsort(-values, kind="stable") if areas[r] > 0]
    prefixes = [order[:k] for k in range(1, len(order) + 1)]
    flipped = first_flip(client, photo, labels, prefixes, explanation.class_index, pool)
    return None if flipped is None else float(areas[prefixes[flipped]].sum())


def twelve_regions(labels: np.ndarray, rgb: np.ndarray, seed: int = 0) -> np.ndarray:
    """The photo's own regions merged into 12 by k-means on each region's centre and mean colour."""
    from sklearn.cluster import KMeans

    count = int(labels.max()) + 1
    ys, xs = np.indices(labels.shape)
    sizes = np.maximum(np.bincount(labels.ravel(), minlength=count), 1)
    features = [np.bincount(labels.ravel(), weights=v.ravel(), minlength=count) / sizes
                for v in (ys / labels.shape[0], xs / labels.shape[1], *(rgb[..., c] / 255.0 for c in range(3)))]
    clusters = KMeans(TWELVE, n_init=10, random_state=seed).fit_predict(np.stack(features, 1))
    return clusters[labels].astype(np.uint8)


def exhaustive_flip(client: Client, photo, labels: np.ndarray, areas: np.ndarray, class_index: int,
                    pool: ThreadPoolExecutor) -> tuple[float | None, int]:
    """The least area of any set of the 12 regions that flips the class: every set, smallest first,
    until one does (and the number classified)."""
    regions = [r for r in range(TWELVE) if areas[r] > 0]
    sets = sorted((list(s) for k in range(1, len(regions) + 1) for s in itertools.combinations(regions, k)),
                  key=lambda s: float(areas[s].sum()))
    flipped = first_flip(client, photo, labels, sets, class_index, pool, EXHAUSTIVE_CHUNK)
    tried = len(sets) if flipped is None else (flipped // EXHAUSTIVE_CHUNK + 1) * EXHAUSTIVE_CHUNK
    return (None if flipped is None else float(areas[sets[flipped]].sum())), tried


def run(model_dir: Path, build: Path, model: str = "efficientnet-lite0", server_args: tuple = ()) -> dict:
    """The search section's figures on every sample photo, on a server of its own."""
    from PIL import Image

    service, address = start_inference(model_dir, build / "logs" / "server-search.log", *server_args)
    photos = sorted(SAMPLES.glob("*.jpg"))
    out = {"model": model, "photos": {}}
    try:
        with Client(address, timeout_s=120) as client, ThreadPoolExecutor(16) as pool:
            for path in photos:
                photo = path.read_bytes()
                explanation = client.explain(photo, model=model)
                labels = client.regions(photo)
                areas = region_areas(labels, crop_box(explanation))
                started = time.monotonic()
                flip = client.search(photo, goal="flip", model=model)
                flip_s = time.monotonic() - started
                started = time.monotonic()
                keep = client.search(photo, goal="keep", model=model)
                keep_s = time.monotonic() - started
                baseline = occlusion_baseline(client, photo, labels, explanation, areas, pool)
                figures = {"label": flip.label, "probability": flip.base_probability, "regions": flip.region_count,
                           "flip_area": flip.area if flip.found else None, "flip_minimal": flip.minimal,
                           "flip_classifications": flip.classifications, "flip_s": flip_s,
                           "flip_to": flip.top.label if flip.found else None,
                           "baseline_area": baseline, "keep_area": keep.area if keep.found else None,
                           "keep_classifications": keep.classifications, "keep_s": keep_s}
                if len(out["photos"]) < 5:
                    rgb = np.asarray(Image.open(path).convert("RGB"))
                    twelve = twelve_regions(labels, rgb)
                    twelve_areas = region_areas(twelve, crop_box(explanation))
                    searched = client.search(photo, goal="flip", model=model, regions=twelve)
                    optimum, tried = exhaustive_flip(client, photo, twelve, twelve_areas, flip.class_index, pool)
                    figures["twelve"] = {"search_area": searched.area if searched.found else None,
                                         "search_minimal": searched.minimal,
                                         "search_classifications": searched.classifications,
                                         "optimum_area": optimum, "exhaustive_classified": tried}
                out["photos"][path.stem] = figures
                print(f"[bench] search {path.stem}: {figures}", flush=True)
    finally:
        stop_process(service)
    return out


def checks(result: dict) -> list[tuple[str, float, float, bool, str]]:
    """(name, value, bar, higher is better, note) for the report, from `run`'s figures."""
    photos = result["photos"].values()
    both = [p for p in photos if p["flip_area"] is not None and p["baseline_area"] is not None]
    ours = statistics.mean(p["flip_area"] for p in both) if both else float("inf")
    baseline = statistics.mean(p["baseline_area"] for p in both) if both else 0.0
    twelve = [p["twelve"] for p in photos if "twelve" in p]
    within = sum(1 for t in twelve if t["optimum_area"] is None and t["search_area"] is None
                 or (t["optimum_area"] and t["search_area"] is not None
                     and t["search_area"] <= 1.25 * t["optimum_area"] + 1e-9))
    most = max(p["flip_classifications"] for p in photos)
    return [
        ("search: mean flip area / the occlusion map's ranking", ours / baseline if baseline else float("inf"), 1.0,
         False, f"{ours:.1%} against {baseline:.1%} over {len(both)} photos"),
        ("search: photos within 1.25x of the exhaustive optimum on 12 regions", within, 4, True,
         f"of {len(twelve)}"),
        ("search: the most classifications a flip over the photo's own regions took", most, 2000, False, ""),
    ]
