"""How the processes of one search find each other before torch's process group exists: the rank
a launcher gave this process, and what rank 0 tells the other ranks of its machine (Lightning starts
them as copies of its command). Import-light: no torch."""

from __future__ import annotations

__all__ = ['RUN_FOLDER_ENV', 'RESUME_ENV', 'launch_rank']

#: The run folder rank 0 writes (its default name has the time in it) and the checkpoint it resumes.
RUN_FOLDER_ENV, RESUME_ENV = 'NNI_CNAS_RUN_FOLDER', 'NNI_CNAS_RESUME_FROM'


def launch_rank() -> int:
    """This process' global rank as its launcher says (Lightning's, torchrun, SLURM): 0 for a single process."""
    from lightning_fabric.utilities.rank_zero import _get_rank

    return _get_rank() or 0
