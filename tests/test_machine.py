"""Machine records: results from different machines must never share a folder."""

from __future__ import annotations

import json
import os
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from histbench.core.errors import HistbenchError
from histbench.store import machine
from histbench.store.machine import MachineRecord

CPUINFO = """\
processor\t: 0
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R) CPU E5-2680 v4 @ 2.40GHz
flags\t\t: fpu vme

processor\t: 1
model name\t: Intel(R) Xeon(R) CPU E5-2680 v4 @ 2.40GHz
"""

MEMINFO = """\
MemTotal:        8048572 kB
MemFree:         1234567 kB
"""


def make_tree(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


@pytest.fixture
def fake_root(tmp_path: Path) -> Path:
    return make_tree(
        tmp_path / "root",
        {
            "proc/cpuinfo": CPUINFO,
            "proc/meminfo": MEMINFO,
            "proc/sys/kernel/randomize_va_space": "2\n",
            "sys/devices/system/cpu/cpu0/cpufreq/scaling_governor": "powersave\n",
            "sys/devices/system/cpu/intel_pstate/no_turbo": "0\n",
            "sys/devices/system/cpu/isolated": "\n",
        },
    )


def record(**changes) -> MachineRecord:
    base = MachineRecord(
        name="box",
        os="Linux 6.1.0-18-amd64",
        arch="x86_64",
        cpu="Intel(R) Xeon(R) CPU E5-2680 v4 @ 2.40GHz",
        cores=2,
        ram_bytes=8 * 1024**3,
        python="3.11.7",
        python_implementation="CPython",
        cpu_governor="performance",
        turbo=False,
        load_average=(0.1, 0.2, 0.3),
        isolated_cpus=None,
        aslr=2,
    )
    return replace(base, **changes)


def one_line_error(excinfo: pytest.ExceptionInfo, path: Path) -> str:
    message = str(excinfo.value)
    assert "\n" not in message
    assert str(path) in message
    return message


# ----------------------------------------------------------------------------- collect


def test_collect_live_machine_is_sane():
    rec = machine.collect()
    assert rec.cores >= 1
    assert rec.ram_bytes > 0
    v = sys.version_info
    assert rec.python.startswith(f"{v.major}.{v.minor}.{v.micro}")
    assert rec.python_implementation
    assert rec.cpu and rec.arch and rec.os
    machine.validate_name(rec.name)
    json.dumps(rec.to_dict(), allow_nan=False)
    assert "cores" in machine.format_record(rec)


def test_collect_reads_fake_tree(fake_root, monkeypatch):
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    monkeypatch.setattr(os, "getloadavg", lambda: (3.0, 2.0, 1.0))
    rec = machine.collect("bench-1", sys_root=str(fake_root))
    assert rec.name == "bench-1"
    assert rec.cpu == "Intel(R) Xeon(R) CPU E5-2680 v4 @ 2.40GHz"
    assert rec.ram_bytes == 8048572 * 1024
    assert rec.cpu_governor == "powersave"
    assert rec.turbo is True
    assert rec.isolated_cpus is None
    assert rec.aslr == 2
    assert rec.cores == 2
    assert rec.load_average == (3.0, 2.0, 1.0)
    warnings = rec.noise_warnings()
    assert any("high load average 3.0 on 2 cores" in w for w in warnings)
    assert any("powersave" in w for w in warnings)
    assert any("turbo" in w for w in warnings)
    assert not any("aslr" in w.lower() for w in warnings)
    text = machine.format_record(rec)
    assert "warning: high load average 3.0 on 2 cores: results will be noisy" in text
    assert "7.7 GiB" in text


def test_low_load_gives_no_load_warning(fake_root, monkeypatch):
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    monkeypatch.setattr(os, "getloadavg", lambda: (0.1, 0.1, 0.1))
    rec = machine.collect("bench-1", sys_root=str(fake_root))
    assert not any("load average" in w for w in rec.noise_warnings())


def test_collect_tolerates_empty_tree(tmp_path, monkeypatch):
    def no_loadavg():
        raise OSError("unavailable")

    monkeypatch.setattr(os, "getloadavg", no_loadavg)
    rec = machine.collect("x", sys_root=str(tmp_path))
    assert rec.cpu_governor is None
    assert rec.turbo is None
    assert rec.load_average is None
    assert rec.isolated_cpus is None
    assert rec.aslr is None
    assert rec.cpu  # platform fallback or "unknown"
    assert rec.noise_warnings() == []
    assert "governor  unknown" in machine.format_record(rec)


def test_turbo_from_boost_and_no_turbo(tmp_path):
    off = make_tree(tmp_path / "a", {"sys/devices/system/cpu/intel_pstate/no_turbo": "1\n"})
    assert machine.collect("x", sys_root=str(off)).turbo is False
    boost = make_tree(tmp_path / "b", {"sys/devices/system/cpu/cpufreq/boost": "1\n"})
    assert machine.collect("x", sys_root=str(boost)).turbo is True


def test_isolated_cpus_read(tmp_path):
    root = make_tree(tmp_path, {"sys/devices/system/cpu/isolated": "2-3\n"})
    assert machine.collect("x", sys_root=str(root)).isolated_cpus == "2-3"


# ----------------------------------------------------------------------------- identity


def test_identity_ignores_noise_factors():
    a = record()
    b = record(load_average=(9.0, 9.0, 9.0), cpu_governor="powersave", turbo=True, aslr=0)
    assert a.same_machine(b)
    assert not a.same_machine(record(cpu="AMD EPYC 7763"))
    assert not a.same_machine(record(cores=4))
    assert set(a.identity()) == {"name", "os", "arch", "cpu", "cores", "ram_bytes"}


def test_dict_round_trip_is_strict_json():
    rec = record()
    data = rec.to_dict()
    assert data["load_average"] == [0.1, 0.2, 0.3]
    assert MachineRecord.from_dict(json.loads(json.dumps(data, allow_nan=False))) == rec


def test_from_dict_tolerates_missing_optional_fields():
    data = record().to_dict()
    for key in ("cpu_governor", "turbo", "load_average", "isolated_cpus", "aslr",
                "schema_version"):
        del data[key]
    rec = MachineRecord.from_dict(data)
    assert rec.turbo is None and rec.load_average is None and rec.schema_version == 1


@pytest.mark.parametrize(
    "key, value",
    [("cores", "2"), ("cores", True), ("cpu", 5), ("turbo", "yes"),
     ("load_average", [1, 2]), ("ram_bytes", 1.5), ("schema_version", 99)],
)
def test_from_dict_rejects_wrong_types(key, value):
    data = record().to_dict()
    data[key] = value
    with pytest.raises(HistbenchError):
        MachineRecord.from_dict(data)


# ----------------------------------------------------------------------------- names


@pytest.mark.parametrize("name", ["../evil", "a/b", "..", ".", "", "a b", "x\ny"])
def test_bad_names_rejected(name, tmp_path):
    with pytest.raises(HistbenchError):
        machine.collect(name, sys_root=str(tmp_path))
    with pytest.raises(HistbenchError):
        record(name=name)


def test_bad_name_in_file_rejected(tmp_path):
    path = tmp_path / "machine.json"
    path.write_text(json.dumps({**record().to_dict(), "name": "../evil"}))
    with pytest.raises(HistbenchError) as excinfo:
        machine.load(path)
    one_line_error(excinfo, path)


def test_default_name_is_folder_safe(monkeypatch, tmp_path):
    monkeypatch.setattr(machine.socket, "gethostname", lambda: "my host/with:odd")
    assert machine.collect(sys_root=str(tmp_path)).name == "my_host_with_odd"
    monkeypatch.setattr(machine.socket, "gethostname", lambda: "..")
    assert machine.collect(sys_root=str(tmp_path)).name == "unknown-host"


# ----------------------------------------------------------------------------- storage


def test_save_load_round_trip(tmp_path):
    rec = record()
    path = machine.save(rec, tmp_path / "results")
    assert path == tmp_path / "results" / "box" / "machine.json"
    assert machine.load(path) == rec
    assert os.listdir(path.parent) == ["machine.json"]
    text = path.read_text()
    assert json.loads(text) == rec.to_dict()
    assert text.startswith('{\n  "')  # indent=2, sort_keys
    assert list(json.loads(text)) == sorted(rec.to_dict())


def test_save_refuses_different_machine(tmp_path):
    results = tmp_path / "results"
    path = machine.save(record(), results)
    with pytest.raises(HistbenchError) as excinfo:
        machine.save(record(cpu="AMD EPYC 7763"), results)
    message = one_line_error(excinfo, path)
    assert "different machine" in message and "AMD EPYC 7763" in message
    assert "--machine" in message
    assert machine.load(path).cpu == record().cpu  # untouched


def test_save_same_machine_overwrites_noise(tmp_path):
    results = tmp_path / "results"
    machine.save(record(), results)
    path = machine.save(record(load_average=(5.0, 4.0, 3.0), turbo=True), results)
    loaded = machine.load(path)
    assert loaded.load_average == (5.0, 4.0, 3.0) and loaded.turbo is True
    assert os.listdir(path.parent) == ["machine.json"]


def test_save_over_corrupt_record_raises(tmp_path):
    path = tmp_path / "box" / "machine.json"
    path.parent.mkdir()
    path.write_text("{oops")
    with pytest.raises(HistbenchError) as excinfo:
        machine.save(record(), tmp_path)
    one_line_error(excinfo, path)


def test_failed_write_leaves_no_temp_file(tmp_path, monkeypatch):
    def boom(*args):
        raise OSError("disk full")

    monkeypatch.setattr(machine.os, "replace", boom)
    with pytest.raises(OSError):
        machine.save(record(), tmp_path)
    assert os.listdir(tmp_path / "box") == []


@pytest.mark.parametrize(
    "text, expected",
    [
        ('{\n  "name": "box",\n  oops\n}', "not valid JSON (line 3: "),
        ("[1, 2]", "not a histbench machine record"),
        ('{"foo": 1}', "not a histbench machine record (missing 'name')"),
        ("null", "not a histbench machine record"),
        ("", "not valid JSON"),
    ],
)
def test_load_bad_files(tmp_path, text, expected):
    path = tmp_path / "machine.json"
    path.write_text(text)
    with pytest.raises(HistbenchError) as excinfo:
        machine.load(path)
    message = one_line_error(excinfo, path)
    assert message.startswith(f"{path}: ")
    assert expected in message


def test_load_missing_cpu_named(tmp_path):
    data = record().to_dict()
    del data["cpu"]
    path = tmp_path / "machine.json"
    path.write_text(json.dumps(data))
    with pytest.raises(HistbenchError, match=r"missing 'cpu'"):
        machine.load(path)


def test_load_missing_and_binary_files(tmp_path):
    missing = tmp_path / "nope.json"
    with pytest.raises(HistbenchError) as excinfo:
        machine.load(missing)
    one_line_error(excinfo, missing)
    binary = tmp_path / "bin.json"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(HistbenchError) as excinfo:
        machine.load(binary)
    one_line_error(excinfo, binary)


def test_list_machines(tmp_path):
    results = tmp_path / "results"
    assert machine.list_machines(results) == []
    machine.save(record(name="zeta"), results)
    machine.save(record(name="alpha", cpu="AMD EPYC 7763"), results)
    (results / "no-record").mkdir()
    (results / "stray.json").write_text("{}")
    assert [r.name for r in machine.list_machines(results)] == ["alpha", "zeta"]
    bad = results / "broken" / "machine.json"
    bad.parent.mkdir()
    bad.write_text("[1,2]")
    with pytest.raises(HistbenchError) as excinfo:
        machine.list_machines(results)
    one_line_error(excinfo, bad)
