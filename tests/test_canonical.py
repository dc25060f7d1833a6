"""The image benchmarks read from tiny files written in each official format: layouts, splits,
seeding, error messages, and a fuzz of damaged and malicious files that must all fail cleanly."""

from __future__ import annotations

import gzip
import os
import pickle
import subprocess
from pathlib import Path

import numpy as np
import pytest
import scipy.io
import torch

from semimix.data import DataConfig, list_datasets, load_dataset
from semimix.data.assemble import gather_rows
from semimix.data.readers.idx import read_idx
from semimix.errors import SemimixError

PER_CLASS, TEST_PER_CLASS = 6, 2
SHARED_MNIST = Path("/work/shared/datasets/mnist")


# --- writers of the official formats ------------------------------------------------------------


def tagged(n: int, shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    """Random uint8 images whose first two values spell their index, so a row's origin is visible."""
    x = np.random.default_rng(seed).integers(0, 256, (n, *shape), dtype=np.uint8)
    flat = x.reshape(n, -1)
    flat[:, 0], flat[:, 1] = np.arange(n) % 256, np.arange(n) // 256
    return x


def idx_bytes(array: np.ndarray) -> bytes:
    header = bytes([0, 0, 8, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return header + array.astype(np.uint8).tobytes()


def write(path: Path, raw: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(raw, mtime=0) if path.suffix == ".gz" else raw)


def make_mnist(root: Path, folder: str = "mnist", suffix: str = ".gz") -> dict[str, np.ndarray]:
    arrays = {
        "train-images-idx3-ubyte": tagged(10 * PER_CLASS, (28, 28)),
        "train-labels-idx1-ubyte": np.arange(10 * PER_CLASS) % 10,
        "t10k-images-idx3-ubyte": tagged(10 * TEST_PER_CLASS, (28, 28), seed=1),
        "t10k-labels-idx1-ubyte": np.arange(10 * TEST_PER_CLASS) % 10,
    }
    for name, array in arrays.items():
        write(root / folder / (name + suffix), idx_bytes(array))
    return arrays


def cifar_batch(x: np.ndarray, y: np.ndarray, label_key: bytes) -> dict:
    return {b"batch_label": b"batch", label_key: [int(v) for v in y], b"data": x.reshape(len(x), -1), b"filenames": [b"f.png"] * len(x)}


def dump(path: Path, obj: object, protocol: int = 2) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps(obj, protocol=protocol))


def make_cifar10(root: Path, protocol: int = 2) -> tuple[np.ndarray, np.ndarray]:
    x, y = tagged(10 * PER_CLASS, (3, 32, 32)), np.arange(10 * PER_CLASS) % 10
    folder = root / "cifar-10-batches-py"
    for i, rows in enumerate(np.array_split(np.arange(len(y)), 5)):
        dump(folder / f"data_batch_{i + 1}", cifar_batch(x[rows], y[rows], b"labels"), protocol)
    dump(folder / "test_batch", cifar_batch(tagged(20, (3, 32, 32), 1), np.arange(20) % 10, b"labels"), protocol)
    dump(folder / "batches.meta", {b"label_names": [f"class{c}".encode() for c in range(10)], b"num_vis": 3072}, protocol)
    return x, y


def make_cifar100(root: Path) -> None:
    folder = root / "cifar-100-python"
    y = np.arange(300) % 100
    dump(folder / "train", {**cifar_batch(tagged(300, (3, 32, 32)), y, b"fine_labels"), b"coarse_labels": list(y // 5)})
    dump(folder / "test", cifar_batch(tagged(100, (3, 32, 32), 1), np.arange(100) % 100, b"fine_labels"))
    dump(folder / "meta", {b"fine_label_names": [f"c{c}".encode() for c in range(100)], b"coarse_label_names": []})


def write_mat(path: Path, x: np.ndarray, digits: np.ndarray, compressed: bool) -> None:
    """SVHN's convention: X is (32, 32, 3, N), y is (N, 1) double with 10 for the digit 0."""
    path.parent.mkdir(parents=True, exist_ok=True)
    y = np.where(digits == 0, 10, digits).astype(np.float64)[:, None]
    scipy.io.savemat(path, {"note": "unread", "X": x.transpose(2, 3, 1, 0), "y": y}, do_compression=compressed)


def make_svhn(root: Path, folder: str = "svhn", extra: bool = False, compressed: bool = False) -> np.ndarray:
    x = tagged(10 * PER_CLASS, (3, 32, 32))
    write_mat(root / folder / "train_32x32.mat", x, np.arange(len(x)) % 10, compressed)
    write_mat(root / folder / "test_32x32.mat", tagged(20, (3, 32, 32), 1), np.arange(20) % 10, compressed)
    if extra:
        write_mat(root / folder / "extra_32x32.mat", tagged(30, (3, 32, 32), 2), np.arange(30) % 10, compressed)
    return x


def load(root: Path, name: str, seed: int = 0, **settings):
    """Tiny sets need small splits; preprocess none keeps the tests fast unless a test asks."""
    values = {"preprocess": "none", "val_size": 10, "labels": 20, **settings}
    return load_dataset(DataConfig(dataset=name, data_dir=str(root), **values), seed)


# --- reading each format ------------------------------------------------------------------------


@pytest.mark.parametrize("folder, suffix", [("mnist", ".gz"), ("MNIST/raw", ""), ("MNIST/raw", ".gz")])
def test_mnist_layouts_and_split(tmp_path, folder, suffix):
    arrays = make_mnist(tmp_path, folder, suffix)
    b = load(tmp_path, "mnist")
    assert b.x_labeled.dtype == torch.uint8 and b.input_shape == (1, 28, 28) and b.class_names == [str(d) for d in range(10)]
    assert (len(b.x_labeled), len(b.x_unlabeled), len(b.x_val), len(b.x_test)) == (20, 30, 10, 20)
    images, labels = arrays["train-images-idx3-ubyte"], arrays["train-labels-idx1-ubyte"]
    for key, x in (("labeled", b.x_labeled), ("unlabeled", b.x_unlabeled), ("val", b.x_val)):
        assert b.split[key].dtype == np.int64
        assert np.array_equal(x.numpy()[:, 0], images[b.split[key]])
    assert np.array_equal(b.y_labeled.numpy(), labels[b.split["labeled"]])
    assert np.array_equal(b.x_test.numpy()[:, 0], arrays["t10k-images-idx3-ubyte"]) and b.y_test.tolist() == list(range(10)) * 2
    assert torch.bincount(b.y_labeled).tolist() == [2] * 10 and torch.bincount(b.y_val).tolist() == [1] * 10
    every = np.concatenate([b.split["labeled"], b.split["unlabeled"], b.split["val"]])
    assert np.array_equal(np.sort(every), np.arange(60))
    assert b.y_unlabeled_true is not None and b.preprocess is None


def test_fashion_mnist_names(tmp_path):
    make_mnist(tmp_path, "fashion-mnist")
    b = load(tmp_path, "fashion")
    assert b.name == "fashion-mnist" and b.class_names[0] == "T-shirt/top" and b.class_names[9] == "Ankle boot"


@pytest.mark.parametrize("protocol", [2, 4])
def test_cifar10(tmp_path, protocol):
    x, y = make_cifar10(tmp_path, protocol)
    b = load(tmp_path, "cifar10", labels_per_class=2, labels=None)
    assert b.input_shape == (3, 32, 32) and b.x_unlabeled.dtype == torch.uint8 and b.class_names[3] == "class3"
    assert torch.equal(b.x_labeled, torch.from_numpy(x[b.split["labeled"]])) and len(b.x_labeled) == 20
    assert torch.equal(b.x_val, torch.from_numpy(x[b.split["val"]])) and np.array_equal(b.y_val.numpy(), y[b.split["val"]])
    assert len(b.x_test) == 20


def test_cifar100_fine_labels(tmp_path):
    make_cifar100(tmp_path)
    b = load(tmp_path, "cifar-100", val_size=100, labels=100)
    assert b.num_classes == 100 and torch.bincount(b.y_labeled).tolist() == [1] * 100
    assert len(b.x_unlabeled) == 100 and b.class_names[99] == "c99" and len(b.x_test) == 100


@pytest.mark.parametrize("folder, compressed", [("svhn", False), (".", True)])
def test_svhn_label_ten_is_zero(tmp_path, folder, compressed):
    x = make_svhn(tmp_path, folder, compressed=compressed)
    b = load(tmp_path, "svhn")
    assert b.y_test.tolist() == list(range(10)) * 2  # written as 10, 1, 2, ... 9
    assert torch.equal(b.x_unlabeled, torch.from_numpy(x[b.split["unlabeled"]]))


def test_svhn_extra_joins_the_training_pool(tmp_path):
    make_svhn(tmp_path, extra=True)
    plain, extra = load(tmp_path, "svhn"), load(tmp_path, "svhn", svhn_extra=True)
    assert len(extra.x_unlabeled) == len(plain.x_unlabeled) + 30
    assert extra.split["unlabeled"].max() >= 60  # indices past the 60 training images are extra images
    (tmp_path / "svhn" / "extra_32x32.mat").unlink()
    with pytest.raises(SemimixError, match="lacks extra_32x32.mat"):
        load(tmp_path, "svhn", svhn_extra=True)


@pytest.mark.skipif(not SHARED_MNIST.exists(), reason=f"{SHARED_MNIST} is not present")
def test_shared_mnist_copy_reads_like_the_official_files():
    labels = read_idx(SHARED_MNIST / "t10k-labels-idx1-ubyte.gz", 1)
    images = read_idx(SHARED_MNIST / "t10k-images-idx3-ubyte.gz", 3)
    assert len(labels) == 10000 and images.shape == (10000, 28, 28) and labels[:5].tolist() == [7, 2, 1, 0, 4]


# --- splits -------------------------------------------------------------------------------------


def test_split_seeding_and_options(tmp_path):
    make_mnist(tmp_path)
    a, b, c = load(tmp_path, "mnist", 3), load(tmp_path, "mnist", 3), load(tmp_path, "mnist", 4)
    assert all(np.array_equal(a.split[k], b.split[k]) for k in ("labeled", "unlabeled", "val"))
    assert not np.array_equal(a.split["labeled"], c.split["labeled"])
    d = load(tmp_path, "mnist", 3, unlabeled_includes_labeled=True)
    assert np.array_equal(d.split["unlabeled"][-20:], d.split["labeled"]) and len(d.x_unlabeled) == 50
    assert torch.equal(d.x_unlabeled[-20:], d.x_labeled)
    e = load(tmp_path, "mnist", val_size=0.5, labels=10)
    assert (len(e.x_val), len(e.x_labeled)) == (30, 10)


@pytest.mark.slow
def test_defaults_and_preprocess(tmp_path):
    make_mnist(tmp_path)
    with pytest.raises(SemimixError, match="val_size=5000 must be a count from 0 to 59"):  # paper default, tiny set
        load_dataset(DataConfig(dataset="mnist", data_dir=str(tmp_path)), 0)
    b = load(tmp_path, "mnist", preprocess=None)  # the dataset's default: standardize
    pool = torch.cat([b.x_labeled, b.x_unlabeled]).float()
    assert abs(float(b.preprocess(pool).mean())) < 1e-4 and abs(float(b.preprocess(pool).std()) - 1) < 1e-3
    assert load(tmp_path, "mnist", preprocess=None, normalize=False).preprocess is None
    zca = load(tmp_path, "mnist", preprocess="zca")
    assert [type(m).__name__ for m in zca.preprocess] == ["Standardize", "ZCAWhiten"]
    assert torch.isfinite(zca.preprocess(zca.x_test.float())).all()


@pytest.mark.parametrize(
    "settings, words",
    [
        ({"labels": 20, "labels_per_class": 2}, "set only one"),
        ({"test_size": 5}, "official test set; unset test_size"),
        ({"preprocess": "whiten"}, "unknown preprocess 'whiten'; choose one of standardize, zca"),
        ({"zca_epsilon": -1.0}, "zca_epsilon must be a number >= 0"),
        ({"svhn_extra": True}, "svhn_extra=true applies to the svhn dataset only"),
        ({"labels": 5}, "fewer than the 10 classes"),
        ({"labels_per_class": 0, "labels": None}, "labels_per_class must be a positive integer"),
    ],
)
def test_bad_settings(tmp_path, settings, words):
    make_mnist(tmp_path)
    with pytest.raises(SemimixError, match=words):
        load(tmp_path, "mnist", **settings)


def test_options_other_datasets_ignore_are_errors():
    with pytest.raises(SemimixError, match="applies to the image benchmarks only, not digits"):
        load_dataset(DataConfig(dataset="digits", preprocess="zca"), 0)
    assert len(load_dataset(DataConfig(dataset="digits", labels_per_class=3), 0).x_labeled) == 30


def test_gather_reads_each_part_once_in_order():
    calls = []

    def part(k: int):
        def read() -> np.ndarray:
            calls.append(k)
            return np.arange(3 * k, 3 * k + 3)[:, None]

        return read

    out = gather_rows([part(0), part(1), part(2)], 9, {"a": np.array([7, 0, 4]), "b": np.array([8])})
    assert calls == [0, 1, 2] and out["a"].ravel().tolist() == [7, 0, 4] and out["b"].ravel().tolist() == [8]
    with pytest.raises(SemimixError, match="changed while loading"):
        gather_rows([part(0)], 9, {"a": np.array([1])})


# --- missing files and list_datasets ------------------------------------------------------------


def test_missing_dataset_names_files_and_layout(tmp_path):
    with pytest.raises(SemimixError) as err:
        load(tmp_path, "cifar10")
    message = str(err.value)
    assert "\n" not in message and "never downloads" in message
    assert str(tmp_path / "cifar-10-batches-py") in message and "data_batch_5, test_batch, batches.meta" in message
    with pytest.raises(SemimixError, match=r"mnist/ holding train-images-idx3-ubyte.gz.*gzip-compressed or not.*also looked in .*MNIST/raw"):
        load(tmp_path, "mnist")
    make_cifar10(tmp_path)
    (tmp_path / "cifar-10-batches-py" / "data_batch_3").unlink()
    with pytest.raises(SemimixError, match="cifar-10-batches-py lacks data_batch_3"):
        load(tmp_path, "cifar10")
    with pytest.raises(SemimixError, match="data_dir is not set; set --data-dir"):
        load_dataset(DataConfig(dataset="svhn"), 0)


def test_list_datasets_reports_what_was_found(tmp_path):
    make_mnist(tmp_path)
    rows = {row["name"]: row for row in list_datasets(str(tmp_path))}
    assert rows["mnist"]["found"] and rows["mnist"]["where"] == str(tmp_path / "mnist")
    assert not rows["cifar10"]["found"] and str(tmp_path / "cifar-10-batches-py") in rows["cifar10"]["where"]
    assert not {row["name"]: row for row in list_datasets(None)}["svhn"]["found"]


# --- fuzz: damaged and malicious files ----------------------------------------------------------


def variants(raw: bytes, seed: int, count: int = 24) -> tuple[list[bytes], list[bytes]]:
    """Truncations at many offsets (always invalid) and random byte flips, most near the header
    and the end where the structure lives (may still be valid: a flipped pixel is a valid file)."""
    rng = np.random.default_rng(seed)
    cuts = sorted({0, 1, 3, 4, 7, 8, 11, 15, 16, 20, 50, 127, 128, 200, len(raw) // 2, len(raw) - 9, len(raw) - 1} | set(rng.integers(1, len(raw), 8).tolist()))
    truncated = [raw[:cut] for cut in cuts if 0 <= cut < len(raw)]
    flipped = []
    for _ in range(count):
        data = bytearray(raw)
        for _ in range(int(rng.integers(1, 4))):
            region = rng.choice(3)
            pos = (
                int(rng.integers(0, min(256, len(raw))))
                if region == 0
                else int(rng.integers(max(0, len(raw) - 64), len(raw)))
                if region == 1
                else int(rng.integers(0, len(raw)))
            )
            data[pos] ^= int(rng.integers(1, 256))
        flipped.append(bytes(data))
    return truncated, flipped


def assert_fails_cleanly(root: Path, name: str, path: Path, raw: bytes, must_fail: bool, **settings) -> None:
    path.write_bytes(raw)
    try:
        load(root, name, **settings)
    except SemimixError as err:
        assert "\n" not in str(err) and str(path.name) in str(err) or "changed while loading" in str(err), str(err)
        return
    assert not must_fail, f"{path.name}: a damaged variant of {len(raw)} bytes loaded without an error"


@pytest.mark.parametrize("target", ["train-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz", "train-labels-idx1-ubyte"])
def test_fuzz_idx(tmp_path, target):
    suffix = "" if not target.endswith(".gz") else ".gz"
    make_mnist(tmp_path, suffix=suffix)
    path = tmp_path / "mnist" / target
    truncated, flipped = variants(path.read_bytes(), seed=len(target))
    for raw in truncated:
        assert_fails_cleanly(tmp_path, "mnist", path, raw, must_fail=True)
    for raw in flipped:
        assert_fails_cleanly(tmp_path, "mnist", path, raw, must_fail=False)


@pytest.mark.parametrize(
    "array, words",
    [
        (np.zeros((60, 27, 28)), "shape"),  # wrong image size
        (np.zeros((59, 28, 28)), "holds 59 images but train-labels-idx1-ubyte holds 60"),
        (np.zeros((60, 28)), "magic number is 2050, expected 2051"),
    ],
)
def test_idx_wrong_shapes(tmp_path, array, words):
    make_mnist(tmp_path, suffix="")
    write(tmp_path / "mnist" / "train-images-idx3-ubyte", idx_bytes(array))
    with pytest.raises(SemimixError, match=words):
        load(tmp_path, "mnist")


def test_idx_bad_headers_and_labels(tmp_path):
    make_mnist(tmp_path, suffix="")
    labels = tmp_path / "mnist" / "train-labels-idx1-ubyte"
    good = idx_bytes(np.arange(60) % 10)
    for raw, words in [
        (idx_bytes(np.arange(60) % 11), "the file has labels 10, outside the class range 0..9"),
        (good + b"\0", "has bytes after the 60 data bytes"),
        (good[:4] + (10**9).to_bytes(4, "big") + good[8:], "more than the file holds"),
        (b"\0\0\x0d\x01" + good[4:], "magic number is 3329, expected 2049"),
    ]:
        labels.write_bytes(raw)
        with pytest.raises(SemimixError, match=words):
            load(tmp_path, "mnist")
    gz = tmp_path / "mnist" / "train-labels-idx1-ubyte.gz"
    labels.unlink()
    gz.write_bytes(b"not gzip at all")
    with pytest.raises(SemimixError, match="train-labels-idx1-ubyte.gz: cannot be read .*BadGzipFile"):
        load(tmp_path, "mnist")


@pytest.mark.parametrize("target", ["data_batch_2", "batches.meta", "test_batch"])
def test_fuzz_cifar_pickles(tmp_path, target):
    make_cifar10(tmp_path)
    path = tmp_path / "cifar-10-batches-py" / target
    truncated, flipped = variants(path.read_bytes(), seed=len(target))
    for raw in truncated:
        assert_fails_cleanly(tmp_path, "cifar10", path, raw, must_fail=True)
    for raw in flipped:
        assert_fails_cleanly(tmp_path, "cifar10", path, raw, must_fail=False)


class Call:
    """Pickles as a call of ``function(*args)``: what a malicious batch file does."""

    def __init__(self, function, *args) -> None:
        self.function, self.args = function, args

    def __reduce__(self):
        return self.function, self.args


def malicious_payloads(marker: Path) -> list[bytes]:
    touch = f"touch {marker}"
    objects = [
        Call(os.system, touch),
        Call(subprocess.check_call, ["touch", str(marker)]),
        Call(eval, f"open({str(marker)!r}, 'w')"),
        Call(exec, f"open({str(marker)!r}, 'w')"),
        Call(getattr, Call(__import__, "os"), "system"),
        Call(np.testing._private.utils.runstring, f"open({str(marker)!r}, 'w')", {}),
    ]
    payloads = [pickle.dumps(obj, protocol=p) for obj in objects for p in (0, 2, 4)]
    payloads += [pickle.dumps({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, Call(os.system, touch)]}, protocol=2)]
    payloads += [pickle.dumps(np.array([Call(os.system, touch)], dtype=object), protocol=2)]
    payloads += [f"(S'{touch}'\nios\nsystem\n.".encode()]  # INST opcode, protocol 0
    payloads += [b"\x80\x04\x95\x00\x00\x00\x00\x00\x00\x00\x00\x8c\x02os\x8c\x06system\x93\x8c\x04true\x85R."]  # STACK_GLOBAL
    return payloads


def test_malicious_pickles_never_run(tmp_path):
    make_cifar10(tmp_path)
    marker = tmp_path / "pwned"
    path = tmp_path / "cifar-10-batches-py" / "data_batch_1"
    for raw in malicious_payloads(marker):
        path.write_bytes(raw)
        with pytest.raises(SemimixError, match="data_batch_1 refers to .*, which no CIFAR batch contains"):
            load(tmp_path, "cifar10")
        assert not marker.exists()


@pytest.mark.parametrize(
    "content, words",
    [
        ([1, 2], "holds a list, expected a dict"),
        ({b"data": np.zeros((12, 3072), np.uint8)}, r"no entry 'labels' \(entries: data\)"),
        ({b"data": np.zeros((12, 3072), np.float32), b"labels": [0] * 12}, "'data' is a float32 array"),
        ({b"data": np.zeros((12, 1024), np.uint8), b"labels": [0] * 12}, r"shape \(12, 1024\)"),
        ({b"data": b"pixels", b"labels": [0] * 12}, "'data' is a bytes"),
        ({b"data": np.zeros((12, 3072), np.uint8), b"labels": [0] * 11}, "12 images but 11 'labels'"),
        ({b"data": np.zeros((12, 3072), np.uint8), b"labels": [10] * 12}, "outside the class range 0..9"),
        ({b"data": np.zeros((12, 3072), np.uint8), b"labels": [b"cat"] * 12}, "expected a 1-D list of integer class ids"),
        ({"data": np.zeros((12, 3072), np.uint8), "labels": [[0, 1]] * 12}, "1-D list"),
    ],
)
def test_cifar_wrong_content(tmp_path, content, words):
    make_cifar10(tmp_path)
    dump(tmp_path / "cifar-10-batches-py" / "data_batch_1", content)
    with pytest.raises(SemimixError, match=words):
        load(tmp_path, "cifar10")


def test_cifar_meta_must_name_every_class(tmp_path):
    make_cifar10(tmp_path)
    dump(tmp_path / "cifar-10-batches-py" / "batches.meta", {b"label_names": [b"a", b"b"]})
    with pytest.raises(SemimixError, match="'label_names' is not a list of 10 class names"):
        load(tmp_path, "cifar10")


@pytest.mark.parametrize("compressed", [False, True])
def test_fuzz_svhn_mat(tmp_path, compressed):
    make_svhn(tmp_path, compressed=compressed)
    path = tmp_path / "svhn" / "train_32x32.mat"
    truncated, flipped = variants(path.read_bytes(), seed=7)
    for raw in truncated:
        assert_fails_cleanly(tmp_path, "svhn", path, raw, must_fail=True)
    for raw in flipped:
        assert_fails_cleanly(tmp_path, "svhn", path, raw, must_fail=False)


@pytest.mark.parametrize(
    "variables, words",
    [
        ({"images": np.zeros((32, 32, 3, 60), np.uint8), "y": np.ones((60, 1))}, "has no variable X"),
        ({"X": np.zeros((28, 28, 3, 60), np.uint8), "y": np.ones((60, 1))}, r"X is a uint8 array of shape \(28, 28, 3, 60\)"),
        ({"X": np.zeros((32, 32, 3, 60)), "y": np.ones((60, 1))}, "X is a float64 array"),
        ({"X": np.zeros((32, 32, 3, 60), np.uint8), "y": np.ones((59, 1))}, "y has 59 labels but X holds 60"),
        ({"X": np.zeros((32, 32, 3, 60), np.uint8), "y": np.full((60, 1), 11)}, "y has labels 11, outside the class range 1..10"),
        ({"X": np.zeros((32, 32, 3, 60), np.uint8), "y": np.full((60, 1), 1.5)}, "integer class ids"),
        ({"X": np.zeros((32, 32, 3, 60), np.uint8), "y": np.array(["a"] * 60)}, "y is not a real numeric array"),
        ({"X": np.zeros((32, 32, 3, 60), np.uint8), "y": np.ones((60, 1)) * 1j}, "y is not a real numeric array"),
        ({"X": np.zeros((32, 32, 3, 60), np.uint8), "y": np.zeros((60, 1))}, "y has labels 0, outside the class range 1..10"),
    ],
)
def test_svhn_wrong_content(tmp_path, variables, words):
    make_svhn(tmp_path)
    scipy.io.savemat(tmp_path / "svhn" / "train_32x32.mat", variables)
    with pytest.raises(SemimixError, match=words):
        load(tmp_path, "svhn")


@pytest.mark.parametrize(
    "raw, words",
    [
        (b"MATLAB 7.3 MAT-file".ljust(124) + b"\x00\x02IM" + b"\x89HDF\r\n\x1a\n" + bytes(600), "is a MATLAB v7.3 .HDF5. file"),
        (b"\x89HDF\r\n\x1a\n" + bytes(600), "is not a MATLAB v5 file"),
        (b"", "is not a MATLAB v5 file"),
    ],
)
def test_svhn_not_a_v5_mat_file(tmp_path, raw, words):
    make_svhn(tmp_path)
    (tmp_path / "svhn" / "test_32x32.mat").write_bytes(raw)
    with pytest.raises(SemimixError, match="test_32x32.mat: " + words):
        load(tmp_path, "svhn")


# --- the trainer uses uint8 images with their preprocess ------------------------------------------


def test_a_run_trains_on_a_benchmark_and_saves_its_split(tmp_path):
    from semimix.api import load_config, train

    make_mnist(tmp_path)
    data = {"dataset": "mnist", "data_dir": str(tmp_path), "val_size": 10, "labels": 20, "preprocess": "zca"}
    cfg = load_config(
        None, method="advmixup", steps=2, eval_every=2, progress=False, out=str(tmp_path / "run"), labeled_batch_size=8, unlabeled_batch_size=8, data=data
    )
    summary = train(cfg)
    saved = np.load(tmp_path / "run" / "split.npz")
    expected = load(tmp_path, "mnist").split
    assert sorted(saved.files) == ["labeled", "unlabeled", "val"] and summary["labels"] == 20
    assert all(np.array_equal(saved[key], expected[key]) for key in saved.files)
