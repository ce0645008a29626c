"""The hand-built SQL of the hot path: bulk statements, a batch's one-statement read, and
what a batch appends (docs/BENCHMARKS.md says what each saved)."""
