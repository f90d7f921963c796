"""Analysis stage: aggregated tables, figures, the scorecard and the paper's own numbers."""
