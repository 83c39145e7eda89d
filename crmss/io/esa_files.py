"""The files of genuine Sentinel-2 L1C products, written from the facts of real ones: what
:mod:`crmss.dataset.synthetic` and the tests' fixtures write, so that nothing crmss reads was shaped
by crmss's own assumptions.

Each template follows a real product field by field, in element order and in the form ESA
states each value (``Sentinel-2A``, ``GS2A_20150826T084006_000941_N02.04``, a relative orbit
without zero padding, times with milliseconds and ``Z``):

* :func:`compact_product_metadata`, ``MTD_MSIL1C.xml``: the metadata of
  ``S2B_MSIL1C_20230823T095559_N0509_R122_T34UCF_20230823T120234`` as GDAL's autotest keeps it
  (``autotest/gdrivers/data/sentinel2/fake_l1c_processing_baseline_5_09/``, a real product with
  its pixels removed): ``Query_Options`` ``SAFE_COMPACT``, one ``Granule`` with ``IMAGE_FILE``
  paths from the ``.SAFE`` folder, RADIO_ADD_OFFSET from baseline 04.00;
* :func:`pdmc_product_metadata`, ``S2A_OPER_MTD_SAFL1C_PDMC_*.xml`` (before December 2016):
  the PSD-13 layout of GDAL's ``fake_l1c`` product and of the real
  ``S2A_OPER_PRD_MSIL1C_PDMC_20150818T101440_R022_V20150813T102406_20150813T102406`` shown in
  GDAL's SENTINEL2 driver documentation: ``Query_Options`` ``Band_List`` (``B1`` ... ``B8A``),
  ``Granule_List`` / ``Granules`` with ``IMAGE_ID`` names, the granule metadata
  ``GRANULE/<id>/<id with MTD for MSI, without _Nxx.xx>.xml``;
* :func:`tile_metadata`, ``MTD_TL.xml`` or ``S2A_OPER_MTD_L1C_TL_*.xml`` (and the bucket's
  ``metadata.xml``): the same two products' granule metadata (TILE_ID, DATASTRIP_ID,
  SENSING_TIME, ``Tile_Geocoding`` with ``Size`` and ``Geoposition`` per resolution);
* :func:`product_info` and :func:`tile_info`: the public bucket's ``productInfo.json`` and
  ``tileInfo.json`` (``sentinel-s2-l1c``, ``tiles/50/T/MK/2016/4/3/0/``; fields as listed in
  the bucket's documentation and FACTS.md);
* :func:`earth_search_item`: a STAC Item of Earth Search v1's ``sentinel-2-l1c`` collection
  (asset keys ``blue`` ... ``swir22``, ``tileinfo_metadata``, ``granule_metadata``; properties
  ``platform`` ``sentinel-2a``, ``s2:product_uri``, ``s2:datatake_id``, ``mgrs:*`` ...);
* :func:`cdse_item`: a STAC Item of the Copernicus Data Space Ecosystem's ``sentinel-2-l1c``
  collection, its 21 assets as those of the real S2A_MSIL1C_20240731T092031_N0511_R093_T34SEH
  list them: ``B01`` ... ``B12``, ``B8A`` and ``TCI`` (the band files inside the ``.SAFE``,
  ``s3://eodata/Sentinel-2/MSI/L1C/<y>/<m>/<d>/<product>.SAFE/...``), ``product_metadata``,
  ``granule_metadata``, ``safe_manifest``, ``inspire_metadata``, ``datastrip_metadata``,
  ``Product`` (the zip) and ``thumbnail``; id the product name, ``grid:code`` ``MGRS-34SEH``.

Names follow the same products: the compact granule folder ``L1C_T34UCF_A033753_20230823T095553``,
the granule identifier ``S2B_OPER_MSI_L1C_TL_2BPS_20230823T120234_A033753_T34UCF_N05.09``,
the long band files ``S2A_OPER_MSI_L1C_TL_SGS__20150826T084006_A000941_T37UCQ_B02.jp2``.
"""

from __future__ import annotations

