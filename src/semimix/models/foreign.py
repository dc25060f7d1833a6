"""Networks semimix did not define: a user's ``nn.Module`` (or a factory of one) passed from Python,
and models of torchvision or timm named in a config (``model: torchvision:resnet18``).

Each is wrapped as a one-stage :class:`StagedNet`, so every method that mixes or perturbs *inputs*
(mixup at layer 0, VAT, ICT, Mean Teacher, FixMatch, ...) trains it unchanged. Its hidden states are
unknown to semimix, so a method that mixes them (Manifold Mixup on hidden layers) refuses it by name
(``Trainer`` checks ``Method.mixes_hidden_states`` against ``StagedNet.declares_hidden_layers``).

Before training, the wrapped network runs once on a zero batch of the data's input shape, so a
network that cannot take the inputs, or gives the wrong number of class scores, is refused with one
line naming the shapes instead of failing deep in the first step.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

from semimix.errors import SemimixError
from semimix.models.base import StagedNet

ModelFactory = Callable[[tuple[int, ...], int], nn.Module]  # (input_shape without the batch axis, number of outputs) -> network
ModelSpec = nn.Module | ModelFactory  # what the Python API and the estimator take as ``model=``

PYTHON = "python:"  # a network passed from Python: the name records its class or factory, nothing can rebuild it
HUBS = {"torchvision": "torchvision", "timm": "timm"}  # config prefix -> package (an optional extra of semimix)


class ForeignNet(StagedNet):
    """A network of any shape as one stage: input-level mixing works, hidden layers are not declared."""

    declares_hidden_layers = False

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.stages.append(module)

    @property
    def all_mixable_layers(self) -> tuple[int, ...]:
        return (0,)

    @property
    def module(self) -> nn.Module:
        """The wrapped network itself (its weights are this model's, under ``stages.0.``)."""
        return self.stages[0]


def is_hub_name(key: str) -> bool:
    """Whether ``key`` names a torchvision or timm model (``torchvision:NAME``)."""
    return key.partition(":")[0] in HUBS and bool(key.partition(":")[2])


def python_model_name(spec: ModelSpec) -> str:
    """The name a run records for a network passed from Python: ``python:`` and its class's (or the
    factory's) qualified name, so config.yaml says what trained and nothing mistakes it for a registry model."""
    source = type(spec) if isinstance(spec, nn.Module) else spec
    module = getattr(source, "__module__", None) or "?"
    return f"{PYTHON}{module}.{getattr(source, '__qualname__', type(source).__name__)}"


def network_from_spec(spec: ModelSpec, input_shape: tuple[int, ...], outputs: int) -> nn.Module:
    """The network ``spec`` stands for: itself (an ``nn.Module``, trained in place) or what the factory
    builds for ``input_shape`` and ``outputs``."""
    if isinstance(spec, nn.Module):
        return spec
    if not callable(spec):
        raise SemimixError(f"model must be a model name, an nn.Module or a function (input_shape, num_classes) -> nn.Module, got {type(spec).__name__}")
    network = spec(tuple(input_shape), outputs)
    if not isinstance(network, nn.Module):
        raise SemimixError(f"the model factory {python_model_name(spec)[len(PYTHON) :]} returned {type(network).__name__}, not an nn.Module")
    return network


def hub_network(key: str, input_shape: tuple[int, ...], outputs: int, params: dict[str, Any]) -> nn.Module:
    """A torchvision or timm model by name, untrained unless ``params`` ask for weights, with ``outputs``
    class scores (timm also takes the input channels); the package is imported only here."""
    hub, _, name = key.partition(":")
    try:
        package = importlib.import_module("torchvision.models" if hub == "torchvision" else "timm")
    except ImportError:
        raise SemimixError(
            f"model {key!r} needs {HUBS[hub]}, which is not installed; install it with pip install 'semimix[{hub}]' (and the torch build for your machine)"
        ) from None
    try:
        if hub == "torchvision":
            return package.get_model(name, **{"weights": None, "num_classes": outputs, **params})
        return package.create_model(name, **{"pretrained": False, "num_classes": outputs, "in_chans": input_shape[0], **params})
    except (ValueError, RuntimeError, KeyError, TypeError) as err:
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise SemimixError(f"{HUBS[hub]} cannot build model {name!r} ({reason}); check the name and model_params") from None


def wrap_network(network: nn.Module, label: str, input_shape: Sequence[int], outputs: int) -> ForeignNet:
    """``network`` as a ForeignNet, after one forward pass on a zero batch has shown that it takes inputs
    of ``input_shape`` and gives ``outputs`` scores per sample (its BatchNorm statistics are left alone)."""
    shape = tuple(int(d) for d in input_shape)
    probe = next((p for p in network.parameters()), None)
    x = torch.zeros(2, *shape, device=probe.device if probe is not None else None)
    was_training = network.training
    try:
        with torch.no_grad():
            out = network.eval()(x)
    except Exception as err:  # any failure of foreign code on the probe means the shapes do not fit
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise SemimixError(f"model {label} cannot take inputs of shape {shape} ({reason}); build it for the data's input shape") from None
    finally:
        network.train(was_training)
    if not isinstance(out, torch.Tensor) or tuple(out.shape) != (2, outputs):
        got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise SemimixError(
            f"model {label} gives {got} for a batch of 2 inputs of shape {shape}; "
            f"it must give (batch, {outputs}) outputs, what the method needs (one per class, plus e.g. ReMixMatch's 4 rotation "
            f"outputs) — set its number of outputs to {outputs}"
        )
    return ForeignNet(network)
