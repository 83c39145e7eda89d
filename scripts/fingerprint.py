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
left out: they differ from run to run by design. So is one metadata item of the predicted COGs,
``CRMSS_MODEL_SHA256``: the SHA-256 of the ``.keras`` file, a zip whose members carry the time
they were written. A predicted COG is fingerprinted by its pixels and its other metadata
(``<sha256>  <path>  (pixels and metadata)``); every other file by its bytes.
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
    subprocess.run(
        [sys.executable, "-m", "crmss", "demo", "--out", str(args.out)],
        check=True,
        env=environment,
        stdout=subprocess.DEVNULL,
    )
    files = sorted({path for pattern in PATTERNS for path in args.out.rglob(pattern)})
    for path in files:
        if path.parent.name == "predicted":
            print(f"{cog_fingerprint(path)}  {path.relative_to(args.out)}  (pixels and metadata)")
        else:
            print(f"{hashlib.sha256(path.read_bytes()).hexdigest()}  {path.relative_to(args.out)}")


#: metadata items of a predicted COG that change from run to run by design
VARYING = ("CRMSS_MODEL_SHA256",)


def cog_fingerprint(path: Path) -> str:
    """SHA-256 of a COG's pixels (every band, full resolution), its grid and its metadata items
    but :data:`VARYING`."""
    from osgeo import gdal

    gdal.UseExceptions()
    dataset = gdal.Open(str(path))
    digest = hashlib.sha256()
    metadata = {
        key: value for key, value in (dataset.GetMetadata() or {}).items() if key not in VARYING
    }
    digest.update(
        repr(
            (sorted(metadata.items()), dataset.GetGeoTransform(), dataset.GetProjection())
        ).encode()
    )
    for index in range(1, dataset.RasterCount + 1):
        band = dataset.GetRasterBand(index)
        digest.update(repr((band.GetDescription(), band.GetNoDataValue())).encode())
        digest.update(band.ReadAsArray().tobytes())
    return digest.hexdigest()


if __name__ == "__main__":
    main()
