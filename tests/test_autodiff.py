"""Seed 001's autodiff examples, checked to the precision the seed prints (4 decimals), and its linear
model's gradients against the analytic ones."""
from __future__ import annotations

import numpy as np
import torch

from fixtures import tensors

PRINTED = 5e-5  # half a unit in the 4th decimal: what "prints as 0.9975" means


def test_sum_of_squares_gives_222_and_gradient_12():
    x = torch.ones([3, 2], requires_grad=True)
    y = x + 5
    z = y * y + 1
    t = torch.sum(z)
    assert t.item() == 222.0
    t.backward()
    assert torch.equal(x.grad, torch.full((3, 2), 12.0))  # dt/dx = 2(x + 5) = 12 at x = 1


def _sigmoid_of_x_plus_5():
    x = torch.ones([3, 2], requires_grad=True)
    r = 1 / (1 + torch.exp(-(x + 5)))
    return x, r


def test_sigmoid_value_and_gradient_through_sum_backward():
    x, r = _sigmoid_of_x_plus_5()
    np.testing.assert_allclose(r.detach().numpy(), 0.9975, atol=PRINTED)
    torch.sum(r).backward()
    np.testing.assert_allclose(x.grad.numpy(), 0.0025, atol=PRINTED)


def test_sigmoid_gradient_through_backward_with_ones_is_the_same():
    x, r = _sigmoid_of_x_plus_5()
    r.backward(torch.ones([3, 2]))  # ds/dr = 1 for s = sum(r), passed in by hand
    np.testing.assert_allclose(x.grad.numpy(), 0.0025, atol=PRINTED)
    x_sum, r_sum = _sigmoid_of_x_plus_5()
    r_sum.sum().backward()
    assert torch.equal(x.grad, x_sum.grad)


def test_sigmoid_gradient_is_r_times_one_minus_r():
    x, r = _sigmoid_of_x_plus_5()
    r.sum().backward()
    s = 1 / (1 + np.exp(-6.0))
    np.testing.assert_allclose(x.grad.numpy(), s * (1 - s), rtol=1e-6)


def test_linear_model_gradients_equal_the_analytic_ones():
    # The seed's example: x ~ randn(20, 1), y = 3x - 2, w = b = 1, loss = sum((w x + b - y)^2).
    x = tensors.torch_seeded((20, 1), seed=1)
    y = 3 * x - 2
    w = torch.tensor([1.0], requires_grad=True)
    b = torch.tensor([1.0], requires_grad=True)
    loss = torch.sum((w * x + b - y) ** 2)
    loss.backward()

    x64 = x.numpy().astype(np.float64)
    residual = (1.0 * x64 + 1.0) - (3 * x64 - 2)
    np.testing.assert_allclose(loss.item(), np.sum(residual ** 2), rtol=1e-5)
    np.testing.assert_allclose(w.grad.numpy(), [np.sum(2 * residual * x64)], rtol=1e-5)  # dL/dw
    np.testing.assert_allclose(b.grad.numpy(), [np.sum(2 * residual)], rtol=1e-5)  # dL/db