import datetime
import uuid
from dataclasses import dataclass
from xml.sax.saxutils import escape

from ..core.bands import ALL_BANDS, RESOLUTION, WAVELENGTH_UM
from .names import ProductName, spacecraft_name

#: launch days, from which an acquisition's absolute orbit is counted (14.3 orbits a day: the
#: orbits of the real products above are met within a few)
LAUNCHED = {
    "S2A": datetime.date(2015, 6, 23),
    "S2B": datetime.date(2017, 3, 7),
    "S2C": datetime.date(2024, 9, 5),
}
NAMESPACE = {
    "compact": "https://psd-14.sentinel2.eo.esa.int/PSD/User_Product_Level-1C.xsd",
    "long": "https://psd-13.sentinel2.eo.esa.int/PSD/User_Product_Level-1C.xsd",
}
TILE_NAMESPACE = {
    "compact": "https://psd-14.sentinel2.eo.esa.int/PSD/S2_PDI_Level-1C_Tile_Metadata.xsd",
    "long": "https://psd-13.sentinel2.eo.esa.int/PSD/S2_PDI_Level-1C_Tile_Metadata.xsd",
}

XSI = 'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"'


def esa_time(when: datetime.datetime) -> str:
    """``2016-04-03T03:06:02.024Z``: a time as ESA's metadata states it."""
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


