"""CLOSENet for NAS-Bench-201: CLOSE's curriculum on the sharing extent (Zhou, Ning et al., ECCV 2022).

The plain supernet ties parameters to operations: every edge of every cell owns its convolutions.
CLOSENet decouples them. Each cell owns a pool of *GLOW blocks*, each holding one copy of the
parameters of every parametric op (here ``nor_conv_1x1`` and ``nor_conv_3x3`` with their BatchNorm);
for the architecture of a forward, a *gate* (a GATES-style embedding of the cell's graph and an MLP)
assigns one block to each edge with a hard Gumbel-softmax (straight-through), and an op on that edge
runs with that block's parameters. Training starts with one block, so every edge of a cell shares
one set of convolutions (the most sharing, the easiest supernet to train), and the pool grows on a
schedule; a new block starts as a copy of the previous one (parameters and gate head), so growing
changes nothing the network computes until training makes the blocks differ. Evaluation (the data
curriculum's top-K passes, candidate scoring, ranking) uses the argmax block of each edge.

The cells keep NNI's ``LayerChoice`` per edge with NAS-Bench-201's labels (``cell/{j}_{i}``), so every
strategy, the exporter and the benchmark look-up treat it as the plain space. The pool grows when a
``nni_cnas`` strategy starts an epoch (:meth:`CloseNasBench201Space.on_search_epoch_start`); NNI has
no hook through which a model space sees epochs, so NNI's own strategies train it with one block.

Where this differs from the authors' code (aw_nas ``closenet``), and why:

* the straight-through gradient reaches the gate through the blended parameters ``sum_b g_b W_b``
  of the running op (equal to the chosen block's in value, as ``g`` is one-hot in value) instead of
  running every active block and summing their outputs: the same forward at the cost of one block;
* parameters of every block and the gate's head of every block exist from the start (a fixed set for
  optimisers and checkpoints); an inactive block gets no gradient, so no weight decay or momentum;
* the gate's MLP is kept when the pool grows (aw_nas re-initialises it by default), and the new
  block's head starts as a copy of the previous block's, so the two tie until the Gumbel noise and
  training split the edges between them;
* one gate for the network, the same assignment in every cell (aw_nas' ``arch-level`` gate), with
  the pools per cell; the gate is trained with the weights, on the training loss.
"""

from __future__ import annotations

import dataclasses
from collections import OrderedDict
from typing import Callable, Dict, List, Mapping, Optional, Sequence

import torch
import torch.nn as nn
from nni.mutable import label_scope
from nni.nas.nn.pytorch import LayerChoice, MutableModule
from torch.func import functional_call

from ..arch.gumbel import straight_through_gumbel
from ..arch.supernet import active_value
from .nb201 import NasBench201Space, sum_nodes
from .close_schedule import DEFAULT_BLOCKS, blocks_at, check_growth_epochs, default_growth_epochs
from .nb201_arch import EDGES, NUM_NODES, OPS

__all__ = ['CloseNasBench201Space', 'CloseCell', 'GlowPool', 'BlockGate', 'ArchitectureEmbedding',
           'BlockAssignment', 'default_growth_epochs', 'blocks_at', 'check_growth_epochs', 'DEFAULT_BLOCKS']

#: Gumbel-softmax temperature of the gate (aw_nas' CLOSE).
GATE_TAU = 5.0


# ---------------------------------------------------------------------------------------------
# The block pool of a cell and the ops that draw their parameters from it.

@dataclasses.dataclass
class BlockAssignment:
    """The gate's choice for one forward: the block of each edge (in :data:`EDGES` order) and, while
    training with more than one block, the straight-through weights ``[edges, blocks]``."""

    indices: List[int]
    weights: Optional[torch.Tensor] = None

    @classmethod
    def single(cls) -> 'BlockAssignment':
        return cls([0] * len(EDGES))


