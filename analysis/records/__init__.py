"""Records: the only code of eoss that touches disk.

* :mod:`~eoss.analysis.records.io` -- atomic JSON/NPZ writes, append-only JSONL,
  CSV, strict-JSON conversion of numpy values.
* :mod:`~eoss.analysis.records.run_dir` -- a run directory (config, env, status,
  metrics) and their discovery.
* :mod:`~eoss.analysis.records.env` -- versions, device, revision, seeds.
* :mod:`~eoss.analysis.records.checkpoints` -- atomic checkpoints by step.
* :mod:`~eoss.analysis.records.download` -- checksummed downloads, archives.
* :mod:`~eoss.analysis.records.reader` -- the one reader of a run's tables.

The names below are the records API; callers write ``records.write_json(...)``.
"""

from eoss.analysis.records.checkpoints import (
    CKPT_DIR,
    CheckpointKeeper,
    checkpoint_path,
    checkpoint_steps,
    load_checkpoint,
    save_checkpoint,
)
from eoss.analysis.records.download import download_file, extract_tar
from eoss.analysis.records.env import config_hash, env_info, git_revision
from eoss.analysis.records.io import (
    JsonlWriter,
    atomic_write_bytes,
    delete_file,
    dumps,
    jsonable,
    read_csv,
    read_json,
    read_jsonl,
    rewrite_jsonl,
    write_csv,
    write_json,
    write_npz,
)
from eoss.analysis.records.run_dir import STATUSES, RunDir, iter_run_dirs

__all__ = [
    "CKPT_DIR",
    "STATUSES",
    "CheckpointKeeper",
    "JsonlWriter",
    "RunDir",
    "atomic_write_bytes",
    "checkpoint_path",
    "checkpoint_steps",
    "config_hash",
    "delete_file",
    "download_file",
    "dumps",
    "env_info",
    "extract_tar",
    "git_revision",
    "iter_run_dirs",
    "jsonable",
    "load_checkpoint",
    "read_csv",
    "read_json",
    "read_jsonl",
    "rewrite_jsonl",
    "save_checkpoint",
    "write_csv",
    "write_json",
    "write_npz",
]
