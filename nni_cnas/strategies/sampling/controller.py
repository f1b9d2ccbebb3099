"""The ENAS controller: an autoregressive LSTM policy over the space's decisions (NATS-Bench's).

One decision per label, in the space's label order: the LSTM output goes through a linear head,
``tanh_constant * tanh(logits / temperature)``, a softmax; the chosen option's embedding is the next
input. Decisions with the same option list share their head and embedding (on NAS-Bench-201 all six
edges do, as in NATS-Bench's controller). Sampling uses a caller's ``random.Random``, so that the
curriculum's samples never shift the search's own random stream.
"""

from __future__ import annotations

import random
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = ['LstmController']


class LstmController(nn.Module):
    def __init__(self, options: Mapping[str, Sequence[Any]], lstm_size: int = 32, num_layers: int = 2,
                 tanh_constant: float = 2.5, temperature: float = 5.0):
        super().__init__()
        self.labels: List[str] = list(options)
        self.values: List[List[Any]] = [list(v) for v in options.values()]
        groups: Dict[Tuple[str, ...], int] = {}
        self.group_of: List[int] = [groups.setdefault(tuple(map(repr, v)), len(groups)) for v in self.values]
        sizes = [0] * len(groups)
        for values, group in zip(self.values, self.group_of):
            sizes[group] = len(values)
        self.tanh_constant, self.temperature = tanh_constant, temperature
        self.input_vars = nn.Parameter(torch.empty(1, 1, lstm_size))
        self.lstm = nn.LSTM(input_size=lstm_size, hidden_size=lstm_size, num_layers=num_layers)
        self.embeddings = nn.ModuleList(nn.Embedding(n, lstm_size) for n in sizes)
        self.heads = nn.ModuleList(nn.Linear(lstm_size, n) for n in sizes)
        # REINFORCE baseline (moving average of rewards); a buffer so that checkpoints carry it.
        self.register_buffer('baseline', torch.zeros(()))
        self.register_buffer('has_baseline', torch.zeros((), dtype=torch.bool))
        nn.init.uniform_(self.input_vars, -0.1, 0.1)
        nn.init.uniform_(self.lstm.weight_hh_l0, -0.1, 0.1)
        nn.init.uniform_(self.lstm.weight_ih_l0, -0.1, 0.1)
        for embedding, head in zip(self.embeddings, self.heads):
            nn.init.uniform_(embedding.weight, -0.1, 0.1)
            nn.init.uniform_(head.weight, -0.1, 0.1)

    def _logits(self, output: torch.Tensor, group: int) -> torch.Tensor:
        logits = self.heads[group](output.view(1, -1)) / self.temperature
        return (self.tanh_constant * torch.tanh(logits)).view(-1)

    def forward(self, rng: Optional[random.Random] = None, greedy: bool = False,
                sample: Optional[Mapping[str, Any]] = None) -> Tuple[torch.Tensor, torch.Tensor, Dict[str, Any]]:
        """``(sum of log-probabilities, sum of entropies, sample)`` of one architecture: drawn with
        ``rng``, the most likely choice at each step (``greedy``), or the given ``sample``."""
        inputs, state = self.input_vars, None
        log_probs, entropies, chosen = [], [], {}
        for label, values, group in zip(self.labels, self.values, self.group_of):
            output, state = self.lstm(inputs, state)
            logits = self._logits(output, group)
            log_p = F.log_softmax(logits, dim=-1)
            if sample is not None:
                index = values.index(sample[label])
            elif greedy:
                index = int(log_p.argmax())
            else:
                cumulative = log_p.detach().exp().cumsum(0).cpu().tolist()
                u = rng.random() * cumulative[-1]
                index = next((i for i, c in enumerate(cumulative) if u < c), len(values) - 1)
            log_probs.append(log_p[index])
            entropies.append(-(log_p.exp() * log_p).sum())
            chosen[label] = values[index]
            inputs = self.embeddings[group](torch.tensor([index], device=logits.device)).view(1, 1, -1)
        return torch.stack(log_probs).sum(), torch.stack(entropies).sum(), chosen

    @torch.no_grad()
    def sample_many(self, rng: random.Random, n: int) -> List[Dict[str, Any]]:
        """``n`` architectures drawn at once, as ``n`` calls of :meth:`sample` draw them (the same
        ``rng`` numbers in the same order: sample by sample, decision by decision), with the LSTM
        run on all of them together: one host read per decision for all ``n``, not one per sample."""
        if n <= 0:
            return []
        uniforms = [[rng.random() for _ in self.labels] for _ in range(n)]
        inputs, state = self.input_vars.expand(1, n, -1).contiguous(), None
        chosen: List[Dict[str, Any]] = [{} for _ in range(n)]
        for d, (label, values, group) in enumerate(zip(self.labels, self.values, self.group_of)):
            output, state = self.lstm(inputs, state)
            logits = self.tanh_constant * torch.tanh(self.heads[group](output.view(n, -1)) / self.temperature)
            cumulative = F.log_softmax(logits, dim=-1).exp().cumsum(-1).cpu().tolist()
            indices = []
            for i, row in enumerate(cumulative):
                u = uniforms[i][d] * row[-1]
                index = next((j for j, c in enumerate(row) if u < c), len(values) - 1)
                chosen[i][label] = values[index]
                indices.append(index)
            inputs = self.embeddings[group](torch.tensor(indices, device=logits.device)).view(1, n, -1)
        return chosen

    @torch.no_grad()
    def probabilities(self) -> Dict[str, Dict[Any, float]]:
        """Each decision's probabilities along the most likely architecture (an autoregressive
        policy has no per-decision marginals in closed form)."""
        inputs, state, out = self.input_vars, None, {}
        for label, values, group in zip(self.labels, self.values, self.group_of):
            output, state = self.lstm(inputs, state)
            logits = self._logits(output, group)
            probs = F.softmax(logits, dim=-1)
            out[label] = dict(zip(values, probs.cpu().tolist()))
            index = int(probs.argmax())
            inputs = self.embeddings[group](torch.tensor([index], device=logits.device)).view(1, 1, -1)
        return out

    @torch.no_grad()
    def log_prob(self, sample: Mapping[str, Any]) -> float:
        """Log-probability of ``sample`` under the policy."""
        return float(self(sample=sample)[0])

    @torch.no_grad()
    def sample(self, rng: random.Random) -> Dict[str, Any]:
        return self(rng)[2]

    def update_baseline(self, reward: float, decay: float) -> float:
        """Moving average ``b <- decay * b + (1 - decay) * reward``; the first reward starts it."""
        if not bool(self.has_baseline):
            self.baseline.fill_(reward)
            self.has_baseline.fill_(True)
        else:
            self.baseline.mul_(decay).add_((1 - decay) * reward)
        return float(self.baseline)
