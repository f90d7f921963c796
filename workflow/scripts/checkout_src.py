"""Imported first by every rule script: this checkout's src/ goes first on sys.path.

So a rule runs this checkout's rethinkgen even where another copy is installed, and conda
jobs (--sdm conda), which get no PYTHONPATH, find it at all. Snakemake puts a local
script's folder on sys.path before running it, which is how the scripts find this module.
"""

import os
import sys

SRC = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "src"))
if sys.path[:1] != [SRC]:
    sys.path.insert(0, SRC)
