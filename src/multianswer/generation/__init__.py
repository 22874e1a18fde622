"""Generation backends (HF, vLLM) behind one interface, and answer sets for users."""
