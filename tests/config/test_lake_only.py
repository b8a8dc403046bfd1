"""`dm sql` / `dm query` given exactly lake.root and lake.experiment skip Hydra (dm.config.lake_only): the fast
path must name the same experiment directory as the composed config, and anything else must compose, so that
bad input fails exactly as before."""

from __future__ import annotations

import pytest

from dm import cli
from dm.config.compose import load_config
from dm.config.lake_only import LakeOnlyConfig, lake_only
from dm.errors import DMError
from dm.lake.layout import experiment_root

# values Hydra reads as themselves, as another type (number, bool, null), or not as a plain string at all
VALUES = ["scale", "/tmp/x", "a.b", "..", ".hidden", "0x10", "1e", "-x", "a//b", "1e3", "123", "1_000", ".5", "true",
          "null", "NaN", "-inf", "yes", "~", "a b", "'q'", "${oc.env:HOME}", "a,b", "[1]", "a:b", ""]


def _outcome(cfg_or_overrides) -> str:
    """The experiment directory a config names, or the one-line error it fails with."""
    try:
        cfg = load_config(cfg_or_overrides) if isinstance(cfg_or_overrides, list) else cfg_or_overrides
        return str(experiment_root(cfg))
    except DMError as err:
        return f"error: {err}"


@pytest.mark.parametrize("value", VALUES)
@pytest.mark.parametrize("key", ["lake.root", "lake.experiment"])
def test_fast_path_names_the_composed_directory_or_composes(key, value, monkeypatch) -> None:
    monkeypatch.delenv("DM_CONFIG_DIR", raising=False)
    other = "lake.experiment=exp" if key == "lake.root" else "lake.root=/lakes"
    overrides = [f"{key}={value}", other]
    fast = lake_only(overrides)  # None: `dm sql` composes, so its outcome is the composed one by construction
    composed = _outcome(overrides)
    if fast is not None:
        assert _outcome(fast) == composed  # the same directory, or the same experiment_root error
        assert not composed.startswith("error: lake.experiment must be")  # LakeConfig would have refused it
    if value in ("scale", "a.b", "-x") or (value == "/tmp/x" and key == "lake.root"):
        assert fast is not None  # the common case does take the fast path


def test_the_bench_command_line_takes_the_fast_path(monkeypatch) -> None:
    monkeypatch.delenv("DM_CONFIG_DIR", raising=False)
    for command in ("sql", "query"):
        cfg = cli.compose_for(command, ["lake.root=/tmp/cli_lake", "lake.experiment=scale"])
        assert cfg == LakeOnlyConfig(lake=cfg.lake) and experiment_root(cfg).as_posix() == "/tmp/cli_lake/scale"
    assert not isinstance(cli.compose_for("train", ["lake.root=/l", "lake.experiment=e"]), LakeOnlyConfig)


@pytest.mark.parametrize(
    "overrides",
    [
        ["lake.root=/l"],  # only one of the two
        ["lake.root=/l", "lake.experiment=e", "lake.experiment=f"],  # a key twice
        ["lake.root=/l", "lake.experiment=e", "lake.chunk_size=5"],  # another lake key
        ["lake.root=/l", "lake.experiment=e", "experiment=digits_default"],
        ["+lake.root=/l", "lake.experiment=e"],
        ["lake.root=/l", "lake.experiment=e", "foo=1"],
        ["lake.rooot=/l", "lake.experiment=e"],
    ],
)
def test_anything_but_exactly_the_two_lake_keys_composes(overrides, monkeypatch) -> None:
    monkeypatch.delenv("DM_CONFIG_DIR", raising=False)
    assert lake_only(overrides) is None


def test_dm_config_dir_composes(monkeypatch) -> None:
    monkeypatch.setenv("DM_CONFIG_DIR", "/somewhere/conf")
    assert lake_only(["lake.root=/l", "lake.experiment=e"]) is None


@pytest.mark.parametrize(
    "overrides, key",
    [
        (["lake.rooot=/l", "lake.experiment=e"], "lake.rooot"),
        (["lake.root=/l", "lake.experiment=e", "foo=1"], "foo"),
        (["lake.root=/l", "lake.experiment=a/b"], "lake.experiment"),
        (["lake.root=/l", "lake.experiment=null"], "lake.experiment"),
    ],
)
@pytest.mark.parametrize("command", [["sql", "SELECT 1"], ["query", "support"]])
def test_bad_lake_overrides_still_fail_in_one_line(command, overrides, key, monkeypatch, capsys) -> None:
    monkeypatch.delenv("DM_CONFIG_DIR", raising=False)
    monkeypatch.setattr(cli, "_resolve", lambda target: pytest.fail(f"resolved {target} with a bad config"))
    assert cli.main([*command, *overrides]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and key in err and err.startswith(f"dm {command[0]}: error: "), err
