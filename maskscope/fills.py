"""Fill names (as flags, JSON and the page use them) and their protobuf enum values."""

from __future__ import annotations

from maskscope.v1 import classifier_pb2 as pb

NAMES = ("gray", "black", "blur", "noise", "inpaint")
BY_NAME = {name: pb.Fill.Value(f"FILL_{name.upper()}") for name in NAMES}
NAME_OF = {**{value: name for name, value in BY_NAME.items()}, pb.FILL_UNSPECIFIED: "gray"}
