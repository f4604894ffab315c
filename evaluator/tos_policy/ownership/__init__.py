"""The ownership decision core: step inputs, the two-reading fixpoint, decisions with reasons
and paths, and the evaluate/screen pipelines."""
