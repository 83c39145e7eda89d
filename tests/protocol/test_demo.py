import csv
import json

import pytest

from conftest import run_cli
from crmss.core.errors import InputError
from crmss.protocol.demo import MARKER, _fresh_folder


def test_a_demo_folder_is_replaced_and_any_other_refused(tmp_path):
    demo = tmp_path / "demo"
    _fresh_folder(demo)
    (demo / "products").mkdir()
    _fresh_folder(demo)  # an earlier demo's folder: emptied
    assert [p.name for p in demo.iterdir()] == [MARKER]
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "keep").write_text("mine")
    with pytest.raises(InputError, match="is not a demo folder"):
        _fresh_folder(tmp_path / "other")
    assert (tmp_path / "other" / "keep").read_text() == "mine"


@pytest.mark.slow
def test_demo_runs_every_stage_and_experiment(tmp_path):
    run = run_cli("demo", "--out", tmp_path / "demo", "--size", "780", "--epochs", "2")
    assert run.returncode == 0, run.stderr[-3000:]
    assert "Epoch 2/2" in run.stdout and "train crmss_visnir: into" in run.stdout
    names = sorted(p.name for p in (tmp_path / "demo/products").iterdir())
    assert (
        len(names) == 5
        and sum(n.endswith(".zip") for n in names) == 4
        and any("_PDMC_" in n for n in names)
        and "tiles" in names
    )
    manifest = json.loads((tmp_path / "demo/data/manifest.json").read_text())
    assert len(manifest["pairs"]) == 3 and all(p["windows"] for p in manifest["pairs"].values())
    assert [p["subset"] for p in manifest["pairs"].values()].count("test") == 1
    config = json.loads((tmp_path / "demo/runs/crmss_visnir/config.json").read_text())
    assert config["options"]["bands"] == "visnir"
    for label in ("real", "simulated"):
        with (tmp_path / f"demo/results/{label}/metrics.csv").open() as handle:
            methods = {row["method"] for row in csv.DictReader(handle)}
        assert methods == {"crmss", "crmss_visnir", "dark_channel_prior", "hot", "cloudy_input"}
    report = (tmp_path / "demo/tables/report.md").read_text()
    assert (
        "## real" in report
        and "## simulated (simulated testing set)" in report
        and "### Ablation" in report
    )
    assert (
        "merged tables:" in run.stdout
        and "simulated testing set" in run.stdout
        and "crmss_visnir" in run.stdout
    )
    cleaned = sorted(p.name for p in (tmp_path / "demo/predicted").iterdir())
    # the PDMC product's two granules: 10 m, 20 m and the cloud weights
    suffixes = sorted(n.rsplit("_", 1)[1] for n in cleaned)
    assert suffixes == ["10m.tif"] * 2 + ["20m.tif"] * 2 + ["mask.tif"] * 2
    assert run_cli("demo", "--out", tmp_path / "d2", "--size", "100").returncode == 2
    # not a demo folder
    refused = run_cli("demo", "--out", tmp_path / "demo" / "data", "--size", "780")
    assert refused.returncode == 2 and "is not a demo folder" in refused.stderr
