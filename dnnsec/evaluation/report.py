"""Write the evaluation table as Markdown, CSV and a heat map of retention (matplotlib), atomically."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np

from shared.atomic import atomic_path, write_bytes_atomic


def _fmt(v: float | None, digits: int = 2) -> str:
    return "n/a" if v is None else f"{v:.{digits}f}"


def cell_text(c: dict) -> str:
    """``retention (claim) / fidelity of the attacked model % / seconds`` or ``n/a: reason``."""
    if c["reason"] is not None:
        return f"n/a: {c['reason']}"
    return (f"{c['retention']:.2f} ({'claimed' if c['claimed'] else 'not claimed'}) / "
            f"{100 * c['accuracy']:.1f} % / {c['seconds']:.0f} s")


def markdown(title: str, rows: list[dict], cells: list[dict]) -> str:
    """The protections table (effectiveness, fidelity, uniqueness, efficiency, security) and the attack table.

    Fidelity is the rows' ``metric`` (test accuracy, or e.g. a segmenter's held-out F1) in percent; a row with a
    ``reason`` does not apply and says why."""
    metric = rows[0].get("metric", "accuracy") if rows else "accuracy"
    out = [f"### {title}", "", "| protection | effectiveness: retention (claimed) | fidelity: " + metric +
           ", change (pt) | uniqueness: false claims | efficiency: protect / verify (s) | security |",
           "|---|---|---|---|---|---|"]
    for r in rows:
        if r.get("reason") is not None:
            out.append(f"| {r['protection']} | n/a: {r['reason']} | n/a | n/a | n/a | n/a |")
            continue
        out.append(f"| {r['protection']} | {r['retention']:.2f} ({'yes' if r['claimed'] else 'no'}) | "
                   f"{100 * r['protected_accuracy']:.2f} %, {r['fidelity_points']:+.2f} | "
                   f"{r['false_claims']} / {r['independent']} | {r['protect_seconds']:.1f} / "
                   f"{r['verify_seconds']:.2f} | {r['security']} |")
    attacks = list(dict.fromkeys(c["attack"] for c in cells))
    out += ["", f"Robustness per attack: retention (claim) / {metric} of the attacked model / attack time.", "",
            "| attack | " + " | ".join(r["protection"] for r in rows) + " |",
            "|---|" + "---|" * len(rows)]
    by = {(c["protection"], c["attack"]): c for c in cells}
    for a in attacks:
        out.append(f"| {a} | " + " | ".join(cell_text(by[(r['protection'], a)]) if (r['protection'], a) in by
                                              else "not run" for r in rows) + " |")
    return "\n".join(out) + "\n"


def write_csv(path: Path, cells: list[dict], rows: list[dict]) -> Path:
    """One line per cell, with its protection's row metrics repeated."""
    by_row = {r["protection"]: r for r in rows}
    buf = io.StringIO()
    fields = ["protection", "attack", "reason", "retention", "claimed", "accuracy", "seconds", "protected_accuracy",
              "fidelity_points", "false_claims", "independent", "protect_seconds", "verify_seconds", "security"]
    w = csv.DictWriter(buf, fieldnames=fields)
    w.writeheader()
    for c in cells:
        r = by_row[c["protection"]]
        w.writerow({**{k: c[k] for k in fields[:7]}, **{k: r[k] for k in fields[7:]}})
    return write_bytes_atomic(path, buf.getvalue().encode())


def heat_map(path: Path, rows: list[dict], cells: list[dict], title: str) -> Path:
    """Retention after each attack (columns) for each protection (rows), ``*`` where the owner's claim still holds;
    grey where not applicable."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    attacks = list(dict.fromkeys(c["attack"] for c in cells))
    names = [r["protection"] for r in rows]
    grid = np.full((len(names), len(attacks)), np.nan)
    claimed = np.zeros(grid.shape, dtype=bool)
    for c in cells:
        if c["reason"] is None:
            grid[names.index(c["protection"]), attacks.index(c["attack"])] = c["retention"]
            claimed[names.index(c["protection"]), attacks.index(c["attack"])] = bool(c["claimed"])
    fig, ax = plt.subplots(figsize=(1.1 * len(attacks) + 3, 0.6 * len(names) + 2))
    cmap = matplotlib.colormaps["viridis"].with_extremes(bad="lightgrey")
    im = ax.imshow(np.ma.masked_invalid(grid), cmap=cmap, vmin=0, vmax=1, aspect="auto")
    for i in range(len(names)):
        for j in range(len(attacks)):
            text = "n/a" if np.isnan(grid[i, j]) else f"{grid[i, j]:.2f}" + (" *" if claimed[i, j] else "")
            ax.text(j, i, text, ha="center", va="center",
                    fontsize=8, color="black" if np.isnan(grid[i, j]) or grid[i, j] > 0.5 else "white")
    ax.set_xticks(range(len(attacks)), attacks, rotation=40, ha="right", fontsize=8)
    ax.set_yticks(range(len(names)), names, fontsize=8)
    ax.set_title(f"{title}  (* = the owner's claim still holds)", fontsize=9)
    fig.colorbar(im, ax=ax, label="retention (owner's evidence left)")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
    return path
