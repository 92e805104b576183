"""The ``chemaccel`` command: ``chemaccel [global flags] <group> <verb> ...``.

Thin: each group lives in its own module with ``add_parser(subparsers)`` that registers its verbs and
sets ``func=handler``; a handler takes the parsed ``argparse.Namespace`` and returns an exit status.
Exit status: 0 ok, 1 failed (a :class:`~chemaccel.errors.ChemAccelError` printed as one line, no
traceback), 2 bad usage (argparse), 130 interrupted by Ctrl-C.
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Sequence

from chemaccel._version import __version__
from chemaccel.errors import ChemAccelError

EPILOG = """\
examples:
  chemaccel molecules info resources/examples/molecules.sdf
  chemaccel molecules convert resources/examples/with_errors.sdf -o good.csv
  chemaccel molecules embed resources/examples/molecules.smi -o embedded.sdf
  chemaccel data qm9 -o qm9.h5            # all 130,831 QM9 molecules into an HDF5 store
  chemaccel model info path/to/model      # a model folder: engine, units, parameters
  chemaccel demo                          # a short tour, no display needed
  chemaccel reaction predict reactions.txt -m resources/models/uspto-forward-reagents -k 5 -o out.csv
  chemaccel nas evaluate resources/models/nas-fashion --data ../shared/data/fashion_mnist --json
  chemaccel --device cuda:0 --seed 1 prune run ...

exit status: 0 ok, 1 failed (one-line reason on stderr), 2 bad usage, 130 interrupted.
"""


def build_parser() -> argparse.ArgumentParser:
    import importlib

    from chemaccel.cli import data, demo, model, molecules
    from chemaccel.engines import ENGINES

    parser = argparse.ArgumentParser(
        prog="chemaccel",
        description="Make neural networks for chemistry smaller and faster, and use them on molecule files.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"chemaccel {__version__}")
    parser.add_argument(
        "--device", default="auto", help="auto (a CUDA GPU if present, else the CPU), cpu, cuda or cuda:N"
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed for reproducible runs (default 0)")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv: debug)")
    sub = parser.add_subparsers(dest="group", metavar="<group>", required=True)
    for module in (molecules, data, model, demo, *(importlib.import_module(e.cli) for e in ENGINES.values())):
        module.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING - 10 * min(args.verbose, 2), format="%(levelname)s %(name)s: %(message)s"
    )
    try:
        from chemaccel.runtime import resolve_device

        # once, for every command: asking for a device that is not there is an error, never a silent
        # fall-back; commands read args.torch_device (args.device stays as typed: under torchrun "cuda"
        # means each process's own GPU)
        args.torch_device = resolve_device(args.device)
        from chemaccel.shipped import resolve_model

        for dest in getattr(args, "folder_args", ()):  # a shipped model's name works wherever a folder does
            value = getattr(args, dest)
            setattr(args, dest, type(value)(resolve_model(value)))
        return int(args.func(args) or 0)
    except ChemAccelError as exc:
        print(f"chemaccel: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("chemaccel: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
