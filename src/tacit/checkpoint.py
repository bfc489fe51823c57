"""Resumable association runs: finished OCR blocks and the running block's permulation counts on disk.

A long association run (hundreds of thousands of OCRs, adaptive permulations up to 10^6) works through its
OCRs in blocks. After each block its rows are saved; while a block is being permulated, its per-OCR counts
are saved after every round (and every ``interval`` seconds inside a long round). A run started again with
the same checkpoint directory and the same inputs and settings skips the finished blocks and continues the
running block from its last saved state. Permulation ``j`` is the same draw whenever it is made, so the
resumed run's table is identical to an uninterrupted one.

The directory holds ``fingerprint`` (inputs and settings), ``block-NNNNNN.tsv`` per finished block and
``running.npz``; every file is written atomically. A fingerprint that differs (other inputs or settings)
discards the old state.
"""

from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path

import numpy as np
import pandas as pd

from .io import atomic_path, atomic_writer

log = logging.getLogger(__name__)


class Checkpoint:
    """State of one association run (one chunk) in ``directory``.

    Parameters
    ----------
    directory
        Where the state lives; created if absent.
    fingerprint
        Identity of the inputs and settings; state saved under another fingerprint is discarded.
    interval
        Minimum seconds between saves inside a permulation round (round ends are always saved).
    """

    def __init__(self, directory: str | Path, fingerprint: str, interval: float = 300.0) -> None:
        self.directory = Path(directory)
        self.fingerprint = fingerprint
        self.interval = interval
        self._last_save = time.monotonic()
        stamp = self.directory / "fingerprint"
        if self.directory.exists():
            if stamp.exists() and stamp.read_text().strip() == fingerprint:
                finished = len(list(self.directory.glob("block-*.tsv")))
                log.info("resuming from checkpoint %s: %d finished blocks", self.directory, finished)
                return
            log.warning("checkpoint %s belongs to other inputs or settings: starting afresh", self.directory)
            shutil.rmtree(self.directory)
        self.directory.mkdir(parents=True)
        with atomic_writer(stamp) as out:
            out.write(fingerprint + "\n")

    def _block_path(self, block: int) -> Path:
        return self.directory / f"block-{block:06d}.tsv"

    def is_finished(self, block: int) -> bool:
        return self._block_path(block).exists()

    def finished(self, block: int) -> pd.DataFrame:
        """The saved rows of a finished block."""
        from .association import read_associations

        return read_associations(str(self._block_path(block)))

    def save_finished(self, block: int, table: pd.DataFrame) -> None:
        """Save a finished block's rows (full precision) and forget the running state."""
        from .association import write_associations

        write_associations(table, str(self._block_path(block)), exact=True)
        (self.directory / "running.npz").unlink(missing_ok=True)

    def running(self, block: int) -> dict[str, np.ndarray] | None:
        """The saved permulation state of ``block``, or None."""
        path = self.directory / "running.npz"
        if not path.exists():
            return None
        with np.load(path) as saved:
            state = {key: saved[key] for key in saved.files}
        if int(state.pop("block")) != block:
            return None
        log.info("block %d: resuming permulations at %d per OCR", block + 1, int(state["done"]))
        return state

    def due(self) -> bool:
        """True when the last save is older than ``interval`` seconds."""
        return time.monotonic() - self._last_save >= self.interval

    def save_running(self, block: int, state: dict[str, np.ndarray | int]) -> None:
        """Save the running block's permulation state (counts per OCR, permulations done, active OCRs)."""
        with atomic_path(self.directory / "running.npz") as tmp:
            with open(tmp, "wb") as handle:
                np.savez(handle, block=block, **state)
        self._last_save = time.monotonic()

    def remove(self) -> None:
        """Delete the state once the run's output is written."""
        shutil.rmtree(self.directory, ignore_errors=True)
