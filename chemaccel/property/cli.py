"""``chemaccel property train|prune|predict|evaluate``: SchNet property models with attention-AutoPrune.

``train`` fits a model on a QM9 store (``chemaccel data qm9 -o qm9.h5``) with its fixed split, selecting
on the validation split; ``prune`` starts from a trained model and prunes its filter kernels to
``--budget`` (attention gates, plain gates or magnitude) then compacts it; ``predict`` streams a molecule
file to CSV with a status column (crash-safe: ``--resume`` continues it after a kill); ``evaluate`` prints
test figures. Training checkpoints go to ``OUT.work/``; Ctrl-C leaves one and ``--resume`` continues.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from chemaccel.cli.common import add_ray_flags, cancel_on_sigint, eprint, print_json, read_config_file, run_ray_job
from chemaccel.shipped import DEFAULT_MODELS  # light (the api module is imported when a verb runs)

EXAMPLES = """\
examples:
  chemaccel data qm9 -o qm9.h5
  chemaccel property train --data qm9.h5 --targets gap --limit-train 20000 -o gap-dense
  chemaccel property prune gap-dense --data qm9.h5 --method attention --budget 0.4 -o gap-pruned
  chemaccel property predict molecules.sdf -m resources/models/qm9-gap-schnet-pruned -o out.csv
  chemaccel property evaluate resources/models/qm9-gap-schnet-pruned --data qm9.h5 --split test --json
"""


PREDICT_HELP = """\
Predict every record of a molecule file and write one CSV row per record, in input order, with a
status column ("ok" or the reason). Records are streamed --chunk at a time, so memory does not grow
with the file. OUT is written in place, one chunk at a time, each chunk flushed to disk (fsync), and
OUT.resume.json records the model, the input and the options. If the run is killed (kill -9, a crash,
a power cut), the same command with --resume keeps OUT's complete chunks, cuts any partial line,
skips that many input records without reading them into molecules, and appends the rest: the result
is the same file an uninterrupted run writes. Ctrl-C stops after the current chunk (a second Ctrl-C
at once) and leaves OUT ready for --resume. Without --resume an existing OUT is replaced.
"""
PREDICT_EXAMPLES = """\
examples:
  chemaccel property predict mols.sdf -m resources/models/qm9-gap-schnet-pruned -o out.csv
  chemaccel property predict big.xyz -m MODEL -o out.csv --chunk 2000
  chemaccel property predict big.smi -m MODEL -o out.csv --workers 2              # embed on 2 cores
  chemaccel property predict big.xyz -m MODEL -o out.csv --chunk 2000 --resume   # after a kill or Ctrl-C
  chemaccel property predict big.smi -m MODEL -o out.csv --ray                   # a local Ray instance
  chemaccel property predict big.parquet -m MODEL -o out.parquet --ray auto --ray-actors 8 --resume  # a cluster
