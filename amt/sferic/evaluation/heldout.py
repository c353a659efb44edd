"""Fixed synthetic record sets defined by seeds that training never uses: validation and held-out test.

Record ``k`` of a cell (SNR, day/night, sferic model) is drawn from
``shared.seeding.stream_rng(seed, cell..., k)``: a stream of a different length and root than any training
batch (``stream_rng(train_seed, step)``), and :func:`check_training_seed` refuses the two roots as
training seeds. Rebuilding a set from its seed gives the same samples bit for bit.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from amt.synth.records import RATE_HZ, FieldConfig, SynthRecord, synthesize
from shared.errors import ConfigError
from shared.seeding import stream_rng

#: Root seed of the held-out test sets (README figures).
HELDOUT_SEED = 52_023
#: Root seed of the validation sets (decision thresholds, STA/LTA tuning).
VALIDATION_SEED = 72_023
#: SNRs of the test cells, dB.
TEST_SNRS_DB = (-15.0, -10.0, -5.0, 0.0, 5.0, 10.0)
_MODELS = ("waveguide", "damped")


@dataclass(frozen=True)
class Cell:
    """One cell of a record set: every labelled sferic at ``snr_db``; day or night; a sferic model."""

    snr_db: float
    night: bool
    sferic_model: str = "waveguide"
    n_records: int = 4
    seconds: float = 2.0
    sferic_rate_hz: float = 5.0

    def field(self) -> FieldConfig:
        return FieldConfig(
            night=self.night,
            sferic_rate_hz=self.sferic_rate_hz,
            snr_db=self.snr_db,
            powerline_hz=50.0,
            powerline_ratio=3.0,
            spike_rate_hz=0.5,
            drift_ratio=1.0,
            n_storms=2,
            sferic_model=self.sferic_model,
        )

    @property
    def name(self) -> str:
        return f"{'night' if self.night else 'day'} {self.snr_db:+g} dB {self.sferic_model}"


def records(cell: Cell, seed: int) -> Iterator[SynthRecord]:
    """The records of ``cell`` under root ``seed``, always the same."""
    n = round(cell.seconds * RATE_HZ)
    key = (round(cell.snr_db * 10) + 1000, int(cell.night), _MODELS.index(cell.sferic_model))
    for k in range(cell.n_records):
        yield synthesize(n, cell.field(), stream_rng(seed, *key, k))


def grid(snrs_db: tuple[float, ...] = TEST_SNRS_DB, sferic_model: str = "waveguide", n_records: int = 4) -> list[Cell]:
    """Cells over SNRs, by day and by night."""
    return [Cell(s, night, sferic_model, n_records) for s in snrs_db for night in (False, True)]


def check_training_seed(seed: int) -> None:
    """Refuse a training seed equal to a held-out or validation root."""
    if seed in (HELDOUT_SEED, VALIDATION_SEED):
        raise ConfigError(f"training seed {seed} is reserved for held-out/validation sets; pick another")
