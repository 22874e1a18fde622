"""Generation backends (HF, vLLM) behind one interface, sampling-option checks, and answer sets for users."""
