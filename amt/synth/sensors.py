"""The stated recording chain for raw-count records: sensor, anti-alias low-pass, ADC, channel delay.

Each channel's response (counts per nT, or counts per mV/km) is a
:class:`~amt.calibration.instrument.CascadeResponse` of

* the sensor: an induction coil, flat 0.3 V/nT above its 1 Hz high-pass corner with a second-order
  roll-off at 40 kHz; or an electric dipole of ``dipole_length_m`` with a x10 DC-coupled preamplifier
  and a single pole at 20 kHz (1 mV/km over 50 m is 50 uV);
* a 4-pole Butterworth anti-alias low-pass at 0.4 x the sample rate (analog prototype poles from
  :func:`scipy.signal.buttap`);
* a 24-bit ADC over +-2.5 V (2^23 / 2.5 counts per V);
* a multiplexing delay of ``index / (5 rate)`` for the channel's place in ``ex, ey, hx, hy, hz``
  (about 8.3 us per channel at 24 kHz: 15 degrees of phase at 5 kHz).

Processing must remove this response (e.g. :func:`amt.calibration.instrument.remove_response`) to recover
the physical field; :mod:`amt.synth.field` applies it exactly in the frequency domain.
"""

from __future__ import annotations

import numpy as np
import scipy.signal

from amt.calibration.instrument import CascadeResponse, DelayResponse, PoleZeroResponse
from amt.record import CHANNELS, ELECTRIC

#: ADC gain, counts per volt (24 bit over +-2.5 V).
ADC_COUNTS_PER_V = 2**23 / 2.5
#: Coil sensitivity in its flat band, V/nT.
COIL_V_PER_NT = 0.3
#: Electric preamplifier gain.
E_PREAMP_GAIN = 10.0


def coil_response() -> PoleZeroResponse:
    """Induction coil, V/nT: zero at DC, pole at 1 Hz, Butterworth pair at 40 kHz; 0.3 V/nT at 1 kHz."""
    w1, w2 = 2 * np.pi * 1.0, 2 * np.pi * 40e3
    pair = w2 * np.exp(1j * np.pi * np.array([0.75, 1.25]))
    return PoleZeroResponse(
        zeros=(0j,),
        poles=(complex(-w1), complex(pair[0]), complex(pair[1])),
        normalization_freq_hz=1e3,
        sensitivity=COIL_V_PER_NT,
        name="coil",
    )


def dipole_response(dipole_length_m: float) -> PoleZeroResponse:
    """Electric dipole + preamplifier, V per mV/km: ``1e-6 L G`` with a pole at 20 kHz."""
    return PoleZeroResponse(
        zeros=(),
        poles=(complex(-2 * np.pi * 20e3),),
        normalization_freq_hz=1.0,
        sensitivity=1e-6 * dipole_length_m * E_PREAMP_GAIN,
        name=f"dipole {dipole_length_m:g} m",
    )


def antialias_response(rate_hz: float) -> PoleZeroResponse:
    """4-pole Butterworth low-pass at ``0.4 rate_hz``, unit gain at DC."""
    _, p, _ = scipy.signal.buttap(4)
    poles = tuple(complex(x) for x in p * 2 * np.pi * 0.4 * rate_hz)
    return PoleZeroResponse(zeros=(), poles=poles, normalization_freq_hz=1e-3, sensitivity=1.0, name="anti-alias")


def channel_response(channel: str, rate_hz: float, dipole_length_m: float = 50.0) -> CascadeResponse:
    """Full chain for ``channel`` (one of ``ex, ey, hx, hy, hz``) at ``rate_hz``: counts per physical unit."""
    sensor = dipole_response(dipole_length_m) if channel in ELECTRIC else coil_response()
    adc = PoleZeroResponse(zeros=(), poles=(), gain=ADC_COUNTS_PER_V, name="adc")
    delay = DelayResponse(CHANNELS.index(channel) / (len(CHANNELS) * rate_hz), name="multiplex delay")
    return CascadeResponse(
        stages=(sensor, antialias_response(rate_hz), adc, delay), name=f"{channel} {sensor.name} chain"
    )
