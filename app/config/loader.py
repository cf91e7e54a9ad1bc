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

from spark.app.config.models import SparkConfig
from spark.core.errors import ConfigError

ENV_PREFIX = "SPARK__"


def load_config(path: str | Path | None, env: Mapping[str, str] | None = None) -> SparkConfig:
    """Load ``path`` (None: embedded defaults) and apply environment overrides."""
    if path is None:
        return with_identity_file(load_config_text("", source="<defaults>", env=env), None)
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read config file ({exc.strerror}); check the path") from exc
    return with_identity_file(load_config_text(text, source=str(p), env=env), p)


def with_identity_file(cfg: SparkConfig, path: Path | None) -> SparkConfig:
    """``hub.identity_file`` when not given: beside the config file, so that it moves with
    it (``spark.yaml`` -> ``spark.identity.json``); ``.spark/identity.json`` without one."""
    if cfg.hub.identity_file is not None:
        return cfg
    where = path.with_name(f"{path.stem}.identity.json") if path is not None \
        else Path(".spark") / "identity.json"
    return cfg.model_copy(update={"hub": cfg.hub.model_copy(update={"identity_file": where})})


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
    origins: dict[tuple[str, ...], str] = {}
    data = apply_env_overrides(data, os.environ if env is None else env, origins)
    try:
        return SparkConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, source, data, origins)) from None


def apply_env_overrides(data: dict[str, Any], env: Mapping[str, str],
                        origins: dict[tuple[str, ...], str] | None = None) -> dict[str, Any]:
    """``data`` with every ``SPARK__...`` variable applied; ``origins`` (when given) gets each
    variable's key path (lower case, list indexes as digits) -> its name, so that an error
    at that key names the variable instead of the file."""
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
            if origins is not None:
                origins[tuple(path)] = name
    return out


def _is_tag(item: Any, node: Any) -> bool:
    """A union member's tag that pydantic puts in an error's location (not a key of the data)."""
    return (isinstance(node, dict) and isinstance(item, str) and item not in node
            and item in (node.get("type"), node.get("kind")))


def _data_path(loc: tuple[Any, ...], data: Any) -> tuple[Any, ...]:
    """``loc`` as a path in the data: union tags (``nodes.0.power.backend``) left out."""
    out: list[Any] = []
    node = data
    for item in loc:
        if _is_tag(item, node):
            continue
        out.append(item)
        if isinstance(item, int):
            node = node[item] if isinstance(node, list) and item < len(node) else None
        else:
            node = node.get(item) if isinstance(node, dict) else None
    return tuple(out)


def _loc(path: tuple[Any, ...], data: Any = None) -> str:
    """A data path as the user wrote it: ``nodes['garage'].backend.type`` (a list item with an
    ``id`` is named by it, others by index: ``bridges.sinks[0]``)."""
    parts: list[str] = []
    node = data
    for item in path:
        if isinstance(item, int):
            node = node[item] if isinstance(node, list) and item < len(node) else None
            ident = node.get("id") if isinstance(node, dict) else None
            parts.append(f"[{ident!r}]" if isinstance(ident, str) and ident else f"[{item}]")
        else:
            node = node.get(item) if isinstance(node, dict) else None
            parts.append(("." if parts else "") + str(item))
    return "".join(parts) or "(top level)"


def _env_origin(path: tuple[Any, ...], origins: Mapping[tuple[str, ...], str],
                tag_key: str | None) -> tuple[tuple[str, ...], str] | None:
    """The environment variable that set the value at ``path`` (or a section around it);
    for a union's missing or bad tag, the one that set its ``tag_key``."""
    key = tuple(str(p).lower() for p in path)
    for env_path, name in origins.items():
        if key[: len(env_path)] == env_path or (tag_key and env_path == (*key, tag_key)):
            return env_path, name
    return None


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
    from spark.nodes.kinds import node_config_model

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
        if get_origin(current) is dict:  # a mapping's value (hub.policy.accounts.<name>)
            node = node.get(item, {}) if isinstance(node, dict) else {}
            current = get_args(current)[1]
            continue
        models = _models(current)
        member = _tagged(models, item)
        if member is not None and (len(models) > 1 or str(item) not in member.model_fields):
            current = member  # the union's tag, not a key of the data
            continue
        at = _model_at(current, node)
        field = at.model_fields.get(str(item)) if at is not None else None
        if field is None:
            return []
        node = node.get(item, {}) if isinstance(node, dict) else {}
        current = field.annotation
    at = _model_at(current, node)
    return list(at.model_fields) if at is not None else []


def format_validation_error(exc: ValidationError, source: str, data: Any,
                            origins: Mapping[tuple[str, ...], str] | None = None) -> str:
    """One line per problem: where (the file's key, or the environment variable that set it),
    what is wrong and what to do."""
    problems: list[tuple[bool, str]] = []  # (from the environment, line)
    for err in exc.errors():
        loc = tuple(x for x in err["loc"] if not str(x).startswith(("function-", "tagged-union")))
        path = _data_path(loc, data)
        key = _loc(path, data)
        kind = err["type"]
        ctx = err.get("ctx") or {}
        tag_key = str(ctx.get("discriminator", "")).strip("'\"") or None
        origin = _env_origin(path, origins or {}, tag_key)
        fix_env = ""
        if kind == "extra_forbidden":
            valid = _fields_at(SparkConfig, loc, data)
            guess = difflib.get_close_matches(str(loc[-1]), valid, n=1)
            if origin is not None and guess and origin[0] == tuple(str(p).lower() for p in path):
                fix_env = ENV_PREFIX + "__".join([*origin[0][:-1], guess[0]]).upper()
            fix = f"did you mean {guess[0]!r}?" if guess else f"valid keys: {', '.join(valid)}"
            what = f"unknown key; {fix} " + (
                f"Rename the variable to {fix_env} or unset it." if fix_env
                else "Unset the variable." if origin else "Remove or rename it.")
        elif kind == "missing":
            what = "required key is missing; add it."
        elif kind == "union_tag_invalid":
            what = f"{err['msg']}; set {tag_key!r} to one of the listed values."
        elif kind == "union_tag_not_found":
            what = (f"no {tag_key!r} given; add '{tag_key}:' naming the "
                    f"{'node kind' if tag_key == 'kind' else 'backend'}.")
        else:
            got = err.get("input")
            shown = repr(got) if not isinstance(got, dict | list) else type(got).__name__
            what = f"{err['msg']} (got {shown}); " + (
                "change the variable's value." if origin else "change the value.")
        if origin is not None:
            problems.append((True, f"  - environment variable {origin[1]} ({key}): {what}"))
        else:
            problems.append((False, f"  - {key}: {what}"))
    from_env = sum(1 for env, _ in problems if env)
    if from_env == len(problems):
        where = f"the environment (SPARK__* variables; none in {source})"
    elif from_env:
        where = f"{source} and the environment (SPARK__* variables)"
    else:
        where = source
    lines = [f"{where}: {len(problems)} problem(s) in the config:"]
    return "\n".join(lines + [line for _, line in problems])
