"""Fuzzed scenario files through ``linksim validate`` and ``linksim run``.

Hypothesis mutates every shipped ``scenarios/*.yaml`` (wrong types, out-of-range
numbers, unknown and deleted keys, huge lists, unicode, anchors and aliases, alias
bombs, deep nesting, broken YAML text) and feeds the result to the CLI in-process.
Every outcome must be one of:

- exit 0, and nothing on stderr that looks like an error;
- exit 2, with one stderr line per problem, each naming the field (``field.path: message``,
  or ``(file)`` / ``(top level)`` for what concerns the whole file);
- exit 1 (``run`` only), with one ``error: ...`` line from a runtime condition the CLI
  knows (a :class:`~linksim.runner.RunError`, e.g. a CUDA device on a machine without one),
  never the catch-all ``(run with --debug for the traceback)`` line of an unexpected exception;

and it must finish within a time bound (a hang fails the test). Numbers drawn *inside*
the schema's ranges stay small: a valid request for a huge run is not a fuzz failure.

Size: ``LINKSIM_FUZZ_EXAMPLES`` (default 150 for validate, a tenth of it for run).
"""

from __future__ import annotations

import ast
import contextlib
import copy
import io
import re
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reliability_support import TALLY, Hang, fuzz_size, time_bound

from linksim.cli import main
from linksim.scenario import Scenario

