"""The one way a config is loaded and checked: by the workflow, the `rethinkgen` command
and the status table alike.

`check_loaded_config` is everything the workflow checks before its first job: typed
`--config` strings, the JSON schemas (which fill in their defaults), the cross-reference
checks (`check_config`), the beyond section, your own models and folders, and the
experiments' descriptions filled in. `load_config` reads the files first (strictly: a
duplicate key or a YAML tag is refused with its line) and merges them in order, as
Snakemake merges several --configfile.
"""

from __future__ import annotations

from pathlib import Path

import jsonschema
import yaml

from rethinkgen.config import ConfigError, check_config, retype_cli_strings
from rethinkgen.config_checks import oversized
from rethinkgen.config_files import read_config_file, schema_error_summary
from rethinkgen.describe import fill_descriptions
from rethinkgen.targets import check_beyond
from rethinkgen.user_inputs import user_input_problems

# (schema file, the part of the config it validates, how messages name that part)
SCHEMAS = (
    ("config.schema.yaml", None, "config"),
    ("outputs.schema.yaml", None, "config"),
    ("theory.schema.yaml", "theory", "config.theory"),
    ("beyond.schema.yaml", None, "config"),
)


CHECKOUT = Path(__file__).resolve().parents[2]  # src/rethinkgen/config_load.py -> checkout


def schema_dir() -> Path:
    """workflow/schemas of this checkout (editable install), else of the working directory."""
    for root in (CHECKOUT, Path.cwd()):
        if (root / "workflow/schemas/config.schema.yaml").is_file():
            return root / "workflow/schemas"
    raise ConfigError("workflow/schemas not found: run rethinkgen from the repository root")


def validate_config(data: dict, schema: str | Path, root: str = "config") -> None:
    """Snakemake's validate (it fills the schema's defaults in), its error cut to the key
    path, what was expected and what was found."""
    from snakemake.exceptions import WorkflowError
    from snakemake.utils import validate

    try:
        validate(data, schema=str(schema))
    except WorkflowError as error:
        cause = error.__context__  # validate raises it while handling the ValidationError
        if not isinstance(cause, jsonschema.ValidationError):
            raise
        raise ConfigError(
            f"invalid config (schema {Path(schema).name}):\n" + schema_error_summary(cause, root)
        ) from None


def _raise_problems(problems: list[str]) -> None:
    if problems:
        raise ConfigError("invalid config:\n  - " + "\n  - ".join(problems))


def check_loaded_config(config: dict, schema_dir: str | Path, user_inputs: bool = True) -> dict:
    """Check a merged config in place (schema defaults and descriptions filled in) and
    return it; raise ConfigError naming every problem. ``schema_dir``: workflow/schemas.
    ``user_inputs``: also build your own models and read your data (rethinkgen.user_inputs:
    each factory built and run once, each image decoded, each npz read)."""
    schema_dir = Path(schema_dir)
    # A YAML alias bomb (in override= or a file) stops here, before any check walks it.
    _raise_problems(oversized(config))
    retype_cli_strings(config, yaml.safe_load((schema_dir / "config.schema.yaml").read_text()))
    for name, part, root in SCHEMAS:
        if part is None:
            validate_config(config, schema_dir / name, root)
        elif part in config:
            validate_config(config[part], schema_dir / name, root)
    check_config(config, report_dir=str(schema_dir.parent / "report"))
    _raise_problems(check_beyond(config))
    fill_descriptions(config)  # experiments without one get one from their outputs' kinds
    if user_inputs:  # your own models built for their datasets, your folders read
        _raise_problems(user_input_problems(config))
    return config


def load_config(
    paths: list[str | Path], schemas: str | Path | None = None, user_inputs: bool = True
) -> dict:
    """The config files merged in order, then :func:`check_loaded_config` (``schemas``:
    workflow/schemas, by default this checkout's)."""
    from snakemake.utils import update_config

    merged: dict = {}
    for path in paths:
        if not Path(path).is_file():
            raise ConfigError(
                f"config file {path} not found (give paths as to snakemake --configfile)"
            )
        update_config(merged, read_config_file(path))
    return check_loaded_config(merged, schemas or schema_dir(), user_inputs)
