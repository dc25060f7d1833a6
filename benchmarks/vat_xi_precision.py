"""How adversarial VAT's direction is in float32 at the papers' ξ = 1e-6, against float64.

VAT finds its direction by finite differences: the gradient of KL(p(x) ‖ p(x + ξd)) at a tiny ξ. In
float32, x + ξd rounds most of ξd away (a 784-pixel unit vector times 1e-6 is ~4e-8 per pixel, under
half a float32 step at 0.5), and a confident softmax loses the change in its top class. This measures
what that costs on a trained model: the KL reached at radius ε along the direction each precision and
ξ finds, computed in float64, and its |cosine| (per sample) with the direction that one iteration
approximates (float64, ξ = 1e-6, 20 iterations), averaged over several random starts; a random
direction is the floor.
The "bf16 target" rows run the float32 iteration against a clean prediction taken under bf16 autocast,
as semimix's VAT did under `precision: auto` before 2026-12-08: p(x) rounded to bf16 leaves a
first-order term in the ξ-step that the float32 target does not. ``--without-noise`` turns the model's
noise and dropout layers off (train-mode BatchNorm kept), so that only precision separates the rows.

    python benchmarks/vat_xi_precision.py runs/vat-mnist-ulincl --epsilon 0.3 [--checkpoint best]
"""

from __future__ import annotations

import argparse
import copy
import json

import torch
import torch.nn.functional as F

from semimix.models.layers import GaussianNoise
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
    parser.add_argument("--without-noise", action="store_true", help="noise and dropout layers off (see above)")
    args = parser.parse_args()

    run = load_run(args.run_dir, args.checkpoint)
    x = run.preprocess(run.data.x_unlabeled[: args.samples])
    models = {dtype: copy.deepcopy(run.model).to(dtype).train() for dtype in (torch.float32, torch.float64)}
    if args.without_noise:
        for model in models.values():
            for layer in model.modules():
                if isinstance(layer, (torch.nn.Dropout, GaussianNoise)):
                    layer.eval()
    with torch.no_grad(), frozen_batchnorm(models[torch.float64]):  # train-mode BN, as VAT's passes
        target64 = models[torch.float64](x.double())
    results = {"run": args.run_dir, "checkpoint": args.checkpoint, "epsilon": args.epsilon, "samples": len(x), "starts": args.starts}
    torch.manual_seed(0)  # what one iteration approximates: the float64 iteration run to convergence
    exact = vat_perturbation(models[torch.float64], x.double(), F.softmax(target64, dim=1), epsilon=args.epsilon, power_iterations=20)
    for dtype, bf16_target in [(torch.float64, False), (torch.float32, False), (torch.float32, True)]:
        model, xd = models[dtype], x.to(dtype)
        with torch.no_grad(), frozen_batchnorm(model), torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=bf16_target):
            target = F.softmax(model(xd).float(), dim=1).to(dtype)
        for xi in (float(v) for v in args.xi.split(",")):
            name = f"{str(dtype).removeprefix('torch.')} xi={xi:g}{', bf16 target' if bf16_target else ''}"
            rs = []
            for seed in range(args.starts):
                torch.manual_seed(seed)
                rs.append(vat_perturbation(model, xd, target, epsilon=args.epsilon, xi=xi).double())
            cosine = sum(F.cosine_similarity(r.flatten(1), exact.flatten(1)).abs().mean().item() for r in rs) / len(rs)
            kl = sum(kl_at(models[torch.float64], x.double(), target64, r) for r in rs) / len(rs)
            results[name] = {"kl": kl, "|cosine| with the converged direction": cosine}
    torch.manual_seed(0)
    random_r = args.epsilon * l2_normalize(torch.randn_like(x.double()))
    results["random direction"] = {"kl": kl_at(models[torch.float64], x.double(), target64, random_r)}
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
