"""`dm lake verify` and `dm lake repair`: check an experiment's files, quarantine the bad ones.

    dm lake verify lake.experiment=NAME     # one line per bad file and why; exit 1 if any
    dm lake repair lake.experiment=NAME     # move them to quarantine/<time>/; the next train/fit refills them
"""

from __future__ import annotations

import argparse

from omegaconf import DictConfig

from dm.lake.layout import experiment_root
from dm.lake.lock import experiment_lock, fit_lock
from dm.lake.store import Lake


def lake_cmd(cfg: DictConfig, args: argparse.Namespace) -> int:
    from dm.lake.verify import find_problems, repair

    lake = Lake.open(experiment_root(cfg))
    if args.action == "verify":
        problems = find_problems(lake)
        for problem in problems:
            print(problem)
        files = len({p.path for p in problems})
        print(f"{lake.layout.root}: " + (f"{files} bad file(s); `dm lake repair` quarantines them" if problems
                                         else f"ok ({len(lake.committed_parts())} parts verified)"))
        return 1 if problems else 0
    with fit_lock(lake.layout.root), experiment_lock(lake.layout.root):  # no writer may commit meanwhile
        lake.recover()
        problems = find_problems(lake)
        moved = repair(lake, problems)
    for source, dest in moved:
        print(f"quarantined {source} -> {dest}")
    ids = lake.committed_ids()
    print(f"{lake.layout.root}: {len(moved)} file(s) quarantined; {len(ids)} models remain. "
          "`dm train` / `dm fit` refill what is missing, and views and betons are rebuilt on next use")
    return 0
