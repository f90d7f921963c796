"""Value checks a JSON schema cannot express: finite numbers, key lengths, and batches
larger than the training set (a warning). `rethinkgen.config.check_config` calls them.
"""

from __future__ import annotations

import difflib
import math
import warnings

# Every key becomes a wildcard value and a folder name. Snakemake's wildcard matcher
# refuses long repeated values (PeriodicWildcardError), and path limits bite on clusters.
MAX_KEY_LENGTH = 64
# Training-set sizes of the full sources, for datasets without `n_train`.
SOURCE_TRAIN_SIZES = {"fashion_mnist": 60000, "mnist": 60000, "cifar10": 50000, "imagenet": 1281167}


class ConfigWarning(UserWarning):
    """A config that runs but probably does not do what was meant."""


def _walk(value, path: str):
    """(path, value) for every value in a nested config, mappings and lists included."""
    yield path, value
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _walk(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _walk(item, f"{path}[{index}]")


# Values (mappings, lists and scalars) a config may hold: a real one has a few thousand.
# YAML aliases can make a 220-character `override=` expand to billions, and every check
# that walks the config would then take minutes and gigabytes before failing.
MAX_CONFIG_VALUES = 200_000
MAX_OVERRIDE_VALUES = 1_000


def _exceeds(value, limit: int) -> bool:
    """Whether ``value`` holds more than ``limit`` values; stops counting at the limit."""
    count, stack = 0, [value]
    while stack:
        item = stack.pop()
        count += 1
        if count > limit:
            return True
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def oversized(config: dict) -> list[str]:
    """The config, or its `override`, holding more values than any real one: run first,
    before any check that walks the whole config."""
    if _exceeds(config.get("override"), MAX_OVERRIDE_VALUES):
        return [
            f"override: more than {MAX_OVERRIDE_VALUES} values (YAML aliases that expand?); "
            "give the few training settings to change, e.g. override='{max_epochs: 3}'"
        ]
    if _exceeds(config, MAX_CONFIG_VALUES):
        return [
            f"the config holds more than {MAX_CONFIG_VALUES} values (YAML aliases that "
            "expand?); write it out without repeated aliases"
        ]
    return []


def non_finite_numbers(config: dict) -> list[str]:
    """`lr: .nan` or `.inf` passes a schema's `type: number`; the run would then diverge."""
    return [
        f"{path}: {value} is not a finite number; write a plain number such as 0.01"
        for path, value in _walk(config, "")
        if isinstance(value, float) and not math.isfinite(value)
    ]


def long_keys(config: dict) -> list[str]:
    """Keys longer than MAX_KEY_LENGTH characters, named by their path."""
    problems = []
    for path, value in _walk(config, ""):
        if isinstance(value, dict):
            for key in value:
                if isinstance(key, str) and len(key) > MAX_KEY_LENGTH:
                    where = f"{path}." if path else ""
                    problems.append(
                        f"{where}{key[:20]}...: a key of {len(key)} characters; keys become "
                        f"folder names and wildcard values, at most {MAX_KEY_LENGTH} characters. "
                        "Shorten it"
                    )
    return problems


def training_set_size(dataset: dict) -> int | None:
    return dataset.get("n_train") or SOURCE_TRAIN_SIZES.get(dataset["name"])


def warn_large_batches(config: dict, runs, training_of) -> list[str]:
    """Warn (ConfigWarning) once per (dataset, model, regularizer) whose batch exceeds the
    training set: each epoch is then one step on the whole set. Returns the messages."""
    seen, messages = set(), []
    for run in runs:
        key = (run.dataset, run.model, run.regularizer)
        if key in seen:
            continue
        seen.add(key)
        size = training_set_size(config["datasets"][run.dataset])
        batch = training_of(run)["batch_size"]
        if size is not None and batch > size:
            messages.append(
                f"model '{run.model}' with regularizer '{run.regularizer}' uses batch_size "
                f"{batch}, larger than dataset '{run.dataset}''s training set of {size} samples: "
                "every epoch is one full-batch step. Lower batch_size or raise n_train if that "
                "is not meant"
            )
    for message in messages:
        warnings.warn(message, ConfigWarning, stacklevel=3)
    return messages


def did_you_mean(word: str, choices) -> str:
    """`; did you mean 'lr_decay'?` for a close match among `choices`, else ''."""
    close = difflib.get_close_matches(str(word), [str(c) for c in choices], n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""


def known_keys(config: dict, section: str, key: str | None = None) -> str:
    """The defined keys of a section, and the closest one to a misspelled `key`."""
    defined = ", ".join(sorted(config.get(section, {}))) or "(none)"
    return defined + (did_you_mean(key, config.get(section, {})) if key is not None else "")
