"""Pure helpers of the comparison benchmark: limits, timing, scoring, tables.

Nothing here imports a tool under test. :func:`run_step` runs one command
in a child process under a memory cap and a timeout and returns its
wall seconds, peak resident memory and outcome; :func:`classify_failure`
turns a failed child into "out of memory", "timeout" or "error: ...";
:func:`ratio` and :func:`format_table` make the side-by-side table.
"""
import json
import os
import platform
import re
import resource
import signal
import subprocess
import time
from dataclasses import asdict, dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

GiB = 1024**3

# stderr fragments that mean the child ran out of memory (Python, NumPy,
# SciPy, PyTorch, C++, XLA, HDF5, glibc).
_OOM_PATTERNS = [
    r"\bMemoryError\b",
    r"Unable to allocate",
    r"can't allocate memory",
    r"Cannot allocate memory",
    r"std::bad_alloc",
    r"\bout of memory\b",
    r"RESOURCE_EXHAUSTED",
    r"Out of memory",
    r"failed to allocate",
    r"OOM when allocating",
    r"mmap failed",
    r"failed to map segment",
    r"cannot allocate",
]
_OOM_RE = re.compile("|".join(_OOM_PATTERNS), re.IGNORECASE)


@dataclass
class StepResult:
    """Outcome of one fit or predict step run in a child process."""

    status: str  # "ok", "out of memory", "timeout", "error: ..."
    wall_s: float
    peak_rss_bytes: int
    returncode: Optional[int]
    command: List[str] = field(default_factory=list)
    stderr_tail: str = ""
    peak_virtual_bytes: int = 0  # sampled; what the backstop limits

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def to_dict(self) -> dict:
        return asdict(self)


def classify_failure(returncode: Optional[int],
                     stderr: str,
                     timed_out: bool,
                     peak_rss_bytes: int = 0,
                     memory_limit_bytes: Optional[int] = None) -> str:
    """Name why a child failed: "ok", "timeout", "out of memory" or "error: ...".

    A child killed by the harness's timeout is a timeout whatever it printed.
    Otherwise a MemoryError-like message on stderr, a SIGKILL (the kernel's
    OOM killer), or a crash (SIGABRT/SIGSEGV) with peak memory near the cap
    is "out of memory". Any other non-zero exit is "error: <last stderr
    line>".

    >>> classify_failure(0, "", False)
    'ok'
    >>> classify_failure(-9, "", True)
    'timeout'
    >>> classify_failure(1, "numpy.core._exceptions._ArrayMemoryError: "
    ...                  "Unable to allocate 8.0 GiB", False)
    'out of memory'
    >>> classify_failure(-9, "", False)
    'out of memory'
    >>> classify_failure(1, "Traceback\\nValueError: bad gene names\\n", False)
    'error: ValueError: bad gene names'
    """
    if timed_out:
        return "timeout"
    if returncode == 0:
        return "ok"
    if _OOM_RE.search(stderr or ""):
        return "out of memory"
    if returncode is not None and returncode == -signal.SIGKILL:
        return "out of memory"
    if (returncode is not None and
            returncode in (-signal.SIGABRT, -signal.SIGSEGV, -signal.SIGBUS) and
            memory_limit_bytes and peak_rss_bytes > 0.9 * memory_limit_bytes):
        return "out of memory"
    lines = [l.strip() for l in (stderr or "").splitlines() if l.strip()]
    last = lines[-1] if lines else "exit code %s" % returncode
    if len(last) > 160:
        last = last[:157] + "..."
    return "error: " + last


def _limit_memory(limit_bytes: Optional[int]):
    """A preexec_fn: cap the child's address space, in its own session."""

    def preexec() -> None:
        if limit_bytes:
            resource.setrlimit(resource.RLIMIT_AS, (limit_bytes, limit_bytes))

    return preexec


def _tree_memory(pgid: int) -> Tuple[int, int]:
    """(resident, virtual) bytes of the live processes in group ``pgid``."""
    total = virtual = 0
    page = os.sysconf("SC_PAGE_SIZE")
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % name) as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
            if int(fields[2]) != pgid:  # fields[2] is pgrp after state, ppid
                continue
            with open("/proc/%s/statm" % name) as handle:
                fields = handle.read().split()
            total += int(fields[1]) * page
            virtual += int(fields[0]) * page
        except (OSError, IndexError, ValueError):
            continue
    return total, virtual


