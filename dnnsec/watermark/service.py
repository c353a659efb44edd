"""Registry-backed issuing and verification of fingerprinted copies (what the ``dnnsec`` CLI calls).

* :func:`issue_copy`: make sure every registered user has a key set for the model's domain, then fine-tune the
  additional class in with the chosen user's keys as positives and all other users' keys as negatives, save the copy
  (shared-core checkpoint) and record its weights hash.
* :func:`make_null_models`: train the null models calibration needs (same architecture, data and recipe as a
  checkpoint, each with a key set of its own from an owner key made for it and thrown away).
* :func:`calibrate_registry`: fix the decision threshold on null models and store it.
* :func:`audit_registry`: check every registered key image (file present, hash as registered, owner signature).
* :func:`verify_model`: query a suspect with every user's authenticated keys and state the evidence (rank test of
  each user's keys against the others', :mod:`dnnsec.watermark.verify`).

Key sets and copies are committed with their files (:mod:`dnnsec.watermark.registry`): a user's key set in a domain
is made once, for every registered user lacking one, and the domain's key count is fixed by its first key set; an
issue asking for another count (``--keys``) is refused with the count to use. A failed issue leaves no copy file,
no copy row and no staged key file; ``out`` is never overwritten unless ``force``.

Method: Xue et al., arXiv:2104.09203; statistics in :mod:`dnnsec.watermark.verify`.
"""

from __future__ import annotations

import secrets
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from torch import nn
from tqdm.auto import tqdm

from dnnsec.errors import ModelError
from dnnsec.watermark.adapter import LinearHead, OutputAdapter, SegmenterHead
from dnnsec.watermark.bases import Domain, decoy_bases, domain_for_data, get_domain, null_slot, to_model_input
from dnnsec.watermark.embed import EmbedConfig, embed_fingerprint
from dnnsec.watermark.keys import KeySet, KeySetError, load_key_set, make_key_set, png_sha256, save_key_set
from dnnsec.watermark.registry import (
    MAX_KEYS,
    CopyRecord,
    KeyImageRecord,
    Registry,
    RegistryError,
    StagedKeySet,
    User,
)
from dnnsec.watermark.verify import Calibration, ModelEvidence, UserEvidence, calibrate, model_evidence
from dnnsec.zoo.data import load_samples
from shared.checkpoint import CheckpointError, load_checkpoint, save_checkpoint, sidecar_path, state_sha256

DEFAULT_KEYS = 20
DEFAULT_DECOYS = 300


def _public_pem(key: Ed25519PublicKey) -> str:
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def pin_owner(reg: Registry, signer: Ed25519PrivateKey) -> None:
    """Pin the owner's public key in the registry on first use; refuse a different signer later (one transaction)."""
    reg.pin_owner(_public_pem(signer.public_key()))


def check_signer(reg: Registry, signer: Ed25519PrivateKey) -> None:
    """Refuse early (before any work) a signer other than the pinned owner; pins nothing."""
    pem, pinned = _public_pem(signer.public_key()), reg.owner_pem()
    if pinned is not None and pinned != pem:
        reg.pin_owner(pem)  # raises the registry's refusal, naming both keys


def owner_key(reg: Registry, override: Ed25519PublicKey | None = None) -> Ed25519PublicKey:
    """The owner public key to check fingerprints against: ``override`` or the one pinned in the registry."""
    if override is not None:
        return override
    pem = reg.owner_pem()
    if pem is None:
        raise RegistryError(f"{reg.path}: no owner key pinned yet (issue a copy first, or pass --owner-key)")
    try:
        key = serialization.load_pem_public_key(pem.encode())
    except ValueError as exc:
        raise RegistryError(f"{reg.path}: the pinned owner key is not a readable PEM public key") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise RegistryError(f"{reg.path}: pinned owner key is not Ed25519")
    return key


