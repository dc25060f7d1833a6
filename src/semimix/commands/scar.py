"""``semimix scar RUN_DIR``: SCAR (Yang, Kim & Kim 2023) as a stage after any finished run — select the
unlabeled samples whose predicted class survives an FGSM (or PGD) attack on the frozen model, add them
as labeled with that class, and fine-tune with the run's own method (Algorithm 1).

Algorithm 1 attacks the frozen pre-trained model f_θ̃ in every epoch, so with FGSM (deterministic) its
selection is the same throughout one fine-tuning: that is one round here. ``--rounds R`` > 1 (an
extension) re-selects with the fine-tuned model, frozen, at the start of each later round; every
round's labeled set is D_l ∪ (that round's selection), as D_{l,t} in Algorithm 1, not the union
over rounds. Each round is an ordinary run directory (``round-<r>/``: ``semimix eval`` and
``attack`` work on it), started from the attacked model's weights with a fresh optimiser; being
trained on pseudo-labels that its config.yaml cannot rebuild, it is not one to ``--resume``.
``--control`` fine-tunes the same way with nothing added: SCAR's gain is its difference from that
run, not from the pre-trained model, which had fewer steps.

ε is in the paper's units by default: ``eps_units: pixel`` is ε in 0..255 pixel levels, ε/255 of the range (the
paper's images in [0, 1], ε = 1 → 1/255), attacked through the run's preprocess, i.e. ε/σ_c per channel in
standardised model inputs; ``input`` is in model-input units (non-image data). Adversarial inputs are
clipped to the raw data's range ([0, 255] pixels; ``clip``); data with no known range are not clipped.

Outputs, in ``--out`` (default ``RUN_DIR/scar-<attack>-eps<ε>``, or ``RUN_DIR`` for
``--select-only``): ``scar.json`` / ``scar-selection-<attack>.json`` with the settings, the ε unit and
clipping used and, per round or ε, the effective per-channel step, the selection counts and — when the
unlabeled samples' true labels are known (benchmarks) — the paper's sensitivity and specificity (eqs. 5-6)
with their counts, as its Table 2.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any

from semimix.commands.attack import _eps_list as nonnegative_eps_list
from semimix.commands.attack import model_inputs
from semimix.errors import SemimixError
from semimix.eval.settings import DEFAULT_BATCH, NORMS

if TYPE_CHECKING:
    import torch
    from torch import nn

    from semimix.data.bundle import DataBundle
    from semimix.eval.selection import Selection
    from semimix.ops.adversarial import Bounds

NAME = "scar"
ATTACKS = ("fgsm", "pgd")
CHECKPOINTS = ("best", "last")
# pixel: ε/255 of the raw 0..255 pixel range (the paper's); input: model-input units; auto: pixel for images.
EPS_UNITS = ("auto", "pixel", "input")
PIXEL_RANGE = (0.0, 255.0)  # raw uint8 images; other raw data have no known range
# Built-in settings; a --config file's ``scar:`` section replaces them, flags replace both.
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


def _eps_list(value: str) -> list[float]:
    """``semimix attack``'s ε list, without 0: an unattacked sample always keeps its class."""
    eps = nonnegative_eps_list(str(value))
    if any(e == 0 for e in eps):
        raise argparse.ArgumentTypeError(f"ε must be > 0 (an unattacked sample always keeps its class), got {value!r}")
    return eps


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser(
        NAME,
        help="SCAR: add the unlabeled samples whose prediction survives an adversarial attack as labeled, fine-tune the run",
        description="SCAR (Yang, Kim & Kim 2023) on a finished run: attack every unlabeled sample at its predicted class "
        "with FGSM (x + ε·sign ∇CE, the paper) or PGD against the frozen model, add the samples whose predicted class "
        "survives as labeled with that class, and fine-tune with the run's method, re-selecting each round (Algorithm 1). "
        "ε is in the paper's units on images (--eps-units pixel, the default for them: ε/255 of the raw 0..255 pixel "
        "range, the paper's ε = 1 on images in [0, 1] being 1/255; the attack runs on raw pixels through the run's "
        "preprocess, i.e. a step of ε/σ_c per channel c in standardised model inputs) and in model-input units on data "
        "without raw pixels (--eps-units input, the default for them). Adversarial inputs are clipped to the range the "
        "raw data can take (--clip, default: [0, 255] pixels, mapped through the preprocess per channel with --eps-units "
        "input); float data have no known range and are never clipped. The output says which unit, clipping and "
        "effective per-channel step were used. Attacks run in eval mode and never update BatchNorm statistics. "
        "Prints and writes per round the number selected and, when the unlabeled samples' true labels are known, the "
        "paper's sensitivity (selected samples whose pseudo-label is right) and specificity (rejected samples whose "
        "pseudo-label was wrong) with their counts. --select-only gives that table for several ε without training; "
        "--control fine-tunes with nothing added, the baseline SCAR's gain is measured against.",
    )
    p.add_argument("run_dir", metavar="RUN_DIR", help="a finished run directory written by 'semimix train'")
    p.add_argument(
        "--config", metavar="SCAR.yaml", help="settings file: a 'scar:' section (these options) and a 'train:' section (fine-tuning config overrides)"
    )
    p.add_argument(
        "--eps",
        type=_eps_list,
        help="perturbation size ε in --eps-units units; several, comma-separated, with --select-only (default 1: 1/255 on images, the paper's)",
    )
    p.add_argument(
        "--eps-units",
        choices=EPS_UNITS,
        help="pixel: ε/255 of the raw 0..255 pixel range, i.e. ε/σ_c per channel in standardised model inputs (the paper's); "
        "input: model-input units, after normalisation/ZCA (non-image data); auto (default): pixel for images, else input",
    )
    p.add_argument(
        "--clip",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="clip adversarial inputs to the raw data's range, [0, 255] pixels (default; float data have no known range and are never clipped)",
    )
    p.add_argument("--attack", choices=ATTACKS, help="fgsm (one signed step, the paper) or pgd (default fgsm)")
    p.add_argument("--norm", choices=NORMS, help="attack norm (default linf, the paper's sign step)")
    p.add_argument("--pgd-steps", type=int, help="pgd iterations (default 10; step 2.5ε/steps, random start)")
    p.add_argument("--rounds", type=int, help="select-and-fine-tune rounds (default 1, Algorithm 1)")
    p.add_argument("--steps", type=int, help="fine-tuning steps per round (default: the run's own steps, as the paper's 'same epochs more')")
    p.add_argument("--checkpoint", choices=CHECKPOINTS, help="model attacked and fine-tuned from: last (default, the paper) or best-on-validation")
    p.add_argument("--select-only", action="store_true", help="only the selection table for each --eps; no fine-tuning")
    p.add_argument(
        "--control",
        action="store_true",
        help="fine-tune exactly as SCAR would but add no samples: the ablation that tells SCAR's gain from the extra fine-tuning (no attack runs)",
    )
    p.add_argument(
        "--split",
        choices=("unlabeled", "test", "val"),
        default="unlabeled",
        help="--select-only: the samples to select from: unlabeled (default, what fine-tuning uses) or test/val (the paper's Table 2 is on the test set)",
    )
    p.add_argument("--batch-size", type=int, help=f"samples per attack batch (default {DEFAULT_BATCH})")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a fine-tuning config key, e.g. optim.lr=0.01")
    p.add_argument("--seed", type=int, default=0, help="seed of the attack's random start (pgd)")
    p.add_argument("--out", metavar="DIR", help="output folder (default RUN_DIR/scar-<attack>-eps<ε>; RUN_DIR with --select-only)")
    p.add_argument("--quiet", action="store_true", help="no progress bar while fine-tuning")
    return p