@dataclass(frozen=True)
class ProductFiles:
    """The names of everything in one L1C product, as ESA names them.

    ``name`` is the compact product name (the WHUS2-CR list's); ``naming`` ``compact`` packs it
    as from December 2016, ``long`` as before (PDMC, long band file names); ``band_naming``
    (default: as ``naming``) names the band files, ``long`` inside a compact product as
    re-packaged copies of old products have them; ``tiles`` the granules, the product's own first.
    """

    name: ProductName
    baseline: str
    naming: str = "compact"
    band_naming: str | None = None
    tiles: tuple[str, ...] = ()

    @classmethod
    def of(
        cls,
        name: str,
        baseline: str,
        naming: str = "compact",
        extra_tiles: tuple[str, ...] = (),
        band_naming: str | None = None,
    ) -> ProductFiles:
        parsed = ProductName.of(name)
        if naming not in NAMESPACE or (band_naming or naming) not in NAMESPACE:
            raise ValueError(
                f"naming must be 'compact' or 'long', not {naming!r} / {band_naming!r}"
            )
        return cls(parsed, baseline, naming, band_naming, (str(parsed.tile), *extra_tiles))

    @property
    def sensing(self) -> datetime.datetime:
        """The datatake's sensing start (the compact name's first time), with ESA's milliseconds."""
        return datetime.datetime.strptime(self.name.sensing, "%Y%m%dT%H%M%S") + datetime.timedelta(
            milliseconds=24
        )

    @property
    def generated(self) -> datetime.datetime:
        """The processing time: the compact name's discriminator."""
        return datetime.datetime.strptime(self.name.generated, "%Y%m%dT%H%M%S")

    @property
    def absolute_orbit(self) -> int:
        """The orbit counted from the launch; ValueError for a product sensed before it (none
        such exists)."""
        days = (self.sensing.date() - LAUNCHED[self.name.mission]).days
        if days < 0:
            launched = LAUNCHED[self.name.mission]
            raise ValueError(
                f"{self.name.name}: sensed before {self.name.mission} was launched "
                f"({launched}); name a real acquisition"
            )
        return int(days * 14.3 + 1)

    @property
    def centre(self) -> str:
        """The processing centre in granule and datastrip identifiers: ``SGS_`` in the early years,
        ``2APS`` (``2BPS``, ``2CPS``) for the baseline 04 and 05 products."""
        return f"2{self.name.mission[2]}PS" if float(self.baseline) >= 4 else "SGS_"

    @property
    def datatake(self) -> str:
        """``GS2A_20160403T030602_004035_N02.01``."""
        return (
            f"G{self.name.mission}_{self.name.sensing}_{self.absolute_orbit:06d}_N{self.baseline}"
        )

    @property
    def datastrip(self) -> str:
        return f"{self.name.mission}_OPER_MSI_L1C_DS_{self.centre}_{self.name.generated}_S{self.name.sensing}_N{self.baseline}"

    @property
    def product(self) -> str:
        """The ``.SAFE`` folder's name without ``.SAFE``: the compact name, or the PDMC one."""
        if self.naming == "compact":
            return self.name.name
        return f"{self.name.mission}_OPER_PRD_MSIL1C_PDMC_{self.name.generated}_R{self.name.orbit}_V{self.name.sensing}_{self.name.sensing}"

    @property
    def metadata_name(self) -> str:
        return (
            "MTD_MSIL1C.xml"
            if self.naming == "compact"
            else self.product.replace("_PRD_MSIL1C_", "_MTD_SAFL1C_") + ".xml"
        )

    def tile_id(self, tile: str) -> str:
        """The granule identifier (TILE_ID):
        ``S2A_OPER_MSI_L1C_TL_SGS__20150826T084006_A000941_T37UCQ_N02.04``."""
        return f"{self._long_stem(tile)}_N{self.baseline}"

    def _long_stem(self, tile: str) -> str:
        return f"{self.name.mission}_OPER_MSI_L1C_TL_{self.centre}_{self.name.generated}_A{self.absolute_orbit:06d}_T{tile}"

    def granule(self, tile: str) -> str:
        """The granule's folder under ``GRANULE/``: ``L1C_T50TMK_A004035_20160403T030602``, or
        the TILE_ID (PDMC, long)."""
        if self.naming == "compact" and (self.band_naming or "compact") == "compact":
            return f"L1C_T{tile}_A{self.absolute_orbit:06d}_{self.name.sensing}"
        return self.tile_id(tile)

    def band_stem(self, tile: str, band: str) -> str:
        """A band file's name without ``.jp2``: ``T50TMK_20160403T030602_B02`` or the long form."""
        if (self.band_naming or self.naming) == "compact":
            return f"T{tile}_{self.name.sensing}_{band}"
        return f"{self._long_stem(tile)}_{band}"

    def band_file(self, tile: str, band: str) -> str:
        """A band file's path from the ``.SAFE`` folder, without ``.jp2`` (the metadata's
        IMAGE_FILE)."""
        return f"GRANULE/{self.granule(tile)}/IMG_DATA/{self.band_stem(tile, band)}"

    def tile_metadata_file(self, tile: str) -> str:
        """The granule metadata's path from the ``.SAFE`` folder (where GDAL's driver looks for
        it)."""
        if self.naming == "compact":
            return f"GRANULE/{self.granule(tile)}/MTD_TL.xml"
        return f"GRANULE/{self.granule(tile)}/{self._long_stem(tile).replace('_MSI_', '_MTD_')}.xml"

    def bucket_path(self, tile: str) -> str:
        """Where the public bucket keeps ``tile`` of this product: ``tiles/50/T/MK/2016/4/3/0``."""
        when = self.sensing
        return f"tiles/{int(tile[:2])}/{tile[2]}/{tile[3:]}/{when.year}/{when.month}/{when.day}/0"


def _offsets(baseline: str) -> str:
    if float(baseline) < 4:
        return ""
    rows = "\n".join(
        f'        <RADIO_ADD_OFFSET band_id="{i}">-1000</RADIO_ADD_OFFSET>'
        for i in range(len(ALL_BANDS))
    )
    return f"\n            <Radiometric_Offset_List>\n{rows}\n      </Radiometric_Offset_List>"


def _spectral_information() -> str:
    return "\n".join(
        f'        <Spectral_Information bandId="{i}" physicalBand="{b.replace("B0", "B")}">\n'
        f"          <RESOLUTION>{RESOLUTION[b]}</RESOLUTION>\n"
        "          <Wavelength>\n            <CENTRAL "
        f'unit="nm">{WAVELENGTH_UM[b] * 1000:.1f}</CENTRAL>\n          </Wavelength>\n'
        "        </Spectral_Information>"
        for i, b in enumerate(ALL_BANDS)
    )


