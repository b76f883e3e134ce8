"""The command line: argument parsing, the dispatcher, what is shown at a terminal."""
