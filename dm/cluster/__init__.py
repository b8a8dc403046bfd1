"""Scheduled jobs on shared clusters: work shares for SLURM job arrays and the sbatch script `dm slurm` prints.

Multi-node launching itself is Lightning Fabric's (SLURM, torchrun/`fabric run` and `NODE_RANK` environments are
detected by Fabric); this package only decides which model ids or target blocks a launched job owns, and writes the
batch script that launches it.
"""
