"""Session fixtures and the order files run in. The helpers tests share live in
:mod:`ovdkit.testing`."""
from pathlib import Path

import pytest

#: The checkout these tests are in (not ``REPO``: tools/dev/mutation_check.py imports ovdkit
#: from a copy of the package elsewhere).
CHECKOUT = Path(__file__).resolve().parents[1]


#: The files of a minute or more on one pytest worker, longest first (``--durations``, this
#: 2-core machine). They are collected first: with ``--dist loadfile --no-loadscope-reorder``
#: (the Makefile) the two workers start on them and the short files fill in the end, instead of
#: xdist's default order (files with the most tests first) leaving a 5-minute file for last.
LONGEST_FILES = (
    'tests/test_tools/test_demo_toyworld.py',
    'tests/test_tools/test_real_configs.py',
    'tests/test_toyworld/test_toy_clip_and_pipeline.py',
    'tests/test_tools/test_custom_dataset.py',
    'tests/test_tools/test_train_test_tools.py',
    'tests/test_regions/test_precompute_clip_regions.py',
    'tests/test_deploy/test_onnx_export.py',
    'tests/test_tools/test_speed_benchmarks.py',
)


def pytest_collection_modifyitems(config, items):
    rank = {path: i for i, path in enumerate(LONGEST_FILES)}
    paths = {id(item): Path(item.fspath).resolve().relative_to(CHECKOUT).as_posix()
             for item in items}
    items.sort(key=lambda item: rank.get(paths[id(item)], len(rank)))  # stable otherwise


@pytest.fixture(scope='session')
def coco_fixture(tmp_path_factory):
    """A generated COCO-format dataset: its root folder (images/, annotations/)."""
    from ovdkit.testing import make_coco_fixture
    root = tmp_path_factory.mktemp('coco_fixture')
    make_coco_fixture(str(root), num_train=16, num_val=8)
    return root
