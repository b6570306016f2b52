"""Code that tests and benchmarks share (hostile input files, the dense SSN reference); not installed."""
