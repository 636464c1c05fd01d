"""Suites as asv sees them: imported under their own package name, and versioned alike.

asv imports the benchmark folder as a package named after its basename (so a suite may
write ``from benchmarks.utils import x``) and gives each benchmark a ``version`` hashed from
its source; histbench must do both the same way, or real suites lose benchmarks and an
imported asv history breaks at the first histbench run.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from histbench.run.rounds import ProcessEnv, Settings, run_suite
from histbench.run.suite import discover


def write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"))


def values(results) -> dict[str, float | str]:
    """name -> the one sample of a quick run (or why it has none)."""
    out = {}
    for r in results:
        out[r.name] = r.samples[0] if r.status == "ok" else f"{r.status}: {r.reason}"
    return out


SUITE_IMPORTING_ITSELF = {
    "benchmarks/__init__.py": "WHO = 'suite'\n",
    "benchmarks/utils.py": """
        def helper():
            return 2


        def helper2():
            return 3


        class Box:  # pickled by setup_cache, unpickled by name in another process
            def __init__(self, n):
                self.n = n
        """,
    "benchmarks/bench_a.py": """
        import benchmarks
        import demo_pkg
        from benchmarks.utils import Box, helper

        from .utils import helper2


        def track_absolute():
            return helper()


        def track_relative():
            return helper2()


        def track_package_is_the_suite():
            return 1 if benchmarks.WHO == "suite" else 0


        def track_project_is_the_installed_one():
            return 1 if demo_pkg.VALUE == "installed" else 0


        def track_working_tree_is_not_importable():
            try:
                import only_in_working_tree  # noqa: F401
            except ImportError:
                return 0
            return 1


        class Cached:
            def setup_cache(self):
                return Box(7)

            def track_cache(self, box):
                return box.n
        """,
    "benchmarks/nested/__init__.py": "",
    "benchmarks/nested/bench_inner.py": """
        from benchmarks.utils import helper

        from ..utils import helper2


        def track_nested():
            return helper() * 10 + helper2()
        """,
}


def test_suite_imports_itself_by_name_and_the_working_tree_stays_out(tmp_path):
    """`histbench dev` on a suite that imports itself absolutely and relatively, in a
    project whose working tree holds its own copy of the project package and whose
    environment has an installed `benchmarks` package too: the suite sees itself, and the
    project it imports is the installed one, never the working tree's."""
    site = tmp_path / "site"  # stands for the environment's site-packages
    write(site, {"demo_pkg/__init__.py": "VALUE = 'installed'\n",
                 "benchmarks/__init__.py": "WHO = 'an installed package of the same name'\n"})
    project = tmp_path / "proj"
    write(project, {"demo_pkg/__init__.py": "VALUE = 'working tree'\n",
                    "only_in_working_tree.py": "", **SUITE_IMPORTING_ITSELF})
    (project / "histbench.json").write_text(json.dumps(
        {"project": "demo", "benchmark_dir": str(project / "benchmarks"),
         "results_dir": str(tmp_path / "results")}))
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(site), env.get("PYTHONPATH", ""), str(Path(__file__).parent.parent)) if p)
    proc = subprocess.run([sys.executable, "-m", "histbench", "dev", "--quick", "--json"],
                          cwd=project, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    got = {r["name"]: (r["status"], [v for g in r["process_samples"] for v in g])
           for r in json.loads(proc.stdout)["results"]}
    assert got == {
        "bench_a.track_absolute": ("ok", [2.0]),
        "bench_a.track_relative": ("ok", [3.0]),
        "bench_a.track_package_is_the_suite": ("ok", [1.0]),
        "bench_a.track_project_is_the_installed_one": ("ok", [1.0]),
        "bench_a.track_working_tree_is_not_importable": ("ok", [0.0]),
        "bench_a.Cached.track_cache": ("ok", [7.0]),
        "nested.bench_inner.track_nested": ("ok", [23.0]),
    }


@pytest.mark.parametrize("folder, init, body, expected", [
    # no __init__.py: still a package of its own name, as asv's (namespace) import makes it
    ("benchmarks", False, "from benchmarks.utils import helper\n", 5.0),
    # not an identifier: asv uses it as it is; relative imports work
    ("asv-bench", True, "from .utils import helper\n", 5.0),
    # a name the worker has already imported (the standard library's): the suite falls back
    # to a private name, so json stays json; relative imports and benchmark names are kept
    ("json", True, "import json\n\nfrom .utils import helper\n\nassert json.dumps\n", 5.0),
])
def test_folder_names_and_layouts(tmp_path, folder, init, body, expected):
    suite_dir = tmp_path / "proj" / folder
    write(suite_dir, {"utils.py": "def helper():\n    return 5\n",
                      "bench_a.py": body + "\n\ndef track_x():\n    return helper()\n"})
    if init:
        (suite_dir / "__init__.py").write_text("")
    suite = discover(sys.executable, suite_dir)
    assert suite.errors == []
    assert [b.name for b in suite.benchmarks] == ["bench_a.track_x"]
    (tmp_path / "w").mkdir()
    penv = ProcessEnv(python=sys.executable, benchmark_dir=suite_dir, workdir=tmp_path / "w")
    assert values(run_suite(penv, suite.benchmarks, Settings.quick())) == {
        "bench_a.track_x": expected}


def test_a_broken_init_is_a_discovery_error_not_a_crash(tmp_path):
    write(tmp_path, {"benchmarks/__init__.py": "raise RuntimeError('broken init')\n",
                     "benchmarks/bench_a.py": "def time_x():\n    pass\n"})
    suite = discover(sys.executable, tmp_path / "benchmarks")
    assert suite.benchmarks == [] and "broken init" in suite.errors[0].error


# A suite using every source of `code` and `version` asv_runner knows: module and class
# setups (both count, module first, matched case-insensitively), setup_cache at module and
# class level, `version` on the function, the class or the module, params, timeraw with and
# without an `env`, track, decorators, inheritance, nested packages, comments and trailing
# blanks (lines are right-stripped) and `pretty_source`.
VERSION_SUITE = {
    "benchmarks/__init__.py": "",
    "benchmarks/bench_funcs.py": """
        import functools


        def setup():
            total = 0  # a comment: part of the source, so of the hash
            return total


        def time_plain():
            sum(range(10))   \n\n
            return None


        def time_params(n, kind):
            pass


        time_params.params = ([1, 10], ["a", "b"])
        time_params.param_names = ["n", "kind"]


        def track_value():
            return 42


        track_value.unit = "widgets"


        def timeraw_import():
            return "import json"


        def timeraw_with_env():
            return "import os", "x = 1"


        timeraw_with_env.env = {"HISTBENCH_X": 1, "A": "b"}


        def time_explicit():
            pass


        time_explicit.version = 3


        def mem_list():
            return [0] * 10


        def peakmem_alloc():
            bytearray(10)


        def _decorate(func):
            @functools.wraps(func)
            def wrapper(*args):
                return func(*args)
            return wrapper


        @_decorate
        def time_decorated():
            pass


        def time_pretty():
            pass


        time_pretty.pretty_source = "    shown instead of the source\\n"
        """,
    "benchmarks/bench_classes.py": """
        class Plain:
            def setup(self):
                self.data = list(range(10))

            def teardown(self):
                pass

            def time_sum(self):
                sum(self.data)

            def track_len(self):
                return len(self.data)


        class Params:
            params = [[1, 2], [True, False]]
            param_names = ["size", "flag"]

            def setup(self, size, flag):
                self.size = size

            def time_it(self, size, flag):
                pass

            def timeraw_it(self, size, flag):
                return "pass"


        class Versioned:
            version = "class-v1"

            def time_class_version(self):
                pass

            def time_own_version(self):
                pass

            time_own_version.version = "function-v2"


        class WithCache:
            def setup_cache(self):
                return [1]

            def setup(self, cache):
                self.cache = cache

            def time_a(self, cache):
                pass

            def track_b(self, cache):
                return 1


        class Base:
            def setup(self):
                pass

            def time_inherited(self):
                pass


        class Child(Base):
            def time_own(self):
                pass


        class CamelSetup:
            def setUp(self):
                pass

            def time_x(self):
                pass
        """,
    "benchmarks/bench_modcache.py": """
        def setup_cache():
            return 3


        def time_with_module_cache(c):
            pass


        class UsesModuleCache:
            def time_m(self, c):
                pass
        """,
    "benchmarks/nested/__init__.py": "",
    "benchmarks/nested/bench_deep.py": """
        version = "module-v"


        def time_module_version():
            pass


        class Inner:
            def time_inner(self):
                pass
        """,
    "benchmarks/nested/deeper/__init__.py": "",
    "benchmarks/nested/deeper/bench_deepest.py": """
        class Deepest:
            params = ["x", "y"]

            def track_deepest(self, p):
                return 1
        """,
}


def asv_discover(benchmark_dir: Path, tmp_path: Path) -> dict[str, dict]:
    """asv_runner's own discovery, as asv runs it (``discover DIR OUT``), in a fresh
    interpreter started away from the suite's parent folder."""
    pytest.importorskip("asv_runner")
    out = tmp_path / "asv.json"
    script = "import sys\nfrom asv_runner.discovery import _discover\n_discover(sys.argv[1:])\n"
    subprocess.run([sys.executable, "-c", script, str(benchmark_dir), str(out)], check=True,
                   cwd=tmp_path, capture_output=True, timeout=120)
    return {b["name"]: b for b in json.loads(out.read_text())}


def test_versions_and_code_equal_asv_runners(tmp_path):
    write(tmp_path / "proj", VERSION_SUITE)
    bench_dir = tmp_path / "proj" / "benchmarks"
    asv = asv_discover(bench_dir, tmp_path)
    suite = discover(sys.executable, bench_dir)
    assert suite.errors == []
    ours = {b.name: b for b in suite.benchmarks}
    # asv_runner discovers mem_ benchmarks only where pympler is installed
    unseen = set() if importlib.util.find_spec("pympler") else {"bench_funcs.mem_list"}
    assert set(ours) == set(asv) | unseen
    assert len(ours) == 27
    for name, theirs in asv.items():
        mine = ours[name]
        assert (name, mine.version) == (name, theirs["version"])
        assert (name, mine.code) == (name, theirs["code"])
        assert (name, mine.params, mine.param_names) == \
            (name, theirs["params"], theirs["param_names"])
    # the rule's pieces, spelled out on a few of them
    assert ours["bench_funcs.time_explicit"].version == "3"
    assert ours["bench_classes.Versioned.time_class_version"].version == "class-v1"
    assert ours["bench_classes.Versioned.time_own_version"].version == "function-v2"
    assert ours["nested.bench_deep.Inner.time_inner"].version == "module-v"
    plain = ours["bench_funcs.time_plain"]
    assert plain.version == hashlib.sha256(plain.code.encode()).hexdigest()
    assert plain.code.endswith("def setup():\n    total = 0  # a comment: part of the source,"
                               " so of the hash\n    return total")
    cached = ours["bench_classes.WithCache.time_a"].code
    assert cached.startswith("class WithCache:\n    def time_a(self, cache):")
    assert "def setup_cache(self):" in cached and "teardown" not in ours[
        "bench_classes.Plain.time_sum"].code


def test_a_version_follows_the_code_asv_hashes(tmp_path):
    """A teardown is not part of asv's version; a setup is."""
    suite_dir = tmp_path / "benchmarks"
    write(suite_dir, {"b.py": "def setup():\n    pass\n\n\ndef time_x():\n    pass\n"})
    before = discover(sys.executable, suite_dir).benchmarks[0].version
    (suite_dir / "b.py").write_text((suite_dir / "b.py").read_text()
                                    + "\n\ndef teardown():\n    pass\n")
    assert discover(sys.executable, suite_dir).benchmarks[0].version == before
    (suite_dir / "b.py").write_text((suite_dir / "b.py").read_text().replace(
        "def setup():\n    pass", "def setup():\n    return 1"))
    assert discover(sys.executable, suite_dir).benchmarks[0].version != before


def test_legacy_version_is_the_rule_histbench_used_before(tmp_path):
    """Results stored before the switch carry the old version; discovery reports it too, so
    that they can be matched to the benchmark they measured."""
    suite_dir = tmp_path / "benchmarks"
    write(suite_dir, {"b.py": "def setup():\n    pass\n\n\ndef time_x():\n    pass\n\n\n"
                              "def time_y():\n    pass\n\n\ntime_y.version = 'v9'\n"})
    by_name = {b.name: b for b in discover(sys.executable, suite_dir).benchmarks}
    old = hashlib.sha256(b"def time_x():\n    pass\n\ndef setup():\n    pass\n").hexdigest()
    assert by_name["b.time_x"].legacy_version == old != by_name["b.time_x"].version
    assert by_name["b.time_y"].legacy_version == by_name["b.time_y"].version == "v9"


def test_results_stored_under_the_old_version_rule_continue_the_history(toy_repo):
    """A result file written before versions became asv's carries the old hash: with the
    suite description's ``legacy_version`` it counts as the current version, so the
    series does not break at the upgrade (and a changed source still does)."""
    from toyrepo import ToyCommit

    from histbench.analysis.series import PointStatus, load_history
    from histbench.store import results

    repo, hashes = toy_repo([ToyCommit(), ToyCommit(work=30_000)])
    proc = subprocess.run([sys.executable, "-m", "histbench", "run", "main", "--machine", "m",
                           "--quick"], cwd=repo, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    info = results.load_benchmark_info(repo / "results")
    first = results.result_path(repo / "results", "m", hashes[0],
                                next((repo / "results" / "m").glob(f"{hashes[0][:12]}-*"))
                                .name[13:-5])
    data = json.loads(first.read_text())
    for r in data["results"]:  # as histbench wrote it before the upgrade
        r["version"] = info[r["name"]]["legacy_version"]
    first.write_text(json.dumps(data))
    history = load_history(repo / "results", "m")
    for series in history.series.values():
        assert [p.status for p in series.points] == [PointStatus.OK, PointStatus.OK]
    data["results"][0]["version"] = "0" * 64  # another source: a break, rightly
    first.write_text(json.dumps(data))
    history = load_history(repo / "results", "m")
    statuses = [[p.status for p in s.points] for s in history.series.values()]
    assert [PointStatus.OTHER_VERSION, PointStatus.OK] in statuses
