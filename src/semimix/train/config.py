"""A run's whole configuration: one dataclass tree, loaded from YAML presets and ``--set`` overrides,
saved as ``config.yaml`` in the run directory so the run can be repeated exactly."""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from typing import Any

import yaml

from semimix.data.augment import PAD_MODES
from semimix.data.config import DataConfig
from semimix.errors import SemimixError
from semimix.methods import METHODS, build_method, canonical_method_name
from semimix.train.precision import MEMORY_FORMATS, PRECISIONS

# The presets and reading them live in the light semimix.train.presets (the CLI lists presets without
# torch); re-exported here, where the rest of the code imports them from. Reading YAML is semimix.files.load_yaml.
from semimix.train.presets import PRESET_DIR as PRESET_DIR
from semimix.train.presets import load_preset as load_preset
from semimix.train.presets import merge as merge
from semimix.train.presets import preset_names as preset_names
from semimix.train.presets import resolve_preset as resolve_preset
from semimix.validation import bounded, check_fields, choice, matching, switch

MAX_SEED = 2**32 - 1  # numpy's legacy seeding takes [0, 2**32 - 1]; every generator a seed reaches accepts it


@dataclass
class OptimConfig:
    name: str = choice("sgd", ("sgd", "adam"))
    lr: float = bounded(0.1, gt=0)
    momentum: float = bounded(0.9, ge=0, lt=1)  # SGD momentum, or Adam's β1
    nesterov: bool = False
    weight_decay: float = bounded(1e-4, ge=0)
    adam_beta2: float = bounded(0.999, ge=0, lt=1)
    decoupled_weight_decay: bool = False  # True: w ← w(1 − weight_decay·lr) after each step (MixMatch's code, AdamW); False: L2 in the gradient
    # all parameters | kernels (conv/linear weights only: FixMatch's and MixMatch's codes skip BN and biases)
    weight_decay_on: str = choice("all", ("all", "kernels"))


@dataclass
class ScheduleConfig:
    name: str = choice("cosine", ("cosine", "step", "constant"))
    warmup_steps: int = bounded(0, ge=0)  # linear warm-up from 0
    cosine_horizon: float = bounded(1.0, gt=0)  # cosine reaches 0 at horizon × steps (ICT: 450/400 epochs = 1.125)
    milestones: list[int] = field(default_factory=list)  # for 'step': steps where lr is multiplied by gamma
    gamma: float = bounded(0.1, gt=0)


@dataclass
class RampConfig:
    shape: str = choice("sigmoid", ("sigmoid", "linear", "none"))  # sigmoid exp(-5(1-t)^2) | linear | none
    fraction: float = bounded(0.25, ge=0)  # 0: no ramp; ramp length as a fraction of the run's steps (AdvMixup/ICT: 100 of 400 epochs)


@dataclass
class BudgetConfig:
    """The budget a preset's time constants are stated for, and how a shorter run keeps them
    (``semimix.train.budget``): a reduced preset is its full preset with fewer steps, nothing else edited."""

    reference_steps: int | None = bounded(None, gt=0, integer=True)  # steps of the setting reproduced (the paper's); None: every constant is taken as given
    # scale: the schedule shrinks with the run, averaging horizons are capped | truncate: the reference schedule, stopped early
    rule: str = choice("scale", ("scale", "truncate"))
    ema_horizon_fraction: float = bounded(1 / 30, gt=0, le=1)  # scale: the EMA teacher's horizon at most this fraction of the run (benchmarks/horizon_sweep.py)


@dataclass
class AugmentConfig:
    """Stochastic views drawn on the device, batch at a time: the weak view (flip, translate, noise)
    every method uses, and the strong view of methods that ask for one (FixMatch): RandAugment + Cutout
    on images, feature noise + dropout on feature vectors (``semimix.data.augment``)."""

    flip: bool = False  # random horizontal flip (images); off for digits/SVHN, where mirroring changes the class
    translate: int = bounded(0, ge=0)  # random translation by up to this many pixels (images)
    pad_mode: str = choice("zero", PAD_MODES)  # translation padding: zero (ICT, VAT) | reflect (FixMatch, Mean Teacher's TF code)
    noise: float = bounded(0.0, ge=0)  # additive Gaussian noise std (any input)
    strong_ops: int = bounded(2, ge=0)  # strong view: RandAugment ops per image, drawn with replacement, each applied with p=0.5
    strong_magnitude: int = bounded(10, ge=2, le=11)  # strong view: levels drawn from 1..strong_magnitude-1 out of 10 (FixMatch's randint(1, 10))
    cutout: float = bounded(0.5, ge=0, le=1)  # strong view: Cutout square side as a fraction of the image side (16 px on 32x32); 0 = none
    strong_noise: float = bounded(0.3, ge=0)  # strong view of feature vectors: Gaussian noise std as a fraction of each feature's training std
    strong_drop: float = bounded(0.2, ge=0, le=1)  # strong view of feature vectors: probability a feature is set to its training mean


