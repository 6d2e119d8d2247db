"""Records: the only code of eoss that touches disk.

* :mod:`~eoss.analysis.records.io` -- atomic JSON/NPZ writes, append-only JSONL,
  CSV, strict-JSON conversion of numpy values.
* :mod:`~eoss.analysis.records.run_dir` -- a run directory (config, env, status,
  metrics) and their discovery.
* :mod:`~eoss.analysis.records.env` -- versions, device, revision, seeds.
* :mod:`~eoss.analysis.records.checkpoints` -- atomic checkpoints by step.
* :mod:`~eoss.analysis.records.lock` -- the exclusive writer lock of a run folder.
* :mod:`~eoss.analysis.records.outputs` -- output locations checked before work.
* :mod:`~eoss.analysis.records.download` -- checksummed downloads, archives.
* :mod:`~eoss.analysis.records.reader` -- the one reader of a run's tables.
* :mod:`~eoss.analysis.records.archive` -- compact raw records (gzipped tables) that
  a committed report carries and ``eoss report`` reads back.

The names below are the records API; callers write ``records.write_json(...)``.
"""

from eoss.analysis.records.checkpoints import (
    CKPT_DIR,
    CheckpointKeeper,
    checkpoint_path,
    checkpoint_steps,
    diverged_path,
    diverged_steps,
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
from eoss.analysis.records.lock import RunLock, RunLockedError, lock_holder
from eoss.analysis.records.outputs import check_output_dir, check_output_file
from eoss.analysis.records.run_dir import (
    STATUSES,
    RunDir,
    check_name,
    iter_run_dirs,
    planned_path,
)

__all__ = [
    "CKPT_DIR",
    "STATUSES",
    "CheckpointKeeper",
    "JsonlWriter",
    "RunDir",
    "RunLock",
    "RunLockedError",
    "atomic_write_bytes",
    "checkpoint_path",
    "check_name",
    "check_output_dir",
    "check_output_file",
    "checkpoint_steps",
    "config_hash",
    "delete_file",
    "diverged_path",
    "diverged_steps",
    "download_file",
    "dumps",
    "env_info",
    "extract_tar",
    "git_revision",
    "iter_run_dirs",
    "jsonable",
    "load_checkpoint",
    "lock_holder",
    "planned_path",
    "read_csv",
    "read_json",
    "read_jsonl",
    "rewrite_jsonl",
    "save_checkpoint",
    "write_csv",
    "write_json",
    "write_npz",
]
