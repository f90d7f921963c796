"""Config values a schema lets through: non-finite numbers, long keys, oversized batches,
misspelled references and keys (did you mean)."""

import copy
from pathlib import Path

import jsonschema
import pytest
import yaml

from rethinkgen.config import ConfigError, check_config
from rethinkgen.config_checks import MAX_KEY_LENGTH, ConfigWarning
from rethinkgen.config_files import schema_error_summary

ROOT = Path(__file__).resolve().parents[2]
QUICK = yaml.safe_load((ROOT / "config/config.yaml").read_text())
SCHEMA = yaml.safe_load((ROOT / "workflow/schemas/config.schema.yaml").read_text())


def quick():
    return copy.deepcopy(QUICK)


@pytest.mark.parametrize("text", [".nan", ".inf", "-.inf"])
def test_non_finite_lr_and_weight_decay_are_refused(text):
    config = quick()
    model = next(iter(config["models"]))
    config["models"][model]["lr"] = yaml.safe_load(text)
    config["training"]["momentum"] = yaml.safe_load(text)
    with pytest.raises(ConfigError) as err:
        check_config(config)
    assert f"models.{model}.lr: {yaml.safe_load(text)} is not a finite number" in str(err.value)
    assert "training.momentum:" in str(err.value)


def test_a_key_longer_than_64_characters_is_refused():
    config = quick()
    long_key = "m" * 300
    config["models"][long_key] = config["models"].pop(next(iter(config["models"])))
    with pytest.raises(ConfigError) as err:
        check_config(config)
    message = str(err.value)
    assert "a key of 300 characters" in message and f"at most {MAX_KEY_LENGTH}" in message
    assert f"models.{'m' * 20}...: a key of 300" in message  # named by its start
    config = quick()
    config["models"]["m" * MAX_KEY_LENGTH] = config["models"].pop(next(iter(config["models"])))
    with pytest.raises(ConfigError) as err:  # 64 is allowed; only the now-undefined grid key fails
        check_config(config)
    assert "characters" not in str(err.value)


def test_batch_larger_than_the_training_set_warns_with_both_numbers():
    config = quick()
    config["training"]["batch_size"] = 20000
    with pytest.warns(ConfigWarning) as caught:
        check_config(config)
    messages = [str(w.message) for w in caught]
    assert any("batch_size 20000" in m and "training set of 10000 samples" in m for m in messages)


def test_shipped_quick_config_gives_no_batch_warning(recwarn):
    check_config(quick())
    assert not [w for w in recwarn if issubclass(w.category, ConfigWarning)]


def test_misspelled_grid_key_gets_did_you_mean():
    config = quick()
    grid = next(iter(config["experiments"].values()))["grids"][0]
    right = grid["models"][0]
    grid["models"][0] = right[:-1] + ("x" if right[-1] != "x" else "y")
    with pytest.raises(ConfigError) as err:
        check_config(config)
    assert f"did you mean '{right}'?" in str(err.value)


def test_misspelled_setting_lists_every_key_whole_and_suggests_one():
    config = quick()
    config["training"]["lr_decayy"] = 0.9
    error = jsonschema.exceptions.best_match(
        jsonschema.Draft202012Validator(SCHEMA).iter_errors(config)
    )
    summary = schema_error_summary(error)
    expected = summary.splitlines()[1]
    assert "did you mean 'lr_decay'?" in expected and "..." not in expected
    last_key = list(SCHEMA["$defs"]["training"]["properties"])[-1]
    assert last_key in expected