def domain_key_count(reg: Registry, domain: Domain, n_keys: int | None) -> int:
    """Keys per user in ``domain``: the count fixed by its first key set, else ``n_keys`` (default
    :data:`DEFAULT_KEYS`); RegistryError if ``n_keys`` is given and differs from the fixed count."""
    fixed = reg.domain_key_count(domain.name)
    if fixed is not None and n_keys is not None and n_keys != fixed:
        raise RegistryError(f"{reg.path}: domain {domain.name!r} uses {fixed} key images per user (fixed by its "
                            f"first key set), not {n_keys}; issue with --keys {fixed} or without --keys")
    n = fixed or (DEFAULT_KEYS if n_keys is None else n_keys)
    if not 1 <= n <= MAX_KEYS:
        raise RegistryError(f"--keys must lie in 1..{MAX_KEYS}, got {n}")
    return n


def ensure_key_sets(reg: Registry, domain: Domain, signer: Ed25519PrivateKey, n_keys: int | None = None,
                    progress: bool = False) -> None:
    """Give every registered user lacking one a key set in ``domain``, all in one registry transaction.

    The images are signed and written to a staging folder first; :meth:`Registry.commit_key_sets` then checks and
    sets the owner pin, checks the domain's key count, records the sets and moves their files into place before it
    commits. The staging folder is removed whatever happens.
    """
    n = domain_key_count(reg, domain, n_keys)
    missing = [u for u in reg.users() if not reg.key_images(u.id, domain.name)]
    if not missing:
        check_signer(reg, signer)
        return
    token = secrets.token_hex(8)
    staging = reg.keys_dir / f".staging-{token}"
    try:
        staged = []
        for u in tqdm(missing, desc=f"key sets ({domain.name})", unit="user", disable=not progress):
            folder = staging / f"user{u.id:05d}"
            files = save_key_set(make_key_set(domain, signer, u.id, u.slot, n), folder)
            staged.append(StagedKeySet(u.id, folder, files))
        reg.commit_key_sets(domain.name, _public_pem(signer.public_key()), n, staged, token)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def ensure_key_set(reg: Registry, user: User, domain: Domain, signer: Ed25519PrivateKey,
                   n_keys: int | None = DEFAULT_KEYS) -> list[KeyImageRecord]:
    """The user's key images in ``domain``, made (with every other user's missing ones) if they do not exist."""
    ensure_key_sets(reg, domain, signer, n_keys)
    return reg.key_images(user.id, domain.name)


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


def audit_registry(reg: Registry, owner: Ed25519PublicKey | None = None) -> dict[str, list[str]]:
    """Check every registered key set: each image present, its hash the registered one, its fingerprint signed by
    the owner for its user and index. Return ``user -> domains checked``; KeySetError naming the first bad file."""
    owner = owner_key(reg, owner)
    out: dict[str, list[str]] = {}
    for u in reg.users():
        out[u.name] = []
        for name in reg.key_set_domains(u.id):
            load_user_keys(reg, u, get_domain(name), owner)
            out[u.name].append(name)
    return out


def model_domain(meta: dict, domain: str | None, path: Path, data: str | None = None) -> Domain:
    """The watermark domain: ``domain``, else the checkpoint's ``watermark_domain``, else that of a ``.npz`` data
    set (``data`` or the checkpoint's ``dataset``), else the checkpoint's ``dataset`` name."""
    extra = meta.get("extra") or {}
    name = domain or extra.get("watermark_domain")
    if not name:
        source = data or extra.get("dataset")
        name = domain_for_data(str(source)) if source else None
        name = name or source
    if not name:
        raise ModelError(f"{path}: checkpoint names no data set; pass --domain")
    return get_domain(str(name))


def _check_input_shape(x: torch.Tensor, dom: Domain, source: str) -> None:
    """Refuse images whose shape is not the domain's (e.g. 3-channel data with a 1-channel key domain)."""
    if x.ndim == 4:
        h, w, c = dom.shape
        if tuple(x.shape[1:]) != (c, h, w):
            raise ModelError(f"{source}: images of {tuple(x.shape[1:])} (C x H x W) do not fit watermark domain "
                             f"{dom.name!r} ({c} x {h} x {w}); leave --domain out for a .npz data set, or pick a "
                             "domain of that shape")


def _staged_name(out: Path, token: str) -> Path:
    return out.with_name(f".{out.stem}.staging-{token}.safetensors")


def refuse_existing(paths: list[Path], force: bool) -> None:
    """Refuse (before any work) outputs that exist, unless ``force``."""
    for p in paths:
        if not force and (p.exists() or p.is_symlink()):
            raise RegistryError(f"{p}: exists; pass --force to overwrite it")