def _image_characteristics(files: ProductFiles) -> str:
    return f"""        <Product_Image_Characteristics>
            <Special_Values>
                <SPECIAL_VALUE_TEXT>NODATA</SPECIAL_VALUE_TEXT>
                <SPECIAL_VALUE_INDEX>0</SPECIAL_VALUE_INDEX>
            </Special_Values>
            <Special_Values>
                <SPECIAL_VALUE_TEXT>SATURATED</SPECIAL_VALUE_TEXT>
                <SPECIAL_VALUE_INDEX>65535</SPECIAL_VALUE_INDEX>
            </Special_Values>
            <Image_Display_Order>
                <RED_CHANNEL>3</RED_CHANNEL>
                <GREEN_CHANNEL>2</GREEN_CHANNEL>
                <BLUE_CHANNEL>1</BLUE_CHANNEL>
            </Image_Display_Order>
            <QUANTIFICATION_VALUE unit="none">10000</QUANTIFICATION_VALUE>{_offsets(files.baseline)}
            <Spectral_Information_List>
{_spectral_information()}
      </Spectral_Information_List>
        </Product_Image_Characteristics>"""


def _product_info_head(files: ProductFiles) -> str:
    """``Product_Info`` up to ``Query_Options``: times, PRODUCT_URI, level, type, baseline, the
    datatake."""
    when, uri = esa_time(files.sensing), f"{files.product}.SAFE"
    return f"""            <PRODUCT_START_TIME>{when}</PRODUCT_START_TIME>
            <PRODUCT_STOP_TIME>{when}</PRODUCT_STOP_TIME>
            <PRODUCT_URI>{uri}</PRODUCT_URI>
            <PROCESSING_LEVEL>Level-1C</PROCESSING_LEVEL>
            <PRODUCT_TYPE>S2MSI1C</PRODUCT_TYPE>
            <PROCESSING_BASELINE>{files.baseline}</PROCESSING_BASELINE>
            <GENERATION_TIME>{files.generated.strftime("%Y-%m-%dT%H:%M:%S.000000Z")}</GENERATION_TIME>
            <PREVIEW_IMAGE_URL>Not applicable</PREVIEW_IMAGE_URL>
            <PREVIEW_GEO_INFO>Not applicable</PREVIEW_GEO_INFO>
            <Datatake datatakeIdentifier="{files.datatake}">
      <SPACECRAFT_NAME>{spacecraft_name(files.name.mission)}</SPACECRAFT_NAME>
      <DATATAKE_TYPE>INS-NOBS</DATATAKE_TYPE>
      <DATATAKE_SENSING_START>{when}</DATATAKE_SENSING_START>
      <SENSING_ORBIT_NUMBER>{int(files.name.orbit)}</SENSING_ORBIT_NUMBER>
      <SENSING_ORBIT_DIRECTION>DESCENDING</SENSING_ORBIT_DIRECTION>
    </Datatake>"""


def compact_product_metadata(files: ProductFiles) -> str:
    """``MTD_MSIL1C.xml`` of a compact product (mirrors
    S2B_MSIL1C_20230823T095559_N0509_R122_T34UCF; see the module)."""
    tile = files.tiles[0]
    image_files = "\n".join(
        f"            <IMAGE_FILE>{escape(files.band_file(tile, b))}</IMAGE_FILE>"
        for b in ALL_BANDS
    )
    return f"""<?xml version="1.0" encoding="UTF-8" standalone="no"?>
<n1:Level-1C_User_Product xmlns:n1="{NAMESPACE["compact"]}" {XSI} xsi:schemaLocation="{NAMESPACE["compact"]}">
    <n1:General_Info>
        <Product_Info>
{_product_info_head(files)}
<Query_Options completeSingleTile="true">
<PRODUCT_FORMAT>SAFE_COMPACT</PRODUCT_FORMAT>
</Query_Options>

<Product_Organisation>
    <Granule_List>
        <Granule datastripIdentifier="{files.datastrip}" granuleIdentifier="{files.tile_id(tile)}" imageFormat="JPEG2000">
{image_files}
        </Granule>
    </Granule_List>
</Product_Organisation>
</Product_Info>
{_image_characteristics(files)}
    </n1:General_Info>
</n1:Level-1C_User_Product>
"""


