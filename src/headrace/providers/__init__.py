"""Model providers: adapters that stream completions from LLM back ends."""
