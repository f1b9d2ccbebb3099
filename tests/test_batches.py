"""What a batch is (nni_cnas.data.batches), by hand: inputs and targets of every structure NNI's
evaluators accept, sizes, slicing and concatenation of nested structures, sample indices beside the
user's batch through a rebuilt DataLoader, and a DDP rank's share of a pass."""

from __future__ import annotations

import pytest
import torch
from torch.utils.data import DataLoader, Dataset

from nni_cnas.data import batches
from nni_cnas.data.batches import IndexedBatch
from nni_cnas.data.indexed import with_indices


def test_inputs_and_targets_of_each_structure():
    x, y = torch.arange(6).view(3, 2), torch.tensor([0, 1, 2])
    assert batches.inputs_and_targets((x, y))[1] is y
    qkv = [torch.zeros(3, 1, 4)] * 3
    inputs, targets = batches.inputs_and_targets(IndexedBatch([qkv, y], torch.tensor([5, 6, 7])))
    assert inputs is qkv and targets is y
    with pytest.raises(TypeError, match=r'needs batches \(inputs, targets\); this one is a tensor of shape \(3, 2\)'):
        batches.inputs_and_targets(x)
    with pytest.raises(TypeError, match='a tuple of 3'):
        batches.inputs_and_targets((x, y, y))


def test_size_device_and_unpack():
    nested = {'image': torch.zeros(4, 3), 'meta': [torch.ones(4), torch.tensor(2.0)]}
    assert batches.batch_size(nested) == 4 and batches.batch_device(nested).type == 'cpu'
    assert batches.unpack(nested) == (nested, None)
    index = torch.tensor([9, 8, 7, 6])
    assert batches.unpack(IndexedBatch(nested, index))[1] is index
    with pytest.raises(TypeError, match='cannot tell how many samples'):
        batches.batch_size({'scalar': torch.tensor(1.0)})


def test_take_head_and_concat_keep_the_structure():
    a = ((torch.tensor([[1], [2]]), {'k': torch.tensor([10, 20])}), torch.tensor([0, 1]))
    b = ((torch.tensor([[3]]), {'k': torch.tensor([30])}), torch.tensor([2]))
    joined = batches.concat([a, b])
    assert torch.equal(joined[0][0], torch.tensor([[1], [2], [3]])) and torch.equal(joined[0][1]['k'], torch.tensor([10, 20, 30]))
    assert torch.equal(joined[1], torch.tensor([0, 1, 2])) and isinstance(joined[0], tuple)
    first_two = batches.head(joined, 2)
    assert torch.equal(first_two[0][1]['k'], torch.tensor([10, 20])) and torch.equal(first_two[1], torch.tensor([0, 1]))
    odd = batches.take(joined, torch.tensor([False, True, False]))
    assert torch.equal(odd[0][0], torch.tensor([[2]])) and torch.equal(odd[1], torch.tensor([1]))
    indexed = batches.concat([IndexedBatch(a, torch.tensor([4, 5])), IndexedBatch(b, torch.tensor([6]))])
    assert isinstance(indexed, IndexedBatch) and torch.equal(indexed.index, torch.tensor([4, 5, 6]))


class Pairs(Dataset):
    """``((q, k), target)`` items, as NNI's attention test data."""

    def __len__(self):
        return 5

    def __getitem__(self, i):
        return (torch.full((2,), float(i)), torch.full((2,), -float(i))), torch.tensor([i / 10])


def test_a_rebuilt_loader_puts_indices_beside_the_users_batch():
    seen = []
    for batch in with_indices(DataLoader(Pairs(), batch_size=2, shuffle=True)):
        assert isinstance(batch, IndexedBatch)
        (q, k), target = batch.batch  # the user's structure, untouched
        assert torch.equal(q[:, 0], batch.index.float()) and torch.equal(k[:, 0], -batch.index.float())
        assert torch.allclose(target[:, 0], batch.index / 10)
        seen += batch.index.tolist()
    assert sorted(seen) == [0, 1, 2, 3, 4]
    unlabelled = next(iter(with_indices(DataLoader(torch.arange(4.0).view(4, 1), batch_size=4))))
    assert torch.equal(unlabelled.batch, torch.arange(4.0).view(4, 1)) and torch.equal(unlabelled.index, torch.arange(4))


def test_a_ranks_share_is_the_samples_of_its_index_modulo_the_world(monkeypatch):
    import nni_cnas.distributed as distributed

    loader = [IndexedBatch((torch.arange(5) * 10, torch.arange(5)), torch.tensor([3, 0, 4, 1, 2]))]
    monkeypatch.setattr(distributed, 'rank_and_world', lambda: (1, 2))
    (share,) = list(batches.rank_batches(loader))
    assert torch.equal(share.index, torch.tensor([3, 1])) and torch.equal(share.batch[0], torch.tensor([0, 30]))
    monkeypatch.setattr(distributed, 'rank_and_world', lambda: (0, 1))
    assert list(batches.rank_batches(loader)) == loader  # one process: the whole pass
