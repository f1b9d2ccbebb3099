"""One search run: its config (:mod:`.config`), the search itself (:mod:`.search`), the evaluator
(:mod:`.evaluator`), checkpoints (:mod:`.checkpoint`), the run folder (:mod:`.folder`), what a
finished search measures of itself (the ranks of architectures under each epoch's policy,
:mod:`.policy_ranks`; the supernet's ranking of random cells, :mod:`.ranking`) and the search as an
NNI trial (:mod:`.trial`)."""

from .._lazy import lazy_attributes

__getattr__ = lazy_attributes(__name__, {
    'SearchConfig': '.config', 'run_search': '.search', 'resume_search': '.search',
})
__all__ = ['SearchConfig', 'run_search', 'resume_search']
