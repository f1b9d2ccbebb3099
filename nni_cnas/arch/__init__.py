"""Architectures of a space: its independent decisions (:mod:`.decisions`), top-K and uniform draws
(:mod:`.sampling`), one fixed architecture run on NNI's supernet modules with the shared weights
(:mod:`.supernet`), and straight-through Gumbel draws (:mod:`.gumbel`)."""
