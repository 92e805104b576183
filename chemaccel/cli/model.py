"""``chemaccel model info|list|path``: the shipped models and what a model folder holds (JSON and safetensors only).

``chemaccel models ...`` is the same group.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from chemaccel.cli.common import print_json


def add_parser(sub: argparse._SubParsersAction) -> None:
    group = sub.add_parser("model", aliases=["models"],
                           help="the shipped models, and what a model folder holds (config.json + model.safetensors)")
    verbs = group.add_subparsers(dest="verb", metavar="<verb>", required=True)
    ls = verbs.add_parser("list", help="the shipped models: name, engine and headline figures")
    ls.add_argument("--json", action="store_true", help="print one JSON object")
    ls.set_defaults(func=run_list)
    where = verbs.add_parser("path", help="the folder of a shipped model (for scripts: $(chemaccel models path NAME))")
    where.add_argument("name", help="a shipped model's name")
    where.set_defaults(func=run_path, folder_args=("name",))
    p = verbs.add_parser(
        "info",
        help="engine, version, units, architecture and tensor sizes of a model folder",
        description="Print what a model folder holds. Pickled files (.pt, .pkl, torch zip) are refused, never loaded.",
        epilog="example:\n  chemaccel model info resources/models/lenet5-mnist-autoprune --json",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("path", type=Path, help="a model folder or a shipped model's name")
    p.set_defaults(folder_args=("path",))
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run_info)


def run_list(args: argparse.Namespace) -> int:
    from chemaccel.checkpoint import read_model_info
    from chemaccel.errors import ChemAccelError
    from chemaccel.shipped import models_dir, shipped_names

    rows = []
    for name in shipped_names():
        try:
            info = read_model_info(models_dir() / name)
        except ChemAccelError as exc:
            rows.append({"name": name, "engine": None, "error": str(exc)})
            continue
        rows.append({"name": name, "engine": info.engine, "path": str(models_dir() / name), "notes": info.notes})
    if args.json:
        print_json({"folder": str(models_dir()), "models": rows})
        return 0
    if not rows:
        print(f"no shipped models in {models_dir()}")
        return 0
    width = max(len(r["name"]) for r in rows)
    for r in rows:
        about = r.get("error") or (r["notes"] or "")
        about = about if len(about) <= 70 else about[:67] + "..."
        print(f"{r['name']:<{width}}  {r['engine'] or '?':<9} {about}")
    return 0


def run_path(args: argparse.Namespace) -> int:
    print(args.name)
    return 0


def run_info(args: argparse.Namespace) -> int:
    from chemaccel.checkpoint import load_model_folder

    info, tensors = load_model_folder(args.path)
    params = int(sum(t.numel() for t in tensors.values()))
    nonzero = int(sum(int((t != 0).sum()) for t in tensors.values()))
    summary = {
        "path": str(args.path), "engine": info.engine, "format_version": info.format_version,
        "chemaccel_version": info.chemaccel_version, "created": info.created, "units": info.units,
        "architecture": info.architecture, "metrics": info.metrics, "tensors": len(tensors),
        "params": params, "params_nonzero": nonzero,
    }
    if args.json:
        print_json(summary)
        return 0
    print(f"{args.path}: {info.engine} model, format v{info.format_version}, chemaccel {info.chemaccel_version}")
    print(f"  {params:,} parameters in {len(tensors)} tensors ({nonzero:,} non-zero)")
    for key in ("units", "metrics"):
        if summary[key]:
            print(f"  {key}: " + ", ".join(f"{k}={v}" for k, v in summary[key].items()))
    return 0
