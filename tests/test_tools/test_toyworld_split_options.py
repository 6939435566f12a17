"""tools/toyworld.py's split options: one at a time, each giving its split (no world drawn)."""
import importlib.util
import itertools

import pytest

from ovdkit.testing import REPO
from ovdkit.toyworld import ToyWorldSpec

SPLITS = {'--novel-shapes': 'star,heart', '--novel': 'red star,blue circle',
          '--novel-fraction': '0.25'}


def _parse(argv):
    spec = importlib.util.spec_from_file_location('toyworld_tool', REPO / 'tools' / 'toyworld.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.parse_args(argv)


@pytest.mark.parametrize('first, second', list(itertools.combinations(SPLITS, 2)))
def test_two_split_options_are_refused(capsys, first, second):
    with pytest.raises(SystemExit) as exit_info:
        _parse([first, SPLITS[first], second, SPLITS[second]])
    assert exit_info.value.code == 2
    assert f'argument {second}: not allowed with argument {first}' in capsys.readouterr().err


def test_each_split_option_gives_its_split():
    args = _parse(['--novel-shapes', 'star,heart'])
    assert (args.novel_shapes, args.novel, args.novel_fraction) == ('star,heart', None, None)
    concepts = ToyWorldSpec(novel_shapes=('star', 'heart'))
    colors = ToyWorldSpec().colors
    assert concepts.split_kind == 'concepts'
    assert set(concepts.novel_names()) == {f'{c} {s}' for c in colors for s in ('star', 'heart')}

    args = _parse(['--novel', 'red star,blue circle'])
    assert (args.novel_shapes, args.novel, args.novel_fraction) == (None, 'red star,blue circle',
                                                                    None)
    named = ToyWorldSpec(novel=('red star', 'blue circle'))
    assert named.split_kind == 'combinations'
    assert set(named.novel_names()) == {'red star', 'blue circle'}

    args = _parse(['--novel-fraction', '0.25'])
    assert args.novel_fraction == 0.25 and args.novel is None and args.novel_shapes is None
    drawn = ToyWorldSpec(novel_fraction=0.25)
    names = [c['name'] for c in drawn.category_list()]
    novel = set(drawn.novel_names())
    assert drawn.split_kind == 'combinations' and len(novel) == round(0.25 * len(names))
    base = [n for n in names if n not in novel]
    # every colour and every shape still has a base category
    assert {n.split(' ')[0] for n in base} == set(drawn.colors)
    assert {n.split(' ', 1)[1] for n in base} == set(drawn.shapes)


def test_the_spec_refuses_two_splits_too():
    with pytest.raises(ValueError, match='give at most one of novel_shapes'):
        ToyWorldSpec(novel_shapes=('star',), novel_fraction=0.25)
