"""Recurrent cell search spaces for language models (DARTS' and ENAS'), in NNI 3.0's model-space API.

The cell (DARTS, Liu et al. 2019; ENAS, Pham et al. 2018) turns the input ``x_t`` and the previous
hidden state ``h_{t-1}`` into an initial state ``s0 = h + sigmoid(c0) * (tanh(h0) - h)`` with
``[c0, h0] = [x, h] W0``; node ``i`` then takes one earlier state ``s_j``, computes
``[c, h] = s_j W`` and applies the highway update ``s_i = s_j + sigmoid(c) * (f(h) - s_j)`` with an
activation ``f`` from tanh, relu, sigmoid, identity. The new hidden state is the mean of the nodes:
all of them (DARTS) or the loose ends, nodes no node takes (ENAS).

Declared like the DARTS CNN space: each edge ``j -> i`` is a ``LayerChoice`` labelled
``rnn/{j}_{i}`` over ``none`` and the four activations; the matrix ``W`` belongs to the node
(DARTS: one per node) or to the edge (ENAS: one per pair of nodes). A valid cell keeps one edge per
node: :class:`~nni_cnas.arch.decisions.DartsDecisions` with ``inputs=1``. DARTS' continuous relaxation
is NNI's own mixed layer on each edge (a softmax over the five ops, ``none`` included); DARTS'
search-time BatchNorm (no affine parameters, batch statistics, on ``s0`` and every node) is on by
default. Where the path is known (a fixed subnet, a sampled path), ``none`` edges are skipped.

The language model around the cell is DARTS' (AWD-LSTM style, no LSTM): embedding, embedding
dropout on whole words, variational ("locked") dropout on the embedding, the cell's input and
hidden connections and the output, a decoder tied to the embedding. Each sequence starts from a
zero state (fixed-length samples, see :mod:`nni_cnas.data.text`). Not modelled from ENAS: the
search over the first node's activation (tanh here, as in DARTS).
"""

from __future__ import annotations

from typing import Any, Mapping, Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from nni.mutable import label_scope
from nni.nas.nn.pytorch import LayerChoice, ModelSpace

from ..arch.decisions import DartsDecisions
from ..arch.supernet import active_value, runs_without_alphas
from .rnn_genotype import RecurrentGenotype, recurrent_loose_ends

__all__ = ['RNN_OPS', 'RNN_PRESETS', 'RecurrentSpace', 'RecurrentSearchCell', 'RecurrentCell', 'RecurrentNetwork',
           'LanguageModel', 'Highway', 'NoEdge', 'rnn_sample_to_genotype', 'rnn_genotype_to_sample',
           'genotype_network_from_space', 'count_parameters']

#: DARTS' recurrent primitives, in its order.
RNN_OPS = ('none', 'tanh', 'relu', 'sigmoid', 'identity')
_ACTIVATIONS = {'tanh': torch.tanh, 'relu': torch.relu, 'sigmoid': torch.sigmoid, 'identity': lambda h: h}
#: The two spaces: DARTS' (8 nodes, mean of all nodes, a matrix per node) and ENAS' (12 nodes, mean
#: of the loose ends, a matrix per edge).
RNN_PRESETS = {
    'rnn-darts': dict(nodes=8, output='mean', weights='node'),
    'rnn-enas': dict(nodes=12, output='loose_ends', weights='edge'),
}
CELL = 'rnn'
INIT_RANGE = 0.04  # DARTS' uniform initialisation of the cell's matrices


class Highway(nn.Module):
    """The highway update with one activation: ``s + c * (f(h) - s)``."""

    def __init__(self, name: str):
        super().__init__()
        self.name = name
        self.activation = _ACTIVATIONS[name]

    def forward(self, s, c, h):
        return s + c * (self.activation(h) - s)

    def active_value(self) -> str:
        # In a frozen network this module replaces its layer choice: it knows the chosen op.
        return self.name


class NoEdge(nn.Module):
    """DARTS' ``none``: the edge adds nothing."""

    name = 'none'

    def forward(self, s, c, h):
        return torch.zeros_like(s)

    def active_value(self) -> str:
        return self.name


def make_edge_op(name: str) -> nn.Module:
    return NoEdge() if name == 'none' else Highway(name)


def initial_state(x, h_prev, w0, x_mask: Optional[torch.Tensor], h_mask: Optional[torch.Tensor]):
    """``s0 = h + sigmoid(c0) * (tanh(h0) - h)``, ``[c0, h0] = [x, h] W0`` (dropout masks while training)."""
    xh = torch.cat([x if x_mask is None else x * x_mask, h_prev if h_mask is None else h_prev * h_mask], dim=-1)
    c0, h0 = torch.chunk(xh @ w0, 2, dim=-1)
    return h_prev + torch.sigmoid(c0) * (torch.tanh(h0) - h_prev)


