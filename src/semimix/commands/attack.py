"""``semimix attack RUN_DIR [RUN_DIR...]``: test error under adversarial attacks, white-box or black-box
(transfer from a ``--source`` run), as in AdvMixup's Tables IV–V, with a gradient-masking check.

Per run it writes ``RUN_DIR/<stem>.json`` and ``RUN_DIR/<stem>.png`` (error against ε), where
``<stem>`` is ``attack-<attack>-<white|black>``, with ``-<norm>`` added when the norm is not the
attack's default and ``-pixel`` when ε is in raw units; several runs (or ``--out``) also give one
comparison table, ``<stem>-table.md`` / ``.json`` and a ``<stem>.png`` with every run's curve, in
``--out`` or beside the first run directory. The work is ``semimix.workflows.attack``'s; this module
parses the arguments and prints.
"""

from __future__ import annotations

import argparse

from semimix.eval.settings import ATTACKS, DEFAULT_BATCH, MASKING_EPSILON, MASKING_STEPS, MASKING_THRESHOLD, NORMS
from semimix.workflows.attack import DEFAULT_EPS, MASKING_SAMPLES

NAME = "attack"
DEFAULT_EPS_TEXT = ",".join(f"{e:g}" for e in DEFAULT_EPS)


def eps_list(value: str) -> list[float]:
    """``--eps``: comma-separated numbers >= 0 (an argparse type: bad text is an ArgumentTypeError)."""
    try:
        eps = [float(v) for v in value.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, e.g. 1,2,3,5,8; got {value!r}") from None
    if not eps or any(not e >= 0 for e in eps):
        raise argparse.ArgumentTypeError(f"ε values must be numbers >= 0, got {value!r}")
    return eps


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser(
        NAME,
        help="test error under white-box or black-box adversarial attacks (AdvMixup Tables IV-V), with a gradient-masking check",
        description="Attack trained runs with the fast gradient method (fgm, L2: x + ε·g/‖g‖₂), its sign version (fgsm, "
        "L∞: x + ε·sign g), PGD or the virtual adversarial direction (vat), g the input gradient of the cross-entropy on "
        "the model's class scores, and report the test error per ε. White-box: each run attacks itself. Black-box "
        "(--source RUN_DIR2): adversarial inputs are crafted on the source run (e.g. an independently trained "
        "supervised run on the same dataset and split) and evaluated on each target. By default ε is in the units of "
        "the model's input, i.e. after the run's normalisation/ZCA, as in the AdvMixup paper; --eps-units pixel "
        "measures it in the raw data's units instead (0..255 pixels for the image benchmarks; datasets normalised when "
        "loaded, such as digits, have no separate raw units) by attacking model∘preprocess. Attacks run in eval mode "
        "and never update BatchNorm statistics. Every result also reports an unbounded many-step PGD on each target: "
        f"if it leaves accuracy above {100 * MASKING_THRESHOLD:.0f}%, 'possible gradient masking' is flagged.",
    )
    p.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="run directories written by 'semimix train' (several: one comparison table)")
    p.add_argument("--attack", choices=ATTACKS, default="fgm", help="fgm (L2, AdvMixup's tables), fgsm (L∞), pgd (L∞ unless --norm), vat (L2); default fgm")
    p.add_argument(
        "--eps",
        type=eps_list,
        default=list(DEFAULT_EPS),
        help=f"comma-separated perturbation sizes ε, in the model's input units (after normalisation/ZCA) unless --eps-units pixel "
        f"(default {DEFAULT_EPS_TEXT})",
    )
    p.add_argument("--norm", choices=NORMS, help="override the attack's norm (fgm l2, fgsm linf, pgd linf, vat l2)")
    p.add_argument("--steps", type=int, help="pgd: iterations (default 10); vat: power iterations (default 1)")
    p.add_argument("--step-size", type=float, help="pgd step size (default 2.5ε/steps)")
    p.add_argument("--no-random-start", action="store_true", help="pgd: start at x (iterative FGSM/FGM) instead of a random point in the ball")
    p.add_argument("--source", metavar="RUN_DIR2", help="black-box: craft the adversarial inputs on this run, evaluate them on each RUN_DIR")
    p.add_argument("--split", choices=("test", "val"), default="test", help="split to attack (default test)")
    p.add_argument("--checkpoint", choices=("best", "last"), default="best", help="best-on-validation or last weights, for targets and source (default best)")
    p.add_argument(
        "--eps-units",
        choices=("input", "pixel"),
        default="input",
        help="input: ε in the model's input units, after normalisation/ZCA (default, as the paper); pixel: ε in raw data units (0..255 for images)",
    )
    p.add_argument("--batch-size", type=int, default=DEFAULT_BATCH, help=f"samples per attack batch (default {DEFAULT_BATCH})")
    p.add_argument("--masking-steps", type=int, default=MASKING_STEPS, help=f"steps of the unbounded PGD check (default {MASKING_STEPS}; 0 skips the check)")
    p.add_argument(
        "--masking-eps", type=float, default=MASKING_EPSILON, help=f"ball of the unbounded PGD check, in input units (default {MASKING_EPSILON:g}: never binds)"
    )
    p.add_argument("--masking-norm", choices=NORMS, default="linf", help="norm of the unbounded PGD check (default linf)")
    p.add_argument("--masking-samples", type=int, default=MASKING_SAMPLES, help=f"samples (the first of the split) the check uses (default {MASKING_SAMPLES})")
    p.add_argument("--seed", type=int, default=0, help="seed of the random starts (pgd, vat)")
    p.add_argument("--out", metavar="DIR", help="folder for the comparison table and figure (default: beside the first RUN_DIR)")
    return p


def run(args: argparse.Namespace) -> int:
    from semimix.workflows.attack import attack_runs

    result = attack_runs(
        args.run_dirs,
        args.attack,
        args.eps,
        args.norm,
        args.steps,
        args.step_size,
        not args.no_random_start,
        args.source,
        args.split,
        args.checkpoint,
        args.eps_units,
        args.batch_size,
        args.masking_steps,
        args.masking_eps,
        args.masking_norm,
        args.masking_samples,
        args.seed,
        args.out,
    )
    runs = result["runs"]
    source = runs[0]["source"]
    print(f"{result['setting']}; error (%) on {runs[0]['samples']} samples" + (f"; source {source['run_dir']} ({source['method']})" if source else ""))
    print(result["table"])
    for line in result["notes"]:
        print(line)
    print("wrote " + ", ".join(result["written"]))
    return 0
