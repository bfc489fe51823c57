"""Sub-commands of the ``tacit`` CLI: each parses arguments and calls one library function."""
