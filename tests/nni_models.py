"""The model spaces and evaluators of NNI 3.0's one-shot strategy test
(``test/algo/nas/oneshot/test_strategy.py`` with the models of ``test/ut/nas/nn/models.py``),
written again here, smaller where the size does not matter: each NNI mutable in a network of
MNIST's input size, a multi-head attention regression with ``((q, k, v), target)`` batches,
a custom op with a value choice that one-shot strategies refuse, a user's own LightningModule,
and the same data as a ``LightningDataModule``. MNIST itself is replaced by random images of its
size (the case is about the code paths, not accuracy)."""

from __future__ import annotations

import nni
import pytorch_lightning as pl
import torch
import torch.nn as tnn
import torch.nn.functional as F
from nni.nas import nn
from nni.nas.evaluator.pytorch import Classification, DataLoader, Regression
from torch.utils.data import Dataset, TensorDataset

#: Trainer options of every evaluator: quiet, on the CPU, one epoch as NNI's test.
TRAINER = dict(accelerator='cpu', logger=False, enable_model_summary=False,
               enable_progress_bar=False)


class SeparableConv(tnn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.depthwise = tnn.Conv2d(cin, cin, 3, padding=1, groups=cin)
        self.pointwise = tnn.Conv2d(cin, cout, 1)

    def forward(self, x):
        return self.pointwise(self.depthwise(x))


class SimpleNet(nn.ModelSpace):
    """A layer choice, a choice of dropout, an input choice and (``value_choice``) a choice of width."""

    def __init__(self, value_choice: bool = True):
        super().__init__()
        self.conv1 = tnn.Conv2d(1, 8, 3, stride=2)
        self.conv2 = nn.LayerChoice([tnn.Conv2d(8, 16, 3, padding=1), SeparableConv(8, 16)], label='conv2')
        self.dropout = nn.LayerChoice([tnn.Dropout(0.25), tnn.Dropout(0.5)], label='dropout')
        hidden = nni.choice('hidden', [16, 32, 48]) if value_choice else 32
        self.fc1 = nn.MutableLinear(16 * 6 * 6, hidden)
        self.fc2 = nn.MutableLinear(hidden, 10)
        self.shortcut = tnn.Linear(10, 10)
        self.inputs = nn.InputChoice(2, 1, label='inputs')

    def forward(self, x):
        x = F.max_pool2d(self.conv2(F.relu(self.conv1(x))), 2)
        x = self.fc2(F.relu(self.fc1(torch.flatten(self.dropout(x), 1))))
        return F.log_softmax(self.inputs([x, self.shortcut(x)]), dim=1)


class ValueChoiceConvNet(nn.ModelSpace):
    """Choices of width and kernel size through NNI's mutable convolution and batch norm."""

    def __init__(self):
        super().__init__()
        width = nni.choice('width', [8, 16])
        kernel = nni.choice('kernel', [3, 5])
        self.conv1 = nn.MutableConv2d(1, width, kernel, padding=kernel // 2)
        self.norm = nn.MutableBatchNorm2d(width)
        self.conv2 = nn.MutableConv2d(width, 16, 3, padding=1)
        self.dropout = nn.LayerChoice([tnn.Dropout(0.25), tnn.Dropout(0.5)], label='dropout')
        self.fc = tnn.Linear(16, 10)

    def forward(self, x):
        x = F.max_pool2d(self.conv2(F.relu(self.norm(self.conv1(x)))), 2)
        return F.log_softmax(self.fc(self.dropout(x.mean((2, 3)))), dim=1)


class RepeatNet(nn.ModelSpace):
    """A block repeated one to three times, each repeat with its own layer choice."""

    def __init__(self):
        super().__init__()
        self.stem = tnn.Conv2d(1, 8, 5, stride=4)
        self.blocks = nn.Repeat(
            lambda index: nn.LayerChoice([tnn.Conv2d(8, 8, 1), tnn.Conv2d(8, 8, 3, padding=1)], label=f'block{index}'),
            (1, 3), label='depth')
        self.fc = tnn.Linear(8, 10)

    def forward(self, x):
        return F.log_softmax(self.fc(self.blocks(self.stem(x)).mean((2, 3))), dim=1)


class CellNet(nn.ModelSpace):
    """NNI's cell (two nodes, loose ends merged) repeated one or two times."""

    def __init__(self):
        super().__init__()
        self.stem = tnn.Conv2d(1, 4, 7, stride=4)
        self.cells = nn.Repeat(
            lambda index: nn.Cell({
                'conv1': lambda _, __, inp: tnn.Conv2d(4 if inp is None or inp >= 1 or index == 0 else 8, 4, 1),
                'conv3': lambda _, __, inp: tnn.Conv2d(4 if inp is None or inp >= 1 or index == 0 else 8, 4, 3, padding=1),
            }, num_nodes=2, merge_op='loose_end', label=f'cell{index}'),
            (1, 2), label='cells')
        self.fc = tnn.LazyLinear(10)

    def forward(self, x):
        return F.log_softmax(self.fc(self.cells(self.stem(x)).mean((2, 3))), dim=1)


class AttentionNet(nn.ModelSpace):
    """Multi-head attention with a choice of embedding size; its input is ``(q, k, v)``."""

    def __init__(self, heads: int = 2):
        super().__init__()
        embed = nni.choice('embed', [8, 16])
        self.project = nn.MutableLinear(32, embed)
        self.attention = nn.MutableMultiheadAttention(embed, heads)
        self.head = nn.MutableLinear(embed, 1)

    def forward(self, qkv):
        query, key, value = (self.project(t) for t in qkv)
        out, _ = self.attention(query, key, value, need_weights=False)
        return F.relu(self.head(out))


class ChannelNorm(nn.ParametrizedModule):
    """A user's op with a value choice that no one-shot strategy knows how to share weights of."""

    def __init__(self, channels):
        super().__init__()
        self.norm = tnn.BatchNorm2d(channels)

    def forward(self, x):
        return self.norm(x)


class CustomOpNet(nn.ModelSpace):
    def __init__(self):
        super().__init__()
        width = nni.choice('width', [8, 16])
        self.conv = nn.MutableConv2d(1, width, 3, padding=1)
        self.norm = ChannelNorm(width)
        self.fc = nn.MutableLinear(width, 10)

    def forward(self, x):
        return F.log_softmax(self.fc(F.relu(self.norm(self.conv(x))).mean((2, 3))), dim=1)


#: The spaces of NNI's test, by NNI's names (its ``cell_*`` models are not in its strategy test).
MODELS = {
    'simple': lambda: SimpleNet(value_choice=False),
    'simple_value_choice': SimpleNet,
    'value_choice': ValueChoiceConvNet,
    'repeat': RepeatNet,
    'cell': CellNet,
    'custom_op': CustomOpNet,
    'multihead_attention': AttentionNet,
}


def images(n: int, seed: int) -> TensorDataset:
    generator = torch.Generator().manual_seed(seed)
    return TensorDataset(torch.randn(n, 1, 28, 28, generator=generator), torch.randint(0, 10, (n,), generator=generator))


class AttentionData(Dataset):
    """``((q, k, v), target)`` items, as NNI's attention dataset gives them (deterministic here)."""

    def __init__(self, n: int, seed: int):
        generator = torch.Generator().manual_seed(seed)
        self.qkv = torch.rand(n, 3, 1, 32, generator=generator)
        self.target = torch.rand(n, 1, 1, generator=generator)

    def __getitem__(self, index):
        q, k, v = self.qkv[index]
        return (q, k, v), self.target[index]

    def __len__(self):
        return len(self.target)


class ImageDataModule(pl.LightningDataModule):
    def setup(self, stage):
        self.train, self.val = images(32, 0), images(32, 1)

    def train_dataloader(self):
        return DataLoader(self.train, batch_size=16)

    def val_dataloader(self):
        return DataLoader(self.val, batch_size=16)


def evaluator(name: str, datamodule: bool = False, max_epochs: int = 1, **options):
    """NNI's evaluator for the space ``name``: Regression for the attention net, else Classification
    over data loaders or a data module."""
    kwargs = dict(TRAINER, max_epochs=max_epochs, **options)
    if name == 'multihead_attention':
        return Regression(train_dataloaders=DataLoader(AttentionData(64, 0), batch_size=16),
                          val_dataloaders=DataLoader(AttentionData(32, 1), batch_size=16), **kwargs)
    if datamodule:
        return Classification(datamodule=ImageDataModule(), num_classes=10, **kwargs)
    return Classification(train_dataloaders=DataLoader(images(32, 0), batch_size=16),
                          val_dataloaders=DataLoader(images(32, 1), batch_size=16), num_classes=10, **kwargs)
