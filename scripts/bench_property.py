"""Benchmark of the property engine on the fixed QM9 split: dense vs. attention-pruned vs. the ablations.

From one trained dense model (``--dense``, e.g. resources/models/qm9-gap-schnet), prune with the same
budget and the same epochs by attention-AutoPrune, plain AutoPrune gates and kernel magnitude, then
print one Markdown table: test MAE (meV), parameters, filter parameters, FLOPs/molecule, inference
molecules/s at 1 and 2 threads (batch 100, no grad). schnetpack's own SchNet with the same
hyperparameters is timed for inference on the same batches (its accuracy needs its own training loop,
not part of this script yet).

    OMP_NUM_THREADS=1 .venv/bin/python scripts/bench_property.py --store /tmp/qm9.h5 \
        --dense resources/models/qm9-gap-schnet --limit-train 20000 --work /tmp/bench_property
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from chemaccel.checkpoint import read_model_info
from chemaccel.property.config import PropertyConfig
from chemaccel.property.data import StoreCollate, load_store
from chemaccel.property.evaluate import evaluate_model
from chemaccel.property.storage import load_model
from chemaccel.property.train import PropertyTrainer
from chemaccel.runtime import RuntimeConfig
from chemaccel.property.keys import N_ATOMS


def speed(module: torch.nn.Module, batches: list, threads: int, forward=None) -> float:
    torch.set_num_threads(threads)
    forward = forward or module
    with torch.no_grad():
        forward(batches[0])
        t0 = time.perf_counter()
        n = 0
        for b in batches:
            forward(b)
            n += int(b[N_ATOMS].numel())
    return n / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--store", required=True)
    ap.add_argument("--dense", required=True)
    ap.add_argument("--work", default="/tmp/bench_property")
    ap.add_argument("--budget", type=float, default=0.4)
    ap.add_argument("--limit-train", type=int, default=20000)
    ap.add_argument("--limit-test", type=int)
    ap.add_argument("--compare-epochs", type=int, default=0, help="also train chemaccel vs schnetpack from scratch")
    args = ap.parse_args()
    work = Path(args.work)
    info = read_model_info(args.dense)
    cfg = PropertyConfig.from_dict({**info.config, "limit_train": args.limit_train, "budget": args.budget})
    models = {"chemaccel dense": Path(args.dense)}
    for method in ("attention", "gates", "magnitude"):
        out = work / f"pruned-{method}"
        if not (out / "config.json").exists():
            PropertyTrainer(cfg.replace(prune=method), args.store, out, runtime=RuntimeConfig(device="cpu"),
                            init_from=args.dense).run(resume=True)
        models[f"pruned: {method}"] = out
    arrays = load_store(args.store, cfg.targets)
    from chemaccel.datasets.qm9 import read_qm9_split, split_subset

    test = split_subset(read_qm9_split(args.store)["test"], 2000)  # not the first 2,000: the smallest
    collate = StoreCollate(arrays, cfg.cutoff)
    batches = [collate(test[i:i + 100]) for i in range(0, len(test), 100)]
    print("| model | test MAE gap (meV) | params | filter params | FLOPs/mol | mol/s 1 thread | mol/s 2 threads |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name, path in models.items():
        model = load_model(path)
        fig = evaluate_model(model, args.store, split="test", limit=args.limit_test)
        s1, s2 = speed(model.module, batches, 1), speed(model.module, batches, 2)
        print(f"| {name} | {fig['results'][0]['mae_mev']:.1f} | {fig['params']} | {fig['filter_params']} | "
              f"{fig['flops']:.3g} | {s1:.0f} | {s2:.0f} |")
    from chemaccel.property import keys
    from chemaccel.property.schnetpack_compat import schnetpack_modules

    sp = schnetpack_modules()
    rep = sp.spk.representation.SchNet(n_atom_basis=cfg.n_atom_basis, n_interactions=cfg.n_interactions,
                                       radial_basis=sp.snn.GaussianRBF(cfg.n_rbf, cfg.cutoff),
                                       cutoff_fn=sp.snn.CosineCutoff(cfg.cutoff), n_filters=cfg.n_filters)
    head = sp.atomistic.Atomwise(cfg.n_atom_basis, aggregation_mode="avg", output_key="gap")

    def spk_forward(b):
        inputs = dict(b)
        inputs[keys.RIJ] = b[keys.R][b[keys.IDX_J]] - b[keys.R][b[keys.IDX_I]]
        return head(rep(inputs))["gap"]

    s1, s2 = speed(rep, batches, 1, spk_forward), speed(rep, batches, 2, spk_forward)
    n_params = sum(p.numel() for p in list(rep.parameters()) + list(head.parameters()))
    print(f"| schnetpack SchNet (untrained, timing only) | - | {n_params} | - | - | {s1:.0f} | {s2:.0f} |")
    print(json.dumps({"budget": args.budget, "limit_train": args.limit_train, "n_test_timed": len(test)}))
    if args.compare_epochs > 0:
        compare_from_scratch(args, cfg, sp)


def compare_from_scratch(args, cfg: PropertyConfig, sp) -> None:
    """chemaccel's dense SchNet vs schnetpack's SchNet, trained from scratch with one loop and one budget."""
    import math

    import numpy as np

    from chemaccel.datasets.qm9 import read_qm9_split, split_subset
    from chemaccel.property import keys
    from chemaccel.property.data import target_statistics
    from chemaccel.property.model import PropertySchNet, dense_architecture

    torch.set_num_threads(1)
    arrays = load_store(args.store, cfg.targets)
    split = read_qm9_split(args.store)
    train, test = split_subset(split["train"], args.limit_train), split_subset(split["test"], args.limit_test)
    stats = target_statistics(arrays, train, ["avg"])
    mean, std = float(stats["mean"][0]), float(stats["std"][0])
    collate = StoreCollate(arrays, cfg.cutoff)

    def schnetpack_model():
        torch.manual_seed(0)
        rep = sp.spk.representation.SchNet(n_atom_basis=cfg.n_atom_basis, n_interactions=cfg.n_interactions,
                                           radial_basis=sp.snn.GaussianRBF(cfg.n_rbf, cfg.cutoff),
                                           cutoff_fn=sp.snn.CosineCutoff(cfg.cutoff), n_filters=cfg.n_filters)
        head = sp.atomistic.Atomwise(cfg.n_atom_basis, aggregation_mode="avg", output_key="gap")
        module = torch.nn.ModuleList([rep, head])

        def forward(b):
            inputs = dict(b)
            inputs[keys.RIJ] = b[keys.R][b[keys.IDX_J]] - b[keys.R][b[keys.IDX_I]]
            return head(rep(inputs))["gap"] * std + mean
        return module, forward

    def chemaccel_model():
        torch.manual_seed(0)
        model = PropertySchNet(dense_architecture(cfg.replace(prune="none")))
        with torch.no_grad():
            model.mean.copy_(stats["mean"])
            model.std.copy_(stats["std"])
            model.atomref.copy_(stats["atomref"])
        return model, lambda b: model(b)[:, 0]

    print()
    print(f"Same budget from scratch: {args.compare_epochs} epochs of {len(train)} molecules, batch {cfg.batch_size}, "
          f"Adam {cfg.lr:g} cosine, {cfg.n_atom_basis} features, {cfg.n_interactions} interactions, 1 thread")
    print("| model | test MAE gap (meV) | params | training molecules/s |")
    print("| --- | --- | --- | --- |")
    for name, build in (("chemaccel dense SchNet", chemaccel_model), ("schnetpack SchNet + Atomwise(avg)", schnetpack_model)):
        module, forward = build()
        opt = torch.optim.Adam(module.parameters(), lr=cfg.lr)
        steps = args.compare_epochs * math.ceil(len(train) / cfg.batch_size)
        step, seconds = 0, 0.0
        for epoch in range(args.compare_epochs):
            order = np.random.default_rng(epoch).permutation(train)
            module.train()
            t0 = time.perf_counter()
            for i in range(0, len(order), cfg.batch_size):
                for g in opt.param_groups:
                    g["lr"] = cfg.lr * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * step / steps)))
                b = collate(order[i:i + cfg.batch_size])
                loss = (((forward(b) - b["targets"][:, 0]) / std) ** 2).mean()
                opt.zero_grad()
                loss.backward()
                opt.step()
                step += 1
            seconds += time.perf_counter() - t0
        module.eval()
        err = 0.0
        with torch.no_grad():
            for i in range(0, len(test), 100):
                b = collate(test[i:i + 100])
                err += float((forward(b) - b["targets"][:, 0]).abs().sum())
        n_params = sum(p.numel() for p in module.parameters())
        print(f"| {name} | {1000 * err / len(test):.1f} | {n_params} | {args.compare_epochs * len(train) / seconds:.0f} |",
              flush=True)


if __name__ == "__main__":
    main()
