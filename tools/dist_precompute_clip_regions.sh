#!/usr/bin/env bash
# The CLIP region precompute on N processes per node:
#   tools/dist_precompute_clip_regions.sh CONFIG CHECKPOINT NPROC [precompute options]
# GPUs: one rank per device (LOCAL_RANK picks it; pass --device cuda). Without CUDA the ranks
# run on CPU with the gloo backend, one thread each (torchrun's OMP_NUM_THREADS=1 default).
# Several nodes: NNODES, NODE_RANK, MASTER_ADDR and PORT, as for tools/dist_train.sh.
# PYTHON picks the interpreter. Rerun the same command (any NPROC) to finish after a failure.
set -euo pipefail
CONFIG=$1
CHECKPOINT=$2
NPROC=$3
shift 3
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-127.0.0.1}
PYTHON=${PYTHON:-python}

exec "$PYTHON" -m torch.distributed.run \
    --nnodes="$NNODES" --node_rank="$NODE_RANK" --master_addr="$MASTER_ADDR" \
    --nproc_per_node="$NPROC" --master_port="$PORT" \
    "$(dirname "$0")/precompute_clip_regions.py" "$CONFIG" "$CHECKPOINT" --launcher pytorch "$@"
