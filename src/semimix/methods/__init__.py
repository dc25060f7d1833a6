"""The method registry: one class per algorithm, looked up by its CLI name."""

from __future__ import annotations

import dataclasses
from typing import Any

from semimix.errors import SemimixError
from semimix.methods.advmixup import AdvAdvMixup, AdvMixup, AdvMixupNoTeacher
from semimix.methods.base import Batch, Method, StepContext
from semimix.methods.dat import DAT
from semimix.methods.fixmatch import FixMatch
from semimix.methods.flexmatch import FlexMatch
from semimix.methods.freematch import FreeMatch
from semimix.methods.ict import ICT
from semimix.methods.input_mixup import InputMixup
from semimix.methods.manifold_mixup import ManifoldMixup
from semimix.methods.mean_teacher import MeanTeacher
from semimix.methods.meta_gradient import MetaGradient, MetaGradientMixupOnly, MetaGradientNeither, MetaGradientNoMixup
from semimix.methods.mixmatch import MixMatch
from semimix.methods.pi_model import PiModel
from semimix.methods.pseudo_label import PseudoLabel
from semimix.methods.remixmatch import ReMixMatch
from semimix.methods.softmatch import SoftMatch
from semimix.methods.supervised import Supervised
from semimix.methods.temporal_ensembling import TemporalEnsembling
from semimix.methods.uda import UDA
from semimix.methods.untied_mixup import UntiedMixup
from semimix.methods.vat import VAT
from semimix.methods.vat_entmin import VATEntMin

_CLASSES: list[type[Method]] = [
    Supervised,
    PiModel,
    TemporalEnsembling,
    MeanTeacher,
    VAT,
    VATEntMin,
    PseudoLabel,
    ICT,
    MixMatch,
    ReMixMatch,
    UDA,
    FixMatch,
    FlexMatch,
    FreeMatch,
    SoftMatch,
    InputMixup,
    ManifoldMixup,
    AdvMixup,
    AdvAdvMixup,
    AdvMixupNoTeacher,
    UntiedMixup,
    DAT,
    MetaGradient,
    MetaGradientNoMixup,
    MetaGradientMixupOnly,
    MetaGradientNeither,
]
METHODS: dict[str, type[Method]] = {cls.name: cls for cls in _CLASSES}
ALIASES = {"mixup": "input-mixup"}
METHOD_NAMES = tuple(METHODS)


def canonical_method_name(name: str) -> str:
    """Resolve aliases; unknown names get an error listing the valid ones."""
    name = ALIASES.get(name, name)
    if name not in METHODS:
        raise SemimixError(f"unknown method {name!r}; valid methods: {', '.join(METHOD_NAMES)} (see 'semimix methods')")
    return name


def build_method(name: str, params: dict[str, Any] | None = None) -> Method:
    """The method called ``name`` with the given hyperparameters over its defaults."""
    return METHODS[canonical_method_name(name)](**(params or {}))


def describe_methods() -> list[dict[str, Any]]:
    """Name, one-line summary and default hyperparameters of every method."""
    return [{"name": n, "summary": cls.summary, "defaults": dataclasses.asdict(cls.Params())} for n, cls in METHODS.items()]


__all__ = ["ALIASES", "Batch", "METHODS", "METHOD_NAMES", "Method", "StepContext", "build_method", "canonical_method_name", "describe_methods"]
