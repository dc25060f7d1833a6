"""Stochastic views of a batch, computed on the batch's own device (no Python per-sample loop)."""

from __future__ import annotations

import torch

from semimix.errors import SemimixError


def random_flip(x: torch.Tensor) -> torch.Tensor:
    """Each image flipped left-right with probability ½."""
    flip = torch.rand(len(x), device=x.device) < 0.5
    return torch.where(flip.view(-1, *([1] * (x.dim() - 1))), x.flip(-1), x)


def random_translate(x: torch.Tensor, pixels: int) -> torch.Tensor:
    """Each image shifted by an independent offset in [−pixels, pixels]² with zero padding
    (pad-and-crop, as ICT and VAT translate)."""
    n, c, h, w = x.shape
    padded = torch.nn.functional.pad(x, (pixels, pixels, pixels, pixels))
    dy = torch.randint(0, 2 * pixels + 1, (n, 1), device=x.device)
    dx = torch.randint(0, 2 * pixels + 1, (n, 1), device=x.device)
    rows = (dy + torch.arange(h, device=x.device)).view(n, 1, h, 1)
    cols = (dx + torch.arange(w, device=x.device)).view(n, 1, 1, w)
    batch = torch.arange(n, device=x.device).view(n, 1, 1, 1)
    channel = torch.arange(c, device=x.device).view(1, c, 1, 1)
    return padded[batch, channel, rows, cols]


class Augmenter:
    """Flip, translate, then Gaussian noise, each only if configured; identity when none is."""

    def __init__(self, flip: bool = False, translate: int = 0, noise: float = 0.0, input_shape: tuple[int, ...] = ()) -> None:
        if (flip or translate) and len(input_shape) != 3:
            raise SemimixError(
                f"flip/translate augmentation needs image inputs (C, H, W), but inputs have shape {input_shape}; "
                "set augment.flip=false and augment.translate=0, or use augment.noise"
            )
        if translate < 0 or noise < 0:
            raise SemimixError("augment.translate and augment.noise must be >= 0")
        self.flip, self.translate, self.noise = flip, translate, noise

    @property
    def is_identity(self) -> bool:
        return not (self.flip or self.translate or self.noise)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if self.flip:
            x = random_flip(x)
        if self.translate:
            x = random_translate(x, self.translate)
        if self.noise:
            x = x + self.noise * torch.randn_like(x)
        return x
