"""Image data sets for the model zoo, read in place from ``shared.paths.data_root()/images``.

MNIST comes as the original IDX files (LeCun et al., 1998) and CIFAR-10 (Krizhevsky, 2009) as a zip of
JPEG image folders; neither needs torchvision. Decoded CIFAR-10 pixels are cached as a pickle-free ``.npz``
under ``shared.paths.cache_root()`` because decoding 60,000 JPEGs takes tens of seconds.

A user's own image data set is an ``.npz`` file (:func:`load_npz`): ``train_images``, ``train_labels``,
``test_images``, ``test_labels``; images uint8 N x H x W x C (28 to 64 pixels a side, 1 or 3 channels), labels
integers 0..K-1. Its arrays are checked from their ``.npy`` headers before anything is read, so a malformed or
oversized file is refused by name and field without loading it.
"""

from __future__ import annotations

import gzip
import io
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from dnnsec.errors import DnnsecError
from shared.atomic import atomic_path
from shared.metrics import clean_accuracy
from shared.paths import cache_root, data_root

CIFAR10_CLASSES = (
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
)
# Per-channel mean and standard deviation of the pixel intensity in [0, 1] (training split).
MNIST_MEAN_STD = ((0.1307,), (0.3081,))
CIFAR10_MEAN_STD = ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616))
#: Standardisation of every channel of a user's ``.npz`` images: (x / 255 - 0.5) / 0.25 (fixed, so that a model and
#: its watermark domain agree without the data file).
NPZ_MEAN, NPZ_STD = 0.5, 0.25
#: Bounds on a user's ``.npz`` data set: pixels a side, channel counts, samples per split, classes.
NPZ_SIDE, NPZ_CHANNELS, NPZ_MAX_SAMPLES, NPZ_MAX_CLASSES = (28, 64), (1, 3), 2_000_000, 100_000
NPZ_FIELDS = ("train_images", "train_labels", "test_images", "test_labels")


class DataError(DnnsecError):
    """A data file is missing or malformed; the message names the file and the problem."""