class GlowPool(nn.Module):
    """One cell's GLOW blocks: ``max_blocks`` copies of the parametric ops, made by the same factories."""

    def __init__(self, factories: Mapping[str, Callable[[int, int], nn.Module]], channels: int, max_blocks: int):
        super().__init__()
        self.blocks = nn.ModuleList(
            nn.ModuleDict({name: factory(channels, channels) for name, factory in factories.items()})
            for _ in range(max_blocks))

    def run(self, name: str, x: torch.Tensor, index: int, weights: Optional[torch.Tensor]) -> torch.Tensor:
        """Op ``name`` on ``x`` with block ``index``'s parameters; with straight-through ``weights``
        (one per active block), with ``sum_b weights[b] * W_b`` so that the gate gets a gradient."""
        chosen = self.blocks[index][name]
        if weights is None:
            return chosen(x)
        blended = {
            key: sum(weights[b] * self.blocks[b][name].get_parameter(key) for b in range(len(weights)))
            for key, _ in chosen.named_parameters()
        }
        return functional_call(chosen, blended, (x,))

    @torch.no_grad()
    def copy_block(self, source: int, target: int) -> None:
        """Block ``target`` becomes equal to block ``source`` (parameters and buffers, in place)."""
        self.blocks[target].load_state_dict(self.blocks[source].state_dict())


class PooledOp(nn.Module):
    """A parametric candidate of an edge: runs with the block the gate assigned to the edge."""

    def __init__(self, op_name: str):
        super().__init__()
        self.op_name = op_name

    def forward(self, x: torch.Tensor, route) -> torch.Tensor:
        pool, index, weights = route
        return pool.run(self.op_name, x, index, weights)


class ParameterFreeOp(nn.Module):
    """A candidate without parameters (none, skip, pooling): the same on every block."""

    def __init__(self, op_name: str, op: nn.Module):
        super().__init__()
        self.op_name, self.op = op_name, op

    def forward(self, x: torch.Tensor, route) -> torch.Tensor:  # pylint: disable=unused-argument
        return self.op(x)


def _has_state(module: nn.Module) -> bool:
    return any(True for _ in module.parameters()) or any(True for _ in module.buffers())


class CloseCell(MutableModule):
    """A NAS-Bench-201 cell (the same DAG, labels and sum as NNI's ``NasBench201Cell``) whose
    parametric ops take their parameters from the cell's :class:`GlowPool`."""

    def __init__(self, factories: Mapping[str, Callable[[int, int], nn.Module]], c_in: int, c_out: int,
                 max_blocks: int, label: str = 'cell'):
        super().__init__()
        if c_in != c_out:
            raise ValueError('CLOSE cells share blocks between edges, which needs equal input and output widths')
        probes = {name: factory(c_in, c_out) for name, factory in factories.items()}
        pooled = {name: factories[name] for name, probe in probes.items() if _has_state(probe)}
        self.pool = GlowPool(pooled, c_out, max_blocks)
        self.layers = nn.ModuleList()
        with label_scope(label) as self._scope:
            for node in range(1, NUM_NODES):
                node_ops = nn.ModuleList()
                for j in range(node):
                    candidates = OrderedDict(
                        (name, PooledOp(name) if name in pooled else ParameterFreeOp(name, factories[name](c_in, c_out)))
                        for name in factories)
                    node_ops.append(LayerChoice(candidates, label=f'{j}_{node}'))
                self.layers.append(node_ops)

    @torch.jit.unused
    @property
    def label(self) -> str:
        return self._scope.name

    def edge_choices(self) -> List[nn.Module]:
        """The edge modules in :data:`EDGES` order (NNI's supernet modules once mutated)."""
        return [choice for node_ops in self.layers for choice in node_ops]

    def forward(self, x: torch.Tensor, assignment: BlockAssignment) -> torch.Tensor:
        tensors = [x]
        edge = 0
        for node_ops in self.layers:
            outputs = []
            for j, choice in enumerate(node_ops):
                weights = None if assignment.weights is None else assignment.weights[edge]
                outputs.append(choice(tensors[j], (self.pool, assignment.indices[edge], weights)))
                edge += 1
            tensors.append(sum_nodes(outputs))
        return tensors[-1]


