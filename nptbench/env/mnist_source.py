"""Where MNIST lies on this machine, and what the suite would use, from file names alone (nothing is read).

``$MNIST_DIR`` if set, else ``$XDG_CACHE_HOME/nptbench/mnist`` (``~/.cache/...``), holding Nielsen's
``mnist.pkl.gz`` (seed 004) or the official IDX files. Reading, downloading and the synthetic stand-in are
the checkout's fixtures/mnist.py (the data of the benchmarks); the doctor asks this module, which needs
no checkout.
"""
from __future__ import annotations

import os
from pathlib import Path

MNIST_URL = "https://github.com/mnielsen/neural-networks-and-deep-learning/blob/master/data/mnist.pkl.gz?raw=true"
PKL_NAME = "mnist.pkl.gz"
IDX = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}


def cache_dir() -> Path:
    if os.environ.get("MNIST_DIR"):
        return Path(os.environ["MNIST_DIR"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "nptbench" / "mnist"


def describe_source(directory=None, *, download_ok: bool = True, url: str = MNIST_URL) -> str:
    """In one line, what :func:`load_mnist` would use, from the file names alone (nothing is read)."""
    directory = Path(directory) if directory is not None else cache_dir()
    if (directory / PKL_NAME).exists():
        return f"real: {directory / PKL_NAME}"
    have = {k: (directory / v).exists() for k, v in IDX.items()}
    if any(have.values()):
        real = [part for part in ("train", "test") if have[f"{part}_images"] and have[f"{part}_labels"]]
        if real == ["test"]:
            return f"IDX files in {directory}: t10k real (it stands in for valid), train synthetic"
        return f"IDX files in {directory}: {', '.join(real) or 'no complete pair'} real, the rest synthetic"
    if download_ok:
        return f"nothing in {directory}: the default and seed profiles download {PKL_NAME} from {url}"
    return f"nothing in {directory} and downloading is off: seeded synthetic data (dataset=synthetic)"