def gates(s, weight, h_mask: Optional[torch.Tensor]):
    """``(sigmoid(c), h)`` with ``[c, h] = s W`` (hidden dropout mask while training)."""
    c, h = torch.chunk((s if h_mask is None else s * h_mask) @ weight, 2, dim=-1)
    return torch.sigmoid(c), h


def _uniform(*shape) -> nn.Parameter:
    return nn.Parameter(torch.empty(*shape).uniform_(-INIT_RANGE, INIT_RANGE))


def _mask(like: torch.Tensor, size: int, p: float) -> Optional[torch.Tensor]:
    """A per-sequence dropout mask ``[B, size]`` (the same at every step), or None."""
    if p <= 0:
        return None
    return like.new_empty(like.shape[0], size).bernoulli_(1 - p) / (1 - p)


class RecurrentSearchCell(nn.Module):
    """The search cell: every edge ``j -> i`` a layer choice among :data:`RNN_OPS`."""

    def __init__(self, input_size: int, hidden: int, nodes: int = 8, output: str = 'mean', weights: str = 'node',
                 batch_norm: bool = True, dropout_x: float = 0.75, dropout_h: float = 0.25):
        super().__init__()
        if output not in ('mean', 'loose_ends') or weights not in ('node', 'edge'):
            raise ValueError(f'output is mean or loose_ends, weights node or edge; got {output!r}, {weights!r}')
        self.hidden, self.nodes, self.output, self.weights = hidden, nodes, output, weights
        self.dropout_x, self.dropout_h = dropout_x, dropout_h
        self.w0 = _uniform(input_size + hidden, 2 * hidden)
        count = nodes if weights == 'node' else nodes * (nodes + 1) // 2
        self.matrices = nn.ParameterList(_uniform(hidden, 2 * hidden) for _ in range(count))
        # One BatchNorm for s0 and every node, as DARTS' search cell; batch statistics only.
        self.bn = nn.BatchNorm1d(hidden, affine=False, track_running_stats=False) if batch_norm else None
        self.edges = nn.ModuleList()
        with label_scope(CELL):
            for i in range(1, nodes + 1):
                self.edges.append(nn.ModuleList(
                    LayerChoice({op: make_edge_op(op) for op in RNN_OPS}, label=f'{j}_{i}') for j in range(i)))

    def matrix(self, j: int, i: int) -> torch.Tensor:
        """``W`` of edge ``j -> i``: node ``i``'s (DARTS) or the edge's own (ENAS)."""
        return self.matrices[i - 1] if self.weights == 'node' else self.matrices[(i - 1) * i // 2 + j]

    def _normalise(self, s):
        return s if self.bn is None else self.bn(s)

    def used_states(self) -> Optional[set]:
        """Nodes some node takes, when every edge is known (else None: the mixture keeps all)."""
        used = set()
        for i, edges in enumerate(self.edges, 1):
            for j, edge in enumerate(edges):
                value = active_value(edge)
                if value is None:
                    return None
                if value != 'none':
                    used.add(j)
        return used

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        """``[B, T, input]`` -> hidden states ``[B, T, hidden]``, from a zero state."""
        x_mask = _mask(inputs, inputs.shape[-1], self.dropout_x) if self.training else None
        h_mask = _mask(inputs, self.hidden, self.dropout_h) if self.training else None
        skipped = [[runs_without_alphas(edge, 'none') for edge in edges] for edges in self.edges]
        used = self.used_states() if self.output == 'loose_ends' else None
        outputs = [i for i in range(1, self.nodes + 1) if used is None or i not in used]
        h = inputs.new_zeros(inputs.shape[0], self.hidden)
        hiddens = []
        for t in range(inputs.shape[1]):
            states = [self._normalise(initial_state(inputs[:, t], h, self.w0, x_mask, h_mask))]
            for i, edges in enumerate(self.edges, 1):
                total = 0
                for j, edge in enumerate(edges):
                    if skipped[i - 1][j]:
                        continue
                    c, g = gates(states[j], self.matrix(j, i), h_mask)
                    total = total + edge(states[j], c, g)
                states.append(self._normalise(total) if torch.is_tensor(total) else torch.zeros_like(states[0]))
            h = torch.stack([states[i] for i in outputs]).mean(0)
            hiddens.append(h)
        return torch.stack(hiddens, dim=1)


class RecurrentCell(nn.Module):
    """A found cell (retraining, and the fixed subnet of a search cell): one input per node.
    ``batch_norm`` reproduces the search cell's normalisation (off when retraining, as DARTS)."""

    def __init__(self, genotype: RecurrentGenotype, input_size: int, hidden: int, batch_norm: bool = False,
                 dropout_x: float = 0.75, dropout_h: float = 0.25):
        super().__init__()
        self.genotype = genotype.check()
        self.hidden, self.dropout_x, self.dropout_h = hidden, dropout_x, dropout_h
        self.w0 = _uniform(input_size + hidden, 2 * hidden)
        self.matrices = nn.ParameterList(_uniform(hidden, 2 * hidden) for _ in genotype.recurrent)
        self.ops = nn.ModuleList(Highway(op) for op, _ in genotype.recurrent)
        self.bn = nn.BatchNorm1d(hidden, affine=False, track_running_stats=False) if batch_norm else None

    def step(self, x, h, x_mask=None, h_mask=None):
        states = [initial_state(x, h, self.w0, x_mask, h_mask)]
        if self.bn is not None:
            states[0] = self.bn(states[0])
        for (_, j), weight, op in zip(self.genotype.recurrent, self.matrices, self.ops):
            c, g = gates(states[j], weight, h_mask)
            s = op(states[j], c, g)
            states.append(s if self.bn is None else self.bn(s))
        return torch.stack([states[i] for i in self.genotype.concat]).mean(0)

    def forward(self, inputs: torch.Tensor, h: Optional[torch.Tensor] = None):
        """``[B, T, input]`` -> ``([B, T, hidden], last hidden)``; ``h``: the state to start from."""
        x_mask = _mask(inputs, inputs.shape[-1], self.dropout_x) if self.training else None
        h_mask = _mask(inputs, self.hidden, self.dropout_h) if self.training else None
        h = inputs.new_zeros(inputs.shape[0], self.hidden) if h is None else h
        hiddens = []
        for t in range(inputs.shape[1]):
            h = self.step(inputs[:, t], h, x_mask, h_mask)
            hiddens.append(h)
        return torch.stack(hiddens, dim=1), h


def embedded_dropout(embedding: nn.Embedding, tokens: torch.Tensor, p: float) -> torch.Tensor:
    """Embedding with whole words dropped (the same words in the whole batch), scaled by 1/(1-p)."""
    if p <= 0:
        return embedding(tokens)
    keep = embedding.weight.new_empty(embedding.weight.shape[0], 1).bernoulli_(1 - p) / (1 - p)
    return F.embedding(tokens, embedding.weight * keep)


def locked_dropout(x: torch.Tensor, p: float) -> torch.Tensor:
    """Variational dropout on ``[B, T, D]``: one mask per sequence, the same at every step."""
    if p <= 0:
        return x
    return x * (x.new_empty(x.shape[0], 1, x.shape[2]).bernoulli_(1 - p) / (1 - p))


class LanguageModel(nn.Module):
    """Mixin: DARTS' recurrent language model around a cell (``self.cell``); tied decoder."""

    def build_language_model(self, vocabulary: int, hidden: int, cell: nn.Module, dropout: float = 0.75,
                             dropout_i: float = 0.2, dropout_e: float = 0.0) -> None:
        self.vocabulary, self.hidden = vocabulary, hidden
        self.dropout, self.dropout_i, self.dropout_e = dropout, dropout_i, dropout_e
        self.encoder = nn.Embedding(vocabulary, hidden)
        nn.init.uniform_(self.encoder.weight, -0.1, 0.1)
        self.cell = cell
        self.decoder = nn.Linear(hidden, vocabulary)
        self.decoder.weight = self.encoder.weight  # tied, as DARTS and ENAS
        nn.init.zeros_(self.decoder.bias)

    def embed(self, tokens: torch.Tensor) -> torch.Tensor:
        training = self.training
        x = embedded_dropout(self.encoder, tokens, self.dropout_e if training else 0.0)
        return locked_dropout(x, self.dropout_i if training else 0.0)

    def decode(self, hiddens: torch.Tensor) -> torch.Tensor:
        return self.decoder(locked_dropout(hiddens, self.dropout if self.training else 0.0))


class RecurrentSpace(LanguageModel, ModelSpace):
    """A language model whose recurrent cell is searched. ``preset``: ``rnn-darts`` (8 nodes, mean
    of all nodes, a matrix per node) or ``rnn-enas`` (12 nodes, mean of the loose ends, a matrix
    per edge); ``nodes`` overrides the preset's count. DARTS' search settings are the defaults
    (hidden and embedding size 300, dropouts 0.75 output, 0.25 hidden, 0.75 cell input, 0.2
    embedding, 0 words)."""

    def __init__(self, vocabulary: int, hidden: int = 300, preset: str = 'rnn-darts', nodes: Optional[int] = None,
                 batch_norm: bool = True, dropout: float = 0.75, dropout_h: float = 0.25, dropout_x: float = 0.75,
                 dropout_i: float = 0.2, dropout_e: float = 0.0):
        super().__init__()
        if preset not in RNN_PRESETS:
            raise ValueError(f'unknown recurrent space {preset!r}; choose one of {", ".join(RNN_PRESETS)}')
        settings = dict(RNN_PRESETS[preset])
        if nodes is not None:
            settings['nodes'] = nodes
        self.preset, self.nodes, self.output = preset, settings['nodes'], settings['output']
        cell = RecurrentSearchCell(hidden, hidden, batch_norm=batch_norm, dropout_x=dropout_x, dropout_h=dropout_h,
                                   **settings)
        self.build_language_model(vocabulary, hidden, cell, dropout, dropout_i, dropout_e)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """Token ids ``[B, T]`` -> next-token logits ``[B, T, vocabulary]``."""
        return self.decode(self.cell(self.embed(tokens)))

    def architecture_decisions(self) -> DartsDecisions:
        return DartsDecisions((CELL,), self.nodes, RNN_OPS, inputs=1, first=1)

    def genotype(self, sample: Mapping[str, Any]) -> RecurrentGenotype:
        return rnn_sample_to_genotype(sample, self.nodes, self.output)


def rnn_sample_to_genotype(sample: Mapping[str, Any], nodes: int, output: str = 'mean') -> RecurrentGenotype:
    decided = DartsDecisions((CELL,), nodes, RNN_OPS, inputs=1, first=1).contract(sample)
    recurrent = tuple((op, j) for i in range(1, nodes + 1) for j, op in decided[f'{CELL}/node_{i}'])
    concat = tuple(range(1, nodes + 1)) if output == 'mean' else recurrent_loose_ends(recurrent)
    return RecurrentGenotype(recurrent, concat).check()


def rnn_genotype_to_sample(genotype: RecurrentGenotype) -> dict:
    """The NNI sample of a recurrent genotype (the inverse of :func:`rnn_sample_to_genotype`)."""
    sample = {}
    for n, (op, index) in enumerate(genotype.recurrent):
        i = n + 1
        for j in range(i):
            sample[f'{CELL}/{j}_{i}'] = op if j == index else 'none'
    return sample


def genotype_network_from_space(genotype: RecurrentGenotype, space: RecurrentSpace) -> 'RecurrentNetwork':
    """The fixed network of ``genotype`` with the supernet's weights (embedding, ``W0``, and each
    node's ``W`` of the chosen edge) and its normalisation: the subnet the supernet runs."""
    search_cell = space.cell
    net = RecurrentNetwork(genotype, space.vocabulary, space.hidden, batch_norm=search_cell.bn is not None,
                           dropout=space.dropout, dropout_h=search_cell.dropout_h, dropout_x=search_cell.dropout_x,
                           dropout_i=space.dropout_i, dropout_e=space.dropout_e)
    with torch.no_grad():
        net.encoder.weight.copy_(space.encoder.weight)
        net.decoder.bias.copy_(space.decoder.bias)
        net.cell.w0.copy_(search_cell.w0)
        for n, ((_, j), weight) in enumerate(zip(genotype.recurrent, net.cell.matrices)):
            weight.copy_(search_cell.matrix(j, n + 1))
    return net


class RecurrentNetwork(LanguageModel):
    """The language model of a found cell (retraining; DARTS' evaluation settings are the
    retraining command's defaults). ``forward(tokens, h)`` carries the state across batches."""

    def __init__(self, genotype: RecurrentGenotype, vocabulary: int, hidden: int, batch_norm: bool = False,
                 dropout: float = 0.75, dropout_h: float = 0.25, dropout_x: float = 0.75, dropout_i: float = 0.2,
                 dropout_e: float = 0.1):
        super().__init__()
        cell = RecurrentCell(genotype, hidden, hidden, batch_norm, dropout_x, dropout_h)
        self.build_language_model(vocabulary, hidden, cell, dropout, dropout_i, dropout_e)

    def forward(self, tokens: torch.Tensor, h: Optional[torch.Tensor] = None):
        """``(logits [B, T, vocabulary], last hidden state [B, hidden])``."""
        hiddens, last = self.cell(self.embed(tokens), h)
        return self.decode(hiddens), last


def count_parameters(module: nn.Module) -> int:
    """Parameters of a network (``parameters()`` yields a tied one once)."""
    return sum(p.numel() for p in module.parameters())