# ---------------------------------------------------------------------------------------------
# The gate.

class ArchitectureEmbedding(nn.Module):
    """GATES' embedding of a cell (Ning et al., ECCV 2020): information flows from the input node
    along the DAG, and each edge's op embedding gates it elementwise,
    ``x_i = sum_{j->i} sigmoid(o_ji E) * (x_j W)``. Ops come as a distribution per edge (one-hot for
    one architecture, the mixture's weights for a differentiable supernet)."""

    def __init__(self, num_ops: int, dim: int = 32):
        super().__init__()
        self.input_node = nn.Parameter(torch.randn(dim))
        self.op_embedding = nn.Linear(num_ops, dim, bias=False)
        self.transform = nn.Linear(dim, dim, bias=False)
        self.out_dim = dim * (NUM_NODES - 1)

    def forward(self, ops: torch.Tensor) -> torch.Tensor:
        gates = torch.sigmoid(self.op_embedding(ops))
        nodes = [self.input_node]
        for node in range(1, NUM_NODES):
            nodes.append(sum(gates[e] * self.transform(nodes[j]) for e, (j, i) in enumerate(EDGES) if i == node))
        return torch.cat(nodes[1:])


class BlockGate(nn.Module):
    """Architecture -> block of each edge: embedding, an MLP (200 hidden, dropout 0.1, as aw_nas), and
    one linear head per block giving every edge's logit for that block."""

    def __init__(self, num_ops: int, max_blocks: int, hidden: int = 200, dropout: float = 0.1, tau: float = GATE_TAU):
        super().__init__()
        self.embedding = ArchitectureEmbedding(num_ops)
        self.mlp = nn.Sequential(nn.Linear(self.embedding.out_dim, hidden), nn.ReLU(), nn.Dropout(dropout))
        self.heads = nn.ModuleList(nn.Linear(hidden, len(EDGES)) for _ in range(max_blocks))
        self.tau = tau

    def logits(self, ops: torch.Tensor, blocks: int) -> torch.Tensor:
        """``[edges, blocks]`` logits of the active blocks."""
        hidden = self.mlp(self.embedding(ops))
        return torch.stack([head(hidden) for head in self.heads[:blocks]], dim=-1)

    def assign(self, ops: torch.Tensor, blocks: int) -> BlockAssignment:
        """A Gumbel draw with straight-through weights while training; the argmax when evaluating."""
        logits = self.logits(ops, blocks)
        if self.training:
            weights, index = straight_through_gumbel(logits, self.tau)
            return BlockAssignment(index.tolist(), weights)
        return BlockAssignment(logits.argmax(dim=-1).tolist())

    @torch.no_grad()
    def copy_head(self, source: int, target: int) -> None:
        self.heads[target].load_state_dict(self.heads[source].state_dict())


# ---------------------------------------------------------------------------------------------
# The network.

