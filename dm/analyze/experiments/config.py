"""The `eval` config group: defined in :mod:`dm.config.eval` (its Hydra schema), plus what the experiments derive
from it."""

from __future__ import annotations

from dm.config.eval import RANKERS, REMOVED, CounterfactualConfig, EvalConfig, SupportConfig

__all__ = ["RANKERS", "REMOVED", "CounterfactualConfig", "EvalConfig", "SupportConfig", "retrain_budget"]


def retrain_budget(ecfg: EvalConfig, d: int) -> int:
    """Upper bound on the models the experiments train on a d-example training set (before de-duplication of
    identical training sets across experiments, e.g. datamodels' top-k shared by counterfactual and support)."""
    n, t = ecfg.targets, ecfg.replicates
    total = ecfg.control_replicates
    if ecfg.counterfactual.enabled:
        total += n * len(ecfg.counterfactual.removed) * sum(k < d for k in ecfg.counterfactual.ks) * t
    for section in (ecfg.support, ecfg.mislabel):
        if section.enabled:
            total += n * len(section.rankers) * (sum(k < d for k in section.ks) + int(section.verify)) * t
    return total
