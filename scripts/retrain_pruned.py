"""Re-train a pruned (unstructured, masked) model at a fixed budget: the trials behind the LeNet-5 arms table
of docs/benchmarks.md (AutoPrune, issue 23 item 1). Validation slice only; the test split is never read.

    OMP_NUM_THREADS=1 python scripts/retrain_pruned.py runs/lp/A/model runs/lp/R1                  # labels
    OMP_NUM_THREADS=1 python scripts/retrain_pruned.py runs/lp/A/model runs/lp/K1 --distill 0.7 --teacher runs/lp/A/dense
    OMP_NUM_THREADS=1 python scripts/retrain_pruned.py runs/lp/A/model runs/lp/N1 --noise 0.3
    OMP_NUM_THREADS=1 python scripts/retrain_pruned.py resources/models/lenet5-mnist-autoprune runs/lp/S1 \\
        --target 1385 --anneal 12 --swap 0.3                                                         # 171x -> 311x

The zero pattern of the start folder is the mask: only its non-zero weights and biases train (Adam, cosine
learning rate over all epochs, batch 128). Options:

* ``--target N --anneal E``: cut the weights to ``N`` non-zeros in all (biases included) over the first
  ``E`` epochs (cubic schedule, Zhu and Gupta), each layer in proportion, the smallest magnitudes first;
* ``--swap A``: RigL-style drop and grow (Evci et al. 2020) every ``--every`` steps until ``--swap-end`` of
  the run: per layer, a fraction (``A``, cosine-decayed) of the kept weights with the smallest magnitude is
  dropped and as many pruned ones with the largest loss gradient come back at zero;
* ``--distill a --teacher FOLDER``: Hinton distillation from a model folder (weight ``a``, ``--temperature``);
* ``--noise s``: multiplicative Gaussian noise ``w (1 + s e)`` on the weights while training;
* ``--shift p``: random translations of up to ``p`` pixels.

Writes a prune model folder (masked dense tensors, as AutoPrune does) and prints the validation error per
epoch and a JSON summary.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SHARED = Path(os.environ.get("CHEMACCEL_SHARED_DATA", ROOT.parent / "shared" / "data"))

from chemaccel.errors import ChemAccelError  # noqa: E402
from chemaccel.prune.data import batches, load_image_split, normalization_for, split_validation  # noqa: E402
from chemaccel.prune.evaluate import classification_error  # noqa: E402
from chemaccel.prune.recipe import TrainingLoss, random_shift  # noqa: E402
from chemaccel.prune.storage import load_pruned, save_pruned  # noqa: E402

CPU = torch.device("cpu")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("start", help="a pruned prune-model folder: its zeros are the mask")
    p.add_argument("out", help="model folder to write")
    p.add_argument("--data", default=str(SHARED / "mnist"), help="IDX folder (default ../shared/data/mnist)")
    p.add_argument("--limit", type=int, help="read only the first N training images (smoke runs)")
    p.add_argument("--val", type=int, default=5000, help="validation slice of the train split (seed 0)")
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--target", type=int, help="non-zeros to end with (weights + biases); default: as started")
    p.add_argument("--anneal", type=int, default=0, help="epochs over which to cut to --target")
    p.add_argument("--swap", type=float, default=0.0, help="RigL drop-and-grow fraction (0: the mask is fixed)")
    p.add_argument("--swap-end", type=float, default=0.75, help="fraction of the run after which swaps stop")
    p.add_argument("--every", type=int, default=100, help="steps between cuts and swaps")
    p.add_argument("--distill", type=float, default=0.0)
    p.add_argument("--teacher", help="model folder to distil from")
    p.add_argument("--temperature", type=float, default=4.0)
    p.add_argument("--noise", type=float, default=0.0)
    p.add_argument("--shift", type=int, default=0)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)
    if a.distill and not a.teacher:
        p.error("--distill needs --teacher FOLDER")
    if a.target is not None and a.target < 1:
        p.error("--target must be at least 1")
    return a


class Masked:
    """The pruned model's parameters, their masks, and the cut / drop-and-grow steps on them."""

    def __init__(self, model: torch.nn.Module) -> None:
        self.params = list(model.named_parameters())
        self.weights = [(n, p) for n, p in self.params if n.endswith("weight")]
        self.masks = {n: (p.detach() != 0).float() for n, p in self.params}

    def n_biases(self) -> int:
        return sum(int(self.masks[n].sum()) for n, _ in self.params if not n.endswith("weight"))

    def n_weights(self) -> int:
        return sum(int(self.masks[n].sum()) for n, _ in self.weights)

    @torch.no_grad()
    def apply(self) -> None:
        for n, p in self.params:
            p.mul_(self.masks[n])

    def mask_grads(self) -> None:
        for n, p in self.params:
            if p.grad is not None:
                p.grad.mul_(self.masks[n])

    @torch.no_grad()
    def update(self, k_weights: int, swap: float, grads: dict[str, torch.Tensor], opt: torch.optim.Optimizer) -> None:
        """Per layer: keep its share of ``k_weights`` (the largest magnitudes), and swap a fraction ``swap`` of
        it for the pruned weights with the largest gradient (they start at zero, their Adam moments too)."""
        counts = {n: int(self.masks[n].sum()) for n, _ in self.weights}
        total = sum(counts.values())
        for n, w in self.weights:
            m = self.masks[n].view(-1)
            keep = counts[n] if total == k_weights else max(1, round(counts[n] * k_weights / total))
            n_grow = int(swap * keep)
            n_drop = counts[n] - keep + n_grow
            if n_drop <= 0:
                continue
            score = torch.where(m.bool(), w.abs().view(-1), torch.full_like(m, float("inf")))
            dropped = torch.topk(score, n_drop, largest=False).indices
            m[dropped] = 0
            if n_grow:
                g = torch.where(m.bool(), torch.full_like(m, -1.0), grads[n].abs().view(-1))
                g[dropped] = -1.0  # not grown back in the same step
                grown = torch.topk(g, n_grow).indices
                m[grown] = 1
                w.view(-1)[grown] = 0.0
                state = opt.state.get(w)
                for key in ("exp_avg", "exp_avg_sq"):
                    if state and key in state:
                        state[key].view(-1)[grown] = 0.0
        self.apply()


