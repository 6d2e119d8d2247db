"""Random-matrix model of the gap: Hessian families, batches, spectra, simulation."""
