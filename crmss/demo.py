"""``crmss demo``: the whole pipeline and the paper's experiments on synthetic products, in
minutes on a laptop CPU.

Stages: three synthetic pairs named from the WHUS2-CR list, each packaged differently (zipped
compact, a public bucket's tile folders, zipped pre-2016 PDMC with two granules) -> prepare ->
train a small CR-MSS and its Vis/NIR ablation -> a simulated testing set -> evaluate both
models with the classical methods on the real and the simulated test pair -> the merged tables
-> clean the whole cloudy test product. Everything goes under one folder, which the next demo
may replace (a marker file says it is a demo's).
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from .errors import InputError
from .options import CloudParameters, DemoOptions, EvaluateOptions, PredictOptions, PrepareOptions, ReportOptions, SimulateOptions, TrainOptions

#: the demo's packaging of its three pairs: what the log says, and write_pair's options
LAYOUTS = (
    ("zipped compact products", dict(zipped=True)),
    ("tile folders of the public bucket", dict(bucket=True)),
    ("zipped pre-2016 PDMC products with two granules", dict(zipped=True, naming="long")),
)
MARKER = ".crmss-demo"


def run_demo(options: DemoOptions, log=print) -> dict:
    """Run every stage into ``options.out``; return the summary rows of the merged tables'
    sources (evaluation name -> metric rows)."""
    from .evaluation import evaluate
    from .preparation import prepare
    from .runs import read_best
    from .safe import find_products, locate
    from .scene import predict_products
    from .simulation import simulate
    from .splits import read_split, write_split
    from .synthetic import write_pair
    from .tables import merge_evaluations
    from .training import train

    out, size, seed, epochs = Path(options.out), options.size, options.seed, options.epochs
    if size % 6:
        raise InputError(f"--size {size}: the 10 m side must be a multiple of 6 (e.g. 1536)")
    _fresh_folder(out)
    pairs = read_split()
    chosen = [p for p in pairs if p.subset == "train"][:2] + [p for p in pairs if p.subset == "test"][:1]
    products = out / "products"
    start = time.perf_counter()
    for pair, (what, layout) in zip(chosen, LAYOUTS):
        log(f"writing synthetic pair {pair.key} ({pair.subset}, {size} px at 10 m): {what}")
        write_pair(products, pair.clear, pair.cloudy, size=size, seed=seed, cloud_cover=0.9, max_thickness=1.0, **layout)
    log(f"products written in {time.perf_counter() - start:.0f} s to {products}")
    split = out / "demo_split.csv"
    write_split(split, chosen)
    data = out / "data"
    manifest = prepare(PrepareOptions(products, data, split=split), log=log)
    for subset in ("train", "test"):
        done = [p for p in manifest["pairs"].values() if p["subset"] == subset]
        log(f"{subset}: {len(done)} pairs, {sum(len(p['windows']) for p in done)} patch pairs")

    runs = {"crmss": out / "run", "crmss_visnir": out / "run_visnir"}
    for (name, run), bands in zip(runs.items(), ("all", "visnir")):
        log(
            f"training {name}: a width-16 CR-MSS on {'all ten bands' if bands == 'all' else 'B02, B03, B04, B08 alone'} "
            f"for {epochs} epochs (lr 1e-3) into {run}; the last training pair validates"
        )
        train(TrainOptions(data=str(data), out=str(run), width=16, lr=1e-3, epochs=epochs, seed=seed, samples=2, bands=bands), log=log, verbose=2)
        best = read_best(run)
        cloudy = "unknown" if best["val_cloudy_psnr"] is None else f"{best['val_cloudy_psnr']:.2f} dB"
        log(f"{name}: best validation PSNR {best['val_psnr']:.2f} dB at epoch {best['epoch']} (cloudy input: {cloudy})")

    simulated = out / "simulated"
    simulate(SimulateOptions(data, simulated, clouds=CloudParameters(seed=seed)), log=log)
    models = tuple(f"{name}={run}" for name, run in runs.items())
    results = {}
    for label, folder in (("real", data), ("simulated", simulated)):
        log(f"evaluating both models (best checkpoints) and the classical methods on the {label} test pair into {out / ('results_' + label)}")
        results[label] = evaluate(EvaluateOptions(folder, models, out / f"results_{label}", checkpoint="best", figures=2), log=log)
    merge_evaluations(ReportOptions(tuple(f"{label}={out / ('results_' + label)}" for label in results), out / "tables"), log=log)

    scene = locate(chosen[-1].cloudy, find_products(products))
    log(f"cleaning the whole cloudy test product {scene.name} into {out / 'predicted'}")
    predict_products(PredictOptions((scene,), runs["crmss"], out / "predicted", tile=512, checkpoint="best"), log=log)
    log(f"demo done in {time.perf_counter() - start:.0f} s")
    return results


def _fresh_folder(out: Path) -> None:
    """Create ``out``, or empty it when an earlier demo wrote it; refuse any other folder."""
    marker = out / MARKER
    if out.exists() and any(out.iterdir()):
        if not marker.exists():
            raise InputError(f"{out}: exists and is not a demo folder; choose a new --out for the demo")
        shutil.rmtree(out)  # an earlier demo's own folder: start afresh
    out.mkdir(parents=True, exist_ok=True)
    marker.write_text("written by crmss demo; the next demo into this folder replaces it\n")
