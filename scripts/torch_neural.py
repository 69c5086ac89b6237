"""The PyTorch baseline of ``bench_neural.py``: one network per seed, a Python loop over
rounds, as the reference implementations of NeuralUCB and NeuralLinear run.

The same algorithms, settings and default hyperparameters as :mod:`bandits.neural`
(``neural_eps_greedy``, ``neural_ucb``, ``neural_linear``) on the wheel bandit
(:class:`envs.worlds.WheelWorld`), written per seed and per round:

* the network: a ReLU MLP ``torch.nn.Sequential`` scoring arm a from the disjoint
  encoding e_a ⊗ x (K·d inputs), He-normal hidden weights, a Glorot-normal output layer,
  zero biases (:func:`bandits.neural.network.init_mlp`);
* a replay ring of the last ``buffer`` network inputs and rewards in preallocated
  tensors; every ``train_every`` rounds ``n_steps`` steps of ``torch.optim.Adam`` (or
  SGD) on minibatches of ``batch`` drawn uniformly with replacement from the filled
  slots, on the mean squared error + weight_decay/2·‖θ − θ₀‖² (the optimiser's state kept
  from one training to the next);
* NeuralUCB: per-arm gradients g_a (backpropagated by hand for all arms at once, an
  order faster than a backward pass per arm or ``torch.func.vmap``), the diagonal design
  Z = reg + Σ g²/m over the played arms, the largest f + γ·sqrt(Σ g²/Z/m);
* NeuralLinear: Thompson sampling on a Bayesian linear regression over the last hidden
  layer, updated by recursive least squares each round and recomputed on the buffer
  (A = reg·I + ΦᵀΦ, A⁻¹ by Cholesky) after each training.

Decisions draw one action; they do not compute the action probabilities bandax reports
(exact ties, of probability zero here, go to the lowest arm). The world draws from NumPy,
the policy from a ``torch.Generator`` and NumPy, each seeded by the seed. PyTorch runs
with its default threads (``torch.get_num_threads()``, reported with the timings).
"""

from __future__ import annotations

import math
import statistics
import time

import numpy as np
import torch

from bandits.neural.core import NeuralSettings, check_settings
from bandits.neural.gradient import NeuralUCBParams
from bandits.neural.greedy import NeuralEpsGreedyParams
from bandits.neural.linear_head import NeuralLinearParams
from envs.worlds import WheelWorld

PARAMS = {"neural_eps_greedy": NeuralEpsGreedyParams, "neural_ucb": NeuralUCBParams,
          "neural_linear": NeuralLinearParams}


class Wheel:
    """One seed's wheel (the fields of ``world``), drawn one round at a time from the
    NumPy generator ``rng``."""

    n_arms = WheelWorld.n_arms
    dim = WheelWorld.dim

    def __init__(self, world: WheelWorld, rng: np.random.Generator):
        if not isinstance(world.delta, float) or world.p_eligible < 1.0:
            raise ValueError(f"the PyTorch wheel takes one delta and p_eligible = 1, got "
                             f"delta={world.delta!r}, p_eligible={world.p_eligible!r}")
        self.world, self.rng = world, rng
        self.means = np.empty(self.n_arms)  # the round's mean rewards

    def context(self) -> np.ndarray:
        """(2,) float32 uniform in the unit disc: radius √u₁, angle 2πu₂."""
        u = self.rng.random(2)
        radius, angle = math.sqrt(u[0]), 2 * math.pi * u[1]
        return np.array([radius * math.cos(angle), radius * math.sin(angle)], np.float32)

    def mean_rewards(self, x: np.ndarray) -> np.ndarray:
        """(K,) the mean reward of every arm at context ``x`` (the module docstring of
        :mod:`envs.worlds.wheel`)."""
        w, means = self.world, self.means
        means[0], means[1:] = w.mu_1, w.mu_2
        if math.hypot(x[0], x[1]) >= w.delta:
            means[1 + 2 * int(x[0] <= 0) + int(x[1] <= 0)] = w.mu_3
        return means

    def reward(self, mean: float) -> float:
        return mean + self.world.noise_std * self.rng.standard_normal()


