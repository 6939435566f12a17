"""Session fixtures. The helpers tests share live in :mod:`ovdkit.testing`; ``REPO`` and
``run_tool`` are also importable from here for the toy-world tests that still do so."""
from pathlib import Path

import pytest

from ovdkit.testing import REPO, run_tool  # noqa: F401  (re-exported)

# End-to-end files of minutes whose module does not carry ``pytestmark = pytest.mark.slow``
# itself yet (owned by the toy-world rewrite of issue 13): marked here, by path.
SLOW_FILES = {'tests/test_tools/test_demo_toyworld.py'}
#: The checkout these tests are in (not ``REPO``: tools/dev/mutation_check.py imports ovdkit
#: from a copy of the package elsewhere).
CHECKOUT = Path(__file__).resolve().parents[1]


def pytest_collection_modifyitems(config, items):
    for item in items:
        if Path(item.fspath).resolve().relative_to(CHECKOUT).as_posix() in SLOW_FILES:
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope='session')
def coco_fixture(tmp_path_factory):
    """A generated COCO-format dataset: its root folder (images/, annotations/)."""
    from ovdkit.testing import make_coco_fixture
    root = tmp_path_factory.mktemp('coco_fixture')
    make_coco_fixture(str(root), num_train=16, num_val=8)
    return root
