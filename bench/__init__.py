"""Load and latency benchmarks and the soak test: `make bench`, `make soak` (see docs/performance.md)."""