@dataclass(frozen=True)
class IssueResult:
    """What :func:`issue_copy` did."""

    record: CopyRecord
    steps: int
    n_positive: int
    n_negative: int


def open_for_copy(reg: Registry, model_path: Path, user_name: str, out: Path, signer: Ed25519PrivateKey,
                  force: bool) -> tuple:
    """The checks every issued copy passes before work starts, then its user, model and checkpoint metadata.

    ``out`` must be a new ``.safetensors`` path (``force`` overwrites) other than ``model_path``; the user must be
    registered and ``signer`` the registry's pinned owner key.
    """
    if out.suffix != ".safetensors":
        raise CheckpointError(f"{out}: copies are written as .safetensors checkpoints")
    if out.resolve() == model_path.resolve():
        raise CheckpointError(f"{out}: the copy may not overwrite the model it is made from")
    refuse_existing([out, sidecar_path(out)], force)
    user = reg.user(user_name)
    check_signer(reg, signer)
    model, meta = load_checkpoint(model_path)
    return user, model, meta


def issue_copy(reg: Registry, model_path: str | Path, user_name: str, out: str | Path,
               signer: Ed25519PrivateKey, *, domain: str | None = None, data: str | None = None,
               n_clean: int = 20000, n_keys: int | None = None, n_decoys: int = DEFAULT_DECOYS,
               cfg: EmbedConfig | None = None, adapter: OutputAdapter | None = None, progress: bool = False,
               force: bool = False) -> IssueResult:
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
        The copy's checkpoint path (``.safetensors``); refused if it (or its sidecar) exists, unless ``force``.
    signer
        The owner's Ed25519 private key (signs new fingerprints; pinned in the registry on first use).
    domain
        Watermark domain (default: the checkpoint's ``watermark_domain``, else that of a ``.npz`` data set, else
        the checkpoint's ``dataset``).
    data
        Clean data for fine-tuning: ``mnist``, ``cifar10``, a ``.npz`` image data set or a ``.safetensors`` file
        with ``x``, ``y`` (default: the checkpoint's data set).
    n_clean, n_keys, n_decoys
        Clean samples used, keys per user (default: the domain's fixed count, else :data:`DEFAULT_KEYS`; another
        count than the domain's is refused), and decoys (decoy bank 0).
    cfg, adapter
        Embedding settings (default seed: the user's id) and output adapter (default ``LinearHead("fc")``).
    progress
        Progress bars on stderr (key sets, purifiers, fine-tuning).
    force
        Overwrite an existing ``out``.
    """
    model_path, out = Path(model_path), Path(out)
    user, model, meta = open_for_copy(reg, model_path, user_name, out, signer, force)
    source = data or (meta.get("extra") or {}).get("dataset")
    dom = model_domain(meta, domain, model_path, data)
    adapter = adapter or LinearHead()
    config = dict(meta["config"])
    n_classes = adapter.num_outputs(model)
    if config.get("num_classes", n_classes) != n_classes:
        raise ModelError(f"{model_path}: config num_classes {config.get('num_classes')} but {n_classes} outputs")
    if not source:
        raise ModelError(f"{model_path}: checkpoint names no training data set; pass --data")
    x, y = load_samples(str(source), n_clean, seed=user.id)
    _check_input_shape(x, dom, str(source))
    ensure_key_sets(reg, dom, signer, n_keys, progress)
    owner = owner_key(reg)
    sets = {u.id: to_model_input(load_user_keys(reg, u, dom, owner).images, dom) for u in reg.users()
            if u.id == user.id or reg.key_images(u.id, dom.name)}
    own = sets[user.id]
    others = [k for uid, k in sets.items() if uid != user.id]
    negatives = torch.cat(others) if others else None
    cfg = (cfg or EmbedConfig(seed=user.id)).for_domain(dom)
    decoys = to_model_input(decoy_bases(dom, n_decoys, 0), dom)
    copy_ = embed_fingerprint(model, adapter, x, y, own, negatives, cfg, decoys, progress=progress)
    params = {"embed": cfg.to_dict(), "n_clean": n_clean, "n_keys": len(own), "n_decoys": n_decoys,
              "base_classes": n_classes}
    record = record_issued(reg, copy_, out, user, dom, meta, {**config, "num_classes": n_classes + 1},
                           {"dataset": str(source), "watermark_domain": dom.name}, params, signer, force)
    return IssueResult(record, cfg.steps, len(own), 0 if negatives is None else len(negatives))


def record_issued(reg: Registry, copy_: nn.Module, out: Path, user: User, dom: Domain, source_meta: dict,
                  config: dict, extra: dict, params: dict, signer: Ed25519PrivateKey, force: bool) -> CopyRecord:
    """Save an issued copy under a staging name beside ``out`` and record it: one registry transaction checks the
    owner pin, inserts the copy's row (weights hash, ``params``) and moves the files onto ``out`` and its sidecar.
    Whatever happens, no staged file is left behind (a refused copy is not issued)."""
    staged = _staged_name(out, secrets.token_hex(8))
    try:
        save_checkpoint(staged, copy_, arch=source_meta["arch"], config=config, extra=extra)
        copy_id = reg.record_copy(user.id, dom.name, source_meta["sha256"], state_sha256(copy_.state_dict()),
                                  str(out), params, owner_pem=_public_pem(signer.public_key()),
                                  files=[(staged, out), (sidecar_path(staged), sidecar_path(out))], force=force)
    finally:  # recorded: moved into place; refused: not issued, so leave no copy behind
        staged.unlink(missing_ok=True)
        sidecar_path(staged).unlink(missing_ok=True)
    return next(c for c in reg.copies() if c.id == copy_id)


@dataclass(frozen=True)
class NullModel:
    """A null model written by :func:`make_null_models`: its file, seed and key slot."""

    path: Path
    seed: int
    slot: int


def null_paths(folder: Path, n: int) -> list[Path]:
    """File names of ``n`` null models in ``folder``: ``null-000.safetensors``, ..."""
    return [Path(folder) / f"null-{i:03d}.safetensors" for i in range(n)]


def make_null_models(model_path: str | Path, folder: str | Path, n: int, *, domain: str | None = None,
                     data: str | None = None, n_clean: int = 20000, n_keys: int = DEFAULT_KEYS,
                     n_decoys: int = DEFAULT_DECOYS, cfg: EmbedConfig | None = None, seed: int = 1_000_000,
                     adapter: OutputAdapter | None = None, progress: bool = False,
                     force: bool = False) -> list[NullModel]:
    """Train ``n`` null models for :func:`calibrate_registry`: K+1-output models that are not copies of ours.

    Each is the checkpoint ``model_path`` fine-tuned exactly as :func:`issue_copy` fine-tunes a copy (same data,
    recipe and steps), but on a key set of its own: an Ed25519 owner key made for it and thrown away, base images
    from the slots counted down from the end of the domain's pool (:func:`~dnnsec.watermark.bases.null_slot`),
    seed ``seed + i``, decoy bank 1 (copies use bank 0) and no negatives from the registry. They play other owners'
    copies made the same way; calibration takes the smallest Bonferroni p-value any of them reaches against the
    registered users' keys.

    Outputs are ``folder/null-NNN.safetensors`` (written atomically; existing ones refused unless ``force``).
    """
    model_path, folder = Path(model_path), Path(folder)
    if not 1 <= n <= 1000:
        raise ModelError(f"the number of null models must lie in 1..1000, got {n}")
    paths = null_paths(folder, n)
    refuse_existing([q for p in paths for q in (p, sidecar_path(p))], force)
    model, meta = load_checkpoint(model_path)
    dom = model_domain(meta, domain, model_path, data)
    adapter = adapter or LinearHead()
    config = dict(meta["config"])
    n_classes = adapter.num_outputs(model)
    source = data or (meta.get("extra") or {}).get("dataset")
    if not source:
        raise ModelError(f"{model_path}: checkpoint names no training data set; pass --data")
    x, y = load_samples(str(source), n_clean, seed=seed)
    _check_input_shape(x, dom, str(source))
    decoys = to_model_input(decoy_bases(dom, n_decoys, 1), dom)
    out = []
    for i, path in enumerate(tqdm(paths, desc="null models", unit="model", disable=not progress)):
        slot = null_slot(dom, n_keys, i)
        keys = make_key_set(dom, Ed25519PrivateKey.generate(), 2**31 - 1 - i, slot, n_keys)
        run = (cfg or EmbedConfig()).for_domain(dom)
        run = EmbedConfig(**{**run.to_dict(), "seed": seed + i})
        null = embed_fingerprint(model, adapter, x, y, to_model_input(keys.images, dom), None, run, decoys,
                                 progress=progress)
        save_checkpoint(path, null, arch=meta["arch"], config={**config, "num_classes": n_classes + 1},
                        extra={"dataset": str(source), "watermark_domain": dom.name, "null_model": True,
                               "seed": seed + i, "key_slot": slot, "source_sha256": meta["sha256"]})
        out.append(NullModel(path, seed + i, slot))
    return out


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


def domain_adapter(dom: Domain, adapter: OutputAdapter | None = None) -> OutputAdapter:
    """``adapter`` if given, else the one a domain's models take: :class:`SegmenterHead` for waveform keys
    (segmenters such as the sferic CNN), :class:`LinearHead` for image keys (classifiers)."""
    return adapter or (SegmenterHead() if dom.pool == "waveform" else LinearHead())


def calibrate_registry(reg: Registry, null_paths: list[Path], *, domain: str | None = None, alpha: float = 0.01,
                       owner: Ed25519PublicKey | None = None, adapter: OutputAdapter | None = None,
                       progress: bool = False) -> Calibration:
    """Fix and store the threshold of ``domain`` on null models (K+1 outputs, not copies of ours).

    ``null_paths`` are checkpoints or folders of them (their ``null-*.safetensors``, as :func:`make_null_models`
    writes them); a missing path or an empty folder is refused by name.
    """
    owner = owner_key(reg, owner)
    files: list[Path] = []
    for p in map(Path, null_paths):
        if p.is_dir():
            found = sorted(p.glob("null-*.safetensors"))
            if not found:
                raise ModelError(f"{p}: no null models (null-*.safetensors) here; make them with `dnnsec nulls`")
            files.extend(found)
        elif not p.is_file():
            raise ModelError(f"{p}: no such null model; make null models with `dnnsec nulls`")
        else:
            files.append(p)
    rows, dom = [], None
    for path in tqdm(files, desc="calibrate", unit="model", disable=not progress):
        model, meta = load_checkpoint(path)
        dom = dom or model_domain(meta, domain, Path(path))
        if reg.find_copy(meta["sha256"]) is not None:
            raise ModelError(f"{path}: is an issued copy, not a null model")
        head = domain_adapter(dom, adapter)
        _, ev, _ = registry_evidence(reg, model, dom, head.num_outputs(model) - 1, owner, head)
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
    model, meta = load_checkpoint(suspect)
    dom = model_domain(meta, domain, Path(suspect))
    adapter = domain_adapter(dom, adapter)
    stored = reg.calibration(dom.name)
    if stored is None:
        raise RegistryError(f"{reg.path}: no calibrated threshold for domain {dom.name!r}; run `dnnsec calibrate` "
                            "on null models first")
    try:
        cal = Calibration.from_dict(stored)
        if not 0.0 <= float(cal.p_threshold) <= 1.0:
            raise ValueError(cal.p_threshold)
    except (KeyError, TypeError, ValueError) as exc:
        raise RegistryError(f"{reg.path}: the stored calibration of domain {dom.name!r} is malformed") from exc
    outputs = adapter.num_outputs(model)
    issued_k = {c.params.get("base_classes") for c in reg.copies() if c.domain == dom.name}
    k = base_classes if base_classes is not None else (issued_k.pop() if len(issued_k) == 1 else outputs - 1)
    if not isinstance(k, int) or isinstance(k, bool) or not 1 <= k <= 1_000_000:
        raise RegistryError(f"{reg.path}: the base class count {str(k)[:20]!r} recorded for domain {dom.name!r} is "
                            "malformed")
    names, ev, n_keys = registry_evidence(reg, model, dom, k, owner_key(reg, owner), adapter)
    evidence = [] if ev is None else [
        UserEvidence(n, int(h), n_keys, float(p), bool(p < cal.p_threshold))
        for n, h, p in zip(names, ev.hits, ev.p_bonferroni, strict=True)]
    return Verdict(str(suspect), dom.name, meta["sha256"], outputs, k, reg.find_copy(meta["sha256"]), cal, evidence)
