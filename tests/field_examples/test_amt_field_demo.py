"""The field demo (what ``make demo`` runs) end to end on a short record, checked against the synthetic truth."""

from __future__ import annotations

import json

import numpy as np
from click.testing import CliRunner

from amt.io.transfer_functions import read_transfer_function
from amt.mt import apparent_resistivity
from amt.synth import parse_earth
from amt.synth.scenarios import QUANTEC_EDI
from field_examples.amt_field_demo import main


def _rho_xy_error(path, earth) -> tuple[np.ndarray, np.ndarray]:
    tf = read_transfer_function(path)
    f = tf.frequency_hz
    rho, _ = apparent_resistivity(tf.z, f)
    rho_true, _ = apparent_resistivity(earth.impedance(f), f)
    return f, np.abs(rho[:, 0, 1] / rho_true[:, 0, 1] - 1)


def test_demo_fills_the_dead_band_that_the_conventional_estimate_misses(tmp_path, shared_data) -> None:
    out = tmp_path / "demo"
    res = CliRunner().invoke(main, ["--out", str(out), "--duration", "2", "--seed", "3"], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    for name in ("DEMO.h5", "DEMO.labels.json", "DEMO.edi", "DEMO.json", "DEMO_conventional.edi",
                 "DEMO_conventional.json", "DEMO_rho_phase.png", "DEMO_conventional_rho_phase.png", "DEMO.events.csv",
                 "report/DEMO.pdf", "report/DEMO_rho_phase.png", "report/DEMO_time_series.png"):
        assert (out / name).is_file(), name
    assert str(out / "report" / "DEMO.pdf") in res.output
    rows = json.loads((out / "DEMO.json").read_text())["frequencies"]
    earth = parse_earth(f"edi:{QUANTEC_EDI}")  # the earth the demo synthesises over
    f_comp, err_comp = _rho_xy_error(out / "DEMO.edi", earth)
    f_conv, err_conv = _rho_xy_error(out / "DEMO_conventional.edi", earth)
    assert len(rows) == len(f_comp)
    notch_comp, notch_conv = np.argmin(abs(f_comp - 1300)), np.argmin(abs(f_conv - 1300))
    assert err_conv[notch_conv] > 0.5 and err_comp[notch_comp] < 0.05  # the dead band: lost, then recovered
    band = (f_comp > 30) & (f_comp < 800)
    assert np.median(err_comp[band]) < 0.03