def settings_from(args: argparse.Namespace) -> tuple[dict[str, Any], dict[str, Any]]:
    """(SCAR settings, fine-tuning config overrides): built-in defaults, then --config, then flags."""
    from semimix.train.config import load_yaml

    values = load_yaml(args.config) if args.config else {}
    unknown = sorted(set(values) - {"scar", "train"})
    scar = dict(values.get("scar") or {})
    bad = sorted(set(scar) - set(DEFAULTS))
    if unknown or bad:
        raise SemimixError(
            f"{args.config}: unknown {'section' if unknown else 'scar key'} {(unknown or bad)[0]!r}; sections are scar, train; scar keys: {', '.join(DEFAULTS)}"
        )
    if "eps" in scar:
        try:
            scar["eps"] = _eps_list(",".join(map(str, scar["eps"])) if isinstance(scar["eps"], list) else scar["eps"])
        except argparse.ArgumentTypeError as exc:
            raise SemimixError(f"{args.config}: scar.eps: {exc}") from None
    flags = {k: getattr(args, k) for k in DEFAULTS if getattr(args, k) is not None}
    settings = {**DEFAULTS, **scar, **flags}
    for key, valid in (("eps_units", EPS_UNITS), ("attack", ATTACKS), ("norm", NORMS), ("checkpoint", CHECKPOINTS)):
        if settings[key] not in valid:
            raise SemimixError(f"scar.{key} must be one of {', '.join(valid)}, got {settings[key]!r}")
    if not isinstance(settings["clip"], bool):
        raise SemimixError(f"scar.clip must be true or false, got {settings['clip']!r}")
    for key in ("pgd_steps", "rounds", "batch_size", "steps"):
        if settings[key] is not None and (not isinstance(settings[key], int) or settings[key] < 1):
            raise SemimixError(f"--{key.replace('_', '-')} must be a positive integer, got {settings[key]!r}")
    if not args.select_only and len(settings["eps"]) != 1:
        raise SemimixError(f"fine-tuning takes one ε, got {len(settings['eps'])}; give several only with --select-only")
    return settings, dict(values.get("train") or {})


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


