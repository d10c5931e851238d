"""Fills: their names (as flags, JSON and the page use them), protobuf values and colours."""

from __future__ import annotations

from maskscope.v1 import classifier_pb2 as pb

NAMES = ("gray", "black", "blur", "noise", "inpaint", "impute")
# The gray fill: the ImageNet mean colour, (0.485, 0.456, 0.406) * 255, the least informative for
# the model; the black one. One colour each: nothing to compute per photo.
COLOURS = {"gray": (124, 116, 104), "black": (0, 0, 0)}
BY_NAME = {name: pb.Fill.Value(f"FILL_{name.upper()}") for name in NAMES}
NAME_OF = {**{value: name for name, value in BY_NAME.items()}, pb.FILL_UNSPECIFIED: "gray"}
