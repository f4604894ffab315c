"""The policy as loaded: rule sets (rules/ with their data and METADATA) and Legal exceptions."""