def make_mlp(sizes: tuple[int, ...], gen: torch.Generator) -> torch.nn.Sequential:
    """The MLP of widths ``sizes`` (input, hidden..., 1), initialised as
    :func:`bandits.neural.network.init_mlp` does."""
    layers = []
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        linear = torch.nn.Linear(fan_in, fan_out)
        if i == len(sizes) - 2:
            torch.nn.init.xavier_normal_(linear.weight, generator=gen)
        else:
            torch.nn.init.kaiming_normal_(linear.weight, nonlinearity="relu", generator=gen)
        torch.nn.init.zeros_(linear.bias)
        layers += [linear, torch.nn.ReLU()] if i < len(sizes) - 2 else [linear]
    return torch.nn.Sequential(*layers)


class Agent:
    """One seed's neural ε-greedy: the network, its optimiser, the initial parameters (the
    regulariser's centre, when weight_decay > 0), the replay ring and the round's arm
    inputs, all preallocated; subclasses add their exploration."""

    def __init__(self, s: NeuralSettings, params, seed: int, n_arms: int, dim: int):
        self.s, self.params = s, params
        self.gen = torch.Generator().manual_seed(seed)
        self.rng = np.random.default_rng([seed, 1])
        self.net = make_mlp(s.sizes(n_arms, dim), self.gen)
        self.body = self.net[:-1]  # the layers up to the last hidden activations
        self.initial = [p.detach().clone() for p in self.net.parameters()] \
            if float(params.weight_decay) > 0 else None
        optim = torch.optim.Adam if s.optimizer == "adam" else torch.optim.SGD
        self.opt = optim(self.net.parameters(), lr=float(params.lr))
        width = n_arms * dim
        self.inputs = torch.zeros(s.buffer, width)  # the ring: played arms' inputs
        self.rewards = torch.zeros(s.buffer)
        self.count = 0  # observations ever stored
        self.batch_x, self.batch_y = torch.zeros(s.batch, width), torch.zeros(s.batch)
        self.index = torch.zeros(s.batch, dtype=torch.long)
        self.arm_in = torch.zeros(n_arms, width)  # row a: e_a ⊗ x of this round
        self._blocks = torch.diagonal(self.arm_in.view(n_arms, n_arms, dim), 0, 0, 1)

    def set_context(self, x: np.ndarray) -> None:
        """Writes the disjoint encoding of context ``x`` into ``arm_in``."""
        self._blocks.copy_(torch.from_numpy(x)[:, None])

    def decide(self) -> int:
        """The round's arm: uniform with probability ε, else the network's best."""
        if self.rng.random() < float(self.params.epsilon):
            return int(self.rng.integers(self.arm_in.shape[0]))
        with torch.no_grad():
            return int(self.net(self.arm_in).argmax())

    def update(self, action: int, reward: float) -> None:
        """Stores the played arm's input and reward in the ring, over the oldest."""
        slot = self.count % self.s.buffer
        self.inputs[slot] = self.arm_in[action]
        self.rewards[slot] = reward
        self.count += 1

    def train(self) -> None:
        """``n_steps`` optimiser steps on minibatches from the filled slots."""
        filled = min(self.count, self.s.buffer)
        wd = float(self.params.weight_decay)
        for _ in range(self.s.n_steps):
            torch.randint(filled, (self.s.batch,), generator=self.gen, out=self.index)
            torch.index_select(self.inputs, 0, self.index, out=self.batch_x)
            torch.index_select(self.rewards, 0, self.index, out=self.batch_y)
            err = self.net(self.batch_x)[:, 0] - self.batch_y
            loss = torch.mean(err * err)
            if self.initial is not None:
                loss = loss + 0.5 * wd * sum(torch.sum((p - p0) ** 2) for p, p0 in
                                             zip(self.net.parameters(), self.initial))
            self.opt.zero_grad()
            loss.backward()
            self.opt.step()


