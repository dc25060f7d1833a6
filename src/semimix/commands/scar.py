"""``semimix scar RUN_DIR``: SCAR (Yang, Kim & Kim 2023) as a stage after any finished run — select the
unlabeled samples whose predicted class survives an FGSM (or PGD) attack on the frozen model, add them
as labeled with that class, and fine-tune with the run's own method (Algorithm 1).

The algorithm, its rounds, units and outputs are ``semimix.workflows.scar``'s (see its doc); this module
reads the settings (built-in defaults, then a ``--config`` file's ``scar:`` and ``train:`` sections, then
the flags), calls it and prints the selection table: per round or ε the selection counts and — when the
unlabeled samples' true labels are known (benchmarks) — the paper's sensitivity and specificity (eqs. 5-6)
with their counts, as its Table 2.
"""

from __future__ import annotations

import argparse
from typing import Any

from semimix.commands.attack import eps_list as nonnegative_eps_list
from semimix.errors import SemimixError
from semimix.eval.settings import DEFAULT_BATCH, NORMS
from semimix.tables import format_percent, markdown_table
from semimix.workflows.scar import ATTACKS, CHECKPOINTS, DEFAULTS, EPS_UNITS, SPLITS

NAME = "scar"


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
        "input; float images whose loader knows black and white, as digits, to that); other float data have no known range "
        "and are never clipped. The output says which unit, clipping and "
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
        help="clip adversarial inputs to the raw data's range: [0, 255] pixels, or float images' known black and white (default)",
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
        choices=SPLITS,
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
    from semimix.files import load_yaml

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


# ----------------------------------------------------------------------------- tables
def stats_row(label: str, stats: dict[str, Any]) -> list[str]:
    """Counts always; the ratios (with their counts, as the paper's Table 2) only with true labels."""
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
    from semimix.workflows.scar import scar

    settings, train_overrides = settings_from(args)
    result = scar(
        args.run_dir,
        settings,
        train_overrides,
        split=args.split,
        select_only=args.select_only,
        control=args.control,
        set_overrides=args.set,
        seed=args.seed,
        out=args.out,
        progress=not args.quiet,
    )
    if args.select_only:
        print(result["setting"])
        for r in result["results"]:
            print(f"ε={r['epsilon']:g}: step per channel {r['step']}")
        print(markdown_table(HEADER, [stats_row(f"ε={r['epsilon']:g}", r) for r in result["results"]]))
        print(f"wrote {result['written'][0]}")
        return 0
    print(result["setting"] + f"; pre-trained test accuracy {format_percent(result['pretrained_test_accuracy'])}%")
    eps = result["settings"]["eps"][0]
    rows = [
        stats_row(f"round {x['round']} ({'control' if args.control else f'ε={eps:g}'})", x)
        + [format_percent(x["test_accuracy"]), format_percent(x["test_accuracy_at_best_val"])]
        for x in result["rounds"]
    ]
    print(markdown_table([*HEADER, "test acc. % (final)", "test acc. % (best val)"], rows))
    print(f"wrote {result['written'][0]} and the round directories")
    return 0
