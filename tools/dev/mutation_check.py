#!/usr/bin/env python
"""Mutation check: breaks the core math one place at a time and runs the tests that should notice.

    PYTHONPATH=$PWD/projects OMP_NUM_THREADS=1 .venv/bin/python tools/dev/mutation_check.py \
        [--set table|systematic|all] [--filter SUBSTR | --only ID...] [--list] [--no-baseline]
        [--timeout 900]

Not run in CI: a run takes tens of minutes on a few cores (a surviving mutant costs its whole
test set, a killed one a few seconds). The package ``projects/ovdkit``
is copied to a temporary folder; each mutant edits one file of that copy, and the tests of the
mutated module (``TEST_SETS`` in ``tools/dev/mutants.py``, which defines every mutant) run with
the copy first on ``PYTHONPATH`` (the tools the tests start as subprocesses inherit it),
stopping at the first failure. A mutant whose tests fail is
*killed*; one whose tests pass *survived*: a missing test, or an equivalent mutant (argue it in
one line). Before the mutants, each test set runs once on the unmutated copy: a set that fails
there would make every mutant look killed, so the run stops.

Two sets of mutants:

- ``table``: the one-line breaks of ``TABLE`` (the formulas' known ways to break), as exact
  text replacements.
- ``systematic``: generated from the AST of the core functions (``TARGETS``): arithmetic and
  comparison operators swapped (``+``/``-``, ``*``/``/``, ``>``/``>=``...), ``&``/``|`` and
  ``and``/``or`` swapped, ``in``/``not in``, numeric constants changed (``n -> n + 1``,
  ``x -> 2x``), unary minus dropped, and normalising / activation calls skipped
  (``F.normalize(x)`` -> ``x``, ``x.sigmoid()`` -> ``x``...).

Prints one line per mutant (``KILLED by <the first failing test>`` / ``SURVIVED`` / ``INVALID``
for a mutant that does not parse / ``EQUIVALENT`` with its one-line argument, not run), then a
flat JSON object: counts, and the survivors' ids separated by spaces.
"""
import argparse
import ast
import copy
import json
import os
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / 'projects' / 'ovdkit'

sys.path.insert(0, str(Path(__file__).resolve().parent))
from mutants import EQUIVALENT, TABLE, TARGETS, TEST_SETS  # noqa: E402

_BINOP_SWAPS = {ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Div, ast.Div: ast.Mult,
                ast.Pow: ast.Mult, ast.Mod: ast.FloorDiv, ast.BitAnd: ast.BitOr,
                ast.BitOr: ast.BitAnd}
_CMP_SWAPS = {ast.Gt: ast.GtE, ast.GtE: ast.Gt, ast.Lt: ast.LtE, ast.LtE: ast.Lt,
              ast.Eq: ast.NotEq, ast.NotEq: ast.Eq, ast.In: ast.NotIn, ast.NotIn: ast.In}
#: Calls whose result is replaced by their input (receiver or first argument).
_SKIPPABLE_CALLS = {'normalize', 'sigmoid', 'softmax', 'clamp', 'abs', 'log', 'amax', 't'}


def _functions(tree):
    """``{qualname: FunctionDef}`` of module-level functions and class methods."""
    found = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            found[node.name] = node
        elif isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, ast.FunctionDef):
                    found[f'{node.name}.{item.name}'] = item
    return found


def _node_mutations(node):
    """``(description, apply)`` pairs for one AST node; ``apply`` edits the node in place."""
    out = []
    if isinstance(node, ast.BinOp) and type(node.op) in _BINOP_SWAPS:
        new = _BINOP_SWAPS[type(node.op)]
        out.append((f'{type(node.op).__name__}->{new.__name__}',
                    lambda n, new=new: setattr(n, 'op', new())))
    elif isinstance(node, ast.BoolOp):
        new = ast.Or if isinstance(node.op, ast.And) else ast.And
        out.append((f'{type(node.op).__name__}->{new.__name__}',
                    lambda n, new=new: setattr(n, 'op', new())))
    elif isinstance(node, ast.Compare):
        for i, op in enumerate(node.ops):
            if type(op) in _CMP_SWAPS:
                new = _CMP_SWAPS[type(op)]
                out.append((f'{type(op).__name__}->{new.__name__}',
                            lambda n, i=i, new=new: n.ops.__setitem__(i, new())))
    elif isinstance(node, ast.Constant) and type(node.value) in (int, float):
        value = node.value
        new_value = value + 1 if isinstance(value, int) else (value * 2 if value else 1.0)
        out.append((f'{value!r}->{new_value!r}',
                    lambda n, v=new_value: setattr(n, 'value', v)))
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.Not)):
        out.append((f'drop-{type(node.op).__name__}', 'unwrap-operand'))
    elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and \
            node.func.attr in _SKIPPABLE_CALLS:
        out.append((f'skip-{node.func.attr}', 'unwrap-call'))
    return out


