"""The study views' DeletionAreas on its own, over a stand-in service: each photo sent
once, then named by its id, and sent again only when the service has forgotten it."""

import grpc
import numpy as np

from maskscope.v1 import classifier_pb2 as pb
from web_client import create_app
from web_client.faithfulness import DEFAULT_STEPS
from web_client.study.definition import parse
from web_client.study.views import DeletionAreas

STUDY = parse({"id": "s", "title": "t", "consent": "c", "photos": ["photo.png"], "steps": [{"kind": "before"}]})


class NotFound(grpc.RpcError):
    def code(self):
        return grpc.StatusCode.NOT_FOUND

    def details(self):
        return "no image with that id"


class Unary:
    """A stub's method as web_client.inference calls it: .future(request, ...).result()."""

    def __init__(self, answer):
        self.answer = answer

    def future(self, request, timeout=None, metadata=()):
        outer = self

        class Done:
            def result(self):
                return outer.answer(request)
        return Done()


class Service:
    """Answers every Classify; forgets the photo once, after `forget_after` calls by id."""

    metadata = ()

    def __init__(self, forget_after: int | None = None):
        self.uploads = self.by_id = 0
        self.forget_after = forget_after
        self.Classify = Unary(self.classify)

    def for_photo(self, request):
        return self

    def classify(self, request):
        if request.WhichOneof("source") == "image":
            self.uploads += 1
        else:
            self.by_id += 1
            if self.by_id == self.forget_after:
                raise NotFound()
        hidden = request.mask != b""
        return pb.ClassifyResponse(image_id="ab" * 32, image_width=64, image_height=64,
                                   predictions=[pb.Prediction(class_index=3, probability=0.9)],
                                   tracked=[pb.Prediction(class_index=3, probability=0.5 if hidden else 0.9)])


def measure(service: Service, tmp_path, maps: int = 3):
    (tmp_path / "photo.png").write_bytes(b"\x89PNG not really")
    app = create_app({"TESTING": True, "DATABASE_URL": f"sqlite:///{tmp_path / 's.db'}"})
    app.extensions["maskscope_inference"] = service
    with app.app_context():
        areas = DeletionAreas(STUDY)
        values = np.arange(16, dtype=float).reshape(4, 4)
        results = [areas(str(tmp_path / "photo.png"), values, (0, 0, 64, 64)) for _ in range(maps)]
    return areas, results


def test_a_photo_is_sent_once_and_its_random_order_measured_once(tmp_path):
    service = Service()
    areas, results = measure(service, tmp_path)
    assert service.uploads == 1
    assert service.by_id == (3 + 1) * (DEFAULT_STEPS + 1)  # three maps and one random baseline
    assert len(areas.random) == 1 and all(0 <= r <= 1 for r in results)


def test_a_photo_the_service_forgot_is_sent_again(tmp_path):
    service = Service(forget_after=5)
    _, results = measure(service, tmp_path, maps=1)
    assert service.uploads == 2 and len(results) == 1
