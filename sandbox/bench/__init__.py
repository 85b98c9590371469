"""`manage.py bench`: the real pipeline on one machine, measured (throughput, latency, memory, CPU)."""
