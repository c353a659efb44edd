"""The intrinsic fingerprint (InFIP) of the sferic CNN: are its derived models told from independent ones?

Run: ``.venv/bin/python -m benchmarks.dnnsec_sferic_intrinsic [--work DIR] [--probes 32] [--calib 3]``, after
``python -m benchmarks.dnnsec_sferic_fingerprint --work DIR``, whose models it reads (nothing is trained here):

* the owner's model ``DIR/base/model.safetensors`` (the shipped sferic CNN, or its private fine-tune);
* derived ("pirated") models: the users' fingerprinted copies ``DIR/copies/*`` and the attacks on one of them
  ``DIR/attacks/*`` (fine-tuning at two learning rates, pruning 10-50 %, distillation into a fresh model, averaging
  and median of colluders' copies, the fingerprint channel cut off);
* independent models: ``DIR/null-bases/*/model.safetensors``, the same architecture trained from scratch with other
  seeds; the first ``--calib`` fix the null distribution (:func:`dnnsec.fingerprint.intrinsic.calibrate`), the
  others are held out.

The owner's probes are ``--probes`` windows of 2,048 samples from the public generator
(:class:`amt.sferic.sampler.SfericSource`) under a seed of the owner's; each is explained at the sample where the
owner's model is most sure of a sferic (the largest logit), by DTD with the z^B rule over the range of the
compressed probe values (:mod:`dnnsec.fingerprint.dtd`). Printed per model: SSIM and cosine similarity to the
owner's maps, the normal-tail p-value against the calibration models and whether it is claimed (p < 0.01); then
the ROC-AUC of derived against held-out independent models by each metric. Method: Xue et al., InFIP; results in
docs/results.md, "Intrinsic fingerprint of the sferic CNN".
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

from amt.sferic.sampler import SamplerConfig, SfericSource
from dnnsec.fingerprint.dtd import Box
from dnnsec.fingerprint.intrinsic import IntrinsicFingerprint, calibrate
from shared.checkpoint import load_checkpoint
from shared.metrics import roc_auc
from shared.seeding import stream_rng

#: The owner's probe seed (not a seed any model here was trained on).
PROBE_SEED = 77_031


def probes(n: int) -> torch.Tensor:
    """``n`` generator windows (2 x 2,048 samples: Hx, Hy) holding at least one sferic sample each."""
    source, out, k = SfericSource(SamplerConfig()), [], 0
    while len(out) < n:
        x, y = source(stream_rng(PROBE_SEED, k))
        k += 1
        if y.any():
            out.append(x)
    return torch.from_numpy(np.stack(out))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="example: python -m benchmarks.dnnsec_sferic_intrinsic --work "
                                        "outputs/bench-sferic-fingerprint")
    ap.add_argument("--work", type=Path, default=Path("outputs/bench-sferic-fingerprint"))
    ap.add_argument("--probes", type=int, default=32)
    ap.add_argument("--calib", type=int, default=3, help="independent models that fix the null distribution")
    args = ap.parse_args()
    torch.set_num_threads(1)
    owner_path = args.work / "base" / "model.safetensors"
    nulls = sorted(args.work.glob("null-bases/*/model.safetensors"))
    derived = sorted(args.work.glob("copies/*.safetensors")) + sorted(args.work.glob("attacks/*.safetensors"))
    if not owner_path.is_file() or len(nulls) < args.calib + 1 or not derived:
        sys.exit(f"error: {args.work} lacks the owner's model, derived models or {args.calib + 1} independent ones; "
                 f"run python -m benchmarks.dnnsec_sferic_fingerprint --work {args.work} first")
    owner, meta = load_checkpoint(owner_path)
    c = float(meta["config"].get("compress", 0.0))
    x = probes(args.probes)
    seen = c * torch.asinh(x / c) if c > 0 else x  # the values the first convolution reads
    fp = IntrinsicFingerprint.of(owner.eval(), x, Box(float(seen.min()), float(seen.max())))
    cal = calibrate(fp, [load_checkpoint(p)[0].eval() for p in nulls[:args.calib]])
    print(f"owner {owner_path}: {args.probes} probes; null SSIM {cal.mean:.3f} +- {cal.sd:.3f} "
          f"({args.calib} calibration models)")
    print(f"{'model':44} {'kind':12} {'SSIM':>6} {'cosine':>7} {'p':>9} claimed")
    scores: dict[str, list] = {"derived": [], "independent": []}
    for kind, paths in (("derived", derived), ("independent", nulls[args.calib:])):
        for path in paths:
            s = fp.similarities(load_checkpoint(path)[0].eval())
            p = cal.p_value(s["ssim"])
            scores[kind].append(s)
            print(f"{path.parent.name + '/' + path.stem:44} {kind:12} {s['ssim']:6.3f} {s['cosine']:7.3f} "
                  f"{p:9.2e} {'yes' if p < 0.01 else 'no'}", flush=True)
    truth = np.r_[np.ones(len(scores["derived"])), np.zeros(len(scores["independent"]))]
    for metric in ("ssim", "cosine"):
        values = np.array([s[metric] for s in scores["derived"] + scores["independent"]])
        print(f"ROC-AUC by {metric}: {roc_auc(truth, values):.3f} ({len(scores['derived'])} derived, "
              f"{len(scores['independent'])} held-out independent)")


if __name__ == "__main__":
    main()
