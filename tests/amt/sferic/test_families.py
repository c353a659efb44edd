"""Held-out sferic families and training-family records: what they draw, rebuilt from their seeds."""

import numpy as np

from amt.sferic.evaluation.families import (
    DEADBAND_DB,
    HELDOUT_FAMILIES,
    RATES_HZ,
    FamilyCell,
    family_cells,
    family_records,
    noise_cells,
    training_family_records,
    training_sampler,
)


def test_the_acceptance_grid_covers_every_family_rate_and_dead_band_level():
    cells = family_cells()
    assert {(c.family, c.sferic_rate_hz, c.deadband_db) for c in cells} == {
        (f, r, d) for f in HELDOUT_FAMILIES for r in RATES_HZ for d in DEADBAND_DB
    }
    assert "waveguide" not in HELDOUT_FAMILIES  # the training family is never a test family
    assert all(c.sferic_rate_hz == 0 for c in noise_cells())


def test_family_records_are_rebuilt_bit_for_bit_and_carry_their_family():
    cell = FamilyCell("modes", 10.0, 20.0, n_records=2, seconds=1.0)
    a, b = list(family_records(cell, 5)), list(family_records(cell, 5))
    assert all(np.array_equal(x.h, y.h) for x, y in zip(a, b, strict=True))
    assert [r.config.night for r in a] == [False, True]
    assert all(r.config.sferic_model == "modes" and r.config.powerline_ratio == 0 for r in a)
    snrs = [lab.snr_db for r in a for lab in r.labels]
    assert snrs and min(snrs) >= -10.0 and max(snrs) <= 20.0


def test_training_family_noise_records_have_no_sferics_and_the_wide_family_has_dead_band_noise():
    recs = list(training_family_records(7, 3, 0.5, sferics=False))
    assert all(not r.labels for r in recs)
    with_sferics = list(training_family_records(7, 3, 0.5, sferics=True))
    assert any(r.labels for r in with_sferics)
    cfg = training_sampler()
    assert cfg.deadband_fraction > 0 and cfg.distance_km[1] >= 19_000 and cfg.sferic_rate_hz == (0.1, 100.0)
