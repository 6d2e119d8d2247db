"""Statistics: power laws, segmented fits, model selection, exponent comparisons, batch means."""