class CloseNasBench201Space(NasBench201Space):
    """The NAS-Bench-201 space as a CLOSENet: the same network and choices, parameters of the searched
    cells in growing pools of GLOW blocks.

    Parameters
    ----------
    channels, cells, num_classes, in_channels, affine, track_running_stats
        As :class:`~nni_cnas.spaces.nb201.NasBench201Space`.
    max_blocks
        Size the pool grows to (CLOSE's NAS-Bench-201 setting: 4).
    growth_epochs
        0-based epochs at which a block is added (``max_blocks - 1`` of them, rising); default: CLOSE's
        schedule scaled to the search's epochs (:func:`default_growth_epochs`).
    """

    def __init__(self, channels: int = 16, cells: int = 5, num_classes: int = 10, in_channels: int = 3,
                 affine: bool = False, track_running_stats: bool = False, max_blocks: int = DEFAULT_BLOCKS,
                 growth_epochs: Optional[Sequence[int]] = None):
        if max_blocks < 1:
            raise ValueError(f'max_blocks must be at least 1, not {max_blocks}')
        if growth_epochs is not None:
            growth_epochs = list(growth_epochs)
            check_growth_epochs(growth_epochs)
            if len(growth_epochs) != max_blocks - 1:
                raise ValueError(f'{max_blocks} blocks grow {max_blocks - 1} times; {len(growth_epochs)} growth '
                                 f'epochs were given')
        self.max_blocks = max_blocks  # read by make_cell during the base class's construction
        super().__init__(channels, cells, num_classes, in_channels, affine, track_running_stats)
        self.growth_epochs = growth_epochs
        self.gate = BlockGate(len(OPS), max_blocks)
        self.register_buffer('active_blocks', torch.tensor(1))

    def make_cell(self, ops, c_in, c_out):
        return CloseCell(ops, c_in, c_out, self.max_blocks, label='cell')

    def close_cells(self) -> List[CloseCell]:
        return [cell for cell in self.cells if isinstance(cell, CloseCell)]

    # ------------------------------------------------------------------ the schedule

    def schedule(self, max_epochs: int) -> List[int]:
        """The growth epochs of a search of ``max_epochs`` epochs."""
        if self.growth_epochs is not None:
            check_growth_epochs(self.growth_epochs, max_epochs)
            return list(self.growth_epochs)
        return default_growth_epochs(self.max_blocks, max_epochs)

    def grow_to(self, blocks: int) -> None:
        """Activate blocks up to ``blocks``, each new one a copy of the one before (idempotent)."""
        if not 1 <= blocks <= self.max_blocks:
            raise ValueError(f'this CLOSENet has 1 to {self.max_blocks} blocks, not {blocks}')
        for target in range(int(self.active_blocks), blocks):
            for cell in self.close_cells():
                cell.pool.copy_block(target - 1, target)
            self.gate.copy_head(target - 1, target)
            self.active_blocks.fill_(target + 1)

    def on_search_epoch_start(self, epoch: int, max_epochs: int) -> None:
        """Called by the nni_cnas strategies at the start of each epoch: grow on schedule."""
        self.grow_to(blocks_at(epoch, self.schedule(max_epochs)))

    def search_summary(self) -> Dict[str, int]:
        """Recorded in each epoch's metrics."""
        return {'close_blocks': int(self.active_blocks)}

    # ------------------------------------------------------------------ the forward

    def op_distribution(self) -> torch.Tensor:
        """``[edges, ops]``: the ops of this forward's architecture, one-hot per edge; a mixture's
        softmax weights (detached) where an edge runs a differentiable mixture."""
        cells = self.close_cells()
        device = self.active_blocks.device
        rows = []
        for choice in cells[0].edge_choices():
            value = getattr(choice, 'op_name', None) or active_value(choice)  # a frozen candidate, or a supernet module
            if value is not None:
                row = torch.zeros(len(OPS), device=device)
                row[OPS.index(value)] = 1.0
            elif getattr(choice, '_arch_alpha', None) is not None:
                probs = torch.softmax(choice._arch_alpha.detach(), -1)  # pylint: disable=protected-access
                row = torch.stack([probs[choice.names.index(op)] for op in OPS]).to(device)
            else:
                raise RuntimeError(f'CLOSE\'s gate needs the architecture of the forward, and {type(choice).__name__} '
                                   'runs none (mutate the space with a strategy and sample a path first)')
            rows.append(row)
        return torch.stack(rows)

    def assignment(self) -> BlockAssignment:
        blocks = int(self.active_blocks)
        if blocks == 1:
            return BlockAssignment.single()
        return self.gate.assign(self.op_distribution(), blocks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        assignment = self.assignment()
        feature = self.stem(x)
        for cell in self.cells:
            feature = cell(feature, assignment) if isinstance(cell, CloseCell) else cell(feature)
        return self.classify(feature)
