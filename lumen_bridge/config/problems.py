"""Validation errors in plain words, each at the key path as the file writes it.

pydantic says where an error is as a location such as ``("receivers", 0, "webhook", "url")``
(the ``webhook`` step names the member of the receiver union). Walking the models along it
gives the path as written (``receivers[0].url``), the keys a section knows and the types a
union takes, so that an operator reads "unknown key 'tokn' (known keys: ...)" rather than
pydantic's own text. No message repeats an error's input: it could be a secret.
"""

from __future__ import annotations

import types
from collections.abc import Sequence
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel
from pydantic_core import ErrorDetails

from lumen_bridge.config.settings import Location, Settings

_PLAIN = {
    "missing": "required, but not set",
    "int_parsing": "must be a whole number",
    "int_type": "must be a whole number",
    "int_from_float": "must be a whole number",
    "float_parsing": "must be a number",
    "float_type": "must be a number",
    "bool_parsing": "must be true or false",
    "bool_type": "must be true or false",
    "list_type": "must be a list",
    "dict_type": "must be a mapping (key: value)",
    "model_type": "must be a mapping (key: value)",
    "model_attributes_type": "must be a mapping (key: value)",
}


def describe(error: ErrorDetails) -> tuple[Location, str]:
    """The path (as in the file, for :func:`display`) and the plain message of one error."""
    path, walked = _walk(error["loc"])
    kind = error["type"]
    ctx: dict[str, Any] = dict(error.get("ctx") or {})
    if kind == "extra_forbidden":
        known = ", ".join(_keys(walked[-2])) if len(walked) > 1 else ""
        return path, f"unknown key {str(path[-1])!r} (known keys: {known})"
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        tags = ", ".join(_members(walked[-1]))
        if kind == "union_tag_not_found":
            return (*path, "type"), f"required, but not set (one of: {tags})"
        return (*path, "type"), f"unknown type {ctx['tag']!r} (known types: {tags})"
    if kind in ("value_error", "assertion_error"):
        return path, str(ctx["error"])
    if kind == "greater_than_equal":
        return path, f"must be at least {ctx['ge']}"
    if kind == "less_than_equal":
        return path, f"must be at most {ctx['le']}"
    if kind == "string_type":  # the input's kind is told, never the input itself
        if isinstance(error["input"], list | dict):
            return path, "must be a single value, not a list or a mapping"
        return path, "must be text: put it in quotes"
    if kind == "literal_error":
        return path, f"must be {ctx['expected']}"
    return path, _PLAIN.get(kind, error["msg"])


def display(path: Sequence[str | int]) -> str:
    """``receivers[1].url`` for ``("receivers", 1, "url")``."""
    text = ""
    for step in path:
        text += f"[{step}]" if isinstance(step, int) else f".{step}" if text else step
    return text or "(top level)"


def _walk(loc: Sequence[str | int]) -> tuple[Location, list[object]]:
    """The location without union tags, and the type at its start and after each step."""
    path: list[str | int] = []
    walked: list[object] = [Settings]
    for step in loc:
        member = _member(walked[-1], step)
        if member is not None:
            walked[-1] = member
            continue
        path.append(step)
        walked.append(_child(walked[-1], step))
    return tuple(path), walked


def _unwrap(kind: object) -> object:
    """``X`` for ``Annotated[X, ...]`` and ``X | None``."""
    while True:
        origin = get_origin(kind)
        if origin is Annotated:
            kind = get_args(kind)[0]
        elif origin in (Union, types.UnionType):
            present = [arg for arg in get_args(kind) if arg is not type(None)]
            if len(present) > 1:
                return kind
            kind = present[0]
        else:
            return kind


def _model(kind: object) -> type[BaseModel] | None:
    kind = _unwrap(kind)
    return kind if isinstance(kind, type) and issubclass(kind, BaseModel) else None


def _models(kind: object) -> list[type[BaseModel]]:
    """The members of a union of models (a receiver: e-mail, ticket or webhook)."""
    kind = _unwrap(kind)
    if get_origin(kind) not in (Union, types.UnionType):
        return []
    return [model for arg in get_args(kind) if (model := _model(arg)) is not None]


def _tag(model: type[BaseModel]) -> str | None:
    field = model.model_fields.get("type")
    if field is None or get_origin(field.annotation) is not Literal:
        return None
    return str(get_args(field.annotation)[0])


def _members(kind: object) -> list[str]:
    return [tag for model in _models(kind) if (tag := _tag(model)) is not None]


def _member(kind: object, step: str | int) -> type[BaseModel] | None:
    return next((m for m in _models(kind) if _tag(m) == step), None)


def _keys(kind: object) -> list[str]:
    model = _model(kind)
    if model is None:
        return []
    return [field.alias or name for name, field in model.model_fields.items()]


def _child(kind: object, step: str | int) -> object:
    """The type of ``step`` inside a value of type ``kind`` (``object`` when unknown)."""
    model = _model(kind)
    if model is not None:
        fields = model.model_fields
        return next((f.annotation for n, f in fields.items() if step in (n, f.alias)), object)
    kind = _unwrap(kind)
    args = get_args(kind)
    if get_origin(kind) is list and args:
        return args[0]
    if get_origin(kind) is dict and len(args) == 2:
        return args[1]
    return object