def arm_gradients(net: torch.nn.Sequential, x: torch.Tensor,
                  out: list[torch.Tensor]) -> torch.Tensor:
    """The outputs f(x_a) (K,) of the ReLU MLP ``net`` at inputs ``x`` (K, w), writing each
    input's gradient of f with respect to every parameter into ``out``: one (K, *shape)
    view per parameter, in the order of ``net.parameters()``. Backpropagation by hand,
    all arms at once, without autograd."""
    linears = [m for m in net if isinstance(m, torch.nn.Linear)]
    acts, pres, h = [x], [], x
    for linear in linears[:-1]:
        pres.append(torch.addmm(linear.bias, h, linear.weight.T))
        h = pres[-1].clamp(min=0.0)
        acts.append(h)
    last = linears[-1]
    f = torch.addmm(last.bias, h, last.weight.T)[:, 0]
    out[-2][:, 0].copy_(h)  # ∂f/∂(output weight) = last hidden activations
    out[-1].fill_(1.0)
    delta = last.weight[0].expand(x.shape[0], -1)  # ∂f/∂h of the last hidden layer
    for i in range(len(linears) - 2, -1, -1):
        delta = delta * (pres[i] > 0)  # ∂f/∂(pre-activation)
        torch.mul(delta[:, :, None], acts[i][:, None, :], out=out[2 * i])
        out[2 * i + 1].copy_(delta)
        if i:
            delta = delta @ linears[i].weight
    return f


class UCBAgent(Agent):
    """NeuralUCB with the diagonal design Z (p numbers), grown by the played arm's g²/m."""

    def __init__(self, s: NeuralSettings, params, seed: int, n_arms: int, dim: int):
        super().__init__(s, params, seed, n_arms, dim)
        shapes = [p.shape for p in self.net.parameters()]
        p = sum(math.prod(shape) for shape in shapes)
        self.design = torch.full((p,), float(params.reg))
        self.grads = torch.zeros(n_arms, p)  # (K, p) g_a of the round
        offsets = np.cumsum([0] + [math.prod(shape) for shape in shapes])
        self.views = [self.grads[:, a:b].view(n_arms, *shape)
                      for a, b, shape in zip(offsets[:-1], offsets[1:], shapes)]

    @torch.no_grad()
    def decide(self) -> int:
        f = arm_gradients(self.net, self.arm_in, self.views)
        m = self.s.hidden
        width = torch.sqrt(torch.sum(self.grads * self.grads / self.design, -1) / m)
        action = int(torch.argmax(f + float(self.params.gamma) * width))
        played = self.grads[action]
        self.design.addcmul_(played, played, value=1.0 / m)
        return action


class LinearAgent(Agent):
    """NeuralLinear: the regression's A⁻¹ (m, m) and θ̂ (m,) on the last hidden layer."""

    def __init__(self, s: NeuralSettings, params, seed: int, n_arms: int, dim: int):
        super().__init__(s, params, seed, n_arms, dim)
        self.a_inv = torch.eye(s.hidden) / float(params.reg)
        self.theta = torch.zeros(s.hidden)
        self.z = torch.zeros(n_arms)
        self.phi = torch.zeros(n_arms, s.hidden)  # the round's features of every arm

    @torch.no_grad()
    def decide(self) -> int:
        torch.clamp(self.body[:-1](self.arm_in), min=0.0, out=self.phi)  # then the ReLU
        var = torch.sum((self.phi @ self.a_inv) * self.phi, -1).clamp_(min=0.0)
        torch.randn(self.z.shape, generator=self.gen, out=self.z)
        scores = self.phi @ self.theta + float(self.params.v) * var.sqrt_() * self.z
        return int(torch.argmax(scores))

    @torch.no_grad()
    def update(self, action: int, reward: float) -> None:
        """Stores the observation and adds it to the regression (recursive least
        squares, :func:`bandits.neural.linear_head.rls`)."""
        super().update(action, reward)
        phi = self.phi[action]
        ax = self.a_inv @ phi
        gain = 1.0 / (1.0 + phi @ ax)
        self.theta.add_(ax * (gain * (reward - phi @ self.theta)))
        self.a_inv.sub_(gain * torch.outer(ax, ax))

    def train(self) -> None:
        """Trains, then recomputes the regression on the buffer with the new features."""
        super().train()
        filled = min(self.count, self.s.buffer)
        with torch.no_grad():
            phis = self.body(self.inputs[:filled])
            a = phis.T @ phis
            a.diagonal().add_(float(self.params.reg))
            torch.cholesky_inverse(torch.linalg.cholesky(a), out=self.a_inv)
            torch.mv(self.a_inv, phis.T @ self.rewards[:filled], out=self.theta)


