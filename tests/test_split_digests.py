"""Every loader's split is pinned: the same seed gives the same ``bundle.split`` indices as it did
when these digests were recorded, so refactoring how the loaders split (one recipe for them all)
cannot silently move a run's labeled, validation or test samples.

Each case loads a dataset at a fixed seed and hashes its ``bundle.split`` (keys in order, int64
bytes), and what else the bundle holds that is exact on every machine (labels, shapes, dtypes).
A digest that changes means existing runs' splits would change (and a resumed checkpoint, which
checks the data it trains on, would be refused): fix the code, not the digest, unless the change
of split is intended (and then say so in the changelog).
Run ``python tests/test_split_digests.py`` to print the digests of the code as it is.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from semimix.data import DataBundle, DataConfig, load_dataset
from semimix.data.streaming import FileImages

SEED = 3


def write_npz(root: Path, own_val: bool = False) -> str:
    """60 rows of 3 features: 3 classes of 16 labeled rows, then 12 unlabeled rows (-1)."""
    rng = np.random.default_rng(7)
    y = np.concatenate([np.repeat([0, 1, 2], 16), np.full(12, -1)])
    arrays: dict[str, np.ndarray] = {"X": rng.normal(size=(len(y), 3)), "y": y}
    if own_val:
        arrays |= {"X_val": rng.normal(size=(6, 3)), "y_val": np.arange(6) % 3}
    path = root / ("own_val.npz" if own_val else "data.npz")
    np.savez(path, **arrays)
    return str(path)


def write_folder(root: Path) -> str:
    """Three classes of 6 tiny PNGs (different sizes per class would be refused; all are 4x3) and 4 unlabeled."""
    folder = root / "photos"
    names = [f"{c}/{i:02d}.png" for c in ("cat", "dog", "owl") for i in range(6)] + [f"unlabeled/u{i}.png" for i in range(4)]
    for k, name in enumerate(names):
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.random.default_rng(k).integers(0, 256, (3, 4, 3), dtype=np.uint8)).save(folder / name)
    return str(folder)


def write_mnist(root: Path) -> str:
    """The four IDX files of a 60-image MNIST (6 per class) and a 20-image test set, uncompressed."""
    rng = np.random.default_rng(0)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (60, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": (np.arange(60) * 7) % 10,
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (20, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": np.arange(20) % 10,
    }
    (root / "mnist").mkdir(parents=True, exist_ok=True)
    for name, array in arrays.items():
        header = bytes([0, 0, 8, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
        (root / "mnist" / name).write_bytes(header + array.astype(np.uint8).tobytes())
    return str(root)


# name: (dataset, what to write first (returns the dataset or data_dir), settings)
CASES: dict[str, tuple[str, Any, dict[str, Any]]] = {
    "digits": ("digits", None, {}),
    "digits-sizes": ("digits", None, {"labels_per_class": 5, "val_size": 0.15, "test_size": 100, "unlabeled_includes_labeled": True}),
    "two-moons": ("two-moons", None, {}),
    "two-moons-all": ("two-moons", None, {"labels": "all"}),
    "two-circles": ("two-circles", None, {"labels": 12, "val_size": 30}),
    "two-spirals": ("two-spirals", None, {"labels_per_class": 4}),
    "mnist1d": ("mnist1d", None, {}),
    "mnist1d-sizes": ("mnist1d", None, {"labels_per_class": 3, "val_size": 0.1}),
    "mnist-files": ("mnist", write_mnist, {"val_size": 10, "labels": 20, "preprocess": "none"}),
    "mnist-files-fraction": ("mnist", write_mnist, {"val_size": 0.25, "labels_per_class": 1, "preprocess": "none"}),
    "npz": ("npz", write_npz, {}),
    "npz-carved": ("npz", write_npz, {"val_size": 0.2, "test_size": 6, "labels": 10}),
    "npz-own-val": ("npz", lambda root: write_npz(root, own_val=True), {"test_size": 0.1, "labels_per_class": 2}),
    "folder": ("folder", write_folder, {}),
    "folder-carved": ("folder", write_folder, {"val_size": 3, "test_size": 0.2, "labels_per_class": 2}),
    "folder-streamed": ("folder", write_folder, {"val_size": 3, "test_size": 0.2, "labels_per_class": 2, "stream": True}),
}

DIGESTS: dict[str, tuple[str, str]] = {  # (split, content), recorded before the loaders shared one recipe
    "digits": ("3f35210b9bea3264484a0f36ea6c31e32c234d14376bc8741f5efe9476b9f07d", "4d38788850316d3406bbee1ad2bad37ef5627081e134b08fb5427da289bc4042"),
    "digits-sizes": ("ee6d2c50acd0466362e36b03e8a38df360d05185907b4a58f526ab73d3b37a33", "acfe3cc3ec2e80e248ad883819d981aa7d0ca35824f58a4fa38276901e533a93"),
    "two-moons": ("88e77a0855fe02aa693a790ff4ee8f51340d45f3dac9c70a09e465b7973e2992", "06054f083c5c0a2bb5333969e55501b1c2e5bf6a3134deaaf552f1ebaa737947"),
    "two-moons-all": ("4d625ae66da027adcd97b858d22d83a74486d6afb93a7c69f3fc0b5c13a961aa", "7f3bdc9a864f08953c82a0969537815bbb58307e0e41d3ac2f6b7267a18d161a"),
    "two-circles": ("f468d69485ca0a92747b1bb953946e6a39a028f61a70ea77384c07b823805d28", "a6eb650591adbadf3909246cd78c1fa444ec4e23e0bd3aedef0e78487d89ed33"),
    "two-spirals": ("8b8a6e72983db5f3ed9bcad20da13409a174921ea06897709089562ddd099395", "94255e57347864242e5d7d363f5b4144a43e8090c9599c8449cc59f35aca07f6"),
    "mnist1d": ("81bd427213e82fdc200ee1590207a9134f45fb5325283e196aa40de1d73003b5", "e6322cc4cc10b1a2373cac3f114c7b595da2fce90d4356a204e0a8e5c80321f8"),
    "mnist1d-sizes": ("4453b435801632d0ff2909fedda9bc4e6ca48f13ca1977ff5ced98e23b7d36ed", "a0bd174959c7dfba337e321b18966acb27bc40e7977fc724f40f7d7cb7fdff4c"),
    "mnist-files": ("8029907280d77bca73859ece22d889406f50bc3f02e16726c9b66f375aae632b", "622385e1796bc79e5169b1cd6552f3c897a7cbb572b1a0684fc81d0e952c2b48"),
    "mnist-files-fraction": (
        "f907f6e1106101301f86d26afa8b2ef3fc0922732a565674b37639c64ddcc0de",
        "a5f788fb07def5b0031d071ffc52a115abb80584d29fa9874cb48bbfe42e4baa",
    ),
    "npz": ("d19301c44d1b6624feddf62631a7550b34f5a1f9e2f2e300b80a8165c45fc7d1", "a563660674140a95808a2027afd8890e3d9915d2aa283145bb06cbef74f22500"),
    "npz-carved": ("17b95792d30447e4e757500f34856223060b1ef03a981117a150ae498dbbb6e4", "262a23729f930451cb84c529913a8d256498ea6117b27fd16b30ebb8dda8ed45"),
    "npz-own-val": ("35a63c821433cd35cb075cef8dbbd26cf971503d4797fdcb90601de9d10bb3a4", "7ef1ee26a96ca54c175fa317f7688a90919005e5742fa1b7691e796cd76889ad"),
    "folder": ("b0f703ee19bd96220343ff3671990b0631584cdfcde1231b1d8b06f0d212d415", "c59f595f386e42ad7a182d21ff60b906787dbb0f51cd00f1cdefc1575b658be7"),
    "folder-carved": ("8743d547b9cf77ac1d9835b53eab5ba8091b08024c8eab7af154159b59897de3", "91ff7d0979f54d251b40f9a9e3df5c76030747e9c3ff7792d56bd7f5c1695a59"),
    "folder-streamed": ("8743d547b9cf77ac1d9835b53eab5ba8091b08024c8eab7af154159b59897de3", "431381bce99639e1d5a62c71309817f9d5e24f8be731cc3103546dd2721e8fe0"),
}


def split_digest(split: dict[str, np.ndarray]) -> str:
    digest = hashlib.sha256()
    for key in sorted(split):
        digest.update(key.encode() + b"\0" + np.ascontiguousarray(split[key], dtype=np.int64).tobytes() + b"\0")
    return digest.hexdigest()


def content_digest(bundle: DataBundle) -> str:
    """What else a bundle holds that does not depend on floating-point rounding (which may differ
    between machines and numpy versions): its name, classes, every split's shape and dtype, and its
    labels (streamed inputs: their files)."""
    digest = hashlib.sha256(f"{bundle.name}|{bundle.num_classes}|{bundle.class_names}|{bundle.input_shape}".encode())
    for key in ("x_labeled", "y_labeled", "x_unlabeled", "x_val", "y_val", "x_test", "y_test", "y_unlabeled_true"):
        value = getattr(bundle, key)
        if value is None:
            continue
        digest.update(f"{key}|{value.dtype}|{tuple(value.shape)}".encode())
        if isinstance(value, torch.Tensor) and not value.is_floating_point():
            digest.update(value.contiguous().numpy().tobytes())
        elif isinstance(value, FileImages):
            digest.update("|".join(Path(path).name for path in value.paths).encode())
    digest.update(type(bundle.preprocess).__name__.encode())
    return digest.hexdigest()


def case_bundle(case: str, root: Path) -> DataBundle:
    dataset, make, settings = CASES[case]
    if make is None:
        cfg = DataConfig(dataset=dataset, **settings)
    elif dataset == "mnist":
        cfg = DataConfig(dataset=dataset, data_dir=make(root), **settings)
    else:
        cfg = DataConfig(dataset=make(root), **settings)
    return load_dataset(cfg, SEED)


@pytest.mark.parametrize("case", sorted(CASES))
def test_split_is_what_it_was(case: str, tmp_path: Path) -> None:
    bundle = case_bundle(case, tmp_path)
    assert (split_digest(bundle.split), content_digest(bundle)) == DIGESTS[case]


def test_the_digest_sees_a_moved_index() -> None:
    split = {"labeled": np.arange(5), "unlabeled": np.arange(5, 10)}
    moved = {"labeled": np.array([0, 1, 2, 3, 5]), "unlabeled": np.array([4, 6, 7, 8, 9])}
    assert split_digest(split) != split_digest(moved)


if __name__ == "__main__":
    import tempfile

    for name in CASES:
        with tempfile.TemporaryDirectory() as folder:
            bundle = case_bundle(name, Path(folder))
            print(f'    "{name}": ("{split_digest(bundle.split)}", "{content_digest(bundle)}"),')