REPO = Path(__file__).resolve().parents[2]
SCENARIOS = sorted((REPO / "scenarios").glob("*.yaml"))
VALIDATE_EXAMPLES = fuzz_size(150)
RUN_EXAMPLES = max(3, VALIDATE_EXAMPLES // 10)
FIELDS = set(Scenario.model_fields)


def _small(doc: dict) -> dict:
    """A shipped scenario cut down so that one validate takes a fraction of a second and
    one run a few seconds: 2 samples, one sweep point, one channel, at most 3 codecs."""
    doc = copy.deepcopy(doc)
    doc["data"].update(num_samples=2, batch_size=2)
    sweep = doc["sweep"]
    if isinstance(sweep.get("snr_db"), list):
        sweep["snr_db"] = sweep["snr_db"][-1:]
    elif isinstance(sweep.get("snr_db"), dict):
        sweep["snr_db"] = {"start": sweep["snr_db"]["stop"], "stop": sweep["snr_db"]["stop"], "step": 1}
    if "distance_m" in sweep:
        sweep["distance_m"] = sweep["distance_m"][:1]
    doc["channels"] = doc["channels"][:1]
    codecs = doc["codecs"]
    doc["codecs"] = [codecs[i] for i in sorted({0, len(codecs) // 2, len(codecs) - 1})]
    doc["device"] = "cpu"
    return doc


BASES = {p.stem: _small(yaml.safe_load(p.read_text())) for p in SCENARIOS}

# -- values ------------------------------------------------------------------------------
SPECIAL_STRINGS = ["auto", "cuda", "cuda:7", "cpu", "folder:/nonexistent", "folder:", "mnist:", "digits28:bogus",
                   "qam1024", "uint33", "uint0", "float8", "analog", "digital", "1e999", "nan", "-.inf", "~", "yes",
                   "0x1F", "", " ", "\t", "\n", "a\nb: c", "é", "日本語", "\u202e", "\x00", "zero", "clamp", "vae",
                   "vqvae", "hsc", "jpeg2000", "raw", "awgn", "tdl", "umi", "{", "[", "*", "&", "!!python/none"]
numbers = st.one_of(
    st.integers(min_value=-10, max_value=100),
    st.sampled_from([0, -1, 2**31, 2**63, -(2**63), 10**30, 1e308, -1e308, 1e-320, 0.5, 1.0, 1.5]),
    st.floats(allow_nan=True, allow_infinity=True, width=64),
)
texts = st.one_of(st.sampled_from(SPECIAL_STRINGS), st.text(st.characters(exclude_categories=("Cs",)), max_size=20))
scalars = st.one_of(st.none(), st.booleans(), numbers, texts)
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                       st.dictionaries(texts, inner, max_size=4)), max_leaves=8)


def _paths(node, prefix=()):
    """The paths of the document tree (keys and list indices), the root included; not below
    depth 8 nor past the 8th item of a list (earlier mutations may have made either huge)."""
    yield prefix
    if len(prefix) >= 8:
        return
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node[:8]):
            yield from _paths(v, prefix + (i,))


def _get(doc, path):
    for p in path:
        doc = doc[p]
    return doc


def _set(doc, path, value):
    if not path:
        return value
    _get(doc, path[:-1])[path[-1]] = value
    return doc


@st.composite
def mutated_documents(draw, max_mutations: int = 3) -> tuple[str, object]:
    """(name of the base, mutated document) after 1 to ``max_mutations`` structural mutations."""
    name = draw(st.sampled_from(sorted(BASES)))
    doc = copy.deepcopy(BASES[name])
    for _ in range(draw(st.integers(1, max_mutations))):
        paths = list(_paths(doc))
        path = draw(st.sampled_from(paths))
        op = draw(st.sampled_from(["replace", "replace", "replace", "delete", "unknown_key", "huge_list",
                                   "retype", "alias", "deep"]))
        node = _get(doc, path)
        if op == "replace":
            doc = _set(doc, path, draw(values))
        elif op == "delete" and path:
            parent = _get(doc, path[:-1])
            del parent[path[-1]]
        elif op == "unknown_key" and isinstance(node, dict):
            node[draw(texts)] = draw(values)
        elif op == "huge_list":
            n = draw(st.sampled_from([101, 1001, 5000]))
            doc = _set(doc, path, [copy.deepcopy(node) if not isinstance(node, (dict, list)) else node] * n)
        elif op == "retype":  # the same value as another YAML type
            doc = _set(doc, path, draw(st.sampled_from([str(node), [node], {"value": node}])))
        elif op == "alias":  # one object in two places: safe_dump writes an anchor and an alias
            other = draw(st.sampled_from(paths))
            if path and other and path[: len(other)] != other and other[: len(path)] != path:
                doc = _set(doc, path, _get(doc, other))
        elif op == "deep":  # nesting deeper than the parser's recursion
            depth = draw(st.sampled_from([20, 60, 200]))
            deep: object = 1
            for _ in range(depth):
                deep = [deep]
            doc = _set(doc, path, deep)
        if not isinstance(doc, (dict, list)):
            break
    return name, doc


def _dump(doc) -> str:
    try:
        return yaml.safe_dump(doc, allow_unicode=True, sort_keys=False)
    except (yaml.YAMLError, RecursionError):  # a document PyYAML cannot write: send its repr instead
        return repr(doc)[:100_000]


ALIAS_BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(9))


@st.composite
def scenario_texts(draw) -> str:
    """YAML text of a mutated scenario, sometimes damaged at the text level."""
    _, doc = draw(mutated_documents())
    text = _dump(doc)
    how = draw(st.sampled_from(["as is"] * 6 + ["truncate", "bomb", "deep_text", "tab", "garbage", "documents",
                                                 "tag", "merge_key", "anchor_unused"]))
    if how == "truncate":
        text = text[: draw(st.integers(0, max(len(text) - 1, 0)))]
    elif how == "bomb":
        text = ALIAS_BOMB + text
    elif how == "deep_text":
        depth = draw(st.sampled_from([100, 1000, 20000]))
        text = text + "zz: " + "[" * depth + "]" * depth + "\n"
    elif how == "tab":
        text = text.replace("  ", "\t", 1)
    elif how == "garbage":
        cut = draw(st.integers(0, len(text)))
        text = text[:cut] + draw(st.text(max_size=30)) + text[cut:]
    elif how == "documents":
        text = text + "---\n" + text
    elif how == "tag":
        text = draw(st.sampled_from(["seed: !!python/object:os.system 1\n", "seed: !!binary aGVsbG8=\n",
                                     "seed: 2020-01-01\n", "seed: !!set {a, b}\n", "seed: !custom 3\n"])) + text
    elif how == "merge_key":  # anchors and merge keys, used the way people use them
        text = "x-defaults: &d {path: digital, code_rate: 0.5}\n" + text.replace(
            "streams:\n", "streams:\n    <<: *d\n", 1)
    elif how == "anchor_unused":
        text = text.replace("channels:", "channels: &ch", 1)
    return text