def attack_space(src: Any, x_raw: torch.Tensor, settings: dict[str, Any]) -> AttackSpace:
    """The samples ``x_raw`` (raw, as the run stores them) in ε's unit, with their valid range: uint8 images
    are pixels in [0, 255]; float inputs (normalised when loaded) have no known range."""
    import torch

    from semimix.eval.robustness import channel_affine

    pixels = x_raw.dtype == torch.uint8
    unit = settings["eps_units"] if settings["eps_units"] != "auto" else ("pixel" if pixels else "input")
    if unit == "pixel" and not pixels:
        raise SemimixError(f"eps_units pixel needs images with raw 0..255 pixels; {src.run_dir} holds float inputs: use eps_units input")
    prep = src.data.preprocess.to(src.trainer.device) if src.data.preprocess is not None else None
    affine = channel_affine(prep, x_raw.shape[1:]) if pixels else None
    scale = None if affine is None else affine[0].abs()
    bounds: Bounds
    if not pixels or not settings["clip"]:
        bounds, clip = None, "not clipped (clip false)" if pixels else "not clipped (float inputs: no known range)"
    elif unit == "pixel":
        bounds, clip = PIXEL_RANGE, "clipped to [0, 255] pixels"
    elif affine is None:
        raise SemimixError(
            f"clip with eps_units input needs a per-channel preprocess, and {src.run_dir}'s mixes pixels (ZCA/GCN); use eps_units pixel or clip false"
        )
    else:
        ends = torch.stack([end * affine[0] + affine[1] for end in PIXEL_RANGE])
        low, high = ends.amin(0), ends.amax(0)
        shape = (1, -1, *([1] * (x_raw.dim() - 2)))
        bounds = (low.view(shape), high.view(shape))
        clip = f"clipped to [0, 255] pixels: per channel {[round(v, 4) for v in low.tolist()]} .. {[round(v, 4) for v in high.tolist()]} input units"
    if unit == "pixel":
        return AttackSpace(unit, x_raw, prep, bounds, clip, scale)
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


def check_run(run: Any) -> None:
    """SCAR needs a finished run with in-memory unlabeled samples to select from."""
    import torch

    if run.summary is None:
        raise SemimixError(f"{run.run_dir} has not finished training (no summary.json); finish it first with 'semimix train --resume {run.run_dir}'")
    if len(run.data.x_unlabeled) == 0:
        raise SemimixError(f"{run.run_dir} was trained without unlabeled samples, so SCAR has nothing to select; train with fewer labels than 'all'")
    if not isinstance(run.data.x_unlabeled, torch.Tensor):
        raise SemimixError(f"{run.run_dir} streams its images from files; SCAR needs them in memory (set data.stream=false)")


# ----------------------------------------------------------------------------- tables
def stats_row(label: str, stats: dict[str, Any]) -> list[str]:
    """Counts always; the ratios (with their counts, as the paper's Table 2) only with true labels."""
    from semimix.eval.robustness import format_percent

    if "sensitivity" not in stats:
        return [label, f"{stats['selected']}/{stats['samples']}", "n/a", "n/a", "n/a"]
    return [
        label,
        f"{stats['selected']}/{stats['samples']}",
        f"{format_percent(stats['sensitivity'])} ({stats['selected_correct']}/{stats['selected']})",
        f"{format_percent(stats['specificity'])} ({stats['rejected_wrong']}/{stats['rejected']})",
        format_percent(stats["pseudo_label_accuracy"]),
    ]


HEADER = ["", "selected", "sensitivity % (eq. 5)", "specificity % (eq. 6)", "pseudo-label acc. %"]


