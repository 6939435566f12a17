"""Fixtures shared by the tests, the smoke config and the benchmarks."""
from .coco_fixture import FIXTURE_CATEGORIES, make_coco_fixture
from .ov_fixtures import lvis_v1_categories, make_ov_coco_fixture, make_ov_lvis_fixture

__all__ = ['FIXTURE_CATEGORIES', 'make_coco_fixture', 'lvis_v1_categories',
           'make_ov_coco_fixture', 'make_ov_lvis_fixture']