# -- outcome checks --------------------------------------------------------------------------
_QUOTED = r"\[(?:'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"|\d+)\]"  # [3], ['a b'], ["it's"]
_FIELD_LINE = re.compile(rf"^(?P<head>\(file\)|\(top level\)|--device|{_QUOTED}|[^\s:\[.]+)"
                         rf"(?P<rest>({_QUOTED}|\.[^:\s\[.]+)*)(: | )")


def _escaped(text: str) -> str:
    """``text`` with what is not printable escaped, as problem lines show it."""
    return "".join(c if c.isprintable() or c == "\n" else c.encode("unicode_escape").decode("ascii") for c in text)


def _document_keys(text: str) -> set[str]:
    """Every mapping key of the document, as a problem line may show it (plain, escaped, repr)."""
    try:
        doc = yaml.safe_load(text)
    except (yaml.YAMLError, RecursionError):
        return set()
    keys, seen, todo = set(), set(), [doc]
    while todo:
        node = todo.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, dict):
            for k, v in node.items():
                keys |= {str(k), _escaped(str(k)), repr(str(k)).strip("'\"")}
                todo.append(v)
        elif isinstance(node, list):
            todo.extend(node)
    return keys


def _check_outcome(command: str, rc: int, err: str, text: str) -> None:
    lines = err.splitlines()
    assert "Traceback" not in err, err
    if rc == 0:
        assert not any(line.startswith("error") for line in lines), err
        return
    assert lines and all(line.strip() for line in lines), f"exit {rc} with an empty stderr line:\n{err!r}"
    if rc == 2:
        for line in lines:
            m = _FIELD_LINE.match(line)
            assert m, f"exit 2 with a line that names no field: {line!r}"
            head = m.group("head")
            if head.startswith("["):  # a quoted key: the key itself
                head = str(ast.literal_eval(head[1:-1]))
            # a field of the schema, the file, or a key the fuzzer wrote (an unknown field)
            assert head in FIELDS or head in ("(file)", "(top level)", "--device") or head in _document_keys(text), line
        return
    assert command == "run" and rc == 1, f"{command}: unexpected exit {rc}:\n{err}"
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "run with --debug" not in err, f"an unexpected exception reached the CLI's catch-all:\n{err}"


def _cli(args: list[str], seconds: int, text: str = "") -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), time_bound(seconds, " ".join(args)):
            rc = main(args)
    except Hang as e:  # an assertion, so that hypothesis reports (and shrinks) the input that hung
        raise AssertionError(f"{e}\n--- scenario ---\n{text[:3000]}") from None
    return rc, err.getvalue()


@pytest.fixture(scope="module")
def warm():
    """Import and load everything once, so that the time bound measures the scenario, not start-up."""
    for path in SCENARIOS:
        _cli(["validate", str(path)], 120)


FUZZ = settings(deadline=None, suppress_health_check=list(HealthCheck), database=None, print_blob=True)


@pytest.mark.slow
@settings(FUZZ, max_examples=VALIDATE_EXAMPLES)
@given(text=scenario_texts())
def test_fuzzed_scenarios_through_validate(tmp_path_factory, warm, text):
    path = tmp_path_factory.mktemp("fuzz") / "s.yaml"
    path.write_text(text, encoding="utf-8", errors="surrogateescape")
    rc, err = _cli(["validate", str(path)], 120, text)  # generous: CI machines are shared
    TALLY["fuzzed scenario files through linksim validate"] += 1
    TALLY[f"  validate exit {rc}"] += 1
    _check_outcome("validate", rc, err, text)


