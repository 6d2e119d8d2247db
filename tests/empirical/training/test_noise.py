import itertools
import math

import numpy as np
import pytest
import torch
from torch import nn

from eoss.empirical.data.arrays import ArrayDataset
from eoss.empirical.losses import Loss
from eoss.empirical.models import ModelSpec, build_model
from eoss.empirical.rng import torch_gen
from eoss.empirical.training.gradient_moments import gradient_moments, gradient_spread
from eoss.empirical.training.noise import (
    gaussian_weights,
    noise_factor,
    noisy_gradient,
    weighted_gradient,
)

N, D, C = 10, 2, 2  # P = D*C + C = 6 parameters


def problem():
    gen = torch.Generator().manual_seed(5)
    X = torch.randn(N, D, dtype=torch.float64, generator=gen)
    y = torch.randint(0, C, (N,), generator=gen)
    model = nn.Sequential(nn.Flatten(), nn.Linear(D, C)).double()
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, dtype=torch.float64, generator=gen))
    return model, Loss("mse"), ArrayDataset(X, y, "toy", C)


def per_sample_grads(model, loss, data):
    """Dense per-sample gradients (N, P) by plain autograd, one sample at a time."""
    rows = []
    for n in range(len(data)):
        out = model(data.X[n : n + 1])
        g = torch.autograd.grad(
            loss.per_sample(out, data.y[n : n + 1]).sum(), list(model.parameters())
        )
        rows.append(torch.cat([t.reshape(-1) for t in g]))
    return torch.stack(rows)


def flat(tensors):
    return torch.cat([t.reshape(-1) for t in tensors])


def population_cov(G):
    centred = G - G.mean(0)
    return centred.T @ centred / G.shape[0]


@pytest.mark.parametrize("b", [1, 3, 7, N])
def test_factor_is_the_exact_minibatch_covariance_without_replacement(b):
    G = np.random.default_rng(b).standard_normal((N, 4))
    subsets = list(itertools.combinations(range(N), b))
    means = np.array([G[list(s)].mean(0) for s in subsets])
    exact = np.cov(means.T, bias=True)  # uniform over all b-subsets
    sigma = np.cov(G.T, bias=True)
    # Closed form: (N - b) / (b (N - 1)) * Sigma; float64 sums of <= 210 terms.
    np.testing.assert_allclose(
        exact, noise_factor(N, b) * sigma, rtol=1e-12, atol=1e-14
    )


def test_factor_with_replacement_enumerating_ordered_tuples():
    n, b = 5, 2
    G = np.random.default_rng(1).standard_normal((n, 3))
    tuples = list(itertools.product(range(n), repeat=b))
    means = np.array([G[list(t)].mean(0) for t in tuples])
    exact = np.cov(means.T, bias=True)
    sigma = np.cov(G.T, bias=True)
    assert noise_factor(n, b, replacement=True) == 0.5
    np.testing.assert_allclose(exact, sigma / b, rtol=1e-12, atol=1e-14)
    assert noise_factor(1, 1) == 0.0 and noise_factor(N, 1) == 1.0
    with pytest.raises(ValueError):
        noise_factor(N, N + 1)


def test_weights_sum_to_one_and_weighted_gradient_is_sum_of_weighted_grads():
    model, loss, data = problem()
    w = gaussian_weights(N, 3, gen=torch_gen(0, "noise"))
    assert abs(float(w.sum()) - 1) < 1e-14
    G = per_sample_grads(model, loss, data)
    res = weighted_gradient(model, loss, data, w, chunk=3)  # ragged chunks 3,3,3,1
    torch.testing.assert_close(flat(res.grads), w @ G, rtol=1e-12, atol=1e-14)
    full = loss.mean(model(data.X), data.y).item()
    assert abs(res.loss - full) < 1e-13
    assert all(p.grad is None for p in model.parameters())


