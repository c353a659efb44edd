"""Which training noise component makes the sferic CNN's false alarms: one component switched on at a time.

``python -m benchmarks.amt_sferic_false_alarms [--weights W ...] [--records N] [--seconds S]`` draws sferic-free
records of the training families (:func:`amt.sferic.evaluation.families.training_family_records`: the wide sampler's
field, the default augmentation chain) and rebuilds them with only one noise component on at a time, over a base of
coil noise (its colour drawn as in training) and the harmless symmetries (amplitude scale, polarity, rotation):

* ``background``: the global background of weak distant sferics (50/s, -40..-20 dB, below the label threshold);
* ``powerline``: 50/60 Hz with odd harmonics (the field's and the :class:`~amt.sferic.augment.Powerline` augmentation);
* ``drift``: slow drift;
* ``spikes``: single-sample spikes (the field's 0-5/s and the :class:`~amt.sferic.augment.Spikes` augmentation);
* ``dead band``: white instrument noise filling a band inside 0.7-6.5 kHz, 0-35 dB above the rest;
* ``impulse train``: mains-locked pulse trains (:class:`~amt.sferic.augment.ImpulseTrain`);
* ``white``: added white noise (:class:`~amt.sferic.augment.AddNoise`); ``dropout``: a zeroed channel;

each forced on in every record (so a rate per minute is per minute *carrying* the component), then ``all`` (the
training draw as it is, each component at its training probability). Per component and checkpoint it prints the
candidates per minute whose peak reaches 0.5, 0.9, 0.95 and 0.99 (mains-locked veto applied where the checkpoint
uses it) and the trigger that component alone would need for the stated false-alarm rate
(:func:`amt.sferic.calibration.trigger_for_false_alarm_rate`). Validation seeds only: nothing here sees a held-out
family or the Phoenix recording.

"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import click
import numpy as np
import torch
from tqdm.auto import tqdm

from amt.sferic.augment import (
    AddNoise,
    ChannelDropout,
    ImpulseTrain,
    Polarity,
    Powerline,
    RotateHorizontal,
    ScaleAmplitude,
    Spikes,
    compose,
)
from amt.sferic.calibration import candidate_peaks, trigger_for_false_alarm_rate
from amt.sferic.cli import path_option
from amt.sferic.evaluation.families import (
    FALSE_ALARM_RATE_PER_MIN,
    probability,
    training_family_records,
    training_sampler,
)
from amt.sferic.evaluation.heldout import VALIDATION_SEED
from amt.sferic.inference import DEFAULT_WEIGHTS, SfericDetector
from amt.sferic.sampler import SfericSource
from amt.synth.records import RATE_HZ, SynthRecord, synthesize
from shared.seeding import stream_rng

#: Noise components that can be switched on one at a time, in report order.
COMPONENTS = ("none", "background", "powerline", "drift", "spikes", "dead band", "impulse train", "white", "dropout")
#: Peak levels the table counts candidates at.
LEVELS = (0.5, 0.9, 0.95, 0.99)

_OFF = {"background_rate_hz": 0.0, "powerline_ratio": 0.0, "drift_ratio": 0.0, "spike_rate_hz": 0.0}


def component_records(component: str, seed: int, n_records: int, seconds: float) -> list[SynthRecord]:
    """Sferic-free training-family records with only ``component`` of the noise on (``"all"``: as trained)."""
    if component == "all":
        return list(training_family_records(seed, n_records, seconds, sferics=False))
    if component not in COMPONENTS:
        raise ValueError(f"unknown noise component {component!r}; use one of {COMPONENTS} or 'all'")
    sampler = training_sampler()
    source = SfericSource(sampler)
    n = round(seconds * RATE_HZ)
    chain = [ScaleAmplitude(), Polarity(), RotateHorizontal()]
    chain += {
        "powerline": [Powerline(p=1.0)],
        "spikes": [Spikes(p=1.0)],
        "impulse train": [ImpulseTrain(p=1.0)],
        "white": [AddNoise(p=1.0)],
        "dropout": [ChannelDropout(p=1.0)],
    }.get(component, [])
    augment = compose(chain)
    out = []
    for k in range(n_records):
        rng = stream_rng(seed, 18, 97, k)  # the same base noise draw for every component
        cfg = source.field(rng)
        keep = {"background": "background_rate_hz", "powerline": "powerline_ratio", "drift": "drift_ratio"}
        keep["spikes"] = "spike_rate_hz"
        off = {key: v for key, v in _OFF.items() if key != keep.get(component)}
        cfg = replace(cfg, sferic_rate_hz=0.0, deadband_db=None, **off)
        if component == "dead band":
            e = sampler.deadband_hz
            cfg = replace(
                cfg,
                deadband_db=float(rng.uniform(*sampler.deadband_db)),
                deadband_hz=(float(rng.uniform(e[0], e[1])), float(rng.uniform(e[2], e[3]))),
            )
        rec = synthesize(n, cfg, rng)
        h = augment({"h": rec.h, "y": np.zeros(n, dtype=np.float32), "rate_hz": RATE_HZ}, rng)["h"]
        out.append(replace(rec, h=h))
    return out


def candidate_table(det: SfericDetector, recs: list[SynthRecord]) -> dict[str, float]:
    """Candidates per minute reaching each of :data:`LEVELS`, and the trigger for the stated false-alarm rate."""
    low = det.threshold / 2
    gap = max(round(det.min_gap_s * det.rate_hz), 0)
    rate = det.rate_hz if det.reject_mains_locked else None
    peaks = np.concatenate([candidate_peaks(probability(det, r), low, gap, rate)[1] for r in recs])
    minutes = sum(r.n_samples for r in recs) / RATE_HZ / 60.0
    row = {f"{lv:g}": float(np.count_nonzero(peaks >= lv) / minutes) for lv in LEVELS}
    row["trigger"] = trigger_for_false_alarm_rate(peaks, minutes, FALSE_ALARM_RATE_PER_MIN, low)
    row["minutes"] = minutes
    return row


@click.command()
@path_option("--weights", "weights", multiple=True, help="Checkpoint(s) to diagnose (default: the shipped weights).")
@click.option("--records", default=12, show_default=True, type=click.IntRange(min=1),
              help="Sferic-free records per component.")
@click.option("--seconds", default=15.0, show_default=True, type=click.FloatRange(min=0, min_open=True),
              help="Length of each record, s.")
def main(weights: tuple[Path, ...], records: int, seconds: float) -> None:
    """Print per noise component and checkpoint the candidates per minute above 0.5/0.9/0.95/0.99 and the trigger.

    Example: python -m benchmarks.amt_sferic_false_alarms --weights amt/sferic/weights/default.safetensors
    """
    torch.set_num_threads(1)
    dets = {Path(w).name: SfericDetector.from_checkpoint(w) for w in (weights or (DEFAULT_WEIGHTS,))}
    print(f"sferic-free training-family records, {records} x {seconds:g} s per component, validation seed")
    print(f"{'checkpoint':<24} {'component':<14} " + " ".join(f">={lv:<5g}" for lv in LEVELS) + "  trigger")
    for comp in tqdm((*COMPONENTS, "all"), desc="components"):
        recs = component_records(comp, VALIDATION_SEED, records, seconds)
        for name, det in dets.items():
            row = candidate_table(det, recs)
            counts = " ".join(f"{row[f'{lv:g}']:<7.1f}" for lv in LEVELS)
            print(f"{name:<24} {comp:<14} {counts}  {row['trigger']:.4f}", flush=True)


if __name__ == "__main__":
    main()
