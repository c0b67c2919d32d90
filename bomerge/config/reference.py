"""The config reference page, generated from the pydantic models themselves: one section
per model (its dotted path in a config), one row per key with its type, default and the
field's description. ``python -m bomerge.config.reference > docs/reference/config.md``
writes the page; a test fails when the committed page and the models drift apart.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal, Union

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from bomerge.config import StudyConfig

COMMAND = "python -m bomerge.config.reference > docs/reference/config.md"


def sections(model: type[BaseModel] = StudyConfig, path: str = "",
             above: tuple[type[BaseModel], ...] = ()) -> Iterator[tuple[str, type[BaseModel]]]:
    """(dotted path, model) of the config and every section nested in it, depth first in
    declaration order; a section that holds its own kind (a task's sub-task sections) is
    not entered again."""
    yield path, model
    for name, field in model.model_fields.items():
        for nested in _models_in(field.annotation):
            if nested not in (*above, model):
                yield from sections(nested, f"{path}.{name}" if path else name,
                                    (*above, model))


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in typing.get_args(annotation) for m in _models_in(arg)]


def type_text(annotation: Any) -> str:
    """A field's type for people: ``int``, ``a | b``, ``list[str]``, ``int | "auto"``."""
    origin = typing.get_origin(annotation)
    if origin is Literal:
        return " | ".join(f'"{v}"' if isinstance(v, str) else str(v)
                          for v in typing.get_args(annotation))
    if origin in (Union, types.UnionType):
        return " | ".join(type_text(arg) for arg in typing.get_args(annotation))
    if origin is typing.Annotated:
        return type_text(typing.get_args(annotation)[0])
    if origin is not None:
        args = ", ".join(type_text(arg) for arg in typing.get_args(annotation))
        return f"{getattr(origin, '__name__', str(origin))}[{args}]"
    if annotation is type(None):
        return "None"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "section (below)"
    if annotation is Path:
        return "path"
    return getattr(annotation, "__name__", str(annotation))


def default_text(field: FieldInfo) -> str:
    if field.default_factory is not None:
        value = field.default_factory()  # type: ignore[call-arg]
    elif field.default is PydanticUndefined:
        return "required"
    else:
        value = field.default
    if isinstance(value, BaseModel):
        return "(section defaults)"
    if isinstance(value, Path):
        return f"`{value}`"
    return f"`{value!r}`" if value is not None else "`null`"


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def config_reference() -> str:
    """The Markdown page."""
    lines = [
        "# Config reference", "",
        "Every key a study config (YAML) takes, section by section: its type, its default "
        "and what it does. This page is generated from the pydantic models in "
        f"`bomerge/config/` by `{COMMAND}`; edit the models' field descriptions, not this "
        "page (`tests/config/test_reference.py` fails when the two drift apart). Unknown "
        "keys are refused in one line naming them.", "",
    ]
    first: dict[type[BaseModel], str] = {}
    for path, model in sections():
        lines += [f"## `{path}`" if path else "## top level", ""]
        if model in first:
            lines += [f"The same keys as [`{first[model]}`](#{first[model].replace('.', '')}).",
                      ""]
            continue
        first[model] = path
        doc = (model.__doc__ or "").strip().split("\n\n")[0]
        if doc:
            lines += [_cell(doc), ""]
        lines += ["| key | type | default | description |", "|---|---|---|---|"]
        for name, field in model.model_fields.items():
            lines.append(f"| `{name}` | {_cell(type_text(field.annotation))} | "
                         f"{_cell(default_text(field))} | {_cell(field.description or '')} |")
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    print(config_reference(), end="")
