#!/usr/bin/env python
"""Text-embedding throughput: batched vs one prompt at a time, and the cache-hit load time.

    python tools/benchmark/text_embeddings.py [--model OVD-TestCLIP-RN] [--loop-prompts 400]

An LVIS-size vocabulary (1203 names) x the default template set (CLIP's 80 ImageNet prompts)
through a small randomly initialised open_clip model saved to a local checkpoint (so the
cache-hit path is the real one: no encoder is built). The one-at-a-time loop runs on the first
--loop-prompts prompts and is compared per prompt. Last line: one JSON object.
"""
import argparse
import json
import tempfile
import time
from pathlib import Path

import torch

import ovdkit.utils.hashing as hashing
from ovdkit.datasets import LVIS_V1_CLASSES
from ovdkit.testing.benchmark_models import save_random_clip
from ovdkit.text import VILD_TEMPLATES, CLIPTextEncoder, TextEmbeddingCache, name_for_prompt


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--model', default='OVD-TestCLIP-RN')
    parser.add_argument('--loop-prompts', type=int, default=400)
    parser.add_argument('--batch-size', type=int, default=512)
    args = parser.parse_args()
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        ckpt = save_random_clip(Path(tmp) / 'random_clip.pt', args.model)
        encoder = CLIPTextEncoder(args.model, str(ckpt))
        prompts = [t.format(name_for_prompt(n)) for n in LVIS_V1_CLASSES for t in VILD_TEMPLATES]

        start = time.perf_counter()
        for prompt in prompts[:args.loop_prompts]:
            encoder.encode_prompts([prompt], batch_size=1)
        loop_per_prompt = (time.perf_counter() - start) / args.loop_prompts

        cache = TextEmbeddingCache(Path(tmp) / 'cache', batch_size=args.batch_size,
                                   progress=True)
        cache._encoders[(args.model, str(ckpt))] = encoder  # time the embedding, not the build
        start = time.perf_counter()
        built = cache.get(list(LVIS_V1_CLASSES), args.model, str(ckpt), 'vild')
        batched_s = time.perf_counter() - start
        batched_per_prompt = batched_s / len(prompts)

        hashing._FILE_HASHES.clear()  # a cold hit hashes the checkpoint file again
        start = time.perf_counter()
        hit = TextEmbeddingCache(Path(tmp) / 'cache').get(list(LVIS_V1_CLASSES), args.model,
                                                          str(ckpt), 'vild')
        hit_s = time.perf_counter() - start
        assert torch.equal(hit, built)
    print(f'\n{len(prompts)} prompts: batched {batched_s:.1f} s '
          f'({1 / batched_per_prompt:.0f} prompts/s), one at a time '
          f'{1 / loop_per_prompt:.0f} prompts/s; cache hit {hit_s * 1000:.1f} ms')
    print(json.dumps(dict(batched_over_loop=round(loop_per_prompt / batched_per_prompt, 1),
                          cache_hit_s=round(hit_s, 4), prompts=len(prompts),
                          batched_prompts_per_s=round(1 / batched_per_prompt, 1),
                          loop_prompts_per_s=round(1 / loop_per_prompt, 1))))


if __name__ == '__main__':
    main()
