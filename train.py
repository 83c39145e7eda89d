"""Train CR-MSS: the paper-workflow entry point, the same as ``crmss train`` (see --help)."""

import sys

from crmss.cli import main

if __name__ == "__main__":
    sys.exit(main(["train", *sys.argv[1:]]))
