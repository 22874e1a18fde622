"""Loading causal LMs and tokenizers: hub ids, local folders, the offline SmolLM2 and a tiny model."""
