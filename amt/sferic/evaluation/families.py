"""Sferic families: held-out test families training never draws from, and records of the training families.

* **Held-out families** (docs/acceptance.md#sferic-detection): ``"modes"`` (lossless waveguide modes 1-3 plus a
  small quasi-TEM part, storms 1500-6000 km) and ``"damped"`` (damped sinusoids) of :mod:`amt.synth.records`,
  at sferic rates 0.5, 2 and 10 per second and dead-band instrument noise (white, 1-5 kHz) 10, 20 and 30 dB above
  the natural field there; natural noise 1/f coil noise and the global background of weak sferics, no powerline,
  no spikes; SNRs uniform in -10..20 dB (log-uniform amplitudes). Records alternate day and night. The sferic-free
  records of the same noise are a held-out noise family.
* **Training families**: records drawn exactly as the training sampler draws its windows
  (:class:`amt.sferic.sampler.SfericSource` with the wide training config, ``configs/wide.toml``), noise
  augmentations included, at full record length. Their sferic-free versions set the event trigger for a stated
  false-alarm rate, and the records with sferics fit the probability calibration (:mod:`amt.sferic.calibration`).
* **Scores** (:func:`event_counts`): a labelled sferic at or above ``min_snr_db`` (0 dB) is found when an event
  overlaps its label interval widened by 5 ms on each side; an event that overlaps no widened label of any SNR is
  false; weaker labelled sferics are neither.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from amt.sferic.augment import compose, default_chain
from amt.sferic.calibration import Calibration, candidate_peaks, trigger_for_false_alarm_rate
from amt.sferic.inference import SfericDetector
from amt.sferic.preprocess import highpass, robust_scale
from amt.sferic.sampler import CHANNEL_ROWS, SamplerConfig, SfericSource
from amt.synth.labels import SfericLabel
from amt.synth.records import RATE_HZ, SFERIC_MODELS, FieldConfig, SynthRecord, synthesize
from shared.seeding import stream_rng

#: Timing tolerance of an event match, s.
TOLERANCE_S = 5e-3
#: The held-out sferic families (never drawn by training).
HELDOUT_FAMILIES = ("modes", "damped")
#: Sferic rates (per second) and dead-band noise levels (dB over the natural field) of the held-out cells.
RATES_HZ = (0.5, 2.0, 10.0)
DEADBAND_DB = (10.0, 20.0, 30.0)
#: SNR range of the held-out sferics, dB (uniform: log-uniform amplitudes).
SNR_RANGE_DB = (-10.0, 20.0)
#: The sampler config whose draws are the training families.
TRAINING_CONFIG = Path(__file__).resolve().parents[1] / "configs" / "wide.toml"
#: Stated false-alarm rate the event trigger is set for on sferic-free training-family records, per minute.
FALSE_ALARM_RATE_PER_MIN = 0.5


@dataclass(frozen=True)
class FamilyCell:
    """Held-out records of one sferic family at one sferic rate and dead-band noise level (``None``: none)."""

    family: str
    sferic_rate_hz: float
    deadband_db: float | None
    n_records: int = 2
    seconds: float = 30.0

    def field(self, night: bool) -> FieldConfig:
        return FieldConfig(
            night=night,
            sferic_rate_hz=self.sferic_rate_hz,
            snr_db=SNR_RANGE_DB,
            powerline_ratio=0.0,
            spike_rate_hz=0.0,
            drift_ratio=0.0,
            n_storms=2,
            distance_km=(1500.0, 6000.0),
            sferic_model=self.family,
            deadband_db=self.deadband_db,
        )

    @property
    def name(self) -> str:
        noise = "no dead-band noise" if self.deadband_db is None else f"dead band +{self.deadband_db:g} dB"
        return f"{self.family} {self.sferic_rate_hz:g}/s {noise}"


def family_cells(families: Iterable[str] = HELDOUT_FAMILIES, n_records: int = 2) -> list[FamilyCell]:
    """Every family at every rate and dead-band level of the acceptance grid."""
    return [FamilyCell(f, r, d, n_records) for f in families for r in RATES_HZ for d in DEADBAND_DB]


def noise_cells(n_records: int = 2) -> list[FamilyCell]:
    """Sferic-free records of the held-out noise family at each dead-band level."""
    return [FamilyCell("modes", 0.0, d, n_records) for d in DEADBAND_DB]


def family_records(cell: FamilyCell, seed: int) -> Iterator[SynthRecord]:
    """The records of ``cell`` under root ``seed`` (day and night alternate), always the same."""
    key = (
        SFERIC_MODELS.index(cell.family),
        round(cell.sferic_rate_hz * 10),
        -1 if cell.deadband_db is None else round(cell.deadband_db),
    )
    n = round(cell.seconds * RATE_HZ)
    for k in range(cell.n_records):
        yield synthesize(n, cell.field(night=bool(k % 2)), stream_rng(seed, 18, *key, k))


def training_sampler() -> SamplerConfig:
    """The sampler config of the training families (:data:`TRAINING_CONFIG`)."""
    return SamplerConfig.from_dict(tomllib.loads(TRAINING_CONFIG.read_text())["sampler"], str(TRAINING_CONFIG))


def training_family_records(seed: int, n_records: int, seconds: float, sferics: bool) -> Iterator[SynthRecord]:
    """Records drawn as the training sampler draws its windows (noise augmentations applied), full length.

    With ``sferics=False`` the field's sferic rate is set to 0: sferic-free records of the training noise.
    """
    source = SfericSource(training_sampler())
    chain = compose(default_chain())
    n = round(seconds * RATE_HZ)
    for k in range(n_records):
        rng = stream_rng(seed, 18, 99, int(sferics), k)
        cfg = source.field(rng)
        if not sferics:
            cfg = replace(cfg, sferic_rate_hz=0.0)
        rec = synthesize(n, cfg, rng)
        h = chain({"h": rec.h, "y": rec.mask().astype(np.float32), "rate_hz": RATE_HZ}, rng)["h"]
        yield replace(rec, h=h)


def probability(detector: SfericDetector, rec: SynthRecord, fast: bool = False) -> np.ndarray:
    """The detector's per-sample probability on a record (high-passed and scaled as in inference)."""
    hp = highpass(rec.h[[CHANNEL_ROWS[c] for c in detector.channels]], rec.config.rate_hz)
    return detector.probability(hp, robust_scale(hp), fast=fast)


