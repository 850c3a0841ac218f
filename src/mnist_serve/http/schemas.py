"""Every JSON body this server reads or writes, declared once; the OpenAPI components come from here.

Bodies are TypedDicts (they are the dicts the handlers build) with a description per field, read
by pydantic's `TypeAdapter` to make JSON Schema. Nothing here runs per request: the hand-tuned
parsers stay the gatekeepers, and `tests/http/test_schemas.py` checks over HTTP that they agree
with these declarations (schema-valid bodies are answered 2xx, schema-invalid ones 4xx).

What only the loaded server knows (model and tensor names, the batch limit) is marked with
`Fill(...)` and filled in by `components()`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal, NotRequired

from pydantic import ConfigDict, Field, TypeAdapter, with_config
from pydantic.json_schema import GenerateJsonSchema
from typing_extensions import TypeAliasType, TypedDict

from mnist_serve.data import IMAGE_SHAPE, N_CLASSES, N_PIXELS
from mnist_serve.http.tensors import LABEL_OUTPUT, V2_DTYPES
from mnist_serve.http.tfserving import DEFAULT_SIGNATURE, LABEL_SIGNATURE
from mnist_serve.http.v2 import EXTENSIONS

REF_PREFIX = "#/components/schemas/"
FILL = "x-fill"
ROWS, COLS = IMAGE_SHAPE


@dataclass(frozen=True)
class Facts:
    """What the document says that depends on the loaded models and the settings."""

    seed_names: list[str]  # the seed's answer keys (no ensemble)
    input_names: list[str]
    output_names: list[str]
    max_batch: int


class Fill:
    """A schema part known only once the models are loaded: `components()` fills it in."""

    def __init__(self, what: str) -> None:
        self.what = what

    def __get_pydantic_json_schema__(self, core_schema: Any, handler: Any) -> dict[str, Any]:
        return {**handler(core_schema), FILL: self.what}


class OneOf:
    """A union whose members exclude each other: say so (`oneOf`), as pydantic says `anyOf`."""

    def __get_pydantic_json_schema__(self, core_schema: Any, handler: Any) -> dict[str, Any]:
        schema = handler(core_schema)
        return {"oneOf": schema.pop("anyOf"), **schema}


def _excludes(*keys: str) -> ConfigDict:
    """Object config: a body form that must not also carry the other form's key."""
    return ConfigDict(
        use_attribute_docstrings=True, json_schema_extra={"not": {"required": list(keys)}}
    )


def _extra_items(kind: Any, **schema: Any) -> ConfigDict:
    """Object config: any other key is allowed when its value is a `kind` (plus `schema`)."""
    extra = {"additionalProperties": TypeAdapter(kind).json_schema(), **schema}
    return ConfigDict(use_attribute_docstrings=True, json_schema_extra=extra)


DOCS = ConfigDict(use_attribute_docstrings=True)

# --- values -------------------------------------------------------------------------------------

Pixel = Annotated[float, Field(ge=0, le=255, description="A grey level, 0 (paper) to 255 (ink).")]
Digit = Annotated[int, Field(ge=0, le=N_CLASSES - 1)]
Probability = Annotated[float, Field(ge=0, le=1)]
Probabilities = Annotated[
    list[Probability],
    Field(min_length=N_CLASSES, max_length=N_CLASSES, description="One per digit 0..9, sum 1."),
]
Scalar = str | float | bool
Image = TypeAliasType(
    "Image",
    Annotated[
        Annotated[list[Pixel], Field(min_length=N_PIXELS, max_length=N_PIXELS)]
        | Annotated[
            list[Annotated[list[Pixel], Field(min_length=COLS, max_length=COLS)]],
            Field(min_length=ROWS, max_length=ROWS),
        ],
        Field(description="784 grey levels 0..255, flat or as 28 rows of 28."),
        OneOf(),
    ],
)
Images = Annotated[list[Image], Field(min_length=1), Fill("max_batch")]
Batch = Annotated[int, Field(ge=1), Fill("max_batch")]
InputName = Annotated[str, Fill("input_names")]
OutputName = Annotated[str, Fill("output_names")]

# --- errors and health ----------------------------------------------------------------------------