@dataclass
class TrainConfig:
    method: str = "advmixup"
    method_params: dict[str, dict[str, Any]] = field(default_factory=dict)  # per method name; one preset can tune several
    model: str = "auto"
    model_params: dict[str, Any] = field(default_factory=dict)
    data: DataConfig = field(default_factory=DataConfig)
    steps: int = bounded(2000, gt=0)
    labeled_batch_size: int = bounded(32, gt=0)
    unlabeled_batch_size: int = bounded(128, gt=0)
    optim: OptimConfig = field(default_factory=OptimConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    rampup: RampConfig = field(default_factory=RampConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    budget: BudgetConfig = field(default_factory=BudgetConfig)
    ema_decay: float = bounded(0.999, ge=0, lt=1)
    # the EMA teacher's BN statistics: student (copied each step) | own (from its target passes: ICT's, AdvMixup's codes)
    teacher_batchnorm: str = choice("student", ("student", "own"))
    eval_model: str = choice("auto", ("auto", "student", "teacher"))  # auto (teacher if the method has one) | student | teacher
    eval_every: int = bounded(200, gt=0)
    # steps between metrics rows; auto: steps // 500 within 1..50, so a short run logs every step and a long one every 50 (loss_meter.row_interval)
    log_every: int | str = bounded("auto", gt=0, integer=True)
    checkpoint_every: int | None = bounded(None, gt=0, integer=True)  # steps between checkpoints (last.pt); None: at every evaluation
    nonfinite: str = choice("stop", ("stop", "skip"))  # a NaN/Inf loss: stop (keep the last good checkpoint) | skip the step (reads a flag every step)
    sync_batchnorm: bool = False  # under torchrun on GPUs: BatchNorm statistics over the global batch
    seed: int = bounded(0, ge=0, le=MAX_SEED)
    device: str = matching("auto", r"auto|cpu|mps|cuda(:\d+)?", "auto, cpu, mps, cuda or cuda:N")  # availability: hardware.resolve_device
    threads: int | None = bounded(None, gt=0, integer=True)  # CPU threads for torch; None = torch's default (all cores)
    out: str | None = None  # run directory; default runs/<dataset>-<method>-<time>
    progress: bool = True
    tensorboard: bool | str = switch()  # event files in RUN_DIR/tensorboard as metrics.csv's rows are written; auto: where the tensorboard package is installed
    # bf16 autocast of the step's passes where the device computes bf16 natively (auto), always (bf16), never (fp32);
    # weights, optimiser, EMA teacher, BN statistics and VAT's power iteration stay fp32 (semimix.train.precision)
    precision: str = choice("auto", PRECISIONS)
    memory_format: str = choice("auto", MEMORY_FORMATS)  # convolutional models: auto = channels-last where bf16 runs
    compile: bool = False  # torch.compile the student and teacher in place (state dict keys unchanged)

    def __post_init__(self) -> None:
        validate_config(self)

    def params_for_method(self) -> dict[str, Any]:
        return dict(self.method_params.get(self.method, {}))

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def validate_config(cfg: TrainConfig) -> None:
    """Check every setting against what its field declares, the method's name, each tuned method's
    hyperparameters and the rules between fields: one clear error when a config is built, not after
    the data loaded or at step 0. Configs are mutable, so the Trainer checks again when it starts."""
    check_fields(cfg)
    if not isinstance(cfg.method, str):
        raise SemimixError(f"method must be a method name; got {cfg.method!r}")
    canonical_method_name(cfg.method)
    for name, params in cfg.method_params.items():
        if not isinstance(params, dict):
            raise SemimixError(f"method_params.{name} must be a mapping of hyperparameters to values; got {params!r}")
        try:
            build_method(name, params)
        except SemimixError as exc:
            raise SemimixError(f"method_params.{name}: {exc}") from None
    b = cfg.budget
    if b.rule == "truncate" and b.reference_steps is not None and cfg.steps > b.reference_steps:
        raise SemimixError(
            f"budget.rule truncate stops the reference schedule early, but steps {cfg.steps} > budget.reference_steps {b.reference_steps}; "
            "raise reference_steps or use rule scale"
        )


def _from_dict(cls: type, values: dict[str, Any], where: str) -> Any:
    """Build dataclass ``cls`` from a nested dict, with one-line errors for unknown keys and bad types."""
    if not isinstance(values, dict):
        raise SemimixError(f"{where or 'config'} must be a mapping of keys to values, got {values!r}")
    hints = typing.get_type_hints(cls)
    fields = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - fields)
    if unknown:
        section = f" under {where.rstrip('.')}" if where else ""
        raise SemimixError(f"unknown config key '{where}{unknown[0]}'; valid keys{section}: {', '.join(sorted(fields))}")
    kwargs = {}
    for name, value in values.items():
        hint = hints[name]
        if isinstance(hint, type) and dataclasses.is_dataclass(hint):  # a nested section (a class, never an instance)
            kwargs[name] = _from_dict(hint, value, f"{where}{name}.")
        else:
            kwargs[name] = _check_type(value, hint, f"{where}{name}")
    return cls(**kwargs)


def _check_type(value: Any, hint: Any, where: str) -> Any:
    """Accept ``value`` if it fits ``hint`` (an int where a float is expected too), else a clear error."""
    is_union = isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union
    options = typing.get_args(hint) if is_union else (hint,)
    for option in options:
        base = typing.get_origin(option) or option
        if value is None and option is type(None):
            return None
        if isinstance(value, bool):
            if base is bool:
                return value
        elif base is int and isinstance(value, int):
            return value
        elif base is float and isinstance(value, (int, float)):
            return value if int in options else float(value)
        elif base in (str, dict, list) and isinstance(value, base):
            return value
    names = " or ".join(getattr(o, "__name__", str(o)) for o in options)
    raise SemimixError(f"config key {where} must be {names}, got {value!r}")


def config_from_dict(values: dict[str, Any]) -> TrainConfig:
    return _from_dict(TrainConfig, upgrade_legacy_keys(values), "")


LEGACY_KEYS = ("amp",)  # accepted in configs and --set, translated by upgrade_legacy_keys


def upgrade_legacy_keys(values: dict[str, Any]) -> dict[str, Any]:
    """``values`` with keys of earlier versions in today's terms: ``amp: true/false`` (before
    ``precision`` existed; every config.yaml of then has it) is ``precision: bf16/fp32``, so old runs
    reload and resume as they trained."""
    if not isinstance(values, dict) or "amp" not in values:
        return values
    values = dict(values)
    amp = values.pop("amp")
    if not isinstance(amp, bool):
        raise SemimixError(f"amp must be true or false (or use precision: auto, bf16 or fp32), got {amp!r}")
    legacy = "bf16" if amp else "fp32"
    if values.setdefault("precision", legacy) != legacy:
        raise SemimixError(f"amp: {str(amp).lower()} contradicts precision: {values['precision']}; set precision alone (amp is its old name)")
    return values


def apply_override(values: dict[str, Any], assignment: str) -> None:
    """Apply one ``--set key.sub=value`` (value parsed as YAML) to a nested config dict.

    A key that is not a config key but a hyperparameter of the chosen method (``--set epsilon=2``)
    goes to ``method_params[method]``.
    """
    key, sep, raw = assignment.partition("=")
    if not sep or not key:
        raise SemimixError(f"--set expects key=value (e.g. --set optim.lr=0.05), got {assignment!r}")
    try:
        value = yaml.safe_load(raw) if raw else None
    except yaml.YAMLError:
        value = raw
    parts = key.strip().split(".")
    top_level = {f.name for f in dataclasses.fields(TrainConfig)}
    if parts[0] not in top_level | set(LEGACY_KEYS):
        method = canonical_method_name(values.get("method", TrainConfig.method))
        try:
            build_method(method, {".".join(parts): value})  # validates
        except SemimixError as exc:
            if key.strip() in {f.name for f in dataclasses.fields(METHODS[method].Params)}:  # the value is wrong, not the key
                raise SemimixError(f"--set {key}: {exc}") from None
            raise SemimixError(f"--set {key}: not a config key (config keys: {', '.join(sorted(top_level))}), and {exc}") from None
        parts = ["method_params", method, *parts]
    node = values
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise SemimixError(f"--set {key}: {part!r} is not a section")
    node[parts[-1]] = value
