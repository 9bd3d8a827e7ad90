"""The MNIST loader (fixtures/mnist.py): real IDX digits, the pickled split, atomic download from a local
server, offline fallback, and clear errors on truncated, corrupt or wrong-shaped files."""
from __future__ import annotations

import gzip
import http.server
import os
import pickle
import shutil
import socket
import struct
import threading
from pathlib import Path

import numpy as np
import pytest

from fixtures import mnist as M

SHARED_T10K = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mnist_idx_t10k"
SMALL = (60, 20, 20)  # counts of the small pickles made here


def make_pickle(path: Path, counts=SMALL, cols=M.PIXELS, seed=0) -> Path:
    rng = np.random.default_rng(seed)
    splits = tuple(
        ((rng.integers(0, 256, (n, cols)) / 256).astype(np.float32), rng.integers(0, 10, n).astype(np.int64))
        for n in counts
    )
    with gzip.open(path, "wb") as f:
        pickle.dump(splits, f, protocol=2)
    return path


def make_idx(path: Path, kind: str, n: int, magic=None, cut: int = 0) -> Path:
    if kind == "images":
        header = struct.pack(">4i", magic or 2051, n, 28, 28)
        body = np.arange(n * 784, dtype=np.uint64).astype(np.uint8).tobytes()
    else:
        header = struct.pack(">2i", magic or 2049, n)
        body = (np.arange(n) % 10).astype(np.uint8).tobytes()
    data = header + body
    with gzip.open(path, "wb") as f:
        f.write(data[: len(data) - cut])
    return path


# --- real digits --------------------------------------------------------------------------------------

@pytest.mark.skipif(not SHARED_T10K.is_dir(), reason=f"real MNIST t10k files not found at {SHARED_T10K}")
def test_real_t10k_idx_gives_validation_digits(tmp_path):
    for f in SHARED_T10K.glob("t10k-*"):
        shutil.copy(f, tmp_path)
    data = M.load_mnist(tmp_path, download_ok=False)
    assert data.x_valid.shape == (10000, 784) and data.x_valid.dtype == np.float32
    assert list(data.y_valid[:10]) == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]  # per the data's README
    assert data.dataset("valid") == "mnist" and data.dataset("test") == "mnist"
    # pixels are k/256 for uint8 k: the set of values is a subset of that grid, 0 included
    k = data.x_valid * 256
    assert np.array_equal(k, np.round(k)) and k.min() == 0 and k.max() <= 255
    # no training files: that split is synthetic, and the notice says so
    assert data.dataset("train") == "synthetic" and data.x_train.shape == (50000, 784)
    assert "train" in data.notice


def test_idx_train_files_give_nielsen_split(tmp_path):
    make_idx(tmp_path / M.IDX["train_images"], "images", 12)
    make_idx(tmp_path / M.IDX["train_labels"], "labels", 12)
    data = M.load_mnist(tmp_path, download_ok=False, counts=(8, 4, 3))
    assert data.x_train.shape == (8, 784) and data.x_valid.shape == (4, 784)
    assert list(data.y_valid) == [8, 9, 0, 1]  # rows 8..11 of the training file
    assert data.sources == {"train": "mnist", "valid": "mnist", "test": "synthetic"}


# --- the pickled split and its faults -----------------------------------------------------------------

def test_pickle_in_cache_is_used(tmp_path):
    make_pickle(tmp_path / M.PKL_NAME)
    data = M.load_mnist(tmp_path, download_ok=False, counts=SMALL)
    assert data.x_train.shape == (60, 784) and data.y_test.dtype == np.int64
    assert set(data.sources.values()) == {"mnist"} and data.notice is None


def test_truncated_pickle_names_file(tmp_path):
    path = make_pickle(tmp_path / M.PKL_NAME)
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(M.MnistError, match=r"mnist\.pkl\.gz: truncated or corrupt gzip"):
        M.load_mnist(tmp_path, download_ok=False, counts=SMALL)


def test_corrupt_pickle_names_file(tmp_path):
    (tmp_path / M.PKL_NAME).write_bytes(b"this is not gzip at all" * 10)
    with pytest.raises(M.MnistError, match=str(tmp_path / M.PKL_NAME)):
        M.load_mnist(tmp_path, download_ok=False, counts=SMALL)


def test_wrong_shape_pickle_says_what_is_wrong(tmp_path):
    make_pickle(tmp_path / M.PKL_NAME, cols=783)
    with pytest.raises(M.MnistError, match=r"x_train has shape \(60, 783\), expected \(N, 784\)"):
        M.load_mnist(tmp_path, download_ok=False, counts=SMALL)


def test_wrong_row_count_is_refused(tmp_path):
    make_pickle(tmp_path / M.PKL_NAME, counts=(10, 20, 20))
    with pytest.raises(M.MnistError, match="x_train has 10 rows, expected 60"):
        M.load_mnist(tmp_path, download_ok=False, counts=SMALL)


def test_pickle_that_runs_code_is_refused(tmp_path):
    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    with gzip.open(tmp_path / M.PKL_NAME, "wb") as f:
        pickle.dump(Evil(), f, protocol=2)
    with pytest.raises(M.MnistError, match="refusing to load"):
        M.load_mnist(tmp_path, download_ok=False, counts=SMALL)


