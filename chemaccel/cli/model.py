"""``chemaccel model info PATH``: what a model folder holds, read from JSON and safetensors only."""

from __future__ import annotations

import argparse
from pathlib import Path

from chemaccel.cli.common import print_json


def add_parser(sub: argparse._SubParsersAction) -> None:
    group = sub.add_parser("model", help="inspect model folders (config.json + model.safetensors)")
    verbs = group.add_subparsers(dest="verb", metavar="<verb>", required=True)
    p = verbs.add_parser(
        "info",
        help="engine, version, units, architecture and tensor sizes of a model folder",
        description="Print what a model folder holds. Pickled files (.pt, .pkl, torch zip) are refused, never loaded.",
        epilog="example:\n  chemaccel model info resources/models/lenet5-mnist-autoprune --json",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("path", type=Path, help="a model folder")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run_info)


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
