"""The README's 'adding a method' example works as printed: the file, the registry line, a run."""
import re

from conftest import ROOT


def test_readme_method_example_runs(tiny):
    text = (ROOT / "README.md").read_text()
    block = re.search(r"```python\n# ildl/methods/ldl_l2.py\n(.*?)```", text, re.S).group(1)
    module_src, _, reg_src = block.partition("# ildl/methods/__init__.py")
    import ildl.methods as methods_pkg
    from ildl.methods import REGISTRY, register

    ns = {"__name__": "ildl.methods.ldl_l2", "__package__": "ildl.methods"}
    exec(compile(module_src, "ldl_l2.py", "exec"), ns)
    try:
        exec(compile(reg_src, "__init__.py", "exec"), {"register": register, "LDLL2": ns["LDLL2"]})
        assert "ldl-l2" in REGISTRY and REGISTRY["ldl-l2"].title.startswith("LDL-L2")
        from ildl import run_experiment

        rows = run_experiment(tiny, ["uniform", "ldl-l2"], folds=5, fold_ids=[0], settings={"ldl-l2": {"epochs": 3}})
        assert [r["method"] for r in rows] == ["uniform", "ldl-l2"] and 0 < rows[1]["kl"] < 10
    finally:
        REGISTRY.pop("ldl-l2", None)
        assert methods_pkg.REGISTRY is REGISTRY
