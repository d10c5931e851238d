from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Fill(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    FILL_UNSPECIFIED: _ClassVar[Fill]
    FILL_GRAY: _ClassVar[Fill]
    FILL_BLACK: _ClassVar[Fill]
    FILL_BLUR: _ClassVar[Fill]
    FILL_NOISE: _ClassVar[Fill]
    FILL_INPAINT: _ClassVar[Fill]
    FILL_IMPUTE: _ClassVar[Fill]

class Priority(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PRIORITY_INTERACTIVE: _ClassVar[Priority]
    PRIORITY_BULK: _ClassVar[Priority]

class SearchGoal(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SEARCH_GOAL_UNSPECIFIED: _ClassVar[SearchGoal]
    SEARCH_GOAL_FLIP: _ClassVar[SearchGoal]
    SEARCH_GOAL_KEEP: _ClassVar[SearchGoal]
FILL_UNSPECIFIED: Fill
FILL_GRAY: Fill
FILL_BLACK: Fill
FILL_BLUR: Fill
FILL_NOISE: Fill
FILL_INPAINT: Fill
FILL_IMPUTE: Fill
PRIORITY_INTERACTIVE: Priority
PRIORITY_BULK: Priority
SEARCH_GOAL_UNSPECIFIED: SearchGoal
SEARCH_GOAL_FLIP: SearchGoal
SEARCH_GOAL_KEEP: SearchGoal

class ClassifyRequest(_message.Message):
    __slots__ = ("model", "image", "image_id", "mask", "fill", "keep_painted", "top_k", "sequence", "track", "priority")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    IMAGE_ID_FIELD_NUMBER: _ClassVar[int]
    MASK_FIELD_NUMBER: _ClassVar[int]
    FILL_FIELD_NUMBER: _ClassVar[int]
    KEEP_PAINTED_FIELD_NUMBER: _ClassVar[int]
    TOP_K_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    TRACK_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    model: str
    image: bytes
    image_id: str
    mask: bytes
    fill: Fill
    keep_painted: bool
    top_k: int
    sequence: int
    track: _containers.RepeatedScalarFieldContainer[int]
    priority: Priority
    def __init__(self, model: _Optional[str] = ..., image: _Optional[bytes] = ..., image_id: _Optional[str] = ..., mask: _Optional[bytes] = ..., fill: _Optional[_Union[Fill, str]] = ..., keep_painted: _Optional[bool] = ..., top_k: _Optional[int] = ..., sequence: _Optional[int] = ..., track: _Optional[_Iterable[int]] = ..., priority: _Optional[_Union[Priority, str]] = ...) -> None: ...

class Prediction(_message.Message):
    __slots__ = ("class_index", "label", "probability")
    CLASS_INDEX_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    PROBABILITY_FIELD_NUMBER: _ClassVar[int]
    class_index: int
    label: str
    probability: float
    def __init__(self, class_index: _Optional[int] = ..., label: _Optional[str] = ..., probability: _Optional[float] = ...) -> None: ...

class Timings(_message.Message):
    __slots__ = ("preprocess_ms", "queue_ms", "inference_ms", "total_ms", "batch_size")
    PREPROCESS_MS_FIELD_NUMBER: _ClassVar[int]
    QUEUE_MS_FIELD_NUMBER: _ClassVar[int]
    INFERENCE_MS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_MS_FIELD_NUMBER: _ClassVar[int]
    BATCH_SIZE_FIELD_NUMBER: _ClassVar[int]
    preprocess_ms: float
    queue_ms: float
    inference_ms: float
    total_ms: float
    batch_size: int
    def __init__(self, preprocess_ms: _Optional[float] = ..., queue_ms: _Optional[float] = ..., inference_ms: _Optional[float] = ..., total_ms: _Optional[float] = ..., batch_size: _Optional[int] = ...) -> None: ...

class Error(_message.Message):
    __slots__ = ("code", "message")
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    code: int
    message: str
    def __init__(self, code: _Optional[int] = ..., message: _Optional[str] = ...) -> None: ...

class ClassifyResponse(_message.Message):
    __slots__ = ("predictions", "model", "image_id", "sequence", "timings", "error", "image_width", "image_height", "tracked")
    PREDICTIONS_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    IMAGE_ID_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    TIMINGS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    IMAGE_WIDTH_FIELD_NUMBER: _ClassVar[int]
    IMAGE_HEIGHT_FIELD_NUMBER: _ClassVar[int]
    TRACKED_FIELD_NUMBER: _ClassVar[int]
    predictions: _containers.RepeatedCompositeFieldContainer[Prediction]
    model: str
    image_id: str
    sequence: int
    timings: Timings
    error: Error
    image_width: int
    image_height: int
    tracked: _containers.RepeatedCompositeFieldContainer[Prediction]
    def __init__(self, predictions: _Optional[_Iterable[_Union[Prediction, _Mapping]]] = ..., model: _Optional[str] = ..., image_id: _Optional[str] = ..., sequence: _Optional[int] = ..., timings: _Optional[_Union[Timings, _Mapping]] = ..., error: _Optional[_Union[Error, _Mapping]] = ..., image_width: _Optional[int] = ..., image_height: _Optional[int] = ..., tracked: _Optional[_Iterable[_Union[Prediction, _Mapping]]] = ...) -> None: ...

class ListModelsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Preprocessing(_message.Message):
    __slots__ = ("resize", "crop", "interpolation", "mean", "std")
    RESIZE_FIELD_NUMBER: _ClassVar[int]
    CROP_FIELD_NUMBER: _ClassVar[int]
    INTERPOLATION_FIELD_NUMBER: _ClassVar[int]
    MEAN_FIELD_NUMBER: _ClassVar[int]
    STD_FIELD_NUMBER: _ClassVar[int]
    resize: int
    crop: int
    interpolation: str
    mean: _containers.RepeatedScalarFieldContainer[float]
    std: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, resize: _Optional[int] = ..., crop: _Optional[int] = ..., interpolation: _Optional[str] = ..., mean: _Optional[_Iterable[float]] = ..., std: _Optional[_Iterable[float]] = ...) -> None: ...

class ModelInfo(_message.Message):
    __slots__ = ("name", "num_labels", "input_size", "preprocessing", "provenance", "pretrained", "is_default", "execution_provider", "sha256", "labels", "max_batch_size", "label_set")
    NAME_FIELD_NUMBER: _ClassVar[int]
    NUM_LABELS_FIELD_NUMBER: _ClassVar[int]
    INPUT_SIZE_FIELD_NUMBER: _ClassVar[int]
    PREPROCESSING_FIELD_NUMBER: _ClassVar[int]
    PROVENANCE_FIELD_NUMBER: _ClassVar[int]
    PRETRAINED_FIELD_NUMBER: _ClassVar[int]
    IS_DEFAULT_FIELD_NUMBER: _ClassVar[int]
    EXECUTION_PROVIDER_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    MAX_BATCH_SIZE_FIELD_NUMBER: _ClassVar[int]
    LABEL_SET_FIELD_NUMBER: _ClassVar[int]
    name: str
    num_labels: int
    input_size: int
    preprocessing: Preprocessing
    provenance: str
    pretrained: bool
    is_default: bool
    execution_provider: str
    sha256: str
    labels: _containers.RepeatedScalarFieldContainer[str]
    max_batch_size: int
    label_set: str
    def __init__(self, name: _Optional[str] = ..., num_labels: _Optional[int] = ..., input_size: _Optional[int] = ..., preprocessing: _Optional[_Union[Preprocessing, _Mapping]] = ..., provenance: _Optional[str] = ..., pretrained: _Optional[bool] = ..., is_default: _Optional[bool] = ..., execution_provider: _Optional[str] = ..., sha256: _Optional[str] = ..., labels: _Optional[_Iterable[str]] = ..., max_batch_size: _Optional[int] = ..., label_set: _Optional[str] = ...) -> None: ...

class ListModelsResponse(_message.Message):
    __slots__ = ("models", "default_model")
    MODELS_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_MODEL_FIELD_NUMBER: _ClassVar[int]
    models: _containers.RepeatedCompositeFieldContainer[ModelInfo]
    default_model: str
    def __init__(self, models: _Optional[_Iterable[_Union[ModelInfo, _Mapping]]] = ..., default_model: _Optional[str] = ...) -> None: ...

class ExplainRequest(_message.Message):
    __slots__ = ("model", "image", "image_id", "mask", "fill", "keep_painted", "class_index", "patch_size", "stride")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    IMAGE_ID_FIELD_NUMBER: _ClassVar[int]
    MASK_FIELD_NUMBER: _ClassVar[int]
    FILL_FIELD_NUMBER: _ClassVar[int]
    KEEP_PAINTED_FIELD_NUMBER: _ClassVar[int]
    CLASS_INDEX_FIELD_NUMBER: _ClassVar[int]
    PATCH_SIZE_FIELD_NUMBER: _ClassVar[int]
    STRIDE_FIELD_NUMBER: _ClassVar[int]
    model: str
    image: bytes
    image_id: str
    mask: bytes
    fill: Fill
    keep_painted: bool
    class_index: int
    patch_size: int
    stride: int
    def __init__(self, model: _Optional[str] = ..., image: _Optional[bytes] = ..., image_id: _Optional[str] = ..., mask: _Optional[bytes] = ..., fill: _Optional[_Union[Fill, str]] = ..., keep_painted: _Optional[bool] = ..., class_index: _Optional[int] = ..., patch_size: _Optional[int] = ..., stride: _Optional[int] = ...) -> None: ...

class OcclusionMap(_message.Message):
    __slots__ = ("rows", "cols", "drop", "class_index", "label", "base_probability", "crop_left", "crop_top", "crop_right", "crop_bottom", "patch_size", "stride", "occluded_copies", "model", "image_id", "image_width", "image_height")
    ROWS_FIELD_NUMBER: _ClassVar[int]
    COLS_FIELD_NUMBER: _ClassVar[int]
    DROP_FIELD_NUMBER: _ClassVar[int]
    CLASS_INDEX_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    BASE_PROBABILITY_FIELD_NUMBER: _ClassVar[int]
    CROP_LEFT_FIELD_NUMBER: _ClassVar[int]
    CROP_TOP_FIELD_NUMBER: _ClassVar[int]
    CROP_RIGHT_FIELD_NUMBER: _ClassVar[int]
    CROP_BOTTOM_FIELD_NUMBER: _ClassVar[int]
    PATCH_SIZE_FIELD_NUMBER: _ClassVar[int]
    STRIDE_FIELD_NUMBER: _ClassVar[int]
    OCCLUDED_COPIES_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    IMAGE_ID_FIELD_NUMBER: _ClassVar[int]
    IMAGE_WIDTH_FIELD_NUMBER: _ClassVar[int]
    IMAGE_HEIGHT_FIELD_NUMBER: _ClassVar[int]
    rows: int
    cols: int
    drop: _containers.RepeatedScalarFieldContainer[float]
    class_index: int
    label: str
    base_probability: float
    crop_left: float
    crop_top: float
    crop_right: float
    crop_bottom: float
    patch_size: int
    stride: int
    occluded_copies: int
    model: str
    image_id: str
    image_width: int
    image_height: int
    def __init__(self, rows: _Optional[int] = ..., cols: _Optional[int] = ..., drop: _Optional[_Iterable[float]] = ..., class_index: _Optional[int] = ..., label: _Optional[str] = ..., base_probability: _Optional[float] = ..., crop_left: _Optional[float] = ..., crop_top: _Optional[float] = ..., crop_right: _Optional[float] = ..., crop_bottom: _Optional[float] = ..., patch_size: _Optional[int] = ..., stride: _Optional[int] = ..., occluded_copies: _Optional[int] = ..., model: _Optional[str] = ..., image_id: _Optional[str] = ..., image_width: _Optional[int] = ..., image_height: _Optional[int] = ...) -> None: ...

class ExplainResponse(_message.Message):
    __slots__ = ("done", "total", "map")
    DONE_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    MAP_FIELD_NUMBER: _ClassVar[int]
    done: int
    total: int
    map: OcclusionMap
    def __init__(self, done: _Optional[int] = ..., total: _Optional[int] = ..., map: _Optional[_Union[OcclusionMap, _Mapping]] = ...) -> None: ...

class SegmentsRequest(_message.Message):
    __slots__ = ("image", "image_id")
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    IMAGE_ID_FIELD_NUMBER: _ClassVar[int]
    image: bytes
    image_id: str
    def __init__(self, image: _Optional[bytes] = ..., image_id: _Optional[str] = ...) -> None: ...

class SegmentsResponse(_message.Message):
    __slots__ = ("image_id", "image_width", "image_height", "count", "labels")
    IMAGE_ID_FIELD_NUMBER: _ClassVar[int]
    IMAGE_WIDTH_FIELD_NUMBER: _ClassVar[int]
    IMAGE_HEIGHT_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    image_id: str
    image_width: int
    image_height: int
    count: int
    labels: bytes
    def __init__(self, image_id: _Optional[str] = ..., image_width: _Optional[int] = ..., image_height: _Optional[int] = ..., count: _Optional[int] = ..., labels: _Optional[bytes] = ...) -> None: ...

class SearchRequest(_message.Message):
    __slots__ = ("model", "image", "image_id", "goal", "class_index", "fill", "mask", "regions", "keep_share", "max_classifications")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    IMAGE_ID_FIELD_NUMBER: _ClassVar[int]
    GOAL_FIELD_NUMBER: _ClassVar[int]
    CLASS_INDEX_FIELD_NUMBER: _ClassVar[int]
    FILL_FIELD_NUMBER: _ClassVar[int]
    MASK_FIELD_NUMBER: _ClassVar[int]
    REGIONS_FIELD_NUMBER: _ClassVar[int]
    KEEP_SHARE_FIELD_NUMBER: _ClassVar[int]
    MAX_CLASSIFICATIONS_FIELD_NUMBER: _ClassVar[int]
    model: str
    image: bytes
    image_id: str
    goal: SearchGoal
    class_index: int
    fill: Fill
    mask: bytes
    regions: bytes
    keep_share: float
    max_classifications: int
    def __init__(self, model: _Optional[str] = ..., image: _Optional[bytes] = ..., image_id: _Optional[str] = ..., goal: _Optional[_Union[SearchGoal, str]] = ..., class_index: _Optional[int] = ..., fill: _Optional[_Union[Fill, str]] = ..., mask: _Optional[bytes] = ..., regions: _Optional[bytes] = ..., keep_share: _Optional[float] = ..., max_classifications: _Optional[int] = ...) -> None: ...

class SearchResult(_message.Message):
    __slots__ = ("goal", "found", "regions", "area", "minimal", "class_index", "label", "base_probability", "predictions", "probability", "hidden", "classifications", "region_count", "model", "image_id", "image_width", "image_height")
    GOAL_FIELD_NUMBER: _ClassVar[int]
    FOUND_FIELD_NUMBER: _ClassVar[int]
    REGIONS_FIELD_NUMBER: _ClassVar[int]
    AREA_FIELD_NUMBER: _ClassVar[int]
    MINIMAL_FIELD_NUMBER: _ClassVar[int]
    CLASS_INDEX_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    BASE_PROBABILITY_FIELD_NUMBER: _ClassVar[int]
    PREDICTIONS_FIELD_NUMBER: _ClassVar[int]
    PROBABILITY_FIELD_NUMBER: _ClassVar[int]
    HIDDEN_FIELD_NUMBER: _ClassVar[int]
    CLASSIFICATIONS_FIELD_NUMBER: _ClassVar[int]
    REGION_COUNT_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    IMAGE_ID_FIELD_NUMBER: _ClassVar[int]
    IMAGE_WIDTH_FIELD_NUMBER: _ClassVar[int]
    IMAGE_HEIGHT_FIELD_NUMBER: _ClassVar[int]
    goal: SearchGoal
    found: bool
    regions: _containers.RepeatedScalarFieldContainer[int]
    area: float
    minimal: bool
    class_index: int
    label: str
    base_probability: float
    predictions: _containers.RepeatedCompositeFieldContainer[Prediction]
    probability: float
    hidden: bytes
    classifications: int
    region_count: int
    model: str
    image_id: str
    image_width: int
    image_height: int
    def __init__(self, goal: _Optional[_Union[SearchGoal, str]] = ..., found: _Optional[bool] = ..., regions: _Optional[_Iterable[int]] = ..., area: _Optional[float] = ..., minimal: _Optional[bool] = ..., class_index: _Optional[int] = ..., label: _Optional[str] = ..., base_probability: _Optional[float] = ..., predictions: _Optional[_Iterable[_Union[Prediction, _Mapping]]] = ..., probability: _Optional[float] = ..., hidden: _Optional[bytes] = ..., classifications: _Optional[int] = ..., region_count: _Optional[int] = ..., model: _Optional[str] = ..., image_id: _Optional[str] = ..., image_width: _Optional[int] = ..., image_height: _Optional[int] = ...) -> None: ...

class SearchResponse(_message.Message):
    __slots__ = ("done", "budget", "best_area", "result")
    DONE_FIELD_NUMBER: _ClassVar[int]
    BUDGET_FIELD_NUMBER: _ClassVar[int]
    BEST_AREA_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    done: int
    budget: int
    best_area: float
    result: SearchResult
    def __init__(self, done: _Optional[int] = ..., budget: _Optional[int] = ..., best_area: _Optional[float] = ..., result: _Optional[_Union[SearchResult, _Mapping]] = ...) -> None: ...
