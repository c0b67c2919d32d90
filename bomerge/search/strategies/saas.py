"""``saas`` and ``saas_nuts``: the ``gp`` strategy with a SAAS-prior GP as its surrogate.

Eriksson & Jankowiak 2021 (SAASBO): most dimensions switched off unless the data demand them,
so tens of merge coefficients can be searched in a few dozen trials. The two forms, and how
Ax stores their surrogate: docs/methods.md, "The saas search strategies".
"""

from __future__ import annotations

import importlib.util
from typing import TYPE_CHECKING, Any, ClassVar

from bomerge.errors import BomergeError
from bomerge.search.strategies.base import register
from bomerge.search.strategies.gp import GaussianProcess

if TYPE_CHECKING:
    from ax.generators.torch.botorch_modular.utils import ModelConfig

#: The Python modules the fully Bayesian SAAS GP imports when it is fitted.
NUTS_MODULES = ("jax", "numpyro")


@register
class Saas(GaussianProcess):
    """Sobol, then qLogNEHVI / qLogNEI on an ensemble of MAP-fitted SAAS-prior GPs."""

    name = "saas"
    description = ("Sobol, then qLogNEHVI / qLogNEI on a SAAS-prior GP (an ensemble of MAP "
                   "fits; for many merge coefficients)")
    node_suffix: ClassVar[str] = "SAAS"

    def bo_node(self, multi_objective: bool) -> str:
        return f"{super().bo_node(multi_objective)}-{self.node_suffix}"

    def model_config(self) -> ModelConfig:
        """The surrogate: one BoTorch model class with Ax's default transforms."""
        from ax.generators.torch.botorch_modular.utils import ModelConfig
        from botorch.models.map_saas import EnsembleMapSaasSingleTaskGP

        return ModelConfig(botorch_model_class=EnsembleMapSaasSingleTaskGP,
                           name="EnsembleMapSaas")

    def generator_kwargs(self, multi_objective: bool) -> dict[str, Any]:
        from ax.generators.torch.botorch_modular.surrogate import SurrogateSpec

        return {**super().generator_kwargs(multi_objective),
                "surrogate_spec": SurrogateSpec(model_configs=[self.model_config()])}


@register
class SaasNuts(Saas):
    """Sobol, then qLogNEHVI / qLogNEI on the fully Bayesian SAAS GP (NUTS, BoTorch's
    default chain: 512 warm-up steps, 256 samples kept every 16th)."""

    name = "saas_nuts"
    description = ("Sobol, then qLogNEHVI / qLogNEI on the fully Bayesian SAAS GP (NUTS; "
                   "needs botorch[fully_bayesian])")
    node_suffix = "SAAS-NUTS"

    def __init__(self) -> None:
        missing = [module for module in NUTS_MODULES if importlib.util.find_spec(module) is None]
        if missing:
            raise BomergeError(
                f"search strategy '{self.name}' needs BoTorch's fully_bayesian extra "
                f"({' and '.join(missing)} not installed): pip install "
                "'botorch[fully_bayesian]', or use 'saas'"
            )

    def model_config(self) -> ModelConfig:
        from ax.generators.torch.botorch_modular.utils import ModelConfig
        from botorch.models.fully_bayesian import SaasFullyBayesianSingleTaskGP

        return ModelConfig(botorch_model_class=SaasFullyBayesianSingleTaskGP,
                           mll_options={"disable_progbar": True}, name="SaasFullyBayesian")


__all__ = ["Saas", "SaasNuts"]
