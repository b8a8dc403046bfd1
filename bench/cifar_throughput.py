"""Seconds per CIFAR-10 ResNet-9 model (paper schedule, Table D.2) for dm's training engine, next to a plain
one-model torch loop of the same network, in one run; plus dm's evaluation time (margins on all train and test
examples with flip TTA) and GPU memory.

CIFAR-shaped data (50,000 + 10,000 32x32 RGB images, 10 classes: class templates plus noise, uint8) is
generated on the fly on the device: no download, and the throughput is that of real CIFAR-10. On CPU the
defaults shrink to a smoke size (a few hundred tiny-width images, 1 epoch) that only shows the script works.

    python bench/cifar_throughput.py [--models 8] [--reference 2] [--processes 1] [overrides ...]
    e.g. on a GPU: python bench/cifar_throughput.py --models 8 --processes 4 trainer.compile=default

dm's engine is `dm.train.runner.train_models` (what `dm train` runs per group, without the lake writes) with
`experiment=cifar10_paper` and the given Hydra overrides. The first model of each process is a warm-up
(cuDNN autotuning, torch.compile) and is timed separately. With --processes P, P processes each train
--models models at once (after a common start barrier): the aggregate is P·models / the slowest wall time.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import torch
from omegaconf import DictConfig

from dm.config.compose import load_config
from dm.data.augment import apply_augment, random_draws
from dm.data.prepare import DataInfo, ResidentData, normalise
from dm.models.networks import network_factory
from dm.models.optim import make_optimizer
from dm.train.precision import autocast_for
from dm.train.runner import train_models
from dm.train.subsets import model_seeds, subset_masks, subset_size

SMOKE = ["trainer.epochs=1", "trainer.batch_size=64", "model.width=8", "trainer.peak_epoch=0.5"]
_BARRIER = None


def cifar_like(n_train: int, n_test: int, device: torch.device, seed: int = 0) -> ResidentData:
    """Learnable CIFAR-10-shaped images: 0.35·(one fixed random template per class) + 0.65·noise, uint8."""
    gen = torch.Generator().manual_seed(seed)
    templates = torch.randint(0, 256, (10, 32, 32, 3), generator=gen).float()

    def split(n: int) -> tuple[torch.Tensor, torch.Tensor]:
        y = torch.randint(0, 10, (n,), generator=gen)
        x = 0.35 * templates[y] + 0.65 * torch.randint(0, 256, (n, 32, 32, 3), generator=gen).float()
        return x.clamp(0, 255).to(torch.uint8), y

    (x_tr, y_tr), (x_te, y_te) = split(n_train), split(n_test)
    info = DataInfo("cifar_like", "generated", "classification", 10, n_train, n_test, (32, 32, 3), True)
    x_tr, x_te = normalise(x_tr, x_te, info)
    return ResidentData(x_tr.to(device), y_tr.to(device), x_te.to(device), y_te.to(device), info)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def reference_model(cfg: DictConfig, data: ResidentData, mask: np.ndarray, seed: int) -> None:
    """One model of the same network and schedule in a plain torch loop: bf16/fp16 autocast as configured,
    channels_last on CUDA, augmentation drawn from a torch generator; no evaluation."""
    device, t = data.x_train.device, cfg.trainer
    torch.manual_seed(seed)
    fmt = torch.channels_last if device.type == "cuda" else torch.contiguous_format
    net = network_factory(cfg.model, data.info)().to(device, memory_format=fmt)
    members = torch.from_numpy(np.nonzero(mask)[0]).to(device)
    bs = min(t.batch_size, len(members))
    opt, sched = make_optimizer(list(net.parameters()), t, -(-len(members) // bs))
    gen = torch.Generator(device=device).manual_seed(seed)
    for _ in range(t.epochs):
        order = members[torch.randperm(len(members), generator=gen, device=device)]
        for first in range(0, len(order), bs):
            idx = order[first : first + bs]
            xb = data.x_train[idx]
            if t.augment:
                xb = apply_augment(xb, random_draws(gen, len(idx), 32, 32))
            with autocast_for(t.precision, device):
                logits = net(xb.contiguous(memory_format=fmt)).float()
            loss = torch.nn.functional.cross_entropy(logits, data.y_train[idx])
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
            sched.step()


def _set_barrier(barrier) -> None:
    global _BARRIER
    _BARRIER = barrier


def dm_engine(overrides: list[str], models: int, n_train: int, n_test: int, device: str, first_id: int) -> dict:
    """Train one warm-up model, then `models` models with dm's engine; returns timings (seconds)."""
    device = torch.device(device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    cfg = load_config(overrides)
    data = cifar_like(n_train, n_test, device)
    seeds = model_seeds(cfg.subsets.seed, cfg.subsets.alpha, np.arange(first_id, first_id + models + 1))
    masks = subset_masks(seeds, n_train, subset_size(cfg.subsets.alpha, n_train))
    start = time.perf_counter()
    train_models(cfg, data, seeds[:1], masks[:1])
    _sync(device)
    warmup = time.perf_counter() - start
    if _BARRIER is not None:
        _BARRIER.wait()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    start, train_s, accs = time.perf_counter(), 0.0, []
    for first in range(1, models + 1, cfg.trainer.models_per_process):
        part = slice(first, min(first + cfg.trainer.models_per_process, models + 1))
        result = train_models(cfg, data, seeds[part], masks[part])
        train_s += result.seconds
        accs.append(result.test_accuracy)
    _sync(device)
    wall = time.perf_counter() - start
    memory = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else float("nan")
    return {"warmup": warmup, "wall": wall, "train": train_s, "memory": memory,
            "accuracy": float(np.concatenate(accs).mean())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", type=int, default=None, help="timed models per process of dm's engine")
    parser.add_argument("--reference", type=int, default=None, help="timed models of the plain torch loop")
    parser.add_argument("--processes", type=int, default=1, help="processes sharing the device (dm's engine)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--n-train", type=int, default=None)
    parser.add_argument("--n-test", type=int, default=None)
    parser.add_argument("overrides", nargs="*", help="Hydra overrides on top of experiment=cifar10_paper")
    args = parser.parse_args()
    gpu = args.device.startswith("cuda")
    n_train = args.n_train or (50_000 if gpu else 512)
    n_test = args.n_test or (10_000 if gpu else 128)
    models = args.models or (8 if gpu else 2)
    reference = args.reference if args.reference is not None else (2 if gpu else 1)
    overrides = ["experiment=cifar10_paper", "dataset.path=generated", "fabric=cpu", *([] if gpu else SMOKE),
                 *args.overrides]
    cfg = load_config(overrides)
    device = torch.device(args.device)
    t = cfg.trainer
    label = "" if gpu else "CPU smoke size, not a throughput figure: "
    print(f"{label}{cfg.model.name} width {cfg.model.width}, d={n_train} (alpha={cfg.subsets.alpha}), "
          f"{n_test} test, {t.epochs} epochs, batch {t.batch_size}, {t.precision}, engine={t.engine}, "
          f"compile={t.compile}, augment={t.augment}, flip_tta={t.flip_tta}, device={args.device} "
          f"({torch.cuda.get_device_name(device) if gpu else f'{torch.get_num_threads()} threads'})", flush=True)

    if args.processes == 1:
        runs = [dm_engine(overrides, models, n_train, n_test, args.device, 0)]
    else:
        context = mp.get_context("spawn")
        barrier = context.Barrier(args.processes)
        with ProcessPoolExecutor(args.processes, mp_context=context, initializer=_set_barrier,
                                 initargs=(barrier,)) as pool:
            jobs = [pool.submit(dm_engine, overrides, models, n_train, n_test, args.device, p * (models + 1))
                    for p in range(args.processes)]
            runs = [job.result() for job in jobs]
    total = models * args.processes
    wall = max(r["wall"] for r in runs)
    dm_s = wall / total  # including evaluation, aggregate over processes
    train_s = sum(r["train"] for r in runs) / total / args.processes  # training only, per model, per process
    eval_s = sum(r["wall"] - r["train"] for r in runs) / total  # evaluation + setup per model (one stream)

    data = cifar_like(n_train, n_test, device)
    seeds = model_seeds(cfg.subsets.seed, cfg.subsets.alpha, np.arange(reference + 1))
    masks = subset_masks(seeds, n_train, subset_size(cfg.subsets.alpha, n_train))
    if gpu:
        torch.backends.cudnn.benchmark = True
        torch.cuda.reset_peak_memory_stats(device)
    start = time.perf_counter()
    reference_model(cfg, data, masks[0], int(seeds[0]))  # warm-up
    _sync(device)
    ref_warm = time.perf_counter() - start
    start = time.perf_counter()
    for k in range(1, reference + 1):
        reference_model(cfg, data, masks[k], int(seeds[k]))
    _sync(device)
    ref_s = (time.perf_counter() - start) / max(reference, 1)
    ref_mem = torch.cuda.max_memory_allocated(device) / 2**30 if gpu else float("nan")

    print(f"dm engine    : {total} models in {args.processes} process(es), {wall:.1f} s wall -> {dm_s:.2f} s/model "
          f"incl. evaluation = {86400 / dm_s:,.0f} models/day; training alone {train_s:.2f} s/model per process; "
          f"evaluation {eval_s:.2f} s/model (train+test, flip TTA); warm-up model {runs[0]['warmup']:.1f} s; "
          f"peak memory {max(r['memory'] for r in runs):.2f} GiB/process; "
          f"test accuracy {np.mean([r['accuracy'] for r in runs]):.3f}")
    print(f"plain torch  : {reference} models, {ref_s:.2f} s/model training only = {86400 / ref_s:,.0f} models/day "
          f"(one process); warm-up model {ref_warm:.1f} s; peak memory {ref_mem:.2f} GiB")
    print(f"ratio        : dm incl. evaluation is {ref_s / dm_s:.2f}x the plain loop's rate "
          f"(training alone, one stream: {ref_s / train_s:.2f}x)")


if __name__ == "__main__":
    main()
