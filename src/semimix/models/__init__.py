"""Model registry: build a network by name, so configs and the CLI name models as strings.

Every model is a :class:`StagedNet`, so any method can mix inputs or hidden states with it. Besides
the registered names, ``torchvision:NAME`` and ``timm:NAME`` build those packages' models, and a
network passed from Python (``network=``) is recorded as ``python:...``; both are wrapped as one
stage (``semimix.models.foreign``).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from semimix.errors import SemimixError
from semimix.models.base import HiddenMix, StagedNet
from semimix.models.bottleneck_mlp import BottleneckMLP
from semimix.models.cnn1d import CNN1d
from semimix.models.cnn_small import SmallCNN
from semimix.models.convlarge import ConvLarge
from semimix.models.foreign import PYTHON, ForeignNet, ModelFactory, ModelSpec, hub_network, is_hub_name, network_from_spec, python_model_name, wrap_network
from semimix.models.layers import check_input_shape
from semimix.models.mlp import MLP
from semimix.models.preact_resnet import PreActResNet, PreActResNet18, PreActResNet34
from semimix.models.wide_resnet import WideResNet


@dataclass(frozen=True)
class _Entry:
    cls: Callable[..., StagedNet]  # a StagedNet class: (input_shape, num_classes, **its own keyword parameters)
    description: str
    reference_input_shape: tuple[int, ...]
    reference_num_classes: int


_REGISTRY: dict[str, _Entry] = {
    "mlp": _Entry(
        MLP,
        "fully connected net; widths (100, 50) for two circles, (1200, 1200) + batchnorm for VAT MNIST; hidden_noise for TPAMI VAT",
        (2,),
        2,
    ),
    "cnn-small": _Entry(
        SmallCNN,
        "small 3-stage CNN for 8x8 to 28x28 images (digits, MNIST); cheap on CPU",
        (1, 8, 8),
        10,
    ),
    "convlarge": _Entry(
        ConvLarge,
        "13-layer Conv-Large of ICT/AdvMixup (weight norm); weight_norm=False, bias=False for VAT",
        (3, 32, 32),
        10,
    ),
    "preact-resnet18": _Entry(
        PreActResNet18,
        "PreActResNet-18 of Manifold Mixup / Untied MixUp (no final BN+ReLU unless final_bn_relu=True)",
        (3, 32, 32),
        10,
    ),
    "preact-resnet34": _Entry(
        PreActResNet34,
        "PreActResNet-34 of Manifold Mixup (no final BN+ReLU unless final_bn_relu=True)",
        (3, 32, 32),
        10,
    ),
    "wrn-28-2": _Entry(
        WideResNet,
        "WRN-28-2 of Oliver et al., MixMatch, FixMatch (lrelu 0.1, BN momentum 0.001); options width, depth",
        (3, 32, 32),
        10,
    ),
    "cnn1d": _Entry(
        CNN1d,
        "MNIST-1D ConvBase: 3 strided conv1d of 25 channels + linear; tiny, for (1, 40) signals",
        (1, 40),
        10,
    ),
    "bottleneck-mlp": _Entry(
        BottleneckMLP,
        "Manifold Mixup Fig. 1 MLP with a 2-unit bottleneck, mixed there; hidden states can be plotted",
        (2,),
        2,
    ),
}

MODEL_NAMES: tuple[str, ...] = tuple(_REGISTRY)
AUTO = "auto"


VALID = f"valid models: {AUTO}, {', '.join(MODEL_NAMES)}, torchvision:NAME, timm:NAME"


def resolve_model_name(name: str, input_shape: Sequence[int]) -> str:
    """The registered name for ``name``; ``"auto"`` is cnn-small for (C, H, W) inputs and mlp otherwise;
    ``torchvision:NAME``, ``timm:NAME`` and ``python:...`` names keep their model name's case."""
    if not isinstance(name, str):
        raise SemimixError(f"model name must be a string, got {name!r}; {VALID}")
    prefix, colon, rest = name.strip().partition(":")
    key = f"{prefix.lower()}{colon}{rest.strip()}" if colon else name.strip().lower()
    if key == AUTO:
        return "cnn-small" if len(tuple(input_shape)) == 3 else "mlp"
    if key not in _REGISTRY and not is_hub_name(key) and not key.startswith(PYTHON):
        raise SemimixError(f"unknown model {name!r}; {VALID}")
    return key


def _param_names(cls: Callable[..., StagedNet]) -> list[str]:
    """Keyword parameters of a model besides input_shape and num_classes, as the config may set them."""
    return list(inspect.signature(cls).parameters)[2:]


def build_model(name: str, input_shape: Sequence[int], num_classes: int, network: ModelSpec | None = None, **params: Any) -> StagedNet:
    """Build model ``name`` for inputs of ``input_shape`` (no batch axis); ``params`` go to its constructor.

    ``network`` (an ``nn.Module`` or a factory ``(input_shape, num_classes) -> nn.Module``) is used
    instead of any name; a ``python:`` name (a run that trained such a network) needs it given again.
    """
    shape = check_input_shape(input_shape, "build_model")
    if network is not None:
        if params:
            raise SemimixError(
                f"model_params ({', '.join(sorted(params))}) only apply to named models, not to a network passed as model=; build the network with them"
            )
        return wrap_network(network_from_spec(network, shape, num_classes), python_model_name(network), shape, num_classes)
    key = resolve_model_name(name, shape)
    if key.startswith(PYTHON):
        raise SemimixError(
            f"model {key!r} is a network that was passed from Python, which a name cannot rebuild; open the run from Python with the same network as "
            "model= (an nn.Module or its factory): semimix.api.load_model(run, model=...), semimix.api.resume(run, model=...)"
        )
    if is_hub_name(key):
        return wrap_network(hub_network(key, shape, num_classes, params), key, shape, num_classes)
    cls = _REGISTRY[key].cls
    valid = _param_names(cls)
    unknown = sorted(set(params) - set(valid))
    if unknown:
        raise SemimixError(f"unknown parameter(s) {', '.join(unknown)} for model {key!r}; valid parameters: {', '.join(valid)}")
    return cls(shape, num_classes, **params)


def count_parameters(model: nn.Module) -> int:
    """Number of trainable scalars (with weight norm: g and v, not the derived weight)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def describe_models() -> list[dict[str, Any]]:
    """One dict per model (name, description, reference shape and classes, parameter count there) for the CLI."""
    return [
        {
            "name": name,
            "description": entry.description,
            "reference_input_shape": entry.reference_input_shape,
            "reference_num_classes": entry.reference_num_classes,
            "parameters": _reference_parameter_count(entry),
        }
        for name, entry in _REGISTRY.items()
    ]


def _reference_parameter_count(entry: _Entry) -> int:
    """Parameters of the model at its reference shape, built on the meta device: no memory, no init cost."""
    with torch.device("meta"):
        return count_parameters(entry.cls(entry.reference_input_shape, entry.reference_num_classes))


__all__ = [
    "AUTO",
    "MLP",
    "MODEL_NAMES",
    "BottleneckMLP",
    "CNN1d",
    "ConvLarge",
    "ForeignNet",
    "HiddenMix",
    "ModelFactory",
    "ModelSpec",
    "PreActResNet",
    "PreActResNet18",
    "PreActResNet34",
    "SmallCNN",
    "StagedNet",
    "WideResNet",
    "build_model",
    "count_parameters",
    "describe_models",
    "resolve_model_name",
]
