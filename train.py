"""Train CR-MSS: the paper-workflow entry point, the same as ``crmss train`` (see --help)."""

import sys

from crmss.cli import console

if __name__ == "__main__":
    console(["train", *sys.argv[1:]])
