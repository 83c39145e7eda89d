"""Print the surface reflectance tables of crmss/dataset/spectra.py, from PROSAIL.

Vegetation: PROSPECT-5 + 4SAIL (Jacquemoud et al. 2009, "PROSPECT+SAIL models: a review of use
for vegetation characterization", Remote Sens. Environ. 113, S56-S66) as the ``prosail`` package
(J. Gomez-Dans, https://github.com/jgomezdans/prosail) runs it, for green and senescent leaves
over a leaf area index grid; soil: the dry and wet soil spectra that package ships. Each spectrum
is averaged over the band's published centre +- half width (ESA, Sentinel-2 User Handbook,
Table 1: Sentinel-2A MSI), a boxcar standing in for the spectral response. Run::

    pip install prosail && python scripts/spectra.py

and paste its output over the tables in crmss/dataset/spectra.py (tests/dataset/test_land.py
compares them when prosail is installed).
"""

from __future__ import annotations

import textwrap

import numpy as np
import prosail

from crmss.dataset.spectra import BAND_WIDTH_NM, LAI, LEAVES, SUN_ZENITH

WAVELENGTH_NM = np.arange(400, 2501)


def band_means(spectrum: np.ndarray) -> list[float]:
    """``spectrum`` (reflectance at WAVELENGTH_NM) averaged over each band's centre +- half
    width."""
    means = []
    for centre, width in BAND_WIDTH_NM.values():
        inside = np.abs(WAVELENGTH_NM - centre) <= width / 2
        means.append(round(float(spectrum[inside].mean()), 4))
    return means


def row(values: list[float], indent: int, note: str = "") -> str:
    """``values`` as a Python list literal wrapped to 100 columns, ``note`` as a comment above."""
    pad = " " * indent
    text = textwrap.fill(repr(values) + ",", 100, initial_indent=pad, subsequent_indent=pad + " ")
    return f"{pad}# {note}\n{text}" if note else text


def canopy(leaves: dict, lai: float) -> np.ndarray:
    """A canopy's directional reflectance at nadir, the sun at SUN_ZENITH, over the half-wet
    soil."""
    return prosail.run_prosail(
        **leaves,
        lai=lai,
        lidfa=57.0,  # the spherical leaf angle distribution's mean inclination
        hspot=0.01,
        tts=SUN_ZENITH,
        tto=0.0,
        psi=0.0,
        rsoil=1.0,
        psoil=0.5,
        typelidf=2,
        factor="SDR",
    )


def main() -> None:
    dry, wet = prosail.spectral_lib.soil.rsoil1, prosail.spectral_lib.soil.rsoil2
    print("SOIL = {")
    for name, spectrum in (("dry", dry), ("wet", wet)):
        print(f'    "{name}":\n{row(band_means(spectrum), 8)}')
    print("}")
    print("CANOPY = {")
    for state, leaves in LEAVES.items():
        print(f'    "{state}": [')
        for lai in LAI:
            print(row(band_means(canopy(leaves, lai)), 8, f"LAI {lai}"))
        print("    ],")
    print("}")


if __name__ == "__main__":
    main()
