"""Statistics: power laws, segmented fits, model selection, comparisons, batch means."""
