"""Studies: phases of runs, EoSS detection, sweeps, gap fits, and the Study of a set of inputs."""
