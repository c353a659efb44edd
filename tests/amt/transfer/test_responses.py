"""Responses against analytic values and against mtpy-v2 on every real EDI.

Tolerance against mtpy: rho_a and phase-tensor angles to 1e-6 relative / 1e-6 degree (both compute from the same Z
read by mt_metadata; any difference is a formula or convention difference, not rounding).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from amt.io.transfer_functions import read_transfer_function
from amt.mt import TransferFunction, apparent_resistivity, determinant, phase_deg, phase_tensor
from amt.synth.gaussian_runs import halfspace_z
from shared.paths import data_root

EDIS = sorted((data_root() / "amt" / "transfer_functions").glob("*.edi"))


def test_halfspace_gives_rho_45_degrees_and_a_circular_phase_tensor() -> None:
    f = np.logspace(-2, 4, 13)
    z = halfspace_z(f, 250.0)
    rho, _ = apparent_resistivity(z, f)
    ph, _ = phase_deg(z)
    assert np.allclose(rho[:, 0, 1], 250.0) and np.allclose(rho[:, 1, 0], 250.0)
    assert np.allclose(ph[:, 0, 1], 45.0) and np.allclose(ph[:, 1, 0], -135.0)
    det = determinant(z, f)
    assert np.allclose(det["rho"], 250.0) and np.allclose(det["phase"], 45.0)
    pt = phase_tensor(z)
    assert np.allclose(pt.phi_max, 45.0) and np.allclose(pt.phi_min, 45.0)
    assert np.allclose(pt.beta, 0.0, atol=1e-9) and np.allclose(pt.ellipticity, 0.0, atol=1e-12)


def test_anisotropic_phase_tensor_axes_follow_rotation() -> None:
    """Two half-spaces have equal phases, so Phi is the identity whatever the rotation: the phase tensor is
    invariant; rho_xy and rho_yx swap on a 90 degree ZROT."""
    f = np.array([1.0, 10.0])
    z = halfspace_z(f, 100.0, rho_yx_ohm_m=400.0)
    tf = TransferFunction("R", f, z, np.full(z.shape, 1e-4))
    turned = tf.rotated(90.0)
    rho, _ = apparent_resistivity(turned.z, turned.frequency_hz)
    assert np.allclose(rho[:, 0, 1], 400.0) and np.allclose(rho[:, 1, 0], 100.0)
    assert turned.zrot_deg == 90.0
    assert np.allclose(phase_tensor(tf.rotated(33.0).z).phi_max, 45.0)


def test_errors_propagate_to_first_order() -> None:
    """Standard errors agree with the spread of values under small simulated perturbations."""
    rng = np.random.default_rng(0)
    f = np.array([3.0])
    z = halfspace_z(f, 100.0, 0.0, 300.0)
    z[:, 1, 0] *= np.exp(1j * np.radians(15.0))  # unequal phases: phi_max and phi_min differ
    z = TransferFunction("P", f, z, np.zeros(z.shape)).rotated(20.0).z
    var = np.full(z.shape, 1e-4 * np.abs(z).max() ** 2)
    pt = phase_tensor(z, var)
    draws = z + np.sqrt(var / 2) * (rng.normal(size=(4000, 2, 2)) + 1j * rng.normal(size=(4000, 2, 2)))
    sim = phase_tensor(draws)
    assert np.isclose(np.std(sim.phi_max), pt.errors["phi_max"][0], rtol=0.1)
    _, rho_err = apparent_resistivity(z, f, var)
    rho_sim, _ = apparent_resistivity(draws, np.full(4000, 3.0))
    assert np.isclose(np.std(rho_sim[:, 0, 1]), rho_err[0, 0, 1], rtol=0.1)


@pytest.mark.parametrize("path", EDIS, ids=[p.name for p in EDIS])
def test_equal_to_mtpy_on_real_edi(path: Path) -> None:
    from mtpy import MT

    ours = read_transfer_function(path)
    mt = MT(path)
    mt.read()
    f_mtpy = np.asarray(mt.Z.frequency)
    order = np.argsort(-f_mtpy, kind="stable")
    assert np.allclose(f_mtpy[order], ours.frequency_hz)
    z = ours.z
    rho, _ = apparent_resistivity(z, ours.frequency_hz)
    ph, _ = phase_deg(z)
    rho_m = np.asarray(mt.Z.resistivity)[order]
    ph_m = np.asarray(mt.Z.phase)[order]
    ok = np.isfinite(z)
    assert np.allclose(rho[ok], rho_m[ok], rtol=1e-6)
    wrapped = (ph[ok] - ph_m[ok] + 180.0) % 360.0 - 180.0  # mtpy may report -180 as 180
    assert np.allclose(wrapped, 0.0, atol=1e-6)
    ours_pt = phase_tensor(z)
    good = np.isfinite(ours_pt.phi_max)
    pt = mt.pt
    for name, theirs in (
        ("phi_max", pt.phimax),
        ("phi_min", pt.phimin),
        ("alpha", pt.alpha),
        ("beta", pt.beta),
        ("ellipticity", pt.ellipticity),
        ("azimuth", pt.azimuth),
    ):
        a = getattr(ours_pt, name)[good]
        b = np.asarray(theirs)[order][good]
        if name in ("alpha", "azimuth"):
            d = (a - b + 90.0) % 180.0 - 90.0  # axes are defined modulo 180 degrees
            assert np.allclose(d, 0.0, atol=1e-6), name
        else:
            assert np.allclose(a, b, rtol=1e-6, atol=1e-9), name
