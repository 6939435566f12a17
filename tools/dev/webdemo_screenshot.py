#!/usr/bin/env python
"""Screenshot of a running web demo (tools/webdemo.py) after one detection, in headless
Chromium (docs/webdemo.png).

    python tools/dev/webdemo_screenshot.py --url http://127.0.0.1:7860/ --example 000011.png \
        --vocab "red circle, ..." [--score-thr 0.5] [--out docs/webdemo.png]
"""
import argparse
import sys
from pathlib import Path


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--url', default='http://127.0.0.1:7860/')
    image = p.add_mutually_exclusive_group(required=True)
    image.add_argument('--example', help='name of an example image listed on the page')
    image.add_argument('--image', help='image file to upload')
    p.add_argument('--vocab', help='names typed in the vocabulary box (default: as served)')
    p.add_argument('--score-thr', type=float)
    p.add_argument('--width', type=int, default=1400)
    p.add_argument('--height', type=int, default=700,
                   help='window height; the screenshot is of the whole page')
    p.add_argument('--colors', type=int, default=128,
                   help='palette size of the written PNG (smaller file); 0 keeps full colour')
    p.add_argument('--out', default='docs/webdemo.png')
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    from PIL import Image

    from ovdkit.testing.headless_browser import start_chromium
    from ovdkit.testing.webdemo_page import WebDemoPage
    driver = start_chromium(args.width, args.height)
    try:
        page = WebDemoPage(driver, args.url)
        if args.example:
            page.pick_example(args.example)
        else:
            page.upload(args.image)
        if args.vocab is not None:
            page.set_vocabulary(args.vocab)
        if args.score_thr is not None:
            page.set_score_thr(args.score_thr)
        state = page.detect()
        if state != 'done':
            print(f'error: the page shows {page.message()!r}', file=sys.stderr)
            return 1
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(out)
        rows = page.detections()
    finally:
        driver.quit()
    if args.colors:
        Image.open(out).convert('RGB').quantize(args.colors).save(out, optimize=True)
    print(f'{out}: {out.stat().st_size} bytes, {len(rows)} detections: '
          + ', '.join(f"{r['name']} {r['score']:.2f}" for r in rows))
    return 0


if __name__ == '__main__':
    sys.exit(main())
