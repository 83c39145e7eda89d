"""``crmss demo``: the whole pipeline and the paper's experiments on synthetic products, at a
scale a laptop CPU runs.

It is ``crmss reproduce`` at a tiny scale (crmss/protocol/reproduce.py: the same stages, so the two
never diverge): two synthetic training pairs and one testing pair named from the WHUS2-CR list,
packaged differently (zipped compact, a public bucket's tile folders, zipped pre-2016 PDMC
with two granules) -> prepare -> train a width-16 CR-MSS and its Vis/NIR ablation -> a
simulated testing set -> evaluate both models with the classical methods on the real and the
simulated test pair -> the merged tables; then it cleans the whole cloudy test product.
Everything goes under one folder, which the next demo may replace (a marker file says it is a
demo's).
"""

from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path

from ..core.errors import InputError, InternalError
from ..core.files import output_folder
from ..core.options import DemoOptions, PredictOptions, ReproduceOptions
from ..core.validation import argument

logger = logging.getLogger(__name__)

MARKER = ".crmss-demo"


def run_demo(options: DemoOptions) -> dict:
    """Run every stage into ``options.out``; return reproduce.json's content."""
    from ..inference.predict import predict_products
    from ..io.discovery import find_products, locate
    from .reproduce import reproduce
    from .stages import synthetic_pairs

    out, start = Path(options.out), time.perf_counter()
    _fresh_folder(out)
    protocol = ReproduceOptions(
        out=out,
        synthetic=2,
        test_pairs=1,
        size=options.size,
        seed=options.seed,
        epochs=options.epochs,
        width=16,
        lr=1e-3,
    )
    logger.info(
        f"the protocol of 'crmss reproduce' at a tiny scale: {protocol.synthetic} + "
        f"{protocol.test_pairs} pairs of "
        f"{options.size} px, a width-16 CR-MSS (lr 1e-3) for {options.epochs} epochs"
    )
    record = reproduce(protocol)
    scene = locate(synthetic_pairs(2, 1)[-1].cloudy, find_products(out / "products"))
    if scene is None:
        raise InternalError(
            f"{out / 'products'}: the synthetic cloudy test product written there is not found"
        )
    logger.info(f"cleaning the whole cloudy test product {scene.name} into {out / 'predicted'}")
    predict_products(
        PredictOptions(
            (str(scene),), out / "runs" / "crmss", out / "predicted", tile=512, checkpoint="best"
        )
    )
    logger.info(f"demo done in {time.perf_counter() - start:.0f} s")
    return record


def _fresh_folder(out: Path) -> None:
    """Create ``out``, or empty it when an earlier demo wrote it; refuse any other folder."""
    marker = out / MARKER
    if out.exists() and any(out.iterdir()):
        if not marker.exists():
            raise InputError(
                f"{out}: exists and is not a demo folder; choose a new "
                f"{argument('out')} for the demo"
            )
        shutil.rmtree(out)  # an earlier demo's own folder: start afresh
    # created and checked as every command's output; no lock: the protocol inside locks it
    with output_folder(out, "demo", "the demo", lock=None, unused=None):
        marker.write_text("written by crmss demo; the next demo into this folder replaces it\n")