def pdmc_product_metadata(files: ProductFiles) -> str:
    """``S2A_OPER_MTD_SAFL1C_PDMC_*.xml`` of a pre-December-2016 product (PSD-13; see the
    module)."""
    band_list = "\n".join(f"<BAND_NAME>{b.replace('B0', 'B')}</BAND_NAME>" for b in ALL_BANDS)
    granules = "\n".join(
        f"""                <Granule_List>
                    <Granules datastripIdentifier="{files.datastrip}" granuleIdentifier="{files.tile_id(t)}" imageFormat="JPEG2000">
"""
        + "\n".join(
            f"                        <IMAGE_ID>{files.band_stem(t, b)}</IMAGE_ID>"
            for b in ALL_BANDS
        )
        + """
                    </Granules>
                </Granule_List>"""
        for t in files.tiles
    )
    return f"""<?xml version="1.0" encoding="UTF-8" standalone="no"?>
<n1:Level-1C_User_Product xmlns:n1="{NAMESPACE["long"]}" {XSI} xsi:schemaLocation="{NAMESPACE["long"]} S2_User_Product_Level-1C_Metadata.xsd">
    <n1:General_Info>
        <Product_Info>
{_product_info_head(files)}
<Query_Options>
<Band_List>
{band_list}
</Band_List>
<PRODUCT_FORMAT>SAFE</PRODUCT_FORMAT>
</Query_Options>
<Product_Organisation>
{granules}
</Product_Organisation>
        </Product_Info>
{_image_characteristics(files)}
    </n1:General_Info>
</n1:Level-1C_User_Product>
"""


def product_metadata(files: ProductFiles) -> str:
    """The product metadata of ``files``' packaging."""
    return (
        compact_product_metadata(files)
        if files.naming == "compact"
        else pdmc_product_metadata(files)
    )


def tile_metadata(
    files: ProductFiles, tile: str, size: int, epsg: int, origin: tuple[float, float]
) -> str:
    """A granule's metadata: ``size`` 10 m px a side, EPSG code ``epsg``, upper-left corner
    ``origin`` (x, y) in metres."""
    sizes = "\n".join(
        f'      <Size resolution="{r}">\n        <NROWS>{size * 10 // r}</NROWS>\n        '
        f"<NCOLS>{size * 10 // r}</NCOLS>\n      </Size>"
        for r in (10, 20, 60)
    )
    positions = "\n".join(
        f'      <Geoposition resolution="{r}">\n        <ULX>{origin[0]:.0f}</ULX>\n        '
        f"<ULY>{origin[1]:.0f}</ULY>\n"
        f"        <XDIM>{r}</XDIM>\n        <YDIM>-{r}</YDIM>\n      </Geoposition>"
        for r in (10, 20, 60)
    )
    zone = f"{epsg % 100}{'N' if epsg < 32700 else 'S'}"
    return f"""<?xml version="1.0" encoding="UTF-8" standalone="no"?>
<n1:Level-1C_Tile_ID xmlns:n1="{TILE_NAMESPACE[files.naming]}" {XSI}>

  <n1:General_Info>
    <TILE_ID metadataLevel="Brief">{files.tile_id(tile)}</TILE_ID>
    <DATASTRIP_ID metadataLevel="Standard">{files.datastrip}</DATASTRIP_ID>
    <DOWNLINK_PRIORITY metadataLevel="Standard">NOMINAL</DOWNLINK_PRIORITY>
    <SENSING_TIME metadataLevel="Standard">{esa_time(files.sensing + datetime.timedelta(seconds=3))}</SENSING_TIME>
    <Archiving_Info metadataLevel="Expertise">
      <ARCHIVING_CENTRE>{files.centre}</ARCHIVING_CENTRE>
      <ARCHIVING_TIME>{esa_time(files.generated)}</ARCHIVING_TIME>
    </Archiving_Info>
  </n1:General_Info>

  <n1:Geometric_Info>
    <Tile_Geocoding metadataLevel="Brief">
      <HORIZONTAL_CS_NAME>WGS84 / UTM zone {zone}</HORIZONTAL_CS_NAME>
      <HORIZONTAL_CS_CODE>EPSG:{epsg}</HORIZONTAL_CS_CODE>
{sizes}
{positions}
    </Tile_Geocoding>
  </n1:Geometric_Info>

</n1:Level-1C_Tile_ID>
"""


