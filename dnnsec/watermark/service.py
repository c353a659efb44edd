"""Registry-backed issuing and verification of fingerprinted copies (what the ``dnnsec`` CLI calls).

* :func:`issue_copy`: make sure every registered user has a key set for the model's domain, then fine-tune the
  additional class in with the chosen user's keys as positives and all other users' keys as negatives, save the copy
  (shared-core checkpoint) and record its weights hash.
* :func:`calibrate_registry`: fix the decision threshold on null models and store it.
* :func:`verify_model`: query a suspect with every user's authenticated keys and state the evidence (rank test of
  each user's keys against the others', :mod:`dnnsec.watermark.verify`).

Method: Xue et al., arXiv:2104.09203; statistics in :mod:`dnnsec.watermark.verify`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from torch import nn

from dnnsec.errors import ModelError
from dnnsec.watermark.adapter import LinearHead, OutputAdapter
from dnnsec.watermark.bases import Domain, decoy_bases, get_domain, to_model_input
from dnnsec.watermark.embed import EmbedConfig, embed_fingerprint
from dnnsec.watermark.keys import KeySet, KeySetError, load_key_set, make_key_set, png_sha256, save_key_set
from dnnsec.watermark.registry import CopyRecord, KeyImageRecord, Registry, RegistryError, User
from dnnsec.watermark.verify import Calibration, ModelEvidence, UserEvidence, calibrate, model_evidence
from dnnsec.zoo.data import load_samples
from shared.checkpoint import load_checkpoint, save_checkpoint, state_sha256

DEFAULT_KEYS = 20
DEFAULT_DECOYS = 300


def _public_pem(key: Ed25519PublicKey) -> str:
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def pin_owner(reg: Registry, signer: Ed25519PrivateKey) -> None:
    """Pin the owner's public key in the registry on first use; refuse a different signer later."""
    pem = _public_pem(signer.public_key())
    pinned = reg.meta("owner_public_key")
    if pinned is None:
        reg.set_meta("owner_public_key", pem)
    elif pinned != pem:
        raise RegistryError(f"{reg.path}: the signing key is not the owner key pinned in this registry")


def owner_key(reg: Registry, override: Ed25519PublicKey | None = None) -> Ed25519PublicKey:
    """The owner public key to check fingerprints against: ``override`` or the one pinned in the registry."""
    if override is not None:
        return override
    pem = reg.meta("owner_public_key")
    if pem is None:
        raise RegistryError(f"{reg.path}: no owner key pinned yet (issue a copy first, or pass --owner-key)")
    key = serialization.load_pem_public_key(pem.encode())
    if not isinstance(key, Ed25519PublicKey):
        raise RegistryError(f"{reg.path}: pinned owner key is not Ed25519")
    return key


def key_set_fingerprint(records: list[KeyImageRecord]) -> str:
    """The user's fingerprint in a domain: SHA-256 over the SHA-256 of every key image, in index order."""
    return hashlib.sha256("".join(r.sha256 for r in records).encode()).hexdigest()


def ensure_key_set(reg: Registry, user: User, domain: Domain, signer: Ed25519PrivateKey,
                   n_keys: int = DEFAULT_KEYS) -> list[KeyImageRecord]:
    """The user's key images in ``domain``, generated, written as PNG and recorded if they do not exist yet."""
    existing = reg.key_images(user.id, domain.name)
    if existing:
        return existing
    key_set = make_key_set(domain, signer, user.id, user.slot, n_keys)
    files = save_key_set(key_set, reg.folder / "keys" / f"user{user.id:05d}-{domain.name}")
    records = [KeyImageRecord(i, str(p), sha) for i, (p, sha) in enumerate(files)]
    try:
        reg.add_key_set(user.id, domain.name, key_set_fingerprint(records), records)
    except RegistryError:
        existing = reg.key_images(user.id, domain.name)  # a concurrent issuer wrote the same keys first
        if not existing:
            raise
        return existing
    return records


def load_user_keys(reg: Registry, user: User, domain: Domain, owner: Ed25519PublicKey) -> KeySet:
    """Read a user's key images, check each file's hash against the registry and its signed fingerprint."""
    records = reg.key_images(user.id, domain.name)
    if not records:
        raise KeySetError(f"{reg.path}: user {user.name!r} has no {domain.name} key set")
    for r in records:
        if not Path(r.path).is_file():
            raise KeySetError(f"{r.path}: key image of user {user.name!r} is missing")
        if png_sha256(Path(r.path)) != r.sha256:
            raise KeySetError(f"{r.path}: key image of user {user.name!r} changed since registration "
                              "(hash differs from the registry's)")
    return load_key_set([Path(r.path) for r in records], owner, user.id, domain.shape[2])


