"""Named synthetic records of the dead-band studies: small daytime records over a measured earth, in raw counts.

The tests of :mod:`amt.deadband`, its benchmarks (``benchmarks.amt_deadband``, ``benchmarks.amt_deadband_windows``)
and the field demo (``field_examples/amt_field_demo.py``) all draw their records from :func:`dead_band_record`:

* 24 kHz, day-time waveguide (h = 70 km, first cutoff ``c / 2h`` = 2.14 kHz), 4 s and seed 3 unless stated;
* storm flashes 20/s from storm centres 1000 km away (radius 50 km) at bearings 30 and 90 degrees
  (:data:`TWO_STORMS`, 60 degrees apart) or at 30 degrees only (:data:`ONE_STORM`); global background 50 flashes/s
  from everywhere;
* earth: the measured impedance of ``tf_edi_quantec.edi`` (:data:`QUANTEC_EDI`, ``shared.paths.data_root()``);
* noise :data:`amt.synth.noise.QUIET_SITE_NO_POWERLINE`: coil self-noise 2e-6 nT/sqrt(Hz) white above a 100 Hz
  corner, electrode noise 2e-4 (mV/km)/sqrt(Hz) above 10 Hz, on each channel independently; no powerline (its
  harmonics, E/H = 50 mV/km/nT at every frequency, would be a second coherent source); spikes 0.05/s (0.5 nT on H,
  5 mV/km on E); drift 1 nT and 10 mV/km;
* written as raw counts through the stated recording chain of :func:`amt.synth.sensors.channel_response`
  (coil 0.3 V/nT or 50 m dipole x10, 4-pole anti-alias at 0.4 fs, 24-bit ADC, multiplexing delay).
"""

from __future__ import annotations

from amt.synth.earth import Earth
from amt.synth.field import Site, SynthConfig
from amt.synth.noise import QUIET_SITE_NO_POWERLINE
from amt.synth.storms import Storm
from shared.paths import data_root

#: The measured earth of the dead-band records (Quantec EDI, 1 Hz - 10 kHz).
QUANTEC_EDI = data_root() / "amt" / "transfer_functions" / "tf_edi_quantec.edi"
#: Two storm centres 1000 km away at bearings 30 and 90 degrees (radius 50 km): two polarisations.
TWO_STORMS = (Storm(azimuth_deg=30.0, distance_km=1000.0, radius_km=50.0), Storm(90.0, 1000.0, 50.0))
#: One storm centre 1000 km away at bearing 30 degrees: one polarisation only.
ONE_STORM = (Storm(azimuth_deg=30.0, distance_km=1000.0, radius_km=50.0),)


def dead_band_record(
    earth: Earth,
    storms: tuple[Storm, ...] = TWO_STORMS,
    sferic_rate_hz: float = 20.0,
    duration_s: float = 4.0,
    seed: int = 3,
    site: str = "Q01",
) -> SynthConfig:
    """The settings of a dead-band record (module notes) for :func:`amt.synth.generate`.

    Parameters
    ----------
    earth
        True earth of the one station (the tests use the measured earth of :data:`QUANTEC_EDI`).
    storms
        Storm centres (:data:`TWO_STORMS` or :data:`ONE_STORM`).
    sferic_rate_hz
        Storm flashes per second.
    duration_s
        Record length, s.
    seed
        Seed of everything drawn.
    site
        Station name.
    """
    return SynthConfig(
        duration_s=duration_s,
        rate_hz=24000.0,
        sferic_rate_hz=sferic_rate_hz,
        background_rate_hz=50.0,
        night=False,
        storms=storms,
        counts=True,
        seed=seed,
        sites=(Site(name=site, earth=earth, noise=QUIET_SITE_NO_POWERLINE),),
    )
