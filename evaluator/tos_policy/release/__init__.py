"""Release tooling, apart from the decision core: change gate, impact report, decision corpus,
rendered docs, git history, OPA bundles."""