@with_config(ConfigDict(use_attribute_docstrings=True, extra="allow"))
class Error(TypedDict):
    """Every error answer: what is wrong, and where; more keys may say more."""

    error: Annotated[
        str, Field(examples=["image_vector[3] is out of range: pixel values must be 0..255"])
    ]
    """What is wrong, in a sentence that says what to send instead."""
    field: NotRequired[str]
    """The request field at fault, e.g. `image_vectors[2]` or `inputs[0].shape`."""
    max_batch: NotRequired[int]
    """The most images one request may carry (a 413 for too large a batch)."""
    limit_bytes: NotRequired[int]
    """The body limit in bytes (a 413 for too large a body)."""


@with_config(DOCS)
class Live(TypedDict):
    status: Literal["alive"]
    """Always `alive`: the process answers."""


@with_config(DOCS)
class LoadedModel(TypedDict):
    name: str
    version: str


@with_config(DOCS)
class RefusedVersion(TypedDict):
    name: str
    version: str
    reason: str
    """The file that failed and why (sha256 mismatch, missing, not loadable)."""


@with_config(DOCS)
class Ready(TypedDict):
    status: Literal["ready"]
    models: list[LoadedModel]
    """The served version of every model in the repository, loaded, verified and warmed."""
    refused: list[RefusedVersion]
    """Versions on disk that failed verification or loading (never served)."""


# --- the seed endpoint ----------------------------------------------------------------------------


@with_config(_excludes("image_vectors"))
class SeedOne(TypedDict):
    """One image; the answer is one object."""

    image_vector: Image


@with_config(_excludes("image_vector"))
class SeedBatch(TypedDict):
    """A batch; the answer is a list, one object per image."""

    image_vectors: Images


SeedRequest = TypeAliasType("SeedRequest", Annotated[SeedOne | SeedBatch, OneOf()])


@with_config(DOCS)
class ModelAnswer(TypedDict):
    predicted_number: Annotated[Digit, Field(examples=[7])]
    """The most probable digit."""
    confidence: NotRequired[Annotated[Probability, Field(examples=[0.998])]]
    """Its probability (absent with `?output=labels`)."""
    probabilities: NotRequired[Probabilities]
    """All ten (absent with `?output=labels`)."""


@with_config(ConfigDict(json_schema_extra={FILL: "seed_models"}))
class SeedAnswer(TypedDict):
    """One `ModelAnswer` per model of the repository, under the model's name."""


SeedResponse = TypeAliasType(
    "SeedResponse",
    Annotated[
        SeedAnswer | list[SeedAnswer],
        Field(description="An object for `image_vector` (or one raw image), a list for a batch."),
        OneOf(),
    ],
)


@with_config(DOCS)
class DecodedImage(TypedDict):
    format: Annotated[str, Field(examples=["PNG"])]
    """The format read from the bytes (not from the Content-Type)."""
    width: Annotated[int, Field(ge=1)]
    height: Annotated[int, Field(ge=1)]
    inverted: bool
    """Whether dark ink on light paper was inverted to MNIST's light on dark."""


@with_config(ConfigDict(use_attribute_docstrings=True, json_schema_extra={FILL: "seed_models"}))
class ImageAnswer(TypedDict):
    """The seed's answer (a `ModelAnswer` per model) plus what the models saw."""

    image_vector: Annotated[
        list[
            Annotated[
                list[Annotated[int, Field(ge=0, le=255)]], Field(min_length=COLS, max_length=COLS)
            ]
        ],
        Field(min_length=ROWS, max_length=ROWS),
    ]
    """The 28x28 grey levels sent to the models."""
    image: DecodedImage


# --- KServe V2 -----------------------------------------------------------------------------------

V2Parameters = TypeAliasType("V2Parameters", dict[str, Scalar])
# Request `parameters`: any scalar, but the shared memory extension's keys are refused.
V2_PARAMETERS = _extra_items(Scalar, propertyNames={"not": {"pattern": "^shared_memory"}})


@with_config(DOCS)
class V2ServerMetadata(TypedDict):
    name: str
    version: str
    extensions: list[Literal[tuple(EXTENSIONS)]]  # type: ignore[valid-type]


@with_config(DOCS)
class V2MetadataTensor(TypedDict):
    name: str
    datatype: str
    shape: list[int]
    """-1 for the batch dimension."""


