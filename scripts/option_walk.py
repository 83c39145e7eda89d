"""The walk of ``crmss predict``'s options: where in the package each option is read, in the
order a run reads them, and how often that order climbs back into a file it had left.

Runs ``crmss.predict_products`` on one synthetic product (780 px, an untrained width-8
generator, every option at its default but ``--tile 512``) with every read of a field of
``PredictOptions`` logged by the file that reads it. The walk is that sequence of files with
repeats in a row merged; a climb is a step of the walk into a file it had already visited (the
reader of the code goes back up to where the option came from to find the next one). Issue 30
counted 14 files and 15 climbs before the package was split by pipeline stage and asks for 6
climbs or fewer (its method of counting is not recorded; this is ours)::

    python scripts/option_walk.py /tmp/option-walk

prints the walk (one file a line, with the options read there) and the counts.
"""

from __future__ import annotations

import argparse
import dataclasses
import shutil
import sys
from pathlib import Path

from crmss.core.options import PredictOptions
from crmss.dataset.splits import read_split
from crmss.dataset.synthetic import write_pair
from crmss.inference.predict import predict_products
from crmss.nn.model import build_generator

PACKAGE = Path(__file__).resolve().parents[1] / "crmss"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("work", type=Path, help="a folder for the product and outputs (replaced)")
    args = parser.parse_args()
    shutil.rmtree(args.work, ignore_errors=True)
    pair = read_split()[0]
    write_pair(args.work / "products", pair.clear, pair.cloudy, size=780, seed=7)
    (args.work / "run").mkdir()
    build_generator(8).save(args.work / "run" / "generator.keras")
    cloudy = next(p for p in (args.work / "products").iterdir() if pair.cloudy[11:26] in p.name)
    options = PredictOptions(
        [cloudy], args.work / "run", args.work / "out", tile=512, progress=False
    )
    steps = walk(options)
    for file, fields in steps:
        print(f"{file:<32} {', '.join(dict.fromkeys(fields))}")
    files = {file for file, _ in steps}
    print(f"{len(files)} files, {len(steps)} steps, {climbs(steps)} climbs back")


def climbs(steps: list[tuple[str, list[str]]]) -> int:
    """How many steps of a walk go into a file the walk had already visited."""
    files = [file for file, _ in steps]
    return sum(file in files[:i] for i, file in enumerate(files))


def walk(options: PredictOptions) -> list[tuple[str, list[str]]]:
    """Run ``options`` with every read of one of their fields logged; return the walk: (file
    under crmss/, the fields read there in a row) per step."""
    fields = {field.name for field in dataclasses.fields(PredictOptions)}
    reads: list[tuple[str, str]] = []
    plain = PredictOptions.__getattribute__

    def logged(self: PredictOptions, name: str) -> object:
        if name in fields:
            caller = Path(sys._getframe(1).f_code.co_filename)
            if caller.is_relative_to(PACKAGE):
                reads.append((str(caller.relative_to(PACKAGE)), name))
        return plain(self, name)

    PredictOptions.__getattribute__ = logged  # type: ignore[method-assign]
    try:
        predict_products(options)
    finally:
        PredictOptions.__getattribute__ = plain  # type: ignore[method-assign]
    steps: list[tuple[str, list[str]]] = []
    for file, name in reads:
        if steps and steps[-1][0] == file:
            steps[-1][1].append(name)
        else:
            steps.append((file, [name]))
    return steps


if __name__ == "__main__":
    main()
