"""`make experiments`: the paper's protocol on every sample photo, written to docs/experiments.md.

For each photo: the initial classification; a first interaction that hides everything except the
main object; a second that also hides the object's most important half. The object is found
automatically, from the occlusion map of the class the model first gave (Explain), so nothing
is drawn by hand and the table can be regenerated on any model.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import grpc
import numpy as np

from experiments.protocol import core_cells, mask_png, object_cells
from maskscope.maps import cells_to_pixels
from maskscope.processes import ROOT, start_inference, stop_process
from maskscope.session import hide, jpeg, open_photo
from maskscope.v1 import classifier_pb2 as pb
from maskscope.v1 import classifier_pb2_grpc as pb_grpc
from web_client.samples import SAMPLES, extract

def run_photo(stub, name: str, image: bytes, model: str, out_dir: Path) -> dict:
    first = stub.Classify(pb.ClassifyRequest(image=image, model=model), timeout=60)
    top = first.predictions[0]
    # The service's own patch (an eighth of the model's input) fits any input size.
    explained = list(stub.Explain(pb.ExplainRequest(image_id=first.image_id, model=model, class_index=top.class_index),
                                  timeout=600))[-1].map
    values = np.array(explained.drop, np.float32).reshape(explained.rows, explained.cols)
    crop = (explained.crop_left, explained.crop_top, explained.crop_right, explained.crop_bottom)
    obj = object_cells(values)
    size = (first.image_width, first.image_height)
    outside = ~cells_to_pixels(obj, crop, *size)
    masks = {"first": outside, "second": outside | cells_to_pixels(core_cells(values, obj), crop, *size)}
    row = {"photo": name, "original": (top.label, top.probability), "object_share": float(obj.mean())}
    preview = open_photo(image, width=200)  # decoded once for the three pictures
    (out_dir / f"{name}-original.jpg").write_bytes(jpeg(preview))
    for step, painted in masks.items():
        png = mask_png(painted)
        answer = stub.Classify(pb.ClassifyRequest(image_id=first.image_id, model=model, mask=png,
                                                  track=[top.class_index]), timeout=60)
        row[step] = (answer.predictions[0].label, answer.predictions[0].probability, answer.tracked[0].probability,
                     float(painted.mean()))
        (out_dir / f"{name}-{step}.jpg").write_bytes(jpeg(hide(preview, png, False)))
    return row


def markdown(rows: list[dict], model: str, seconds: float) -> str:
    lines = [
        "# Experiments: the paper's protocol, automated",
        "",
        "`make experiments` (`python -m experiments`) runs, for each sample photo: the **original** classification;",
        "a **first interaction** that hides everything except the main object; a **second interaction** that also",
        "hides the half of the object the model relies on most. The object is not drawn by hand: it is the",
        "region of the original class's occlusion map (`Explain`, patches an eighth of the model's input: 28 px",
        "at 224, stride half a patch, gray fill) where hiding a patch costs at least 35% of the largest drop,",
        "grown by one cell. Hidden pixels are filled with the ImageNet mean gray (shown gray below). Each cell:",
        "top class and its confidence; in brackets, the original class's probability after the interaction.",
        "",
        f"Model **{model}**; {time.strftime('%Y-%m-%d')}; {len(rows)} photos in {seconds:.0f} s.",
        "",
        "| photo | original | first interaction (object only) | second interaction (object's core hidden too) |",
        "|---|---|---|---|",
    ]
    for r in rows:
        o, f, s = r["original"], r["first"], r["second"]
        lines.append(
            f"| {SAMPLES[r['photo']]} | ![]({'experiments/' + r['photo']}-original.jpg)<br>**{o[0]}** {o[1]:.0%} "
            f"| ![]({'experiments/' + r['photo']}-first.jpg)<br>**{f[0]}** {f[1]:.0%} ({o[0]}: {f[2]:.0%}; "
            f"{f[3]:.0%} hidden) "
            f"| ![]({'experiments/' + r['photo']}-second.jpg)<br>**{s[0]}** {s[1]:.0%} ({o[0]}: {s[2]:.0%}; "
            f"{s[3]:.0%} hidden) |")
    kept = sum(r["first"][0] == r["original"][0] for r in rows)
    lost = sum(r["second"][2] < r["original"][1] / 2 for r in rows)
    lines += ["", f"With only the object left, the model kept its original answer on {kept} of {len(rows)} photos; "
              f"hiding the object's core halved the original class's probability on {lost} of {len(rows)}.", ""]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m experiments", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-dir", type=Path, default=ROOT / "models")
    parser.add_argument("--model", default="", help="model to run (default: the server's default)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "experiments.md")
    args = parser.parse_args(argv)
    samples = ROOT / "build" / "experiments" / "samples"
    extract(samples)
    images_dir = args.out.parent / "experiments"
    images_dir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    process, address = start_inference(args.model_dir, ROOT / "build" / "experiments" / "server.log")
    try:
        with grpc.insecure_channel(address) as channel:
            stub = pb_grpc.ClassifierStub(channel)
            model = args.model or stub.ListModels(pb.ListModelsRequest(), timeout=30).default_model
            rows = []
            for name in SAMPLES:
                rows.append(run_photo(stub, name, (samples / f"{name}.jpg").read_bytes(), model, images_dir))
                r = rows[-1]
                print(f"{name}: {r['original'][0]} {r['original'][1]:.0%} -> {r['first'][0]} {r['first'][1]:.0%} "
                      f"-> {r['second'][0]} {r['second'][1]:.0%}", flush=True)
    finally:
        stop_process(process)
    args.out.write_text(markdown(rows, model, time.monotonic() - started))
    print(f"wrote {args.out} and {images_dir}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
