"""asv.conf.json carries over: read where there is no histbench.json (comments, matrix,
exclude/include, asv's command forms, conda mapped), written out by `histbench init`, and
kept out of asv's folders. Real files, real git histories and real `histbench` processes."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest
from conftest import FAST_ATTRS
from toyrepo import ToyCommit, make_repo

from histbench.core import asv_conf
from histbench.core.config import find_config, load_config
from histbench.core.errors import HistbenchError
from histbench.run.environments import EnvManager, distinct
from histbench.run.wheels import parse_template
from histbench.store import results


def histbench(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "histbench", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=900)


def write_asv(folder: Path, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "asv.conf.json"
    path.write_text(textwrap.dedent(text))
    return path


def quiet_load(path: Path):
    lines: list[str] = []
    return load_config(path, notes=lines.append), lines


def local_wheel(folder: Path, version: str, name: str = "hbdep") -> Path:
    """A real (tiny, pure) wheel, so that a matrix of versions needs no package index."""
    folder.mkdir(parents=True, exist_ok=True)
    info = f"{name}-{version}.dist-info"
    files = {f"{name}.py": f"VERSION = {version!r}\n",
             f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
             f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
                              "Tag: py3-none-any\n"}
    record = []
    for path, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest())
        record.append(f"{path},sha256={digest.rstrip(b'=').decode()},{len(text.encode())}")
    files[f"{info}/RECORD"] = "\n".join([*record, f"{info}/RECORD,,"]) + "\n"
    wheel = folder / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        for path, text in files.items():
            zf.writestr(path, text)
    return wheel


# -- reading ---------------------------------------------------------------------------------


COMMENTED = """\
{
    // The version of the config file format.  Do not change, unless
    // you know what you are doing.
    "version": 1,
    "project": "toypkg",
    "project_url": "https://example.com/toypkg", // a URL: its // is not a comment
    /* a block
       comment */
    "repo": ".",
    "branches": ["main"],   // for git
    "show_commit_url": "https://example.com/c/",
    "pythons": ["3.11",],
    "install_timeout": 600,
    "hash_length": 8,
    "build_cache_size": 2,
    "plugins": [],
    "default_benchmark_timeout": 120,
    "regressions_thresholds": {".*": 0.01, "slow_": 0.2,},
}
"""


def test_comments_and_trailing_commas_are_read(tmp_path):
    config, lines = quiet_load(write_asv(tmp_path, COMMENTED))
    assert config.project == "toypkg" and config.branches == ["main"]
    assert config.pythons == ["3.11"] and config.default_timeout == 120.0
    assert config.show_commit_url == "https://example.com/c/"
    # asv takes the largest matching threshold, from the start of the name
    assert config.threshold_for("slow_thing") == 0.2
    assert config.threshold_for("fast") == 0.01
    assert config.threshold_for("x.slow_thing") == 0.01
    assert lines[0].startswith("note: reading asv.conf.json")


def test_broken_asv_json_is_one_line_with_its_line(tmp_path):
    path = write_asv(tmp_path, '{\n  // fine\n  "project": "p"\n  "repo": "."\n}\n')
    with pytest.raises(HistbenchError, match=r"asv\.conf\.json: not valid JSON.*line 4"):
        load_config(path)


def test_unknown_keys_are_one_warning_line_not_an_error(tmp_path):
    write_asv(tmp_path, COMMENTED)
    proc = histbench(tmp_path, "init")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stderr.splitlines()
    assert lines[0].startswith("note: reading asv.conf.json")
    warnings = [ln for ln in lines if ln.startswith("warning:")]
    assert len(warnings) == 1
    for key in ("build_cache_size", "hash_length", "install_timeout", "plugins", "project_url"):
        assert key in warnings[0]
    assert lines[-1].startswith("wrote ")


def test_histbench_json_wins_and_asv_conf_is_found_without_it(tmp_path):
    write_asv(tmp_path, '{"project": "p", "results_dir": ".asv/r", "html_dir": ".asv/h"}')
    sub = tmp_path / "sub"
    sub.mkdir()
    assert find_config(sub) == tmp_path / "asv.conf.json"
    (tmp_path / "histbench.json").write_text('{"project": "p"}')
    assert find_config(sub) == tmp_path / "histbench.json"


def test_conda_runs_as_virtualenv_with_a_warning_naming_what_is_lost(tmp_path):
    config, lines = quiet_load(write_asv(tmp_path, """\
        {"project": "p", "environment_type": "conda",
         "conda_channels": ["conda-forge"], "conda_environment_file": "environment.yml",
         "matrix": {"req": {"six": ["1.16.0"]}},
         "exclude": [{"environment_type": "conda", "req": {"six": "1.16.0"}},
                     {"environment_type": "virtualenv"}],
         "include": [{"python": "3.11", "environment_type": "conda", "req": {"six": "1.15.0"}},
                     {"python": "3.11", "environment_type": "mamba", "req": {"six": "1.1"}}]}
        """))
    assert config.environment_type == "virtualenv"
    [warning] = [ln for ln in lines if ln.startswith("warning:")]
    for lost in ("'conda'", "virtualenv", "PyPI", "non-Python conda packages",
                 "conda_channels", "conda_environment_file"):
        assert lost in warning
    # rules on environment_type are decided against asv's type: conda
    assert config.exclude == [{"req": {"six": "1.16.0"}}]
    assert config.include == [{"python": "3.11", "req": {"six": "1.15.0"}}]
    combos = config.combinations(["3.11"])
    assert [dict(c.requirements) for c in combos] == [{"six": "==1.15.0"}]


@pytest.mark.parametrize("text, words", [
    ('{"project": "p", "dvcs": "hg"}', "'dvcs'"),
    ('{"project": "p", "repo_subdir": "python"}', "'repo_subdir'"),
    ('{"project": "p", "environment_type": "existing"}', "'environment_type'"),
    ('{"project": "p", "matrix": {"req": {}, "foo": {}}}', "'matrix'"),
    ('{"project": "p", "include": [{"req": {"six": "1"}}]}', "'include'"),
    ('{"project": "p", "exclude": [{"python": "("}]}', "'exclude'"),
    ('{"project": "p", "build_command": ["python {nope}"]}', "'build_command'"),
    ('{"project": "p", "install_command": ["return-code=x pip install {wheel_file}"]}',
     "'install_command'"),
])
def test_what_histbench_cannot_honour_is_one_line(tmp_path, text, words):
    path = write_asv(tmp_path, text)
    with pytest.raises(HistbenchError) as info:
        quiet_load(path)
    assert str(path) in str(info.value) and words in str(info.value)
    assert "\n" not in str(info.value)


# -- the matrix ------------------------------------------------------------------------------


def test_matrix_exclude_include_as_asv_makes_them(tmp_path):
    config, _ = quiet_load(write_asv(tmp_path, """\
        {"project": "p", "pythons": ["3.10", "3.11"],
         "matrix": {"req": {"six": ["1.16.0", "1.15.0"], "attrs": ["", null]},
                    "env": {"FOO": ["1", null]}, "env_nobuild": {"BAR": "x"}},
         "exclude": [{"python": "3.10", "req": {"six": "1.15.0"}},
                     {"python": "3.1.", "req": {"attrs": null}, "env": {"FOO": null}},
                     {"sys_platform": "(?!linux).*", "env": {"FOO": "1"}}],
         "include": [{"python": "3.12", "req": {"six": ">=1.10"}, "env_nobuild": {"BAR": "y"}},
                     {"python": "3.12", "sys_platform": "win32", "req": {"six": "1.0"}}]}
        """))

    def show(c):
        return (c.python, dict(c.requirements), dict(c.env_vars), dict(c.build_env_vars))

    found = [show(c) for c in config.combinations(platform="linux")]
    reqs = {"3.10": [], "3.11": []}
    for python, req, env, build in found[:-1]:
        reqs[python].append((req["six"], req["attrs"], env.get("FOO")))
        assert env["BAR"] == "x" and "BAR" not in build  # env_nobuild: not for builds
        assert build == ({"FOO": env["FOO"]} if "FOO" in env else {})
    assert sorted(reqs["3.10"], key=str) == sorted([
        ("==1.16.0", "", "1"), ("==1.16.0", "", None), ("==1.16.0", None, "1")], key=str)
    assert len(reqs["3.11"]) == 6  # 2 x 2 x 2, less (attrs null, FOO null) for each six
    assert found[-1] == ("3.12", {"six": ">=1.10"}, {"BAR": "y"}, {})
    # on another platform the FOO=1 rule excludes, and the win32 include applies
    elsewhere = [show(c) for c in config.combinations(platform="win32")]
    assert all(env.get("FOO") != "1" for _, _, env, _ in elsewhere[:-2])
    assert elsewhere[-1] == ("3.12", {"six": "==1.0"}, {}, {})


def test_old_flat_matrix_and_requirement_forms(tmp_path):
    wheel = local_wheel(tmp_path / "w", "1.0")
    config, _ = quiet_load(write_asv(tmp_path, json.dumps({
        "project": "p", "pythons": ["3.11"],
        "matrix": {"pip+six": [], "numpy": ["1.26", ">=2"],
                   "dep": [str(wheel), "https://example.com/dep-2.0-py3-none-any.whl"]}})))
    assert config.matrix == {"req": {"pip+six": [""], "numpy": ["1.26", ">=2"],
                                     "dep": [str(wheel),
                                             "https://example.com/dep-2.0-py3-none-any.whl"]}}
    specs = {tuple(sorted(dict(c.requirements).items())) for c in config.combinations()}
    assert (("dep", f" @ {wheel.as_uri()}"), ("numpy", "==1.26"), ("six", "")) in specs
    assert len(specs) == 4


def test_environment_names_are_distinct_and_carry_the_variables(tmp_path):
    manager = EnvManager(tmp_path / "envs")
    python = f"{sys.version_info[0]}.{sys.version_info[1]}"
    wheel = (tmp_path / "dep-1.0-py3-none-any.whl").as_uri()
    made = [manager.environment(python, {"six": "<2"}),
            manager.environment(python, {"six": ">=2"}),
            manager.environment(python, {"six": ">=2"}),
            manager.environment(python, {}, env_vars={"FOO": "1", "BAR": "a b"},
                                build_env_vars={"FOO": "1"}),
            manager.environment(python, {}, env_vars={"FOO": "1", "BAR": "ab"},
                                build_env_vars={"FOO": "1"}),
            manager.environment(python, {"dep": f" @ {wheel}"})]
    envs = distinct(made)
    assert len(envs) == 5
    names = [e.name for e in envs]
    assert len(set(names)) == 5 and all("/" not in n for n in names)
    assert len({e.path for e in envs[:2]}) == 2  # different packages, different folders
    assert names[2].startswith(f"virtualenv-py{python}-BARab~") and names[2].endswith("FOO1")
    assert names[3] == f"virtualenv-py{python}-BARab-FOO1"
    assert envs[2].path == envs[3].path  # variables only: one virtualenv
    assert envs[2].build_key == envs[3].build_key != f"py{python}"
    assert names[4] == f"virtualenv-py{python}-dep1.0"
    assert envs[2].worker_env(None)["BAR"] == "a b"
    assert "BAR" not in envs[2].worker_env(None, build=True)


# -- commands --------------------------------------------------------------------------------


def test_command_prefixes_as_asv_reads_them():
    values = {"build_dir": "/b", "build_cache_dir": "/c", "env_dir": "/e"}
    command = parse_template("in-dir={env_dir} A=1 return-code=0,3 B='x y' python -m pip "
                             "wheel -w {build_cache_dir} {build_dir} C=2", values)
    assert command.argv == ["python", "-m", "pip", "wheel", "-w", "/c", "/b", "C=2"]
    assert command.variables == {"A": "1", "B": "x y"}
    assert command.codes == {0, 3} and command.in_dir == "/e"
    assert parse_template("return-code=any true", values).codes is None
    assert parse_template("true", values).codes == {0}


BAD_PREFIXES = ["in-dir=a in-dir=b true", "return-code=0 A=1 return-code=1 true",
                "return-code=x true", "return-code= true", "return-code=1,,2 true",
                "return-code=-1 true", "A=1", "in-dir=x return-code=any"]


@pytest.mark.parametrize("bad", [*BAD_PREFIXES, "echo {nope}"])
def test_bad_command_prefixes_are_refused_when_run(bad):
    values = {"build_dir": "/b", "build_cache_dir": "/c", "env_dir": "/e"}
    with pytest.raises(HistbenchError, match="^command '"):
        parse_template(bad, values)


@pytest.mark.parametrize("bad", BAD_PREFIXES)
@pytest.mark.parametrize("key", ["build_command", "install_command"])
def test_a_config_whose_commands_the_runner_would_refuse_does_not_load(tmp_path, bad, key):
    """The load-time check reads prefixes as the runner does: a config that loads never
    fails on its own commands half-way through a run."""
    commands = {"build_command": ["python -m build"], "install_command": ["pip install x"],
                key: [bad]}
    path = tmp_path / "histbench.json"
    path.write_text(json.dumps({"project": "p", **commands}))
    with pytest.raises(HistbenchError, match=f"{key}.*command '") as caught:
        load_config(path)
    assert "\n" not in str(caught.value)


def test_stock_commands_become_histbenchs_own(tmp_path):
    config, _ = quiet_load(write_asv(tmp_path, """\
        {"project": "p",
         "build_command": ["PIP_NO_BUILD_ISOLATION=0 python -m build",
                           "python -mpip wheel -w {build_cache_dir} {build_dir}"],
         "install_command": ["in-dir={env_dir} python -mpip install {wheel_file} --upgrade"],
         "uninstall_command": ["return-code=any python -mpip uninstall -y {project}"]}
        """))
    assert config.build_command == config.install_command == config.uninstall_command == []
    for old in (["python setup.py build", "PIP_NO_BUILD_ISOLATION=false python -mpip wheel "
                 "--no-deps --no-index -w {build_cache_dir} {build_dir}"],
                ["python -m build", "python -mpip wheel -w {build_cache_dir} {build_dir}"]):
        assert asv_conf.is_stock_build(old)
    assert not asv_conf.is_stock_build(["python -m build --wheel -o {build_cache_dir}"])
    assert not asv_conf.is_stock_install(["python -mpip install -e {build_dir}"])


# -- folders ---------------------------------------------------------------------------------


def test_a_results_or_html_dir_shared_with_asv_is_refused_in_one_line(tmp_path):
    write_asv(tmp_path, '{"project": "p"}')  # asv's defaults: results/, html/, env/
    (tmp_path / "histbench.json").write_text('{"project": "p"}')
    proc = histbench(tmp_path, "regressions")
    assert proc.returncode == 1
    [line] = proc.stderr.splitlines()
    assert "results_dir results is asv's results_dir" in line
    assert '"histbench-results"' in line

    (tmp_path / "histbench.json").write_text(
        '{"project": "p", "results_dir": "r", "html_dir": "html/hb"}')
    with pytest.raises(HistbenchError, match="html_dir html/hb is inside asv's html_dir html"
                                             ".*\"histbench-html\""):
        load_config(tmp_path / "histbench.json")

    (tmp_path / "histbench.json").write_text('{"project": "p", "results_dir": "r", '
                                             '"html_dir": "h", "env_dir": "env"}')
    with pytest.raises(HistbenchError, match="env_dir env is asv's env_dir"):
        load_config(tmp_path / "histbench.json")


def test_reading_asv_conf_histbench_keeps_its_own_folders(tmp_path):
    config, _ = quiet_load(write_asv(tmp_path, '{"project": "p", "env_dir": ".asv/env"}'))
    assert config.results_dir == tmp_path / "histbench-results"
    assert config.html_dir == tmp_path / "histbench-html"
    assert config.env_dir == tmp_path / ".histbench"
    # an asv config whose own folder is histbench's default is refused, init suggested
    path = write_asv(tmp_path, '{"project": "p", "results_dir": "histbench-results"}')
    with pytest.raises(HistbenchError, match=r"run `histbench init` and set results_dir.*"
                                             r"histbench-results-2"):
        quiet_load(path)


# -- init ------------------------------------------------------------------------------------


FULL = """\
{
    "version": 1,
    "project": "toypkg",
    "project_url": "https://example.com",  // ignored
    "repo": ".",
    "branches": ["main"],
    "environment_type": "mamba",
    "pythons": ["3.11"],
    "matrix": {"req": {"six": ["1.16.0", "1.15.0"], "attrs": [null, ""]},
               "env": {"FOO": ["1", "2"]}, "env_nobuild": {"BAR": "x"}},
    "exclude": [{"req": {"six": "1.15.0"}, "env": {"FOO": "2"}}],
    "include": [{"python": "3.11", "req": {"six": "1.10.0"}}],
    "build_command": ["in-dir={conf_dir} A=1 python tools/build.py {build_cache_dir}"],
    "install_command": ["in-dir={env_dir} python -mpip install --no-index {wheel_file}"],
    "default_benchmark_timeout": 30,
    "regressions_thresholds": {"a": 0.1, "b": 0.3},
    "results_dir": ".asv/results", "html_dir": ".asv/html", "env_dir": ".asv/env",
}
"""


def test_init_writes_the_histbench_json_that_loads_to_the_same_config(tmp_path):
    asv_path = write_asv(tmp_path, FULL)
    proc = histbench(tmp_path, "init")
    assert proc.returncode == 0, proc.stderr
    written = json.loads((tmp_path / "histbench.json").read_text())
    assert written["uninstall_command"] == [asv_conf.ASV_UNINSTALL]
    assert written["results_dir"] == "histbench-results"
    from_asv, _ = quiet_load(asv_path)
    from_init = load_config(tmp_path / "histbench.json")
    assert dataclasses.replace(from_asv, path=from_init.path) == from_init
    # the uninstall runs first, in the env's folder, as asv runs it
    assert from_init.install_command == [f"in-dir={{env_dir}} {asv_conf.ASV_UNINSTALL}",
                                         *written["install_command"]]
    # histbench.json found first now: no note about asv.conf.json
    again = histbench(tmp_path, "init")
    assert again.returncode == 1 and "exists already" in again.stderr
    assert "note:" not in again.stderr
    assert histbench(tmp_path, "init", "--force").returncode == 0


def test_init_without_asv_conf_writes_the_smallest_config(tmp_path):
    proc = histbench(tmp_path, "init")
    assert proc.returncode == 0, proc.stderr
    assert json.loads((tmp_path / "histbench.json").read_text()) == {"project": tmp_path.name}


# -- runs ------------------------------------------------------------------------------------


BENCH_MATRIX = """\
import os


