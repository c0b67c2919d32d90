"""bomerge: Bayesian-optimisation-driven model-merge tuning for BERT-style models."""

from __future__ import annotations

__version__ = "0.1.0"
