r"""The package's shape (issue 32): no module over 600 lines, the command line a package of
modules of at most 400, and no two modules of :obj:`pyg_denoise` import each other,
directly or around a longer loop (imports inside functions count; :obj:`if TYPE_CHECKING:`
blocks do not)."""
import ast
import os
import os.path as osp

import pyg_denoise

ROOT = osp.dirname(pyg_denoise.__file__)


def modules():
    out = {}
    for folder, _, files in os.walk(ROOT):
        for f in files:
            if f.endswith('.py'):
                path = osp.join(folder, f)
                name = 'pyg_denoise.' + osp.relpath(path, ROOT)[:-3].replace(os.sep, '.')
                out[name[:-len('.__init__')] if name.endswith('.__init__') else name] = path
    return out


def runtime_imports(tree):
    r"""Import statements anywhere in the module but under :obj:`if TYPE_CHECKING:`."""
    skip = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and 'TYPE_CHECKING' in ast.dump(node.test):
            skip |= {id(n) for child in node.body for n in ast.walk(child)}
    return [n for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))
            and id(n) not in skip]


def import_graph():
    mods = modules()
    graph = {}
    for name, path in mods.items():
        with open(path) as f:
            tree = ast.parse(f.read())
        deps = set()
        for node in runtime_imports(tree):
            if isinstance(node, ast.ImportFrom):
                if node.level or not node.module:
                    continue
                for alias in node.names:
                    full = f'{node.module}.{alias.name}'
                    deps.add(full if full in mods else node.module)
            else:
                deps |= {alias.name for alias in node.names}
        graph[name] = {d for d in deps if d in mods and d != name}
    return graph


def cycles(graph):
    r"""Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_import_cycle_among_the_packages_modules():
    assert cycles(import_graph()) == []


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({'a': {'b'}, 'b': {'c'}, 'c': {'a'}, 'd': {'a'}}) == [['a', 'b', 'c']]


def test_the_command_lines_modules_are_small():
    sizes = {name: sum(1 for _ in open(path)) for name, path in modules().items()
             if name.startswith('pyg_denoise.cli')}
    assert len(sizes) >= 8
    assert {k: v for k, v in sizes.items() if v > 400} == {}


def test_every_module_is_at_most_600_lines():
    sizes = {name: sum(1 for _ in open(path)) for name, path in modules().items()}
    assert {k: v for k, v in sizes.items() if v > 600} == {}
