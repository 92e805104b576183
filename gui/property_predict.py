"""The task behind the Property panel: predict the loaded molecules with a property model, in a worker.

It calls the property engine's public prediction API (``chemaccel.api.load_model(folder)`` gives a
``PropertyModel``; ``predict_records`` yields one ``PredictionRow`` per input record, in order, with
``values`` in eV, a ``status`` ("ok" or "error: reason"), the ``geometry`` used ("file", or
"forcefield" when the molecule was embedded in 3D) and a ``note``). The rows become new property
columns of the molecule records, named after the model so that two models can be compared side by side.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chemaccel import api

#: Records predicted between two progress reports / cancel checks.
CHUNK = 16


@dataclass
class PropertyPredictions:
    """What :func:`predict_properties` made.

    Attributes:
        model_name: the model folder's name (in the column names).
        targets: the model's outputs (``["gap"]``), in eV.
        source: the records the prediction was made for (to check the table still shows them).
        records: the same records with the prediction columns added to their ``props``.
        columns: the new column names, in order.
        n_ok, n_error: rows predicted and rows with an error status.
        n_forcefield: rows predicted on a force-field geometry (embedded from the graph).
        n_outside: rows predicted but outside the model's applicability domain.
        values: target -> the predicted values (eV) of the rows that got one (for the histogram).
        train_histograms: target -> the training distribution (``edges``, ``density``), when the model has one.
    """

    model_name: str
    targets: list[str]
    source: list[api.MoleculeRecord]
    records: list[api.MoleculeRecord]
    columns: list[str]
    n_ok: int = 0
    n_error: int = 0
    n_forcefield: int = 0
    n_outside: int = 0
    values: dict[str, list[float]] = dataclasses.field(default_factory=dict)
    train_histograms: dict[str, Any] = dataclasses.field(default_factory=dict)


def prediction_columns(model_name: str, targets: Sequence[str]) -> list[str]:
    """``gap_eV (m)``, ``gap_uncertainty_eV (m)``, ``gap_interval90_eV (m)``, ..., ``domain (m)``,
    ``domain_reason (m)``, ``status (m)``, ``geometry (m)``, ``note (m)`` for a model named ``m``."""
    return [*(f"{t}_{kind} ({model_name})" for t in targets for kind in ("eV", "uncertainty_eV", "interval90_eV")),
            *(f"{what} ({model_name})" for what in ("domain", "domain_reason", "status", "geometry", "note"))]


Cache = dict[tuple[str, str], Any]  # (resolved folder, device) -> loaded model


def load_property_model(path: Path, device: str = "cpu", cache: Cache | None = None) -> Any:
    """``api.load_model(path)`` on ``device``, reusing ``cache``.

    Raises:
        chemaccel.api.ModelFileError: not a model folder, damaged, or a model of another engine.
    """
    key = (str(Path(path).resolve()), device)
    if cache is not None and key in cache:
        return cache[key]
    model = api.load_model(path)
    if not hasattr(model, "predict_records") or not hasattr(model, "targets"):
        engine = api.read_model_info(path).engine
        raise api.ModelFileError(f"{path}: a {engine!r} model, not a property model")
    if device != "cpu":
        model.module.to(device)  # PropertyModel predicts on the device of its module
    if cache is not None:
        cache[key] = model
    return model


def predict_properties(reporter: api.Reporter, path: Path, records: Sequence[api.MoleculeRecord],
                       device: str = "cpu", cache: Cache | None = None, workers: int = 1) -> PropertyPredictions:
    """Predict every record (good and bad: a bad one gets its reason as status); a cancel raises
    :class:`~chemaccel.api.Cancelled` and nothing is changed. ``workers`` > 1 embeds the SMILES in that many
    processes, the path of ``chemaccel property predict --workers`` (the same rows)."""
    path = Path(path)
    source = list(records)
    reporter.on_start(f"Loading {path.name}", None)
    model = load_property_model(path, device, cache)
    targets = list(model.targets)
    name = path.name
    columns = prediction_columns(name, targets)
    total = len(source)
    reporter.on_start(f"Predicting {', '.join(targets)} with {name}", total)
    out = PropertyPredictions(name, targets, source, [], columns, values={t: [] for t in targets})
    rules = getattr(model, "rules", None)
    if rules is not None and rules.histograms:
        out.train_histograms = dict(rules.histograms)
    chunk = CHUNK * (4 * workers if workers > 1 else 1)  # enough molecules per batch to keep every process busy
    rows = model.predict_records(source, batch_size=chunk, workers=workers)
    try:
        _collect(reporter, source, rows, out, chunk)
    finally:
        rows.close()  # a cancel shuts the worker processes down
    return out


def _collect(reporter: api.Reporter, source: list[api.MoleculeRecord], rows: Any, out: PropertyPredictions,
             chunk: int) -> None:
    name, targets, total = out.model_name, out.targets, len(source)
    for start in range(0, total, chunk):
        if reporter.should_stop():
            raise api.Cancelled("prediction cancelled")
        for record in source[start:start + chunk]:
            row = next(rows)
            out.records.append(_with_prediction(record, row, name, targets))
            if row.ok:
                out.n_ok += 1
                out.n_forcefield += row.geometry == "forcefield"
                out.n_outside += row.domain == "outside"
                for target in targets:
                    out.values[target].append(float(row.values[target]))
            else:
                out.n_error += 1
        reporter.on_progress(len(out.records), total, {"errors": float(out.n_error)})


def _with_prediction(record: api.MoleculeRecord, row: Any, name: str,
                     targets: list[str]) -> api.MoleculeRecord:
    props = {key: value for key, value in record.props.items() if not key.endswith(f" ({name})")}
    if row.ok:
        for target in targets:
            props[f"{target}_eV ({name})"] = float(row.values[target])
            if target in row.uncertainty:
                props[f"{target}_uncertainty_eV ({name})"] = float(row.uncertainty[target])
                props[f"{target}_interval90_eV ({name})"] = float(row.interval90[target])
        props[f"domain ({name})"] = row.domain
        if row.domain_reason:
            props[f"domain_reason ({name})"] = row.domain_reason
    props[f"status ({name})"] = row.status
    if row.geometry:
        props[f"geometry ({name})"] = row.geometry
    if row.note:
        props[f"note ({name})"] = row.note
    updated = dataclasses.replace(record, props=props)
    updated.smiles  # noqa: B018 - canonicalize here, off the GUI thread (cached on the record)
    return updated
