"""The benchmarks (`clearterm bench`) and their deterministic corpora."""
