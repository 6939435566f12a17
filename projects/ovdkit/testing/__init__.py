"""Fixtures shared by the tests, the smoke config and the benchmarks."""
from .coco_fixture import FIXTURE_CATEGORIES, make_coco_fixture

__all__ = ['FIXTURE_CATEGORIES', 'make_coco_fixture']
