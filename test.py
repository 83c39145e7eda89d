"""Evaluate CR-MSS: the paper-workflow entry point, the same as ``crmss test`` (see --help)."""

import sys

from crmss.cli import console

if __name__ == "__main__":
    console(["test", *sys.argv[1:]])