@with_config(DOCS)
class V2ModelMetadata(TypedDict):
    name: str
    versions: NotRequired[list[str]]
    platform: str
    inputs: list[V2MetadataTensor]
    outputs: list[V2MetadataTensor]
    parameters: NotRequired[V2Parameters]


@with_config(V2_PARAMETERS)
class V2InputParameters(TypedDict):
    binary_data_size: NotRequired[Annotated[int, Field(ge=0)]]
    """Bytes of this tensor in the binary part of the body (instead of `data`)."""


@with_config(
    ConfigDict(
        use_attribute_docstrings=True,
        json_schema_extra={
            "oneOf": [
                {"required": ["data"]},
                {
                    "required": ["parameters"],
                    "properties": {"parameters": {"required": ["binary_data_size"]}},
                },
            ]
        },
    )
)
class V2RequestInput(TypedDict):
    """Exactly one of `data` or `parameters.binary_data_size`."""

    name: InputName
    datatype: Literal[tuple(V2_DTYPES)]  # type: ignore[valid-type]
    shape: Annotated[
        tuple[Batch, Literal[N_PIXELS]] | tuple[Batch, Literal[ROWS], Literal[COLS]],
        Field(description="`[n, 784]` or `[n, 28, 28]`."),
        OneOf(),
    ]
    parameters: NotRequired[V2InputParameters]
    data: NotRequired[
        Annotated[
            list[Pixel | list[Pixel | list[Pixel]]],
            Field(description="Row-major values, flat or nested like the shape."),
        ]
    ]


@with_config(V2_PARAMETERS)
class V2OutputParameters(TypedDict):
    binary_data: NotRequired[bool]
    """Send this output as raw bytes after the JSON part."""
    classification: NotRequired[Annotated[int, Field(ge=0, le=N_CLASSES)]]
    """Top k classes as `"<probability>:<digit>"` strings instead of the probabilities."""


@with_config(V2_PARAMETERS)
class V2LabelParameters(TypedDict):
    binary_data: NotRequired[bool]
    classification: NotRequired[Literal[0]]
    """The label output has no top k."""


@with_config(DOCS)
class V2ProbabilitiesOutput(TypedDict):
    name: OutputName
    parameters: NotRequired[V2OutputParameters]


@with_config(DOCS)
class V2LabelOutput(TypedDict):
    name: Literal[LABEL_OUTPUT]  # type: ignore[valid-type]
    parameters: NotRequired[V2LabelParameters]


V2RequestOutput = TypeAliasType(
    "V2RequestOutput",
    Annotated[
        V2ProbabilitiesOutput | V2LabelOutput,
        Field(description="`classification` (top k) applies to the probabilities output only."),
        OneOf(),
    ],
)


@with_config(V2_PARAMETERS)
class V2RequestParameters(TypedDict):
    binary_data_output: NotRequired[bool]
    """Every output as raw bytes unless the output says otherwise."""


@with_config(DOCS)
class V2InferenceRequest(TypedDict):
    id: NotRequired[str]
    """Echoed in the response."""
    parameters: NotRequired[V2RequestParameters]
    inputs: Annotated[list[V2RequestInput], Field(min_length=1, max_length=1)]
    outputs: NotRequired[Annotated[list[V2RequestOutput], Field(min_length=1)]]
    """Default: the probabilities and the label."""


@with_config(DOCS)
class V2ResponseParameters(TypedDict):
    binary_data_size: NotRequired[Annotated[int, Field(ge=0)]]


@with_config(DOCS)
class V2ResponseOutput(TypedDict):
    name: str
    datatype: Literal["FP32", "INT64", "BYTES"]
    shape: list[Annotated[int, Field(ge=0)]]
    parameters: NotRequired[V2ResponseParameters]
    data: NotRequired[list[float | str]]
    """Absent when the output is sent as binary data."""


@with_config(DOCS)
class V2InferenceResponse(TypedDict):
    model_name: str
    model_version: NotRequired[str]
    id: NotRequired[str]
    outputs: list[V2ResponseOutput]


# --- TF Serving ----------------------------------------------------------------------------------

