"""What `rethinkgen targets` lists: every short target of a config (`all`, each figure and
table, the scorecard, `expressivity`, `table3`, `beyond`, `memorize`), what each makes and
its files, or why the config leaves it empty."""

from __future__ import annotations

from rethinkgen import config as config_checks
from rethinkgen import describe, targets
from rethinkgen.layout import results_dir
from rethinkgen.user_inputs import own_model_targets


def target_rows(config: dict) -> list[tuple[str, str, str]]:
    """(target, what it makes, its files) for `all`, each short target, and `beyond`."""
    results = results_dir(config)
    rows = [
        (
            "all",
            f"every figure, table and the scorecard; "
            f"{describe.plural(len(config_checks.all_runs(config)), 'run')}",
            f"{results}/figures/, {results}/tables/",
        )
    ]
    specs = {**config.get("figures", {}), **config.get("tables", {})}
    for name, files in targets.short_targets(config).items():
        key = next((k for k in specs if targets.short_name(k) == name), None)
        spec = specs.get(key)
        if spec is None:  # the scorecard
            what = "the reproduction checks (docs/paper.md), over every run of `all`"
        elif targets.output_available(config, spec):
            runs = len(config_checks.experiment_runs(config, spec["experiment"]))
            kind = describe.KIND_WORDS.get(spec.get("kind"), describe.TABLE_WORDS.get(key, key))
            what = f"{kind}; experiment {spec['experiment']}, {describe.plural(runs, 'run')}"
        else:
            what = "nothing: " + targets.unavailable_reason(key, spec)
        rows.append((name, what, _short(files)))
    for name, files in (
        ("expressivity", [f"{results}/tables/expressivity.md"]),
        ("table3", [f"{results}/tables/table3_kernels.md"]),
    ):
        reason = targets.nothing_to_make(config, name)
        what = (
            "Theorem 1's construction"
            if name == "expressivity"
            else "Table 3, kernel interpolation"
        )
        rows.append((name, reason.split(": ", 1)[1] if reason else what, _short(files)))
    beyond = targets.beyond_outputs(config)
    reason = targets.nothing_to_make(config, "beyond")
    rows.append(
        (
            "beyond",
            reason.split(": ", 1)[1]
            if reason
            else f"{', '.join(beyond)}; "
            f"{describe.plural(len(config_checks.target_runs(config, 'beyond')), 'run')}",
            "" if reason else f"{results}/tables/, {results}/figures/",
        )
    )
    page = own_model_targets(config)
    rows.append(
        (
            "memorize",
            'the page "How much does your model memorize?" (docs/own-model.md)'
            if page
            else "nothing: this config has no `own_model:` section "
            "(config/your_model.yaml has one)",
            ", ".join(page),
        )
    )
    return rows


def _short(files: list[str]) -> str:
    """results/figures/fig1a.{png,pdf} for a list of one stem in several formats."""
    stems = {f.rsplit(".", 1)[0] for f in files}
    if len(stems) == 1 and len(files) > 1:
        return f"{stems.pop()}.{{{','.join(f.rsplit('.', 1)[1] for f in files)}}}"
    return ", ".join(files)
