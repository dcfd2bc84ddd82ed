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
