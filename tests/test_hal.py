"""The HAL path as the workflow runs it: halLiftover (peaks and summits) on a real Cactus alignment, then
`tacit halper`. Needs `halLiftover` on PATH (bioconda `hal`, envs/hal.yaml) and ../shared's mr.hal; skips
with a message otherwise. The stitching itself is tested without halLiftover in tests/test_halper.py."""

import shutil
import subprocess
import sys

import pytest

from tacit.orthologs import write_liftover_inputs
from tacit.peaks import read_narrowpeak

from conftest import shared_path


def test_halliftover_then_halper_on_a_cactus_alignment(tmp_path):
    hal = shared_path("data", "hal", "mr.hal")
    if shutil.which("halLiftover") is None:
        pytest.skip("halLiftover is not on PATH: install bioconda's hal (envs/hal.yaml, or run the workflow with "
                    "--use-conda) to test the HAL path")
    # Two mouse OCRs; the data README records where halLiftover puts them in rat (16 and 13 fragments).
    (tmp_path / "peaks.narrowPeak").write_text(
        "simMouse.chr6\t10000\t10500\tocr1\t0\t.\t1\t1\t1\t250\n"
        "simMouse.chr6\t400000\t401000\tocr2\t0\t.\t1\t1\t1\t500\n"
    )
    query, summits = tmp_path / "query.bed", tmp_path / "summits.bed"
    write_liftover_inputs(read_narrowpeak(tmp_path / "peaks.narrowPeak"), query, summits)
    lifted_peaks, lifted_summits = tmp_path / "rat.peaks.bed", tmp_path / "rat.summits.bed"
    for args in (["--bedType", "4", str(hal), "simMouse_chr6", str(query), "simRat_chr6", str(lifted_peaks)],
                 [str(hal), "simMouse_chr6", str(summits), "simRat_chr6", str(lifted_summits)]):
        done = subprocess.run(["halLiftover", *args], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
    out = tmp_path / "rat.narrowPeak"
    done = subprocess.run([sys.executable, "-m", "tacit.cli", "halper", "--query", str(query),
                           "--target", str(lifted_peaks), "--summits", str(lifted_summits), "--out", str(out),
                           "--narrowpeak", "--min-len", "50", "--max-len", "1000", "--protect-dist", "5",
                           "--mult-keepone"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    rows = {f[3]: f for f in (line.split("\t") for line in out.read_text().splitlines())}
    spans = {"ocr1": (9376, 9842), "ocr2": (399960, 400891)}  # the lifted fragments' extent (data README)
    for name, (lo, hi) in spans.items():
        chrom, start, end, summit = rows[name][0], int(rows[name][1]), int(rows[name][2]), int(rows[name][9])
        assert chrom == "simRat.chr6"
        assert lo <= start < end <= hi and 50 <= end - start <= 1000
        assert 5 <= summit <= end - start - 5  # protect_dist around the lifted summit
