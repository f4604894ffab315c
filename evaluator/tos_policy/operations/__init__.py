"""Running the screening every day: the registry store, incremental re-screening and
alerts, the review queue, determinations, and organisation decisions for OPA bundles."""
