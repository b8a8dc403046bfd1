"""The CLI: a bad config fails before any command runs, with one line naming the key; only dm's own errors are
caught (a bug keeps its traceback); `dm sql` / `dm query` start without torch."""

import subprocess
import sys
import textwrap

import pytest

from dm import cli
from dm.errors import DMError


@pytest.fixture
def no_command_runs(monkeypatch):
    """Fail the test if the CLI gets as far as importing a command."""
    def refuse(target):
        raise AssertionError(f"the CLI resolved {target} although the config is bad")
    monkeypatch.setattr(cli, "_resolve", refuse)


@pytest.mark.parametrize(
    "argv, key",
    [
        (["run", "solve.lambda_ratio=0.5"], "solve.lambda_ratio"),
        (["run", "eval.unknown_key=1"], "eval.unknown_key"),
        (["fit", "report.whatever=2"], "report.whatever"),
        (["train", "model=softmax", "model.hidden=4"], "model.hidden"),
        (["sql", "SELECT 1", "subsets.alfa=0.3"], "subsets.alfa"),
    ],
)
def test_bad_config_fails_before_anything_runs_with_one_line(argv, key, tmp_path, capsys, no_command_runs):
    code = cli.main([*argv, f"lake.root={tmp_path / 'lake'}"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and key in err and err.startswith(f"dm {argv[0]}: error: ")
    assert not (tmp_path / "lake").exists()


def _command_raising(monkeypatch, error: Exception) -> None:
    def command(cfg, args):
        raise error
    monkeypatch.setattr(cli, "_resolve", lambda target: command)


def test_dm_errors_print_one_line(monkeypatch, capsys):
    _command_raising(monkeypatch, DMError("the lake is busy"))
    assert cli.main(["eval"]) == 2
    assert capsys.readouterr().err == "dm eval: error: the lake is busy\n"


@pytest.mark.parametrize("how", ["flag", "flag after command", "env"])
def test_debug_shows_the_traceback_of_dm_errors(monkeypatch, how):
    _command_raising(monkeypatch, DMError("the lake is busy"))
    argv = {"flag": ["--debug", "eval"], "flag after command": ["eval", "--debug"], "env": ["eval"]}[how]
    if how == "env":
        monkeypatch.setenv("DM_DEBUG", "1")
    with pytest.raises(DMError, match="busy"):
        cli.main(argv)


def test_a_bug_keeps_its_traceback(monkeypatch):
    _command_raising(monkeypatch, ValueError("operands could not be broadcast together"))
    with pytest.raises(ValueError, match="broadcast"):
        cli.main(["fit"])


def test_sql_and_query_start_without_torch():
    code = textwrap.dedent("""
        import sys
        from dm.cli import COMMANDS, _resolve, compose_for
        compose_for("sql", [])
        _resolve(COMMANDS["sql"][0]), _resolve(COMMANDS["query"][0])
        print(sorted(m for m in ("torch", "lightning", "ffcv", "sklearn", "matplotlib") if m in sys.modules))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