def track_dep():
    import hbdep
    return float(hbdep.VERSION)


def track_foo():
    return int(os.environ.get("HB_FOO", "0"))


def track_bar():
    return int(os.environ.get("HB_BAR", "0"))
"""

# a build step that leaves a trace: where it ran, and which variables it saw
TRACE = ("in-dir={conf_dir} HB_MARK=hello python -c \"import os; open('built-' + "
         "os.environ['HB_MARK'], 'a').write(os.getcwd() + ' ' + os.environ['HB_FOO'] + ' ' + "
         "os.environ.get('HB_BAR', '-') + chr(10))\"")


def asv_repo(tmp_path: Path, commits: list[ToyCommit], conf: dict) -> tuple[Path, list[str]]:
    """A toy repo driven by its asv.conf.json alone (make_repo's histbench.json removed)."""
    repo = tmp_path / "repo"
    hashes = make_repo(repo, commits, asv=True, bench_attrs=FAST_ATTRS)
    (repo / "histbench.json").unlink()
    base = json.loads((repo / "asv.conf.json").read_text())
    text = json.dumps({**base, **conf}, indent=4)
    (repo / "asv.conf.json").write_text("// asv's config, with comments\n" + text.replace(
        '"version": 1,', '"version": 1,  // the format\n    "project_url": "https://x.org",'))
    return repo, hashes


def values(folder: Path, sha: str) -> dict[str, dict[str, float]]:
    return {run.env_name: {r.name: r.samples[0] for r in run.results
                           if r.name.startswith(("bench_matrix", "bench_toy.track"))}
            for run in results.load_machine_results(folder, "m") if run.commit.hash == sha}


def test_a_run_driven_by_asv_conf_json_alone(tmp_path):
    """A matrix of two versions of a package and a build/benchmark variable, one exclude,
    a custom build with in-dir= and VAR=value; asv's folders untouched."""
    old, new = local_wheel(tmp_path / "wheels", "1.0"), local_wheel(tmp_path / "wheels", "2.0")
    repo, hashes = asv_repo(tmp_path, [ToyCommit(work=1000)], {
        "matrix": {"req": {"hbdep": [str(old), str(new)]}, "env": {"HB_FOO": ["1", "2"]},
                   "env_nobuild": {"HB_BAR": ["7"]}},
        "exclude": [{"req": {"hbdep": ".*-2[.]0-.*"}, "env": {"HB_FOO": "2"}}],
        "build_command": [TRACE, "PIP_NO_BUILD_ISOLATION=false python -mpip wheel --no-deps "
                                 "--no-index --no-build-isolation -w {build_cache_dir} "
                                 "{build_dir}"]})
    (repo / "benchmarks" / "bench_matrix.py").write_text(BENCH_MATRIX)
    proc = histbench(repo, "run", "main", "--machine", "m")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stderr.splitlines()
    assert lines[0].startswith("note: reading asv.conf.json")
    assert config_warnings(lines) == [
        "warning: asv.conf.json: ignored, no meaning to histbench: project_url"]
    v = f"{sys.version_info[0]}.{sys.version_info[1]}"
    assert values(repo / "histbench-results", hashes[0]) == {
        f"virtualenv-py{v}-hbdep1.0-HB_BAR7-HB_FOO1": {
            "bench_matrix.track_dep": 1.0, "bench_matrix.track_foo": 1.0,
            "bench_matrix.track_bar": 7.0, "bench_toy.track_work": 1000.0},
        f"virtualenv-py{v}-hbdep1.0-HB_BAR7-HB_FOO2": {
            "bench_matrix.track_dep": 1.0, "bench_matrix.track_foo": 2.0,
            "bench_matrix.track_bar": 7.0, "bench_toy.track_work": 1000.0},
        f"virtualenv-py{v}-hbdep2.0-HB_BAR7-HB_FOO1": {
            "bench_matrix.track_dep": 2.0, "bench_matrix.track_foo": 1.0,
            "bench_matrix.track_bar": 7.0, "bench_toy.track_work": 1000.0},
    }
    # built once per value of the build variable (the hbdep 2.0 env reused HB_FOO=1's
    # wheel), in the config's folder, with HB_BAR (env_nobuild) not set
    trace = sorted((repo / "built-hello").read_text().splitlines())
    assert trace == [f"{repo} 1 -", f"{repo} 2 -"]
    assert not (repo / ".asv").exists() and not (repo / "results").exists()


def config_warnings(lines: list[str]) -> list[str]:
    """The warning lines of a run but the machine's own (load, governor, turbo: whatever
    the machine is doing then, store/machine.py), which no test can count on."""
    from histbench.store.machine import collect

    machine = set(f"warning: {w}" for w in collect("probe").noise_warnings())
    return [ln for ln in lines if ln.startswith("warning:") and ln not in machine
            and "load average" not in ln]


def test_a_custom_install_under_conda_installs_every_commit(tmp_path):
    """environment_type conda, run as virtualenv; an install_command of its own installs
    into the environment, asv's uninstall first, so each commit is really measured."""
    repo, hashes = asv_repo(tmp_path, [ToyCommit(work=1000), ToyCommit(work=3000)], {
        "environment_type": "conda", "conda_channels": ["conda-forge"],
        "install_command": ["in-dir={env_dir} return-code=0 python -mpip install --no-index "
                            "--no-deps {wheel_file}"]})
    proc = histbench(repo, "run", "main", "--machine", "m")
    assert proc.returncode == 0, proc.stderr
    [warning, ignored] = config_warnings(proc.stderr.splitlines())
    assert "'conda' runs as 'virtualenv'" in warning and "conda_channels" in warning
    assert ignored.endswith("project_url")
    # the older commit has the same version number: pip alone would keep the newer one
    proc = histbench(repo, "run", "main~1", "--machine", "m")
    assert proc.returncode == 0, proc.stderr
    env = f"virtualenv-py{sys.version_info[0]}.{sys.version_info[1]}"
    for sha, work in zip(hashes, (1000, 3000), strict=True):
        assert values(repo / "histbench-results", sha) == {
            env: {"bench_toy.track_work": float(work)}}