@pytest.mark.slow
@settings(FUZZ, max_examples=RUN_EXAMPLES)
@given(case=mutated_documents(max_mutations=1))  # one mutation: more of them survive validation and run
def test_fuzzed_scenarios_through_run(tmp_path_factory, warm, case):
    _, doc = case
    text = _dump(doc)
    folder = tmp_path_factory.mktemp("fuzzrun")
    (folder / "s.yaml").write_text(text, encoding="utf-8")
    rc, err = _cli(["run", str(folder / "s.yaml"), "--out", str(folder / "out"), "--quiet"], 120, text)
    TALLY["fuzzed scenario files through linksim run"] += 1
    TALLY[f"  run exit {rc}"] += 1
    _check_outcome("run", rc, err, text)
    if rc == 0:
        header = (folder / "out" / "results.csv").read_text().splitlines()[0]
        assert header.startswith("codec,channel,snr_db,metric,value,ci_low,ci_high,n")


def test_alias_bomb_is_refused_fast(tmp_path):
    from linksim.scenario import ScenarioError, parse_yaml

    text = ALIAS_BOMB + (REPO / "scenarios" / "quickstart.yaml").read_text()
    with time_bound(1, "parsing an alias bomb"), pytest.raises(ScenarioError):
        parse_yaml(text)
    path = tmp_path / "bomb.yaml"
    path.write_text(text)
    rc, err = _cli(["validate", str(path)], 60)
    assert rc == 2 and err.strip().startswith("(top level): more than") and "alias bomb" in err


@pytest.mark.parametrize("depth", [1000, 100_000])
def test_deep_nesting_is_one_line_exit_2(tmp_path, depth):
    path = tmp_path / "deep.yaml"
    path.write_text((REPO / "scenarios" / "quickstart.yaml").read_text() + "x: " + "[" * depth + "]" * depth + "\n")
    rc, err = _cli(["validate", str(path)], 60)
    assert rc == 2 and len(err.splitlines()) == 1 and err.startswith("(file): "), err


def test_a_newline_in_a_value_stays_on_the_problem_line(tmp_path):
    doc = copy.deepcopy(BASES["quickstart"])
    doc["device"] = "gpu\nsweep: injected"
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(doc))
    rc, err = _cli(["validate", str(path)], 60)
    assert rc == 2 and len(err.splitlines()) == 1 and err.startswith("device: "), err


def test_small_bases_are_valid(tmp_path):
    """The fuzz starts from valid documents (else it would only test one error path). A
    shipped scenario may need what this machine lacks (a user's data folder, a model to
    download): it must then say so in the usual way, and most bases must be valid."""
    valid = []
    for name, doc in BASES.items():
        path = tmp_path / f"{name}.yaml"
        text = yaml.safe_dump(doc)
        path.write_text(text)
        rc, err = _cli(["validate", str(path)], 120)
        _check_outcome("validate", rc, err, text)
        if rc == 0:
            valid.append(name)
    assert "quickstart" in valid and len(valid) >= len(BASES) / 2, valid


def test_a_cyclic_prefix_longer_than_the_fft_is_a_scenario_error(tmp_path):
    """Found by the fuzz: Sionna refused it deep inside, as exit 1 with a ValueError."""
    doc = copy.deepcopy(BASES["quickstart"])
    doc["phy"]["ofdm"]["cyclic_prefix_length"] = doc["phy"]["ofdm"]["fft_size"] + 1
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(doc))
    rc, err = _cli(["validate", str(path)], 60)
    assert rc == 2 and err.startswith("phy.ofdm: cyclic_prefix_length: 73 is longer than fft_size (72)"), err
