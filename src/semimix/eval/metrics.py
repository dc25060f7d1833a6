"""Accuracy and negative log-likelihood of a model on a labeled split, computed in batches."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from semimix.data.streaming import FileImages, batches
from semimix.methods.base import ClassScores, scores_are_logits


@torch.no_grad()
def predict_logits(model: nn.Module, x: torch.Tensor | FileImages, preprocess: nn.Module | None = None, batch_size: int = 1024) -> torch.Tensor:
    """Logits for every row of ``x`` in eval mode (BN running statistics, no dropout), on the CPU;
    each batch is moved to the model's device and preprocessed there, as in training. Image files
    (``FileImages``, a streamed folder) are decoded batch by batch by a DataLoader's workers."""
    device = next(model.parameters()).device
    prep = preprocess.to(device) if preprocess is not None else (lambda t: t)
    was_training = model.training
    model.eval()
    try:
        return torch.cat([model(prep(batch.float())).float().cpu() for batch in batches(x, batch_size, device)])
    finally:
        model.train(was_training)


def evaluate(
    model: nn.Module,
    x: torch.Tensor | FileImages,
    y: torch.Tensor,
    preprocess: nn.Module | None = None,
    class_scores: ClassScores | None = None,
    batch_size: int = 1024,
) -> dict[str, float]:
    """{'accuracy': fraction correct, 'nll': mean negative log-likelihood}; NaN for an empty split.

    ``class_scores`` maps model outputs that are not the class logits (negative-cosine embeddings, a
    rotation head's extra outputs) to per-class scores for the argmax; NLL is undefined and reported as
    NaN where those scores are not logits.
    """
    if len(x) == 0:
        return {"accuracy": float("nan"), "nll": float("nan")}
    outputs = predict_logits(model, x, preprocess, batch_size)
    scores = outputs if class_scores is None else class_scores(outputs)
    return {
        "accuracy": (scores.argmax(dim=1) == y).float().mean().item(),
        "nll": F.cross_entropy(scores, y).item() if scores_are_logits(class_scores) else float("nan"),
    }