TFSignatureName = TypeAliasType("TFSignatureName", Literal[DEFAULT_SIGNATURE, LABEL_SIGNATURE])  # type: ignore[valid-type]
NamedImage = Annotated[
    dict[InputName, Image],
    Field(min_length=1, max_length=1, description="The image under the model's input name."),
]
NamedImages = Annotated[
    dict[InputName, Images],
    Field(min_length=1, max_length=1, description="The batch under the model's input name."),
]


@with_config(_excludes("inputs"))
class TFRowRequest(TypedDict):
    """Row format: one entry per image; the answer is `predictions`."""

    signature_name: NotRequired[TFSignatureName]
    instances: Annotated[list[Image | NamedImage], Field(min_length=1), Fill("max_batch")]


@with_config(_excludes("instances"))
class TFColumnRequest(TypedDict):
    """Columnar format: the whole batch at once; the answer is `outputs`."""

    signature_name: NotRequired[TFSignatureName]
    inputs: Images | NamedImages


TFPredictRequest = TypeAliasType(
    "TFPredictRequest", Annotated[TFRowRequest | TFColumnRequest, OneOf()]
)


@with_config(_extra_items(Probabilities))
class TFLabelledRow(TypedDict):
    label: Digit
    """The predicted digit (signature `with_label`); the probabilities sit under their name."""


@with_config(_extra_items(list[Probabilities]))
class TFLabelledColumns(TypedDict):
    label: list[Digit]


@with_config(DOCS)
class TFRowResponse(TypedDict):
    predictions: list[Probabilities | TFLabelledRow]


@with_config(DOCS)
class TFColumnResponse(TypedDict):
    outputs: list[Probabilities] | TFLabelledColumns


TFPredictResponse = TypeAliasType(
    "TFPredictResponse", Annotated[TFRowResponse | TFColumnResponse, OneOf()]
)


@with_config(DOCS)
class TFStatus(TypedDict):
    error_code: NotRequired[str]
    error_message: NotRequired[str]


@with_config(DOCS)
class TFVersionStatus(TypedDict):
    version: str
    state: Literal["AVAILABLE", "END"]
    """`END`: a version that was refused at load; its status says why."""
    status: TFStatus


@with_config(DOCS)
class TFModelStatus(TypedDict):
    model_version_status: list[TFVersionStatus]


@with_config(DOCS)
class TFDim(TypedDict):
    size: NotRequired[str]
    """-1 for the batch dimension (a string, as TF Serving sends int64)."""
    name: NotRequired[str]


@with_config(DOCS)
class TFTensorShape(TypedDict):
    dim: NotRequired[list[TFDim]]
    unknown_rank: NotRequired[bool]


@with_config(DOCS)
class TFTensorInfo(TypedDict):
    dtype: Annotated[str, Field(examples=["DT_FLOAT"])]
    name: str
    tensor_shape: TFTensorShape


@with_config(DOCS)
class TFSignature(TypedDict):
    inputs: dict[str, TFTensorInfo]
    outputs: dict[str, TFTensorInfo]
    method_name: str


@with_config(DOCS)
class TFSignatureDefs(TypedDict):
    signature_def: NotRequired[dict[str, TFSignature]]


@with_config(DOCS)
class TFMetadata(TypedDict):
    signature_def: NotRequired[TFSignatureDefs]


@with_config(DOCS)
class TFModelSpec(TypedDict):
    name: str
    signature_name: NotRequired[str]
    version: str


@with_config(DOCS)
class TFModelMetadata(TypedDict):
    model_spec: TFModelSpec
    metadata: TFMetadata


# Every top-level body: its component name is the declaration's name.
BODIES: tuple[Any, ...] = (
    Error,
    Live,
    Ready,
    SeedRequest,
    ModelAnswer,
    SeedAnswer,
    SeedResponse,
    ImageAnswer,
    V2ServerMetadata,
    V2ModelMetadata,
    V2InferenceRequest,
    V2InferenceResponse,
    TFModelStatus,
    TFModelMetadata,
    TFPredictRequest,
    TFPredictResponse,
)

# --- JSON Schema -> OpenAPI components ------------------------------------------------------------


class _NoTitles(GenerateJsonSchema):
    """No `title` per field and model: component names and descriptions say it already."""

    def field_title_should_be_set(self, schema: Any) -> bool:
        return False

    def typed_dict_schema(self, schema: Any) -> dict[str, Any]:
        out = super().typed_dict_schema(schema)
        out.pop("title", None)
        return out


