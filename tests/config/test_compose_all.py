"""Every experiment composes and validates for every command; every group option has a schema; the typed groups
and the classes their packages use agree."""

from dataclasses import fields
from pathlib import Path

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from dm.cli import COMMANDS, compose_for
from dm.config.compose import config_dir
from dm.config.eval import EvalConfig
from dm.config.report import ReportSettings
from dm.config.schema import OPTION_SCHEMAS, model_identity
from dm.config.solve import SolveSettings
from dm.errors import ConfigError
from dm.solve.config import SolveConfig

CONF = config_dir()
EXPERIMENTS = sorted(p.stem for p in (CONF / "experiment").glob("*.yaml"))


def _options(group: str) -> list[str]:
    return sorted(p.stem for p in (Path(CONF) / group).glob("*.yaml"))


def test_there_are_experiments_to_check():
    assert {"digits_default", "cifar10_paper"} <= set(EXPERIMENTS)


@pytest.mark.parametrize("command", sorted(COMMANDS))
@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_every_experiment_validates_for_every_command(experiment, command):
    cfg = compose_for(command, [f"experiment={experiment}"])
    typed = OmegaConf.to_object(cfg)  # every group as its dataclass, every __post_init__ check run
    assert isinstance(typed.solve, SolveSettings) and isinstance(typed.eval, EvalConfig)
    assert isinstance(typed.report, ReportSettings)
    assert isinstance(typed.model, OPTION_SCHEMAS["model"][cfg.model.name])
    assert isinstance(typed.dataset, OPTION_SCHEMAS["dataset"][cfg.dataset.name])
    assert OmegaConf.is_readonly(cfg)


def test_dm_run_defaults_to_the_digits_experiment():
    assert compose_for("run", []).lake.experiment == "digits_default"
    assert compose_for("train", []).lake.experiment == "digits_a0.5"


@pytest.mark.parametrize("group, option", [(g, o) for g in ("dataset", "model") for o in _options(g)])
def test_every_option_has_only_its_own_fields(group, option, compose):
    cfg = compose(f"{group}={option}", *(["dataset.path=x.npz"] if option == "npz" else []))
    schema = OPTION_SCHEMAS[group][option]
    assert OmegaConf.get_type(cfg[group]) is schema
    assert set(cfg[group]) == {f.name for f in fields(schema)}
    assert set(OPTION_SCHEMAS[group]) == set(_options(group))


def test_a_model_key_of_another_model_is_refused(compose):
    with pytest.raises(ConfigError, match=r"unknown key model\.hidden; model takes: name"):
        compose("model=softmax", "model.hidden=8")
    with pytest.raises(ConfigError, match=r"model\.width"):
        compose("model=mlp", "model.width=8")
    with pytest.raises(ConfigError, match="model=vgg.*available: linreg, mlp, resnet18, resnet9, softmax"):
        compose("model=vgg")
    with pytest.raises(ConfigError, match=r"unknown key dataset\.n_features; dataset takes: name, test_fraction"):
        compose("dataset=digits", "dataset.n_features=3")


def test_lake_identity_of_the_model_keeps_its_form_from_before_per_model_schemas(compose):
    # identity written by lakes before per-model groups: every model held hidden, width and ridge
    assert model_identity(compose().model) == {"name": "mlp", "hidden": 32, "width": 64, "ridge": 0.0}
    assert model_identity(compose("model=softmax").model) == {"name": "softmax", "hidden": 32, "width": 64,
                                                              "ridge": 0.0}
    assert model_identity(compose("model=resnet9", "model.width=16").model)["width"] == 16


@pytest.mark.parametrize(
    "override, key",
    [
        ("solve.lambda_ratio=0.5", "solve.lambda_ratio"),
        ("solve.k_lambdas=abc", "solve.k_lambdas"),
        ("solve.dtype=float16", "solve.dtype"),
        ("solve.test_fraction=1.0", "solve.test_fraction"),
        ("solve.unknown=1", "solve.unknown"),
        ("eval.unknown_key=1", "eval.unknown_key"),
        ("eval.support.ks=[0]", "support.ks"),
        ("eval.counterfactual.removed=[middle]", "counterfactual.removed"),
        ("eval.weights=oracle", "weights"),
        ("eval.rankers.influence.output=grad", "rankers.influence.output"),
        ("eval.rankers.tracin.models=0", "rankers.tracin.models"),
        ("eval.rankers.shapley.models=1", "eval.rankers.shapley"),
        ("eval.rankers.trak.proj_dim=-1", "rankers.trak"),
        ("eval.attribution.runs=[{method:trak,model:3}]", "eval.attribution"),
        ("report.whatever=2", "report.whatever"),
        ("report.dpi=5", "report.dpi"),
        ("model=resnet9 model.width=0", "model.width"),
    ],
)
def test_bad_values_of_the_typed_groups_fail_when_composed(compose, override, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        compose(*override.split())


def test_solve_group_and_solver_dataclass_agree():
    lake_only = {"test_fraction", "split_seed", "blocks_per_call", "overwrite"}
    library_only = {"device", "eval_batch_size"}
    assert {f.name for f in fields(SolveSettings)} - lake_only == {f.name for f in fields(SolveConfig)} - library_only
    defaults = SolveSettings()
    for f in fields(SolveConfig):
        if f.name not in ("device", "dtype", "eval_batch_size"):
            assert getattr(defaults, f.name) == getattr(SolveConfig(), f.name), f.name
    assert SolveConfig().dtype == getattr(torch, defaults.dtype)
    with pytest.raises(ConfigError, match="lambda_ratio"):  # the same rule through the library API
        SolveConfig(lambda_ratio=0.5)
    with pytest.raises(ConfigError, match="dtype"):
        SolveConfig(dtype=torch.float16)


def test_recorded_identities_keep_their_form(compose):
    """fit.json records the solve group as composed; before the group was typed it was exactly the yaml's keys.
    Keeping that form lets existing fits resume."""
    from dm.solve.lake_fit import fit_identity
    from dm.solve.model_roles import assign_roles

    yaml = OmegaConf.to_container(OmegaConf.load(CONF / "solve" / "saga.yaml"))
    cfg = compose()
    recorded = fit_identity(cfg, assign_roles(np.arange(50), 0.1, 0.1, 0))["solve"]
    assert recorded == {k: v for k, v in yaml.items() if k not in ("blocks_per_call", "overwrite")}


def test_yaml_defaults_are_the_dataclass_defaults(compose):
    """conf/solve, conf/report document every key; their values are the dataclass defaults (one source of truth
    for what a plain library call and `dm` do)."""
    cfg = compose()
    assert OmegaConf.to_object(cfg.report) == ReportSettings()
    solve = OmegaConf.to_object(cfg.solve)
    assert solve == SolveSettings()


def test_eval_from_a_plain_dict_equals_the_composed_group(compose):
    cfg = compose("eval.rankers.tracin.models=1", "eval.support.ks=[40,10]")
    ecfg = EvalConfig.from_cfg(cfg.eval)
    assert ecfg.to_dict() == EvalConfig.from_cfg(OmegaConf.to_container(cfg.eval)).to_dict()
    assert ecfg.support.ks == (10, 40) and ecfg.ranker_options()["tracin"] == {"models": 1, "last_layer": False}
    with pytest.raises(ConfigError, match=r"unknown keys \['x'\] in eval.rankers.nearest"):
        EvalConfig.from_cfg({"rankers": {"nearest": {"x": 1}}})
