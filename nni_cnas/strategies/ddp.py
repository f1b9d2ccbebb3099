"""Lightning's DDP strategy for searches, without torch's ``DistributedDataParallel`` wrapper (why:
:mod:`nni_cnas.distributed`, whose collectives the search modules make instead)."""

from __future__ import annotations

from pytorch_lightning.strategies import DDPStrategy

__all__ = ['SearchDDPStrategy', 'adopt_ddp_strategy']


class SearchDDPStrategy(DDPStrategy):
    """Lightning's DDP strategy for searches: the model is not wrapped in
    ``DistributedDataParallel`` (see the module docstring); rank 0's parameters and buffers are
    broadcast once at the start, as the wrapper would."""

    strategy_name = 'nni_cnas_ddp'

    def configure_ddp(self) -> None:
        from pytorch_lightning.overrides.distributed import _sync_module_states

        _sync_module_states(self.model)


def adopt_ddp_strategy(trainer) -> None:
    """Give a search the strategy above where its trainer asked for Lightning's own DDP (``'ddp'``,
    ``'ddp_spawn'``, ...), so a user's NNI script with ``Trainer(strategy='ddp')`` works unchanged;
    refuse other multi-process strategies (FSDP, DeepSpeed), which shard what a search must hold whole."""
    strategy = trainer.strategy
    if type(strategy) is DDPStrategy:
        # Same object, our subclass: Lightning built and connected it already (its launcher,
        # environment and plugins stay), and the model is wrapped only later, in strategy.setup.
        strategy.__class__ = SearchDDPStrategy
    elif trainer.world_size > 1 and not isinstance(strategy, SearchDDPStrategy):
        raise ValueError(f'a search runs on several processes with Lightning\'s DDP (strategy="ddp"), '
                         f'not {type(strategy).__name__}')

