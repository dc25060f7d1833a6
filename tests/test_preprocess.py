"""Per-batch preprocessing: standardisation, global contrast normalisation, ZCA (textbook and the
ICT/VAT regulariser quirk), fitting in chunks on the training pool only."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from semimix.data import preprocess
from semimix.data.preprocess import GlobalContrastNorm, Standardize, ZCAWhiten, build_preprocess, channel_stats, fit_zca, zca_components
from semimix.errors import SemimixError


def correlated_images(n: int = 600, shape: tuple[int, ...] = (2, 3, 3), seed: int = 0) -> torch.Tensor:
    """uint8-range float images whose pixels are strongly correlated, so whitening has work to do."""
    rng = np.random.default_rng(seed)
    d = int(np.prod(shape))
    mixing = rng.normal(size=(d, d)) + 2 * np.eye(d)
    x = rng.normal(size=(n, d)) @ mixing.T
    x = 128 + 40 * x / x.std()
    return torch.tensor(np.clip(x, 0, 255), dtype=torch.float32).reshape(n, *shape)


def covariance(x: torch.Tensor) -> torch.Tensor:
    flat = x.reshape(len(x), -1).double()
    centred = flat - flat.mean(0)
    return centred.T @ centred / len(flat)


def test_standardize_per_channel_any_rank():
    x = correlated_images()
    module = Standardize(*channel_stats([x[:250], x[250:]]))
    out = module(x)
    assert torch.allclose(out.mean(dim=(0, 2, 3)), torch.zeros(2), atol=1e-4)
    assert torch.allclose(out.std(dim=(0, 2, 3), unbiased=False), torch.ones(2), atol=1e-4)
    signal = torch.arange(12.0).reshape(2, 2, 3)  # (N, C, L): 1-D signals broadcast too
    assert torch.equal(Standardize([1.0, 2.0], [2.0, 4.0])(signal), (signal - torch.tensor([1.0, 2.0]).view(1, 2, 1)) / torch.tensor([2.0, 4.0]).view(1, 2, 1))
    assert {name for name, _ in module.named_buffers()} == {"mean", "std"}  # they follow .to(device)


def test_constant_channel_gets_unit_std():
    x = torch.zeros(5, 1, 2, 2)
    mean, std = channel_stats([x])
    assert mean.tolist() == [0.0] and std.tolist() == [1.0]


def test_global_contrast_norm_per_image():
    x = correlated_images(n=20)
    out = GlobalContrastNorm()(x).reshape(20, -1)
    assert torch.allclose(out.mean(dim=1), torch.zeros(20), atol=1e-5)
    assert torch.allclose(out.std(dim=1, unbiased=False), torch.ones(20), atol=1e-4)
    assert torch.equal(GlobalContrastNorm()(torch.full((1, 3, 2, 2), 7.0)), torch.zeros(1, 3, 2, 2))


def test_zca_textbook_whitens_the_training_data():
    x = correlated_images()
    zca = fit_zca([x], torch.nn.Identity(), epsilon=1e-6, quirk=False)
    assert float(covariance(x).diagonal().min()) > 100  # far from white before
    assert torch.allclose(covariance(zca(x)), torch.eye(18, dtype=torch.float64), atol=1e-3)
    assert torch.allclose(zca.components, zca.components.T, atol=1e-5)  # ZCA, not another whitening


def test_zca_quirk_and_textbook_formulas():
    cov = np.diag([4.0, 1.0])
    quirk = zca_components(cov.copy(), epsilon=0.5, quirk=True)
    textbook = zca_components(cov.copy(), epsilon=0.5, quirk=False)
    assert np.allclose(quirk, np.diag([1 / 2 + 0.5, 1 + 0.5]))  # diag(1/sqrt(S) + eps), as ICT/VAT compute
    assert np.allclose(textbook, np.diag([1 / np.sqrt(4.5), 1 / np.sqrt(1.5)]))  # diag(1/sqrt(S + eps))


def test_zca_projects_out_directions_without_variance():
    w = zca_components(np.diag([4.0, 0.0]), epsilon=1e-6, quirk=True)
    assert np.isfinite(w).all() and np.allclose(w, np.diag([0.5 + 1e-6, 0.0]))
    gcn = build_preprocess("gcn-zca", [correlated_images(n=100)])  # GCN leaves the constant direction empty
    assert torch.isfinite(gcn(correlated_images(n=5, seed=1))).all()


def test_chunked_fit_equals_one_pass(monkeypatch):
    x = correlated_images(n=103).to(torch.uint8)  # stored images are uint8; fitting converts chunk by chunk
    monkeypatch.setattr(preprocess, "FIT_BYTES", 10**9)
    whole = fit_zca([x], torch.nn.Identity(), 1e-6, False)
    monkeypatch.setattr(preprocess, "FIT_BYTES", 7 * 8 * 18)  # 7 rows of 18 float64 values
    pieces = fit_zca([x[:50], x[50:]], torch.nn.Identity(), 1e-6, False)
    assert torch.allclose(pieces.mean, whole.mean) and torch.allclose(pieces.components, whole.components, atol=1e-5)


def test_zca_is_fitted_on_what_it_is_given_only():
    pool, other = correlated_images(seed=0), correlated_images(seed=1) + 50
    module = build_preprocess("zca", [pool])
    assert isinstance(module, torch.nn.Sequential) and isinstance(module[1], ZCAWhiten)
    assert abs(float(module(pool).mean())) < 1e-3 and abs(float(module(other).mean())) > 0.1


def test_fixed_scalings_and_none():
    x = torch.tensor([0.0, 127.5, 255.0]).view(1, 3, 1, 1)
    assert build_preprocess("ict-scale", [x])(x).flatten().tolist() == [-1.0, 0.0, 1.0]
    assert build_preprocess("vat-scale", [x])(x).flatten().tolist() == [-0.5, 0.0, 0.5]
    assert build_preprocess("none", [x]) is None


@pytest.mark.parametrize("kind, epsilon, words", [("pca", 1e-6, "unknown preprocess 'pca'"), ("zca", -1.0, "zca_epsilon must be")])
def test_bad_settings(kind, epsilon, words):
    with pytest.raises(SemimixError, match=words):
        build_preprocess(kind, [correlated_images(n=4)], epsilon)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_modules_run_on_the_gpu():
    x = correlated_images()
    module = build_preprocess("zca", [x]).to("cuda")
    assert torch.allclose(module(x.cuda()).cpu(), module.cpu()(x), atol=1e-3)
