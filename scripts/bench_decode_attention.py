"""Attention of a beam-search decoding step on the CPU: the fused kernel against three plain batched products.

The shapes of the shipped reaction model's decoder (4 heads of 48): self-attention with one query per row
(rows = sources x beam 5) over the positions decoded so far, and cross-attention with the beam's 5 queries
per source over a source of 50-60 tokens (a padding mask on every third source). Both ways are timed in
the same run, interleaved, at 1 and 2 threads; the printed ratio is fused time / plain time (above 1:
the plain products are faster). ``chemaccel.reaction.fast_beam_search`` uses the plain products for
decoding steps because of this.

    python scripts/bench_decode_attention.py
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from chemaccel.reaction.fast_beam_search import _attend  # noqa: E402

HEADS, DIM = 4, 48


def per_call_us(fn, repeats: int) -> float:
    for _ in range(5):
        fn()
    t0 = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - t0) / repeats * 1e6


def cases() -> list[tuple[str, torch.Tensor, torch.Tensor, torch.Tensor | None]]:
    torch.manual_seed(0)
    out = []
    for rows, filled in ((160, 10), (160, 20), (160, 35), (640, 20)):
        q = torch.randn(rows, 1, HEADS, DIM).transpose(1, 2)
        cache = torch.randn(64, rows, HEADS, DIM)  # time-major, as fast_beam_search stores it
        k = cache.transpose(0, 1)[:, :filled].transpose(1, 2)
        out.append((f"self, {rows} rows, {filled} positions", q, k, None))
    for sources, length in ((32, 50), (128, 60)):
        q = torch.randn(sources, HEADS, 5, DIM)
        k = torch.randn(sources, HEADS, length, DIM)
        mask = torch.ones(sources, 1, 1, length, dtype=torch.bool)
        mask[::3, ..., -7:] = False
        out.append((f"cross, {sources} sources x beam 5, {length} tokens", q, k, mask))
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeats", type=int, default=400, help="calls timed per case and way")
    args = p.parse_args()
    print("| case | threads | fused, us | plain, us | fused / plain |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name, q, k, mask in cases():
        fused_out = F.scaled_dot_product_attention(q, k, k, attn_mask=mask, scale=DIM ** -0.5)
        assert torch.allclose(_attend(q, k, k, mask, DIM ** -0.5), fused_out, atol=1e-5)
        for threads in (1, 2):
            torch.set_num_threads(threads)
            with sdpa_kernel([SDPBackend.FLASH_ATTENTION]):
                fused = per_call_us(lambda: F.scaled_dot_product_attention(q, k, k, attn_mask=mask,
                                                                           scale=DIM ** -0.5), args.repeats)
            plain = per_call_us(lambda: _attend(q, k, k, mask, DIM ** -0.5), args.repeats)
            print(f"| {name} | {threads} | {fused:.0f} | {plain:.0f} | {fused / plain:.2f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
