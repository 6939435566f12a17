#!/usr/bin/env python
"""A burst of concurrent requests at a running web demo (tools/webdemo.py): all answered?
the same detections as one request alone? how long? the server's memory before and after?

    python tools/benchmark/webdemo_burst.py --url http://127.0.0.1:7860/ --pid SERVER_PID \
        [--requests 20] [--example NAME] [--vocab "red star, ..."] [--score-thr 0.3]

The server's resident memory (``VmRSS``) is read from /proc/PID/status after one warm-up
request and again after the burst. The last line printed is one JSON object of the figures.
"""
import argparse
import json
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--url', default='http://127.0.0.1:7860/')
    p.add_argument('--pid', type=int, help="the server's process id (for its memory)")
    p.add_argument('--requests', type=int, default=20)
    p.add_argument('--example', help='example image name (default: the first listed)')
    p.add_argument('--vocab', help="vocabulary (default: the page's initial one)")
    p.add_argument('--score-thr', type=float, default=0.3)
    return p.parse_args(argv)


def rss_mib(pid: int) -> float:
    for line in Path(f'/proc/{pid}/status').read_text().splitlines():
        if line.startswith('VmRSS:'):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f'no VmRSS for process {pid}')


def post(url: str, body: dict):
    req = urllib.request.Request(url + 'api/detect', data=json.dumps(body).encode(),
                                 headers={'Content-Type': 'application/json'})
    try:
        with urllib.request.urlopen(req, timeout=600) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def main(argv=None) -> int:
    args = parse_args(argv)
    with urllib.request.urlopen(args.url + 'api/info', timeout=60) as response:
        info = json.loads(response.read())
    body = dict(example=args.example or info['examples'][0],
                vocabulary=args.vocab if args.vocab is not None else info['vocabulary'],
                score_thr=args.score_thr)
    status, reference = post(args.url, body)  # warm-up and reference
    if status != 200:
        print(f'error: the reference request was answered {status}: {reference}',
              file=sys.stderr)
        return 1
    before = rss_mib(args.pid) if args.pid else None
    answers = [None] * args.requests
    barrier = threading.Barrier(args.requests)

    def client(i):
        barrier.wait()
        answers[i] = post(args.url, body)
    threads = [threading.Thread(target=client, args=(i,)) for i in range(args.requests)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - start
    after = rss_mib(args.pid) if args.pid else None
    ok = sum(s == 200 for s, _ in answers)
    same = sum(s == 200 and a['detections'] == reference['detections'] for s, a in answers)
    figures = dict(requests=args.requests, answered_200=ok, same_detections=same,
                   seconds=round(seconds, 2), detections=len(reference['detections']),
                   rss_mib_before=None if before is None else round(before, 1),
                   rss_mib_after=None if after is None else round(after, 1))
    print(json.dumps(figures))
    return 0 if ok == same == args.requests else 1


if __name__ == '__main__':
    sys.exit(main())
