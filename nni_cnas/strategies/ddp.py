"""Lightning's DDP strategy for searches, without torch's ``DistributedDataParallel`` wrapper (why:
:mod:`nni_cnas.distributed`, whose collectives the search modules make instead)."""

from __future__ import annotations

from lightning_fabric.utilities.distributed import _set_num_threads_if_needed
from pytorch_lightning.strategies import DDPStrategy
from pytorch_lightning.strategies.launchers.subprocess_script import _SubprocessScriptLauncher

__all__ = ['SearchDDPStrategy', 'SearchLauncher', 'adopt_ddp_strategy']


class SearchLauncher(_SubprocessScriptLauncher):
    """Lightning's launcher of a machine's other ranks, without its observer thread, which SIGKILLs
    rank 0 within 5 s of another rank's death, before rank 0 can say which rank died
    (:func:`nni_cnas.run.handoff.dead_ranks`). Lightning's ``launch`` otherwise, copied because the
    observer has no switch: a dead rank fails rank 0's next collective within seconds, a hung one
    after the search's collective timeout."""

    def launch(self, function, *args, trainer=None, **kwargs):
        self.cluster_environment.validate_settings(num_devices=self.num_processes, num_nodes=self.num_nodes)
        if not self.cluster_environment.creates_processes_externally:
            self._call_children_scripts()
        _set_num_threads_if_needed(num_processes=self.num_processes)
        return function(*args, **kwargs)


class SearchDDPStrategy(DDPStrategy):
    """Lightning's DDP strategy for searches: the model is not wrapped in
    ``DistributedDataParallel`` (see the module docstring); rank 0's parameters and buffers are
    broadcast once at the start, as the wrapper would."""

    strategy_name = 'nni_cnas_ddp'

    def _configure_launcher(self) -> None:
        super()._configure_launcher()
        if type(self._launcher) is _SubprocessScriptLauncher:
            self._launcher.__class__ = SearchLauncher

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

