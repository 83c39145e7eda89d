#!/usr/bin/env bash
# Create the virtual environment for crmss on Debian/Ubuntu without conda:
#   1. Debian's GDAL library (libgdal-dev) when gdal-config is absent;
#   2. GDAL's Python bindings of exactly that version, built with numpy support (pip's build
#      isolation would build them silently without it: numpy first, then --no-build-isolation);
#   3. crmss itself in editable mode with its test extras.
# Usage: bash scripts/bootstrap.sh [VENV]   (default .venv; PYTHON picks the interpreter)
set -euo pipefail
venv=${1:-.venv}
python=${PYTHON:-python3}
say() { echo "bootstrap: $*" >&2; }
die() { echo "bootstrap: error: $*" >&2; exit 2; }

if ! command -v gdal-config >/dev/null 2>&1; then
    command -v apt-get >/dev/null 2>&1 || die "GDAL (>= 3.6, with development files) is not installed and there is no apt-get: install it with your system's package manager, or use 'conda env create -f environment.yml'"
    if [ "$(id -u)" = 0 ]; then
        sudo=""
    elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        sudo="sudo"
    else
        die "GDAL is not installed and this user may not install packages: run 'sudo apt-get install libgdal-dev gdal-bin', then run make again (or use 'conda env create -f environment.yml')"
    fi
    say "installing Debian's GDAL library (libgdal-dev)"
    $sudo apt-get update -qq >/dev/null || die "apt-get update failed: check the network or the package sources, then run make again"
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq libgdal-dev gdal-bin >/dev/null \
        || die "apt-get could not install libgdal-dev: install it by hand ('apt-get install libgdal-dev gdal-bin'), then run make again"
fi
gdal_version=$(gdal-config --version)

command -v "$python" >/dev/null 2>&1 || die "$python not found: install Python 3.10 or later (apt-get install python3 python3-venv python3-dev)"
"$python" -c 'import sys; sys.exit(sys.version_info < (3, 10))' || die "$python is older than 3.10: install a newer Python or set PYTHON=python3.11"
"$python" -c 'import venv, ensurepip' 2>/dev/null || die "Python's venv module is missing: apt-get install python3-venv"
"$python" -c 'import os, sysconfig; os.stat(os.path.join(sysconfig.get_paths()["include"], "Python.h"))' 2>/dev/null \
    || die "Python's headers are missing (needed to build GDAL's bindings): apt-get install python3-dev"
command -v c++ >/dev/null 2>&1 || die "a C++ compiler is needed to build GDAL's bindings: apt-get install g++"

say "creating $venv with $("$python" --version) and GDAL $gdal_version"
rm -f "$venv/.ready"
"$python" -m venv --clear "$venv"
pip=("$venv/bin/python" -m pip --disable-pip-version-check --quiet)
"${pip[@]}" install --upgrade pip
"${pip[@]}" install numpy setuptools wheel
"${pip[@]}" install --no-build-isolation --no-cache-dir "GDAL==$gdal_version" \
    || die "building GDAL $gdal_version's Python bindings failed (see above): they need libgdal-dev, g++ and python3-dev"
"$venv/bin/python" - <<'PY' || die "GDAL's Python bindings lack numpy support or the JP2OpenJPEG driver (see above)"
from osgeo import gdal, gdal_array  # gdal_array fails when the bindings were built without numpy
assert gdal.GetDriverByName("JP2OpenJPEG"), "GDAL has no JP2OpenJPEG driver: install GDAL built with OpenJPEG"
PY
"${pip[@]}" install -e ".[test]"
touch "$venv/.ready"
say "ready: $venv (activate with 'source $venv/bin/activate')"