@pytest.mark.parametrize("method", ["linear", "vmap"])
def test_gradient_moments_match_dense_per_sample_gradients(method):
    # "linear" (sums of squares by one product per layer) and "vmap" (per-sample
    # gradients) are independent routes to the same float64 numbers.
    model, loss, data = problem()
    G = per_sample_grads(model, loss, data)
    mom = gradient_moments(model, loss, data, chunk=4, method=method)
    torch.testing.assert_close(flat(mom.mean), G.mean(0), rtol=1e-12, atol=1e-14)
    var = torch.diagonal(population_cov(G))
    torch.testing.assert_close(flat(mom.var), var, rtol=1e-10, atol=1e-13)
    assert abs(mom.loss - loss.mean(model(data.X), data.y).item()) < 1e-13


def test_linear_moments_refuse_other_architectures():
    model, loss, data = problem()
    conv = torch.nn.Sequential(torch.nn.Conv1d(1, 1, 1))
    with pytest.raises(ValueError, match="nn.Sequential of Linear"):
        gradient_moments(conv, loss, data, chunk=4, method="linear")
    with pytest.raises(ValueError, match="unknown moments method"):
        gradient_moments(model, loss, data, chunk=4, method="magic")


@pytest.mark.parametrize("kind", ["gaussian", "diagonal", "isotropic"])
def test_noise_covariance_matches_target_within_monte_carlo_error(kind):
    model, loss, data = problem()
    # gaussian is one backward per draw; the other two run vmap per draw (slower).
    # The factor c_b itself is verified exactly above; these check the sampling.
    b, m = 3, (1500 if kind == "gaussian" else 500)
    G = per_sample_grads(model, loss, data)
    g = G.mean(0)
    C_b = noise_factor(N, b) * population_cov(G)
    if kind == "diagonal":
        C_b = torch.diag(torch.diagonal(C_b))
    elif kind == "isotropic":
        C_b = torch.eye(C_b.shape[0], dtype=C_b.dtype) * torch.trace(C_b) / C_b.shape[0]
    gen = torch_gen(11, kind)
    xi = torch.stack(
        [
            flat(
                noisy_gradient(
                    model, loss, data, kind=kind, batch_size=b, gen=gen, chunk_size=4
                ).grads
            )
            - g
            for _ in range(m)
        ]
    )
    # Mean zero: each coordinate's sample mean within 4 standard errors.
    se_mean = torch.sqrt(torch.diagonal(C_b) / m)
    assert torch.all(xi.mean(0).abs() <= 4 * se_mean + 1e-15)
    # Covariance (known zero mean): Var(xi_i xi_j) = C_ii C_jj + C_ij^2 for a Gaussian.
    emp = xi.T @ xi / m
    se = torch.sqrt(
        (torch.outer(torch.diagonal(C_b), torch.diagonal(C_b)) + C_b**2) / m
    )
    assert torch.all((emp - C_b).abs() <= 4 * se + 1e-15), (emp - C_b) / se


def test_no_noise_at_full_batch_and_batchnorm_rejected():
    model, loss, data = problem()
    G = per_sample_grads(model, loss, data)
    for kind in ("gaussian", "diagonal", "isotropic"):
        res = noisy_gradient(
            model, loss, data, kind=kind, batch_size=N, gen=torch_gen(0, "n")
        )
        torch.testing.assert_close(flat(res.grads), G.mean(0), rtol=1e-12, atol=1e-14)
    bn = build_model(
        ModelSpec("resnet10", batchnorm=True, channels=2),
        (3, 8, 8),
        2,
        torch_gen(0, "i"),
    )
    img = ArrayDataset(torch.zeros(4, 3, 8, 8), torch.tensor([0, 1, 0, 1]), "x", 2)
    with pytest.raises(ValueError, match="BatchNorm"):
        noisy_gradient(
            bn, loss, img, kind="gaussian", batch_size=2, gen=torch_gen(0, "n")
        )
    with pytest.raises(ValueError, match="unknown noise kind"):
        noisy_gradient(
            model, loss, data, kind="pink", batch_size=2, gen=torch_gen(0, "n")
        )


def test_isotropic_total_variance_equals_sgd_total_variance():
    model, loss, data = problem()
    G = per_sample_grads(model, loss, data)
    mom = gradient_moments(model, loss, data, chunk=N)
    total = noise_factor(N, 4) * float(torch.trace(population_cov(G)))
    assert math.isclose(
        noise_factor(N, 4) * float(flat(mom.var).sum()), total, rel_tol=1e-10
    )


