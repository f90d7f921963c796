"""rethinkgen: a reproduction of Zhang et al., "Understanding deep learning requires
rethinking generalization" (ICLR 2017), as a library used by a Snakemake workflow."""

__version__ = "0.1.0"
