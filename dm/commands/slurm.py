"""`dm slurm COMMAND [overrides]`: print (or write) the sbatch script of a scheduled dm job."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from omegaconf import DictConfig

from dm.cluster.slurm import render_sbatch


def slurm_cmd(cfg: DictConfig, args: argparse.Namespace) -> int:
    script = render_sbatch(args.job, cfg, list(args.overrides))
    if args.output:
        Path(args.output).write_text(script)
        print(f"wrote {args.output}; submit it with: sbatch {args.output}", file=sys.stderr)
    else:
        print(script, end="")
    return 0
