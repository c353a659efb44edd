"""The true earths: analytic 1-D impedances, SPEC parsing, the measured EDI earth."""

from __future__ import annotations

import numpy as np
import pytest

from amt.synth import LayeredEarth, SynthError, parse_earth
from amt.synth.earth import MU0, OHM_TO_MV_KM_NT

FREQ = np.logspace(-2, 4, 25)


def rho_phase(z: np.ndarray, f: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return 0.2 / f * np.abs(z) ** 2, np.degrees(np.angle(z))


@pytest.mark.parametrize("rho", [1.0, 100.0, 5000.0])
def test_halfspace_gives_rho_and_45_degrees(rho: float) -> None:
    z = parse_earth(f"halfspace:{rho}").impedance(FREQ)
    rho_xy, phi_xy = rho_phase(z[:, 0, 1], FREQ)
    rho_yx, phi_yx = rho_phase(z[:, 1, 0], FREQ)
    np.testing.assert_allclose(rho_xy, rho, rtol=1e-12)
    np.testing.assert_allclose(rho_yx, rho, rtol=1e-12)
    np.testing.assert_allclose(phi_xy, 45.0, atol=1e-9)
    np.testing.assert_allclose(phi_yx, -135.0, atol=1e-9)
    assert np.all(z[:, 0, 0] == 0) and np.all(z[:, 1, 1] == 0)


@pytest.mark.parametrize(("rho1", "rho2"), [(100.0, 10.0), (10.0, 1000.0)])
def test_two_layers_reach_both_asymptotes(rho1: float, rho2: float) -> None:
    f = np.array([1e5, 1e-8])  # skin depth << 100 m and >> 100 m
    z = LayeredEarth((rho1, rho2), (100.0,)).impedance(f)[:, 0, 1]
    rho_a, phi = rho_phase(z, f)
    np.testing.assert_allclose(rho_a, [rho1, rho2], rtol=2e-3)
    np.testing.assert_allclose(phi, 45.0, atol=0.2)
    # a conductor below raises the phase above 45 degrees in between, a resistor lowers it
    mid = LayeredEarth((rho1, rho2), (100.0,)).impedance(np.array([0.3 * rho1]))[0, 0, 1]
    assert (np.degrees(np.angle(mid)) > 45.0) == (rho2 < rho1)


def test_two_layers_match_the_closed_form() -> None:
    """Z = zeta1 coth(k1 h + arccoth(zeta1 / zeta2)) (Ward & Hohmann, 1988), an independent formula."""
    rho1, rho2, h = 30.0, 500.0, 250.0
    iwm = 2j * np.pi * FREQ * MU0
    z1, z2, k1 = np.sqrt(iwm * rho1), np.sqrt(iwm * rho2), np.sqrt(iwm / rho1)
    closed = z1 / np.tanh(k1 * h + np.arctanh(z1 / z2)) * OHM_TO_MV_KM_NT
    np.testing.assert_allclose(LayeredEarth((rho1, rho2), (h,)).impedance(FREQ)[:, 0, 1], closed, rtol=1e-10)


def test_a_layer_of_basement_resistivity_changes_nothing() -> None:
    a = parse_earth("layers:100,100,100/30,200").impedance(FREQ)
    b = parse_earth("halfspace:100").impedance(FREQ)
    np.testing.assert_allclose(a, b, rtol=1e-12)


def test_spec_of_the_issue_parses() -> None:
    e = parse_earth("layers:100,1000,10/30,200")
    assert e.rho_ohm_m == (100.0, 1000.0, 10.0) and e.thickness_m == (30.0, 200.0)


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        ("halfspace", "expected"),
        ("halfspace:-5", "positive"),
        ("halfspace:abc", "not a comma-separated"),
        ("layers:100,10", "thicknesses"),
        ("layers:100,10/5,6", "thicknesses"),
        ("cube:3", "unknown kind"),
        ("edi:/no/such/file.edi", "no such file"),
    ],
)
def test_bad_spec_is_refused_with_its_reason(spec: str, words: str) -> None:
    with pytest.raises(SynthError, match=words):
        parse_earth(spec)


def test_measured_earth_reproduces_the_edi(shared_data) -> None:
    from mt_metadata.transfer_functions.core import TF

    path = shared_data / "amt" / "transfer_functions" / "tf_edi_quantec.edi"
    tf = TF(fn=str(path))
    tf.read()
    f, z = np.asarray(tf.frequency), np.asarray(tf.impedance)
    earth = parse_earth(f"edi:{path}")
    np.testing.assert_allclose(earth.impedance(f), z, rtol=1e-9)
    _, phi_xy = rho_phase(earth.impedance(f)[:, 0, 1], f)
    assert np.all((phi_xy > 0) & (phi_xy < 90))
    # between table points the apparent resistivity stays between its neighbours
    mid = np.sqrt(f[10] * f[11])
    r = 0.2 / mid * np.abs(earth.impedance(np.array([mid]))[0, 0, 1]) ** 2
    r10, r11 = 0.2 / f[[10, 11]] * np.abs(z[[10, 11], 0, 1]) ** 2
    assert min(r10, r11) <= r <= max(r10, r11)
