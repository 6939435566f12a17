"""OVDKit's subpackages import one way only: a module imports its own subpackage and lower
layers, never a higher one, not even inside a function (docs/design.md)."""
import ast
from pathlib import Path

import ovdkit

#: Lowest first. A subpackage may import only those of lower layers (and itself).
LAYERS = (
    ('version', 'utils'),
    ('datasets',),            # splits, vocabularies, datasets, transforms, the region store
    ('text',),                # CLIP's text tower, the sidecar cache, the vocabulary front door
    ('models', 'regions', 'evaluation'),
    ('engine', 'deploy', 'apis', 'toyworld'),
    ('ovdkit',),              # the package itself: its __init__ imports the layers below
    ('testing',),             # what tests share: fixtures, tool runners, toy detectors
)
LAYER_OF = {name: level for level, names in enumerate(LAYERS) for name in names}
PACKAGE = Path(ovdkit.__file__).parent


def ovdkit_imports(path: Path):
    """(line, imported ovdkit subpackage, at module level?) of every import in a file."""
    rel = path.relative_to(PACKAGE.parent).with_suffix('').parts  # ('ovdkit', 'text', ...)
    package = rel[:-1]  # the package a relative import starts from
    tree = ast.parse(path.read_text(), str(path))
    top_level = {id(node) for node in tree.body}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = list(package[:len(package) - node.level + 1])
                target = base + (node.module.split('.') if node.module else [])
            else:
                target = (node.module or '').split('.')
            if target[0] != 'ovdkit':
                continue
            subs = [target[1]] if len(target) > 1 else [a.name for a in node.names]
        elif isinstance(node, ast.Import):
            subs = [(a.name.split('.') + ['ovdkit'])[1] for a in node.names
                    if a.name.split('.')[0] == 'ovdkit']  # `import ovdkit`: the package
        else:
            continue
        for sub in subs:
            yield node.lineno, sub, id(node) in top_level


def test_every_subpackage_has_a_layer():
    subpackages = {p.name for p in PACKAGE.iterdir() if (p / '__init__.py').is_file()}
    modules = {p.stem for p in PACKAGE.glob('*.py') if p.name != '__init__.py'}
    assert subpackages | modules | {'ovdkit'} == set(LAYER_OF), 'add it to LAYERS'


def test_imports_point_down_the_layers():
    checked, upward = 0, []
    for path in sorted(PACKAGE.rglob('*.py')):
        rel = path.relative_to(PACKAGE)
        if len(rel.parts) == 1 and rel.name == '__init__.py':
            continue  # the package's own __init__ imports every subpackage to register them
        own = rel.parts[0] if len(rel.parts) > 1 else rel.stem
        for line, sub, module_level in ovdkit_imports(path):
            checked += 1
            if sub != own and LAYER_OF[sub] >= LAYER_OF[own]:
                where = 'module level' if module_level else 'inside a function'
                upward.append(f'{rel}:{line}: {own} (layer {LAYER_OF[own]}) imports {sub} '
                              f'(layer {LAYER_OF[sub]}), {where}')
    print(f'\n{checked} ovdkit imports checked against the layers '
          f'{" <- ".join("/".join(names) for names in LAYERS)}: {len(upward)} point up')
    assert not upward, 'imports that point up the layers:\n' + '\n'.join(upward)
