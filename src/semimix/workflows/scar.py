"""SCAR (Yang, Kim & Kim 2023) as a stage after any finished run (``semimix scar``): select the
unlabeled samples whose predicted class survives an FGSM (or PGD) attack on the frozen model, add them
as labeled with that class, and fine-tune with the run's own method (Algorithm 1).

Algorithm 1 attacks the frozen pre-trained model f_θ̃ in every epoch, so with FGSM (deterministic) its
selection is the same throughout one fine-tuning: that is one round here. ``rounds`` > 1 (an
extension) re-selects with the fine-tuned model, frozen, at the start of each later round; every
round's labeled set is D_l ∪ (that round's selection), as D_{l,t} in Algorithm 1, not the union
over rounds. Each round is an ordinary run directory (``round-<r>/``: ``semimix eval`` and
``attack`` work on it), started from the attacked model's weights with a fresh optimiser; being
trained on pseudo-labels that its config.yaml cannot rebuild, it is not one to resume.
``control`` fine-tunes the same way with nothing added: SCAR's gain is its difference from that
run, not from the pre-trained model, which had fewer steps.

ε is in the paper's units by default: ``eps_units: pixel`` is ε in 0..255 pixel levels, ε/255 of the range (the
paper's images in [0, 1], ε = 1 → 1/255), attacked through the run's preprocess, i.e. ε/σ_c per channel in
standardised model inputs; ``input`` is in model-input units (non-image data). Adversarial inputs are
clipped to the raw data's range ([0, 255] pixels, or float images' black and white where the loader knows
them; ``clip``); data with no known range are not clipped.

Outputs, in ``out`` (default ``RUN_DIR/scar-<attack>-eps<ε>``, or ``RUN_DIR`` for a selection only):
``scar.json`` / ``scar-selection-<attack>-<split>.json`` with the settings, the ε unit and clipping used
and, per round or ε, the effective per-channel step, the selection counts and — when the unlabeled
samples' true labels are known (benchmarks) — the paper's sensitivity and specificity (eqs. 5-6) with
their counts, as its Table 2.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from semimix.errors import SemimixError
from semimix.eval.settings import DEFAULT_BATCH

if TYPE_CHECKING:
    import torch
    from torch import nn

    from semimix.data.bundle import DataBundle
    from semimix.eval.selection import Selection
    from semimix.ops.adversarial import Bounds
    from semimix.runs import Run

ATTACKS = ("fgsm", "pgd")
CHECKPOINTS = ("best", "last")
# pixel: ε/255 of the raw 0..255 pixel range (the paper's); input: model-input units; auto: pixel for images.
EPS_UNITS = ("auto", "pixel", "input")
PIXEL_RANGE = (0.0, 255.0)  # raw uint8 images; float images: DataBundle.pixel_bounds
SPLITS = ("unlabeled", "test", "val")  # what a selection may be made of; fine-tuning selects from the unlabeled samples
# Built-in settings; a settings file's ``scar:`` section replaces them (``semimix scar --config``), flags replace both.
DEFAULTS: dict[str, Any] = {
    "eps": [1.0],
    "eps_units": "auto",
    "clip": True,
    "attack": "fgsm",
    "norm": "linf",
    "pgd_steps": 10,
    "rounds": 1,
    "steps": None,
    "checkpoint": "last",
    "batch_size": DEFAULT_BATCH,
}


# ----------------------------------------------------------------------------- ε's unit and the valid range
@dataclasses.dataclass
class AttackSpace:
    """Where the attack runs: ``x`` in ε's ``unit`` (raw pixels for "pixel", model inputs for "input"), the
    ``preprocess`` from x to the model's input ("pixel"), the valid range of x (``bounds``; None: not
    clipped, ``clip`` says why), and model-input units per pixel, per channel (None: no pixels, or a
    preprocess that mixes channels, e.g. ZCA)."""

    unit: str
    x: torch.Tensor
    preprocess: nn.Module | None
    bounds: Bounds
    clip: str
    input_per_pixel: torch.Tensor | None

    def step(self, epsilon: float) -> dict[str, list[float] | None]:
        """ε per channel in pixels (of 0..255) and in model-input units; None where it has no such value."""
        scale = self.input_per_pixel
        if self.unit == "pixel":
            return {"pixels": [epsilon] * self.x.shape[1], "input_units": None if scale is None else (epsilon * scale).tolist()}
        return {"pixels": None if scale is None else (epsilon / scale).tolist(), "input_units": [epsilon] * (1 if scale is None else len(scale))}

    def describe(self) -> str:
        where = "ε/255 of the 0..255 pixel range, through the run's preprocess" if self.unit == "pixel" else "model-input units"
        return f"ε unit {self.unit} ({where}), {self.clip}"

    def summary(self) -> dict[str, str]:
        return {"eps_units": self.unit, "clip": self.clip}


def attack_space(src: Run, x_raw: torch.Tensor, settings: dict[str, Any]) -> AttackSpace:
    """The samples ``x_raw`` (raw, as the run stores them) in ε's unit, with their valid range: uint8 images
    are pixels in [0, 255]; float images whose loader knows black and white (digits: 0..16, stored as
    0..1) span that (``DataBundle.pixel_bounds``); other float inputs have no known range."""
    import torch

    from semimix.eval.robustness import channel_affine

    pixels = x_raw.dtype == torch.uint8
    unit = settings["eps_units"] if settings["eps_units"] != "auto" else ("pixel" if pixels else "input")
    if unit == "pixel" and not pixels:
        raise SemimixError(f"eps_units pixel needs images with raw 0..255 pixels; {src.run_dir} holds float inputs: use eps_units input")
    prep = src.data.preprocess.to(src.trainer.device) if src.data.preprocess is not None else None
    affine = channel_affine(prep, x_raw.shape[1:]) if pixels or x_raw.dim() == 4 else None
    scale = None if affine is None or not pixels else affine[0].abs()
    stored = PIXEL_RANGE if pixels else src.data.pixel_bounds()  # (black, white), each a number or one per channel
    bounds: Bounds
    if not settings["clip"]:
        bounds, clip = None, "not clipped (clip false)"
    elif stored is None:
        bounds, clip = None, "not clipped (float inputs: no known range)"
    elif unit == "pixel":
        bounds, clip = PIXEL_RANGE, "clipped to [0, 255] pixels"
    elif affine is None and pixels:
        raise SemimixError(
            f"clip with eps_units input needs a per-channel preprocess, and {src.run_dir}'s mixes pixels (ZCA/GCN); use eps_units pixel or clip false"
        )
    elif affine is None:
        bounds, clip = None, "not clipped (float images whose preprocessing mixes pixels)"
    else:
        ends = torch.stack([torch.as_tensor(end, dtype=torch.float32) * affine[0] + affine[1] for end in stored])
        low, high = ends.amin(0), ends.amax(0)
        shape = (1, -1, *([1] * (x_raw.dim() - 2)))
        bounds = (low.view(shape), high.view(shape))
        black_white = "[0, 255] pixels" if pixels else "the images' black and white"
        clip = f"clipped to {black_white}: per channel {[round(v, 4) for v in low.tolist()]} .. {[round(v, 4) for v in high.tolist()]} input units"
    if unit == "pixel":
        return AttackSpace(unit, x_raw, prep, bounds, clip, scale)
    from semimix.workflows.attack import model_inputs

    return AttackSpace(unit, model_inputs(src, x_raw, settings["batch_size"]), None, bounds, clip, scale)


# ----------------------------------------------------------------------------- selection and data
def select(
    model: torch.nn.Module, class_scores: Any, space: AttackSpace, epsilon: float, settings: dict[str, Any], seed: int, pseudo: torch.Tensor | None = None
) -> Selection:
    """The selection of the model (eval mode) on the samples of ``space``, seeded for PGD's random start;
    ``pseudo``: its clean predictions when an earlier ε already computed them."""
    import torch

    from semimix.eval.robustness import ScoreModel
    from semimix.eval.selection import robust_selection

    torch.manual_seed(seed)
    scores = ScoreModel(model, class_scores, space.preprocess).eval()
    return robust_selection(
        scores,
        space.x,
        epsilon,
        attack=settings["attack"],
        norm=settings["norm"],
        steps=settings["pgd_steps"],
        batch_size=settings["batch_size"],
        pseudo=pseudo,
        bounds=space.bounds,
    )


def with_pseudo_labels(data: DataBundle, selection: Selection | None) -> DataBundle:
    """D_l ∪ {(x_j, ỹ_j) : j selected}; the unlabeled set, splits and preprocess are unchanged.
    No selection (the control) adds nothing."""
    import torch

    from semimix.data.bundle import in_memory

    if selection is None:
        return data
    keep = selection.selected
    return dataclasses.replace(
        data,
        x_labeled=torch.cat([in_memory(data.x_labeled), data.x_unlabeled[keep]]),
        y_labeled=torch.cat([data.y_labeled, selection.pseudo[keep].to(data.y_labeled.dtype)]),
    )


def check_run(run: Run) -> None:
    """SCAR needs a finished run with in-memory unlabeled samples to select from."""
    import torch

    if run.summary is None:
        raise SemimixError(f"{run.run_dir} has not finished training (no summary.json); finish it first with 'semimix train --resume {run.run_dir}'")
    if len(run.data.x_unlabeled) == 0:
        raise SemimixError(f"{run.run_dir} was trained without unlabeled samples, so SCAR has nothing to select; train with fewer labels than 'all'")
    if not isinstance(run.data.x_unlabeled, torch.Tensor):
        raise SemimixError(f"{run.run_dir} streams its images from files; SCAR needs them in memory (set data.stream=false)")


# ----------------------------------------------------------------------------- the workflow
def scar(
    run_dir: str | Path,
    settings: dict[str, Any] | None = None,
    train_overrides: dict[str, Any] | None = None,
    split: str = "unlabeled",
    select_only: bool = False,
    control: bool = False,
    set_overrides: Sequence[str] = (),
    seed: int = 0,
    out: str | Path | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """SCAR on the finished run in ``run_dir`` with ``settings`` (DEFAULTS for those not given), as the
    module doc says: with ``select_only``, only the selection of ``split``'s samples for each ε
    (``select_only_table``); else one fine-tuning (``finetune``), or its ``control``. Returns what
    those return, with ``written`` (the files)."""
    from semimix.data.bundle import in_memory
    from semimix.runs import load_run

    settings = {**DEFAULTS, **(settings or {})}
    if split not in SPLITS:
        raise SemimixError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    src = load_run(run_dir, settings["checkpoint"])
    check_run(src)
    if split != "unlabeled" and not select_only:
        raise SemimixError("fine-tuning selects from the unlabeled samples; --split test/val goes with --select-only")
    x, y_true = (src.data.x_unlabeled, src.data.y_unlabeled_true) if split == "unlabeled" else src.split(split)
    x_raw = in_memory(x)  # check_run refused streamed runs
    if control and select_only:
        raise SemimixError("--control fine-tunes without a selection; it does not go with --select-only")
    space = attack_space(src, x_raw, settings)
    setting = (
        f"SCAR selection by {settings['attack']} ({settings['norm']}, {space.describe()}) on the {split} samples, "
        f"{src.config.method} ({src.run_dir}, {src.checkpoint} checkpoint)"
    )
    if select_only:
        return select_only_table(src, space, y_true, settings, setting, split, seed, out)
    return finetune(src, space, y_true, settings, train_overrides or {}, setting, control, set_overrides, seed, out, progress)


def select_only_table(
    src: Run, space: AttackSpace, y_true: torch.Tensor | None, settings: dict[str, Any], setting: str, split: str, seed: int, out: str | Path | None
) -> dict[str, Any]:
    """The selection for each of ``settings["eps"]``, written as ``scar-selection-<attack>-<split>.json`` in ``out`` (default: the run directory)."""
    from semimix.eval.selection import selection_stats
    from semimix.files import write_json

    results: list[dict[str, Any]] = []
    pseudo = None
    for eps in settings["eps"]:
        selection = select(src.model, src.trainer.class_scores, space, eps, settings, seed, pseudo)
        pseudo = selection.pseudo  # the clean predictions do not depend on ε
        results.append({"epsilon": eps, "step": space.step(eps), **selection_stats(selection, y_true)})
    path = (Path(out) if out else src.run_dir) / f"scar-selection-{settings['attack']}-{split}.json"
    result = {"setting": setting, "settings": settings, **space.summary(), "run_dir": str(src.run_dir), "results": results}
    write_json(path, result)
    return {**result, "written": [str(path)]}


def finetune(
    src: Run,
    space: AttackSpace,
    y_true: torch.Tensor | None,
    settings: dict[str, Any],
    train_overrides: dict[str, Any],
    setting: str,
    control: bool = False,
    set_overrides: Sequence[str] = (),
    seed: int = 0,
    out: str | Path | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """``settings["rounds"]`` rounds of selection (none for the ``control``) and fine-tuning from the
    attacked model's weights, each a run directory ``out/round-<r>``; the report, ``out/scar.json``,
    is rewritten after every round. ``train_overrides`` (nested) and then ``set_overrides``
    (``KEY=VALUE``) change the run's config for the fine-tuning."""
    from semimix.eval.selection import selection_stats
    from semimix.files import write_json
    from semimix.train.config import apply_override, config_from_dict, merge
    from semimix.train.trainer import Trainer

    eps = settings["eps"][0]
    folder = Path(out) if out else src.run_dir / ("scar-control" if control else f"scar-{settings['attack']}-eps{eps:g}")
    if (folder / "scar.json").exists() or (folder / "round-1").exists():
        raise SemimixError(f"{folder} already holds SCAR results; choose another --out")
    base = merge(src.config.to_dict(), train_overrides)
    base["steps"] = settings["steps"] or src.config.steps
    base["progress"] = progress and base.get("progress", True)
    for assignment in set_overrides:
        apply_override(base, assignment)
    pretrained = src.evaluate("test") if len(src.data.x_test) else {}
    if control:
        setting = f"SCAR control: fine-tuning with no samples added, {src.config.method} ({src.run_dir}, {src.checkpoint} checkpoint)"
    report: dict[str, Any] = {
        "setting": setting,
        "settings": settings,
        **space.summary(),
        "step": space.step(eps),
        "control": control,
        "run_dir": str(src.run_dir),
        "method": src.config.method,
        "pretrained_test_accuracy": pretrained.get("accuracy"),
        "rounds": [],
    }
    model, class_scores, method_state = src.model, src.trainer.class_scores, src.trainer.method.state_dict()
    for r in range(1, settings["rounds"] + 1):
        selection = None if control else select(model, class_scores, space, eps, settings, seed)
        stats = {"samples": len(space.x), "selected": 0, "rejected": len(space.x)} if selection is None else selection_stats(selection, y_true)
        cfg = config_from_dict({**base, "out": str(folder / f"round-{r}")})
        trainer = Trainer(cfg, data=with_pseudo_labels(src.data, selection))
        weights = model.state_dict()  # θ_0 = θ̃: the attacked model's weights start student and teacher
        trainer.student.load_state_dict(weights)
        if trainer.teacher is not None:
            trainer.teacher.load_state_dict(weights)
        trainer.method.load_state_dict(method_state)
        summary = trainer.run()
        if summary is None:  # run() stops short only when given until_step; say so rather than fail on the missing summary
            raise SemimixError(f"{trainer.run_dir}: fine-tuning stopped at step {trainer.step} of {cfg.steps}; nothing to report")
        report["rounds"].append(
            {
                "round": r,
                "epsilon": eps,
                **stats,
                "run_dir": str(trainer.run_dir),
                "test_accuracy": summary["test_accuracy"],
                "test_accuracy_at_best_val": summary["test_accuracy_at_best_val"],
            }
        )
        write_json(folder / "scar.json", report)
        model = (trainer.best_model() if settings["checkpoint"] == "best" else trainer.eval_model).eval()
        class_scores, method_state = trainer.class_scores, trainer.method.state_dict()
    return {**report, "written": [str(folder / "scar.json"), *(x["run_dir"] for x in report["rounds"])]}


__all__ = [
    "ATTACKS",
    "CHECKPOINTS",
    "DEFAULTS",
    "EPS_UNITS",
    "PIXEL_RANGE",
    "SPLITS",
    "AttackSpace",
    "attack_space",
    "check_run",
    "finetune",
    "scar",
    "select",
    "select_only_table",
    "with_pseudo_labels",
]
