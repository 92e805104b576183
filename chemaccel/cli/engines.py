"""CLI groups of the five engines. Until an engine lands, its group says so plainly (exit status 1)."""

from __future__ import annotations

import argparse

from chemaccel.errors import NotAvailableError

ENGINES = {
    "nas": ("DARTS architecture search with distillation", "search|retrain|evaluate", 7),
}


def add_parser(sub: argparse._SubParsersAction) -> None:
    for name, (about, verbs, issue) in ENGINES.items():
        p = sub.add_parser(name, help=f"{about} (not available yet)", description=f"{about}. Not available yet.")
        p.add_argument("verb", nargs="?", help=verbs)
        p.add_argument("rest", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
        p.set_defaults(func=_not_available(name, verbs, issue))


def _not_available(name: str, verbs: str, issue: int):
    def handler(args: argparse.Namespace) -> int:
        raise NotAvailableError(
            f"the '{name}' engine ({verbs}) is not available yet in this version; it lands with issue {issue}"
        )

    return handler
