"""``semimix paths RUN_DIR``: AdvMixup's Fig. 3 — a run's error on virtual samples along real–real (ICT)
and real–adversarial (AdvMixup) interpolation paths against λ.

Writes ``paths-<split>-<checkpoint>.json`` and ``.png`` into the run directory (or ``--out``). The
paper draws it for a supervised run (one trained on the labeled data only); any run works. See
``semimix.eval.paths`` for the definitions (error = prediction ≠ dominant label of the mixed
target; at λ = 0.5 between two classes a random tie-break, counted in expectation). The work is
``semimix.workflows.paths``'s; this module parses the arguments and prints.
"""

from __future__ import annotations

import argparse

from semimix.eval.settings import DEFAULT_BATCH, DEFAULT_GRID
from semimix.workflows.paths import DEFAULT_PAIRS, FALLBACK_EPSILON

NAME = "paths"


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser(
        NAME,
        help="error along real-real (ICT) vs real-adversarial (AdvMixup) interpolation paths against λ (AdvMixup Fig. 3)",
        description="For random pairs of test samples (x_i, x_j), measure the run's error on λx_i + (1-λ)x_j (real-real, "
        "ICT's virtual samples) and on λx_i + (1-λ)x_j^adv (real-adversarial, AdvMixup's), x_j^adv = x_j plus the "
        "virtual adversarial perturbation of L2 norm ε against the model's own prediction, on a grid of λ. A virtual "
        "sample is an error when the prediction is not the dominant label of the mixed target λy_i + (1-λ)y_j; at "
        "λ = 0.5 between two classes the tie is broken at random, in expectation (half an error for either label). "
        "ε is in the model's input units (after normalisation/ZCA). The paper uses a supervised run.",
    )
    p.add_argument("run_dir", metavar="RUN_DIR", help="a run directory written by 'semimix train'")
    p.add_argument("--pairs", type=int, default=DEFAULT_PAIRS, help=f"random pairs (default {DEFAULT_PAIRS})")
    p.add_argument(
        "--epsilon",
        type=float,
        help="‖r_adv‖₂ in input units (default: the run's own ε if its method has one, else the AdvMixup ε of its "
        f"config's method_params, else {FALLBACK_EPSILON:g})",
    )
    p.add_argument("--points", type=int, default=DEFAULT_GRID, help=f"λ grid points in [0, 1] (default {DEFAULT_GRID})")
    p.add_argument("--split", choices=("test", "val"), default="test", help="split to draw pairs from (default test)")
    p.add_argument("--checkpoint", choices=("best", "last"), default="best", help="best-on-validation or last weights (default best)")
    p.add_argument("--xi", type=float, default=1e-6, help="VAT's finite-difference step ξ (default 1e-6)")
    p.add_argument("--power-iterations", type=int, default=1, help="VAT power iterations (default 1)")
    p.add_argument("--distinct-classes", action="store_true", help="only pairs whose labels differ")
    p.add_argument("--batch-size", type=int, default=DEFAULT_BATCH, help=f"samples per batch (default {DEFAULT_BATCH})")
    p.add_argument("--seed", type=int, default=0, help="seed of the pairs and of VAT's random start (default 0)")
    p.add_argument("--out", metavar="DIR", help="folder for the JSON and PNG (default: RUN_DIR)")
    return p


def run(args: argparse.Namespace) -> int:
    from semimix.tables import format_percent, markdown_table
    from semimix.workflows.paths import interpolation_paths

    result = interpolation_paths(
        args.run_dir,
        args.pairs,
        args.epsilon,
        args.points,
        args.split,
        args.checkpoint,
        args.xi,
        args.power_iterations,
        args.distinct_classes,
        args.batch_size,
        args.seed,
        args.out,
    )
    lam = result["lambdas"]
    show = sorted({0, len(lam) - 1, *range(0, len(lam), max(1, (len(lam) - 1) // 10))})
    rows = [[f"{lam[k]:.2f}", format_percent(result["real_real"]["error"][k]), format_percent(result["real_adversarial"]["error"][k])] for k in show]
    print(
        f"{result['run_dir']} ({result['method']}): error (%) on virtual samples, {args.pairs} random {args.split} pairs, "
        f"ε = {result['epsilon']:g} in input units ({result['epsilon_from']})"
    )
    print(markdown_table(["λ", "real–real", "real–adversarial"], rows))
    for key, name in (("real_real", "real–real"), ("real_adversarial", "real–adversarial")):
        k = max(range(len(lam)), key=lambda i: result[key]["error"][i])
        print(f"{name}: mean over λ {100 * sum(result[key]['error']) / len(lam):.2f}%, maximum {100 * result[key]['error'][k]:.2f}% at λ = {lam[k]:.2f}")
    print("wrote " + ", ".join(result["written"]))
    return 0
