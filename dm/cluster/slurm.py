"""The sbatch script of a scheduled `dm` job (`dm slurm COMMAND [overrides]` prints it).

One SLURM task per Fabric process: `--ntasks-per-node` equals the processes per node (GPUs, or
`fabric.devices` CPU processes), and `srun` starts them all; Lightning's SLURMEnvironment reads the ranks from
SLURM's variables, so nothing is spawned by dm. With `launch.slurm.array=N` the script is a job array whose task
s passes `launch.shard_index=s launch.num_shards=N`, so each task owns every N-th chunk of model ids (dm train)
or target block (dm fit), and all tasks commit to one lake. `--requeue` puts a pre-empted task back in the queue;
rerun, it trains (or fits) only what its shard is missing, since every chunk commits atomically.
"""

from __future__ import annotations

import shlex

from omegaconf import DictConfig

SCHEDULED = ("train", "fit", "eval", "run", "prepare")  # commands worth a batch job
_OWN_KEYS = ("launch.", "fabric.num_nodes=", "fabric.devices=", "+launch.")  # set by the script itself


def processes_per_node(cfg: DictConfig) -> int:
    """Fabric processes (= SLURM tasks) per node: one per GPU, or `fabric.devices` on CPU."""
    if cfg.fabric.accelerator == "cpu":
        return max(1, int(cfg.fabric.devices))
    return int(cfg.launch.slurm.gpus_per_node)


def render_sbatch(command: str, cfg: DictConfig, overrides: list[str]) -> str:
    """The sbatch script that runs `dm COMMAND overrides...` under `cfg.launch.slurm`.

    overrides: the user's Hydra overrides (those of the `launch` group and the node/device counts are set by
    the script from SLURM's variables instead).
    """
    if command not in SCHEDULED:
        raise ValueError(f"dm slurm: {command!r} is not a batch command (one of {', '.join(SCHEDULED)})")
    s = cfg.launch.slurm
    tasks = processes_per_node(cfg)
    name = f"dm-{command}-{cfg.lake.experiment}"
    lines = [
        "#!/bin/bash",
        f"# `dm {command}` of experiment {cfg.lake.experiment}, printed by `dm slurm`. Submit: sbatch <this file>",
        f"#SBATCH --job-name={name}",
        f"#SBATCH --nodes={s.nodes}",
        f"#SBATCH --ntasks-per-node={tasks}",
        f"#SBATCH --cpus-per-task={s.cpus_per_task}",
        f"#SBATCH --time={s.time}",
        # in the submit directory, which exists when SLURM opens the file (a folder made by the script would not)
        "#SBATCH --output=%x-%A_%a.out" if s.array > 1 else "#SBATCH --output=%x-%j.out",
        "#SBATCH --open-mode=append",  # a requeued task appends to its log
    ]
    if cfg.fabric.accelerator != "cpu":
        lines.append(f"#SBATCH --gpus-per-node={s.gpus_per_node}")
    if s.array > 1:
        lines.append(f"#SBATCH --array=0-{s.array - 1}" + (f"%{s.max_parallel}" if s.max_parallel else ""))
    lines += [f"#SBATCH --{key}={value}" for key, value in (("partition", s.partition), ("account", s.account),
                                                              ("mem", s.mem)) if value]
    if s.requeue:
        lines.append("#SBATCH --requeue")
    lines += [f"#SBATCH {extra}" for extra in s.sbatch]
    lines += ["", "set -euo pipefail", *s.setup]
    kept = [o for o in overrides if not o.startswith(_OWN_KEYS)]
    args = ["dm", command, *map(shlex.quote, kept), "fabric.num_nodes=${SLURM_JOB_NUM_NODES}",
            f"fabric.devices={tasks}"]
    if s.array > 1:
        args += ["launch.shard_index=${SLURM_ARRAY_TASK_ID}", f"launch.num_shards={s.array}"]
    lines += ["", "# one task per process; Lightning reads ranks from SLURM_PROCID / SLURM_LOCALID / SLURM_NODEID",
              "srun " + " \\\n    ".join(_wrap(args)), ""]
    return "\n".join(lines)


def _wrap(args: list[str], width: int = 100) -> list[str]:
    """Arguments grouped into lines of at most ~width characters (for a readable script)."""
    out, line = [], ""
    for arg in args:
        if line and len(line) + 1 + len(arg) > width:
            out.append(line)
            line = arg
        else:
            line = f"{line} {arg}".strip()
    return [*out, line] if line else out
