"""What runs: the one-pass pipeline, the scheduler, the CLI.

`main` is the `litwatch` command.  It imports the CLI only when called: the command's script is
imported again by every worker process that parses PubMed records (multiprocessing's "spawn"
start method re-imports the main script), and a worker needs none of the CLI.
"""

from __future__ import annotations


def main(argv: list[str] | None = None) -> int:
    from litwatch.jobs.cli.main import main as cli_main  # noqa: PLC0415 - deliberate: workers must not import the CLI

    return cli_main(argv)
