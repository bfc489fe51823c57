"""The ``tacit`` command line: one sub-command per verb, each defined in ``tacit.commands``.

Every sub-command module exposes ``register(subparsers)`` which adds its parser and sets ``func``.
Bad input raises :class:`tacit.errors.InputError`; it is printed as one line (no traceback unless
``--debug``) and the process exits with a non-zero code.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from . import __version__
from .errors import InputError, NotSupportedError

COMMANDS = (
    "simulate",
    "select_ocrs",
    "maf_orthologs",
    "halper",
    "chain_orthologs",
    "sequences",
    "model",
    "train",
    "score",
    "matrix",
    "associate",
    "species_report",
    "gather",
    "evaluate",
    "export",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tacit", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"tacit {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    parser.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors on stderr")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        module = importlib.import_module(f".commands.{name}", __package__)
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING if args.quiet else logging.INFO,
        format="%(asctime)s tacit %(levelname)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    try:
        return int(args.func(args) or 0)
    except (InputError, NotSupportedError) as err:
        if args.debug:
            raise
        print(f"tacit {args.command}: error: {err}", file=sys.stderr)
        return err.exit_code
    except OSError as err:  # a file the readers did not open themselves (e.g. a model or an index)
        if args.debug:
            raise
        where = f"{err.filename}: " if err.filename else ""
        print(f"tacit {args.command}: error: {where}{err.strerror or err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"tacit {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