#: Address space allowed above the resident-memory cap. Python with NumPy,
#: PyTorch, JAX or numba maps 0.3-1.5 GiB it never touches; the slack keeps
#: that from counting against the cap while still bounding the child.
ADDRESS_SPACE_SLACK = 2 * GiB


def run_step(command: Sequence[str],
             stdout_path: str,
             stderr_path: str,
             memory_limit_bytes: Optional[int] = None,
             timeout_s: Optional[float] = None,
             env: Optional[Dict[str, str]] = None,
             cwd: Optional[str] = None,
             poll_s: float = 0.1,
             address_space_slack: int = ADDRESS_SPACE_SLACK) -> StepResult:
    """Run ``command`` in a child, capped and timed; never raises on failure.

    The child gets its own session (so a timeout kills all it started).
    ``memory_limit_bytes`` caps resident memory: a watchdog sampling the
    session's resident memory every ``poll_s`` seconds kills it when the
    cap is passed, and ``RLIMIT_AS = memory_limit_bytes +
    address_space_slack`` bounds it in between samples (allocations past
    that fail inside the child: MemoryError and the like). Either way the
    step is reported "out of memory" instead of exhausting the machine.

    Peak resident memory is the child's ``ru_maxrss`` from ``wait4`` (the
    child and the descendants it waited for), or the watchdog's highest
    sample if that is larger.
    """
    command = [str(c) for c in command]
    start = time.perf_counter()
    with open(stdout_path, "wb") as out, open(stderr_path, "wb") as err:
        proc = subprocess.Popen(
            command,
            stdout=out,
            stderr=err,
            env=env,
            cwd=cwd,
            start_new_session=True,
            preexec_fn=_limit_memory(
                memory_limit_bytes +
                address_space_slack if memory_limit_bytes else None))
        timed_out = rss_killed = False
        sampled_peak = sampled_vm = 0
        rusage = None
        status = 0
        while True:
            pid, status, rusage = os.wait4(proc.pid, os.WNOHANG)
            if pid == proc.pid:
                break
            elapsed = time.perf_counter() - start
            rss, vm = _tree_memory(proc.pid)
            sampled_peak = max(sampled_peak, rss)
            sampled_vm = max(sampled_vm, vm)
            if memory_limit_bytes and rss > memory_limit_bytes:
                rss_killed = True
                _kill_group(proc.pid)
            elif timeout_s is not None and elapsed > timeout_s:
                timed_out = True
                _kill_group(proc.pid)
            time.sleep(poll_s)
        wall = time.perf_counter() - start
        proc.returncode = _returncode(status)
    # Kill anything the child left behind in its session.
    _kill_group(proc.pid)
    peak = max(int(rusage.ru_maxrss) * 1024 if rusage else 0, sampled_peak)
    with open(stderr_path, "rb") as handle:
        handle.seek(0, os.SEEK_END)
        size = handle.tell()
        handle.seek(max(0, size - 20000))
        tail = handle.read().decode("utf-8", "replace")
    state = classify_failure(proc.returncode, tail, timed_out, peak,
                             memory_limit_bytes)
    if rss_killed and state != "ok":
        state = "out of memory"
    return StepResult(status=state,
                      wall_s=wall,
                      peak_rss_bytes=peak,
                      returncode=proc.returncode,
                      command=command,
                      stderr_tail="\n".join(tail.splitlines()[-15:]),
                      peak_virtual_bytes=sampled_vm)


def _returncode(status: int) -> int:
    if os.WIFSIGNALED(status):
        return -os.WTERMSIG(status)
    return os.WEXITSTATUS(status)


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


# ----------------------------------------------------------------- scoring
def read_truth(path) -> Dict[str, str]:
    """Cell id -> true type from a ``query_labels.txt`` (no header)."""
    truth: Dict[str, str] = {}
    with open(path) as handle:
        for line in handle:
            cell, _, label = line.rstrip("\n").partition("\t")
            truth[cell] = label
    return truth


