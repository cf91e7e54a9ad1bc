"""A simulated node exercising every entity platform (demo, tests, benchmarks)."""
