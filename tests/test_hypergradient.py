"""Second-order architecture gradients: DARTS-V2's finite differences and Amended-DARTS' term
against autograd and against closed forms on a quadratic problem."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import nni_cnas
from nni_cnas.strategies.differentiable.hypergradient import exact_mixed_product, finite_difference_product
from nni_cnas.strategies.differentiable.amended import DoubleBackwardUnavailable, amended_gradient
from nni_cnas.strategies.differentiable.darts_v2 import unrolled_gradient

from helpers import tiny_space


def relative_error(a, b) -> float:
    a, b = torch.cat([x.reshape(-1) for x in a]), torch.cat([x.reshape(-1) for x in b])
    return float((a - b).norm() / b.norm())


class MixedMLP(torch.nn.Module):
    """A two-layer net whose hidden activation is a softmax(alpha) mixture, as a DARTS edge."""

    def __init__(self):
        super().__init__()
        self.fc1, self.fc2 = torch.nn.Linear(5, 8), torch.nn.Linear(8, 3)
        self.alpha = torch.nn.Parameter(torch.randn(3))

    def forward(self, x):
        h = self.fc1(x)
        p = F.softmax(self.alpha, 0)
        return self.fc2(p[0] * torch.tanh(h) + p[1] * torch.sigmoid(h) + p[2] * h)

    def weights(self):
        return [p for n, p in self.named_parameters() if n != 'alpha']


@pytest.fixture
def mlp_problem():
    torch.manual_seed(0)
    net = MixedMLP().double()
    x, y = torch.randn(16, 5, dtype=torch.float64), torch.randint(0, 3, (16,))
    xv, yv = torch.randn(16, 5, dtype=torch.float64), torch.randint(0, 3, (16,))
    return net, (x, y), (xv, yv)


def full_hessian_blocks(net, batch):
    """The Hessian of the loss in (weights, alpha) as one matrix, by torch.func (independent of our
    double-backward helpers)."""
    names = [n for n, _ in net.named_parameters()]
    flat = torch.cat([p.detach().reshape(-1) for p in net.parameters()])
    shapes = [p.shape for p in net.parameters()]

    def loss_of(theta):
        params, offset = {}, 0
        for name, shape in zip(names, shapes):
            size = shape.numel()
            params[name] = theta[offset:offset + size].reshape(shape)
            offset += size
        return F.cross_entropy(torch.func.functional_call(net, params, (batch[0],)), batch[1])

    hessian = torch.autograd.functional.hessian(loss_of, flat)
    assert names[0] == 'alpha'  # a module's own parameters come before its children's
    n_alpha = net.alpha.numel()
    return hessian[n_alpha:, n_alpha:], hessian[:n_alpha, n_alpha:]


def test_finite_difference_products_match_the_true_hessian(mlp_problem):
    net, train, _ = mlp_problem
    weights = net.weights()
    vector = [torch.randn_like(w) for w in weights]
    flat_vector = torch.cat([v.reshape(-1) for v in vector])
    h_ww, h_aw = full_hessian_blocks(net, train)

    def train_loss():
        return F.cross_entropy(net(train[0]), train[1])

    mixed = finite_difference_product(train_loss, weights, [net.alpha], vector)
    assert relative_error(mixed, [h_aw @ flat_vector]) < 1e-2
    exact = exact_mixed_product(train_loss(), weights, [net.alpha], vector)
    assert relative_error(exact, [h_aw @ flat_vector]) < 1e-8
    hv = finite_difference_product(train_loss, weights, weights, vector)
    assert relative_error(hv, [(h_ww @ flat_vector)]) < 1e-2
    before = [w.detach().clone() for w in weights]
    finite_difference_product(train_loss, weights, [net.alpha], vector)
    assert all(torch.equal(w, b) for w, b in zip(weights, before)), 'weights must come back exactly'


def test_finite_difference_of_a_zero_vector_is_zero(mlp_problem):
    net, train, _ = mlp_problem
    zeros = [torch.zeros_like(w) for w in net.weights()]
    out = finite_difference_product(lambda: F.cross_entropy(net(train[0]), train[1]), net.weights(), [net.alpha], zeros)
    assert torch.equal(out[0], torch.zeros_like(net.alpha))


def test_darts_v2_gradient_matches_autograd_through_the_virtual_step(mlp_problem):
    """d/da L_val(w - lr grad_w L_train(w, a), a), differentiated through the step by autograd,
    against the finite-difference formula (with momentum 0 and weight decay 0)."""
    net, train, val = mlp_problem
    weights, lr = net.weights(), 0.5
    train_grads = torch.autograd.grad(F.cross_entropy(net(train[0]), train[1]), weights, create_graph=True)
    unrolled = {name: w - lr * g for (name, _), w, g in
                zip([(n, p) for n, p in net.named_parameters() if n != 'alpha'], weights, train_grads)}
    unrolled['alpha'] = net.alpha
    val_loss = F.cross_entropy(torch.func.functional_call(net, unrolled, (val[0],)), val[1])
    (truth,) = torch.autograd.grad(val_loss, [net.alpha])

    stepped = [value.detach() for name, value in unrolled.items() if name != 'alpha']
    ours = unrolled_gradient(lambda: F.cross_entropy(net(val[0]), val[1]),
                             lambda: F.cross_entropy(net(train[0]), train[1]),
                             weights, [net.alpha], stepped, [lr] * len(weights))
    assert relative_error(ours, [truth]) < 1e-2
    constant = {name: value.detach() if name != 'alpha' else value for name, value in unrolled.items()}
    first_order = torch.autograd.grad(F.cross_entropy(torch.func.functional_call(net, constant, (val[0],)), val[1]),
                                      [net.alpha])[0]
    assert not torch.allclose(first_order, truth), 'the second-order term must matter in this problem'


class Quadratic(torch.nn.Module):
    """``L_train = 1/2 w'Hw - a'Cw`` (so ``w*(a) = H^-1 C'a``), ``L_val = 1/2 |w - t|^2 + s'a``."""

    def __init__(self, H, C, t, s, w=None):
        super().__init__()
        self.H, self.C, self.t, self.s = H, C, t, s
        self.w = torch.nn.Parameter(torch.randn(H.shape[0], dtype=H.dtype) if w is None else w.clone())
        self.a = torch.nn.Parameter(torch.randn(C.shape[0], dtype=H.dtype))

    def train_loss(self):
        return 0.5 * self.w @ self.H @ self.w - self.a @ self.C @ self.w

    def val_loss(self):
        return 0.5 * ((self.w - self.t) ** 2).sum() + self.s @ self.a

    def optimum(self):
        return torch.linalg.solve(self.H, self.C.T @ self.a)


def random_quadratic(n, seed=0, isotropic=False, m=3):
    """``n`` weights, ``m`` architecture parameters."""
    generator = torch.Generator().manual_seed(seed)

    def randn(*shape):
        return torch.randn(*shape, generator=generator, dtype=torch.float64)

    if isotropic:
        H = 2.5 * torch.eye(n, dtype=torch.float64)
    else:
        Q = randn(n, n)
        H = Q @ Q.T + n * torch.eye(n, dtype=torch.float64)
    return Quadratic(H, randn(m, n), randn(n), randn(m))


@pytest.mark.parametrize('hvp', ['exact', 'finite-difference'])
def test_amended_gradient_equals_the_hand_computation(hvp):
    """``d2 L_train / da dw = -C`` and ``H`` is H: the amended gradient is ``s + eta C H (w - t)``."""
    problem = random_quadratic(4)
    eta = 0.1
    ours = amended_gradient(problem.val_loss(), problem.train_loss, [problem.w], [problem.a], eta, hvp)[0]
    g = (problem.w - problem.t).detach()
    by_hand = problem.s + eta * problem.C @ problem.H @ g
    assert torch.allclose(ours, by_hand, rtol=1e-6 if hvp == 'exact' else 1e-4)


def test_amended_gradient_falls_back_to_finite_differences_without_a_double_backward():
    """torch has no double backward for hardsigmoid (MobileNetV3's spaces): the exact products
    refuse, and with a fallback the result is the finite-difference one."""
    torch.manual_seed(0)
    w = torch.randn(5, dtype=torch.float64, requires_grad=True)
    a = torch.randn(5, dtype=torch.float64, requires_grad=True)

    def train_loss():
        return (torch.nn.functional.hardsigmoid(w * a) ** 2).sum() + (w ** 2).sum()

    def val_loss():
        return (torch.nn.functional.hardsigmoid(w + a) ** 2).sum()

    with pytest.raises(DoubleBackwardUnavailable, match='not implemented'):
        amended_gradient(val_loss(), train_loss, [w], [a], 0.1, 'exact')
    told = []
    ours = amended_gradient(val_loss(), train_loss, [w], [a], 0.1, 'exact', on_fallback=told.append)[0]
    finite = amended_gradient(val_loss(), train_loss, [w], [a], 0.1, 'finite-difference')[0]
    assert len(told) == 1 and torch.equal(ours, finite)


def second_terms(problem, eta=0.1):
    """At ``w = w*(a)``: the true second term of the hypergradient, from autograd through the
    closed-form optimum, and the amended term of our implementation."""
    with torch.no_grad():
        problem.w.copy_(problem.optimum())
    a = problem.a
    w_star = torch.linalg.solve(problem.H, problem.C.T @ a)
    total = torch.autograd.grad(0.5 * ((w_star - problem.t) ** 2).sum() + problem.s @ a, [a])[0]
    true_second = total - problem.s
    amended = amended_gradient(problem.val_loss(), problem.train_loss, [problem.w], [a], eta)[0] - problem.s
    return true_second, amended


def test_true_second_term_is_the_implicit_function_formula():
    problem = random_quadratic(4, seed=3)
    true_second, _ = second_terms(problem)
    g = (problem.w - problem.t).detach()
    assert torch.allclose(true_second, problem.C @ torch.linalg.solve(problem.H, g))


@pytest.mark.parametrize('seed', range(20))
def test_amended_term_agrees_in_direction_with_the_true_term_for_isotropic_hessians(seed):
    """The paper's Eq. 8: with ``H = c I`` the inner product is ``(C g / c) . (eta c C g) = eta |C g|^2 >= 0``."""
    problem = random_quadratic(5, seed=seed, isotropic=True)
    true_second, amended = second_terms(problem)
    assert float(true_second @ amended) >= 0


def test_amended_term_can_point_away_from_the_true_term_for_an_anisotropic_hessian():
    """Eq. 8 is not true for every positive definite H: with H = diag(1, 100) and C = [1, 1] the
    true term is ``C H^-1 g`` and the amended one ``eta C H g``; for g = (1, -0.1) they are 0.999 and
    -0.9. We implement the paper's formula and document this limit (README, amended.py)."""
    problem = Quadratic(torch.diag(torch.tensor([1.0, 100.0], dtype=torch.float64)),
                        torch.tensor([[1.0, 1.0]], dtype=torch.float64), torch.zeros(2, dtype=torch.float64),
                        torch.zeros(1, dtype=torch.float64))
    with torch.no_grad():
        problem.a.fill_(1.0)
        problem.t.copy_(problem.optimum() - torch.tensor([1.0, -0.1], dtype=torch.float64))
    true_second, amended = second_terms(problem)
    assert torch.allclose(true_second, torch.tensor([0.999], dtype=torch.float64))
    assert torch.allclose(amended, torch.tensor([-0.9], dtype=torch.float64))


def test_second_order_strategies_reject_penalties():
    for cls in (nni_cnas.DARTSV2, nni_cnas.AmendedDARTS):
        with pytest.raises(ValueError, match='penalties'):
            cls(penalty=object())
    with pytest.raises(ValueError, match='hvp'):
        nni_cnas.AmendedDARTS(hvp='newton')


def test_exact_products_work_on_the_nb201_supernet(digits):
    """The NB201 supernet (BatchNorm without running stats, pooling, the zero op) supports double
    backward, so Amended-DARTS' default exact products run on it; they agree with finite differences
    of a small step (DARTS' r = 0.01 crosses ReLU kinks of this 4-channel net: the gap there is the
    finite difference's, not the double backward's)."""
    torch.manual_seed(0)
    supernet = nni_cnas.DARTS().mutate_model(tiny_space(digits, channels=4)).double()
    alphas = [p for n, p in supernet.named_parameters() if '_arch_alpha' in n]
    weights = [p for n, p in supernet.named_parameters() if '_arch_alpha' not in n]
    x, y = digits.train.images[:16].double() / 255, digits.train.labels[:16]

    def train_loss():
        return F.cross_entropy(supernet(x), y)

    vector = [torch.randn_like(w) for w in weights]
    exact = exact_mixed_product(train_loss(), weights, alphas, vector)
    approx = finite_difference_product(train_loss, weights, alphas, vector, r=1e-4)
    assert relative_error(approx, exact) < 1e-5