def _model_domain(meta: dict, domain: str | None, path: Path) -> Domain:
    name = domain or (meta.get("extra") or {}).get("watermark_domain") or (meta.get("extra") or {}).get("dataset")
    if not name:
        raise ModelError(f"{path}: checkpoint names no data set; pass --domain")
    return get_domain(str(name))


@dataclass(frozen=True)
class IssueResult:
    """What :func:`issue_copy` did."""

    record: CopyRecord
    steps: int
    n_positive: int
    n_negative: int


def issue_copy(reg: Registry, model_path: str | Path, user_name: str, out: str | Path,
               signer: Ed25519PrivateKey, *, domain: str | None = None, data: str | None = None,
               n_clean: int = 20000, n_keys: int = DEFAULT_KEYS, n_decoys: int = DEFAULT_DECOYS,
               cfg: EmbedConfig | None = None,
               adapter: OutputAdapter | None = None, progress: bool = False) -> IssueResult:
    """Issue user ``user_name`` a fingerprinted copy of checkpoint ``model_path`` written to ``out``.

    Parameters
    ----------
    reg
        The owner's registry.
    model_path
        Shared-core checkpoint of the trained K-class model; its architecture builder must take ``num_classes``.
    user_name
        A registered user.
    out
        The copy's checkpoint path (``.safetensors``).
    signer
        The owner's Ed25519 private key (signs new fingerprints; pinned in the registry on first use).
    domain
        Watermark domain (default: the checkpoint's ``watermark_domain`` or ``dataset``).
    data
        Clean data for fine-tuning: ``mnist``, ``cifar10`` or a ``.safetensors`` file with ``x``, ``y``
        (default: the checkpoint's data set).
    n_clean, n_keys, n_decoys
        Clean samples used, keys per user (new key sets only), and decoys (decoy bank 0).
    cfg, adapter
        Embedding settings (default seed: the user's id) and output adapter (default ``LinearHead("fc")``).
    """
    model_path, out = Path(model_path), Path(out)
    user = reg.user(user_name)
    pin_owner(reg, signer)
    model, meta = load_checkpoint(model_path)
    dom = _model_domain(meta, domain, model_path)
    adapter = adapter or LinearHead()
    config = dict(meta["config"])
    n_classes = adapter.num_outputs(model)
    if config.get("num_classes", n_classes) != n_classes:
        raise ModelError(f"{model_path}: config num_classes {config.get('num_classes')} but {n_classes} outputs")
    owner = owner_key(reg)
    sets = {}
    for u in reg.users():
        ensure_key_set(reg, u, dom, signer, n_keys)
        sets[u.id] = to_model_input(load_user_keys(reg, u, dom, owner).images, dom)
    own = sets[user.id]
    others = [k for uid, k in sets.items() if uid != user.id]
    negatives = torch.cat(others) if others else None
    source = data or (meta.get("extra") or {}).get("dataset")
    if not source:
        raise ModelError(f"{model_path}: checkpoint names no training data set; pass --data")
    x, y = load_samples(str(source), n_clean, seed=user.id)
    cfg = (cfg or EmbedConfig(seed=user.id)).for_domain(dom)
    decoys = to_model_input(decoy_bases(dom, n_decoys, 0), dom)
    copy_ = embed_fingerprint(model, adapter, x, y, own, negatives, cfg, decoys, progress=progress)
    save_checkpoint(out, copy_, arch=meta["arch"], config={**config, "num_classes": n_classes + 1},
                    extra={"dataset": source, "watermark_domain": dom.name})
    digest = state_sha256(copy_.state_dict())
    params = {"embed": cfg.to_dict(), "n_clean": n_clean, "n_keys": len(own), "n_decoys": n_decoys,
              "base_classes": n_classes}
    try:
        copy_id = reg.record_copy(user.id, dom.name, meta["sha256"], digest, str(out), params)
    except RegistryError:  # not recorded, so not issued: leave no copy behind
        out.unlink(missing_ok=True)
        out.with_suffix(".json").unlink(missing_ok=True)
        raise
    record = next(c for c in reg.copies() if c.id == copy_id)
    return IssueResult(record, cfg.steps, len(own), 0 if negatives is None else len(negatives))


