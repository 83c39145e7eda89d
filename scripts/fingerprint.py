"""Fingerprint what crmss writes, to show that a change of code leaves outputs byte-identical.

Runs ``crmss demo`` (synthetic products -> prepare -> train -> simulate -> test -> report ->
predict) into ``OUT`` and prints the SHA-256 of every patch, prediction, COG, ``metrics.csv``
and ``tables.tex`` it wrote, one ``<sha256>  <path under OUT>`` line each, sorted. Run it
before and after a change, on the same machine and with the same ``OUT`` (the COGs record the
model's path), and compare the two listings::

    python scripts/fingerprint.py /tmp/fingerprint > before.txt
    ...change the code...
    python scripts/fingerprint.py /tmp/fingerprint > after.txt
    diff before.txt after.txt && echo byte-identical

Records that hold times or versions (``reproduce.json``, ``config.json``, ``report.md``) are
left out: they differ from run to run by design.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

#: the outputs that must not change: patches, predictions, COGs and the two tables
PATTERNS = ("*.tif", "metrics.csv", "tables.tex")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="the demo's folder (replaced)")
    args = parser.parse_args()
    if args.out.exists():
        shutil.rmtree(args.out)
    environment = {**os.environ, "TF_DETERMINISTIC_OPS": "1", "PYTHONHASHSEED": "0"}
    subprocess.run([sys.executable, "-m", "crmss", "demo", "--out", str(args.out)], check=True, env=environment, stdout=subprocess.DEVNULL)
    files = sorted({path for pattern in PATTERNS for path in args.out.rglob(pattern)})
    for path in files:
        print(f"{hashlib.sha256(path.read_bytes()).hexdigest()}  {path.relative_to(args.out)}")


if __name__ == "__main__":
    main()
