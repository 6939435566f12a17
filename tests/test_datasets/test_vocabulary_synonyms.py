"""Synonyms in vocabularies: one ``a|b|c`` syntax in lists, files and strings; errors that name
the entry; the LVIS vocabulary with the synonyms of an LVIS annotation file."""
import json

import pytest

from ovdkit.datasets import (LVIS_V1_CLASSES, resolve_vocabulary, resolve_vocabulary_entries,
                             resolve_vocabulary_synonyms)
from ovdkit.testing import lvis_v1_categories


def test_same_syntax_in_strings_lists_and_files(tmp_path):
    vocab = tmp_path / 'names.txt'
    vocab.write_text('# a comment\ntelevision | tv|monitor\nzebra\n')
    expected = (('television', 'tv', 'monitor'), ('zebra',))
    assert resolve_vocabulary_synonyms('television|tv| monitor,zebra') == expected
    assert resolve_vocabulary_synonyms(['television|tv|monitor', 'zebra']) == expected
    assert resolve_vocabulary_synonyms(str(vocab)) == expected
    # the class keeps its first name; the entry keeps all of them
    assert resolve_vocabulary(str(vocab)) == ('television', 'zebra')
    assert resolve_vocabulary_entries(str(vocab)) == ('television|tv|monitor', 'zebra')


@pytest.mark.parametrize('spec, entry', [('tv||monitor,zebra', 'tv||monitor'),
                                         ('|tv,zebra', '|tv'), ('zebra,tv|', 'tv|')])
def test_empty_synonym_is_an_error_naming_the_entry(spec, entry):
    with pytest.raises(ValueError, match=r'empty synonym in class entry ' + repr(entry)
                       .replace('|', r'\|')):
        resolve_vocabulary(spec)


def test_name_repeated_across_classes_is_an_error_naming_it(tmp_path):
    vocab = tmp_path / 'v.txt'
    vocab.write_text('television|tv\nzebra\nmonitor|tv\n')
    with pytest.raises(ValueError) as err:
        resolve_vocabulary(str(vocab))
    assert str(err.value) == (f"{vocab}: name 'tv' is used more than once, by classes "
                              f"['television|tv', 'monitor|tv'] (indices [0, 2]); a name may "
                              f"belong to one class only")
    with pytest.raises(ValueError, match="name 'zebra' is used more than once"):
        resolve_vocabulary(['zebra', 'horse|zebra'])


def test_lvis_synonyms_from_the_annotation_file(tmp_path):
    ann = tmp_path / 'lvis_v1_val.json'
    ann.write_text(json.dumps(dict(categories=lvis_v1_categories()[::-1])))  # any order
    groups = resolve_vocabulary_synonyms(f'lvis-synonyms:{ann}')
    assert len(groups) == 1203
    assert tuple(g[0] for g in groups) == LVIS_V1_CLASSES  # mmdet's names, in id order
    assert groups[0] == ('aerosol_can', 'spray_can')
    tv = LVIS_V1_CLASSES.index('television_set')
    assert groups[tv] == ('television_set', 'tv', 'tv_set')
    # the official files' typo stays a synonym of mmdet's corrected name
    speaker = LVIS_V1_CLASSES.index('speaker_(stereo_equipment)')
    assert groups[speaker] == ('speaker_(stereo_equipment)', 'speaker_(stero_equipment)')
    assert sum(len(g) > 1 for g in groups) == 6
    assert resolve_vocabulary(f'lvis-synonyms:{ann}') == LVIS_V1_CLASSES


def test_lvis_synonyms_bad_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match='missing.json does not exist'):
        resolve_vocabulary(f'lvis-synonyms:{tmp_path}/missing.json')
    bad = tmp_path / 'coco.json'
    bad.write_text(json.dumps(dict(categories=[dict(id=1, name='person')])))
    with pytest.raises(ValueError, match=f'{bad} is not an LVIS annotation file .*synonyms'):
        resolve_vocabulary(f'lvis-synonyms:{bad}')
