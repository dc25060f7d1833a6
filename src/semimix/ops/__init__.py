"""Pure tensor functions every method is built from (no state, no I/O)."""

from semimix.ops.adversarial import fast_gradient, fgm, fgsm, l2_normalize, pgd, vat_perturbation
from semimix.ops.batchnorm import frozen_batchnorm
from semimix.ops.losses import DIVERGENCES, entropy, get_divergence, kl_divergence, soft_cross_entropy, softmax_mse
from semimix.ops.mixing import mix, one_hot, pair_permutation, sample_lambda, sharpen

__all__ = [
    "DIVERGENCES",
    "entropy",
    "fast_gradient",
    "fgm",
    "fgsm",
    "frozen_batchnorm",
    "get_divergence",
    "kl_divergence",
    "l2_normalize",
    "mix",
    "one_hot",
    "pair_permutation",
    "pgd",
    "sample_lambda",
    "sharpen",
    "soft_cross_entropy",
    "softmax_mse",
    "vat_perturbation",
]
