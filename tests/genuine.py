"""Genuine test products: small L1C products whose files follow real ones field by field, each
saying which real product it mirrors and where its structure was read.

The files are written by crmss/io/esa_files.py (the templates crmss.dataset.synthetic writes from
too);
the names are those of real products, so every identity a fixture states is one ESA issued.
Where the structure was read:
* GDAL's autotest, ``autotest/gdrivers/data/sentinel2/fake_l1c_processing_baseline_5_09/``
  (the metadata of the real S2B_MSIL1C_20230823T095559_N0509_R122_T34UCF_20230823T120234 with
  its pixels removed): ``MTD_MSIL1C.xml`` and ``MTD_TL.xml`` of every compact product;
* GDAL's ``fake_l1c`` product and the driver's documentation (the real
  S2A_OPER_PRD_MSIL1C_PDMC_20150818T101440_R022_V20150813T102406_20150813T102406): the PDMC
  packaging (``Band_List``, ``Granules`` with ``IMAGE_ID``, ``S2A_OPER_MTD_L1C_TL_*.xml``);
* the public bucket's tile folders and Earth Search v1's ``sentinel-2-l1c`` items (FACTS.md,
  "Genuine formats").
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from crmss.core.bands import ALL_BANDS, RESOLUTION
from crmss.dataset import synthetic
from crmss.io import esa_files
from crmss.io.names import ProductName

#: 10 m side of a genuine fixture (a multiple of 6 that JPEG2000 writes in one code block)
SIZE = 384


@dataclass(frozen=True)
class Genuine:
    """One genuine fixture: the real product ``name`` it mirrors, packaged as ``layout`` says."""

    key: str
    name: str
    mirrors: str  # where this product's name and structure come from
    # write_pair / write_product options: naming, band_naming, zipped, bucket
    layout: dict = field(default_factory=dict)
    suffix: str = ""  # ".SAFE.zip" for a zip named so

    @property
    def baseline(self) -> str:
        return str(ProductName.of(self.name).baseline)


FIXTURES = (
    Genuine(
        "compact-02.07-S2A",
        "S2A_MSIL1C_20181111T053041_N0207_R105_T43RGM_20181111T083104",
        "the WHUS2-CR list (pair R105_T43RGM), in GDAL's 05.09 structure",
    ),
    Genuine(
        "compact-04.00-S2A",
        "S2A_MSIL1C_20220226T085931_N0400_R007_T35UQS_20220226T101548",
        "a real baseline 04.00 product (RADIO_ADD_OFFSET -1000), in GDAL's 05.09 structure",
        dict(zipped=True),
    ),
    Genuine(
        "compact-05.09-S2B",
        "S2B_MSIL1C_20230823T095559_N0509_R122_T34UCF_20230823T120234",
        "GDAL's autotest product fake_l1c_processing_baseline_5_09 itself",
        dict(zipped=True),
        ".SAFE.zip",
    ),
    Genuine(
        "compact-05.11-S2C",
        "S2C_MSIL1C_20251201T102411_N0511_R065_T32UPB_20251201T121939",
        "a real Sentinel-2C product (granule L1C_T32UPB_A006470_20251201T102413), in GDAL's 05.09 "
        "structure",
    ),
    Genuine(
        "pdmc-02.04-S2A",
        "S2A_MSIL1C_20150826T084006_N0204_R064_T37UCQ_20150826T084003",
        "the WHUS2-CR test pair R064_T37UCQ as packaged before December 2016 (GDAL's fake_l1c / "
        "PDMC structure, two granules)",
        dict(zipped=True, naming="long", extra_tiles=("37UCR",)),
    ),
    Genuine(
        "compact-long-band-names",
        "S2A_MSIL1C_20150905T083736_N0204_R064_T37UCQ_20150905T084002",
        "the WHUS2-CR list's compact name of a 2015 acquisition whose band files keep the long "
        "form (a re-packaged old product)",
        dict(zipped=True, band_naming="long"),
    ),
    Genuine(
        "bucket-02.01-S2A",
        "S2A_MSIL1C_20160403T030602_N0201_R075_T50TMK_20160403T031209",
        "a tile folder of the public bucket",
        dict(bucket=True),
    ),
)
SAFE_FIXTURES = tuple(f for f in FIXTURES if not f.layout.get("bucket"))


def write(fixture: Genuine, folder: Path, size: int = SIZE) -> Path:
    """Write ``fixture`` into ``folder`` (a clear synthetic scene with a no-data swath edge, DNs
    with the baseline's offset); return its ``.SAFE`` folder, zip or tile folder."""
    parsed = ProductName.of(fixture.name)
    scene = synthetic.Scene(size, seed=3, cloud_cover=0.0)
    offset = -1000 if float(fixture.baseline) >= 4 else 0
    bands = {
        b: synthetic.to_dn(scene.clear(b), synthetic.swath_nodata(size, RESOLUTION[b]), offset)
        for b in ALL_BANDS
    }
    path = synthetic.write_product(
        folder,
        fixture.name,
        bands,
        synthetic.Geometry(str(parsed.tile), size),
        baseline=fixture.baseline,
        **fixture.layout,
    )
    if fixture.suffix:
        path = path.rename(path.with_name(path.name.removesuffix(".zip") + fixture.suffix))
    return path


def earth_search_item(tile_folder: Path, out: Path) -> Path:
    """An Earth Search v1 item (crmss/io/esa_files.py) over a bucket tile folder, its hrefs local
    paths."""
    info = json.loads((tile_folder / "productInfo.json").read_text())
    files = esa_files.ProductFiles.of(info["name"], str(ProductName.of(info["name"]).baseline))
    hrefs = {
        p.stem if p.suffix == ".jp2" else p.name: str(p.resolve()) for p in tile_folder.iterdir()
    }
    out.write_text(
        json.dumps(esa_files.earth_search_item(files, hrefs, [117.0, 40.0, 118.3, 41.0]), indent=1)
    )
    return out


def cdse_item(safe: Path, name: str, out: Path) -> Path:
    """A Copernicus Data Space item (crmss/io/esa_files.py) of the product ``name`` whose
    ``.SAFE`` folder is ``safe``."""
    files = esa_files.ProductFiles.of(name, str(ProductName.of(name).baseline))
    out.write_text(
        json.dumps(
            esa_files.cdse_item(files, str(safe.resolve()), [8.9, 45.9, 10.3, 46.9]), indent=1
        )
    )
    return out