def registry_evidence(reg: Registry, model: nn.Module, dom: Domain, n_classes: int, owner: Ed25519PublicKey,
                      adapter: OutputAdapter) -> tuple[list[str], ModelEvidence | None, int]:
    """Users with keys in ``dom``, the model's evidence on their authenticated keys, and keys per user."""
    names, key_sets = [], []
    for u in reg.users():
        if reg.key_images(u.id, dom.name):
            names.append(u.name)
            key_sets.append(to_model_input(load_user_keys(reg, u, dom, owner).images, dom))
    if len(names) < 2:
        raise RegistryError(f"{reg.path}: the rank test needs at least two users with {dom.name} key sets")
    return names, model_evidence(model, adapter, key_sets, n_classes), len(key_sets[0])


def calibrate_registry(reg: Registry, null_paths: list[Path], *, domain: str | None = None, alpha: float = 0.01,
                       owner: Ed25519PublicKey | None = None, adapter: OutputAdapter | None = None) -> Calibration:
    """Fix and store the threshold of ``domain`` on null models (K+1 outputs, not copies of ours)."""
    adapter = adapter or LinearHead()
    owner = owner_key(reg, owner)
    rows, dom = [], None
    for path in null_paths:
        model, meta = load_checkpoint(path)
        dom = dom or _model_domain(meta, domain, Path(path))
        if reg.find_copy(meta["sha256"]) is not None:
            raise ModelError(f"{path}: is an issued copy, not a null model")
        _, ev, _ = registry_evidence(reg, model, dom, adapter.num_outputs(model) - 1, owner, adapter)
        if ev is None:
            raise ModelError(f"{path}: a null model needs the additional output")
        rows.append(ev.p_bonferroni)
    if dom is None:
        raise ModelError("calibration needs at least one null model")
    cal = calibrate(np.array(rows), alpha)
    reg.set_calibration(dom.name, cal.to_dict())
    return cal


@dataclass
class Verdict:
    """The outcome of verifying a suspect model, with its evidence."""

    suspect: str
    domain: str
    model_sha256: str
    outputs: int
    base_classes: int
    exact_copy: CopyRecord | None
    calibration: Calibration
    evidence: list[UserEvidence] = field(default_factory=list)

    @property
    def significant(self) -> list[str]:
        return [e.user for e in self.evidence if e.significant]

    @property
    def owned(self) -> bool:
        return bool(self.significant) or self.exact_copy is not None

    @property
    def user(self) -> str | None:
        """The one traced user (None if none, or if more than one is significant)."""
        if len(self.significant) == 1:
            return self.significant[0]
        return self.exact_copy.user if self.exact_copy is not None and not self.significant else None


def verify_model(reg: Registry, suspect: str | Path, *, domain: str | None = None, base_classes: int | None = None,
                 owner: Ed25519PublicKey | None = None, adapter: OutputAdapter | None = None) -> Verdict:
    """Verify checkpoint ``suspect``: exact-hash match with an issued copy, and black-box key evidence per user.

    ``base_classes`` is K (default: the K of the copies issued in this domain, else the suspect's outputs minus
    one); a suspect with only K outputs cannot answer K+1 and yields no black-box evidence. Raises RegistryError
    if the domain has no calibration yet.
    """
    adapter = adapter or LinearHead()
    model, meta = load_checkpoint(suspect)
    dom = _model_domain(meta, domain, Path(suspect))
    stored = reg.calibration(dom.name)
    if stored is None:
        raise RegistryError(f"{reg.path}: no calibrated threshold for domain {dom.name!r}; run `dnnsec calibrate` "
                            "on null models first")
    cal = Calibration.from_dict(stored)
    outputs = adapter.num_outputs(model)
    issued_k = {c.params.get("base_classes") for c in reg.copies() if c.domain == dom.name}
    k = base_classes if base_classes is not None else (issued_k.pop() if len(issued_k) == 1 else outputs - 1)
    names, ev, n_keys = registry_evidence(reg, model, dom, k, owner_key(reg, owner), adapter)
    evidence = [] if ev is None else [
        UserEvidence(n, int(h), n_keys, float(p), bool(p < cal.p_threshold))
        for n, h, p in zip(names, ev.hits, ev.p_bonferroni, strict=True)]
    return Verdict(str(suspect), dom.name, meta["sha256"], outputs, k, reg.find_copy(meta["sha256"]), cal, evidence)
