"""Host syncs of a training step, counted on the CPU: every conversion of a tensor's value to
Python (``item``, ``bool``, ``int``, ``float``, ``tolist``, ``numpy``, a ``.cpu()`` copy) that a
training step makes. On a GPU each of these stalls the host until the device has caught up."""

from __future__ import annotations

import collections
import contextlib
import traceback

import torch

CONVERSIONS = ('item', '__bool__', '__int__', '__float__', '__index__', 'tolist', 'numpy', 'cpu')


class SyncCounter:
    """Counts conversions made inside ``SearchModule.training_step`` (the epoch's last step, which
    also runs the epoch-end work, is counted apart) and where they come from."""

    def __init__(self):
        self.inside = False
        self.steps = 0
        self.syncs = 0
        self.epoch_end_syncs = 0
        self.last_step = False
        self.sources = collections.Counter()

    @contextlib.contextmanager
    def installed(self, module_class):
        originals = {name: getattr(torch.Tensor, name) for name in CONVERSIONS}
        counter = self

        def counting(name):
            original = originals[name]

            def wrapper(tensor, *args, **kwargs):
                if counter.inside and not counter.host_side():
                    if counter.last_step:
                        counter.epoch_end_syncs += 1
                    else:
                        counter.syncs += 1
                        frame = next((f for f in reversed(traceback.extract_stack()[:-1])
                                      if 'site-packages/torch' not in f.filename), None)
                        counter.sources[f'{name} {frame.filename.split("/")[-1]}:{frame.lineno}' if frame else name] += 1
                return original(tensor, *args, **kwargs)
            return wrapper

        step = module_class.training_step

        def counted_step(module, batch, batch_idx):
            counter.inside = True
            counter.last_step = batch_idx + 1 == module.trainer.num_training_batches
            if not counter.last_step:
                counter.steps += 1
            try:
                return step(module, batch, batch_idx)
            finally:
                counter.inside = False

        try:
            for name in CONVERSIONS:
                setattr(torch.Tensor, name, counting(name))
            module_class.training_step = counted_step
            yield self
        finally:
            for name, original in originals.items():
                setattr(torch.Tensor, name, original)
            module_class.training_step = step

    #: Callers whose conversions read tensors that are on the host already: torch's optimisers keep
    #: their step counters there (``capturable=False``), ``_host_softmax`` reads the one host copy
    #: of the alphas (``arch.supernet.alphas_on_host``) and ``_host_values`` what travelled with it.
    HOST_SIDE = ('torch/optim', '_host_softmax', '_host_values')

    @classmethod
    def host_side(cls) -> bool:
        return any(part in frame.filename or part == frame.name
                   for frame in traceback.extract_stack()[:-2] for part in cls.HOST_SIDE)

    @property
    def per_step(self) -> float:
        return self.syncs / max(self.steps, 1)
