"""The Retriever: stores guideline chunks in Qdrant and finds the ones that answer a query."""
