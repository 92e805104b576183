"""Genotypes: the discrete architecture derived from the architecture weights, stored as JSON.

A cell has two inputs (states 0 and 1: the outputs of the two previous cells) and ``nodes`` intermediate
nodes (states 2 .. nodes + 1). Node ``i`` (0-based) sums two operations applied to two earlier states,
so its inputs are in ``0 .. i + 1``. A cell is written as a list of ``[operation, input]`` pairs, two per
node in node order, and ``concat``: the states concatenated into the cell's output.

Derivation (DARTS, Liu et al. ICLR 2019): for every node, rank each incoming edge by the largest softmax
weight of its operations other than ``none``, keep the two strongest edges, and on each the strongest
operation other than ``none``. Then the skip cap (an anti-collapse measure, in the spirit of P-DARTS,
Chen et al. 2019, who limit skip connections to M=2): while a cell keeps more than ``max_skip``
``skip_connect`` edges, the kept skip edge with the smallest skip weight takes its strongest operation
that is neither ``none`` nor ``skip_connect``. The edges kept never change, only their operation.

A genotype is read back from JSON with :meth:`Genotype.from_dict` (never ``eval``), which checks every
operation against the registry and every edge against the node it feeds; problems are a
:class:`GenotypeError` (a :class:`~chemaccel.errors.ConfigError`) naming the cell, the edge and the reason.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import torch

from chemaccel.errors import ConfigError, InputError
from chemaccel.nas.ops import CONV_OPS, NONE, SKIP, OpRegistry

Edge = tuple[str, int]
GENOTYPE_KEYS = ("normal", "normal_concat", "reduce", "reduce_concat")
FILE_FORMAT = "chemaccel-genotype"


class GenotypeError(ConfigError):
    """A genotype that names an unknown operation or an impossible edge."""


# ----------------------------------------------------------------------------------------- derivation
def derive_cell(weights: torch.Tensor, ops: Sequence[str], nodes: int, max_skip: int | None = None,
                ) -> tuple[list[Edge], int]:
    """Top-2 incoming edges per node from softmax ``weights`` (edges x ops); returns (edges, skips before cap).

    ``weights`` rows follow the supernet's edge order: node 0's inputs 0, 1, then node 1's inputs 0, 1, 2, ...
    """
    w = weights.detach().float().cpu()
    ops = list(ops)
    if w.shape != (n_edges(nodes), len(ops)):
        raise GenotypeError(f"weights of shape {tuple(w.shape)} do not fit {nodes} nodes x {len(ops)} ops")
    usable = [k for k, name in enumerate(ops) if name != NONE]
    edges: list[Edge] = []
    start = 0
    for node in range(nodes):
        rows = w[start:start + node + 2]
        ranked = sorted(range(node + 2), key=lambda j: -max(float(rows[j, k]) for k in usable))
        for j in sorted(ranked[:2]):
            best = max(usable, key=lambda k: float(rows[j, k]))
            edges.append((ops[best], j))
        start += node + 2
    skips = sum(op == SKIP for op, _ in edges)
    if max_skip is not None and skips > max_skip:
        edges = _cap_skips(edges, w, ops, nodes, max_skip)
    return edges, skips


def _cap_skips(edges: list[Edge], w: torch.Tensor, ops: list[str], nodes: int, max_skip: int) -> list[Edge]:
    others = [k for k, name in enumerate(ops) if name not in (NONE, SKIP)]
    if not others:
        return edges  # nothing to replace skip with; the cap cannot apply
    skip_k = ops.index(SKIP)
    offsets = [sum(i + 2 for i in range(node)) for node in range(nodes)]
    row_of = [offsets[i // 2] + inp for i, (_, inp) in enumerate(edges)]
    edges = list(edges)
    while sum(op == SKIP for op, _ in edges) > max_skip:
        skips = [i for i, (op, _) in enumerate(edges) if op == SKIP]
        weakest = min(skips, key=lambda i: float(w[row_of[i], skip_k]))
        best = max(others, key=lambda k: float(w[row_of[weakest], k]))
        edges[weakest] = (ops[best], edges[weakest][1])
    return edges


def n_edges(nodes: int) -> int:
    """Edges of a search cell with ``nodes`` intermediate nodes (2 + 3 + ... + (nodes + 1))."""
    return sum(i + 2 for i in range(nodes))


def count_skips(edges: Sequence[Edge]) -> int:
    return sum(op == SKIP for op, _ in edges)


# ----------------------------------------------------------------------------------------- validation
def validate_cell(edges: Any, concat: Any, registry: OpRegistry, label: str) -> tuple[list[Edge], list[int]]:
    """Check a cell read from JSON; returns it as ``[(op, input)], [state]`` or raises GenotypeError."""
    if not isinstance(edges, (list, tuple)) or not edges:
        raise GenotypeError(f"{label}: expected a non-empty list of [operation, input] pairs, got {edges!r}")
    if len(edges) % 2:
        raise GenotypeError(f"{label}: {len(edges)} edges; every node takes exactly 2, so the count must be even")
    out: list[Edge] = []
    for i, edge in enumerate(edges):
        node = i // 2
        where = f"{label} edge {i} (node {node})"
        if not isinstance(edge, (list, tuple)) or len(edge) != 2:
            raise GenotypeError(f"{where}: expected [operation, input], got {edge!r}")
        op, inp = edge
        if not isinstance(op, str) or op not in registry:
            raise GenotypeError(f"{where}: unknown operation {op!r}; known: {', '.join(registry.names())}")
        if op == NONE:
            raise GenotypeError(f"{where}: '{NONE}' (zero) cannot be a derived operation")
        if not isinstance(inp, int) or isinstance(inp, bool):
            raise GenotypeError(f"{where}: the input must be an integer state index, got {inp!r}")
        if not 0 <= inp < node + 2:
            raise GenotypeError(f"{where}: impossible edge from state {inp}: node {node} can only take "
                                f"states 0..{node + 1} (the two cell inputs and the earlier nodes)")
        if i % 2 and inp == out[-1][1]:
            raise GenotypeError(f"{where}: both edges of node {node} come from state {inp}; they must differ")
        out.append((op, inp))
    nodes = len(out) // 2
    if not isinstance(concat, (list, tuple)) or not concat:
        raise GenotypeError(f"{label}_concat: expected a non-empty list of node states, got {concat!r}")
    for s in concat:
        if not isinstance(s, int) or isinstance(s, bool) or not 2 <= s < nodes + 2:
            raise GenotypeError(f"{label}_concat: state {s!r} is not an intermediate node (2..{nodes + 1})")
    if len(set(concat)) != len(concat):
        raise GenotypeError(f"{label}_concat: repeated states in {list(concat)}")
    return out, list(concat)


# ----------------------------------------------------------------------------------------- the genotype
@dataclass(frozen=True)
class Genotype:
    """A derived architecture: the normal and the reduction cell, each as ``[(op, input)]`` + concat."""

    normal: tuple[Edge, ...]
    normal_concat: tuple[int, ...]
    reduce: tuple[Edge, ...]
    reduce_concat: tuple[int, ...]

    def __post_init__(self) -> None:
        for label in ("normal", "reduce"):
            edges, concat = validate_cell([list(e) for e in getattr(self, label)],
                                          list(getattr(self, f"{label}_concat")), CONV_OPS, label)
            object.__setattr__(self, label, tuple(edges))
            object.__setattr__(self, f"{label}_concat", tuple(concat))

    @property
    def nodes(self) -> dict[str, int]:
        return {"normal": len(self.normal) // 2, "reduce": len(self.reduce) // 2}

    def skip_counts(self) -> dict[str, int]:
        """Skip connections per cell type (``normal``, ``reduce``)."""
        return {"normal": count_skips(self.normal), "reduce": count_skips(self.reduce)}

    def max_skip_per_cell(self) -> int:
        return max(self.skip_counts().values())

    def to_dict(self) -> dict[str, Any]:
        return {"normal": [[op, i] for op, i in self.normal], "normal_concat": list(self.normal_concat),
                "reduce": [[op, i] for op, i in self.reduce], "reduce_concat": list(self.reduce_concat)}

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    @classmethod
    def from_dict(cls, data: Any) -> "Genotype":
        """Build from a JSON object with exactly the keys of :data:`GENOTYPE_KEYS`."""
        if not isinstance(data, Mapping):
            raise GenotypeError(f"a genotype must be a JSON object, got {type(data).__name__}")
        unknown = sorted(set(data) - set(GENOTYPE_KEYS))
        missing = [k for k in GENOTYPE_KEYS if k not in data]
        if unknown or missing:
            raise GenotypeError(f"a genotype has exactly the keys {list(GENOTYPE_KEYS)}"
                                + (f"; unknown: {unknown}" if unknown else "")
                                + (f"; missing: {missing}" if missing else ""))
        return cls(**{k: data[k] for k in GENOTYPE_KEYS})

    @classmethod
    def from_json(cls, text: str) -> "Genotype":
        try:
            return cls.from_dict(json.loads(text))
        except json.JSONDecodeError as exc:
            raise GenotypeError(f"not valid JSON ({exc})") from None

    def describe(self) -> str:
        """One line per cell, e.g. ``normal: n2 <- sep_conv_3x3(0) + skip_connect(1); ... -> concat [2, 3]``."""
        lines = []
        for label in ("normal", "reduce"):
            edges = getattr(self, label)
            nodes = [f"n{k + 2} <- {a[0]}({a[1]}) + {b[0]}({b[1]})" for k, (a, b) in
                     enumerate(zip(edges[0::2], edges[1::2]))]
            lines.append(f"{label}: " + "; ".join(nodes) + f" -> concat {list(getattr(self, label + '_concat'))}")
        return "\n".join(lines)


def derive_genotype(weights_normal: torch.Tensor, weights_reduce: torch.Tensor, ops: Sequence[str], nodes: int,
                    max_skip: int | None = 2) -> tuple[Genotype, dict[str, int]]:
    """The genotype of a supernet's softmax weights; also the skip counts before the cap."""
    normal, skip_n = derive_cell(weights_normal, ops, nodes, max_skip)
    reduce, skip_r = derive_cell(weights_reduce, ops, nodes, max_skip)
    concat = tuple(range(2, nodes + 2))
    return Genotype(tuple(normal), concat, tuple(reduce), concat), {"normal": skip_n, "reduce": skip_r}


