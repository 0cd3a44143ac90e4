"""The Embedder service: texts in, L2-normalised vectors out, with dynamic batching."""
