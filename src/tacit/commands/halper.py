"""``tacit halper``: HALPER's ``orthologFind.py`` on halLiftover output, with the same output lines."""

from __future__ import annotations

import argparse
import logging

from . import add_qc_options, check_qc_options

log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "halper",
        help="HALPER: stitch halLiftover fragments around the lifted summit; OUT and OUT.failed as HALPER writes",
        description="Construct one contiguous ortholog per query peak from halLiftover output, with HALPER's "
        "rules and options (pfenninglab/halLiftover-postprocessing orthologFind.py; HALPER's option in "
        "brackets). Lengths count both ends (end - start + 1), as in HALPER. No histograms are drawn.",
    )
    p.add_argument("--query", required=True, help="[-qFile] query peaks: BED with unique names in column 4 "
                   "(narrowPeak welcome)")
    p.add_argument("--target", required=True, help="[-tFile] the query peaks lifted by halLiftover (fragments)")
    p.add_argument("--summits", required=True, help="[-sFile] the query summits lifted by halLiftover")
    p.add_argument("--out", required=True, help="[-oFile] orthologs passing the limits; the others go to OUT.failed")
    low = p.add_mutually_exclusive_group(required=True)
    low.add_argument("--min-len", type=int, help="[-min_len] shortest ortholog kept, bp")
    low.add_argument("--min-frac", type=float, help="[-min_frac] shortest ortholog kept, times (query length + 1)")
    high = p.add_mutually_exclusive_group(required=True)
    high.add_argument("--max-len", type=int, help="[-max_len] longest ortholog kept, bp")
    high.add_argument("--max-frac", type=float, help="[-max_frac] longest ortholog kept, times (query length + 1)")
    p.add_argument("--protect-dist", type=int, default=50,
                   help="[-protect_dist] bases required on each side of the lifted summit (default, as HALPER: 50)")
    p.add_argument("--mult-keepone", action="store_true",
                   help="[-mult_keepone] a summit lifted to several places: use its first line instead of "
                   "dropping the peak")
    p.add_argument("--narrowpeak", action="store_true", help="[-narrowPeak] write narrowPeak lines")
    p.add_argument("--preserve", nargs="+", default=[], metavar="COL", type=str.lower,
                   choices=["score", "signal", "pvalue", "qvalue"],
                   help="[-preserve] with --narrowpeak, copy these query columns (score signal pvalue qvalue)")
    p.add_argument("--keep-chr-prefix", metavar="PREFIX",
                   help="[-keepChrPrefix] fail orthologs on sequences whose name does not start with PREFIX")
    add_qc_options(p, " per query line (not in HALPER)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..halper import HalperSettings, run_halper

    check_qc_options(args)
    if args.preserve and not args.narrowpeak:
        log.warning("--preserve has no effect without --narrowpeak (as in HALPER)")
    settings = HalperSettings(min_len=args.min_len, min_frac=args.min_frac, max_len=args.max_len,
                              max_frac=args.max_frac, protect_dist=args.protect_dist,
                              mult_keepone=args.mult_keepone, narrowpeak=args.narrowpeak,
                              preserve=tuple(args.preserve), keep_chr_prefix=args.keep_chr_prefix)
    result = run_halper(args.query, args.target, args.summits, args.out, settings, qc=args.qc, species=args.species)
    n_passed = int(result.passed.sum())
    log.info("%d orthologs in %s, %d failed the limits (%s.failed)", n_passed, args.out,
             result.passed.size - n_passed, args.out)
    return 0
