#!/usr/bin/env bash
# The wheels that crmss needs on a GPU machine that has JAX (and PyTorch) but no package index
# and no TensorFlow: Keras, GDAL (gdal-wheel: osgeo, libgdal and libopenjp2 in one wheel) and
# crmss's pure-Python and small compiled dependencies, for CPython 3.12 on x86-64 Linux. Run it
# here, where the package index is reachable; carry the folder; install it there with
#   bash bench/gpu.sh --wheels DIR
# (pip install --no-index --no-deps DIR/*.whl). What JAX and PyTorch bring is left out (NumPy,
# SciPy, ml_dtypes, Jinja2, packaging); so are the test dependencies (scikit-image).
#
# These serve training and predict (37 MiB, measured 2026-12-07). --study adds what crmss test and
# crmss reproduce need besides, pandas and matplotlib with theirs: 74 MiB in all, more than one
# call to the device machine carries, so only where the machine has room for two loads or
# already has some of them (give DIR of a second call).
#
#   bash scripts/gpu_wheels.sh [--study] [DIR]    # default bench-data/wheels; fails above 60 MiB
set -euo pipefail
cd "$(dirname "$0")/.."
study=0
[ "${1:-}" = --study ] && { study=1; shift; }
dir=${1:-bench-data/wheels}
python=${PYTHON:-$([ -x .venv/bin/python ] && echo .venv/bin/python || echo python3)}
limit=$((60 * 1024 * 1024))  # the device machine takes 64 MiB a call, the working tree included
wheels=(
    keras absl-py h5py optree namex rich markdown-it-py mdurl pygments  # Keras 3
    gdal-wheel                                                          # osgeo with JPEG2000
    jsonschema jsonschema-specifications referencing rpds-py attrs      # crmss.core.schemas
    psutil tqdm
)
[ $study = 1 ] && wheels+=(
    pandas python-dateutil pytz tzdata six                              # results tables
    matplotlib contourpy cycler fonttools kiwisolver pillow pyparsing   # figures
)
rm -rf "$dir"
mkdir -p "$dir"
"$python" -m pip download --quiet --no-deps --only-binary :all: --python-version 3.12 \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 -d "$dir" "${wheels[@]}"
size=$(du -cb "$dir"/*.whl | tail -1 | cut -f1)
echo "$(ls "$dir"/*.whl | wc -l) wheels, $((size / 1024 / 1024)) MiB in $dir"
if [ "$size" -gt "$limit" ]; then
    echo "gpu_wheels.sh: above 60 MiB, too large to carry with the working tree" >&2
    exit 1
fi