@dataclass(frozen=True)
class ImageSet:
    """Normalised images and integer labels.

    Attributes
    ----------
    x : torch.Tensor
        float32, shape (N, C, H, W), per-channel standardised intensities (dimensionless).
    y : torch.Tensor
        int64, shape (N,), class index in [0, num_classes).
    name : str
        Data set and split, e.g. ``"mnist/train"``.
    """

    x: torch.Tensor
    y: torch.Tensor
    name: str
    num_classes: int = 10

    def __len__(self) -> int:
        return int(self.y.shape[0])

    def subset(self, index: np.ndarray | torch.Tensor, name: str | None = None) -> ImageSet:
        """Return the samples at ``index`` (a new ImageSet sharing no storage with this one)."""
        idx = torch.as_tensor(np.asarray(index), dtype=torch.long)
        return ImageSet(self.x[idx].clone(), self.y[idx].clone(), name or f"{self.name}[{len(idx)}]",
                        self.num_classes)

    def fraction(self, frac: float, seed: int) -> ImageSet:
        """Return a seeded random ``frac`` (0 < frac <= 1) of the samples."""
        if not 0.0 < frac <= 1.0:
            raise ValueError(f"fraction must lie in (0, 1], got {frac}")
        n = max(1, round(frac * len(self)))
        idx = np.random.default_rng(seed).permutation(len(self))[:n]
        return self.subset(np.sort(idx), f"{self.name}[{frac:g}]")

    def batches(self, batch_size: int = 500) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Yield the samples once, in order, as ``(x, y)`` batches (for evaluation)."""
        for start in range(0, len(self), batch_size):
            yield self.x[start:start + batch_size], self.y[start:start + batch_size]

    def accuracy(self, model: torch.nn.Module) -> float:
        """Top-1 accuracy (fraction) of ``model`` (evaluated in eval mode) on these samples."""
        with torch.no_grad():
            return clean_accuracy(model, self.batches())


def _read_idx(path: Path, expected_dims: int) -> np.ndarray:
    """Read one gzip-compressed IDX file (unsigned bytes) into a numpy array."""
    if not path.is_file():
        raise DataError(f"{path}: MNIST IDX file not found")
    try:
        raw = gzip.decompress(path.read_bytes())
    except (OSError, EOFError) as exc:
        raise DataError(f"{path}: not a readable gzip file ({exc})") from exc
    if len(raw) < 4 or raw[0:2] != b"\x00\x00" or raw[2] != 0x08 or raw[3] != expected_dims:
        raise DataError(f"{path}: bad IDX magic {raw[:4].hex()}, expected unsigned-byte data "
                        f"with {expected_dims} dimensions")
    dims = np.frombuffer(raw, dtype=">u4", count=expected_dims, offset=4).astype(int)
    offset = 4 + 4 * expected_dims
    if len(raw) - offset != int(np.prod(dims)):
        raise DataError(f"{path}: header says {tuple(dims)} but holds {len(raw) - offset} bytes of data")
    return np.frombuffer(raw, dtype=np.uint8, offset=offset).reshape(tuple(dims))


def _standardise(images_u8: np.ndarray, mean_std: tuple[tuple[float, ...], tuple[float, ...]]) -> torch.Tensor:
    x = torch.from_numpy(images_u8.astype(np.float32) / 255.0)
    if x.ndim == 3:
        x = x.unsqueeze(1)
    else:
        x = x.permute(0, 3, 1, 2).contiguous()
    mean = torch.tensor(mean_std[0]).view(1, -1, 1, 1)
    std = torch.tensor(mean_std[1]).view(1, -1, 1, 1)
    return (x - mean) / std


def load_mnist(split: str = "train", root: Path | None = None) -> ImageSet:
    """Load the MNIST ``"train"`` (60,000) or ``"test"`` (10,000) split, 1x28x28, standardised."""
    prefix = {"train": "train", "test": "t10k"}.get(split)
    if prefix is None:
        raise ValueError(f"MNIST split must be 'train' or 'test', got {split!r}")
    folder = (root or data_root()) / "images" / "mnist"
    images = _read_idx(folder / f"{prefix}-images-idx3-ubyte.gz", 3)
    labels = _read_idx(folder / f"{prefix}-labels-idx1-ubyte.gz", 1)
    if len(images) != len(labels):
        raise DataError(f"{folder}: {len(images)} {split} images but {len(labels)} labels")
    return ImageSet(_standardise(images, MNIST_MEAN_STD), torch.from_numpy(labels.astype(np.int64)),
                    f"mnist/{split}")


def _decode_cifar10(zip_path: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    from PIL import Image  # pillow comes with matplotlib

    if not zip_path.is_file():
        raise DataError(f"{zip_path}: CIFAR-10 zip not found")
    images, labels = [], []
    try:
        with zipfile.ZipFile(zip_path) as zf:
            names = sorted(n for n in zf.namelist() if n.startswith(f"cifar10/{split}/") and n.endswith(".jpg"))
            for name in names:
                cls = name.split("/")[2]
                if cls not in CIFAR10_CLASSES:
                    raise DataError(f"{zip_path}: unknown class folder in {name}")
                with Image.open(io.BytesIO(zf.read(name))) as im:
                    arr = np.asarray(im.convert("RGB"), dtype=np.uint8)
                if arr.shape != (32, 32, 3):
                    raise DataError(f"{zip_path}: {name} is {arr.shape}, expected 32x32 RGB")
                images.append(arr)
                labels.append(CIFAR10_CLASSES.index(cls))
    except zipfile.BadZipFile as exc:
        raise DataError(f"{zip_path}: not a readable zip file ({exc})") from exc
    if not images:
        raise DataError(f"{zip_path}: no images under cifar10/{split}/")
    return np.stack(images), np.asarray(labels, dtype=np.int64)


def load_cifar10(split: str = "train", root: Path | None = None, cache: Path | None = None) -> ImageSet:
    """Load the CIFAR-10 ``"train"`` (50,000) or ``"test"`` (10,000) split, 3x32x32, standardised.

    The first call decodes the JPEGs and caches the uint8 pixels in ``cache_root()/data``.
    """
    if split not in ("train", "test"):
        raise ValueError(f"CIFAR-10 split must be 'train' or 'test', got {split!r}")
    zip_path = (root or data_root()) / "images" / "cifar10-jpeg.zip"
    cache_file = (cache or cache_root()) / "data" / f"cifar10-{split}.npz"
    if cache_file.is_file():
        with np.load(cache_file, allow_pickle=False) as npz:
            images, labels = npz["images"], npz["labels"]
    else:
        images, labels = _decode_cifar10(zip_path, split)
        with atomic_path(cache_file) as tmp, open(tmp, "wb") as fh:
            np.savez(fh, images=images, labels=labels)
    return ImageSet(_standardise(images, CIFAR10_MEAN_STD), torch.from_numpy(labels), f"cifar10/{split}")


def npz_mean_std(channels: int) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and standard deviation (intensity in [0, 1]) used for ``.npz`` data sets."""
    return (NPZ_MEAN,) * channels, (NPZ_STD,) * channels


