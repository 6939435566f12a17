"""What tests, the smoke config and the benchmarks share (as ``mmdet.testing`` does): dataset
fixtures, tool runners and toy detectors.

The toy detectors (:mod:`ovdkit.testing.detectors`) import the toy world and the models:
import them from that module.
"""
from .coco_fixture import FIXTURE_CATEGORIES, make_coco_fixture
from .headless_browser import BrowserUnavailable, ensure_chromium, start_chromium
from .ov_fixtures import lvis_v1_categories, make_ov_coco_fixture, make_ov_lvis_fixture
from .tools import (FIXTURE_SCALE, REPO, SMOKE_CONFIG, ToolServer, ToolStep, config_pipelines,
                    fixture_data_options, load_tool, run_tool)

__all__ = ['BrowserUnavailable', 'FIXTURE_CATEGORIES', 'FIXTURE_SCALE', 'REPO', 'SMOKE_CONFIG',
           'ToolServer', 'ToolStep', 'config_pipelines', 'ensure_chromium', 'fixture_data_options',
           'load_tool', 'lvis_v1_categories', 'make_coco_fixture', 'make_ov_coco_fixture',
           'make_ov_lvis_fixture', 'run_tool', 'start_chromium']
