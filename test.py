"""Evaluate CR-MSS: the paper-workflow entry point, the same as ``crmss test`` (see --help)."""

import sys

from crmss.cli import main

if __name__ == "__main__":
    sys.exit(main(["test", *sys.argv[1:]]))