def _npz_headers(path: Path) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
    """Shape and dtype of every array of an ``.npz`` file, read from the ``.npy`` headers alone."""
    if not path.is_file():
        raise DataError(f"{path}: no such .npz data file")
    out = {}
    try:
        with zipfile.ZipFile(path) as zf:
            for info in zf.infolist()[:64]:
                if not info.filename.endswith(".npy"):
                    continue
                with zf.open(info) as fh:
                    version = np.lib.format.read_magic(fh)
                    if version not in ((1, 0), (2, 0)):
                        raise DataError(f"{path}: field {info.filename[:-4]!r} has .npy format {version}")
                    read = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                            else np.lib.format.read_array_header_2_0)
                    shape, _fortran, dtype = read(fh, max_header_size=1024)
                out[info.filename[:-4]] = (tuple(int(d) for d in shape), np.dtype(dtype))
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise DataError(f"{path}: not a readable .npz file ({exc})") from exc
    return out


def npz_shape(path: str | Path) -> tuple[int, int, int]:
    """Image shape (H, W, C) of a ``.npz`` data set, checked field by field from its headers (no data read).

    Raises
    ------
    DataError
        Naming the file and the field: a missing field, images that are not uint8 N x H x W x C with H and W in
        28..64 and C 1 or 3, labels that are not 1-D integers with one per image, or a test split of another
        image shape.
    """
    path = Path(path)
    heads = _npz_headers(path)
    shape = None
    for split in ("train", "test"):
        for field in (f"{split}_images", f"{split}_labels"):
            if field not in heads:
                raise DataError(f"{path}: field {field!r} is missing (a data set needs {', '.join(NPZ_FIELDS)}; "
                                f"found {sorted(heads) or 'none'})")
        (ishape, idtype), (lshape, ldtype) = heads[f"{split}_images"], heads[f"{split}_labels"]
        field = f"{split}_images"
        if idtype != np.uint8:
            raise DataError(f"{path}: field {field!r} is {idtype}, expected uint8 pixels")
        if len(ishape) != 4 or not NPZ_SIDE[0] <= ishape[1] <= NPZ_SIDE[1] or not NPZ_SIDE[0] <= ishape[2] \
                <= NPZ_SIDE[1] or ishape[3] not in NPZ_CHANNELS:
            raise DataError(f"{path}: field {field!r} has shape {ishape}, expected N x H x W x C with H and W in "
                            f"{NPZ_SIDE[0]}..{NPZ_SIDE[1]} and C in {NPZ_CHANNELS}")
        if not 1 <= ishape[0] <= NPZ_MAX_SAMPLES:
            raise DataError(f"{path}: field {field!r} holds {ishape[0]} images, expected 1..{NPZ_MAX_SAMPLES}")
        if ldtype.kind not in "iu" or lshape != (ishape[0],):
            raise DataError(f"{path}: field '{split}_labels' is {ldtype} of shape {lshape}, expected "
                            f"{ishape[0]} integer labels (one per image)")
        if shape is not None and ishape[1:] != shape:
            raise DataError(f"{path}: field {field!r} has images of {ishape[1:]}, train_images {shape}")
        shape = ishape[1:]
    return shape


