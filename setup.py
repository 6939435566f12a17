"""Installs the OVDKit plugin package ``ovdkit`` from ``projects/ovdkit``."""
import re
from pathlib import Path
from setuptools import find_packages, setup

ROOT = Path(__file__).parent
VERSION = re.search(r"__version__ = '([^']+)'",
                    (ROOT / 'projects/ovdkit/version.py').read_text()).group(1)

setup(
    name='ovdkit',
    version=VERSION,
    description='Open-vocabulary object detection plugins for MMDetection 3.x',
    packages=['ovdkit'] + ['ovdkit.' + p for p in find_packages('projects/ovdkit')],
    package_dir={'ovdkit': 'projects/ovdkit'},
    # the web demo's page (tools/webdemo.py)
    package_data={'ovdkit.apis.webdemo': ['page.html']},
    python_requires='>=3.11',
    # The stack is pinned in requirements/ and installed by tools/setup_env.sh
    # (torch and mmcv need special handling there); these are the loose runtime needs.
    install_requires=['mmdet>=3.3,<3.4', 'mmengine>=0.10,<0.11', 'open_clip_torch>=3',
                      'pycocotools', 'lvis'],
)
