"""The declared shape of every JSON file crmss reads, checked where it is read.

:func:`read_json` parses a file (refusing NaN and infinite numbers, which JSON does not have),
validates it against its schema (JSON Schema, draft 2020-12, with the well-kept ``jsonschema``
package) and raises one :class:`~crmss.core.errors.InputError` naming the file, the field and the
fix.
The schemas below are what crmss writes; a run's ``config.json`` options follow the options
class itself (:func:`crmss.core.validation.json_schema`). CSV files (split lists, windows files,
metrics tables) are checked by their readers, row by row. No TensorFlow, no GDAL.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema

from .bands import BAND_FILE_NAMINGS
from .errors import InputError

STRING = {"type": "string"}
WHOLE = {"type": "integer", "minimum": 0}
NUMBER = {"type": "number"}
WINDOWS = {"type": "array", "items": {"type": "integer", "minimum": 1}, "uniqueItems": True}
SUBSET = {"enum": ["train", "test"]}


def record(required: dict, optional: dict | None = None, closed: bool = True) -> dict:
    """An object schema: ``required`` and ``optional`` properties; ``closed``: no others."""
    schema = {
        "type": "object",
        "properties": {**required, **(optional or {})},
        "required": list(required),
    }
    return {**schema, "additionalProperties": False} if closed else schema


PRODUCT_RECORD = record(
    {
        "listed": STRING,
        "product": STRING,
        "path": STRING,
        "naming": {"enum": list(BAND_FILE_NAMINGS)},
        "baseline": STRING,
    },
    {
        "offsets": {"type": "object", "additionalProperties": {"type": "integer"}},
        "identity": {"type": "object"},
    },
)
PAIR_RECORD = record(
    {"subset": SUBSET, "windows": WINDOWS},
    {
        "number": {"type": "integer", "minimum": 1},
        "cloudy": PRODUCT_RECORD,
        "clear": PRODUCT_RECORD,
        "grid": {"type": "object"},
        "dropped": {"type": "object", "additionalProperties": WHOLE},
        "nodata_windows_by_stack": {"type": "object", "additionalProperties": WHOLE},
    },
)
FILE_RECORD = {
    "anyOf": [
        {"type": "null"},
        record({"file": STRING, "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"}}),
    ]
}
#: a patch tree's manifest.json, as ``crmss prepare`` or ``crmss simulate`` writes it
MANIFEST = record(
    {"pairs": {"type": "object", "additionalProperties": PAIR_RECORD}},
    {
        "crmss_version": STRING,
        "created": STRING,
        "updated": STRING,
        "written": STRING,
        "source": STRING,
        "layout": STRING,
        "values": STRING,
        "window_px": {"type": "object"},
        "bands": {"type": "object", "additionalProperties": {"type": "array", "items": STRING}},
        "window_rule": STRING,
        "options": record({"split": FILE_RECORD, "windows": FILE_RECORD}),
        "missing": {"type": "object", "additionalProperties": {"type": "object"}},
        "simulation": {"type": "object"},
    },
)
#: what ``crmss prepare`` needs to continue a tree: the options it was made with
PREPARED_MANIFEST = {**MANIFEST, "required": ["pairs", "options", "missing"]}
#: RUN/best.json: the epoch of the best validation PSNR
BEST = record(
    {"epoch": {"type": "integer", "minimum": 1}, "val_psnr": NUMBER},
    {"val_cloudy_psnr": {"type": ["number", "null"]}},
)
#: RUN/backup/training_metadata.json, written by the backup callback
BACKUP_METADATA = record({"epoch": WHOLE}, {"batch": {"type": "integer"}}, closed=False)
METHOD = record(
    {"kind": {"enum": ["model", "classical", "baseline"]}},
    {
        "source": STRING,
        "stacks": {"type": "array", "items": {"enum": ["10m", "20m"]}, "minItems": 1},
        "bands": {"enum": ["all", "visnir"]},
        "parameters": WHOLE,
        "options": {"type": "object"},
    },
)
FRACTION = {"type": "number", "minimum": 0, "maximum": 1}
#: RESULTS/evaluation.json: what ``crmss test`` evaluated, read by ``crmss report``
EVALUATION = record(
    {
        "methods": {"type": "object", "additionalProperties": METHOD, "minProperties": 1},
        "data": STRING,
        "subset": SUBSET,
        "cloud_threshold": {"type": "number", "minimum": 0, "exclusiveMaximum": 1},
        "cloud_fraction": {"type": "object", "additionalProperties": FRACTION, "required": ["all"]},
        "patches": {"type": "integer", "minimum": 1},
    },
    {
        "crmss_version": STRING,
        "precision": STRING,
        "mask": {"enum": ["none", "haze"]},
        "patch_size": {"type": "integer", "minimum": 1},
        "simulation": {"type": ["object", "null"]},
        "written": STRING,
    },
)
#: a bucket tile folder's productInfo.json (what crmss uses of it)
PRODUCT_INFO = record(
    {"name": STRING},
    {
        "datatakeIdentifier": STRING,
        "tiles": {"type": "array", "items": {"type": "object"}},
        "timestamp": STRING,
    },
    closed=False,
)
#: a bucket tile folder's tileInfo.json (what crmss uses of it)
TILE_INFO = record(
    {
        "utmZone": {"type": "integer", "minimum": 1, "maximum": 60},
        "latitudeBand": STRING,
        "gridSquare": STRING,
    },
    {"productName": STRING, "timestamp": STRING},
    closed=False,
)


def read_json(path: Path, schema: dict, fix: str) -> Any:
    """The content of the JSON file ``path``, checked against ``schema``; InputError naming the
    file, the field and ``fix`` (what to do) where it is unreadable or of another shape."""
    try:
        text = Path(path).read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: unreadable ({exc}); {fix}") from exc
    return parse_json(text, schema, path, fix)


def parse_json(text: bytes | str, schema: dict, where: Path | str, fix: str) -> Any:
    """The JSON document ``text`` (the content of ``where``), checked as :func:`read_json` checks
    a file."""
    if not text.strip():
        raise InputError(f"{where}: is empty (0 bytes of JSON); {fix}")
    try:
        document = json.loads(text, parse_constant=_no_constant)
    except (UnicodeDecodeError, ValueError) as exc:
        raise InputError(f"{where}: unreadable ({exc}); {fix}") from exc
    check(document, schema, where, fix)
    return document


def check(document: Any, schema: dict, path: Path | str, fix: str) -> None:
    """InputError (naming ``path``, the field and ``fix``) where ``document`` does not follow
    ``schema``."""
    error = jsonschema.exceptions.best_match(
        jsonschema.Draft202012Validator(schema).iter_errors(document)
    )
    if error is not None:
        where = "/".join(map(str, error.absolute_path))
        raise InputError(
            f"{path}: {f'field {where!r}' if where else 'the document'}: {error.message}; {fix}"
        )


def _no_constant(name: str):
    raise ValueError(f"{name} is not a number JSON allows")