# ----------------------------------------------------------------------------- the command
def run(args: argparse.Namespace) -> int:
    from semimix.data.bundle import in_memory
    from semimix.eval.robustness import markdown_table
    from semimix.eval.selection import selection_stats
    from semimix.files import write_json
    from semimix.runs import load_run

    settings, train_overrides = settings_from(args)
    src = load_run(args.run_dir, settings["checkpoint"])
    check_run(src)
    if args.split != "unlabeled" and not args.select_only:
        raise SemimixError("fine-tuning selects from the unlabeled samples; --split test/val goes with --select-only")
    x_raw, y_true = (in_memory(src.data.x_unlabeled), src.data.y_unlabeled_true) if args.split == "unlabeled" else src.split(args.split)
    if args.control and args.select_only:
        raise SemimixError("--control fine-tunes without a selection; it does not go with --select-only")
    space = attack_space(src, x_raw, settings)
    setting = (
        f"SCAR selection by {settings['attack']} ({settings['norm']}, {space.describe()}) on the {args.split} samples, "
        f"{src.config.method} ({src.run_dir}, {src.checkpoint} checkpoint)"
    )
    if args.select_only:
        results, pseudo = [], None
        for eps in settings["eps"]:
            selection = select(src.model, src.trainer.class_scores, space, eps, settings, args.seed, pseudo)
            pseudo = selection.pseudo  # the clean predictions do not depend on ε
            results.append({"epsilon": eps, "step": space.step(eps), **selection_stats(selection, y_true)})
        out = Path(args.out) if args.out else src.run_dir
        path = out / f"scar-selection-{settings['attack']}-{args.split}.json"
        write_json(path, {"setting": setting, "settings": settings, **space.summary(), "run_dir": str(src.run_dir), "results": results})
        print(setting)
        for r in results:
            print(f"ε={r['epsilon']:g}: step per channel {r['step']}")
        print(markdown_table(HEADER, [stats_row(f"ε={r['epsilon']:g}", r) for r in results]))
        print(f"wrote {path}")
        return 0
    return _finetune(args, src, space, y_true, settings, train_overrides, setting)


def _finetune(
    args: argparse.Namespace, src: Any, space: AttackSpace, y_true: torch.Tensor | None, settings: dict[str, Any], train_overrides: dict[str, Any], setting: str
) -> int:
    from semimix.eval.robustness import format_percent, markdown_table
    from semimix.eval.selection import selection_stats
    from semimix.files import write_json
    from semimix.train.config import apply_override, config_from_dict, merge
    from semimix.train.trainer import Trainer

    eps = settings["eps"][0]
    out = Path(args.out) if args.out else src.run_dir / ("scar-control" if args.control else f"scar-{settings['attack']}-eps{eps:g}")
    if (out / "scar.json").exists() or (out / "round-1").exists():
        raise SemimixError(f"{out} already holds SCAR results; choose another --out")
    base = merge(src.config.to_dict(), train_overrides)
    base["steps"] = settings["steps"] or src.config.steps
    base["progress"] = not args.quiet and base.get("progress", True)
    for assignment in args.set:
        apply_override(base, assignment)
    pretrained = src.evaluate("test") if len(src.data.x_test) else {}
    if args.control:
        setting = f"SCAR control: fine-tuning with no samples added, {src.config.method} ({src.run_dir}, {src.checkpoint} checkpoint)"
    report: dict[str, Any] = {
        "setting": setting,
        "settings": settings,
        **space.summary(),
        "step": space.step(eps),
        "control": args.control,
        "run_dir": str(src.run_dir),
        "method": src.config.method,
        "pretrained_test_accuracy": pretrained.get("accuracy"),
        "rounds": [],
    }
    model, class_scores, method_state = src.model, src.trainer.class_scores, src.trainer.method.state_dict()
    for r in range(1, settings["rounds"] + 1):
        selection = None if args.control else select(model, class_scores, space, eps, settings, args.seed)
        stats = {"samples": len(space.x), "selected": 0, "rejected": len(space.x)} if selection is None else selection_stats(selection, y_true)
        cfg = config_from_dict({**base, "out": str(out / f"round-{r}")})
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
        write_json(out / "scar.json", report)
        model = (trainer.best_model() if settings["checkpoint"] == "best" else trainer.eval_model).eval()
        class_scores, method_state = trainer.class_scores, trainer.method.state_dict()
    print(setting + f"; pre-trained test accuracy {format_percent(report['pretrained_test_accuracy'])}%")
    rows = [
        stats_row(f"round {x['round']} ({'control' if args.control else f'ε={eps:g}'})", x)
        + [format_percent(x["test_accuracy"]), format_percent(x["test_accuracy_at_best_val"])]
        for x in report["rounds"]
    ]
    print(markdown_table([*HEADER, "test acc. % (final)", "test acc. % (best val)"], rows))
    print(f"wrote {out / 'scar.json'} and the round directories")
    return 0
