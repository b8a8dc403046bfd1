"""Retraining experiments of `dm eval`: counterfactual evaluation (Alg. A.2), data support by guided search
(Alg. 1, App. F.3) for every ranker, mislabelling (F.4) and the brittleness CDF (Fig. 7)."""

from dm.analyze.experiments.config import EvalConfig
from dm.analyze.experiments.runner import read_table, run_experiments
from dm.analyze.experiments.support import SupportEstimate, estimate_support

__all__ = ["EvalConfig", "SupportEstimate", "estimate_support", "read_table", "run_experiments"]