@pytest.mark.parametrize("loss_name", ["mse", "ce"])
def test_linear_moments_through_hidden_relu_layers(loss_name):
    # deltas must flow through ReLU and later layers: compare both routes on a
    # 2-hidden-layer MLP with biases (float64, same tolerance as above)
    gen = torch.Generator().manual_seed(7)
    model = nn.Sequential(
        nn.Flatten(),
        nn.Linear(D, 6),
        nn.ReLU(),
        nn.Linear(6, 5),
        nn.ReLU(),
        nn.Linear(5, C),
    ).double()
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, dtype=torch.float64, generator=gen))
    X = torch.randn(N, D, dtype=torch.float64, generator=gen)
    y = torch.randint(0, C, (N,), generator=gen)
    data, loss = ArrayDataset(X, y, "toy", C), Loss(loss_name)
    fast = gradient_moments(model, loss, data, chunk=5, method="linear")
    ref = gradient_moments(model, loss, data, chunk=4, method="vmap")
    torch.testing.assert_close(flat(fast.mean), flat(ref.mean), rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(flat(fast.var), flat(ref.var), rtol=1e-10, atol=1e-13)


def mlp(dtype, *, d=D, width=6, bias_last=True, seed=7):
    gen = torch.Generator().manual_seed(seed)
    model = nn.Sequential(
        nn.Flatten(),
        nn.Linear(d, width),
        nn.ReLU(),
        nn.Linear(width, 5),
        nn.Tanh(),
        nn.Linear(5, C, bias=bias_last),
    ).to(dtype)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) / p.shape[-1] ** 0.5)
    return model


@pytest.mark.parametrize("method", ["linear", "vmap"])
@pytest.mark.parametrize("loss_name", ["mse", "ce"])
def test_gradient_spread_is_the_trace_of_the_dense_covariance(method, loss_name):
    # tr Σ from per-sample norms (linear) or per-sample gradients (vmap) against
    # the trace of the dense population covariance (float64, a bias-free last layer)
    model = mlp(torch.float64, bias_last=False).double()
    gen = torch.Generator().manual_seed(3)
    X = torch.randn(N, D, dtype=torch.float64, generator=gen)
    y = torch.randint(0, C, (N,), generator=gen)
    data, loss = ArrayDataset(X, y, "toy", C), Loss(loss_name)
    G = per_sample_grads(model, loss, data)
    res = gradient_spread(model, loss, data, chunk=3, method=method)
    assert math.isclose(res.trace, float(torch.trace(population_cov(G))), rel_tol=1e-10)
    torch.testing.assert_close(flat(res.mean), G.mean(0), rtol=1e-12, atol=1e-14)
    assert abs(res.loss - loss.mean(model(X), y).item()) < 1e-13


def test_float32_moments_are_as_accurate_as_float32_gradients():
    # Products run in the model's dtype. Against the same weights in float64: a
    # float32 per-sample gradient carries relative error ~ eps32 * sqrt(fan-in)
    # (fan-in 64: ~1e-6), so g_n^2 sums are off by a few 1e-6 of E[g^2]; allow 1e-4.
    d, n = 64, 96
    m32 = mlp(torch.float32, d=d, width=32)
    m64 = mlp(torch.float32, d=d, width=32).double()
    gen = torch.Generator().manual_seed(4)
    X = torch.randn(n, d, dtype=torch.float64, generator=gen)
    y = torch.randint(0, C, (n,), generator=gen)
    loss = Loss("mse")
    d64, d32 = ArrayDataset(X, y, "x", C), ArrayDataset(X.float(), y, "x", C)
    ref = gradient_moments(m64, loss, d64, chunk=32)
    got = gradient_moments(m32, loss, d32, chunk=32)
    second = flat(ref.var) + flat(ref.mean).square()  # E[g^2] per coordinate
    err = (flat(got.var).double() - flat(ref.var)).abs()
    assert torch.all(err <= 1e-4 * second + 1e-30), float((err / second).max())
    tr32 = gradient_spread(m32, loss, d32, chunk=32).trace
    tr64 = gradient_spread(m64, loss, d64, chunk=32).trace
    assert math.isclose(tr32, tr64, rel_tol=1e-4)
    assert math.isclose(tr64, float(flat(ref.var).sum()), rel_tol=1e-10)