def manifest_safe(files: ProductFiles, members: list[str]) -> str:
    """The ``manifest.safe`` of a product holding ``members`` (paths from the ``.SAFE`` folder)."""
    items = "".join(
        f'<dataObject ID="{i}"><byteStream><fileLocation '
        f'href="./{escape(f)}"/></byteStream></dataObject>'
        for i, f in enumerate(members)
    )
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<xfdu:XFDU xmlns:xfdu="urn:ccsds:schema:xfdu:1" version="esa/safe/sentinel/1.1/sentinel-2/msi/archive_l1c_user_product">
<metadataSection><metadataObject ID="productName"><metadataWrap><xmlData>{files.product}</xmlData></metadataWrap></metadataObject></metadataSection>
<dataObjectSection>{items}</dataObjectSection>
</xfdu:XFDU>
"""


def product_info(files: ProductFiles) -> dict:
    """The bucket's ``productInfo.json`` of a product whose tiles lie at
    :meth:`ProductFiles.bucket_path`."""
    when = files.sensing
    product_path = f"products/{when.year}/{when.month}/{when.day}/{files.product}"
    datastrip = {"id": files.datastrip, "path": f"{product_path}/datastrip/0"}
    tiles = [
        {
            "path": files.bucket_path(tile),
            "timestamp": esa_time(when),
            "utmZone": int(tile[:2]),
            "latitudeBand": tile[2],
            "gridSquare": tile[3:],
            "datastrip": datastrip,
        }
        for tile in files.tiles
    ]
    return {
        "name": files.product,
        "id": str(uuid.uuid5(uuid.NAMESPACE_URL, files.product)),
        "path": product_path,
        "timestamp": esa_time(when),
        "datatakeIdentifier": files.datatake,
        "sciHubIngestion": esa_time(files.generated),
        "s3Ingestion": esa_time(files.generated),
        "tiles": tiles,
        "datastrips": [datastrip],
    }


def tile_info(
    files: ProductFiles,
    tile: str,
    epsg: int,
    corners: tuple[float, float, float, float],
    coverage: float,
) -> dict:
    """The bucket's ``tileInfo.json`` of ``tile``: UTM ``corners`` (x0, y0, x1, y1) and
    ``coverage``, the % of pixels with data."""
    x0, y0, x1, y1 = corners
    crs = {"type": "name", "properties": {"name": f"urn:ogc:def:crs:EPSG:8.8.1:{epsg}"}}
    (entry,) = [
        t
        for t in product_info(files)["tiles"]
        if f"{t['utmZone']:02d}{t['latitudeBand']}{t['gridSquare']}" == tile
    ]
    return {
        **{k: v for k, v in entry.items() if k != "datastrip"},
        "tileGeometry": {
            "type": "Polygon",
            "crs": crs,
            "coordinates": [[[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]],
        },
        "tileDataGeometry": {
            "type": "Polygon",
            "crs": crs,
            "coordinates": [[[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]],
        },
        "tileOrigin": {"type": "Point", "crs": crs, "coordinates": [x0, y0]},
        "dataCoveragePercentage": round(coverage, 2),
        "cloudyPixelPercentage": 0.0,
        "productName": files.product,
        "productPath": product_info(files)["path"],
        "datastrip": entry["datastrip"],
    }


#: Earth Search v1's asset keys of the bands (its sentinel-2-l1c collection)
EARTH_SEARCH_KEYS = {
    "B01": "coastal",
    "B02": "blue",
    "B03": "green",
    "B04": "red",
    "B05": "rededge1",
    "B06": "rededge2",
    "B07": "rededge3",
    "B08": "nir",
    "B8A": "nir08",
    "B09": "nir09",
    "B10": "cirrus",
    "B11": "swir16",
    "B12": "swir22",
}


def _item(
    files: ProductFiles,
    item_id: str,
    collection: str,
    assets: dict,
    bbox: list[float],
    properties: dict,
) -> dict:
    west, south, east, north = bbox
    return {
        "type": "Feature",
        "stac_version": "1.0.0",
        "stac_extensions": ["https://stac-extensions.github.io/eo/v1.1.0/schema.json"],
        "id": item_id,
        "collection": collection,
        "geometry": {
            "type": "Polygon",
            "coordinates": [
                [[west, south], [east, south], [east, north], [west, north], [west, south]]
            ],
        },
        "bbox": bbox,
        "properties": {
            "datetime": files.sensing.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "platform": spacecraft_name(files.name.mission).lower(),
            "constellation": "sentinel-2",
            "instruments": ["msi"],
            **properties,
        },
        "links": [],
        "assets": assets,
    }


def earth_search_item(files: ProductFiles, hrefs: dict[str, str], bbox: list[float]) -> dict:
    """An Earth Search v1 ``sentinel-2-l1c`` item of the product's first tile: ``hrefs`` maps
    ``B02`` ... and ``tileInfo.json``, ``metadata.xml`` to where the tile folder's files are."""
    tile = files.tiles[0]
    assets = {
        EARTH_SEARCH_KEYS[band]: {
            "href": hrefs[band],
            "type": "image/jp2",
            "title": f"{EARTH_SEARCH_KEYS[band].capitalize()} ({band}) - {RESOLUTION[band]}m",
            "eo:bands": [{"name": band, "center_wavelength": WAVELENGTH_UM[band]}],
            "gsd": RESOLUTION[band],
            "roles": ["data"],
        }
        for band in ALL_BANDS
        if band in hrefs
    }
    assets["tileinfo_metadata"] = {
        "href": hrefs["tileInfo.json"],
        "type": "application/json",
        "roles": ["metadata"],
    }
    assets["granule_metadata"] = {
        "href": hrefs["metadata.xml"],
        "type": "application/xml",
        "roles": ["metadata"],
    }
    properties = {
        "mgrs:utm_zone": int(tile[:2]),
        "mgrs:latitude_band": tile[2],
        "mgrs:grid_square": tile[3:],
        "s2:product_uri": f"{files.product}.SAFE",
        "s2:product_type": "S2MSI1C",
        "s2:processing_baseline": files.baseline,
        "s2:datatake_id": files.datatake,
        "s2:granule_id": files.tile_id(tile),
        "eo:cloud_cover": 0.0,
    }
    item_id = f"{files.name.mission}_{tile}_{files.name.sensing[:8]}_0_L1C"
    return _item(files, item_id, "sentinel-2-l1c", assets, bbox, properties)


def cdse_item(files: ProductFiles, safe_href: str, bbox: list[float]) -> dict:
    """A Copernicus Data Space Ecosystem ``sentinel-2-l1c`` item of the product's first tile
    whose ``.SAFE`` folder is at ``safe_href`` (local, ``file://``, ``http(s)://`` or ``s3://``)."""
    tile = files.tiles[0]
    assets: dict[str, dict] = {
        band: {
            "href": f"{safe_href}/{files.band_file(tile, band)}.jp2",
            "type": "image/jp2",
            "title": band,
            "roles": ["data"],
        }
        for band in ALL_BANDS
    }
    xml = {"type": "application/xml", "roles": ["metadata"]}
    assets["product_metadata"] = {"href": f"{safe_href}/{files.metadata_name}", **xml}
    assets["granule_metadata"] = {"href": f"{safe_href}/{files.tile_metadata_file(tile)}", **xml}
    assets["safe_manifest"] = {"href": f"{safe_href}/manifest.safe", **xml}
    properties = {"grid:code": f"MGRS-{tile}", "eo:cloud_cover": 0.0}
    return _item(files, files.product, "sentinel-2-l1c", assets, bbox, properties)
