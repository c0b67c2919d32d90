"""Search strategies; importing this package registers every built-in strategy."""

from __future__ import annotations

from bomerge.search.strategies import (
    gp,  # noqa: F401  (each module registers its strategy)
    parego,  # noqa: F401
    saas,  # noqa: F401
)
from bomerge.search.strategies.base import (
    STRATEGIES,
    SearchStrategy,
    StrategySettings,
    get_strategy,
    register,
)

__all__ = ["STRATEGIES", "SearchStrategy", "StrategySettings", "get_strategy", "register"]
