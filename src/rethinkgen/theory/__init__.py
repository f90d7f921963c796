"""Theory stage: Theorem 1 construction and minimum-norm kernel interpolation (no training code)."""
