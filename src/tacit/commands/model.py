"""``tacit model``: build an untrained model from a spec, or summarise a spec (shapes, parameters, FLOPs)."""

from __future__ import annotations

import argparse
import logging

log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "model",
        help="build or summarise a CNN described by a model spec (models/*.json)",
        description="Model specs are JSON: input length, a list of layers (conv1d, dropout, maxpool1d, flatten, "
        "global_max_pool, global_avg_pool, dense), the output head and training defaults.",
    )
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    build = actions.add_parser("build", help="write the untrained Keras model of a spec",
                               description="Build the spec's model with weights initialised from --seed and save it.")
    build.add_argument("spec", help="model spec JSON")
    build.add_argument("out", help="output model (.keras; .h5 for the legacy format)")
    build.add_argument("--seed", type=int, default=1, help="seed of the initial weights (default: 1)")
    build.set_defaults(func=run_build)
    summary = actions.add_parser("summary", help="print layers, output shapes, parameters and FLOPs per sequence",
                                 description="Print the spec's layers with output shapes, parameter counts and FLOPs "
                                 "(2 per multiply-add of convolutions and dense layers) without loading TensorFlow.")
    summary.add_argument("spec", help="model spec JSON")
    summary.set_defaults(func=run_summary)


def run_build(args: argparse.Namespace) -> int:
    from ..model import build_model, configure_tensorflow, count_params, load_spec, save_model

    spec = load_spec(args.spec)
    configure_tensorflow()
    save_model(build_model(spec, args.seed), args.out)
    log.info("wrote %s: %s, %d parameters", args.out, spec["name"], count_params(spec))
    return 0


def run_summary(args: argparse.Namespace) -> int:
    from ..model import format_summary, load_spec

    print(format_summary(load_spec(args.spec)))
    return 0
