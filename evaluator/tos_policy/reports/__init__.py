"""Decisions out: records and renderings (JSON, table, text, Mermaid) and the decision log."""
