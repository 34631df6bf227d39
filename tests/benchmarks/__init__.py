"""Per-family tests of the benchmarks on real upstream layouts."""
