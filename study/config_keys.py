"""The study configuration's JSON Schema (for editors) and its list of every dotted key, both read
off the pydantic models of study.config: docs/configuration.md's key list is this list."""

from __future__ import annotations

import json
import types
import typing

from pydantic import BaseModel

from study.config import StudyConfig

SCHEMA_URI = "https://json-schema.org/draft/2020-12/schema"


def config_schema() -> dict:
    """The JSON Schema of a study config file: unknown keys are refused, as loading refuses them
    (the cross-field rules, a knob no trial reads, are loading's alone)."""
    return {"$schema": SCHEMA_URI, **StudyConfig.model_json_schema(mode="validation")}


def _section(annotation) -> type[BaseModel] | None:
    """The model class of a field that is a whole section (not a union of a model and a value)."""
    return annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None


def type_text(annotation) -> str:
    """A field's type as a reader writes it: ``int``, ``list[float] | LogRange | None``, ``'a' | 'b'``."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return type_text(typing.get_args(annotation)[0])
    if origin is typing.Literal:
        return " | ".join(repr(v) for v in typing.get_args(annotation))
    if origin in (typing.Union, types.UnionType):
        return " | ".join(type_text(a) for a in typing.get_args(annotation))
    if origin is not None:
        return f"{origin.__name__}[{', '.join(type_text(a) for a in typing.get_args(annotation))}]"
    if annotation is type(None):
        return "None"
    return getattr(annotation, "__name__", str(annotation))


def _default_text(field) -> str:
    if field.is_required():
        return "required"
    value = field.get_default(call_default_factory=True)
    if isinstance(value, tuple):
        value = list(value)
    return json.dumps(value)


def config_keys(model: type[BaseModel] = StudyConfig, prefix: str = "") -> list[tuple[str, str, str]]:
    """Every key a study config may set, dotted, in the schema's order, with its type and default
    (sections are walked into, not listed)."""
    out = []
    for name, field in model.model_fields.items():
        section = _section(field.annotation)
        if section is not None:
            out += config_keys(section, f"{prefix}{name}.")
        else:
            out.append((f"{prefix}{name}", type_text(field.annotation), _default_text(field)))
    return out


def key_table() -> str:
    """The Markdown table of every key that docs/configuration.md holds (`dualscan config-schema
    --keys` prints it); a ``|`` inside a cell is escaped, as GitHub's tables need."""
    lines = ["| key | type | default |", "|---|---|---|"]
    for key, kind, default in config_keys():
        cells = [f"`{key}`", f"`{kind}`", default if default == "required" else f"`{default}`"]
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    return "\n".join(lines)
