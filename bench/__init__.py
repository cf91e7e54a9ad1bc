"""Prime Spark benchmarks: ``python -m bench`` runs them all, ``python -m bench hub`` one.

Each bench starts what it needs (a throwaway Mosquitto on our generated config, hub and node
processes), prints a table and writes its figures to ``bench/results/<name>.json``.
"""
