"""True earth responses for synthetic records: 1-D layered, half-space, or a measured EDI impedance.

Every earth answers :meth:`impedance` with the full 2 x 2 tensor ``Z(f)`` in mV/km/nT (so that
``E = Z H`` with E in mV/km and H in nT) and :meth:`tipper` with ``T(f)`` (``Hz = T H``), under the time
dependence e^{+i omega t}. A 1-D earth has ``Zxy = -Zyx = Z1d``, zero diagonal and zero tipper, so
``phi_xy`` lies in (0, 90) degrees and ``phi_yx`` in (-180, -90) degrees; ``rho_a = 0.2 T |Z|^2``.

The layered impedance follows the standard recursion from the bottom half-space upwards
(Wait, 1954, Geophysics 19, 281-289; Ward & Hohmann, 1988, in Nabighian (ed.) Electromagnetic
Methods in Applied Geophysics, vol. 1, eq. 4.22):

    zeta_j = sqrt(i omega mu0 rho_j),  k_j = sqrt(i omega mu0 / rho_j)
    Z_j = zeta_j (Z_{j+1} + zeta_j tanh(k_j h_j)) / (zeta_j + Z_{j+1} tanh(k_j h_j)),

with Z in ohm, converted to mV/km/nT by 1 / (1000 mu0).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from amt.synth.errors import SynthError

#: Magnetic permeability of free space in H/m (the classical value used by MT conventions).
MU0 = 4e-7 * np.pi
#: Factor from an impedance in ohm (V/m per A/m) to mV/km per nT.
OHM_TO_MV_KM_NT = 1.0 / (1000.0 * MU0)


@runtime_checkable
class Earth(Protocol):
    """Anything that gives the true impedance tensor and tipper at frequencies in Hz."""

    name: str

    def impedance(self, freq_hz: np.ndarray) -> np.ndarray:  # pragma: no cover - protocol
        """Complex Z, shape ``(n, 2, 2)``, mV/km/nT."""
        ...

    def tipper(self, freq_hz: np.ndarray) -> np.ndarray:  # pragma: no cover - protocol
        """Complex tipper ``(Tzx, Tzy)``, shape ``(n, 2)``, dimensionless."""
        ...


def layered_impedance(freq_hz: np.ndarray, rho_ohm_m: np.ndarray, thickness_m: np.ndarray) -> np.ndarray:
    """Surface impedance of a 1-D layered earth by the standard recursion.

    Parameters
    ----------
    freq_hz
        Frequencies in Hz (>= 0; Z(0) = 0).
    rho_ohm_m
        Layer resistivities in ohm-m, top first; the last is the basement half-space.
    thickness_m
        Thicknesses in m of all layers but the basement (``len(rho_ohm_m) - 1`` values).

    Returns
    -------
    numpy.ndarray
        Complex ``Z1d = Ex / Hy`` in mV/km/nT, same shape as ``freq_hz``; ``Zxy = Z1d``, ``Zyx = -Z1d``.
    """
    f = np.asarray(freq_hz, dtype=np.float64)
    rho = np.asarray(rho_ohm_m, dtype=np.float64)
    h = np.asarray(thickness_m, dtype=np.float64)
    iwm = 2j * np.pi * f * MU0
    z = np.sqrt(iwm * rho[-1])
    for rho_j, h_j in zip(rho[-2::-1], h[::-1], strict=True):
        zeta = np.sqrt(iwm * rho_j)
        t = np.tanh(np.sqrt(iwm / rho_j) * h_j)
        with np.errstate(invalid="ignore", divide="ignore"):
            z = np.where(f > 0, zeta * (z + zeta * t) / (zeta + z * t), 0.0)
    return z * OHM_TO_MV_KM_NT


@dataclass(frozen=True)
class LayeredEarth:
    """A 1-D earth of layers over a half-space (one layer: a half-space).

    Parameters
    ----------
    rho_ohm_m
        Resistivities in ohm-m, top first.
    thickness_m
        Thicknesses in m of all but the last layer.
    """

    rho_ohm_m: tuple[float, ...]
    thickness_m: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        rho, h = np.asarray(self.rho_ohm_m, float), np.asarray(self.thickness_m, float)
        if rho.size == 0 or not np.all(np.isfinite(rho)) or np.any(rho <= 0):
            raise SynthError(f"earth: resistivities must be positive and finite, got {self.rho_ohm_m}")
        if h.size != rho.size - 1:
            raise SynthError(f"earth: {rho.size} resistivities need {rho.size - 1} thicknesses, got {h.size}")
        if not np.all(np.isfinite(h)) or np.any(h <= 0):
            raise SynthError(f"earth: thicknesses must be positive and finite, got {self.thickness_m}")

    @property
    def name(self) -> str:
        if len(self.rho_ohm_m) == 1:
            return f"halfspace:{self.rho_ohm_m[0]:g}"
        return (
            "layers:" + ",".join(f"{r:g}" for r in self.rho_ohm_m) + "/" + ",".join(f"{t:g}" for t in self.thickness_m)
        )

    def impedance(self, freq_hz: np.ndarray) -> np.ndarray:
        z1 = layered_impedance(freq_hz, self.rho_ohm_m, self.thickness_m)
        out = np.zeros((*np.shape(z1), 2, 2), dtype=complex)
        out[..., 0, 1] = z1
        out[..., 1, 0] = -z1
        return out

    def tipper(self, freq_hz: np.ndarray) -> np.ndarray:
        return np.zeros((*np.shape(freq_hz), 2), dtype=complex)


@dataclass(frozen=True, eq=False)
class MeasuredEarth:
    """A measured impedance (and tipper) tensor, interpolated in log-frequency.

    Log-amplitude and unwrapped phase of each of the four Z components are interpolated linearly in
    log f; outside the measured band each component keeps its end apparent resistivity and phase
    (``|Z|`` scales as ``sqrt(f)``), which is the response of a half-space below/above the data. The
    tipper is interpolated linearly (real and imaginary parts) and held constant outside.
    """

    freq_hz: tuple[float, ...]
    z: np.ndarray  # (n, 2, 2) complex, mV/km/nT, increasing frequency
    t: np.ndarray  # (n, 2) complex
    name: str = "edi"

    @classmethod
    def from_edi(cls, path: str | Path) -> MeasuredEarth:
        """Read an EDI (or any transfer-function file mt_metadata reads) as the true earth."""
        p = Path(path)
        if not p.is_file():
            raise SynthError(f"earth edi:{path}: no such file")
        from mt_metadata.transfer_functions.core import TF

        try:
            tf = TF(fn=str(p))
            tf.read()
            f = np.asarray(tf.frequency, dtype=float)
            z = np.asarray(tf.impedance, dtype=complex)
            t = np.asarray(tf.tipper, dtype=complex).reshape(len(f), 2) if tf.has_tipper() else None
        except Exception as exc:  # mt_metadata raises many kinds
            raise SynthError(f"earth edi:{path}: cannot read a transfer function ({exc})") from exc
        if z.shape != (len(f), 2, 2) or len(f) < 2:
            raise SynthError(f"earth edi:{path}: no impedance tensor with >= 2 frequencies")
        good = np.isfinite(f) & (f > 0) & np.all(np.isfinite(z.reshape(len(f), 4)), axis=1)
        good &= np.all(np.abs(z.reshape(len(f), 4)) > 0, axis=1)
        order = np.argsort(f[good])
        t = np.zeros((len(f), 2), complex) if t is None else np.nan_to_num(t)
        return cls(freq_hz=tuple(f[good][order]), z=z[good][order], t=t[good][order], name=f"edi:{path}")

    def impedance(self, freq_hz: np.ndarray) -> np.ndarray:
        f = np.asarray(freq_hz, dtype=float)
        ft = np.asarray(self.freq_hz)
        lf = np.log(np.clip(np.abs(f), ft[0], ft[-1]))
        lft = np.log(ft)
        scale = np.sqrt(np.abs(f) / np.exp(lf))  # keep rho_a and phase outside the table
        out = np.empty((*f.shape, 2, 2), dtype=complex)
        for i in range(2):
            for j in range(2):
                zij = self.z[:, i, j]
                amp = np.exp(np.interp(lf, lft, np.log(np.abs(zij))))
                ph = np.interp(lf, lft, np.unwrap(np.angle(zij)))
                out[..., i, j] = scale * amp * np.exp(1j * ph)
        return out

    def tipper(self, freq_hz: np.ndarray) -> np.ndarray:
        f = np.clip(np.abs(np.asarray(freq_hz, float)), self.freq_hz[0], self.freq_hz[-1])
        out = np.empty((*f.shape, 2), dtype=complex)
        for j in range(2):
            out[..., j] = np.interp(f, self.freq_hz, self.t[:, j].real) + 1j * np.interp(
                f, self.freq_hz, self.t[:, j].imag
            )
        return out


def _numbers(text: str, spec: str, what: str) -> tuple[float, ...]:
    try:
        values = tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise SynthError(f"earth '{spec}': {what} '{text}' is not a comma-separated list of numbers") from None
    if not values:
        raise SynthError(f"earth '{spec}': no {what} given")
    return values


def parse_earth(spec: str) -> LayeredEarth | MeasuredEarth:
    """Build an earth from a SPEC string.

    Parameters
    ----------
    spec
        ``halfspace:RHO`` (ohm-m), ``layers:RHO1,RHO2,...[/H1,H2,...]`` (ohm-m / m, one thickness
        fewer than resistivities), or ``edi:PATH``.

    Examples
    --------
    >>> parse_earth("layers:100,1000,10/30,200").rho_ohm_m
    (100.0, 1000.0, 10.0)
    """
    kind, sep, rest = spec.partition(":")
    if not sep or not rest.strip():
        raise SynthError(f"earth '{spec}': expected halfspace:RHO, layers:RHO,.../H,... or edi:PATH")
    kind = kind.strip().lower()
    if kind == "halfspace":
        rho = _numbers(rest, spec, "resistivity")
        if len(rho) != 1:
            raise SynthError(f"earth '{spec}': a half-space takes one resistivity, got {len(rho)}")
        return LayeredEarth(rho)
    if kind == "layers":
        rho_text, _, h_text = rest.partition("/")
        rho = _numbers(rho_text, spec, "resistivities")
        h = _numbers(h_text, spec, "thicknesses") if h_text.strip() else ()
        return LayeredEarth(rho, h)
    if kind == "edi":
        return MeasuredEarth.from_edi(rest.strip())
    raise SynthError(f"earth '{spec}': unknown kind '{kind}' (halfspace, layers or edi)")
