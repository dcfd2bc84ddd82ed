"""The repository's promises: the README's commands, CI calling the same test command, a plain library."""
import re

from conftest import ROOT


def test_readme_starts_with_the_two_commands_and_ci_runs_the_test_command():
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"```bash\n(.*?)```", readme, re.S).group(1).strip().splitlines()
    assert "streamlit run app.py" in block[0]
    test_cmd = block[1].strip()
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert any(line.strip() == "python3 " + test_cmd.removeprefix("python ") or line.strip() == test_cmd
               for line in ci), test_cmd


def test_library_never_imports_streamlit():
    for p in (ROOT / "ildl").rglob("*.py"):
        text = p.read_text()
        assert not re.search(r"^\s*(import|from)\s+streamlit", text, re.M), p


def test_every_method_module_cites_its_paper():
    from ildl.methods import REGISTRY

    for entry in REGISTRY.values():
        assert entry.paper and entry.title, entry.name
        doc = __import__(entry.cls.__module__, fromlist=["x"]).__doc__
        assert re.search(r"(19|20)\d\d", doc), entry.cls.__module__
        assert re.search(r"eq\.|Alg\. 1|Algorithm 1|spec §", doc, re.I), entry.cls.__module__  # cites its equations


def test_the_library_has_no_import_cycle_and_no_lazy_import_of_itself():
    """Every `ildl` module imports its siblings at the top (a function-level import would hide a cycle), and the
    module graph is acyclic (a package's __init__ re-exporting its children does not count)."""
    import ast

    mods = {".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__"): p
            for p in (ROOT / "ildl").rglob("*.py")}
    graph: dict[str, set[str]] = {m: set() for m in mods}
    for m, p in mods.items():
        tree = ast.parse(p.read_text())
        pkg = m.split(".") if p.name == "__init__.py" else m.split(".")[:-1]
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level:
                base = pkg[:len(pkg) - node.level + 1]
                targets = [".".join(base + ([node.module] if node.module else []) + [a.name]) for a in node.names]
            elif isinstance(node, ast.Import) or isinstance(node, ast.ImportFrom):
                targets = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                    [f"{node.module}.{a.name}" for a in node.names]
            else:
                continue
            hits = set()
            for t in targets:
                while t and t not in mods:
                    t = t.rpartition(".")[0]
                if t and t != m:
                    hits.add(t)
            if hits:
                assert node in tree.body, f"{m} imports {sorted(hits)} inside a function (line {node.lineno})"
                graph[m] |= hits
    seen: dict[str, int] = {}

    def visit(m: str, path: list[str]) -> None:
        seen[m] = 1
        for t in graph[m]:
            assert seen.get(t) != 1, "import cycle: " + " -> ".join(path[path.index(t):] + [t]) if t in path else t
            if t not in seen:
                visit(t, path + [t])
        seen[m] = 2

    for m in mods:
        if m not in seen:
            visit(m, [m])


def test_the_package_imports_from_outside_the_checkout(tmp_path):
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", "import ildl, ildl.cli, ildl.jobs; print(ildl.__file__)"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
