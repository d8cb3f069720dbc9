"""The data layer: robust image reading, dataset indexes, the synthetic generator, Places365
indexing and scenario sampling."""
