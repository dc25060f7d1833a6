"""How adversarial VAT's direction is in float32 at the papers' ξ = 1e-6, against float64.

VAT finds its direction by finite differences: the gradient of KL(p(x) ‖ p(x + ξd)) at a tiny ξ. In
float32, x + ξd rounds most of ξd away (a 784-pixel unit vector times 1e-6 is ~4e-8 per pixel, under
half a float32 step at 0.5), and a confident softmax loses the change in its top class. This measures
what that costs on a trained model: the KL reached at radius ε along the direction each precision and
ξ finds, computed in float64, averaged over several random starts; a random direction is the floor.

    python benchmarks/vat_xi_precision.py runs/vat-mnist-ulincl --epsilon 0.3 [--checkpoint best]
"""

from __future__ import annotations

import argparse
import copy
import json

import torch
import torch.nn.functional as F

from semimix.ops import frozen_batchnorm, l2_normalize, vat_perturbation
from semimix.runs import load_run


def kl_at(model: torch.nn.Module, x: torch.Tensor, target_logits: torch.Tensor, r: torch.Tensor) -> float:
    """Mean KL(p(x) ‖ p(x + r)) in the model's precision."""
    p = F.softmax(target_logits, dim=1)
    with torch.no_grad(), frozen_batchnorm(model):
        log_q = F.log_softmax(model(x + r), dim=1)
    return (p * (F.log_softmax(target_logits, dim=1) - log_q)).sum(1).mean().item()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir")
    parser.add_argument("--epsilon", type=float, required=True, help="VAT radius in the run's input units")
    parser.add_argument("--xi", default="1e-6,1e-3,1e-1", help="comma-separated ξ values")
    parser.add_argument("--samples", type=int, default=250, help="unlabeled samples (one VAT batch)")
    parser.add_argument("--starts", type=int, default=5, help="random starts d per setting")
    parser.add_argument("--checkpoint", choices=("best", "last"), default="last", help="which of the run's models")
    args = parser.parse_args()

    run = load_run(args.run_dir, args.checkpoint)
    x = run.preprocess(run.data.x_unlabeled[: args.samples])
    models = {dtype: copy.deepcopy(run.model).to(dtype).train() for dtype in (torch.float32, torch.float64)}
    with torch.no_grad(), frozen_batchnorm(models[torch.float64]):  # train-mode BN, as VAT's passes
        target64 = models[torch.float64](x.double())
    results = {"run": args.run_dir, "checkpoint": args.checkpoint, "epsilon": args.epsilon, "samples": len(x), "starts": args.starts}
    for dtype, model in models.items():
        xd = x.to(dtype)
        with torch.no_grad(), frozen_batchnorm(model):
            target = F.softmax(model(xd), dim=1)
        for xi in (float(v) for v in args.xi.split(",")):
            kls = []
            for seed in range(args.starts):
                torch.manual_seed(seed)
                r = vat_perturbation(model, xd, target, epsilon=args.epsilon, xi=xi)
                kls.append(kl_at(models[torch.float64], x.double(), target64, r.double()))
            results[f"{str(dtype).removeprefix('torch.')} xi={xi:g}"] = sum(kls) / len(kls)
    torch.manual_seed(0)
    random_r = args.epsilon * l2_normalize(torch.randn_like(x.double()))
    results["random direction"] = kl_at(models[torch.float64], x.double(), target64, random_r)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