"""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("property", help="SchNet property models with attention-based AutoPrune",
                       description=__doc__, epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    verbs = p.add_subparsers(dest="verb", metavar="<verb>", required=True)

    for name in ("train", "prune"):
        t = verbs.add_parser(name, help="train a model on a QM9 store" if name == "train" else
                             "prune a trained model's filter kernels and compact it")
        if name == "prune":
            t.add_argument("model", help="trained dense model folder")
            t.add_argument("--method", choices=["attention", "gates", "magnitude"], default="attention")
            t.add_argument("--budget", type=float, default=0.5, help="kept fraction of filter kernels")
        else:
            t.add_argument("--targets", default="gap", help="comma-separated: homo,lumo,gap,U0")
            t.add_argument("--epochs", type=int, default=10)
            t.add_argument("--init-from", metavar="MODEL",
                           help="start from this trained model's weights (fine-tuning, e.g. on another geometry "
                                "set); its targets must match")
        t.add_argument("--geometry", default=None,
                       help="geometry set(s) to train on: dft (the store's own), a set made by `chemaccel data "
                            "embed` (e.g. mmff), or several joined by '+' (dft+mmff); default dft")
        t.add_argument("--valid-geometry", default=None,
                       help="geometry set to validate and select on (default: the last of --geometry)")
        t.add_argument("--position-noise", type=float, default=None,
                       help="Gaussian noise on training coordinates, Angstrom (default 0)")
        t.add_argument("--data", required=True, help="QM9 molecule store (.h5)")
        t.add_argument("--limit-train", type=int,
                       help="train on N molecules, a fixed random subset of the split")
        t.add_argument("--limit-valid", type=int, help="validate on N molecules, a fixed random subset")
        t.add_argument("--config", help="JSON file with further PropertyConfig fields (flags win)")
        t.add_argument("-o", "--out", required=True, help="model folder to write")
        t.add_argument("--resume", action="store_true", help="continue from OUT.work/")
        t.set_defaults(func=_train)

    pr = verbs.add_parser("predict", help="predict a molecule file into a CSV (status column per row)",
                          description=PREDICT_HELP, epilog=PREDICT_EXAMPLES,
                          formatter_class=argparse.RawDescriptionHelpFormatter)
    pr.add_argument("input", help="a molecule file (SMILES/CSV/SDF/XYZ/ASE db/HDF5 store), or one SMILES typed "
                                  "here (its prediction is printed; -o optional)")
    pr.add_argument("-m", "--model", default=DEFAULT_MODELS["property"],
                    help="a property model folder or a shipped model's name (default: %(default)s)")
    pr.set_defaults(folder_args=("model",))
    pr.add_argument("-o", "--out", help="CSV to write (replaced unless --resume), with OUT.resume.json beside "
                                        "it; needed for a file")
    pr.add_argument("--chunk", type=int, default=1000,
                    help="molecules in memory, predicted and written (fsync-ed) at a time (default 1000)")
    pr.add_argument("--conformers", type=int, default=None,
                    help="force-field conformers averaged per SMILES (default: the model's own setting; "
                         "1 is the fastest)")
    pr.add_argument("--workers", type=int, default=1,
                    help="processes that embed SMILES in 3D (the slow part of SMILES input); the rows are the "
                         "same as with 1 (default 1)")
    add_ray_flags(pr, "3D embedding and the model in Ray actors")
    pr.add_argument("--resume", action="store_true",
                    help="continue an interrupted run: keep OUT's complete chunks, skip that many input "
                         "records, append the rest (same model, input, --chunk and --seed, else an error); "
                         "starts afresh when OUT does not exist, does nothing when OUT is complete")
    pr.set_defaults(func=_predict)

    e = verbs.add_parser("evaluate", help="MAE per target, parameters, FLOPs, molecules/s on a split")
    e.add_argument("model", help="a property model folder or a shipped model's name")
    e.set_defaults(folder_args=("model",))
    e.add_argument("--data", help="QM9 molecule store (.h5); default: the full QM9 store in the cache "
                                  "(~/.cache/chemaccel/qm9.h5, built from qm9pack on first use)")
    e.add_argument("--split", choices=["train", "valid", "test"], default="test")
    e.add_argument("--limit", type=int, help="N molecules of the split, a fixed random subset (default: all)")
    e.add_argument("--geometry", default=None,
                   help="what the model is given: smiles (only the SMILES, embedded in 3D as `predict` does: "
                        "the figure a chemist with SMILES gets, failures counted), dft (the store's own "
                        "coordinates) or a geometry set of the store (e.g. mmff); every molecule then goes "
                        "through the prediction path (domain verdict, uncertainty coverage). Without it: the "
                        "fast DFT-geometry figures with FLOPs and speed")
    e.add_argument("--workers", type=int, default=1, help="processes for 3D embedding with --geometry smiles")
    e.add_argument("--conformers", type=int, default=None,
                   help="conformers averaged per SMILES (default: the model's own setting)")
    e.add_argument("--json", action="store_true")
    e.set_defaults(func=_evaluate)


def _train(args: argparse.Namespace) -> int:
    from chemaccel import api

    values: dict = read_config_file(args.config)
    init = None
    if args.verb == "prune":
        info = api.read_model_info(args.model)
        values = {**info.config, **values, "prune": args.method, "budget": args.budget}
        init = args.model
    else:
        if args.init_from:  # the model's own settings are the base; the config file and flags win
            values = {**api.read_model_info(args.init_from).config, **values, "prune": "none"}
            init = args.init_from
        values.update(targets=[t.strip() for t in args.targets.split(",") if t.strip()], max_epochs=args.epochs)
    for flag, key in (("geometry", "geometry"), ("valid_geometry", "valid_geometry"),
                      ("position_noise", "position_noise")):
        if getattr(args, flag) is not None:
            values[key] = getattr(args, flag)
    if args.limit_train:
        values["limit_train"] = args.limit_train
    if args.limit_valid:
        values["limit_valid"] = args.limit_valid
    config = api.PropertyConfig.from_dict(values)
    reporter = api.TqdmReporter()
    with cancel_on_sigint(reporter, what="step"):
        try:
            result = api.train_property(config, args.data, args.out, reporter,
                                        runtime=api.RuntimeConfig(device=args.device, seed=args.seed),
                                        resume=args.resume, init_from=init)
        finally:
            reporter.close()
    if result.status == "cancelled":
        eprint(f"chemaccel: cancelled; resume with the same command and --resume (checkpoint in {args.out}.work)")
        return 130
    if result.out is not None:  # (under torchrun, process 0 writes the model)
        eprint(f"wrote {args.out}: " + ", ".join(f"{k}={v:.1f}" if isinstance(v, float) else f"{k}={v}"
                                                for k, v in result.metrics.items()))
    return 0


def _predict(args: argparse.Namespace) -> int:
    from chemaccel import api
    from chemaccel.errors import ConfigError

    if args.chunk < 1:
        raise ConfigError(f"--chunk must be positive, got {args.chunk}")
    if args.workers < 1:
        raise ConfigError(f"--workers must be at least 1, got {args.workers}")
    if args.conformers is not None and args.conformers < 1:
        raise ConfigError(f"--conformers must be at least 1, got {args.conformers}")
    typed = api.typed_smiles(args.input)
    if typed is not None:
        return _predict_typed(args, typed)
    if args.out is None:
        raise ConfigError(f"{args.input}: a file of molecules needs -o OUT.csv (a SMILES typed here is printed)")
    if args.ray is not None:
        return _predict_ray(args, args.model)  # the actors load the model; this process reads its config
    # with --workers the embedding processes start before the model loads (its imports overlap their work)
    model = args.model if args.workers > 1 else _load(args)
    reporter = api.TqdmReporter(file=sys.stderr, disable=None)
    try:
        with cancel_on_sigint(reporter):
            counts = api.predict_property_file(model, args.input, args.out, reporter, device=args.torch_device,
                                               chunk=args.chunk, seed=args.seed, resume=args.resume,
                                               conformers=args.conformers, workers=args.workers)
    finally:
        reporter.close()
    if counts["cancelled"]:
        eprint(f"chemaccel: interrupted; {args.out} holds the first {counts['rows']} rows; continue with the "
               "same command and --resume")
        return 130
    if counts["resumed"] and counts["resumed"] == counts["rows"]:
        return 0  # already complete: the reporter said so
    resumed = f" after {counts['resumed']} rows kept from before" if counts["resumed"] else ""
    eprint(f"wrote {args.out}: {counts['ok']} ok, {counts['error']} with errors{resumed} "
           "(see the status column)")
    return 0


def _predict_typed(args: argparse.Namespace, smiles: str) -> int:
    """One SMILES typed on the command line: the file pipeline on a one-line file (the same geometry, value,
    uncertainty and domain verdict as a file's row), printed; also written to ``-o`` when given."""
    import csv
    import tempfile

    from chemaccel import api

    with tempfile.TemporaryDirectory(prefix="chemaccel-typed-") as tmp:
        source = Path(tmp) / "typed.smi"
        source.write_text(smiles + "\n", encoding="utf-8")
        out = Path(args.out) if args.out else Path(tmp) / "typed.csv"
        api.predict_property_file(_load(args), source, out, None, device=args.torch_device, chunk=1,
                                  seed=args.seed, conformers=args.conformers)
        with out.open(newline="", encoding="utf-8") as f:
            (row,) = list(csv.DictReader(f))
    if row["status"] != "ok":
        eprint(f"chemaccel: error: {smiles}: {row['status'].removeprefix('error: ').replace(' (record 1)', '')}")
        return 1
    print(f"  {smiles}" + (f"   ({row['note']})" if row.get("note") else ""))
    targets = [c[:-3] for c in row if c.endswith("_eV") and not c.endswith(("_uncertainty_eV", "_interval90_eV"))]
    domain = ("inside the model's domain" if row["domain"] == "in" else
              f"OUTSIDE the model's domain ({row['domain_reason']})")
    for t in targets:
        line = f"    {t} {float(row[t + '_eV']):.3f} eV"
        if row.get(f"{t}_uncertainty_eV"):
            line += (f", uncertainty {float(row[t + '_uncertainty_eV']):.3f} eV, 90 % interval "
                     f"±{float(row[t + '_interval90_eV']):.3f} eV")
        print(line)
    print(f"    {domain}")
    return 0


def _predict_ray(args: argparse.Namespace, model: Any) -> int:
    import functools

    from chemaccel import api

    job = functools.partial(api.predict_property_file_ray, model, args.input, args.out, args.ray, chunk=args.chunk,
                            seed=args.seed, resume=args.resume, conformers=args.conformers)
    return run_ray_job(args, args.out, job, "ok", "with errors")


def _load(args: argparse.Namespace) -> Any:
    """The property model folder of ``args.model`` on the device asked for (another engine's folder is an
    error)."""
    from chemaccel import api

    api.expect_engine(api.read_model_info(args.model), "property", args.model)
    return api.load_model(Path(args.model), args.torch_device)


def _evaluate(args: argparse.Namespace) -> int:
    from chemaccel import api

    data = args.data
    if data is None:
        from chemaccel.datasets.qm9 import default_qm9_store
        from chemaccel.reporting import TqdmReporter

        reporter = TqdmReporter()
        try:
            data = default_qm9_store(reporter)
        finally:
            reporter.close()
    model = _load(args)
    if args.geometry is not None:
        return _evaluate_rows(args, model, data)
    figures = api.evaluate_property(model, data, split=args.split, limit=args.limit)
    if args.json:
        print_json(figures)
    else:
        for row in figures["results"]:
            print(f"{row['target']}: MAE {row['mae_mev']:.1f} meV on {row['n']} {args.split} molecules")
        print(f"parameters {figures['params']}, filter parameters {figures['filter_params']}, "
              f"{figures['flops']:.3g} FLOPs/molecule, {figures['molecules_per_s']:.0f} molecules/s")
    return 0


def _evaluate_rows(args: argparse.Namespace, model, data) -> int:
    from chemaccel import api
    from chemaccel.reporting import TqdmReporter

    if args.workers < 1:
        raise api.ConfigError(f"--workers must be at least 1, got {args.workers}")
    reporter = TqdmReporter(file=sys.stderr)
    try:
        with cancel_on_sigint(reporter):
            figures = api.evaluate_property_inputs(model, data, split=args.split, geometry=args.geometry,
                                                   limit=args.limit, workers=args.workers, seed=args.seed,
                                                   reporter=reporter, conformers=args.conformers)
    finally:
        reporter.close()
    if args.json:
        print_json(figures)
        return 0
    print(f"{figures['n']} {args.split} molecules from {args.geometry}: {figures['ok']} predicted, "
          f"{figures['failed']} failed ({100 * figures['failure_rate']:.2f} %), "
          f"{figures['outside_domain']} outside the domain; {figures['molecules_per_s']:.1f} molecules/s")
    for row in figures["results"]:
        line = f"{row['target']}: MAE {row['mae_mev']:.1f} meV"
        if "coverage90" in row:
            line += (f"; 90 % interval holds {100 * row['coverage90']:.1f} % of errors; least certain 10 %: "
                     f"{row['mae_mev_least_certain_10pct']:.1f} meV, the rest {row['mae_mev_other_90pct']:.1f} meV")
        print(line)
    for reason, count in figures["failure_reasons"].items():
        print(f"  failed: {reason}: {count}")
    return 0
