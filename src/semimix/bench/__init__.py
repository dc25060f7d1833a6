"""Benchmarks that build trainers (so they sit above ``semimix.train``, which ``semimix.eval`` must not import)."""
