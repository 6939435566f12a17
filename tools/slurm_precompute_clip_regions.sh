#!/usr/bin/env bash
# The CLIP region precompute on a Slurm cluster, one rank per GPU:
#   tools/slurm_precompute_clip_regions.sh PARTITION JOB_NAME CONFIG CHECKPOINT [options]
# (options of tools/precompute_clip_regions.py; add --device cuda for GPUs). Environment:
# GPUS (total ranks, default 8), GPUS_PER_NODE (8), CPUS_PER_TASK (5: DataLoader workers),
# SRUN_ARGS, PYTHON. Resubmit the same command (any GPUS) to finish after a failure.
set -euo pipefail
PARTITION=$1
JOB_NAME=$2
CONFIG=$3
CHECKPOINT=$4
shift 4
GPUS=${GPUS:-8}
GPUS_PER_NODE=${GPUS_PER_NODE:-8}
CPUS_PER_TASK=${CPUS_PER_TASK:-5}
SRUN_ARGS=${SRUN_ARGS:-}
PYTHON=${PYTHON:-python}

# shellcheck disable=SC2086  # SRUN_ARGS is a list of options
srun -p "$PARTITION" --job-name="$JOB_NAME" --gres=gpu:"$GPUS_PER_NODE" --ntasks="$GPUS" \
    --ntasks-per-node="$GPUS_PER_NODE" --cpus-per-task="$CPUS_PER_TASK" --kill-on-bad-exit=1 \
    $SRUN_ARGS \
    "$PYTHON" -u "$(dirname "$0")/precompute_clip_regions.py" "$CONFIG" "$CHECKPOINT" \
    --launcher=slurm "$@"
