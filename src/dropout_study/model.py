"""The reference MLP, M models at once.

784 -> H -> ReLU -> noise(rate_1) -> H -> ReLU -> noise(rate_2) -> 10, stacked along a leading
model axis: weights are [M, out, in] (``nn.Linear``'s layout), biases [M, 1, out], and each
model's hyper-parameters (noise rates) are rows of a tensor. Model m of a batch computes exactly
what it would compute alone; batching only lets one batched GEMM do the work of M small ones.

Training with multiplicative activation noise (dropout and most schemes) takes the
hand-written step ``sgd_step``: forward, backward and SGD update in eight batched GEMMs, the
weight updates accumulated in place into the weights, no input gradient for the first layer.
Other schemes go through autograd, where ``BatchedLinear`` keeps the same GEMM layouts (the
weight gradient as g^T x straight into [M, out, in]). Measured on a 2-core CPU, the GEMMs of
one step of 10 reference models took 23 ms this way against 30 ms with autograd's defaults for
[M, in, out] weights; ``bench`` measures the whole step against the GEMM limit.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from .noise import Noise, NoiseContext
from .rng import generator
from .spec import N_IN, N_OUT

FORMAT = 2  # weights [M, out, in]; saved weights and checkpoints carry it


class BatchedLinear(torch.autograd.Function):
    """y = x W^T + b for M models at once: x [M, B, in], w [M, out, in], b [M, 1, out]."""

    @staticmethod
    def forward(ctx, x, w, b):
        ctx.save_for_backward(x, w)
        return torch.baddbmm(b, x, w.transpose(1, 2))

    @staticmethod
    def backward(ctx, g):
        x, w = ctx.saved_tensors
        gx = torch.bmm(g, w) if ctx.needs_input_grad[0] else None
        gw = torch.bmm(g.transpose(1, 2), x) if ctx.needs_input_grad[1] else None
        gb = g.sum(1, keepdim=True) if ctx.needs_input_grad[2] else None
        return gx, gw, gb


def init_linear(seeds: list[int], fan_in: int, fan_out: int, layer: int,
                device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """``nn.Linear``'s default init, U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weights and biases,
    drawn from each seed's own init stream so that seed s starts identically in every condition
    with the same shape."""
    bound = fan_in ** -0.5
    ws, bs = [], []
    for s in seeds:
        g = generator(s, f"init:{layer}:{fan_in}x{fan_out}")
        ws.append((torch.rand(fan_out, fan_in, generator=g) * 2 - 1).mul_(bound))
        bs.append((torch.rand(1, fan_out, generator=g) * 2 - 1).mul_(bound))
    return torch.stack(ws).contiguous().to(device), torch.stack(bs).to(device)


@dataclass
class Taps:
    """Activations of each hidden layer in one forward pass: before and after the noise."""

    pre: list[torch.Tensor] = field(default_factory=list)
    post: list[torch.Tensor] = field(default_factory=list)


class BatchedMLP:
    def __init__(self, seeds: list[int], hidden: int, noise: Noise, rates: torch.Tensor,
                 device: torch.device, n_hidden_layers: int = 2):
        self.seeds = list(seeds)
        self.noise = noise
        self.device = device
        self.rates = rates.to(device=device, dtype=torch.float32)  # [M, n_hidden_layers]
        if self.rates.shape != (len(seeds), n_hidden_layers):
            raise ValueError(f"rates must be [{len(seeds)}, {n_hidden_layers}], "
                             f"got {list(self.rates.shape)}")
        sizes = [N_IN] + [hidden] * n_hidden_layers + [N_OUT]
        self.weights, self.biases = [], []
        for layer, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
            w, b = init_linear(self.seeds, fan_in, fan_out, layer, device)
            self.weights.append(w.requires_grad_())
            self.biases.append(b.requires_grad_())

    @property
    def n_models(self) -> int:
        return len(self.seeds)

    @property
    def params(self) -> list[torch.Tensor]:
        return self.weights + self.biases

    def _linear(self, layer: int, x: torch.Tensor, train: bool,
                ctx: NoiseContext | None) -> torch.Tensor:
        w, b = self.weights[layer], self.biases[layer]
        # Weight noise acts on the matrix that consumes hidden layer `layer` (layers 1.. only);
        # the schemes see it as [M, in, out], the orientation of x @ W.
        if train and layer > 0 and self.noise.target == "weight":
            return self.noise.linear(x, w.transpose(1, 2), b, self.rates[:, layer - 1], ctx)
        if x.dim() == 2:  # one input shared by every model: one wide GEMM
            n, m, k = x.shape[0], w.shape[0], w.shape[1]
            out = (x @ w.reshape(m * k, w.shape[2]).T).view(n, m, k)
            return out.transpose(0, 1) + b
        return BatchedLinear.apply(x, w, b)

    def forward(self, x: torch.Tensor, train: bool, ctx: NoiseContext | None = None,
                taps: Taps | None = None) -> torch.Tensor:
        """Logits [M, B, 10]. ``x`` is [M, B, 784] (per-model batches) or [B, 784] (shared)."""
        h = x
        last = len(self.weights) - 1
        for layer in range(last):
            h = torch.relu(self._linear(layer, h, train, ctx))
            if taps is not None:
                taps.pre.append(h)
            if self.noise.target == "activation":
                rate = self.rates[:, layer]
                h = self.noise.train(h, rate, ctx) if train else self.noise.eval(h, rate)
            if taps is not None:
                taps.post.append(h)
        return self._linear(last, h, train, ctx)

    __call__ = forward

    @property
    def has_fused_step(self) -> bool:
        return self.noise.target == "activation" and self.noise.multiplicative

    @torch.no_grad()
    def sgd_step(self, x: torch.Tensor, y: torch.Tensor, ctx: NoiseContext,
                 step: torch.Tensor,
                 shrink: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """One SGD step on the mean cross-entropy of each model's minibatch, forward and backward
        written out, for multiplicative activation noise (``has_fused_step``).

        ``x`` [M, B, 784], ``y`` [M, B]; ``step`` [M, 1, 1] is -lr/B per model (0 for a model
        that must not move); ``shrink`` [M, 1, 1] is 1 - lr*decay, or None without decay (weights
        only). Returns the logits [M, B, 10] and the mean losses [M] before the step.

        Why: with the gate D = relu'(z) * factor, the hidden layer is h = z * D and its
        backward is one product, g_z = g_h * D. The output gradient is scaled by ``step`` once,
        so every layer's update is a single in-place GEMM into its weights,
        W <- shrink * W + (step * g)^T h, computed after g @ W has been taken for the layer
        below. Autograd would also store each gradient and then add it (one more pass over
        every weight) and walk ReLU and mask separately. Equal to the autograd step to
        float32 rounding (tested).
        """
        last = len(self.weights) - 1
        inputs, gates = [x], []
        h = x
        for layer in range(last):
            z = torch.baddbmm(self.biases[layer], h, self.weights[layer].transpose(1, 2))
            f = self.noise.factor(tuple(z.shape), self.rates[:, layer], ctx)
            h = z.relu_()
            gate = torch.sign(h)  # relu'(z) as 0/1 floats (float ops are the fast ones on CPU)
            if f is not None:
                gate.mul_(f)
                h.mul_(f)
            inputs.append(h)
            gates.append(gate)
        logits = torch.baddbmm(self.biases[last], h, self.weights[last].transpose(1, 2))
        logp = torch.log_softmax(logits, -1)
        target = y.unsqueeze(-1)
        losses = -logp.gather(-1, target).squeeze(-1).mean(1)
        # dL/dlogits = softmax - onehot, times -lr/B; the one-hot by comparison, not
        # scatter_add_ (which has no deterministic CUDA kernel for deterministic: true)
        onehot = target == torch.arange(logits.shape[-1], device=logits.device)
        g = logp.exp_().sub_(onehot.to(logp.dtype)).mul_(step)
        for layer in range(last, -1, -1):
            w = self.weights[layer]
            g_below = torch.bmm(g, w) if layer > 0 else None  # before w moves
            if shrink is not None:
                w.mul_(shrink)
            w.baddbmm_(g.transpose(1, 2), inputs[layer])
            self.biases[layer].add_(g.sum(1, keepdim=True))
            if g_below is not None:
                g = g_below.mul_(gates[layer - 1])
        return logits, losses

    def weight_norms(self) -> torch.Tensor:
        """Frobenius norm of each weight matrix, [M, n_layers]."""
        return torch.stack([w.detach().flatten(1).norm(dim=1) for w in self.weights], dim=1)

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {f"w{i}": w.detach().cpu() for i, w in enumerate(self.weights)} | \
               {f"b{i}": b.detach().cpu() for i, b in enumerate(self.biases)}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        with torch.no_grad():
            for i, w in enumerate(self.weights):
                w.copy_(state[f"w{i}"])
            for i, b in enumerate(self.biases):
                b.copy_(state[f"b{i}"])