def _shape_constants(nodes):
    """Constants not worth a mutant, whose change is a shape or index error that every test
    hits at once (or no change at all): positional arguments of calls (``view(1, 3, 1, 1)``,
    ``sum(1)``, ``topk(k)``), ``dim=`` keywords, subscripts (``x[:, :-1]``), and numerical
    guards below 1e-3 (``clamp(min=1e-12)``: doubling them changes no tested value). Numbers
    in arithmetic, comparisons, defaults and other keywords are mutated."""
    skipped = set()
    for node in nodes:
        if isinstance(node, ast.Call):
            skipped.update(n for arg in node.args for n in ast.walk(arg)
                           if isinstance(n, (ast.Constant, ast.UnaryOp)))
            skipped.update(n for kw in node.keywords if kw.arg in ('dim', 'keepdim')
                           for n in ast.walk(kw.value))
        elif isinstance(node, ast.Subscript):
            skipped.update(n for n in ast.walk(node.slice)
                           if isinstance(n, (ast.Constant, ast.UnaryOp)))
        elif isinstance(node, ast.Constant) and isinstance(node.value, float) and \
                0 < node.value < 1e-3:
            skipped.add(node)
    return skipped


class _Replace(ast.NodeTransformer):
    """Replaces the node at one (lineno, col_offset, type) with its operand / input."""

    def __init__(self, where, how):
        self.where, self.how = where, how

    def generic_visit(self, node):
        node = super().generic_visit(node)
        key = (getattr(node, 'lineno', None), getattr(node, 'col_offset', None),
               type(node).__name__)
        if key != self.where:
            return node
        if self.how == 'unwrap-operand':
            return node.operand
        # x.sigmoid() / x.clamp(min=0) -> x; F.normalize(x, dim=-1) -> x
        receiver = node.func.value
        if isinstance(receiver, ast.Name) and receiver.id in ('F', 'torch', 'np'):
            return node.args[0]
        return receiver


def systematic_mutants():
    """Every generated mutant: ``(id, module, mutated source)``."""
    mutants, seen = [], set()
    for module, names in TARGETS.items():
        source = (PACKAGE / module).read_text()
        tree = ast.parse(source)
        functions = _functions(tree)
        for name in names:
            if name not in functions:
                raise SystemExit(f'mutation_check: {module} has no function {name}')
            # Docstrings are constants too; skip the first statement when it is one.
            body = functions[name].body
            if isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                body = body[1:]
            nodes = [n for stmt in body for n in ast.walk(stmt)]
            nodes += [n for n in ast.walk(functions[name].args)]  # defaults
            skipped = _shape_constants(nodes)
            for node in nodes:
                if node in skipped:
                    continue
                for what, apply in _node_mutations(node):
                    mutated = copy.deepcopy(tree)
                    where = (node.lineno, node.col_offset, type(node).__name__)
                    if callable(apply):
                        for twin in ast.walk(mutated):
                            if (getattr(twin, 'lineno', None), getattr(twin, 'col_offset', None),
                                    type(twin).__name__) == where and \
                                    ast.dump(twin) == ast.dump(node):
                                apply(twin)
                                break
                    else:
                        mutated = _Replace(where, apply).visit(mutated)
                    ident = f'{module}:{name}:L{node.lineno}:c{node.col_offset}:{what}'
                    while ident in seen:  # nested nodes at the same place: a & b & c
                        ident += "'"
                    seen.add(ident)
                    mutants.append((ident, module, ast.unparse(ast.fix_missing_locations(
                        mutated))))
    return mutants


def table_mutants():
    """The table's mutants: ``(id, module, mutated source)``."""
    mutants = []
    for ident, module, old, new in TABLE:
        source = (PACKAGE / module).read_text()
        if source.count(old) != 1:
            raise SystemExit(f'mutation_check: {ident}: the text to replace occurs '
                             f'{source.count(old)} times in {module}, not once')
        mutants.append((ident, module, source.replace(old, new)))
    return mutants


def _test_args(module):
    files, expr = TEST_SETS[module]
    args = ['-x', '-q', *[f for f in files if (REPO / f).is_file()]]
    return args + ['-k', expr] if expr else args


def preload():
    """Imports the heavy dependencies once; every mutant's test run forks from here."""
    import mmdet.datasets  # noqa: F401
    import mmdet.evaluation  # noqa: F401
    import mmdet.models  # noqa: F401
    import open_clip  # noqa: F401
    import pytest  # noqa: F401
    import torchvision  # noqa: F401


