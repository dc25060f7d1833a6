"""A run's whole configuration: one dataclass tree, loaded from YAML presets and ``--set`` overrides,
saved as ``config.yaml`` in the run directory so the run can be repeated exactly."""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from semimix.data.config import DataConfig
from semimix.errors import SemimixError

PRESET_DIR = Path(__file__).resolve().parent.parent / "presets"


@dataclass
class OptimConfig:
    name: str = "sgd"  # sgd | adam
    lr: float = 0.1
    momentum: float = 0.9  # SGD momentum, or Adam's β1
    nesterov: bool = False
    weight_decay: float = 1e-4
    adam_beta2: float = 0.999
    decoupled_weight_decay: bool = False  # True: w ← w(1 − weight_decay·lr) after each step (MixMatch's code, AdamW); False: L2 in the gradient
    weight_decay_on: str = "all"  # all parameters | kernels (conv/linear weights only: FixMatch's and MixMatch's codes skip BN and biases)


@dataclass
class ScheduleConfig:
    name: str = "cosine"  # cosine | step | constant
    warmup_steps: int = 0  # linear warm-up from 0
    cosine_horizon: float = 1.0  # cosine reaches 0 at horizon × steps (ICT: 450/400 epochs = 1.125)
    milestones: list[int] = field(default_factory=list)  # for 'step': steps where lr is multiplied by gamma
    gamma: float = 0.1


@dataclass
class RampConfig:
    shape: str = "sigmoid"  # sigmoid exp(-5(1-t)^2) | linear | none
    fraction: float = 0.25  # ramp length as a fraction of the run's steps (AdvMixup/ICT: 100 of 400 epochs)


@dataclass
class BudgetConfig:
    """The budget a preset's time constants are stated for, and how a shorter run keeps them
    (``semimix.train.budget``): a reduced preset is its full preset with fewer steps, nothing else edited."""

    reference_steps: int | None = None  # steps of the setting reproduced (the paper's); None: every constant is taken as given
    rule: str = "scale"  # scale: the schedule shrinks with the run, averaging horizons are capped | truncate: the reference schedule, stopped early
    ema_horizon_fraction: float = 1 / 30  # scale: the EMA teacher's horizon at most this fraction of the run (benchmarks/horizon_sweep.py)


@dataclass
class AugmentConfig:
    """Stochastic views drawn on the device, batch at a time: the weak view (flip, translate, noise)
    every method uses, and the strong view (RandAugment + Cutout) of methods that ask for one (FixMatch)."""

    flip: bool = False  # random horizontal flip (images); off for digits/SVHN, where mirroring changes the class
    translate: int = 0  # random translation by up to this many pixels (images)
    pad_mode: str = "zero"  # translation padding: zero (ICT, VAT) | reflect (FixMatch, Mean Teacher's TF code)
    noise: float = 0.0  # additive Gaussian noise std (any input)
    strong_ops: int = 2  # strong view: RandAugment ops per image, drawn with replacement, each applied with p=0.5
    strong_magnitude: int = 10  # strong view: levels drawn from 1..strong_magnitude-1 out of 10 (FixMatch's randint(1, 10))
    cutout: float = 0.5  # strong view: Cutout square side as a fraction of the image side (16 px on 32x32); 0 = none


