"""Early stopping (``search.early_stopping``; docs/performance.md, "Cheaper trials").

* ``judge``: a trial scored chunk by chunk is judged after each chunk by the study's rule,
  Ax's percentile rule or the dominance rule;
* ``dominance``: the dominance rule (stop a trial whose running scores are dominated beyond
  their error by a completed trial).
"""
