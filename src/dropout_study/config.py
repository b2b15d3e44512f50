"""Resolve the configuration (base, then preset, then command-line overrides) and check it.

Every user mistake is reported as a ``ConfigError`` naming the key, the bad value and what is
allowed, before any job starts. The schema and the presets are files of the workflow
(``workflow/schemas/config.schema.yaml``, ``workflow/presets/<name>.yaml``) found beside the
config file, or passed in by the Snakefile; nothing is looked up relative to this package, so
that a regular (non-editable) install works.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from . import packing
from .errors import ConfigError

SCHEMA = Path("workflow") / "schemas" / "config.schema.yaml"  # relative to the project
PRESETS = Path("workflow") / "presets"

# what the layers above add to the check: each a function of the config that raises a
# ConfigError naming the key (the exercises' own relations: ``exercises.check``)
Check = Callable[[dict], None]


def deep_merge(base: dict, override: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def load_schema(path: str | Path) -> dict:
    with open(path) as fh:
        return yaml.safe_load(fh)


def preset_file(presets: str | Path, name: Any) -> Path:
    """The file of preset ``name`` in the folder ``presets``; a ``ConfigError`` lists the
    presets there when there is no such preset."""
    names = sorted(p.stem for p in Path(presets).glob("*.yaml"))
    if not isinstance(name, str) or name not in names:
        raise ConfigError(f"config key 'preset': {name!r} is not allowed; choose one of "
                          f"{', '.join(names) or '(none defined in ' + str(presets) + ')'}")
    return Path(presets) / f"{name}.yaml"


def _schema_at(schema: dict, root: dict) -> dict:
    while "$ref" in schema:  # local references only ("#/$defs/...")
        node = root
        for part in schema["$ref"].lstrip("#/").split("/"):
            node = node[part]
        schema = node
    return schema


def typed(value: Any, schema: dict, root: dict | None = None) -> Any:
    """Values given on Snakemake's command line inside a mapping or list arrive as strings
    (``--config "training={'lr': -1}"`` gives ``{'lr': '-1'}``): read each such string as a
    YAML scalar where the schema does not ask for a string, so that the message names what
    is wrong with the value, not its type."""
    root = schema if root is None else root
    schema = _schema_at(schema, root)
    if isinstance(value, dict):
        props = schema.get("properties", {})
        rest = schema.get("additionalProperties")
        rest = rest if isinstance(rest, dict) else {}
        return {k: typed(v, props.get(k, rest), root) for k, v in value.items()}
    if isinstance(value, list):
        items = schema.get("items", {})
        return [typed(v, items if isinstance(items, dict) else {}, root) for v in value]
    if isinstance(value, str):
        types = schema.get("type", [])
        types = [types] if isinstance(types, str) else types
        if "string" in types or "enum" in schema:
            return value
        try:
            parsed = yaml.safe_load(value)
        except yaml.YAMLError:
            return value
        return value if isinstance(parsed, str) else parsed
    return value


def _key(path) -> str:
    return ".".join(str(p) for p in path) or "<top level>"


def _message(err: jsonschema.ValidationError) -> str:
    key = _key(err.absolute_path)
    if err.validator == "additionalProperties":
        allowed = sorted(err.schema.get("properties", {}))
        extra = sorted(set(err.instance) - set(allowed))
        where = f" under '{key}'" if err.absolute_path else ""
        return (f"unknown config key{'s' if len(extra) > 1 else ''} "
                f"{', '.join(repr(e) for e in extra)}{where}; allowed: {', '.join(allowed)}")
    if err.validator == "enum":
        return (f"config key '{key}': {err.instance!r} is not allowed; "
                f"choose one of {', '.join(map(str, err.validator_value))}")
    if err.validator == "pattern" and err.validator_value == "^auto$":
        return f"config key '{key}': {err.instance!r} is not allowed; give an integer or auto"
    if err.validator == "required":
        return f"config key '{key}': {err.message}"
    return f"config key '{key}': {err.instance!r} is invalid: {err.message}"


# JSON Schema counts 1.0 as an integer; a count of seeds or epochs written 1.0 is a slip that
# would fail later, far from the config, so integers here are ints (and never booleans).
_TYPES = jsonschema.Draft202012Validator.TYPE_CHECKER.redefine(
    "integer", lambda _checker, v: isinstance(v, int) and not isinstance(v, bool))
_Validator = jsonschema.validators.extend(jsonschema.Draft202012Validator, type_checker=_TYPES)


def validate(cfg: dict, schema: dict, checks: Sequence[Check] = ()) -> None:
    """The schema, the relations between keys, then ``checks`` (passed in from above: the
    exercises' own relations), at the study's setting and at the newer edition's."""
    validator = _Validator(schema)
    errors = sorted(validator.iter_errors(cfg), key=lambda e: (len(e.absolute_path), e.path))
    if errors:
        raise ConfigError("invalid configuration: " + "; ".join(_message(e) for e in errors[:5]))
    _check_relations(cfg)
    for check in checks:
        check(cfg)
    edition = edition_config(cfg)
    if edition is not None:
        try:
            validate(edition, schema, checks)
        except ConfigError as exc:
            raise ConfigError(f"at the setting of 'newer_edition' ({exc}); the keys named are "
                              "those of the study's config with newer_edition merged in") from None


def edition_config(cfg: dict) -> dict | None:
    """The study's config at the book's newer edition's setting (``newer_edition`` merged in),
    or None where it is not enabled."""
    edition = cfg.get("newer_edition") or {}
    if not edition.get("enabled", False):
        return None
    merged = deep_merge(cfg, {"training": edition.get("training", {}),
                              "experiments": edition.get("experiments", {})})
    merged["newer_edition"] = {"enabled": False}
    return merged


def _check_relations(cfg: dict) -> None:
    """Constraints between keys, which JSON schema cannot express."""
    data = cfg["data"]
    if data.get("probe_size", 0) > data["validation_size"]:
        raise ConfigError(f"config key 'data.probe_size': {data['probe_size']} exceeds "
                          f"data.validation_size ({data['validation_size']}); the probe batch "
                          "is drawn from the validation split")
    room = 60000 - data["validation_size"]
    if data.get("train_size") and data["train_size"] > room:
        raise ConfigError(f"config key 'data.train_size': {data['train_size']} exceeds the "
                          f"{room} images left after data.validation_size")
    ep = cfg["analysis"].get("endpoint_epochs", 1)
    if ep > cfg["training"]["epochs"]:
        raise ConfigError(f"config key 'analysis.endpoint_epochs': {ep} exceeds "
                          f"training.epochs ({cfg['training']['epochs']})")
    _check_seeds(cfg)


def _check_seeds(cfg: dict) -> None:
    """The study's seeds, ``seed_offset`` on, as many as the study may ever train (a precision
    target's ``max_seeds`` included), fit a job name's 4-digit seed field and stay apart from
    exercise 7's tuning seeds: a tuning run is never also a reported one."""
    from .experiments import MAX_SEED, seed_offset, tuning_seeds
    from .rounds import settings

    first = seed_offset(cfg)
    p = settings(cfg)
    most = max(cfg["seeds"], p["max_seeds"]) if p["enabled"] else cfg["seeds"]
    last = first + most - 1
    counted = (f"seeds: {cfg['seeds']}" if most == cfg["seeds"] else
               f"up to precision.max_seeds: {p['max_seeds']}")
    if last > MAX_SEED:
        raise ConfigError(f"config key 'seed_offset': {first} gives the study seeds {first}–"
                          f"{last} ({counted}), past {MAX_SEED}, the largest a job's name "
                          f"holds (4 digits); choose seed_offset ≤ {MAX_SEED - most + 1}")
    if not cfg["experiments"].get("noise", {}).get("enabled", False):
        return
    tuning = tuning_seeds(cfg)
    if first <= tuning[-1] and last >= tuning[0]:
        raise ConfigError(
            f"config key 'seed_offset': {first} gives the study seeds {first}–{last} "
            f"({counted}), which reach exercise 7's tuning seeds {tuning[0]}–{tuning[-1]} "
            "(experiments.noise.tune_seeds), kept apart from the reported seeds; choose "
            f"seed_offset ≤ {tuning[0] - most} or ≥ {tuning[-1] + 1}")


def checked(cfg: dict, schema: str | Path, *, detect: bool = True,
            checks: Sequence[Check] = ()) -> dict:
    """The config as Snakemake merged it (config file, preset file, then ``--configfile`` and
    ``--config``), with command-line strings typed, validated, and its packing resolved
    (``packing.resolve``: ``detect`` looks at this machine's GPUs); ``checks`` as
    ``validate``'s."""
    schema_doc = load_schema(schema)
    cfg = typed(cfg, schema_doc)
    validate(cfg, schema_doc, checks)
    return packing.resolve(cfg, detect=detect)


def resolve(config: dict, overrides: dict | None = None, *, project: str | Path,
            detect: bool = True, checks: Sequence[Check] = ()) -> dict:
    """``config`` (a config file's contents), then its preset from ``project``'s
    ``workflow/presets``, then ``overrides``; validated against ``project``'s schema, and its
    packing resolved (``checks`` as ``validate``'s). The same layering and resolution as
    the Snakefile's."""
    overrides = overrides or {}
    name = overrides.get("preset", config.get("preset", "full"))
    with open(preset_file(Path(project) / PRESETS, name)) as fh:
        preset = yaml.safe_load(fh) or {}
    cfg = deep_merge(deep_merge(config, preset), overrides)
    validate(cfg, load_schema(Path(project) / SCHEMA), checks)
    return packing.resolve(cfg, detect=detect)


def load(path: str | Path = "config.yaml", overrides: dict | None = None,
         project: str | Path | None = None, detect: bool = True,
         checks: Sequence[Check] = ()) -> dict:
    """A config file with a preset and overrides; the workflow's files (schema, presets) are
    those of ``project``, by default the config file's folder; ``checks`` as ``validate``'s."""
    with open(path) as fh:
        raw = yaml.safe_load(fh)
    return resolve(raw, overrides, project=Path(path).parent if project is None else project,
                   detect=detect, checks=checks)


def parse_override(text: str) -> tuple[str, Any]:
    """``key=value`` (dots for nesting) as Snakemake's --config reads it: the value as YAML."""
    if "=" not in text:
        raise ConfigError(f"override {text!r} must look like key=value")
    key, value = text.split("=", 1)
    return key, yaml.safe_load(value)


def overrides_from(pairs: list[str]) -> dict:
    out: dict = {}
    for pair in pairs:
        key, value = parse_override(pair)
        node = out
        *parents, leaf = key.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    return out