def read_predictions(path: str) -> Dict[str, str]:
    """Cell id -> predicted type from a ``cellname<TAB>celltype`` file."""
    out: Dict[str, str] = {}
    with open(path) as handle:
        for i, line in enumerate(handle):
            parts = line.rstrip("\n").split("\t")
            if len(parts) < 2:
                continue
            if i == 0 and parts[0] == "cellname":
                continue
            out[parts[0]] = parts[1]
    return out


def score(truth: Dict[str, str], predicted: Dict[str, str]) -> Dict:
    """Accuracy and macro F1 over the query cells (missing = wrong)."""
    from sklearn.metrics import accuracy_score, f1_score
    ids = list(truth)
    y_true = [truth[i] for i in ids]
    y_pred = [predicted.get(i, "<missing>") for i in ids]
    missing = sum(1 for i in ids if i not in predicted)
    return {
        "accuracy":
            float(accuracy_score(y_true, y_pred)),
        "macro_f1":
            float(
                f1_score(y_true,
                         y_pred,
                         average="macro",
                         labels=sorted(set(y_true)),
                         zero_division=0)),
        "n_query":
            len(ids),
        "n_missing":
            missing,
    }


# ------------------------------------------------------------------ tables
def ratio(value: Optional[float],
          reference: Optional[float]) -> Optional[float]:
    """``value / reference``, or None when either is missing or 0.

    >>> ratio(3.0, 1.5)
    2.0
    >>> ratio(None, 1.0) is None, ratio(1.0, 0.0) is None
    (True, True)
    """
    if value is None or reference is None or reference == 0:
        return None
    return float(value) / float(reference)


def _fmt_number(value: Optional[float], kind: str) -> str:
    if value is None:
        return "-"
    if kind == "score":
        return "%.3f" % value
    if kind == "gb":
        return "%.2f" % (value / GiB)
    if kind == "int":
        return "%d" % value
    if value >= 1000:
        return "{:,.0f}".format(value)
    if value >= 100:
        return "%.0f" % value
    if value >= 10:
        return "%.1f" % value
    return "%.2f" % value


def _fmt_ratio(r: Optional[float]) -> str:
    if r is None:
        return ""
    if r >= 100:
        return " (%.0fx)" % r
    if r >= 10:
        return " (%.1fx)" % r
    if r >= 0.1:
        return " (%.2fx)" % r
    return " (%sx)" % ("%.2g" % r if r >= 1e-4 else "%.1e" % r)


#: (row key, header, kind); every one of these is also shown as a ratio.
COLUMNS = [
    ("accuracy", "accuracy", "score"),
    ("macro_f1", "macro F1", "score"),
    ("fit_s", "fit s", "seconds"),
    ("predict_s", "predict s", "seconds"),
    ("cells_per_s", "cells/s", "seconds"),
    ("fit_rss", "fit peak RSS GiB", "gb"),
    ("predict_rss", "predict peak RSS GiB", "gb"),
]


def format_table(rows: Sequence[Dict], reference_tool: str = "actinn") -> str:
    """A markdown table of the rows, each figure followed by its ratio to
    the reference tool's (when both are known).

    Each row is a dict with ``tool`` and ``status`` and the keys of
    :data:`COLUMNS` (None when unknown), plus optional ``epochs`` (or
    ``epochs_label``, shown instead when present).

    >>> rows = [
    ...     {"tool": "actinn", "status": "ok", "accuracy": 0.9, "macro_f1": 0.8,
    ...      "fit_s": 10.0, "predict_s": 2.0, "cells_per_s": 500.0,
    ...      "fit_rss": 2 * GiB, "predict_rss": GiB, "epochs": 30},
    ...     {"tool": "linearsvc", "status": "out of memory (predict)",
    ...      "accuracy": None, "macro_f1": None, "fit_s": 5.0,
    ...      "predict_s": None, "cells_per_s": None, "fit_rss": GiB,
    ...      "predict_rss": None}]
    >>> print(format_table(rows))  # doctest: +NORMALIZE_WHITESPACE
    | tool | accuracy | macro F1 | fit s | predict s | cells/s | fit peak RSS GiB | predict peak RSS GiB | epochs | status |
    | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |
    | actinn | 0.900 (1.00x) | 0.800 (1.00x) | 10.0 (1.00x) | 2.00 (1.00x) | 500 (1.00x) | 2.00 (1.00x) | 1.00 (1.00x) | 30 | ok |
    | linearsvc | - | - | 5.00 (0.50x) | - | - | 1.00 (0.50x) | - | - | out of memory (predict) |
    >>> rows[1]["fit_s"] = 0.061
    >>> format_table(rows).splitlines()[-1].split(" | ")[3]
    '0.06 (0.0061x)'
    """
    ref = next((r for r in rows if r["tool"] == reference_tool), None)
    header = ["tool"] + [h for _, h, _ in COLUMNS] + ["epochs", "status"]
    lines = [
        "| " + " | ".join(header) + " |",
        "| " + " | ".join("---" for _ in header) + " |",
    ]
    for row in rows:
        cells = [row["tool"]]
        for key, _, kind in COLUMNS:
            value = row.get(key)
            text = _fmt_number(value, kind)
            if value is not None and ref is not None:
                text += _fmt_ratio(ratio(value, ref.get(key)))
            cells.append(text)
        epochs = row.get("epochs_label", row.get("epochs"))
        cells.append("-" if epochs is None else str(epochs))
        cells.append(row.get("status", ""))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


