"""Data no one here wrote (the Phoenix bench recording) and sferics of a generator training never saw."""

import numpy as np
import pytest

import amt.io
from amt.sferic.evaluation.heldout import HELDOUT_SEED, Cell
from amt.sferic.evaluation.scoring import Scorer
from shared.paths import data_root

PHOENIX = "amt/phoenix_mtu5c/10128_2021-04-27-032436"


def _phoenix_runs(rate_hz):
    folder = data_root() / PHOENIX
    if not folder.is_dir():
        pytest.skip(f"real data {folder} absent")
    runs = amt.io.read(folder).runs_at(rate_hz)
    assert runs, "the Phoenix recording has 24 kHz bursts"
    return runs


def test_phoenix_bursts_are_read_as_a_user_meets_them(detector):
    # The logger's saturation count without clipping in the samples is a warning, not a defect: the detector reads
    # every 24 kHz burst whole.
    for run in _phoenix_runs(detector.rate_hz)[:2]:
        assert not [d for d in run.defects if d.kind == "saturated"]
        assert any("no clipping" in w for w in run.meta["hx"].extra["warnings"])
        det = detector.detect_run(run, fast=True)
        assert det.processed_samples == run.n_samples


@pytest.mark.xfail(
    strict=True,
    reason="acceptance target missed by the shipped weights: the bench recording's mains-locked impulsive "
    "interference (several pulses per 60 Hz cycle, identical on Hx and Hy) fires the CNN 45 times per minute at its "
    "0.35 trigger with the mains-locked veto on onsets, peaks and intervals (95 with the peak-only veto, 262 without "
    "one); a trigger set for 0.5 false events per minute on training-family noise gives 0 here but costs recall "
    "(docs/results.md#sferic-detection)",
)
def test_phoenix_bench_sine_gives_at_most_one_event_per_minute(detector):
    events, seconds = 0, 0.0
    for run in _phoenix_runs(detector.rate_hz):
        det = detector.detect_run(run)
        events += len(det.events)
        seconds += det.processed_samples / run.sample_rate_hz
    assert seconds > 10.0
    assert events / (seconds / 60.0) <= 1.0


@pytest.mark.xfail(
    strict=True,
    reason="acceptance target missed by the shipped weights: damped-sinusoid sferics at 0 dB, event recall "
    "0.51 (day) / 0.49 (night) at precision 0.77 / 0.56 (event trigger level 0.35) on the held-out set, target 0.8; "
    "the clairvoyant matched filter (amt.sferic.evaluation.reference) finds 0.83 / 0.87",
)
def test_damped_sinusoid_sferics_are_found_at_0_db(detector):
    cell = Cell(0.0, night=False, sferic_model="damped", n_records=2)
    s = Scorer(detector, methods=("cnn",)).score_cell(cell, HELDOUT_SEED)["cnn"]
    assert s["n_sferics"] >= 10
    assert s["event_recall"] >= 0.8 and s["event_precision"] >= 0.5
    assert np.isfinite(s["onset_median_abs_ms"])


@pytest.mark.parametrize("night", [False, True])
def test_sferics_far_above_the_noise_are_found(detector, night):
    # Nearby storms put sferics 50 dB above the noise; the 2023 default, trained up to 20 dB, found none of them.
    s = Scorer(detector, methods=("cnn",)).score_cell(Cell(50.0, night=night, n_records=1), HELDOUT_SEED)["cnn"]
    assert s["n_sferics"] >= 5
    assert s["event_recall"] >= 0.95 and s["event_precision"] >= 0.7


def test_mains_locked_veto_removes_most_phoenix_events(detector):
    # The bench pulses repeat every 60 Hz cycle: the veto drops the candidates that do, and only those.
    runs = _phoenix_runs(detector.rate_hz)[:3]
    with_veto = sum(len(detector.detect_run(r).events) for r in runs)
    detector.reject_mains_locked = False
    try:
        without = sum(len(detector.detect_run(r).events) for r in runs)
    finally:
        detector.reject_mains_locked = True
    assert without > 20 and with_veto < 0.6 * without
