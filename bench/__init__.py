"""Planerix benchmark harness: Planerix vs stock Radicale vs Xandikos.

Run ``python -m bench.run --help``; see bench/README.md.
"""
