"""The `dm` command: a thin layer that composes the Hydra config and calls library functions.

    dm <command> [hydra overrides ...]      e.g.  dm train dataset=digits subsets.alpha=0.5 subsets.num_models=2000

The whole config is composed and checked (dm.config) before the command runs, so a bad key or value fails in
about a second. dm's own errors (dm.errors.DMError) print as one line with exit code 2; anything else is a bug
and keeps its traceback; `--debug` or DM_DEBUG=1 shows tracebacks of dm's errors too. Command modules are imported
only when their command runs: `dm sql` and `dm query` never import torch, and given lake.root and lake.experiment
they import neither hydra nor pyarrow (start-up ~0.15 s).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

from dm.errors import DMError

if TYPE_CHECKING:
    from omegaconf import DictConfig

    from dm.config.lake_only import LakeOnlyConfig

# command -> ("module:function", help). Each function takes (cfg, args) and returns an exit code.
COMMANDS: dict[str, tuple[str, str]] = {
    "prepare": ("dm.commands.pipeline:prepare_cmd", "write the data set as FFCV .beton files plus the examples table"),
    "train": ("dm.commands.pipeline:train_cmd", "train subsets.num_models models on alpha-subsets (resumable)"),
    "fit": ("dm.commands.pipeline:fit_cmd", "fit a datamodel for every test and train example (resumable)"),
    "eval": ("dm.commands.pipeline:eval_cmd", "held-out evaluation and retraining experiments"),
    "query": ("dm.commands.sql:query_cmd", "run a named view or macro with bound parameters"),
    "sql": ("dm.commands.sql:sql_cmd", "run read-only SQL against the experiment's views"),
    "report": ("dm.commands.report:report_cmd", "write report.html for the experiment"),
    "run": ("dm.commands.pipeline:run_cmd", "the main job: prepare, train, fit, eval, views, report"),
    "lake": ("dm.commands.lake:lake_cmd", "verify the experiment's files; repair (quarantine) or migrate them"),
    "slurm": ("dm.commands.slurm:slurm_cmd", "print the sbatch script that runs a dm command as a SLURM job (array)"),
}

EPILOG = """
Every command takes Hydra overrides after its own options, e.g.
  dm run                                   # the embedded digits default, start to finish
  dm train subsets.alpha=0.5 subsets.num_models=2000
  dm train fabric.devices=2               # two processes split the model ids
  dm fit fabric.devices=2                 # two processes split the targets
  dm query counterfactual --ids 3,17,42
  dm sql "SELECT count(*) FROM models"
  dm lake verify                           # then `dm lake repair` to quarantine what is bad
  dm slurm train experiment=cifar10_paper launch.slurm.nodes=4 launch.slurm.array=8 > train.sbatch
  dm lake migrate                          # adopt a lake written by an older dm (no retraining)
Config groups: dataset model trainer subsets lake fabric solve eval report experiment (see conf/).
Errors print as one line; `dm --debug ...` or DM_DEBUG=1 shows the traceback.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dm", description="Datamodels: subset training, LASSO fits, SQL views.",
                                     epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--debug", action="store_true", help="show tracebacks of dm's errors (also DM_DEBUG=1)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (_, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text, epilog=EPILOG,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
        if name == "query":
            p.add_argument("name", help="view or macro name (see `dm query --list`)", nargs="?")
            p.add_argument("--list", action="store_true", help="list the views and macros")
            p.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                           help="bind a parameter (repeatable); also --ids 1,2,3 style for common ones")
            p.add_argument("--ids", help="comma-separated train ids (counterfactual)")
            p.add_argument("--limit", type=int, default=50, help="rows to print (table format)")
        if name == "slurm":
            p.add_argument("job", choices=("train", "fit", "eval", "run", "prepare"), help="the dm command to schedule")
            p.add_argument("--output", "-o", help="write the script to this file instead of stdout")
        if name == "sql":
            p.add_argument("sql", help="the SQL statement (read-only)")
        if name == "lake":
            p.add_argument("action", choices=("verify", "repair", "migrate"),
                           help="verify: list bad files; repair: quarantine; migrate: adopt a lake of an older dm")
        if name in ("query", "sql"):
            p.add_argument("--format", choices=("table", "csv", "json", "parquet"), default="table")
            p.add_argument("--output", "-o", help="write to this file instead of stdout (required for parquet)")
        p.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. subsets.alpha=0.5")
    return parser


def _resolve(target: str) -> Callable:
    module, func = target.split(":")
    return getattr(importlib.import_module(module), func)


def compose_for(command: str, overrides: list[str]) -> DictConfig | LakeOnlyConfig:
    """The checked config a command runs with (`dm run` defaults to experiment=digits_default). `dm sql` and
    `dm query` given exactly lake.root=R lake.experiment=E get them without Hydra (dm.config.lake_only)."""
    if command in ("sql", "query"):
        from dm.config.lake_only import lake_only

        if (fast := lake_only(overrides)) is not None:
            return fast
    from dm.config.compose import load_config

    overrides = list(overrides)
    if command == "run" and not any(o.startswith(("experiment=", "+experiment=")) for o in overrides):
        overrides.insert(0, "experiment=digits_default")  # the main job's embedded default
    return load_config(overrides)


def main(argv: list[str] | None = None) -> int:
    args, extra = build_parser().parse_known_args(argv)
    if getattr(args, "name", None) and "=" in args.name:  # `dm query --list k=v`: the optional NAME took an override
        args.overrides.insert(0, args.name)
        args.name = None
    overrides = list(args.overrides) + [e for e in extra if "=" in e and not e.startswith("-")]
    unknown = [e for e in extra if not ("=" in e and not e.startswith("-"))]
    if unknown:
        print(f"dm {args.command}: unrecognized arguments: {' '.join(unknown)}", file=sys.stderr)
        return 2
    try:
        cfg = compose_for(getattr(args, "job", None) or args.command, overrides)  # `dm slurm run` composes as run
        return int(_resolve(COMMANDS[args.command][0])(cfg, args) or 0)
    except DMError as err:
        if args.debug or os.environ.get("DM_DEBUG", "") not in ("", "0"):
            raise
        print(f"dm {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
