"""What every evaluation table must hold, checked alike for the classifiers' and the sferic CNN's."""

from __future__ import annotations

from dnnsec.evaluation.attacks import ATTACKS


def check_cells(rows: list[dict], cells: list[dict]) -> None:
    """Every protection meets every attack once; a measured cell holds numbers in range, an n/a one its reason."""
    assert {(c["protection"], c["attack"]) for c in cells} == {(r["protection"], a) for r in rows for a in ATTACKS}
    for c in cells:
        if c["reason"] is None:
            assert 0.0 <= c["retention"] <= 1.0 and 0.0 <= c["accuracy"] <= 1.0 and c["seconds"] >= 0
        else:
            assert len(c["reason"]) > 10 and c["retention"] is None
