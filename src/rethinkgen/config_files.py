"""Strict reading of config files, and schema errors cut down to what the user must fix.

Snakemake's own YAML loader keeps the last of two equal keys without a word, so a second
experiment or regularizer with the same name silently replaces the first. The workflow
re-reads every config file with `check_config_files` before validating it. Schema errors
from Snakemake's `validate` print the whole sub-schema; `schema_error_summary` keeps the
key path, what was expected and what was found.
"""

from __future__ import annotations

from pathlib import Path

import jsonschema
import yaml

from rethinkgen.config import ConfigError
from rethinkgen.config_checks import did_you_mean

_MERGE_TAG = "tag:yaml.org,2002:merge"
_MAX_SHOWN = 120  # characters of an offending value shown in a message


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that records every key given twice in one mapping."""

    def __init__(self, stream):
        super().__init__(stream)
        self.duplicates: list[str] = []

    def construct_mapping(self, node, deep=False):
        first_line = {}
        for key_node, _ in node.value:
            if key_node.tag == _MERGE_TAG:  # `<<: *anchor` may be overridden key by key
                continue
            key, line = self.construct_object(key_node, deep=True), key_node.start_mark.line + 1
            try:
                if key in first_line:
                    self.duplicates.append(
                        f"key '{key}' at line {line} (first at line {first_line[key]})"
                    )
                else:
                    first_line[key] = line
            except TypeError:  # an unhashable key: SafeLoader reports it below
                pass
        return super().construct_mapping(node, deep=deep)


def read_config_file(path: str | Path) -> dict:
    """Load one YAML/JSON config file; raise ConfigError on a duplicate key, a YAML tag
    (e.g. !!python/object) or a syntax error, naming the file and the line."""
    with open(path, encoding="utf-8") as handle:
        loader = _StrictLoader(handle)
        try:
            data = loader.get_single_data()
        except yaml.constructor.ConstructorError as error:
            raise ConfigError(_tag_message(error, path)) from None
        except yaml.MarkedYAMLError as error:
            raise ConfigError(
                f"{path}, line {_line(error)}: not valid YAML: {error.problem}"
            ) from None
        finally:
            loader.dispose()
    if loader.duplicates:
        raise ConfigError(
            f"{path}: duplicate keys (YAML keeps only the last one, and the earlier entry "
            "would be dropped silently); rename or merge them:\n  - "
            + "\n  - ".join(loader.duplicates)
        )
    return data


def check_config_files(paths) -> None:
    """`read_config_file` for each path (e.g. Snakemake's `workflow.configfiles`)."""
    for path in paths:
        read_config_file(path)


def _line(error: yaml.MarkedYAMLError) -> int | str:
    mark = error.problem_mark or error.context_mark
    return mark.line + 1 if mark else "?"


def _tag_message(error: yaml.constructor.ConstructorError, path) -> str:
    if "could not determine a constructor for the tag" in (error.problem or ""):
        tag = error.problem.split("'")[1].replace("tag:yaml.org,2002:", "!!")
        return (
            f"YAML tags such as !!python/object are not allowed in the config: {tag} at line "
            f"{_line(error)} of {path}. Write plain values (strings, numbers, lists, mappings)"
        )
    return f"{path}, line {_line(error)}: {error.problem}"


def schema_error_summary(error: jsonschema.ValidationError, root: str = "config") -> str:
    """A few lines for one schema violation: the key path, what was expected, what was found."""
    best = jsonschema.exceptions.best_match([error])  # descends into anyOf/oneOf branches
    path = root + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in best.absolute_path)
    return (
        f"{path}: {best.message}\n  expected: {_expected(best)}\n"
        f"  found: {_shorten(repr(best.instance))}"
    )


def _expected(error: jsonschema.ValidationError) -> str:
    schema, value = error.schema, error.validator_value
    if error.validator in ("additionalProperties", "unevaluatedProperties") and value is False:
        # Listed whole, never cut: the user picks the right spelling from this list.
        allowed = list(schema.get("properties", {}))
        extra = [key for key in error.instance if key not in allowed]
        hint = "".join(did_you_mean(key, allowed) for key in extra[:1])
        return f"only the keys {', '.join(allowed) or 'none'}{hint}"
    if error.validator == "enum":
        return _shorten("one of " + ", ".join(map(str, value)))
    if error.validator == "required":
        return "the keys " + ", ".join(value)
    description = schema.get("description")
    wanted = f"{error.validator} {_shorten(repr(value))}"
    return f"{wanted} ({_shorten(description)})" if description else wanted


def _shorten(text: str, limit: int = _MAX_SHOWN) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
