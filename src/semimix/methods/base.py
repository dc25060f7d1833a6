"""What every method sees and returns: a batch, the training context, named loss terms."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, TypeVar, cast

import torch
from torch import nn

from semimix.errors import SemimixError
from semimix.ops.losses import DIVERGENCES, LOGIT_TARGETS
from semimix.validation import check_fields, choice


@dataclass
class Batch:
    """One training step's data: a labeled batch and (for SSL methods) an unlabeled batch.

    ``idx_u`` are the unlabeled samples' dataset indices, for methods that keep per-sample state.
    """

    x_l: torch.Tensor
    y_l: torch.Tensor
    x_u: torch.Tensor | None = None
    idx_u: torch.Tensor | None = None
    x_l2: torch.Tensor | None = None  # a second labeled batch from an independent stream (epoch-level pairing)
    y_l2: torch.Tensor | None = None


@dataclass
class StepContext:
    """What the trainer provides to a method for one step.

    ``ramp`` is the consistency ramp-up factor in [0, 1] (a method multiplies its own maximum
    weight by it); ``view`` draws a fresh stochastic training view of a raw batch on its device
    (to float, augment, then the dataset's preprocessing), the model's input; ``lr`` is the
    optimiser's learning rate this step (for methods whose inner steps follow it); ``strong_view``
    draws the strong view (RandAugment + Cutout of a weak view, then preprocessing) for methods that
    declare ``needs_strong_view``; ``num_unlabeled`` is the size of the unlabeled set that
    ``Batch.idx_u`` indexes (for methods keeping per-sample state); ``progress`` is step / the
    length the schedules are laid over, in [0, 1] (for annealing on the run's clock, UDA's TSA),
    None where the caller has no schedule; ``class_prior`` is the labeled set's class frequencies
    (for ReMixMatch's distribution alignment), None where the caller does not know them (uniform).
    """

    student: nn.Module
    teacher: nn.Module | None
    num_classes: int
    step: int = 0
    ramp: float = 1.0
    view: Callable[[torch.Tensor], torch.Tensor] = lambda x: x  # positional: the trainer passes it after ramp
    lr: float | None = None
    strong_view: Callable[[torch.Tensor], torch.Tensor] = lambda x: x
    num_unlabeled: int = 0
    progress: float | None = None
    class_prior: torch.Tensor | None = None


# One pass of a step, by kind and batch size: what its cost is predicted from (see ``Method.passes``).
Pass = tuple[str, int]
FORWARD = "forward"  # with autograd recording, for a later backward
NO_GRAD = "forward-no-grad"  # a target pass
BACKWARD = "backward"  # to the parameters, through one FORWARD of that batch size
# VAT's power iteration stays in float32 under bf16 autocast (see ops.vat_perturbation), so its two passes
# cost float32 time, several times a bf16 pass on a CPU with bf16 units: they are kinds of their own.
# So does the model's own prediction that the iteration is measured against (VAT's target).
FP32_FORWARD = "forward-fp32"  # with autograd recording, autocast off
INPUT_BACKWARD = "input-backward-fp32"  # to the input only, through one FP32_FORWARD
FP32_NO_GRAD = "forward-no-grad-fp32"  # a target pass, autocast off
PASS_KINDS = (FORWARD, NO_GRAD, BACKWARD, FP32_FORWARD, INPUT_BACKWARD, FP32_NO_GRAD)


def trained(batch_size: int) -> list[Pass]:
    """A pass that the loss trains the student through: forward with grad, then its backward."""
    return [(FORWARD, batch_size), (BACKWARD, batch_size)]


def power_iterations(batch_size: int, iterations: int) -> list[Pass]:
    """VAT's power iteration: each a float32 forward and a backward to the perturbation only."""
    return [(FP32_FORWARD, batch_size), (INPUT_BACKWARD, batch_size)] * iterations


@dataclass
class MethodParams:
    """Base of each method's hyperparameters; subclasses add fields with the papers' defaults and
    declare what each accepts (``semimix.validation``: choice, bounded), checked by ``make_params``."""


def divergence_field(default: str, logit_targets: bool = False) -> Any:
    """A field naming a divergence of ``semimix.ops.losses``; one comparing logits (``LOGIT_TARGETS``)
    only for a method whose targets are logits (``logit_targets``, as ``get_divergence`` takes)."""
    return choice(default, (name for name in DIVERGENCES if logit_targets or name not in LOGIT_TARGETS))


P = TypeVar("P", bound=MethodParams)
Q = TypeVar("Q", bound=MethodParams)


class Method(Generic[P]):
    """A semi-supervised algorithm as its loss: ``losses(batch, ctx)`` returns weighted terms.

    The total loss is the sum of the returned terms. A method knows nothing about loops,
    devices, logging or files; it declares what it needs and the trainer provides it.

    A method is generic in its hyperparameters, ``class VAT(Method[VATParams])`` with
    ``Params = VATParams``, so ``self.params`` has that type; a subclass may set ``Params`` to a
    subclass of it (an ablation changing defaults).
    """

    name: ClassVar[str]
    summary: ClassVar[str] = ""
    # The dataclass that ``__init__`` builds ``params`` from: P or a subclass of it. A ClassVar cannot
    # hold a type variable, so it is declared as the bound, and ``__init__`` casts its instance to P.
    Params: ClassVar[type[MethodParams]] = MethodParams
    unlabeled: ClassVar[str] = "required"  # required | optional (also trains without any) | unused
    params: P

    def __init__(self, **params: Any) -> None:
        self.params = cast(P, make_params(self.Params, params, self.name))  # Params is P's class (see above)
        self.check_params()

    @property
    def needs_teacher(self) -> bool:
        """Whether the trainer must keep an EMA teacher for this method."""
        return False

    @property
    def evaluates_ema(self) -> bool:
        """Whether the evaluated model is an EMA of the student although the loss needs no teacher
        (MixMatch, FixMatch: their papers report the EMA model)."""
        return False

    @property
    def needs_strong_view(self) -> bool:
        """Whether the trainer must fill ``StepContext.strong_view`` with the strong view."""
        return False

    @property
    def mixes_hidden_states(self) -> bool:
        """Whether it mixes hidden states between a model's stages, which only models that declare
        their layers allow (``StagedNet.declares_hidden_layers``; a foreign network does not)."""
        return False

    @property
    def needs_second_labeled_batch(self) -> bool:
        """Whether the trainer must fill ``Batch.x_l2/y_l2`` from an independent labeled stream."""
        return False

    @property
    def scores_are_logits(self) -> bool:
        """Whether ``class_scores`` are logits (so NLL is meaningful) rather than e.g. cosines."""
        return True

    def output_dim(self, num_classes: int) -> int:
        """How many outputs the model needs (one per class unless the method embeds targets)."""
        return num_classes

    def class_scores(self, outputs: torch.Tensor, num_classes: int) -> torch.Tensor:
        """Per-class scores whose argmax is the prediction; the model's logits by default."""
        return outputs

    def check_params(self) -> None:
        """Raise SemimixError for a combination of hyperparameters that is invalid although each is
        valid on its own (each field's own range is declared on it and checked by ``make_params``)."""

    def state_dict(self) -> dict[str, Any]:
        """State the method keeps across steps (tensors only), saved in checkpoints; none by default."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what ``state_dict`` returned, on resume."""

    def passes(self, labeled: int, unlabeled: int) -> list[Pass] | None:
        """The model passes one step of the algorithm needs at these batch sizes (an instance
        method, since hyperparameters change them), so a benchmark can predict the step's cost
        from single-pass costs; None where a method has not declared them."""
        return None

    def losses(self, batch: Batch, ctx: StepContext) -> dict[str, torch.Tensor]:
        raise NotImplementedError


@dataclass(frozen=True)
class ClassScores:
    """How a method's model outputs become class scores where they are not the class logits themselves:
    cosines of a target embedding (not logits), or the logits followed by an auxiliary head's outputs
    (ReMixMatch's rotations: logits). Evaluation, attacks, export and prediction take it, or None where
    the outputs are the logits (``class_scores_of``)."""

    method: Method
    num_classes: int

    def __call__(self, outputs: torch.Tensor) -> torch.Tensor:
        return self.method.class_scores(outputs, self.num_classes)

    @property
    def are_logits(self) -> bool:
        """Whether softmax of the scores gives probabilities (so NLL and calibration are meaningful)."""
        return self.method.scores_are_logits


def class_scores_of(method: Method, num_classes: int) -> ClassScores | None:
    """None where the model's outputs are the class logits, else the map from outputs to class scores."""
    plain = method.scores_are_logits and method.output_dim(num_classes) == num_classes
    return None if plain else ClassScores(method, num_classes)


def scores_are_logits(class_scores: ClassScores | None) -> bool:
    """Whether the class scores (the outputs themselves where ``class_scores`` is None) are logits."""
    return class_scores is None or class_scores.are_logits


def make_params(params_cls: type[Q], given: dict[str, Any], method: str) -> Q:
    """Build a Params dataclass from user values, with a clear error for unknown keys, bad types or a
    value outside what its field declares, so no method has to check (or can forget) its own."""
    fields = {f.name: f for f in dataclasses.fields(params_cls)}
    unknown = sorted(set(given) - set(fields))
    if unknown:
        raise SemimixError(f"method {method!r} has no parameter {', '.join(map(repr, unknown))}; its parameters are: {', '.join(sorted(fields)) or '(none)'}")
    values = {}
    for key, value in given.items():
        default = getattr(params_cls, key, None)
        values[key] = _coerce(value, default, f"{method}.{key}")
    params = params_cls(**values)
    check_fields(params, f"{method}.")
    return params


def _coerce(value: Any, default: Any, where: str) -> Any:
    """Match a user value (from YAML or ``--set``) to the type of the field's default."""
    if default is None or type(value) is type(default):
        return value
    if isinstance(default, bool):
        pass  # only real booleans are accepted; YAML already turned "true"/"false" into them
    elif isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    elif isinstance(default, int) and isinstance(value, float) and value.is_integer():
        return int(value)
    elif isinstance(default, tuple) and isinstance(value, (list, tuple)):
        return tuple(value)
    raise SemimixError(f"{where} must be a {type(default).__name__} like {default!r}, got {value!r}")


def check(condition: bool, message: str) -> None:
    """Raise a SemimixError with ``message`` unless ``condition`` holds."""
    if not condition:
        raise SemimixError(message)