# ----------------------------------------------------------------- machine
def machine_description() -> Dict:
    """CPU model, cores, memory, OS and load of this machine."""
    info: Dict = {
        "platform": platform.platform(),
        "python": platform.python_version()
    }
    model, physical = None, set()
    try:
        with open("/proc/cpuinfo") as handle:
            phys = core = None
            for line in handle:
                key, _, value = line.partition(":")
                key, value = key.strip(), value.strip()
                if key == "model name" and model is None:
                    model = value
                elif key == "physical id":
                    phys = value
                elif key == "core id":
                    core = value
                elif not key and phys is not None:
                    physical.add((phys, core))
                    phys = core = None
    except OSError:
        pass
    info["cpu_model"] = model or platform.processor() or "unknown"
    info["logical_cpus"] = os.cpu_count()
    try:
        info["usable_cpus"] = len(os.sched_getaffinity(0))
    except AttributeError:
        info["usable_cpus"] = os.cpu_count()
    info["physical_cores"] = len(physical) or None
    info["memory_total_bytes"] = _meminfo("MemTotal")
    info["memory_available_bytes"] = _meminfo("MemAvailable")
    try:
        info["load_average"] = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        info["load_average"] = None
    return info


def _meminfo(key: str) -> Optional[int]:
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def describe_machine(info: Dict) -> str:
    """One line for the table's caption.

    >>> describe_machine({"cpu_model": "Xeon", "logical_cpus": 2,
    ...                   "usable_cpus": 2, "physical_cores": 1,
    ...                   "memory_total_bytes": 24 * GiB,
    ...                   "platform": "Linux", "python": "3.11.7",
    ...                   "load_average": [1.0, 0.5, 0.2]})
    'Xeon, 2 logical CPUs (2 usable, 1 physical cores), 24.0 GiB RAM, Linux, Python 3.11.7, load average 1.0/0.5/0.2 at start'
    """
    mem = info.get("memory_total_bytes")
    load = info.get("load_average")
    return ("%s, %s logical CPUs (%s usable, %s physical cores), %s RAM, %s, "
            "Python %s%s" %
            (info.get("cpu_model"), info.get("logical_cpus"),
             info.get("usable_cpus"), info.get("physical_cores") or "?",
             "%.1f GiB" % (mem / GiB) if mem else "? GiB", info.get("platform"),
             info.get("python"), ", load average %s at start" %
             "/".join(str(x) for x in load) if load else ""))


def parse_size(text: str):
    """A ``--sizes`` item: ``"tabula_muris"`` or a cell count (``1e4``,
    ``20000``, ``2k``).

    >>> parse_size("1e4"), parse_size("2e3"), parse_size("tabula_muris")
    (10000, 2000, 'tabula_muris')
    >>> parse_size("50k"), parse_size("1M")
    (50000, 1000000)
    """
    text = text.strip()
    if text.lower() in ("tabula_muris", "tm", "tabula-muris"):
        return "tabula_muris"
    scale = {"k": 10**3, "m": 10**6}.get(text[-1:].lower(), 1)
    number = text[:-1] if scale != 1 else text
    value = float(number) * scale
    if value < 10 or value != int(value):
        raise ValueError("a size is 'tabula_muris' or a whole number of "
                         "cells (at least 10), got %r" % text)
    return int(value)


