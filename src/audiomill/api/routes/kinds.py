"""/api/v1/kinds: every job kind, its inputs, outputs and parameters (JSON Schema).

The web page builds its forms from this; scripts can discover what a server runs."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel

from audiomill.api.deps import RuntimeDep
from audiomill.api.job_requests import all_specs
from audiomill.errors import NotFound
from audiomill.kinds import KindSpec

router = APIRouter(prefix="/api/v1/kinds", tags=["kinds"])


class InputPublic(BaseModel):
    name: str
    media: str
    required: bool
    description: str


class OutputPublic(BaseModel):
    name: str
    media_type: str
    description: str


class KindPublic(BaseModel):
    name: str
    summary: str
    cli_command: str
    queue: str
    inputs: list[InputPublic]
    outputs: list[OutputPublic]
    params_schema: dict[str, Any]


def kind_public(spec: KindSpec, default_queue: str) -> KindPublic:
    return KindPublic(
        name=spec.name,
        summary=spec.summary,
        cli_command=f"audiomill {spec.command}",
        queue=spec.queue or default_queue,
        inputs=[
            InputPublic(name=i.name, media=i.media, required=i.required, description=i.description) for i in spec.inputs
        ],
        outputs=[OutputPublic(name=o.name, media_type=o.media_type, description=o.description) for o in spec.outputs],
        params_schema=spec.params.model_json_schema(),
    )


@router.get("", response_model=list[KindPublic])
def list_kinds(runtime: RuntimeDep) -> list[KindPublic]:
    return [kind_public(spec, runtime.settings.default_queue) for spec in all_specs(runtime.settings.extra_kinds)]


@router.get("/{name}", response_model=KindPublic, responses={404: {"description": "No such kind"}})
def get_kind(name: str, runtime: RuntimeDep) -> KindPublic:
    for spec in all_specs(runtime.settings.extra_kinds):
        if spec.name == name:
            return kind_public(spec, runtime.settings.default_queue)
    raise NotFound(f"no job kind {name!r}")
