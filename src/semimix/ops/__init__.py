"""Pure tensor functions every method is built from (no state, no I/O)."""

from semimix.ops.adversarial import fast_gradient, fgm, fgsm, full_precision, l2_normalize, pgd, vat_perturbation
from semimix.ops.batchnorm import frozen_batchnorm, keep_own_statistics, reestimate_batchnorm
from semimix.ops.losses import (
    DIVERGENCES,
    LOGIT_TARGETS,
    class_imbalance,
    confident_pseudo_labels,
    entropy,
    get_divergence,
    kl_divergence,
    masked_cross_entropy,
    masked_kl_divergence,
    soft_cross_entropy,
    softmax_mse,
)
from semimix.ops.meta import auxiliary_pass, central_difference, global_norm, perturbed_parameters, relu_renormalise, saved_parameters, virtual_sgd_step
from semimix.ops.mixing import dominant_lambda, mix, one_hot, pair_permutation, sample_lambda, sharpen
from semimix.ops.target_embedding import class_embedding, cosine_scores, negative_cosine
from semimix.ops.untied import beta_cdf, gamma_function, sample_beta, sample_untied, untied_density, untied_gamma

__all__ = [
    "DIVERGENCES",
    "LOGIT_TARGETS",
    "auxiliary_pass",
    "beta_cdf",
    "central_difference",
    "class_imbalance",
    "class_embedding",
    "confident_pseudo_labels",
    "cosine_scores",
    "dominant_lambda",
    "entropy",
    "fast_gradient",
    "fgm",
    "fgsm",
    "frozen_batchnorm",
    "full_precision",
    "gamma_function",
    "get_divergence",
    "global_norm",
    "keep_own_statistics",
    "kl_divergence",
    "l2_normalize",
    "masked_cross_entropy",
    "masked_kl_divergence",
    "mix",
    "negative_cosine",
    "one_hot",
    "pair_permutation",
    "perturbed_parameters",
    "pgd",
    "reestimate_batchnorm",
    "relu_renormalise",
    "sample_beta",
    "sample_lambda",
    "sample_untied",
    "saved_parameters",
    "sharpen",
    "soft_cross_entropy",
    "softmax_mse",
    "untied_density",
    "untied_gamma",
    "vat_perturbation",
    "virtual_sgd_step",
]
