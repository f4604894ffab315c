"""The `tos-policy` command line: `main` wires the stages together; commands/ holds the command groups."""
