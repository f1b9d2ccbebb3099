"""Look-ups of found architectures in tabular NAS benchmarks."""
