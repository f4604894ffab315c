"""`python -m tos_policy`: the command line."""

from tos_policy.cli.main import main

main()
