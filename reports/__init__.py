"""Evidence bundles: pytest plugin, writers, signing, merging."""
