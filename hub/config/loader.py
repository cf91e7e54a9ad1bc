"""Load YAML config files into :class:`SparkConfig`, with env and secret-file overrides.

Overrides, strongest first:
  * ``SPARK__<SECTION>__<KEY>=value`` environment variables (``__`` separates levels, names are
    case-insensitive, values are parsed as YAML scalars: ``SPARK__MQTT__PORT=1884``);
  * ``*_file`` keys (``password_file``) name files whose content is the secret;
  * the YAML file itself; then the schema's defaults.
Every error names the file, the dotted key, what is wrong and how to fix it.
"""

from __future__ import annotations

import difflib
import os
import types
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ValidationError

from hub.config.models import SparkConfig
from hub.errors import ConfigError

ENV_PREFIX = "SPARK__"


def load_config(path: str | Path | None, env: Mapping[str, str] | None = None) -> SparkConfig:
    """Load ``path`` (None: embedded defaults) and apply environment overrides."""
    if path is None:
        return load_config_text("", source="<defaults>", env=env)
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read config file ({exc.strerror}); check the path") from exc
    return load_config_text(text, source=str(p), env=env)


def load_config_text(
    text: str, source: str = "<string>", env: Mapping[str, str] | None = None
) -> SparkConfig:
    try:
        data = yaml.safe_load(text) if text.strip() else {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(f"{source}:{where} is not valid YAML: {exc}; fix the syntax") from exc
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: top level must be a mapping of sections (mqtt:, hub:, ...)")
    data = apply_env_overrides(data, os.environ if env is None else env)
    try:
        return SparkConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, source, data)) from None


def apply_env_overrides(data: dict[str, Any], env: Mapping[str, str]) -> dict[str, Any]:
    out = dict(data)
    for name, raw in env.items():
        if not name.upper().startswith(ENV_PREFIX):
            continue
        path = [p.lower() for p in name[len(ENV_PREFIX) :].split("__") if p]
        if not path:
            continue
        try:
            value = yaml.safe_load(raw) if raw != "" else ""
        except yaml.YAMLError:
            value = raw
        cursor: Any = out
        for i, key in enumerate(path[:-1]):
            nxt = cursor.get(key) if isinstance(cursor, dict) else None
            if isinstance(cursor, list):
                idx = int(key) if key.isdigit() else None
                if idx is None or idx >= len(cursor):
                    raise ConfigError(f"{name}: no list item {key!r} at {'.'.join(path[:i])}")
                cursor[idx] = dict(cursor[idx])
                cursor = cursor[idx]
                continue
            if isinstance(nxt, dict):
                nxt = dict(nxt)
            else:
                nxt = list(nxt) if isinstance(nxt, list) else {}
            cursor[key] = nxt
            cursor = nxt
        if isinstance(cursor, dict):
            cursor[path[-1]] = value
    return out


def _loc(loc: tuple[Any, ...]) -> str:
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts.append(f"[{item}]")
        elif item in ("function-after", "function-before") or str(item).startswith(
            ("function-", "tagged-union")
        ):
            continue
        else:
            parts.append(("." if parts else "") + str(item))
    return "".join(parts) or "(top level)"


def _models(ann: Any) -> list[type[BaseModel]]:
    """The config models an annotation can hold (through Annotated, unions, Optional)."""
    if get_origin(ann) is Annotated:
        return _models(get_args(ann)[0])
    if get_origin(ann) in (Union, types.UnionType):
        return [m for arg in get_args(ann) for m in _models(arg)]
    if isinstance(ann, type) and issubclass(ann, BaseModel):
        return [ann]
    return []


def _tagged(models: list[type[BaseModel]], tag: Any) -> type[BaseModel] | None:
    """The member of a discriminated union whose ``type`` (or ``kind``) is ``tag``."""
    for model in models:
        for name in ("type", "kind"):
            field = model.model_fields.get(name)
            if field is not None and field.default == tag:
                return model
    return None


def _model_at(ann: Any, node: Any) -> type[BaseModel] | None:
    """The config model for ``node`` under annotation ``ann``: its only model, or the union
    member its ``type`` / ``kind`` names."""
    models = _models(ann)
    if len(models) == 1:
        return models[0]
    if isinstance(node, dict):
        return _tagged(models, node.get("type", node.get("kind")))
    return None


def _fields_at(model: type[BaseModel], loc: tuple[Any, ...], data: Any) -> list[str]:
    """Best effort: the valid keys at the parent of ``loc`` (for 'did you mean'). ``loc`` may
    hold list indexes and, for a union keyed by ``type`` / ``kind``, the member's tag."""
    from nodes.kinds import node_config_model

    current: Any = model  # an annotation
    node: Any = data
    for item in loc[:-1]:
        if isinstance(item, int):
            node = node[item] if isinstance(node, list) and item < len(node) else {}
            if isinstance(node, dict) and "kind" in node:
                current = node_config_model(str(node.get("kind")))
            else:  # a list's item
                if get_origin(current) is Annotated:
                    current = get_args(current)[0]
                args = get_args(current)
                current = args[0] if args else None
            continue
        models = _models(current)
        member = _tagged(models, item)
        if member is not None and (len(models) > 1 or str(item) not in member.model_fields):
            current = member  # the union's tag, not a key of the data
            continue
        model = _model_at(current, node)
        field = model.model_fields.get(str(item)) if model is not None else None
        if field is None:
            return []
        node = node.get(item, {}) if isinstance(node, dict) else {}
        current = field.annotation
    model = _model_at(current, node)
    return list(model.model_fields) if model is not None else []


def format_validation_error(exc: ValidationError, source: str, data: Any) -> str:
    lines = [f"{source}: {exc.error_count()} problem(s) in the config:"]
    for err in exc.errors():
        loc = tuple(x for x in err["loc"] if not str(x).startswith(("function-", "tagged-union")))
        key = _loc(loc)
        kind = err["type"]
        if kind == "extra_forbidden":
            valid = _fields_at(SparkConfig, loc, data)
            guess = difflib.get_close_matches(str(loc[-1]), valid, n=1)
            fix = f"did you mean {guess[0]!r}?" if guess else f"valid keys: {', '.join(valid)}"
            lines.append(f"  - {key}: unknown key; {fix} Remove or rename it.")
        elif kind == "missing":
            lines.append(f"  - {key}: required key is missing; add it.")
        elif kind == "union_tag_invalid":
            lines.append(f"  - {key}: {err['msg']}; set 'kind' to one of the listed values.")
        elif kind == "union_tag_not_found":
            lines.append(f"  - {key}: no 'kind' given; add 'kind:' naming the node type.")
        else:
            got = err.get("input")
            shown = repr(got) if not isinstance(got, dict | list) else type(got).__name__
            lines.append(f"  - {key}: {err['msg']} (got {shown}); change the value.")
    return "\n".join(lines)