@torch.no_grad()
def error_rate(model: torch.nn.Module, data) -> float:
    error = classification_error(model, data)
    model.train()
    return error


def main(argv: list[str] | None = None) -> int:
    a = parse_args(argv)
    try:  # a missing or broken folder: one line, no traceback
        model, info = load_pruned(a.start)
        teacher = load_pruned(a.teacher)[0] if a.distill else None
        norm = normalization_for(a.data)
        x, y = load_image_split(a.data, "train", a.limit, norm)
    except (ChemAccelError, OSError) as exc:
        raise SystemExit(f"retrain_pruned.py: {exc}") from None
    train, val = split_validation(x, y, a.val, seed=0)
    model.train()
    masked = Masked(model)
    k_start = masked.n_weights()
    k_end = k_start if a.target is None else a.target - masked.n_biases()
    if k_end < len(masked.weights):
        raise SystemExit(f"--target {a.target} leaves fewer weights than layers ({len(masked.weights)})")
    train_loss = TrainingLoss("cross_entropy", teacher, a.distill, a.temperature)
    opt = torch.optim.Adam([p for _, p in masked.params], lr=a.lr)
    per_epoch = math.ceil(len(train[1]) / a.batch)
    total = a.epochs * per_epoch
    anneal_steps = max(1, a.anneal * per_epoch)
    gen, shift_gen = torch.Generator(), torch.Generator().manual_seed(a.seed + 1)
    print(f"{a.start}: {k_start} weights + {masked.n_biases()} biases kept; ending with {k_end} weights; "
          f"validation error {error_rate(model, val):.4f}", flush=True)
    step = 0
    for epoch in range(a.epochs):
        gen.manual_seed(a.seed * 100003 + epoch)
        t0 = time.time()
        for xb, yb in batches(train, a.batch, True, gen, CPU):
            for group in opt.param_groups:
                group["lr"] = a.lr * 0.5 * (1 + math.cos(math.pi * step / total))
            if a.shift:
                xb = random_shift(xb, a.shift, shift_gen)
            if a.noise:
                noisy = {n: p * (1 + a.noise * torch.randn_like(p)) if n.endswith("weight") else p
                         for n, p in masked.params}
                out = torch.func.functional_call(model, noisy, (xb,))
            else:
                out = model(xb)
            loss = train_loss(out, xb, yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            step += 1
            frac = step / total
            swap = a.swap / 2 * (1 + math.cos(math.pi * frac / a.swap_end)) if frac < a.swap_end else 0.0
            k_now = round(k_end + (k_start - k_end) * (1 - min(1.0, step / anneal_steps)) ** 3) if a.anneal else k_end
            due = step % a.every == 0 and (swap > 0 or k_now != masked.n_weights())
            grads = {n: w.grad.detach().clone() for n, w in masked.weights} if due else {}
            masked.mask_grads()
            opt.step()
            if due:
                masked.update(k_now, swap, grads, opt)
            else:
                masked.apply()
        nz = sum(int((p != 0).sum()) for _, p in masked.params)
        print(f"epoch {epoch + 1}: validation error {error_rate(model, val):.4f}, {nz} non-zeros "
              f"({time.time() - t0:.0f} s)", flush=True)
    if masked.n_weights() != k_end:  # a run shorter than its anneal: finish the cut
        masked.update(k_end, 0.0, {}, opt)
    nz = sum(int((p != 0).sum()) for _, p in masked.params)
    dense_params = sum(p.numel() for p in model.parameters())
    result = {"val_error": error_rate(model, val), "params_nonzero": nz, "compression": dense_params / nz}
    save_pruned(a.out, model, info.architecture["dense"], granularity="unstructured", compacted=False,
                config={k: v for k, v in vars(a).items()}, metrics=result, normalization=norm,
                notes=f"re-trained from {a.start} by scripts/retrain_pruned.py; validation slice only")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