def load_npz(path: str | Path, split: str = "train") -> ImageSet:
    """Load split ``"train"`` or ``"test"`` of a user's ``.npz`` image data set, standardised per channel
    (:data:`NPZ_MEAN`, :data:`NPZ_STD`).

    The class count K is one more than the largest training label; labels must lie in 0..K-1 in both splits.

    Raises
    ------
    DataError
        Naming the file and the field (see :func:`npz_shape`), or labels out of range.
    """
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    path = Path(path)
    h, w, c = npz_shape(path)
    try:
        with np.load(path, allow_pickle=False) as npz:
            images = npz[f"{split}_images"]
            both = {s: npz[f"{s}_labels"].astype(np.int64) for s in ("train", "test")}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise DataError(f"{path}: field {split}_images or a labels field is unreadable ({exc})") from exc
    train_labels, labels = both["train"], both[split]
    k = int(train_labels.max()) + 1
    if int(train_labels.min()) < 0 or not 2 <= k <= NPZ_MAX_CLASSES:
        raise DataError(f"{path}: field 'train_labels' spans {int(train_labels.min())}..{k - 1}, expected "
                        f"0..K-1 with 2 <= K <= {NPZ_MAX_CLASSES}")
    test = both["test"]
    if int(test.min()) < 0 or int(test.max()) >= k:
        raise DataError(f"{path}: field 'test_labels' spans {int(test.min())}..{int(test.max())}, outside the "
                        f"training classes 0..{k - 1}")
    return ImageSet(_standardise(images.reshape(-1, h, w, c), npz_mean_std(c)), torch.from_numpy(labels),
                    f"{path.name}/{split}", k)


DATASETS = {"mnist": load_mnist, "cifar10": load_cifar10}


def load_dataset(name: str, split: str = "train") -> ImageSet:
    """Load a zoo data set by name (``"mnist"`` or ``"cifar10"``) or a user's ``.npz`` file (:func:`load_npz`)."""
    if name.endswith(".npz"):
        return load_npz(name, split)
    if name not in DATASETS:
        raise DataError(f"unknown data set {name!r}; known: {sorted(DATASETS)} or a .npz file")
    return DATASETS[name](split)


def load_samples(source: str, n: int, seed: int = 0, label_ndim: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` seeded training samples ``(x, y)`` from a zoo data set name or a safetensors file.

    Parameters
    ----------
    source : str
        ``"mnist"``, ``"cifar10"``, a user's ``.npz`` image data set (:func:`load_npz`, training split), or the
        path of a ``.safetensors`` file holding a float tensor ``x``
        (N, ...) and an integer tensor ``y`` (N,) (e.g. any model's own data), or (N, T) per-sample labels of a
        segmenter such as the 1-D sferic CNN (``label_ndim=2``).
    n : int
        Number of samples (all of them if the source holds fewer).
    seed : int
        Seed of the random subset.
    label_ndim : int
        Dimensions ``y`` must have: 1 for class labels, 2 for per-sample labels.
    """
    if source in DATASETS or (source.endswith(".npz") and label_ndim == 1):
        data = load_dataset(source, "train")
        x, y = data.x, data.y
    else:
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        path = Path(source)
        if not path.is_file():
            raise DataError(f"{path}: no such data file (give mnist, cifar10, a .npz or a .safetensors file)")
        try:
            tensors = load_file(str(path))
        except (SafetensorError, OSError) as exc:
            raise DataError(f"{path}: not a readable safetensors file ({exc})") from exc
        if "x" not in tensors or "y" not in tensors:
            raise DataError(f"{path}: needs tensors 'x' and 'y', found {sorted(tensors)}")
        x, y = tensors["x"].float(), tensors["y"].long()
        if len(x) != len(y) or y.ndim != label_ndim:
            raise DataError(
                f"{path}: x has {len(x)} samples but y has shape {tuple(y.shape)} (need {label_ndim}-D labels, "
                f"one entry per sample first)"
            )
    idx = torch.from_numpy(np.sort(np.random.default_rng(seed).permutation(len(y))[:n]))
    return x[idx].clone(), y[idx].clone()
