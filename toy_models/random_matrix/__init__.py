"""Random-matrix model of the gap: per-sample Hessian families, batches, spectra, simulation."""