def _walk(node: Any, visit: Any) -> Any:
    """Apply `visit` to every schema object, innermost first (property names are not schemas)."""
    if isinstance(node, list):
        return [_walk(item, visit) for item in node]
    if not isinstance(node, dict):
        return node
    out = {}
    for key, value in node.items():
        if key in ("properties", "$defs"):
            out[key] = {name: _walk(sub, visit) for name, sub in value.items()}
        elif key in ("examples", "enum", "const", "default", "required"):
            out[key] = value
        else:
            out[key] = _walk(value, visit)
    return visit(out)


def _filler(facts: Facts) -> Any:
    def fill(schema: dict[str, Any]) -> dict[str, Any]:
        what = schema.pop(FILL, None)
        if what == "max_batch":
            schema["maxItems" if schema.get("type") == "array" else "maximum"] = facts.max_batch
        elif what in ("input_names", "output_names"):
            schema["enum"] = getattr(facts, what)
        elif what == "seed_models":
            answer = {"$ref": REF_PREFIX + "ModelAnswer"}
            schema["properties"] = {
                **dict.fromkeys(facts.seed_names, answer),
                **schema.get("properties", {}),
            }
            schema["required"] = [*facts.seed_names, *schema.get("required", [])]
        elif what is not None:
            raise ValueError(f"unknown {FILL} {what!r}")
        return schema

    return fill


def _type_list(schema: dict[str, Any]) -> dict[str, Any]:
    """`anyOf` of bare types (`str | float | bool`, `int | None`) -> one `type` list.

    OpenAPI 3.1 schemas are JSON Schema 2020-12, where `null` is a type: an optional value comes
    out as `"type": ["integer", "null"]` (3.0's `nullable: true` does not exist in 3.1).
    """
    options = schema.get("anyOf")
    if options and all(len(o) == 1 and isinstance(o.get("type"), str) for o in options):
        schema.pop("anyOf")
        schema["type"] = [o["type"] for o in options]
    return schema


def components(
    facts: Facts, openapi_version: str = "3.1.0", bodies: tuple[Any, ...] = BODIES
) -> dict[str, Any]:
    """`components.schemas` for this server: every body above, and what they refer to.

    pydantic writes JSON Schema 2020-12, which OpenAPI 3.1 schemas are; 3.0 (no `const`,
    `prefixItems` or type lists) would need more rewriting than `_type_list`, so it is refused.
    """
    if not openapi_version.startswith("3.1."):
        raise ValueError(f"schemas are written for OpenAPI 3.1, not {openapi_version}")
    _, top = TypeAdapter.json_schemas(
        [(body, "validation", TypeAdapter(body)) for body in bodies],
        ref_template=REF_PREFIX + "{model}",
        schema_generator=_NoTitles,
    )
    schemas = _walk(_walk(top["$defs"], _filler(facts)), _type_list)
    return dict(sorted(schemas.items()))


def example_image() -> list[int]:
    """A "1": a vertical stroke, two pixels wide with soft edges, 784 grey levels row by row."""
    image = [[0] * COLS for _ in range(ROWS)]
    for r in range(5, 23):
        image[r][12:16] = [128, 255, 255, 128]
    return [v for row in image for v in row]


# The request bodies that have an example in `request_examples`.
EXAMPLES = ("SeedRequest", "V2InferenceRequest", "TFPredictRequest")


def request_examples(input_name: str, output_name: str) -> dict[str, Any]:
    """A request per format (a drawn "1"), so "Try it out" on /docs works as it stands."""
    image = example_image()
    return {
        "SeedRequest": {"summary": "One image", "value": {"image_vector": image}},
        "V2InferenceRequest": {
            "summary": "One uint8 image; the label and the top 3 classes",
            "value": {
                "id": "example-1",
                "inputs": [
                    {"name": input_name, "shape": [1, N_PIXELS], "datatype": "UINT8", "data": image}
                ],
                "outputs": [
                    {"name": LABEL_OUTPUT},
                    {"name": output_name, "parameters": {"classification": 3}},
                ],
            },
        },
        "TFPredictRequest": {
            "summary": "One image, row format, with the label",
            "value": {"signature_name": LABEL_SIGNATURE, "instances": [image]},
        },
    }