def test_truncated_idx_names_file(tmp_path):
    make_idx(tmp_path / M.IDX["test_images"], "images", 5, cut=100)
    make_idx(tmp_path / M.IDX["test_labels"], "labels", 5)
    with pytest.raises(M.MnistError, match=r"t10k-images-idx3-ubyte\.gz: 3820 data bytes, header promises 3920"):
        M.load_mnist(tmp_path, download_ok=False)


def test_idx_wrong_magic(tmp_path):
    make_idx(tmp_path / M.IDX["test_images"], "images", 5, magic=2049)
    make_idx(tmp_path / M.IDX["test_labels"], "labels", 5)
    with pytest.raises(M.MnistError, match="IDX magic 2049, expected 2051"):
        M.load_mnist(tmp_path, download_ok=False)


def test_idx_without_partner(tmp_path):
    make_idx(tmp_path / M.IDX["test_images"], "images", 5)
    with pytest.raises(M.MnistError, match="found without its partner t10k-labels-idx1-ubyte.gz"):
        M.load_mnist(tmp_path, download_ok=False)


# --- offline fallback ---------------------------------------------------------------------------------

def test_no_download_falls_back_to_synthetic_with_notice(tmp_path):
    data = M.load_mnist(tmp_path, download_ok=False, counts=SMALL)
    assert set(data.sources.values()) == {"synthetic"}
    assert "synthetic" in data.notice and "downloading is off" in data.notice
    assert not any(tmp_path.iterdir())


def test_unreachable_server_falls_back(tmp_path):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    data = M.load_mnist(tmp_path, url=f"http://127.0.0.1:{port}/mnist.pkl.gz", counts=SMALL, timeout=5)
    assert data.dataset("valid") == "synthetic" and "download failed" in data.notice
    assert not any(tmp_path.iterdir())


def test_synthetic_is_seeded_and_digit_like():
    a, b = M.synthetic(SMALL), M.synthetic(SMALL)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    x = a["x_train"]
    assert x.dtype == np.float32 and 0.1 < (x > 0).mean() < 0.3
    assert np.array_equal(x * 256, np.round(x * 256)) and x.max() < 1


# --- download from a local server ---------------------------------------------------------------------

class _Server:
    """A one-file HTTP server on 127.0.0.1; ``lie`` announces more bytes than it sends (a cut download)."""

    def __init__(self, payload: bytes, lie: int = 0):
        payload_, lie_ = payload, lie

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(200)
                self.send_header("Content-Length", str(len(payload_) + lie_))
                self.end_headers()
                self.wfile.write(payload_)
                self.wfile.flush()
                self.close_connection = True

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/mnist.pkl.gz"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def test_download_from_local_server(tmp_path):
    payload = make_pickle(tmp_path / "source.pkl.gz").read_bytes()
    cache = tmp_path / "cache"
    with _Server(payload) as srv:
        data = M.load_mnist(cache, url=srv.url, expected_size=len(payload), counts=SMALL, timeout=10)
    assert set(data.sources.values()) == {"mnist"} and "downloaded" in data.origin
    assert sorted(p.name for p in cache.iterdir()) == [M.PKL_NAME]  # no temporary file left behind
    assert (cache / M.PKL_NAME).read_bytes() == payload
    # the second load reads the cache and never needs the server
    again = M.load_mnist(cache, download_ok=False, counts=SMALL)
    assert np.array_equal(again.x_valid, data.x_valid)


def test_interrupted_download_leaves_no_file(tmp_path):
    payload = make_pickle(tmp_path / "source.pkl.gz").read_bytes()
    cache = tmp_path / "cache"
    with _Server(payload[:-1000], lie=1000) as srv:
        with pytest.raises((M.MnistError, OSError)):
            M.load_mnist(cache, url=srv.url, expected_size=len(payload), counts=SMALL, timeout=10)
    assert not cache.exists() or not any(cache.iterdir())


def test_download_of_wrong_size_is_refused(tmp_path):
    payload = make_pickle(tmp_path / "source.pkl.gz").read_bytes()
    cache = tmp_path / "cache"
    with _Server(payload) as srv:
        with pytest.raises(M.MnistError, match=f"gave {len(payload)} bytes, expected {M.PKL_SIZE}"):
            M.load_mnist(cache, url=srv.url, counts=SMALL, timeout=10)
    assert not any(cache.iterdir())


def test_download_of_corrupt_file_is_refused(tmp_path):
    payload = b"\x1f\x8b" + os.urandom(3000)  # gzip magic, garbage after
    cache = tmp_path / "cache"
    with _Server(payload) as srv:
        with pytest.raises(M.MnistError, match="truncated or corrupt gzip|not a MNIST pickle"):
            M.load_mnist(cache, url=srv.url, expected_size=len(payload), counts=SMALL, timeout=10)
    assert not any(cache.iterdir())


def test_cache_dir_follows_env(monkeypatch, tmp_path):
    monkeypatch.setenv("MNIST_DIR", str(tmp_path / "m"))
    assert M.cache_dir() == tmp_path / "m"
    monkeypatch.delenv("MNIST_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert M.cache_dir() == tmp_path / "x" / "nptbench" / "mnist"
