"""`make bench`'s search section: what the Search RPC finds on the sample photos against two
yardsticks, each computed here with plain Classify calls, apart from the server's search:

- the occlusion baseline: the photo's own regions ranked by the model's occlusion map (Explain,
  the mean drop over each region's pixels), hidden in that order until the class flips;
- the exhaustive optimum on 12 regions (the photo's own merged by k-means on place and colour):
  every set, smallest first, until one flips.

Areas are shares of the model's crop, counted as the service counts them."""

from __future__ import annotations

import itertools
import os
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from bench import raw
from bench.workload import load_workload, unique_photo
from maskscope import Client
from maskscope.maps import cell_of_pixels
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
    over the photo's pixels, as maskscope.maps places them)."""
    height, width = labels.shape
    rows, cols, inside_y, inside_x = cell_of_pixels(explanation.crop, *explanation.drop.shape, width, height)
    inside = inside_y[:, None] & inside_x[None, :]
    values = explanation.drop[rows[:, None], cols[None, :]]
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


def folder_parts_s(model_dir: Path, folder: Path, rule: str, seconds: float = 2.0) -> dict[str, float]:
    """Core-seconds per photo (one thread, this one) of what a rule's folder run asks of the
    service: decoding, the photo's first input (no mask), its second (the rule's mask, on the
    photo now cached), as the service makes them."""
    from inference_service.pipeline.image_cache import CachedImage
    from inference_service.pipeline.preprocess import decode_image
    from inference_service.runtimes.metadata import ModelMetadata
    from maskscope.folder import rule_mask
    from maskscope.limits import MAX_IMAGE_PIXELS
    from maskscope.photos import mask_png

    spec = ModelMetadata.load(model_dir).preprocessing
    paths = sorted(folder.iterdir())
    decode = first = second = 0.0
    photos, end = 0, time.monotonic() + seconds
    while time.monotonic() < end or photos == 0:
        data = paths[photos % len(paths)].read_bytes()
        t0 = time.thread_time()
        rgb = decode_image(data, MAX_IMAGE_PIXELS)
        t1 = time.thread_time()
        inputs = CachedImage("0" * 64, rgb).inputs(spec)
        inputs.input_for(b"", "gray", False)
        t2 = time.thread_time()
        mask = mask_png(rule_mask(rule, rgb.shape[1], rgb.shape[0]))
        t3 = time.thread_time()
        inputs.input_for(mask, "gray", False)
        t4 = time.thread_time()
        decode, first, second, photos = decode + t1 - t0, first + t2 - t1, second + t4 - t3, photos + 1
    return {"decode_s": decode / photos, "first_input_s": first / photos, "second_input_s": second / photos}


def folder_limit(cores: int, parts: dict[str, float], model_images_per_s: float) -> float:
    """Photos a second `cores` cores could take a rule's folder run through if a photo cost only
    its decoding, its two inputs and two model runs at the model's best batch."""
    return cores / (parts["decode_s"] + parts["first_input_s"] + parts["second_input_s"]
                    + 2 * cores / model_images_per_s)


def folder_throughput(models: Path, name: str, build: Path, samples: Path, turns: int = 3, photos: int = 192,
                      concurrency: int = 16, rule: str = "outside-centre", raw_s: float = 1.5,
                      server_args: tuple = ()) -> dict:
    """The CLI's folder run (run_folder, a rule: two Classify calls a photo) over folders of photos
    the server has never seen, in turns; with each, in this process, the limit's parts (decoding,
    both inputs, and raw onnxruntime at the sweep's two best batch sizes)."""
    from maskscope.folder import run_folder

    model_dir = models / name
    batches = raw.best_batches(raw.measure(model_dir, seconds_each=raw_s), 2)
    workload = load_workload(samples)
    service, address = start_inference(models, build / "logs" / f"server-folder-{name}.log", *server_args)
    out = {"cores": os.cpu_count(), "rule": rule, "photos": photos, "concurrency": concurrency, "turns": []}
    try:
        with Client(address, timeout_s=120) as client:
            run_folder(client, _new_folder(build, workload, 16, 1 << 40), rule=rule, concurrency=concurrency)  # warm
            for turn in range(turns):
                folder = _new_folder(build, workload, photos, (turn + 2) << 40)
                started = time.monotonic()
                run = run_folder(client, folder, rule=rule, concurrency=concurrency)
                seconds = time.monotonic() - started
                failed = [r.error for r in run.rows if r.error]
                out["turns"].append({"photos_per_s": photos / seconds, "failed": len(failed),
                                     "parts": folder_parts_s(model_dir, folder, rule),
                                     "raw": {f"batch {b}": raw.images_per_s(model_dir, b, seconds=raw_s)
                                             for b in batches}})
                print(f"[bench] folder run turn {turn}: {out['turns'][-1]}", flush=True)
    finally:
        stop_process(service)
    return out


def _new_folder(build: Path, workload, count: int, first_number: int) -> Path:
    """A folder of `count` photos (the samples, each made a new file) the server has not seen."""
    folder = build / "folder-run"
    if folder.exists():
        for old in folder.iterdir():
            old.unlink()
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        interaction = workload[i % len(workload)]
        (folder / f"{i:05d}-{interaction.photo}.jpg").write_bytes(unique_photo(interaction.image, first_number + i))
    return folder


def folder_checks(result: dict) -> tuple[str, list[tuple[str, float, float, bool, str]]]:
    """The folder run's line and its check: photos a second over the limit, each part at its best turn."""
    turns = result["turns"]
    best = {key: min(t["parts"][key] for t in turns) for key in turns[0]["parts"]}
    way = max(turns[0]["raw"], key=lambda w: sum(t["raw"][w] for t in turns))
    rate = max(t["raw"][way] for t in turns)
    limit = folder_limit(result["cores"], best, rate)
    served = statistics.mean(t["photos_per_s"] for t in turns)
    text = (f"folder run ({result['rule']}, two Classify calls a photo, {result['photos']} new photos a turn, "
            f"{result['concurrency']} in flight): " + " / ".join(f"{t['photos_per_s']:.1f}" for t in turns)
            + f" photos/s; the limit {limit:.1f} photos/s ({result['cores']} cores / (decode "
            f"{best['decode_s'] * 1e3:.2f} + inputs {best['first_input_s'] * 1e3:.2f} + "
            f"{best['second_input_s'] * 1e3:.2f} ms + 2 x the model at {rate:.0f} img/s, {way}))")
    failed = sum(t["failed"] for t in turns)
    return text, [("folder run: photos a second / the limit", served / limit, 0.9, True, ""),
                  ("folder run: photos that failed", failed, 0, False, "")]


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