AGENTS = {"neural_eps_greedy": Agent, "neural_ucb": UCBAgent, "neural_linear": LinearAgent}


def make_agent(policy_name: str, seed: int, settings: dict) -> Agent:
    """The agent of ``policy_name`` with the bandax policy's default params and
    ``settings`` (:class:`bandits.neural.NeuralSettings` fields)."""
    if policy_name not in AGENTS:
        raise ValueError(f"policy_name must be one of {', '.join(AGENTS)}, "
                         f"got {policy_name!r}")
    s = check_settings(NeuralSettings(**settings), Wheel.dim, Wheel.n_arms)
    if s.arm_features:
        raise ValueError(f"neural.arm_features must be 0 on the wheel, got {s.arm_features}")
    return AGENTS[policy_name](s, PARAMS[policy_name](), seed, Wheel.n_arms, Wheel.dim)


def torch_rollout(policy_name: str, seed: int, rounds: int, settings: dict,
                  world: WheelWorld | None = None) -> float:
    """The cumulative regret of one seed of ``policy_name`` over ``rounds`` rounds of
    ``world`` (the wheel at δ = 0.95 by default): context, decision, reward, update, and
    a training every ``train_every`` rounds."""
    if not isinstance(rounds, int) or rounds < 0:
        raise ValueError(f"rounds must be a non-negative integer, got {rounds!r}")
    agent = make_agent(policy_name, seed, settings)
    wheel = Wheel(world or WheelWorld(), np.random.default_rng([seed, 0]))
    every, regret = agent.s.train_every, 0.0
    for t in range(rounds):
        x = wheel.context()
        agent.set_context(x)
        action = agent.decide()
        means = wheel.mean_rewards(x)
        agent.update(action, wheel.reward(float(means[action])))
        if (t + 1) % every == 0:
            agent.train()
        regret += float(means.max() - means[action])
    return regret


def torch_loop_row(policy_name: str, seeds: int, rounds: int, loop_seeds: int,
                   settings: dict, world: WheelWorld | None = None) -> dict:
    """``loop_seeds`` seeds one after another: the median seconds per seed, and ``seeds``
    seeds at that rate (the keys of ``bench_neural.loop_row``, and torch's threads).
    ``compile_s`` is a warm-up rollout of ``train_every`` rounds, before the timed seeds."""
    if not isinstance(loop_seeds, int) or loop_seeds < 1:
        raise ValueError(f"loop_seeds must be a positive integer, got {loop_seeds!r}")
    t = time.perf_counter()
    torch_rollout(policy_name, 0, min(rounds, NeuralSettings(**settings).train_every),
                  settings, world)
    compile_s = time.perf_counter() - t
    per_seed = []
    for s in range(loop_seeds):
        t = time.perf_counter()
        torch_rollout(policy_name, s, rounds, settings, world)
        per_seed.append(time.perf_counter() - t)
    seconds = statistics.median(per_seed)
    return {"compile_s": compile_s, "seconds_per_seed": seconds,
            "run_s_for_all_seeds": seconds * seeds, "agent_rounds_per_s": rounds / seconds,
            "threads": torch.get_num_threads()}
