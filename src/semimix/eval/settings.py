"""The evaluation settings' names and default values, in a module with no heavy imports: the modules
that do the work (``robustness``, ``paths``, ``calibration``, ``semimix.workflows``) use them, and so do
the commands, whose help shows them while ``semimix --help`` loads neither torch nor numpy."""

from __future__ import annotations

# Attacks (semimix.eval.robustness). fgm = the L2 fast gradient method (AdvMixup's Tables IV–V),
# fgsm = its L∞ sign version; pgd is L∞ (Madry et al.) unless asked otherwise; vat (the label-free
# virtual adversarial direction, one of AdvMixup's robust_test attacks) exists only in L2.
ATTACKS = ("fgm", "fgsm", "pgd", "vat")
NORMS = ("l2", "linf")
DEFAULT_NORM = {"fgm": "l2", "fgsm": "linf", "pgd": "linf", "vat": "l2"}
DEFAULT_BATCH = 500  # samples per batch of the attacks and of the path study

# The unbounded-PGD check against gradient masking (semimix.eval.robustness.masking_check).
MASKING_EPSILON = 1e3
MASKING_STEPS = 100
MASKING_THRESHOLD = 0.05
MASKING_RELATIVE_STEP = 0.05  # PGD step = 5% of the data's scale; 100 steps reach 5× that scale

# Interpolation paths (semimix.eval.paths).
DEFAULT_GRID = 21  # λ = 0, 0.05, ..., 1

# What a run can be evaluated on (semimix.runs.Run.samples): its held-out splits, and the training samples
# themselves, clean (no augmentation): the labeled ones (did the model fit its labels?) and the unlabeled
# ones where the dataset knows their labels (the transductive accuracy that SSL papers also report).
SPLITS = ("test", "val", "labeled", "unlabeled")

# Calibration (semimix.eval.calibration): ECE with 15 bins, as Guo et al. (2017).
DEFAULT_BINS = 15

# Predicting with a trained model (semimix.train.inference, ``semimix predict``).
PREDICT_BATCH = 512  # inputs per forward pass
