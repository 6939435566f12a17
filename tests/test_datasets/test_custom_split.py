"""tools/dataset_converters/coco2ov.py: your own COCO-format dataset with your base / novel
split (outputs checked box by box), and the inputs it refuses before writing anything."""
import importlib.util
import json

import pytest

from ovdkit.testing import REPO, make_coco_fixture, run_tool

TOOL = 'tools/dataset_converters/coco2ov.py'


def coco2ov(args):
    """Runs the tool's main() in this process (a subprocess pays the stack's imports)."""
    spec = importlib.util.spec_from_file_location('coco2ov', REPO / TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main([str(a) for a in args])


@pytest.fixture(scope='module')
def fixture(tmp_path_factory):
    root = tmp_path_factory.mktemp('mine')
    paths = make_coco_fixture(str(root), num_train=12, num_val=4)
    # one more training image whose only box is of the novel 'green disk'
    data = json.loads(open(paths['train']).read())
    data['images'].append(dict(id=999, file_name=data['images'][0]['file_name'], height=96,
                               width=96))
    data['annotations'].append(dict(id=9999, image_id=999, category_id=2, bbox=[1, 1, 9, 9],
                                    area=81, iscrowd=0))
    open(paths['train'], 'w').write(json.dumps(data))
    return paths


def test_writes_base_only_train_all_class_val_and_class_lists(fixture, tmp_path, capsys):
    src = json.loads(open(fixture['train']).read())
    assert coco2ov([fixture['train'], '--val', fixture['val'], '--novel', 'green disk',
                    '--out-dir', tmp_path]) == 0
    counts = json.loads(capsys.readouterr().out)
    train = json.loads((tmp_path / 'train_base.json').read_text())
    val = json.loads((tmp_path / 'val_all.json').read_text())
    novel_id = next(c['id'] for c in src['categories'] if c['name'] == 'green disk')
    base_anns = [a for a in src['annotations'] if a['category_id'] != novel_id]
    assert train['annotations'] == base_anns
    assert [c['name'] for c in train['categories']] == ['red square', 'blue triangle']
    assert {c['split'] for c in train['categories']} == {'seen'}
    # images without a base box are dropped from train; val keeps every image and box
    expected_images = [im for im in src['images']
                       if any(a['image_id'] == im['id'] for a in base_anns)]
    assert train['images'] == expected_images
    assert 999 in {im['id'] for im in src['images']} - {im['id'] for im in train['images']}
    val_src = json.loads(open(fixture['val']).read())
    assert val['images'] == val_src['images'] and val['annotations'] == val_src['annotations']
    assert [(c['name'], c['split']) for c in val['categories']] == [
        ('red square', 'seen'), ('green disk', 'unseen'), ('blue triangle', 'seen')]
    assert (tmp_path / 'base_classes.txt').read_text() == 'red square\nblue triangle\n'
    assert (tmp_path / 'novel_classes.txt').read_text() == 'green disk\n'
    assert (tmp_path / 'all_classes.txt').read_text() == \
        'red square\ngreen disk\nblue triangle\n'
    assert counts['train']['annotations'] == len(base_anns)
    assert counts['val']['images'] == len(val_src['images'])


def test_novel_file_and_a_single_annotation_file(fixture, tmp_path):
    novel = tmp_path / 'novel.txt'
    novel.write_text('# mine\nblue triangle\nred square\n')
    assert coco2ov([fixture['train'], '--novel-file', novel, '--out-dir', tmp_path / 'o']) == 0
    assert (tmp_path / 'o' / 'novel_classes.txt').read_text() == 'red square\nblue triangle\n'
    val = json.loads((tmp_path / 'o' / 'val_all.json').read_text())
    assert val['annotations'] == json.loads(open(fixture['train']).read())['annotations']


@pytest.mark.parametrize('case, message', [
    ('unknown', "no category named ['zebra']"),
    ('all-novel', 'every category is novel'),
    ('truncated', 'not valid JSON'),
])
def test_bad_inputs_exit_2_naming_them_and_write_nothing(fixture, tmp_path, capsys, case,
                                                         message):
    ann, novel = fixture['train'], 'green disk,zebra'
    if case == 'all-novel':
        novel = 'red square,green disk,blue triangle'
    elif case == 'truncated':
        ann = tmp_path / 'cut.json'
        ann.write_text(open(fixture['train']).read()[:100])
    assert coco2ov([ann, '--novel', novel, '--out-dir', tmp_path / 'out']) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f'coco2ov.py: error: {ann}')
    assert message in err[0]
    assert not (tmp_path / 'out').exists()


def test_command_line_exit_status(fixture, tmp_path):
    proc = run_tool([TOOL, fixture['train'], '--novel', 'zebra', '--out-dir', tmp_path],
                    check=False)
    assert proc.returncode == 2
    assert proc.stderr.strip().endswith(f"{fixture['train']}: no category named ['zebra'] "
                                        f"(its categories: ['red square', 'green disk', "
                                        f"'blue triangle'])")
    assert list(tmp_path.iterdir()) == []