# ----------------------------------------------------------------------------------------- files
def save_genotype(path: str | Path, genotype: Genotype, search: Mapping[str, Any] | None = None) -> Path:
    """Write a genotype file: ``{"format", "format_version", "genotype", "search"}`` (atomic)."""
    from chemaccel.checkpoint import atomic_write_json

    path = Path(path)
    atomic_write_json(path, {"format": FILE_FORMAT, "format_version": 1, "genotype": genotype.to_dict(),
                             "search": dict(search or {})})
    return path


def load_genotype(path: str | Path) -> Genotype:
    """Read a genotype file written by :func:`save_genotype`, or a bare genotype object; never evaluated."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(path, "genotype file not found") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(path, f"cannot read the genotype JSON ({' '.join(str(exc).split())})") from None
    if isinstance(data, dict) and "genotype" in data:
        extra = sorted(set(data) - {"format", "format_version", "genotype", "search"})
        if extra or data.get("format", FILE_FORMAT) != FILE_FORMAT:
            raise InputError(path, f"not a chemaccel genotype file (unknown keys {extra} or format "
                                   f"{data.get('format')!r})")
        data = data["genotype"]
    try:
        return Genotype.from_dict(data)
    except GenotypeError as exc:
        raise InputError(path, str(exc)) from None
