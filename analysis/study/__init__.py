"""Studies: run phases, EoSS detection, sweeps, gap fits, the Study of some inputs."""
