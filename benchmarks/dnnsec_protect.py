"""AdvParams encryption of the zoo models: accuracy with and without the key, size of the key, speed.

Run: ``.venv/bin/python -m benchmarks.dnnsec_protect [--archs mnist_cnn,resnet8,resnet20] [--seeds 0,1,2]``
(needs ``dnnsec zoo build`` first). Method: Xue et al., "AdvParams: An Active DNN Intellectual Property
Protection Technique via Adversarial Perturbation Based Parameter Encryption", IEEE TETC.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import torch

import dnnsec.zoo  # noqa: F401  (registers the architectures)
from dnnsec.package.container import read_package
from dnnsec.package.protected import decrypt_package, encrypt_checkpoint
from dnnsec.package.signing import generate_owner_keys, load_private_key, load_public_key
from dnnsec.protect.key import read_key
from dnnsec.zoo.build import ZOO, zoo_path
from dnnsec.zoo.data import ImageSet, load_dataset, load_samples
from shared.architectures import build_model
from shared.checkpoint import load_checkpoint, read_sidecar


@dataclass
class Encrypted:
    """One encrypted zoo model and its measurements (accuracies are fractions, times in s)."""

    arch: str
    seed: int
    plain: torch.nn.Module
    encrypted: torch.nn.Module
    positions: set[tuple[str, int]]
    plain_acc: float
    encrypted_acc: float
    n_encrypted: int
    n_parameters: int
    encrypt_s: float
    encrypt_cpu_s: float
    decrypt_s: float
    hash_restored: bool


def encrypt_zoo_model(arch: str, seed: int, test: ImageSet, samples: int = 512, n_params: int = 50) -> Encrypted:
    """Encrypt zoo model (arch, seed) through the package path and measure it."""
    ckpt = zoo_path(arch, seed)
    plain, _ = load_checkpoint(ckpt, expected_arch=ZOO[arch].arch)
    x, y = load_samples(ZOO[arch].dataset, samples, seed=1000 + seed)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        generate_owner_keys(tmp / "o.key", tmp / "o.pub")
        t0, c0 = time.perf_counter(), time.process_time()
        report = encrypt_checkpoint(ckpt, package_out=tmp / "m.dnnpkg", key_out=tmp / "m.key",
                                    signer=load_private_key(tmp / "o.key"), owner="bench", x=x, y=y,
                                    n_params=n_params, progress=False)
        encrypt_s, encrypt_cpu_s = time.perf_counter() - t0, time.process_time() - c0
        t0 = time.perf_counter()
        out = decrypt_package(report.package, key_path=report.key, out=tmp / "back.safetensors",
                              owner_key=load_public_key(tmp / "o.pub"))
        decrypt_s = time.perf_counter() - t0
        restored = read_sidecar(out)["sha256"] == read_sidecar(ckpt)["sha256"]
        package = read_package(report.package, load_public_key(tmp / "o.pub"))
        key = read_key(report.key)
    encrypted = build_model(package.header["arch"], package.header["config"])
    encrypted.load_state_dict(package.state)
    encrypted.eval()
    return Encrypted(arch, seed, plain, encrypted, {(e.name, e.index) for e in key.entries}, test.accuracy(plain),
                     test.accuracy(encrypted), report.n_encrypted, report.n_parameters, encrypt_s, encrypt_cpu_s,
                     decrypt_s, restored)


def mean_sd(values: list[float]) -> str:
    """``mean +- sample standard deviation``."""
    sd = statistics.stdev(values) if len(values) > 1 else float("nan")
    return f"{statistics.fmean(values):7.2f} +- {sd:5.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--archs", default="mnist_cnn,resnet8,resnet20")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--samples", type=int, default=512, help="training samples guiding the search")
    parser.add_argument("--n-params", type=int, default=50)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"AdvParams encryption, {args.samples} search samples, at most {args.n_params} parameters, "
          f"{args.threads} torch threads; times: wall s and process CPU s (all threads)")
    print(f"{'arch':10} {'seed':>4} {'plain %':>8} {'enc %':>7} {'rel drop':>8} {'#enc':>5} {'#params':>8} "
          f"{'frac %':>9} {'enc s':>6} {'enc cpu':>7} {'dec s':>6} hash")
    for arch in args.archs.split(","):
        seeds = [int(s) for s in args.seeds.split(",") if zoo_path(arch, int(s)).is_file()]
        if not seeds:
            print(f"{arch:10} (not built: run `dnnsec zoo build --arch {arch}`)")
            continue
        test = load_dataset(ZOO[arch].dataset, "test")
        rows = [encrypt_zoo_model(arch, s, test, args.samples, args.n_params) for s in seeds]
        for r in rows:
            print(f"{arch:10} {r.seed:>4} {100 * r.plain_acc:8.2f} {100 * r.encrypted_acc:7.2f} "
                  f"{100 * (1 - r.encrypted_acc / r.plain_acc):7.2f}% {r.n_encrypted:5d} {r.n_parameters:8d} "
                  f"{100 * r.n_encrypted / r.n_parameters:9.5f} {r.encrypt_s:6.1f} {r.encrypt_cpu_s:7.1f} "
                  f"{r.decrypt_s:6.3f} "
                  f"{'exact' if r.hash_restored else 'DIFFERS'}")
        print(f"{arch:10} mean over {len(rows)} seeds: plain {mean_sd([100 * r.plain_acc for r in rows])} %, "
              f"encrypted {mean_sd([100 * r.encrypted_acc for r in rows])} %, paired drop "
              f"{mean_sd([100 * (r.plain_acc - r.encrypted_acc) for r in rows])} points, encrypt "
              f"{statistics.fmean(r.encrypt_s for r in rows):.1f} s, decrypt "
              f"{statistics.fmean(r.decrypt_s for r in rows):.3f} s")


if __name__ == "__main__":
    main()
