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


def _lesson_links():
    text = (ROOT / "README.md").read_text()
    section = text.split("## Teaching with the lab", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"\| `(/[A-Za-z_]+(?:\?[^`]*)?)` \|", section)


def test_the_lesson_path_has_a_link_per_page():
    pages = {link.split("?")[0] for link in _lesson_links()}
    assert pages == {"/Data", "/Decoupling", "/Soft_labels", "/Train", "/Ablation", "/Compare", "/Label_shift"}


def test_every_lesson_link_opens_its_view():
    """Each link of the README's lesson opens its page with every URL value taken (no 'Ignoring …' message)."""
    from urllib.parse import parse_qsl

    from streamlit.testing.v1 import AppTest

    files = {p.stem.split("_", 1)[1]: p for p in (ROOT / "pages").glob("[0-9]_*.py")}
    for link in _lesson_links():
        path, _, query = link.partition("?")
        at = AppTest.from_file(str(files[path.lstrip("/")]), default_timeout=60)
        qs = dict(parse_qsl(query))
        for k, v in qs.items():
            at.query_params[k] = v
        at.run()
        assert not at.exception, (link, [e.value for e in at.exception])
        assert not at.error, (link, [e.value for e in at.error])
        assert not [w.value for w in at.warning if "Ignoring" in w.value], link
        for k, v in qs.items():  # the view keeps what the link asked for (a default may drop out of the URL)
            got = at.query_params.get(k)
            assert got is None or got == v or _same_number(got, v), (link, k, got)


def _same_number(a, b):
    try:
        return float(a) == float(b)
    except ValueError:
        return False


def test_which_method_where_quotes_the_recorded_benches():
    """Every figure of the README's 'Which method where' table is the one its bench recorded: the generator
    column from docs/recommend.txt, the proxy column from docs/proxy_benchmarks.txt, Movie from
    docs/movie_prior.txt (the README's Movie run) or docs/movie_recommended.txt."""
    import re

    readme = (ROOT / "README.md").read_text()
    section = readme.split("### Which method where", 1)[1].split("Read plainly", 1)[0]
    rows = re.findall(r"^\| ([a-z+-]+)(?: \(\*to start with\*\))? \| (\d+) \| (\d+) \| (\d+) \| \**([\d.]+) / "
                      r"([\d.]+)", section, re.M)
    assert len(rows) == 6
    gen = {ln.split()[0]: ln.split()[-1] for ln in (ROOT / "docs" / "recommend.txt").read_text().splitlines()
           if re.match(r"^[a-z][a-z+-]+\s+[\d.]+\s+[\d.]+", ln)}
    proxy = dict(re.findall(r"^  (\S+)\s+(\d+) of 11$", (ROOT / "docs" / "proxy_benchmarks.txt").read_text(), re.M))
    movie = (ROOT / "docs" / "movie_prior.txt").read_text() + (ROOT / "docs" / "movie_recommended.txt").read_text()
    centred = dict(re.findall(r"^  (\S+)\s+(\d+)$", (ROOT / "docs" / "centred.txt").read_text(), re.M))
    for m, g, c, p, cheb, kl in rows:
        assert gen[m] == g, m
        assert centred[m] == c, m
        assert proxy[m] == p, m
        line = re.search(rf"^{re.escape(m)}\s+val_kl_balanced\s+([\d.]+) ±\S+\s+\S+ ±\S+\s+\S+ ±\S+\s+([\d.]+)",
                         movie, re.M)
        assert line and float(line.group(1)) == float(cheb) and float(line.group(2)) == float(kl), m
    assert "**`ldl-kl+la+shrink`**" in readme.split("### Which method where", 1)[1][:900]


