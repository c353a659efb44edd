"""AdvParams encryption of the 1-D sferic CNN: sample-level F1 with and without the key, key size, speed.

Run: ``.venv/bin/python -m benchmarks.dnnsec_protect_sferic [--weights PATH] [--records 4] [--windows 32]``.

The shipped sferic weights (a snapshot copied to a temporary folder) are encrypted through the package path
(:func:`dnnsec.package.protected.encrypt_checkpoint`) with the per-sample binary-segmenter decisions
(:func:`dnnsec.protect.advparams.binary_segmenter_decisions` at the detector's own decision threshold), guided
by ``--windows`` training-distribution windows from the checkpoint's own sampler configuration
(:class:`amt.sferic.sampler.SfericSource`, a seed no training or held-out set uses). Plain and encrypted
detectors are scored on the same held-out synthetic records (:func:`amt.sferic.evaluation.heldout.grid` under
``HELDOUT_SEED``: 6 SNRs x day/night x ``--records`` records of 2 s at 24 kHz) by the repo's own path
(:meth:`amt.sferic.evaluation.scoring.Scorer.ranges`, ``p >= threshold``, don't-care samples excluded, pooled
:func:`shared.metrics.binary_scores`). Method: Xue et al., "AdvParams: An Active DNN Intellectual Property
Protection Technique via Adversarial Perturbation Based Parameter Encryption", IEEE TETC.
"""

from __future__ import annotations

import argparse
import math
import shutil
import tempfile
import time
from functools import partial
from pathlib import Path

import numpy as np
import torch

from amt.sferic.evaluation.heldout import HELDOUT_SEED, grid, records
from amt.sferic.evaluation.scoring import Scorer
from amt.sferic.inference import DEFAULT_WEIGHTS, SfericDetector
from amt.sferic.sampler import SamplerConfig, SfericSource
from dnnsec.package.container import read_package
from dnnsec.package.protected import decrypt_package, encrypt_checkpoint
from dnnsec.package.signing import generate_owner_keys, load_private_key, load_public_key
from dnnsec.protect.advparams import binary_segmenter_decisions
from shared.checkpoint import read_sidecar, sidecar_path
from shared.metrics import binary_scores
from shared.seeding import stream_rng

#: Root seed of the search windows (neither a training, validation nor held-out root).
SEARCH_SEED = 81_023


def search_windows(sidecar: dict, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` windows ``x`` (n, channels, window) and 0/1 labels ``y`` (n, window) from the checkpoint's sampler."""
    config = SamplerConfig.from_dict(((sidecar.get("extra") or {}).get("run_config") or {}).get("sampler", {}))
    source = SfericSource(config)
    xs, ys = zip(*(source(stream_rng(SEARCH_SEED, k)) for k in range(n)), strict=True)
    return torch.from_numpy(np.stack(xs)), torch.from_numpy(np.stack(ys))


def heldout_scores(detector: SfericDetector, n_records: int) -> dict[str, float]:
    """Pooled sample-level scores of the full CNN over the held-out grid (don't-care samples excluded)."""
    scorer = Scorer(detector, methods=("cnn",))
    truth, pred = [], []
    for cell in grid(n_records=n_records):
        for rec in records(cell, HELDOUT_SEED):
            care = rec.care_mask()
            _, p = scorer.ranges(rec)["cnn"]
            truth.append(rec.mask()[care])
            pred.append((p >= detector.threshold)[care])
    return binary_scores(np.concatenate(truth), np.concatenate(pred))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", type=Path, default=DEFAULT_WEIGHTS, help="sferic checkpoint (.safetensors)")
    parser.add_argument("--records", type=int, default=4, help="held-out records per grid cell (12 cells)")
    parser.add_argument("--windows", type=int, default=32, help="training-distribution windows guiding the search")
    parser.add_argument("--n-params", type=int, default=50)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        ckpt = Path(shutil.copyfile(args.weights, tmp / "sferic.safetensors"))
        shutil.copyfile(sidecar_path(args.weights), sidecar_path(ckpt))
        sidecar = read_sidecar(ckpt)
        x, y = search_windows(sidecar, args.windows)
        plain = SfericDetector.from_checkpoint(ckpt)
        encrypted = SfericDetector.from_checkpoint(ckpt)
        decisions = partial(binary_segmenter_decisions,
                            threshold_logit=math.log(plain.threshold / (1 - plain.threshold)))
        generate_owner_keys(tmp / "o.key", tmp / "o.pub")
        t0, c0 = time.perf_counter(), time.process_time()
        report = encrypt_checkpoint(ckpt, package_out=tmp / "s.dnnpkg", key_out=tmp / "s.key",
                                    signer=load_private_key(tmp / "o.key"), owner="bench", x=x, y=y,
                                    n_params=args.n_params, progress=False, decisions=decisions)
        encrypt_s, encrypt_cpu_s = time.perf_counter() - t0, time.process_time() - c0
        t0 = time.perf_counter()
        out = decrypt_package(report.package, key_path=report.key, out=tmp / "back.safetensors",
                              owner_key=load_public_key(tmp / "o.pub"))
        decrypt_s = time.perf_counter() - t0
        restored = read_sidecar(out)["sha256"] == sidecar["sha256"]
        package = read_package(report.package, load_public_key(tmp / "o.pub"))
    encrypted.model.load_state_dict(package.state)
    encrypted.model.eval()
    n_cells = len(grid(n_records=args.records))
    n_seconds = sum(cell.seconds * cell.n_records for cell in grid(n_records=args.records))
    plain_s, enc_s = heldout_scores(plain, args.records), heldout_scores(encrypted, args.records)
    n_scored = int(plain_s["tp"] + plain_s["fp"] + plain_s["fn"] + plain_s["tn"])
    print(f"AdvParams encryption of the sferic CNN ({args.weights.name}, sha256 {sidecar['sha256'][:12]}...), "
          f"{args.windows} search windows of {x.shape[-1]} samples ({100 * float(y.mean()):.1f} % sferic), at most "
          f"{args.n_params} parameters, decision threshold p >= {plain.threshold:g}, {args.threads} torch thread(s)")
    print(f"held-out set: {n_cells} cells x {args.records} record(s) = {n_seconds:g} s at {plain.rate_hz / 1e3:g} kHz, "
          f"{n_scored} scored samples (don't-care excluded), {int(plain_s['tp'] + plain_s['fn'])} sferic samples")
    print(f"search batch per-sample accuracy {100 * report.accuracy_before:.2f} % -> "
          f"{100 * report.accuracy_after:.2f} %")
    print(f"{'model':10} {'P':>6} {'R':>6} {'F1':>6} {'#enc':>5} {'#params':>8} {'frac %':>8} "
          f"{'enc s':>6} {'enc cpu':>7} {'dec s':>6} hash")
    print(f"{'plain':10} {plain_s['precision']:6.3f} {plain_s['recall']:6.3f} {plain_s['f1']:6.3f}")
    print(f"{'encrypted':10} {enc_s['precision']:6.3f} {enc_s['recall']:6.3f} {enc_s['f1']:6.3f} "
          f"{report.n_encrypted:5d} {report.n_parameters:8d} {100 * report.fraction_encrypted:8.4f} "
          f"{encrypt_s:6.1f} {encrypt_cpu_s:7.1f} {decrypt_s:6.3f} {'exact' if restored else 'DIFFERS'}")
    print(f"relative F1 drop 1 - encrypted/plain = {100 * (1 - enc_s['f1'] / plain_s['f1']):.1f} %")


if __name__ == "__main__":
    main()
