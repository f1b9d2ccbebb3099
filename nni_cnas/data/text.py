"""Penn Treebank (Mikolov's language-model version) as fixed-length token sequences.

The reader follows DARTS' and ENAS' ``data.Corpus``: every line is split on whitespace and ends
with ``<eos>``; the vocabulary is the words of ``train``, ``valid`` and ``test`` in order of first
appearance (PTB's 9,999 words and ``<eos>``: 10,000). File names: ``ptb.{train,valid,test}.txt`` (the
shared copy) or ``{train,valid,test}.txt`` (DARTS' ``data/penn``).

The curriculum weights *samples*, and a language model trained by truncated back-propagation
through one long stream has none. As the Curriculum-NAS paper does, each sample here is a fixed-length
sequence: the stream cut into non-overlapping pieces of ``length`` tokens, each with its next tokens
as targets, and a recurrent state that starts at zero in each sequence. A sample's loss is the mean
token cross-entropy of its sequence.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import torch

from ..errors import UserError
from ..paths import shared_data_dir
from .loader import TensorLoader

__all__ = ['EOS', 'Corpus', 'read_corpus', 'fixed_length_sequences', 'TextData', 'load_text_data', 'TEXT_DATASETS',
           'default_ptb_dir']

EOS = '<eos>'
SPLITS = ('train', 'valid', 'test')


@dataclasses.dataclass
class Corpus:
    """A tokenised corpus: the vocabulary and each split as one stream of token ids."""

    vocabulary: List[str]
    train: torch.Tensor
    valid: torch.Tensor
    test: torch.Tensor

    def __len__(self) -> int:
        return len(self.vocabulary)


def default_ptb_dir() -> Optional[Path]:
    """``../shared/data/ptb`` when it exists (the copy for tests and benchmarks)."""
    shared = shared_data_dir()
    path = shared / 'ptb' if shared else None
    return path if path is not None and path.is_dir() else None


def _split_file(root: Path, split: str) -> Path:
    for name in (f'ptb.{split}.txt', f'{split}.txt'):
        if (root / name).is_file():
            return root / name
    raise UserError(f'{root} has no ptb.{split}.txt (or {split}.txt); give the folder with the Penn Treebank '
                    'language-model files (ptb.train.txt, ptb.valid.txt, ptb.test.txt) with --data-dir')


def read_corpus(root: Path) -> Corpus:
    """Read the three splits of a PTB-style folder; ids follow the order of first appearance."""
    root = Path(root)
    if not root.is_dir():
        raise UserError(f'data directory {root} does not exist; give the folder with ptb.train.txt etc. with --data-dir')
    index: Dict[str, int] = {}
    streams = {}
    for split in SPLITS:
        path = _split_file(root, split)
        try:
            text = path.read_text(encoding='utf-8')
        except UnicodeDecodeError as error:
            raise UserError(f'{path} is not UTF-8 text ({error.reason} at byte {error.start})') from None
        ids: List[int] = []
        for line in text.splitlines():
            for word in line.split() + [EOS]:
                ids.append(index.setdefault(word, len(index)))
        if len(ids) < 2:
            raise UserError(f'{path} holds no text; a language model needs at least two tokens per split')
        streams[split] = torch.tensor(ids, dtype=torch.long)
    return Corpus(list(index), **streams)


def fixed_length_sequences(stream: torch.Tensor, length: int) -> Tuple[torch.Tensor, torch.Tensor]:
    """``(inputs, targets)``, both ``[N, length]``: the stream in consecutive, non-overlapping
    pieces, each target the token after its input; the tail that does not fill a piece is dropped."""
    if length < 1:
        raise UserError(f'--bptt (the sequence length) must be positive, not {length}')
    count = (len(stream) - 1) // length
    if count < 1:
        raise UserError(f'a split of {len(stream)} tokens holds no sequence of {length} tokens; lower --bptt')
    inputs = stream[:count * length].reshape(count, length)
    targets = stream[1:count * length + 1].reshape(count, length)
    return inputs, targets


@dataclasses.dataclass
class TextData:
    """The splits a language-model search uses: search-train (``train``) and search-valid
    (``valid``, the architecture step's data, as DARTS and ENAS search), as fixed-length sequences."""

    name: str
    corpus: Corpus
    train: Tuple[torch.Tensor, torch.Tensor]
    val: Tuple[torch.Tensor, torch.Tensor]
    sequence_length: int
    benchmark = None  # no NAS-Bench-201 look-up for text

    @property
    def vocabulary_size(self) -> int:
        return len(self.corpus)

    def device_bytes(self) -> int:
        """Bytes of the splits once on the device (the memory estimate of :mod:`nni_cnas.run.memory`)."""
        return sum(t.numel() * t.element_size() for split in (self.train, self.val) for t in split)

    def meta_batch(self, batch_size: int) -> torch.Tensor:
        """A batch of token sequences with the shape of this data's (on the current default device)."""
        return torch.zeros(batch_size, self.sequence_length, dtype=torch.long)

    def loaders(self, batch_size: int, seed: int) -> Dict[str, TensorLoader]:
        """``train`` (shuffled sequences, with indices) and ``val`` (shuffled, without)."""
        train = TensorLoader(*self.train, batch_size, shuffle=True, seed=seed, with_index=True)
        val = TensorLoader(*self.val, batch_size, shuffle=True, seed=seed + 1, with_index=False)
        return {'train': train, 'val': val}


def _ptb(data_dir: Optional[Path]) -> Corpus:
    root = data_dir or default_ptb_dir()
    if root is None:
        raise UserError('--data-dir is required for ptb: the folder with ptb.train.txt, ptb.valid.txt and ptb.test.txt')
    return read_corpus(root)


#: Text datasets: name -> reader of a data folder.
TEXT_DATASETS = {'ptb': _ptb}


def load_text_data(name: str, data_dir: Optional[Path], sequence_length: int, subset: Optional[int] = None) -> TextData:
    """Fixed-length sequences of a text dataset; ``subset`` keeps that many sequences of each split."""
    if name not in TEXT_DATASETS:
        raise UserError(f'unknown text dataset {name!r}; choose one of {", ".join(TEXT_DATASETS)}')
    if subset is not None and subset < 1:
        raise UserError(f'--subset must be a positive number of sequences, not {subset}')
    corpus = TEXT_DATASETS[name](Path(data_dir) if data_dir is not None else None)
    train = fixed_length_sequences(corpus.train, sequence_length)
    val = fixed_length_sequences(corpus.valid, sequence_length)
    if subset is not None:
        train, val = tuple(t[:subset] for t in train), tuple(t[:subset] for t in val)
    return TextData(name, corpus, train, val, sequence_length)