def test_the_centre_profile_paragraph_quotes_docs_centred():
    import re

    readme = (ROOT / "README.md").read_text()
    para = readme.split("One thing of Movie's this grid does not have", 1)[1].split("## ", 1)[0]
    doc = (ROOT / "docs" / "centred.txt").read_text()
    cells = {ln.split()[0]: re.findall(r"([\d.]+ / [\d.]+)( \*)?", ln) for ln in doc.splitlines()
             if re.match(r"^(uniform|[a-z]+-[a-z+-]+)\s+[\d.]+ / ", ln)}
    preset = -1  # the last regime is the Movie's filter preset (signal 0.3, skew 10, dominance 0.5)
    assert "(the Movie's filter preset)" in doc.splitlines()[12]
    for m in ("ofr-db+la", "uniform", "ldl-kl+la+shrink"):
        assert cells[m][preset][0] in para, m
    wins = dict(re.findall(r"^  (\S+)\s+(\d+)$", doc, re.M))
    assert f"OFR-DB+la beats the uniform predictor in {wins['ofr-db+la']} of the 12" in para
    assert f"LDL-KL+la+shrink in {wins['ldl-kl+la+shrink']} and in none of the four signal-0.3" in para
    assert not any(star for _, star in cells["ldl-kl+la+shrink"][-4:])


def test_the_benchmark_shapes_paragraph_quotes_docs_benchmark_shapes():
    """The README's time and memory for the five benchmarks that are not bundled are the recorded ones."""
    import re

    readme = (ROOT / "README.md").read_text()
    para = readme.split("**The benchmarks that are not here, at their sizes.**", 1)[1].split("\n\n", 1)[0]
    doc = (ROOT / "docs" / "benchmark_shapes.txt").read_text()
    rows = {m[0]: (int(m[1]), int(m[2])) for m in re.findall(r"^(\S+\.mat)\s+\d+\s+\d+\s+\d+\s+10\s+(\d+)\s+(\d+)",
                                                              doc, re.M)}
    assert len(rows) == 5  # every stand-in ran all 10 folds
    total = re.search(r"default rule; (\d+) s", doc).group(1)
    assert f"({total} s on 2 cores" in para
    flickr = rows.pop("Flickr_LDL.mat")
    assert f"takes {flickr[0]} s in\nall with a peak resident set of {flickr[1]} MB" in para
    walls, peaks = sorted(w for w, _ in rows.values()), sorted(p for _, p in rows.values())
    assert f"the others {walls[0]}–{walls[-1]} s and {peaks[0]}–{peaks[-1]} MB" in para
    assert "every name finds its published filter" in para
    assert all(re.search(rf"^{re.escape(f)}.*\b{re.escape(b)} [\d.,]+", doc, re.M) for f, b in
               [("SCUT_FBP.mat", "SCUT-FBP"), ("Natural_Scene.mat", "Natural Scene"), ("RAF_ML.mat", "RAF-ML")])


def test_the_validation_split_paragraph_quotes_docs_val_split():
    """The README's figures for `--val-split boundary` are the recorded ones, and the verdict is the bench's."""
    import re

    readme = (ROOT / "README.md").read_text()
    para = readme.split("A validation set that leans toward the test data", 1)[1].split("\n\n", 1)[0]
    doc = (ROOT / "docs" / "val_split.txt").read_text()
    gen = {(m[0], m[1]): (m[2], int(m[3])) for m in
           re.findall(r"^(\S+)\s+(random|boundary)\s+([\d.]+)\s+[\d.]+\s+\S+\s+(\d+)$", doc, re.M)}
    assert gen[("ldl-kl+la+shrink", "random")][0] in para and gen[("ldl-kl+la+shrink", "boundary")][0] in para
    assert (f"beats uniform in {gen[('ldl-kl+pc+shrink', 'boundary')][1]} regimes\ninstead of "
            f"{gen[('ldl-kl+pc+shrink', 'random')][1]}") in para
    assert re.search(r"(\d+) s, `docs/val_split.txt`", para).group(1) == re.search(r"default rule; (\d+) s",
                                                                                      doc).group(1)
    assert all(f"{m}: boundary validation does not help" in doc for m in
               ("ldl-kl+la+shrink", "ldl-kl+pc+shrink", "ofr-db+la+shrink"))  # "helps none of the shrunk methods"
    movie = doc.split("Checked on Movie", 1)[1]
    pc = re.search(r"^ldl-kl\+pc\+shrink\s+val_kl_balanced\s+([\d.]+)", movie, re.M).group(1)
    assert f"{float(pc):.4f} Chebyshev, below the published AMEMA 0.1703" in para
