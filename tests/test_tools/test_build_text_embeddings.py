"""tools/build_text_embeddings.py: exit status 2 and one error line for what cannot be used."""
import importlib.util
import json

import pytest

from ovdkit.testing import REPO, run_tool

MODEL = 'OVD-TestCLIP-RN'


def _tool():
    spec = importlib.util.spec_from_file_location(
        'build_text_embeddings', REPO / 'tools' / 'build_text_embeddings.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize('change, message', [
    (dict(pretrained='{tmp}/missing.pt'), "CLIP weights for model 'OVD-TestCLIP-RN': file "
                                          "{tmp}/missing.pt does not exist"),
    (dict(model='No-Such-CLIP'), "unknown open_clip model 'No-Such-CLIP'"),
    (dict(vocab='cat,dog,cat'), 'duplicate'),
    (dict(vocab='{tmp}/names.txt'), '{tmp}/names.txt'),
    (dict(templates='no-such-set'), "templates 'no-such-set': not a template set"),
], ids=['weights', 'model', 'duplicates', 'vocab-file', 'templates'])
def test_errors_are_one_line_and_status_2(tmp_path, capsys, change, message):
    options = dict(vocab='cat,dog', model=MODEL, pretrained='random', templates='single',
                   out=f'{tmp_path}/out.pt', cache_dir=f'{tmp_path}/cache')
    options.update({k: v.format(tmp=tmp_path) for k, v in change.items()})
    argv = [x for k, v in options.items() for x in (f'--{k.replace("_", "-")}', v)]
    assert _tool().main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith('build_text_embeddings: error: ')
    assert message.format(tmp=tmp_path) in err[-1]
    assert not (tmp_path / 'out.pt').exists()


def test_success_is_status_0_and_a_json_line(tmp_path, capsys):
    argv = ['--vocab', 'cat,dog', '--model', MODEL, '--pretrained', 'random', '--templates',
            'single', '--out', str(tmp_path / 'two.pt'), '--cache-dir', str(tmp_path)]
    assert _tool().main(argv) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result == dict(path=str(tmp_path / 'two.pt'), num_classes=2, dim=32,
                          key=result['key'])


def test_the_process_exits_with_status_2(tmp_path):
    proc = run_tool(['tools/build_text_embeddings.py', '--vocab', tmp_path / 'none.txt',
                     '--model', MODEL, '--pretrained', 'random'], check=False)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1].startswith('build_text_embeddings: error: ')
    assert 'Traceback' not in proc.stderr