def size_name(size) -> str:
    """File-name form of a size: ``tabula_muris``, ``1e4``, ``2500``.

    >>> size_name("tabula_muris"), size_name(10000), size_name(2500)
    ('tabula_muris', '1e4', '2500')
    """
    if isinstance(size, str):
        return size
    exponent = len(str(size)) - 1
    if size == 10**exponent:
        return "1e%d" % exponent
    mantissa = size / 10**exponent
    if mantissa == int(mantissa):
        return "%de%d" % (mantissa, exponent)
    return str(size)


def write_json(path: str, payload) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w") as handle:
        json.dump(payload, handle, indent=1, default=str)
    os.replace(tmp, path)


# ---------------------------------------------------------------- skipping
def precheck(tool: str, n_reference: int, n_query: int, n_genes: int,
             memory_limit_bytes: int) -> Dict[str, str]:
    """Steps a tool cannot do within the memory cap, known before running.

    Only certain failures are skipped: a dense copy of the data the tool
    is known to make that alone exceeds the cap. Everything else is run and
    stopped by the cap if it must be. Returns ``{"fit": why}`` and/or
    ``{"predict": why}``.

    * ``tutorial`` densifies the whole reference (and query) as float32 and
      holds two copies while densifying and normalising.
    * ``celltypist``'s ``train`` densifies the reference (float32; with its
      default ``with_mean=True``) and scales a copy; its ``annotate``
      scales the query densely in float64 (``(X - mean) / sd`` on the
      sparse matrix gives a dense one), at least twice over (the
      difference, then the quotient).

    >>> precheck("tutorial", 800_000, 200_000, 20_000, 20 * GiB)["fit"]
    'the dense float32 reference (59.6 GiB, held twice while densifying) exceeds the 20 GiB cap'
    >>> precheck("tutorial", 8_000, 2_000, 20_000, 20 * GiB)
    {}
    >>> sorted(precheck("celltypist", 800_000, 200_000, 20_000, 20 * GiB))
    ['fit', 'predict']
    >>> precheck("celltypist", 80_000, 20_000, 20_000, 20 * GiB)
    {}
    """
    why: Dict[str, str] = {}
    cap = "the %.0f GiB cap" % (memory_limit_bytes / GiB)
    if tool == "tutorial":
        for step, n, what in (("fit", n_reference, "reference"),
                              ("predict", n_query, "query")):
            dense = 4.0 * n * n_genes
            if 2 * dense > memory_limit_bytes:
                why[step] = ("the dense float32 %s (%.1f GiB, held twice "
                             "while densifying) exceeds %s" %
                             (what, dense / GiB, cap))
    elif tool == "celltypist":
        dense = 4.0 * n_reference * n_genes
        if 2 * dense > memory_limit_bytes:
            why["fit"] = ("train densifies the reference (%.1f GiB float32, "
                          "then a scaled copy) beyond %s" % (dense / GiB, cap))
        dense = 8.0 * n_query * n_genes
        if 2 * dense > memory_limit_bytes:
            why["predict"] = ("annotate scales the query densely in float64 "
                              "(%.1f GiB, at least twice) beyond %s" %
                              (dense / GiB, cap))
    return why


def write_summary(results_dir) -> str:
    """``comparison.md``: every size's latest table, in size order."""
    from pathlib import Path
    results_dir = Path(results_dir)

    def order(path):
        name = path.stem.split("_")[0]
        if path.stem == "tabula_muris":
            return (0, 0)
        try:
            return (1, float(name))
        except ValueError:
            return (2, 0)

    parts = [
        "# Comparison with the peers", "",
        "Written by `python benchmarks/compare.py`; one section per "
        "size, each from its latest run.", ""
    ]
    mine = re.compile(r"^(tabula_muris|\d+(e\d+)?)(_\d+genes)?$")
    for path in sorted(results_dir.glob("*.md"), key=order):
        if not mine.match(path.stem):  # other benchmarks' files
            continue
        parts.append(path.read_text())
    text = "\n".join(parts)
    (results_dir / "comparison.md").write_text(text)
    return text
