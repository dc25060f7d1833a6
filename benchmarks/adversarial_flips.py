"""How far the virtual adversarial samples of VAT and AdvMixup are from their source's class: for finished runs,
the fraction of validation samples whose predicted class changes under a perturbation of L2 norm ε in model-input
units, in VAT's direction (one power iteration against the model's own prediction, as ``semimix.ops.vat_perturbation``)
and in a random direction, with the inputs' mean L2 norm beside.

Both methods ask the student to predict, at x + r_adv (‖r_adv‖ = ε), what the teacher predicts at x. Where that
perturbation already changes the class for most samples, the consistency term asks for an invariance the model
cannot have, and fights the labeled loss; this measures whether a preset's ε is in that regime.

    python benchmarks/adversarial_flips.py runs/grids/cifar10-advmixup-cpu/cifar10-1000/{supervised,vat,advmixup}/seed0 \
        --eps 0.5,1,2,4,8
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from semimix.api import load_run
from semimix.ops import vat_perturbation


def flip_rates(run_dir: Path, epsilons: list[float], samples: int, seed: int) -> dict[str, object]:
    """Flip fractions of the run's final evaluated model (eval mode) on its first ``samples`` validation images."""
    run = load_run(run_dir, checkpoint="last")
    x_raw, _ = run.split("val")
    x = run.preprocess(x_raw[:samples])
    model = run.model
    torch.manual_seed(seed)
    with torch.no_grad():
        probs = torch.softmax(run.class_scores(model(x)), dim=-1)
    predicted = probs.argmax(dim=-1)
    direction = vat_perturbation(model, x, probs, epsilon=1.0)  # unit L2 norm per sample
    noise = torch.randn_like(x)
    noise = noise / noise.flatten(1).norm(dim=1).view(-1, *[1] * (x.dim() - 1))
    rows = []
    with torch.no_grad():
        for eps in epsilons:
            adversarial = run.class_scores(model(x + eps * direction)).argmax(dim=-1)
            random = run.class_scores(model(x + eps * noise)).argmax(dim=-1)
            rows.append(
                {
                    "epsilon": eps,
                    "flipped_vat_direction": (adversarial != predicted).float().mean().item(),
                    "flipped_random_direction": (random != predicted).float().mean().item(),
                }
            )
    return {"run": str(run_dir), "method": run.config.method, "samples": len(x), "mean_input_norm": x.flatten(1).norm(dim=1).mean().item(), "rows": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path, help="finished run directories")
    parser.add_argument("--eps", default="0.5,1,2,4,8", help="comma-separated ε in model-input units")
    parser.add_argument("--samples", type=int, default=2000, help="validation samples per run (the first ones)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, help="write the results as JSON here too")
    args = parser.parse_args()
    epsilons = [float(e) for e in args.eps.split(",")]
    torch.set_num_threads(1)
    results = [flip_rates(run, epsilons, args.samples, args.seed) for run in args.runs]
    print("| run | method | mean ‖x‖₂ | " + " | ".join(f"ε={e:g} VAT dir. / random" for e in epsilons) + " |")
    print("|---|---|---|" + "---|" * len(epsilons))
    for r in results:
        cells = " | ".join(f"{row['flipped_vat_direction']:.1%} / {row['flipped_random_direction']:.1%}" for row in r["rows"])  # type: ignore[index]
        print(f"| {Path(str(r['run'])).parent.name}/{Path(str(r['run'])).name} | {r['method']} | {r['mean_input_norm']:.1f} | {cells} |")
    if args.out:
        args.out.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
