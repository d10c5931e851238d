"""maskscope/fills.py: a fill's name, its protobuf value and back, and the two plain colours."""

from maskscope.fills import BY_NAME, COLOURS, NAME_OF, NAMES
from maskscope.v1 import classifier_pb2 as pb


def test_every_fill_has_a_value_and_back_and_unspecified_is_gray():
    assert set(BY_NAME) == set(NAMES) and len(set(BY_NAME.values())) == len(NAMES)
    assert all(NAME_OF[BY_NAME[name]] == name for name in NAMES)
    assert NAME_OF[pb.FILL_UNSPECIFIED] == "gray"
    assert COLOURS["gray"] == (124, 116, 104)  # ImageNet's mean colour, the least informative