def _widened(labels: Iterable[SfericLabel], tol: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    labs = list(labels)
    a = np.array([lab.start_index - tol for lab in labs], dtype=np.int64)
    b = np.array([lab.end_index + tol for lab in labs], dtype=np.int64)
    snr = np.array([-np.inf if lab.dont_care else lab.snr_db for lab in labs])
    return a, b, snr


def event_counts(
    events: np.ndarray, labels: Iterable[SfericLabel], rate_hz: float, min_snr_db: float = 0.0
) -> dict[str, int]:
    """Hits, misses (labelled sferics >= ``min_snr_db``) and false events, with the 5 ms tolerance."""
    ev = np.asarray(events, dtype=np.int64).reshape(-1, 2)
    a, b, snr = _widened(labels, round(TOLERANCE_S * rate_hz))
    over = (ev[:, None, 0] < b[None, :]) & (ev[:, None, 1] > a[None, :])
    found = over.any(axis=0)
    scored = snr >= min_snr_db
    return {
        "hits": int(np.count_nonzero(found & scored)),
        "misses": int(np.count_nonzero(~found & scored)),
        "false": int(np.count_nonzero(~over.any(axis=1))),
    }


def candidate_outcomes(
    prob: np.ndarray, labels: Iterable[SfericLabel], detector: SfericDetector
) -> tuple[np.ndarray, np.ndarray]:
    """Peaks of every candidate event of ``prob`` and whether each is a sferic (overlaps a care label, 5 ms)."""
    low = detector.threshold / 2
    rate = detector.rate_hz if detector.reject_mains_locked else None
    r, peaks = candidate_peaks(prob, low, max(round(detector.min_gap_s * detector.rate_hz), 0), rate)
    a, b, snr = _widened(labels, round(TOLERANCE_S * detector.rate_hz))
    care = np.isfinite(snr)
    hit = ((r[:, None, 0] < b[None, care]) & (r[:, None, 1] > a[None, care])).any(axis=1)
    return peaks, hit.astype(np.float64)


@dataclass
class TriggerFit:
    """The trigger set on sferic-free training-family records and the calibration fitted on training families."""

    trigger: float
    false_per_min_at_trigger: float
    noise_minutes: float
    calibration: Calibration
    n_candidates: int


def fit_trigger_and_calibration(
    detector: SfericDetector,
    seed: int,
    noise_records: int = 20,
    sferic_records: int = 20,
    seconds: float = 15.0,
    rate_per_min: float = FALSE_ALARM_RATE_PER_MIN,
) -> TriggerFit:
    """Trigger for ``rate_per_min`` false events per minute and the isotonic calibration, on training families.

    ``seed`` must be a validation root (never the held-out one): both are chosen before any test record is seen.
    """
    low = detector.threshold / 2
    gap = max(round(detector.min_gap_s * detector.rate_hz), 0)
    rate = detector.rate_hz if detector.reject_mains_locked else None
    noise_peaks = [
        candidate_peaks(probability(detector, rec), low, gap, rate)[1]
        for rec in training_family_records(seed, noise_records, seconds, sferics=False)
    ]
    peaks = np.concatenate(noise_peaks) if noise_peaks else np.zeros(0)
    minutes = noise_records * seconds / 60.0
    trigger = max(trigger_for_false_alarm_rate(peaks, minutes, rate_per_min, low), detector.threshold)
    scores, outcomes = [], []
    for rec in training_family_records(seed, sferic_records, seconds, sferics=True):
        s, o = candidate_outcomes(probability(detector, rec), rec.labels, detector)
        scores.append(s)
        outcomes.append(o)
    s, o = np.concatenate(scores), np.concatenate(outcomes)
    return TriggerFit(
        trigger=trigger,
        false_per_min_at_trigger=float(np.count_nonzero(peaks >= trigger) / minutes),
        noise_minutes=minutes,
        calibration=Calibration.fit(s, o),
        n_candidates=int(s.size),
    )
