"""One exception type for bad input, so the CLI can print one clear line and exit non-zero."""

from __future__ import annotations


class InputError(Exception):
    """Bad input: names the file and, where known, the line or species at fault.

    Parameters
    ----------
    message
        What was wrong and what was expected.
    path
        The file at fault, if any.
    line
        1-based line number in ``path``, if known.
    """

    exit_code = 1

    def __init__(self, message: str, path: object | None = None, line: int | None = None) -> None:
        self.path = None if path is None else str(path)
        self.line = line
        where = ""
        if self.path is not None:
            where = self.path + (f":{line}" if line is not None else "") + ": "
        super().__init__(where + message)


class NotSupportedError(Exception):
    """A valid request that this version does not implement (exit code 2)."""

    exit_code = 2
