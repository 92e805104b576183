"""Evaluate a model as a user meets it: every split molecule through the prediction path, from a chosen input.

``geometry`` is what the model is given for each molecule of the split:

* ``smiles``: only the SMILES, embedded in 3D exactly as ``chemaccel property predict`` does (ETKDG +
  MMFF, same seeds, same time limit; in ``workers`` processes): the figure a chemist with SMILES gets,
  failures counted;
* ``dft``: the store's own (DFT) coordinates;
* the name of a geometry set in the store (``chemaccel data embed``), e.g. ``mmff``.

Every row goes through :meth:`PropertyModel._predict_chunk` (domain verdict, uncertainty), and the
summary gives the MAE over the rows that got a value, the failures, the coverage of the stated 90 %
interval, the error of the 10 % least certain rows against the rest, and the error inside and outside
the applicability domain.
"""

from __future__ import annotations

import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np

from chemaccel.chem.records import MoleculeRecord, geometry_of, parse_smiles
from chemaccel.reporting import NullReporter, Reporter

CHUNK = 200


def _embed_worker(smiles: list[str], seeds: list[int]) -> list[list[tuple[np.ndarray, np.ndarray] | str]]:
    """Per SMILES, per seed: (numbers, positions) or the error text (same calls as the predict path)."""
    from chemaccel.chem.conformers import embed_3d

    out = []
    for smi in smiles:
        mol, error = parse_smiles(smi)
        per: list[tuple[np.ndarray, np.ndarray] | str] = []
        for seed in seeds:
            if mol is None:
                per.append(error or "invalid SMILES")
                continue
            res = embed_3d(mol, seed=seed)
            geometry = geometry_of(res.mol) if res.ok and res.mol is not None else None
            per.append(geometry if geometry is not None else res.error or "3D embedding failed")
        out.append(per)
    return out


def split_records(store: str | Path, indices: Sequence[int], geometry: str) -> Iterator[MoleculeRecord]:
    """Records of the store's molecules ``indices`` with the chosen geometry (``smiles``: none, to embed)."""
    from chemaccel.chem.store import MoleculeStore

    sets = None
    if geometry not in ("smiles", "dft"):
        from chemaccel.chem.geometry_sets import read_geometry_set

        sets = read_geometry_set(store, geometry)
    with MoleculeStore.open(store) as s:
        batch = s.molecule_slice(0, len(s))
    for i in indices:
        i = int(i)
        smi = batch.smiles[i]
        mol, _ = parse_smiles(smi) if smi else (None, None)
        name = batch.names[i] or f"mol{i}"
        if geometry == "smiles":
            if mol is None:
                yield MoleculeRecord.failed(str(store), i + 1, f"cannot parse the stored SMILES {smi!r}")
            else:
                yield MoleculeRecord(str(store), i + 1, mol=mol, name=name, props={"input_smiles": smi})
            continue
        if sets is not None:
            if not sets.made[i]:
                yield MoleculeRecord.failed(str(store), i + 1, f"no {geometry} geometry: {sets.status[i]}")
                continue
            z, r = sets.molecule(i)
        else:
            a, b = int(batch.offsets[i]), int(batch.offsets[i + 1])
            z, r = batch.numbers[a:b], batch.positions[a:b]
        yield MoleculeRecord(str(store), i + 1, mol=mol, name=name, numbers=np.asarray(z, dtype=np.int64),
                             positions=np.asarray(r, dtype=np.float64), geometry_source="file")


def evaluate_rows(model: Any, store: str | Path, split: str = "test", geometry: str = "dft",
                  limit: int | None = None, workers: int = 1, seed: int = 0,
                  reporter: Reporter | None = None, conformers: int | None = None) -> dict[str, Any]:
    """Run the split through the prediction path and summarize (see the module docstring)."""
    from chemaccel.datasets.qm9 import read_qm9_split, split_subset
    from chemaccel.errors import ConfigError
    from chemaccel.property.data import load_store

    reporter = reporter or NullReporter()
    splits = read_qm9_split(store)
    if split not in splits:
        raise ConfigError(f"unknown split {split!r}: choose train, valid or test")
    idx = split_subset(splits[split], limit)
    truth = load_store(store, model.targets).y[idx]
    n_conf = model.conformers if conformers is None else max(1, int(conformers))
    records = list(split_records(store, idx, geometry))
    t0 = time.perf_counter()
    embed_seconds = 0.0
    rows = []
    reporter.on_start(f"evaluate {split} ({geometry})", len(records))
    pool = ProcessPoolExecutor(max_workers=workers) if geometry == "smiles" and workers > 1 else None
    try:
        for start in range(0, len(records), CHUNK):
            chunk = records[start:start + CHUNK]
            if geometry == "smiles":
                t1 = time.perf_counter()
                chunk = _embedded(chunk, seed, n_conf, pool, workers)
                embed_seconds += time.perf_counter() - t1
            rows += model._predict_chunk(chunk, seed, conformers=n_conf)
            reporter.on_progress(len(rows), len(records))
    finally:
        if pool is not None:
            pool.shutdown()
    seconds = time.perf_counter() - t0
    out = summarize(rows, truth, model.targets)
    out.update(split=split, geometry=geometry, conformers=n_conf if geometry == "smiles" else 1,
               seconds=seconds, molecules_per_s=len(rows) / max(seconds, 1e-9),
               embed_seconds=embed_seconds, workers=workers)
    return out


