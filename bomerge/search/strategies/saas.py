"""``saas`` and ``saas_nuts``: the ``gp`` strategy with a SAAS-prior GP as its surrogate.

The sparse axis-aligned subspace prior (Eriksson & Jankowiak 2021, "High-Dimensional
Bayesian Optimization with Sparse Axis-Aligned Subspaces") puts half-Cauchy priors on the
inverse squared lengthscales under a global half-Cauchy shrinkage τ, so most dimensions are
switched off unless the data demand them: what keeps a GP from fitting noise with tens of
merge coefficients and a few dozen trials. The acquisition stays qLogNEHVI (qLogNEI for one
objective), after the same seeded Sobol points as ``gp``.

* ``saas``: BoTorch's ``EnsembleMapSaasSingleTaskGP``, an ensemble of MAP fits, one per τ
  drawn from the prior (seconds per fit, no extra dependency).
* ``saas_nuts``: BoTorch's ``SaasFullyBayesianSingleTaskGP`` sampled with NUTS (SAASBO
  itself; minutes per fit), which needs BoTorch's ``fully_bayesian`` extra (JAX and NumPyro,
  ``pip install 'botorch[fully_bayesian]'``); without it the name is refused.

The surrogate goes to Ax as a ``SurrogateSpec`` of one ``ModelConfig`` naming the BoTorch
model class. Ax's SQL store encodes that class by name through its own registry
(``ax.storage.botorch_modular_registry``, which lists both classes), so a stored study
decodes and goes on generating with nothing registered here. The BoTorch node carries its
own name (``qLogNEHVI-SAAS``, ``qLogNEHVI-SAAS-NUTS``, …), which each trial's generator run
records. As with ``gp``, node names and generator settings are stored with every experiment
and must not change for studies that already exist.
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
