"""Commands of the pipeline stages: each prints a short summary of what it wrote and where."""

from __future__ import annotations

import argparse
import sys

from omegaconf import DictConfig

from dm.cluster.shard import Shard
from dm.lake.layout import experiment_root
from dm.lake.store import Lake
from dm.lake.views import DatabaseBusy, rebuild_views


def prepare_cmd(cfg: DictConfig, args: argparse.Namespace | None = None) -> int:
    from dm.data.prepare import prepare

    root = experiment_root(cfg)
    info = prepare(cfg, root)
    print(
        f"prepared {info.name}: {info.d} train / {info.n_test} test examples, {info.num_classes or 'regression'}"
        f" classes, fingerprint {info.fingerprint[:12]} -> {root / 'data'}"
    )
    return 0


def refresh_views(cfg: DictConfig) -> None:
    try:
        build = rebuild_views(Lake.open(experiment_root(cfg)))
    except DatabaseBusy as err:  # a user's open connection: the results are committed, the views wait
        print(f"views not refreshed: {err}; `dm sql` rebuilds them when the database is free", file=sys.stderr)
        return
    views = ", ".join(v for v in build.created if not v.startswith("stg_"))
    print(f"views in {experiment_root(cfg) / 'dm.duckdb'}: {views}")


def train_cmd(cfg: DictConfig, args: argparse.Namespace | None = None) -> int:
    from dm.train.runner import make_fabric, run_train

    fabric = make_fabric(cfg)
    summary = run_train(cfg, fabric)
    if fabric.global_rank == 0:
        refresh_views(cfg)
        acc = f", mean test accuracy {summary.mean_test_accuracy:.4f}" if summary.trained else ""
        shard = Shard.from_cfg(cfg.launch)
        print(
            (f"{shard}: " if shard.count > 1 else "")
            + f"trained {summary.trained} models on rank 0 in {summary.seconds:.1f}s "
            f"({summary.models_per_second:.1f} models/s{acc}); the lake holds {summary.total_models} models "
            f"-> {summary.lake}"
        )
        if summary.skipped:
            print(f"skipped {summary.skipped} models that another launcher is training; rerun to pick up any it "
                  "does not finish")
    return 0


def fit_cmd(cfg: DictConfig, args: argparse.Namespace | None = None) -> int:
    from dm.solve.lake_fit import run_fit
    from dm.train.runner import make_fabric

    fabric = make_fabric(cfg)
    summary = run_fit(cfg, fabric)
    if fabric.global_rank == 0:
        refresh_views(cfg)
        for line in summary.failed[:20]:
            print(f"not fitted: {line}")
        for line in summary.not_converged[:20]:
            print(f"not converged: {line}")
        unconverged = len(summary.not_converged)
        print(
            f"fit {summary.targets} targets ({summary.skipped_blocks} blocks already done) in {summary.seconds:.1f}s"
            f"{f', {len(summary.failed)} failed' if summary.failed else ''}"
            f"{f', {unconverged} not converged (raise solve.max_epochs; see datamodel_fits)' if unconverged else ''}"
            f" -> {summary.root}"
        )
    return 0


def eval_cmd(cfg: DictConfig, args: argparse.Namespace | None = None) -> int:
    """Held-out evaluation (predictions, LDS, correlations, MSE), embeddings, then the retraining experiments."""
    summary = evaluate(cfg)
    metrics = summary["metrics"]
    shown = ", ".join(f"{k} {v:.3f}" for k, v in metrics.items() if isinstance(v, float))
    print(f"eval: {shown} -> {experiment_root(cfg) / 'eval'}")
    line = attribution_line(summary)
    if line:
        print(line)
    return 0


def attribution_line(evaluated: dict) -> str:
    """One line of `dm eval`'s LDS-vs-cost table (view attribution_scores), or "" if it was not computed."""
    table = (evaluated.get("experiments") or {}).get("attribution")
    if table is None:
        return ""
    rows = sorted(table.to_pylist(), key=lambda r: (r["method"], r["models_trained"], r["settings"]))
    return "  attribution LDS (models trained): " + ", ".join(
        f"{r['method']} {r['lds']:.2f} ({r['models_trained']})" for r in rows)


