#!/usr/bin/env bash
# The evidence run behind docs/results/, in stages so that the most wanted cells finish
# first on 2 CPU cores. Run it in its own checkout at a fixed commit (git worktree add
# --detach ../evidence <commit>), with the README's venv:
#   nohup nice -n 10 bash benchmarks/evidence_run.sh /path/to/venv > evidence.log 2>&1 &
# Killed or interrupted, run it again: Snakemake resumes every unfinished run from its
# checkpoint (--rerun-incomplete) and skips the finished ones.
set -uo pipefail
venv=${1:-.venv}
config=config/evidence.yaml
export PYTHONPATH=$PWD/src
smk() {
    # targets before --configfile, which takes every word after it
    /usr/bin/time -v "$venv/bin/snakemake" "$@" --cores 2 --rerun-incomplete --keep-going \
        --configfile "$config"
}
stage() { "$venv/bin/python" benchmarks/stage_runs.py "$config" "$@"; }
echo "== stage 1 $(date -u +%FT%TZ): the bf16-against-fp32 check (AlexNet, 5,000 images)"
smk $(stage precision:alexnet,alexnet_bf16)
echo "== stage 2 $(date -u +%FT%TZ): the MLP sweep at both lr decays"
smk $(stage mlp_schedule fig1bc:mlp_1x512)
echo "== stage 2b $(date -u +%FT%TZ): Figure 2b with matched nets"
smk $(stage fig2b_matched)
echo "== stage 3 $(date -u +%FT%TZ): the rest of config/large.yaml's grid"
smk $(stage fig1a fig1bc fig1b_ladder table1 table4 fig2b)
echo "== stage 4 $(date -u +%FT%TZ): AlexNet at 60,000 images, seed 0, p = 0 and 1"
smk $(stage fig1bc_full::0:true_labels,random_labels)
echo "== stage 5 $(date -u +%FT%TZ): AlexNet at 60,000 images, every seed and p"
smk $(stage fig1bc_full)
echo "== stage 6 $(date -u +%FT%TZ): Inception, precision and Figure 1a at 2,000-20,000 images"
smk $(stage precision_inception fig1a_scale)
echo "== stage 7 $(date -u +%FT%TZ): everything else (theory, tables, figures, scorecard)"
smk all
echo "== done $(date -u +%FT%TZ)"
