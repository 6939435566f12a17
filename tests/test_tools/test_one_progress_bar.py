"""One progress bar style across the package and its tools: mmengine's ProgressBar."""
import ast

from ovdkit.testing import REPO

OTHER_BARS = ('tqdm', 'rich', 'alive_progress')


def test_no_module_uses_another_progress_bar():
    others = []
    for path in sorted([*(REPO / 'projects').rglob('*.py'), *(REPO / 'tools').rglob('*.py')]):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                     [node.module or ''] if isinstance(node, ast.ImportFrom) else [])
            others += [f'{path.relative_to(REPO)}:{node.lineno} imports {name}'
                       for name in names if name.split('.')[0] in OTHER_BARS]
    assert not others, 'use mmengine.utils.ProgressBar:\n' + '\n'.join(others)
