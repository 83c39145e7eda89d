import json

from conftest import run_cli


def test_demo_runs_every_stage(tmp_path):
    run = run_cli("demo", "--out", tmp_path / "demo", "--size", "780", "--epochs", "2")
    assert run.returncode == 0, run.stderr[-3000:]
    assert "train: 2 pairs" in run.stdout and "test: 1 pairs" in run.stdout
    assert "Epoch 2/2" in run.stdout and "best validation PSNR" in run.stdout
    names = sorted(p.name for p in (tmp_path / "demo/products").iterdir())
    assert len(names) == 6 and sum(n.endswith(".zip") for n in names) == 4 and any("_PDMC_" in n for n in names)
    manifest = json.loads((tmp_path / "demo/data/manifest.json").read_text())
    assert len(manifest["pairs"]) == 3 and all(p["windows"] for p in manifest["pairs"].values())
    assert (tmp_path / "demo/run/generator.keras").exists() and (tmp_path / "demo/run/config.json").exists()
    assert "dark_channel_prior" in run.stdout and (tmp_path / "demo/results/report.md").exists()
    assert (tmp_path / "demo/results/metrics.csv").read_text().startswith("method,scene,band,metric,value")
    cleaned = sorted(p.name for p in (tmp_path / "demo/predicted").iterdir())
    assert len(cleaned) == 4 and all("_CR_" in n for n in cleaned)  # the PDMC product's two granules, 10 m and 20 m
    assert run_cli("demo", "--out", tmp_path / "d2", "--size", "100").returncode == 2
    again = run_cli("demo", "--out", tmp_path / "demo", "--size", "780", "--epochs", "2")  # replaces its own earlier demo
    assert again.returncode == 0, again.stderr[-2000:]
    refused = run_cli("demo", "--out", tmp_path / "demo" / "data", "--size", "780")  # not a demo folder
    assert refused.returncode == 2 and "is not a demo folder" in refused.stderr
