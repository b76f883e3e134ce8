"""Benchmarks of litwatch against the loopback fake E-utilities server, at NCBI's pace.

Not part of the test suite (pytest's testpaths is tests/).  From the repository root:

    .venv/bin/python -m benchmarks                  # all scenarios, a table on stdout
    .venv/bin/python -m benchmarks daily parse      # some of them
    .venv/bin/python -m benchmarks --results benchmarks/RESULTS.md

Scenarios (benchmarks/scenarios.py): a daily run (10 watches, 200 tracked papers, 40 new
articles), the first run of a 20,000-hit watch, backfills announcing 5,000 and 50,000 articles,
parse-and-store throughput against Bio.Entrez.read, and rendering a 1,000-article digest.  Each
run is a child process (benchmarks/child.py), so its peak RSS is its own.

The ranking benchmark (benchmarks/ranking.py) is separate: simulated readers over real PubMed
records (benchmarks/data/pubmed/), 30 days of rated digests, and the speed and memory of ranking:

    .venv/bin/python -m benchmarks.ranking --results benchmarks/RESULTS.md
"""
