"""What a run says about its data: which dataset, how many labels, how it is split and preprocessed."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class DataConfig:
    """Data settings of a run; ``None`` means "the dataset's own default".

    ``labels`` is the total number of labeled training samples, drawn class-balanced and seeded;
    ``labels_per_class`` asks for that many of each class instead (set one of the two, not both).
    ``val_size``/``test_size`` are a fraction (float < 1) or a count (int) of samples.
    ``data_dir`` is the root holding the benchmark datasets (``<data_dir>/mnist/``,
    ``<data_dir>/cifar-10-batches-py/``, ...) and the folder searched for relative user-file paths.

    ``normalize`` standardises the float datasets (digits, user files) when they are loaded.
    ``preprocess`` is the per-batch normalisation of the image benchmarks: ``standardize``
    (per-channel zero mean, unit variance), ``zca`` (standardize, then ZCA whitening as in
    ICT/AdvMixup), ``gcn-zca`` (per-image contrast normalisation, then ZCA), ``ict-scale``
    ((x-127.5)/127.5), ``vat-scale`` ((x-127.5)/255) or ``none``; ``None`` picks the dataset's
    default (``zca`` for cifar10, ``standardize`` for the others), or ``none`` when
    ``normalize`` is false. ``zca_epsilon`` is the ZCA regulariser; ``zca_quirk`` true adds it
    outside the square root, diag(1/sqrt(S) + eps), as the ICT/VAT/AdvMixup code does, false inside,
    diag(1/sqrt(S + eps)), as the textbook does. ``svhn_extra`` adds SVHN's extra_32x32.mat
    (531,131 images) to the training pool.

    ``stream`` (image folders) reads the images from their files batch by batch during training
    instead of decoding them all into memory first; ``None`` streams a folder whose decoded images
    would take more than 2 GiB (``semimix.data.streaming.STREAM_BYTES``), true or false forces it.
    ``image_size`` (image folders) resizes every image while reading, bilinearly, to that side (an
    int: square images) or to [height, width], so a folder of mixed sizes trains; ``semimix
    predict`` then resizes its input images alike. Unset, every image must have one size.
    """

    dataset: str = "digits"
    data_dir: str | None = None
    labels: int | str | None = None  # an integer, or "all" (every training sample labeled)
    labels_per_class: int | None = None
    val_size: float | int | None = None
    test_size: float | int | None = None
    unlabeled_includes_labeled: bool = False
    normalize: bool = True
    label_column: str | None = None
    preprocess: str | None = None
    zca_epsilon: float = 1e-6
    zca_quirk: bool = True
    svhn_extra: bool = False
    stream: bool | None = None  # image folders: None = auto (above 2 GiB decoded)
    image_size: int | list[int] | None = None  # image folders: resize to this side or [height, width] while reading