def evaluate(cfg: DictConfig) -> dict:
    """Run every evaluation step on the experiment; returns {"metrics": {name: value}, "experiments": ...}."""
    from dm.analyze.views.embedding import compute_embedding
    from dm.analyze.views.evaluate import evaluate_heldout
    from dm.analyze.views.predictions import compute_predictions

    lake = Lake.open(experiment_root(cfg))
    preds = compute_predictions(lake)
    metrics = {f"{r['metric']}_{r['split']}": r["value"] for r in evaluate_heldout(lake, preds=preds).to_pylist()}
    compute_embedding(lake)
    experiments = None
    if lake.meta["shape"]["task"] == "classification":
        from dm.analyze.experiments.config import EvalConfig
        from dm.analyze.experiments.runner import run_experiments
        from dm.analyze.views.seed_noise import evaluate_seed_noise

        noise_models = EvalConfig.from_cfg(cfg.eval).seed_noise_models
        if noise_models and cfg.model.name != "linreg":
            rows = evaluate_seed_noise(cfg, lake, preds, noise_models)
            metrics.update({f"{r['metric']}_{r['split']}": r["value"] for r in rows})

        experiments = run_experiments(cfg)
        metrics.update(experiments["metrics"])
    refresh_views(cfg)
    return {"metrics": metrics, "experiments": experiments}


EXAMPLE_QUERIES = (
    "dm query counterfactual --ids 3,17,42{select}",
    'dm sql "SELECT * FROM support ORDER BY support_size NULLS LAST LIMIT 10"{select}',
    '(cd {root} && duckdb dm.duckdb "SELECT example_id, train_id, score FROM leakage WHERE rank = 1 LIMIT 10")',
)


def run_cmd(cfg: DictConfig, args: argparse.Namespace | None = None) -> int:
    """The main job: prepare -> train -> fit -> eval -> views -> report, then a summary."""
    import time

    from dm.commands.report import report_cmd
    from dm.solve.lake_fit import run_fit
    from dm.train.runner import make_fabric, run_train

    start = time.perf_counter()
    fabric = make_fabric(cfg)
    if fabric.global_rank == 0:
        prepare_cmd(cfg)
    trained = run_train(cfg, fabric)
    fitted = run_fit(cfg, fabric)
    if fabric.global_rank != 0:
        return 0
    evaluated = evaluate(cfg)
    report_cmd(cfg)
    m = evaluated["metrics"]
    root = experiment_root(cfg)
    lines = [
        "",
        f"dm run finished in {time.perf_counter() - start:.0f}s",
        f"  models      {trained.total_models} (trained now: {trained.trained}, "
        f"{trained.models_per_second:.0f} models/s, mean test accuracy {trained.mean_test_accuracy:.3f}"
        + (f", skipped {trained.skipped} that another launcher is training" if trained.skipped else "") + ")",
        f"  datamodels  {fitted.targets} targets, fit in {fitted.seconds:.0f}s"
        + (f", {len(fitted.failed)} failed" if fitted.failed else "")
        + (f", {len(fitted.not_converged)} not converged" if fitted.not_converged else ""),
        f"  LDS         test {m.get('lds_test', float('nan')):.3f}, train {m.get('lds_train', float('nan')):.3f}"
        f" (pooled Pearson test {m.get('pearson_test', float('nan')):.3f})",
    ]
    if "seed_reliability_test" in m:
        rel = m["seed_reliability_test"]
        lines.append(
            f"  seed noise  reliability {rel:.3f} (LDS ceiling ~{max(rel, 0.0) ** 0.5:.2f}), "
            f"OPT {m.get('opt_test', float('nan')):.4f} vs datamodel MSE {m.get('mse_test', float('nan')):.4f} (test)"
        )
    if attribution_line(evaluated):
        lines.append(attribution_line(evaluated))
    cf = {k: v for k, v in m.items() if k.startswith("counterfactual")}
    if cf:
        lines.append(
            "  counterfactual " + ", ".join(f"{k.removeprefix('counterfactual_')} {v:.3f}" for k, v in cf.items())
        )
    lines += [f"  lake        {root.resolve()}", f"  report      {(root / 'report.html').resolve()}", "  try:"]
    select = f" lake.experiment={cfg.lake.experiment}"
    select += f" lake.root={cfg.lake.root}" if cfg.lake.root != "lake" else ""
    lines += [f"    {q.format(root=root.resolve(), select=select)}" for q in EXAMPLE_QUERIES]
    print("\n".join(lines))
    return 0
