"""Datamodel solver core: minibatch proximal SAGA LASSO for all targets at once (tensors in, dataclasses out).

Public API:
    fit_datamodels: λ path + validation selection + refit for every target (the ``dm fit`` core).
    solve_fixed_lambda: eq. 8/9 at a given λ per target.
    split_models: random train/validation split of model rows.
    SolveConfig, DatamodelFit, FixedLambdaFit, PathLog, FailedTarget: configuration and results.
    pack_masks, unpack_masks: the bit-packing convention (numpy packbits, little bit order).
"""

from dm.solve.bits import pack_masks, unpack_masks
from dm.solve.config import SolveConfig
from dm.solve.fixed import solve_fixed_lambda
from dm.solve.path import fit_datamodels, lambda_grid, split_models
from dm.solve.results import DatamodelFit, FailedTarget, FixedLambdaFit, PathLog

__all__ = [
    "DatamodelFit",
    "FailedTarget",
    "FixedLambdaFit",
    "PathLog",
    "SolveConfig",
    "fit_datamodels",
    "lambda_grid",
    "pack_masks",
    "solve_fixed_lambda",
    "split_models",
    "unpack_masks",
]
