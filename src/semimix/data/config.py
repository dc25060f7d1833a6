"""What a run says about its data: which dataset, how many labels, how it is split."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class DataConfig:
    """Data settings of a run; ``None`` means "the dataset's own default".

    ``labels`` is the total number of labeled training samples, drawn class-balanced and seeded.
    ``val_size``/``test_size`` are a fraction (float < 1) or a count (int) of samples.
    """

    dataset: str = "digits"
    data_dir: str | None = None
    labels: int | None = None
    val_size: float | int | None = None
    test_size: float | int | None = None
    unlabeled_includes_labeled: bool = False
    normalize: bool = True
    label_column: str | None = None