def _embedded(chunk: list[MoleculeRecord], seed: int, n_conf: int, pool: Any, workers: int) -> list[MoleculeRecord]:
    """Embed the chunk's SMILES records (all conformer seeds) like the predict path, in the pool."""
    import dataclasses

    seeds = [seed + 1000 * k for k in range(n_conf)]
    # the SMILES as given (its atom order seeds the embedding exactly as `predict` on that text would)
    smiles = [str(r.props.get("input_smiles", r.smiles)) if r.ok and r.mol is not None else "" for r in chunk]
    if pool is None:
        results = _embed_worker(smiles, seeds)
    else:
        step = max(1, -(-len(smiles) // workers))
        parts = [smiles[i:i + step] for i in range(0, len(smiles), step)]
        results = [x for part in pool.map(_embed_worker, parts, [seeds] * len(parts)) for x in part]
    out = []
    for rec, per in zip(chunk, results):
        if not rec.ok or rec.mol is None:
            out.append(rec)
            continue
        if isinstance(per[0], str):
            out.append(dataclasses.replace(rec, error=per[0]))
            continue
        extra = [g for g in per[1:] if not isinstance(g, str) and len(g[0]) == len(per[0][0])]
        from rdkit import Chem

        mol = Chem.AddHs(rec.mol)
        out.append(dataclasses.replace(rec, mol=mol, numbers=per[0][0], positions=per[0][1],
                                       geometry_source="forcefield",
                                       props={**rec.props, "extra_conformers": extra}))
    return out


def summarize(rows: list[Any], truth: np.ndarray, targets: Sequence[str]) -> dict[str, Any]:
    """MAE, failures, interval coverage, least-certain decile and domain split, per target."""
    from chemaccel.property.uncertainty import coverage

    ok = np.array([r.ok for r in rows], dtype=bool)
    out: dict[str, Any] = {"n": int(len(rows)), "ok": int(ok.sum()), "failed": int((~ok).sum()),
                           "failure_rate": float((~ok).mean()) if len(rows) else 0.0}
    failures: dict[str, int] = {}
    for r in rows:
        if not r.ok:
            key = r.status.split(" (")[0][:80]
            failures[key] = failures.get(key, 0) + 1
    out["failure_reasons"] = failures
    good = [r for r in rows if r.ok]
    outside = np.array([r.domain == "outside" for r in good], dtype=bool)
    inside = ~outside  # "unknown" (a model without domain data) counts as inside: nothing flagged it
    out["outside_domain"] = int(outside.sum())
    reasons: dict[str, int] = {}
    for r in good:
        if r.domain != "outside":
            continue
        for part in filter(None, r.domain_reason.split("; ")):
            key = part.split(" (")[0].split(";")[0]
            key = key if not key[:1].isdigit() else key.split(" ", 1)[-1]
            reasons[key] = reasons.get(key, 0) + 1
    out["outside_reasons"] = reasons
    results = []
    for k, t in enumerate(targets):
        pred = np.array([r.values[t] for r in good])
        err = pred - truth[ok, k] if len(good) else np.zeros(0)
        row: dict[str, Any] = {"target": t, "mae_mev": float(np.abs(err).mean() * 1000) if len(err) else float("nan")}
        if len(good) and all(t in r.interval90 for r in good):
            half = np.array([r.interval90[t] for r in good])
            sigma = np.array([r.uncertainty[t] for r in good])
            row["coverage90"] = coverage(err, half)
            order = np.argsort(-sigma)
            top = order[: max(1, len(order) // 10)]
            rest = order[max(1, len(order) // 10):]
            row["mae_mev_least_certain_10pct"] = float(np.abs(err[top]).mean() * 1000)
            row["mae_mev_other_90pct"] = float(np.abs(err[rest]).mean() * 1000) if len(rest) else float("nan")
            row["mean_interval90_mev"] = float(half.mean() * 1000)
        if len(err):
            row["mae_mev_in_domain"] = float(np.abs(err[inside]).mean() * 1000) if inside.any() else float("nan")
            row["mae_mev_outside_domain"] = float(np.abs(err[~inside]).mean() * 1000) if (~inside).any() else float("nan")
        results.append(row)
    out["results"] = results
    return out
