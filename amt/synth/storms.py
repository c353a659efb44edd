"""Where and when the lightning is: 1-3 storm centres plus the global background of distant flashes.

A record's sferics come from a catalogue of first return strokes, each with an arrival time at the
reference station, a great-circle distance, a bearing (degrees clockwise from north, station to
flash), a signed peak current and a storm id (-1 for the global background).

* Storm flashes cluster around 1-3 centres (bearing, distance 300-3000 km), spread as a Gaussian of a
  few tens of km in the local plane; they arrive as a Poisson process of total rate ``sferic_rate_hz``.
* The global background is the rest of the world's lightning, about 50 flashes/s (Christian et al., 2003,
  JGR 108, 4005, from OTD satellite data), from uniformly random points on the sphere (distance pdf
  ``sin(r / a)``) at least 1000 km away.
* About 10 % of cloud-to-ground flashes lower positive charge (Rakov & Uman, 2003, Lightning, ch. 5): the
  sign of the radiated field flips; the peak currents are log-normal (:func:`amt.synth.stroke.draw_peak_currents`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from amt.synth.errors import SynthError
from amt.synth.stroke import draw_peak_currents
from amt.synth.waveguide import EARTH_RADIUS_M

#: Global flash rate, flashes/s (Christian et al., 2003).
GLOBAL_FLASH_RATE_HZ = 50.0
#: Fraction of positive cloud-to-ground flashes (Rakov & Uman, 2003).
POSITIVE_FRACTION = 0.1
#: Nearest and farthest background flash, m.
BACKGROUND_RANGE_M = (1.0e6, 1.9e7)


@dataclass(frozen=True)
class Storm:
    """A storm centre seen from the reference station.

    Parameters
    ----------
    azimuth_deg
        Bearing from the station, degrees clockwise from geographic north.
    distance_km
        Great-circle distance in km (200-19,000).
    radius_km
        Standard deviation of flash positions about the centre, km.
    weight
        Share of the storm flash rate (normalised over the storms).
    """

    azimuth_deg: float
    distance_km: float
    radius_km: float = 50.0
    weight: float = 1.0

    def __post_init__(self) -> None:
        if not 200.0 <= self.distance_km <= 19000.0:
            raise SynthError(f"storm distance must be 200-19000 km, got {self.distance_km} km")
        if not (self.radius_km >= 0 and self.weight > 0):
            raise SynthError(f"storm radius must be >= 0 and weight > 0, got {self.radius_km}, {self.weight}")


def draw_storms(rng: np.random.Generator, n: int | None = None) -> tuple[Storm, ...]:
    """1-3 storms (``n`` if given) at random bearings, 300-3000 km (log-uniform), radius 20-100 km."""
    n = int(rng.integers(1, 4)) if n is None else n
    return tuple(
        Storm(
            azimuth_deg=float(rng.uniform(0, 360)),
            distance_km=float(np.exp(rng.uniform(np.log(300.0), np.log(3000.0)))),
            radius_km=float(rng.uniform(20, 100)),
            weight=float(rng.uniform(0.3, 1.0)),
        )
        for _ in range(n)
    )


@dataclass(frozen=True)
class Catalogue:
    """Flashes sorted by arrival time at the reference station (structure of arrays)."""

    arrival_s: np.ndarray  # seconds after the record start
    distance_m: np.ndarray
    azimuth_deg: np.ndarray  # bearing station -> flash
    current_a: np.ndarray  # signed peak current: + for negative CG (upward current moment)
    storm_id: np.ndarray  # int, -1 = global background

    def __len__(self) -> int:
        return len(self.arrival_s)


def _poisson_times(rate_hz: float, t0: float, t1: float, rng: np.random.Generator) -> np.ndarray:
    n = rng.poisson(max(rate_hz, 0.0) * (t1 - t0))
    return np.sort(rng.uniform(t0, t1, n))


def draw_catalogue(
    t0_s: float,
    t1_s: float,
    storms: tuple[Storm, ...],
    sferic_rate_hz: float,
    background_rate_hz: float,
    rng: np.random.Generator,
) -> Catalogue:
    """Draw the flashes arriving in ``[t0_s, t1_s)``.

    Parameters
    ----------
    t0_s, t1_s
        Arrival-time span in seconds after the record start.
    storms
        Storm centres; their flashes share ``sferic_rate_hz`` by weight.
    sferic_rate_hz
        Storm flashes per second.
    background_rate_hz
        Global background flashes per second.
    rng
        Random generator (the catalogue is a deterministic function of its state).
    """
    if not (np.isfinite(sferic_rate_hz) and sferic_rate_hz >= 0):
        raise SynthError(f"sferic rate must be >= 0 flashes/s, got {sferic_rate_hz}")
    if not (np.isfinite(background_rate_hz) and background_rate_hz >= 0):
        raise SynthError(f"background rate must be >= 0 flashes/s, got {background_rate_hz}")
    if sferic_rate_hz > 0 and not storms:
        raise SynthError("a storm sferic rate > 0 needs at least one storm")
    parts = []
    weights = np.array([s.weight for s in storms]) if storms else np.zeros(0)
    for sid, storm in enumerate(storms):
        t = _poisson_times(sferic_rate_hz * weights[sid] / weights.sum(), t0_s, t1_s, rng)
        az = np.deg2rad(storm.azimuth_deg)
        centre = storm.distance_km * 1e3 * np.array([np.cos(az), np.sin(az)])
        pos = centre + storm.radius_km * 1e3 * rng.standard_normal((len(t), 2))
        dist = np.hypot(pos[:, 0], pos[:, 1])
        parts.append((t, dist, np.rad2deg(np.arctan2(pos[:, 1], pos[:, 0])) % 360.0, sid))
    t = _poisson_times(background_rate_hz, t0_s, t1_s, rng)
    lo, hi = (np.cos(r / EARTH_RADIUS_M) for r in BACKGROUND_RANGE_M)
    dist = EARTH_RADIUS_M * np.arccos(rng.uniform(hi, lo, len(t)))  # uniform on the sphere
    parts.append((t, dist, rng.uniform(0, 360, len(t)), -1))
    arrival = np.concatenate([p[0] for p in parts])
    n = len(arrival)
    current = draw_peak_currents(n, rng) * np.where(rng.uniform(size=n) < POSITIVE_FRACTION, -1.0, 1.0)
    order = np.argsort(arrival, kind="stable")
    return Catalogue(
        arrival_s=arrival[order],
        distance_m=np.maximum(np.concatenate([p[1] for p in parts]), 2e5)[order],
        azimuth_deg=np.concatenate([p[2] for p in parts])[order],
        current_a=current[order],
        storm_id=np.concatenate([np.full(len(p[0]), p[3]) for p in parts]).astype(int)[order],
    )
