"""`dm lake verify` and `dm lake repair`: check an experiment's files, quarantine the bad ones.

    dm lake verify lake.experiment=NAME     # one line per bad file and why; exit 1 if any
    dm lake repair lake.experiment=NAME     # move them to quarantine/<time>/; the next train/fit refills them
    dm lake migrate lake.experiment=NAME    # adopt a lake of the previous format (dm.lake.migrate)
"""

from __future__ import annotations

import argparse

from omegaconf import DictConfig

from dm.lake.layout import experiment_root
from dm.lake.lock import experiment_lock, fit_lock
from dm.lake.store import Lake


def lake_cmd(cfg: DictConfig, args: argparse.Namespace) -> int:
    from dm.lake.verify import find_problems, repair

    if args.action == "migrate":
        return _migrate(experiment_root(cfg))
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


def _migrate(root) -> int:
    from dm.lake.migrate import migrate
    from dm.lake.schema import LAKE_FORMAT

    done = migrate(root)
    if done.from_format is None:
        print(f"{root}: already lake format {LAKE_FORMAT}; nothing to migrate")
        return 0
    for problem in done.problems:
        print(problem)
    for source, dest in done.quarantined:
        print(f"quarantined {source} -> {dest}")
    for note in done.notes:
        print(note)
    print(f"{root}: migrated from lake format {done.from_format} to {LAKE_FORMAT}: {done.parts} part(s) and "
          f"{done.blocks} fit block(s) recorded, {len(done.quarantined)} file(s) quarantined"
          + ("; `dm train` / `dm fit` refill them" if done.quarantined else ""))
    return 0
