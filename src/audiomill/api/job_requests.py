"""The request shapes of ``POST /api/v1/jobs``, derived from the kinds' specs.

One pydantic model per kind (``kind`` literal, the kind's own params model, its named
inputs as asset ids), joined in a union discriminated on ``kind``: the API validates with
it and OpenAPI documents every parameter of every kind from it. Multipart requests (files
sent with the job) are read into the same shape.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, create_model
from starlette.datastructures import FormData, UploadFile

from audiomill import kinds
from audiomill.errors import InvalidInput
from audiomill.jobs.service import Upload
from audiomill.kinds import KindSpec

JOB_CREATE_SCHEMA = "JobCreate"


def all_specs(extra_kinds: Mapping[str, str]) -> tuple[KindSpec, ...]:
    specs = dict(kinds.KINDS)
    for name, module in extra_kinds.items():
        specs.setdefault(name, kinds.extra_kind_spec(name, module))
    return tuple(specs[name] for name in sorted(specs))


def _camel(name: str) -> str:
    return "".join(part.capitalize() for part in name.replace("-", "_").split("_"))


def _inputs_model(spec: KindSpec) -> type[BaseModel]:
    if any(item.name == "*" for item in spec.inputs):  # a family: inputs named by the caller
        return create_model(f"{_camel(spec.name)}Inputs", __config__=ConfigDict(extra="allow"))
    fields: dict[str, Any] = {}
    for item in spec.inputs:
        description = f"id of an uploaded {item.media} asset (POST /api/v1/assets)"
        if item.description:
            description = f"{item.description}: {description}"
        if item.required:
            fields[item.name] = (str, Field(description=description))
        else:
            fields[item.name] = (str | None, Field(default=None, description=description))
    return create_model(f"{_camel(spec.name)}Inputs", __config__=ConfigDict(extra="forbid"), **fields)


def _request_model(spec: KindSpec) -> type[BaseModel]:
    inputs = _inputs_model(spec)
    inputs_field: Any = (
        (inputs, Field(description="the kind's inputs by name"))
        if any(i.required for i in spec.inputs)
        else (
            inputs,
            Field(
                default_factory=inputs,
                description="none: this kind needs no file" if not spec.inputs else "the kind's inputs by name",
            ),
        )
    )
    model = create_model(
        f"{_camel(spec.name)}JobCreate",
        __config__=ConfigDict(extra="forbid", title=f"{spec.name} job"),
        __doc__=spec.summary,
        kind=(Literal[spec.name], Field(description=spec.summary)),  # type: ignore[arg-type]
        params=(spec.params, Field(default_factory=spec.params, description=f"parameters of {spec.name}")),
        inputs=inputs_field,
    )
    return model


@lru_cache(maxsize=8)
def job_create_adapter(specs: tuple[KindSpec, ...]) -> TypeAdapter[Any]:
    models = tuple(_request_model(spec) for spec in specs)
    union: Any = models[0] if len(models) == 1 else Annotated[Union[models], Field(discriminator="kind")]  # noqa: UP007
    return TypeAdapter(union)


@dataclass
class JobRequest:
    """A validated request: what service.create_job takes."""

    kind: str
    params: dict[str, Any]
    input_assets: dict[str, str] = field(default_factory=dict)
    uploads: list[Upload] | dict[str, Upload] = field(default_factory=list)


def _problems(exc: ValidationError, specs: tuple[KindSpec, ...]) -> str:
    parts = []
    for err in exc.errors():
        # The first step of a location in a discriminated union is the kind itself.
        steps = [str(p) for p in err["loc"]]
        if steps and steps[0] in {s.name for s in specs}:
            steps = steps[1:]
        location = ".".join(steps) or "body"
        if err["type"] == "extra_forbidden":
            parts.append(f"{location}: unknown field")
        elif err["type"] == "missing" and location == "inputs":
            spec = next((s for s in specs if s.name == str(err["loc"][0])), None)
            needed = ", ".join(spec.input_names) if spec else "the kind's inputs"
            parts.append(f"inputs: missing; give asset ids for {needed} (POST /api/v1/assets)")
        else:
            parts.append(f"{location}: {err['msg']}")
    return "; ".join(parts)


def parse_json(body: Any, specs: tuple[KindSpec, ...]) -> JobRequest:
    if not isinstance(body, dict):
        raise InvalidInput("the request body must be a JSON object with kind, params and inputs")
    known = ", ".join(s.name for s in specs)
    if "kind" not in body:
        raise InvalidInput(f"kind: missing; known kinds: {known}")
    if body["kind"] not in {s.name for s in specs}:
        raise InvalidInput(f"kind: {body['kind']!r} is not a job kind; known kinds: {known}")
    try:
        request = job_create_adapter(specs).validate_python(body)
    except ValidationError as exc:
        raise InvalidInput(_problems(exc, specs)) from None
    inputs = {k: v for k, v in request.inputs.model_dump().items() if v is not None}
    return JobRequest(request.kind, request.params.model_dump(mode="json", exclude_unset=True), inputs)


def _json_field(form: FormData, name: str) -> Any:
    raw = form.get(name)
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    if not isinstance(raw, str):
        raise InvalidInput(f"{name} must be a form field holding JSON, not a file")
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"{name} must be a JSON object: {exc.msg} at position {exc.pos}") from None


def _form_value(raw: str) -> Any:
    """A parameter sent as its own form field: JSON lists/objects parsed, the rest left as
    text for the params model to coerce ("320" -> 320 where an int is expected)."""
    text = raw.strip()
    if text[:1] in "[{":
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            return raw
    return raw


def parse_form(form: FormData, specs: tuple[KindSpec, ...]) -> JobRequest:
    """Multipart: ``kind``, optional ``params`` (JSON) and ``inputs`` (JSON of asset ids),
    files as ``file`` (in the kind's input order) or under their input names, and any
    parameter as a form field of its own. Any other field is refused by name."""
    kind = form.get("kind")
    by_name = {s.name: s for s in specs}
    if not isinstance(kind, str) or not kind.strip():
        raise InvalidInput(f"kind: missing; known kinds: {', '.join(by_name)}")
    spec = by_name.get(kind.strip())
    if spec is None:
        raise InvalidInput(f"kind: {kind!r} is not a job kind; known kinds: {', '.join(by_name)}")
    params = _json_field(form, "params") or {}
    if not isinstance(params, dict):
        raise InvalidInput("params must be a JSON object")
    inputs = _json_field(form, "inputs") or {}
    if not isinstance(inputs, dict) or not all(isinstance(v, str) for v in inputs.values()):
        raise InvalidInput('inputs must be a JSON object of input name -> asset id, e.g. {"audio": "<id>"}')
    param_names = set(spec.params.model_fields)
    input_names = set(spec.input_names)
    positional: list[Upload] = []
    named: dict[str, Upload] = {}
    unknown: list[str] = []
    for name, value in form.multi_items():
        if name in ("kind", "params", "inputs"):
            continue
        if isinstance(value, UploadFile):
            if name == "file":
                positional.append(Upload(stream=value.file, filename=value.filename))
            elif name in input_names:
                named[name] = Upload(stream=value.file, filename=value.filename)
            else:
                unknown.append(name)
        elif name in param_names:
            if name in params:
                raise InvalidInput(f"parameter {name!r} was sent both in params and as a form field")
            params[name] = _form_value(value)
        elif name in input_names:
            inputs[name] = value  # an asset id in a field named after the input
        else:
            unknown.append(name)
    if unknown:
        accepted = ["kind", "params", "inputs", "file", *sorted(input_names), *sorted(param_names)]
        raise InvalidInput(
            f"unknown form field(s) {', '.join(map(repr, unknown))} for {spec.name}; accepted: {', '.join(accepted)}"
        )
    if positional and named:
        raise InvalidInput("send files either all as 'file' (in input order) or all under their input names")
    return JobRequest(spec.name, params, dict(inputs), named or positional)


def openapi_components(specs: Iterable[KindSpec]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the JobCreate schema, every schema it refers to) for the OpenAPI document."""
    schema = job_create_adapter(tuple(specs)).json_schema(ref_template="#/components/schemas/{model}")
    definitions = schema.pop("$defs", {})
    return schema, definitions


def multipart_schema(specs: Iterable[KindSpec]) -> dict[str, Any]:
    names = [s.name for s in specs]
    return {
        "type": "object",
        "required": ["kind"],
        "properties": {
            "kind": {"type": "string", "enum": names, "description": "job kind"},
            "params": {
                "type": "string",
                "description": 'JSON object of the kind\'s parameters (see JobCreate), e.g. {"two_stems": "vocals"}; any parameter may also be sent as a form field of its own',
            },
            "inputs": {
                "type": "string",
                "description": "JSON object of input name -> asset id, for inputs uploaded before",
            },
            "file": {
                "type": "array",
                "items": {"type": "string", "format": "binary"},
                "description": "input file(s) in the kind's input order (or send each under its input name)",
            },
        },
    }