def run_tests(copy_root, module, timeout):
    """Runs the test set of ``module`` against the copy in a forked child (the heavy imports
    are already done; ovdkit and the tests are imported fresh in the child, from the copy).
    Tools the tests start as subprocesses see the copy through ``PYTHONPATH``.

    Returns:
        (passed, seconds)
    """
    start = time.perf_counter()
    (Path(copy_root) / 'killed_by').unlink(missing_ok=True)
    pid = os.fork()
    if pid == 0:  # child
        code = 3
        signal.signal(signal.SIGTERM, signal.SIG_DFL)  # not the parent's clean-up
        try:
            os.chdir(REPO)
            os.environ.update(OMP_NUM_THREADS='1', PYTHONWARNINGS='ignore', PYTHONPATH=(
                os.pathsep.join([str(copy_root), str(REPO / 'tests')])))
            sys.path[:0] = [str(copy_root), str(REPO / 'tests')]
            import ovdkit
            assert ovdkit.__file__.startswith(str(copy_root)), ovdkit.__file__
            null = os.open(os.devnull, os.O_WRONLY)
            os.dup2(null, 1)
            os.dup2(null, 2)
            import pytest

            class FirstFailure:
                """Writes the id of the test that kills the mutant where the parent reads it."""

                @staticmethod
                def pytest_runtest_logreport(report):
                    if report.failed:
                        Path(f'{copy_root}/killed_by').write_text(report.nodeid)

            code = int(pytest.main(_test_args(module), plugins=[FirstFailure()]))
        finally:
            os._exit(code)
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status) == 0, time.perf_counter() - start
        if time.perf_counter() - start > timeout:
            # a mutant that hangs the tests is caught by them: count it killed
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            return False, time.perf_counter() - start
        time.sleep(0.1)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--set', choices=('table', 'systematic', 'all'), default='all')
    parser.add_argument('--filter', help='only mutants whose id contains this')
    parser.add_argument('--only', nargs='+', metavar='ID', help='only these mutant ids')
    parser.add_argument('--list', action='store_true', help='list the mutants and stop')
    parser.add_argument('--no-baseline', action='store_true',
                        help='skip the run of each test set on the unmutated package')
    parser.add_argument('--timeout', type=float, default=900, help='seconds per test run')
    parser.add_argument('--run-equivalent', action='store_true',
                        help='run the mutants of EQUIVALENT too')
    args = parser.parse_args(argv)
    mutants = (table_mutants() if args.set in ('table', 'all') else []) + \
        (systematic_mutants() if args.set in ('systematic', 'all') else [])
    if args.filter:
        mutants = [m for m in mutants if args.filter in m[0]]
    if args.only:
        unknown = set(args.only) - {m[0] for m in mutants}
        if unknown:
            raise SystemExit(f'mutation_check: no mutants {sorted(unknown)}')
        mutants = [m for m in mutants if m[0] in args.only]
    if args.list:
        for ident, _, _ in mutants:
            print(ident)
        print(json.dumps(dict(mutants=len(mutants))))
        return 0
    preload()
    # a plain `kill` still removes the temporary copy (the finally clause below)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    work = Path(tempfile.mkdtemp(prefix='ovdkit-mutants-'))
    try:
        # The copy sits where the package does in the repository, beside links to the rest
        # of it: ovdkit.testing finds configs and tools from the package's own place.
        copy_root = work / 'projects'
        shutil.copytree(PACKAGE, copy_root / 'ovdkit',
                        ignore=shutil.ignore_patterns('__pycache__'))
        for entry in REPO.iterdir():
            if entry.name != 'projects':
                (work / entry.name).symlink_to(entry)
        if not args.no_baseline:
            for module in sorted({m[1] for m in mutants}):
                passed, seconds = run_tests(copy_root, module, args.timeout)
                print(f'BASELINE {"ok" if passed else "FAILED"} {module} ({seconds:.0f} s)',
                      flush=True)
                if not passed:
                    print(f'mutation_check: the tests of {module} fail without a mutant',
                          file=sys.stderr)
                    return 1
        counts = dict(killed=0, survived=0, invalid=0, equivalent=0)
        survivors, table_survivors = [], []
        for ident, module, source in mutants:
            if ident in EQUIVALENT and not args.run_equivalent:
                counts['equivalent'] += 1
                print(f'EQUIVALENT {ident}: {EQUIVALENT[ident]}', flush=True)
                continue
            target = copy_root / 'ovdkit' / module
            original = target.read_text()
            try:
                compile(source, str(target), 'exec')
            except SyntaxError:
                counts['invalid'] += 1
                print(f'INVALID  {ident}', flush=True)
                continue
            target.write_text(source)
            try:
                passed, seconds = run_tests(copy_root, module, args.timeout)
            finally:
                target.write_text(original)
            state = 'SURVIVED' if passed else 'KILLED'
            counts['survived' if passed else 'killed'] += 1
            if passed:
                survivors.append(ident)
                if ident.startswith('T'):
                    table_survivors.append(ident)
            record = copy_root / 'killed_by'
            by = f' by {record.read_text()}' if not passed and record.is_file() else ''
            print(f'{state:8} {ident} ({seconds:.0f} s){by}', flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    total = counts['killed'] + counts['survived']
    print(json.dumps(dict(mutants=total, **counts,
                          table_mutants=sum(m[0].startswith('T') for m in mutants),
                          table_survived=len(table_survivors),
                          score=round(counts['killed'] / total, 3) if total else None,
                          survivors=' '.join(survivors))))
    return 0


if __name__ == '__main__':
    sys.exit(main())