@dataclass
class TrainConfig:
    method: str = "advmixup"
    method_params: dict[str, dict[str, Any]] = field(default_factory=dict)  # per method name; one preset can tune several
    model: str = "auto"
    model_params: dict[str, Any] = field(default_factory=dict)
    data: DataConfig = field(default_factory=DataConfig)
    steps: int = 2000
    labeled_batch_size: int = 32
    unlabeled_batch_size: int = 128
    optim: OptimConfig = field(default_factory=OptimConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    rampup: RampConfig = field(default_factory=RampConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    budget: BudgetConfig = field(default_factory=BudgetConfig)
    ema_decay: float = 0.999
    teacher_batchnorm: str = "student"  # the EMA teacher's BN statistics: student (copied each step) | own (from its target passes: ICT's, AdvMixup's codes)
    eval_model: str = "auto"  # auto (teacher if the method has one) | student | teacher
    eval_every: int = 200
    log_every: int = 50
    checkpoint_every: int | None = None  # steps between checkpoints (last.pt); None: at every evaluation
    nonfinite: str = "stop"  # a NaN/Inf loss: stop (keep the last good checkpoint) | skip the step (reads a flag every step)
    sync_batchnorm: bool = False  # under torchrun on GPUs: BatchNorm statistics over the global batch
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    threads: int | None = None  # CPU threads for torch; None = torch's default (all cores)
    out: str | None = None  # run directory; default runs/<dataset>-<method>-<time>
    progress: bool = True
    amp: bool = False  # bf16 autocast of the step's passes (CPU and CUDA); the update stays fp32
    compile: bool = False  # torch.compile the student and teacher in place (state dict keys unchanged)

    def params_for_method(self) -> dict[str, Any]:
        return dict(self.method_params.get(self.method, {}))

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


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
        if dataclasses.is_dataclass(hint):
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
    return _from_dict(TrainConfig, values, "")


def load_yaml(path: str | Path) -> dict[str, Any]:
    """A YAML mapping from a file, or a clear error naming the file."""
    path = Path(path)
    try:
        values = yaml.safe_load(path.read_text()) or {}
    except FileNotFoundError:
        raise SemimixError(f"config file {path} not found; give a path to a YAML file or a bundled preset name ({', '.join(preset_names())})") from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise SemimixError(f"cannot read config {path}: {str(exc).splitlines()[0]}") from None
    if not isinstance(values, dict):
        raise SemimixError(f"config {path} must hold a YAML mapping (key: value lines), not {type(values).__name__}")
    return values


EXTENDS = "extends"  # a preset key: the YAML file (relative to this one) whose values this one changes


def load_preset(name_or_path: str | Path) -> dict[str, Any]:
    """A preset's values, with ``extends: FILE`` resolved: the named file's values, then this
    file's on top. A file that sets another ``model`` brings its own ``model_params`` (the parent's
    belong to the parent's model). This is how a reduced preset is its full preset plus a budget."""
    path = resolve_preset(str(name_or_path))
    return _load_extending(path, [])


def _load_extending(path: Path, chain: list[Path]) -> dict[str, Any]:
    values = load_yaml(path)
    parent = values.pop(EXTENDS, None)
    if parent is None:
        return values
    if not isinstance(parent, str):
        raise SemimixError(f"config {path}: '{EXTENDS}' must be a YAML file name, got {parent!r}")
    parent_path = (path.parent / parent).resolve()
    if parent_path in chain or parent_path == path.resolve():
        raise SemimixError(f"config {path}: '{EXTENDS}: {parent}' makes a cycle; a preset cannot extend itself")
    base = _load_extending(parent_path, [*chain, path.resolve()])
    if "model" in values and values["model"] != base.get("model"):
        base.pop("model_params", None)
    return merge(base, values)


def preset_names() -> list[str]:
    return sorted(p.stem for p in PRESET_DIR.glob("*.yaml"))


def resolve_preset(name_or_path: str) -> Path:
    """A bundled preset by name (e.g. ``digits``) or a YAML file path."""
    path = Path(name_or_path)
    if path.suffix in {".yaml", ".yml"} or path.exists():
        return path
    bundled = PRESET_DIR / f"{name_or_path}.yaml"
    if bundled.exists():
        return bundled
    raise SemimixError(f"no preset {name_or_path!r}: bundled presets are {', '.join(preset_names())}, or give a .yaml path")


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
    if parts[0] not in top_level:
        from semimix.methods import build_method, canonical_method_name

        method = canonical_method_name(values.get("method", TrainConfig.method))
        try:
            build_method(method, {parts[0]: value} if len(parts) == 1 else {".".join(parts): value})  # validates
        except SemimixError as exc:
            raise SemimixError(f"--set {key}: not a config key (config keys: {', '.join(sorted(top_level))}), and {exc}") from None
        parts = ["method_params", method, *parts]
    node = values
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise SemimixError(f"--set {key}: {part!r} is not a section")
    node[parts[-1]] = value


def merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """Recursive dict merge: ``update`` wins, nested sections are merged key by key."""
    out = dict(base)
    for key, value in update.items():
        out[key] = merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out
