"""Hostile and malformed dataset files: each is refused with a clear message or imported correctly.

Over 200 files, generated from a fixed seed: broken JSON, wrong shapes, empty fields, huge rows,
binary, wrong encodings (UTF-16, latin-1, BOMs), CSV with odd quoting, 100k-row files and odd file
names. Each goes to `data.import_dataset`, `data.check_file` and the Dataset tab's upload handler.
None may raise anything but a DatasetError / gr.Error, write outside the workspace's datasets/, or
change a dataset already saved there.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import random
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import gradio as gr
import pytest

from studio.data import check_file, import_dataset, load_dataset
from studio.datafile import read_rows
from studio.shapes import DatasetError
from studio.ui import dataset_edit

SEED = 20240607
ANY = "either refused or imported"  # mutated files: no outcome is promised, only the invariants
MESSAGE_LIMIT = 4000
BIG_FILE_BYTES = 200_000  # above this, check_file runs without the tokenizer to keep the test quick

INSTRUCTION = [{"instruction": "Say hi in French", "input": "", "output": "Bonjour !"},
               {"instruction": "Translate", "input": "naïve café, 中文 😀", "output": "line\u2028separated\x85text"},
               {"instruction": "Quote", "input": 'He said "hi", then left', "output": "a,b;c\td"}]
CHAT = [{"messages": [{"role": "user", "content": "Hello"}, {"role": "assistant", "content": "Hi \u2029 there"}]},
        {"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "2+2?"},
                      {"role": "assistant", "content": "4"}]}]
TEXT = [{"text": "Plain text to continue pre-training on, with unicode: ü, 日本語."}, {"text": "A second line."}]
PREFERENCE = [{"prompt": "Capital of France?", "chosen": "Paris", "rejected": "Lyon"},
              {"prompt": "2+2?", "chosen": "4", "rejected": "5"}]
FEEDBACK = [{"prompt": "Capital of France?", "completion": "Paris", "label": True},
            {"prompt": "2+2?", "completion": "5", "label": False}]  # as the editor opens them: no message lists
SHAPE_ROWS = {"instruction": INSTRUCTION, "chat": CHAT, "text": TEXT, "preference": PREFERENCE, "feedback": FEEDBACK}


@dataclass
class Case:
    file_name: str
    content: bytes
    rows: list | None | str  # the rows a correct import holds; None: must be refused; ANY
    import_name: str | None = None  # the name given to import_dataset (None: from the file name)


def jsonl(rows) -> str:
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)


def as_csv(rows) -> str:
    columns = list(dict.fromkeys(key for row in rows for key in row))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns)
    writer.writeheader()
    for row in rows:
        writer.writerow({key: value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
                         for key, value in row.items()})
    return buffer.getvalue()


def encoded(text: str, encoding: str) -> bytes:
    if encoding == "utf-16-be-bom":
        return codecs.BOM_UTF16_BE + text.encode("utf-16-be")
    return text.encode(encoding)


def valid_cases() -> list[Case]:
    """Every shape in every format and Unicode encoding imports with exactly its rows."""
    cases = []
    for shape, rows in SHAPE_ROWS.items():
        formats = {"jsonl": jsonl(rows), "json": json.dumps(rows, ensure_ascii=False, indent=1), "csv": as_csv(rows)}
        if shape == "text":
            formats["txt"] = "\n".join(row["text"] for row in rows) + "\n"
        for suffix, text in formats.items():
            for encoding in ("utf-8", "utf-8-sig", "utf-16", "utf-16-be-bom", "utf-32"):
                cases.append(Case(f"{shape}-{encoding}.{suffix}", encoded(text, encoding), rows))
            crlf = text.replace("\r\n", "\n").replace("\n", "\r\n")  # csv.writer ends lines with \r\n already
            cases.append(Case(f"{shape}-crlf.{suffix}", crlf.encode(), rows))
    return cases


def wrong_encoding_cases() -> list[Case]:
    text = jsonl([{"instruction": "Où est la gare ?", "input": "", "output": "À gauche, près du café."}])
    chinese = jsonl([{"instruction": "中文问题", "input": "", "output": "中文回答"}])
    japanese = jsonl([{"instruction": "日本語の質問", "input": "", "output": "日本語の答え"}])
    return [Case("latin1.jsonl", text.encode("latin-1"), None), Case("cp1252.csv", as_csv(INSTRUCTION[:1]).replace(
                "Bonjour", "Très bien").encode("cp1252"), None),
            Case("gbk.jsonl", chinese.encode("gbk"), None), Case("shift-jis.jsonl", japanese.encode("shift_jis"), None),
            Case("utf16-no-bom.jsonl", text.encode("utf-16-le"), None),
            Case("utf16be-no-bom.csv", as_csv(INSTRUCTION).encode("utf-16-be"), None),
            Case("bad-utf16.jsonl", codecs.BOM_UTF16_LE + b"{\x00\"\x00\x00\xd8", None),
            Case("latin1.txt", "Ça va très bien, merci.\n".encode("latin-1"), None)]


BROKEN_JSON = [
    '{"instruction": "a", "output": "b"', "{'instruction': 'a', 'output': 'b'}", '{instruction: "a", output: "b"}',
    '{"instruction": "a", "output": "b",}', '[{"instruction": "a", "output": "b"},]', '"just a string"', "42",
    "null", "true", "[]", "{}", "[1, 2, 3]", "[[]]", '{"text": "a"}\n{"text":', "[" * 5000 + "]" * 5000,
    '{"text": ' + "[" * 3000 + "]" * 3000 + "}", '{"text": "a", "n": ' + "9" * 5000 + "}",
    '{"text": NaN}', '{"text": "a", "score": Infinity}', '{"text": "a", "score": -Infinity}', '{"text": "a", "x": 1e999}',
    '{"text": "half \\ud800 a character"}', '{"text": "\\udfff"}', '{"text": "raw \x1b[31m control"}',
    "   \n\n  \t ", "", "\ufeff", '// a comment\n{"text": "a"}', "<html><body>not json</body></html>",
    "instruction: a\noutput: b\n", '{"text": "a"}{"text": "b"}', '{"text": "a"} trailing', "\x7f\x7f",
]


def broken_json_cases() -> list[Case]:
    return [Case(f"broken-{number}.{suffix}", text.encode("utf-8"), None)
            for number, text in enumerate(BROKEN_JSON) for suffix in ("jsonl", "json")]


BAD_ROWS = [
    {"instruction": "a"}, {"instruction": "", "input": "", "output": "b"}, {"instruction": "a", "output": ""},
    {"instruction": "a", "output": "   \n "}, {"instruction": 1, "output": "b"}, {"instruction": "a", "output": None},
    {"instruction": ["a"], "output": "b"}, {"instruction": "a", "output": {"x": 1}}, {"instruction": "a", "output": True},
    {"instruction": "a", "output": "b", "history": "not pairs"}, {"instruction": "a", "output": "b", "history": [["x"]]},
    {"instruction": "a", "output": "b", "system": 5}, {"messages": []}, {"messages": "hello"},
    {"messages": [{"role": "user", "content": "hi"}]}, {"messages": [{"role": "assistant", "content": "hi"}]},
    {"messages": [{"role": "wizard", "content": "hi"}, {"role": "assistant", "content": "x"}]},
    {"messages": [{"role": "user", "content": 7}, {"role": "assistant", "content": "x"}]},
    {"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"},
                  {"role": "system", "content": "late"}]},
    {"messages": ["user: hi", "assistant: hello"]}, {"messages": [{"role": "user"}, {"role": "assistant"}]},
    {"conversations": [{"from": "human", "value": ""}, {"from": "gpt", "value": "x"}]},
    {"conversations": [{"from": "gpt", "value": "x"}, {"from": "human", "value": "y"}]},
    {"text": ""}, {"text": None}, {"text": 5}, {"text": ["a", "b"]}, {"prompt": "q", "chosen": "a", "rejected": "a"},
    {"prompt": "q", "chosen": "a"}, {"chosen": "a", "rejected": "b"}, {"prompt": "q", "chosen": 1, "rejected": "b"},
    {"prompt": [{"role": "assistant", "content": "x"}], "chosen": "a", "rejected": "b"}, {"foo": "bar"}, {},
    {"prompt": "q", "completion": "", "label": True}, {"prompt": "", "completion": "a", "label": False},
    {"prompt": "q", "completion": ["a", "b"], "label": True}, {"messages": [{"role": "user", "content": "q"}], "label": True},
    {"completion": "a", "label": True}, {"label": False, "output": "a"},
]


def wrong_shape_cases() -> list[Case]:
    cases = []
    for number, row in enumerate(BAD_ROWS):
        rows = [INSTRUCTION[0], row] if "instruction" in row or "output" in row else [row]
        cases.append(Case(f"shape-{number}.jsonl", jsonl(rows).encode(), None))
        cases.append(Case(f"shape-{number}.json", json.dumps(rows).encode(), None))
    mixed = [INSTRUCTION[0], TEXT[0], CHAT[0], PREFERENCE[0]]
    cases.append(Case("mixed-shapes.jsonl", jsonl(mixed).encode(), None))
    cases.append(Case("mixed-shapes.csv", as_csv([{"instruction": "a", "output": ""}, {"instruction": "", "output": "b"}])
                      .encode(), None))
    return cases


def csv_cases() -> list[Case]:
    header = "instruction,input,output\r\n"
    good = [
        ('"Multi\nline\nquestion",,"Answer, with a comma"\r\n',
         {"instruction": "Multi\nline\nquestion", "input": "", "output": "Answer, with a comma"}),
        ('"He said ""hi""",,"ok"\r\n', {"instruction": 'He said "hi"', "input": "", "output": "ok"}),
        ('say "hi" now,"",done\r\n', {"instruction": 'say "hi" now', "input": "", "output": "done"}),
        ("no trailing newline,,end", {"instruction": "no trailing newline", "input": "", "output": "end"}),
        ("q,,\u2028odd\u2029separators\x85\r\n", {"instruction": "q", "input": "", "output": "\u2028odd\u2029separators\x85"}),
    ]
    cases = [Case(f"csv-good-{number}.csv", (header + body).encode(), [row]) for number, (body, row) in enumerate(good)]
    cases.append(Case("csv-spaced-header.csv", b" instruction , input , output \nq,,a\n",
                      [{"instruction": "q", "input": "", "output": "a"}]))
    bad = [
        header + '"never closed,,a\r\nq,,b\r\n', header + '"abc"def,,a\r\n', header + "q,,a,extra\r\n",
        header, "instruction;input;output\nq;;a\n", "instruction\tinput\toutput\nq\t\ta\n", "\n\n\n", "",
        header + "q,,\r\n", header + "q\r\n", "a,b,c\n1,2,3\n", ",,\n,,\n", header + '"q",,"a"junk\r\n',
        'instruction,output\n"q","' + "a" * 10 + '\n',
    ]
    cases += [Case(f"csv-bad-{number}.csv", text.encode(), None) for number, text in enumerate(bad)]
    return cases


def binary_cases(rng: random.Random) -> list[Case]:
    headers = [b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", b"PK\x03\x04\x14\x00\x00\x00", b"\x1f\x8b\x08\x00\x00\x00",
               b"\x7fELF\x02\x01\x01\x00", b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n", b"SQLite format 3\x00",
               b"\xff\xd8\xff\xe0\x00\x10JFIF", b"PAR1\x15\x04\x15"]
    cases = []
    for number, start in enumerate(headers):
        body = start + rng.randbytes(rng.randint(256, 4096))
        cases.append(Case(f"binary-{number}.{('jsonl', 'json', 'csv', 'txt')[number % 4]}", body, None))
    for number in range(12):
        body = rng.randbytes(rng.randint(256, 20_000))
        cases.append(Case(f"random-{number}.{('jsonl', 'json', 'csv', 'txt')[number % 4]}", body, None))
    return cases


def huge_cases() -> list[Case]:
    long_text = "word " * 400_000  # 2 MB in one field
    wide = {"instruction": "q", "input": "", "output": "a", **{f"extra_{number}": "x" for number in range(10_000)}}
    nested = {"text": "a", "meta": json.loads("[" * 500 + "]" * 500)}
    return [
        Case("huge-text.jsonl", jsonl([{"text": long_text}]).encode(), [{"text": long_text}]),
        Case("huge-cell.csv", as_csv([{"instruction": "q", "input": "", "output": long_text}]).encode(),
             [{"instruction": "q", "input": "", "output": long_text}]),
        Case("huge-answer.json", json.dumps([{"instruction": "q", "input": "", "output": "é" * 500_000}]).encode(),
             [{"instruction": "q", "input": "", "output": "é" * 500_000}]),
        Case("wide-row.jsonl", jsonl([wide]).encode(), [wide]),
        Case("nested-500.jsonl", jsonl([nested]).encode(), [nested]),
        Case("huge-line.txt", ("x" * 1_000_000 + "\n").encode(), [{"text": "x" * 1_000_000}]),
    ]


def many_row_cases() -> list[Case]:
    rows = [{"instruction": f"Question {number}", "input": "", "output": f"Answer {number}"} for number in range(100_000)]
    broken = rows[:99_998] + [{"instruction": "q", "output": ""}] + rows[99_999:]
    lines = [{"text": f"Line {number} of a long corpus."} for number in range(100_000)]
    return [Case("rows-100k.jsonl", jsonl(rows).encode(), rows),
            Case("rows-100k-one-bad.jsonl", jsonl(broken).encode(), None),
            Case("rows-100k.txt", "".join(row["text"] + "\n" for row in lines).encode(), lines)]


ODD_FILE_NAMES = [
    "my data (final) v2", "中文数据集", "données", "emoji😀", "-rf", ".hidden", ".", "..", "a..b", "semi;colon",
    "quote'\"s", "back\\slash", "new\nline", "tab\tname", "%2e%2e%2f", "CON", "$(rm -rf ~)", "`id`", "<script>",
    "&amp;", "\u202etxt.exe", "a" * 240, "中" * 80, "..\\..\\windows", " spaces ", "null\x01byte",
]
HOSTILE_IMPORT_NAMES = [
    "../../etc/passwd", "/etc/passwd", "..", ".", "", "~", "~/.bashrc", "a/b/../../..", "\x00", "..\\..\\evil",
    "file:///etc/passwd", "%2e%2e/evil", "中" * 200, "x" * 1000, "-", " ", "\u202e", "name\r\n", "../datasets/../x",
    "/dev/null",
]


def name_cases() -> list[Case]:
    content = jsonl(INSTRUCTION).encode()
    cases = [Case(f"{name}.jsonl", content, INSTRUCTION) for name in ODD_FILE_NAMES]
    cases += [Case(f"hostile-{number}.jsonl", content, INSTRUCTION, import_name=name)
              for number, name in enumerate(HOSTILE_IMPORT_NAMES)]
    cases += [Case(f"suffix-{number}{suffix}", content, None)
              for number, suffix in enumerate(["", ".exe", ".parquet", ".xlsx", ".jsonl.gz", ".yaml", ".tsv", ".md"])]
    return cases


def mutation_cases(rng: random.Random) -> list[Case]:
    """Valid files with bytes flipped, cut, repeated or dropped: any outcome, but never a crash."""
    sources = [jsonl(INSTRUCTION).encode(), as_csv(INSTRUCTION).encode(), json.dumps(CHAT).encode(),
               jsonl(PREFERENCE).encode(), as_csv(CHAT).encode()]
    suffixes = ["jsonl", "csv", "json", "jsonl", "csv"]
    cases = []
    for number in range(40):
        pick = rng.randrange(len(sources))
        data = bytearray(sources[pick])
        for _ in range(rng.randint(1, 4)):
            position = rng.randrange(len(data))
            action = rng.choice(("flip", "cut", "repeat", "drop", "insert"))
            if action == "flip":
                data[position] = rng.choice(b'"{}[],:\n\\\r\x00\xff' + bytes([rng.randrange(256)]))
            elif action == "cut":
                del data[position:]
            elif action == "repeat":
                data[position:position] = data[position:position + rng.randint(1, 40)]
            elif action == "drop":
                del data[position:position + rng.randint(1, 10)]
            else:
                data[position:position] = rng.choice([b'"', b"\\u", b"\\ud83d", b"\xe4\xb8", b"\r\n", b"\xef\xbb\xbf"])
            if not data:
                break
        cases.append(Case(f"mutated-{number}.{suffixes[pick]}", bytes(data), ANY))
    return cases


def all_cases() -> dict[str, list[Case]]:
    rng = random.Random(SEED)
    return {"valid": valid_cases(), "encodings": wrong_encoding_cases(), "broken-json": broken_json_cases(),
            "wrong-shapes": wrong_shape_cases(), "csv-quoting": csv_cases(), "binary": binary_cases(rng),
            "huge-rows": huge_cases(), "names": name_cases(), "mutations": mutation_cases(rng),
            "100k-rows": many_row_cases()}


GROUPS = all_cases()


def test_over_200_files_each_get_the_verdict_promised(tmp_path):
    """The loader's own verdicts, counted: over 200 files judged, each refused or loaded as promised."""
    verdicts = Counter()
    for number, case in enumerate(case for cases in GROUPS.values() for case in cases if case.rows != ANY):
        path = tmp_path / f"{number}{Path(case.file_name).suffix}"  # odd names are the import's concern, not here
        path.write_bytes(case.content)
        try:
            rows = load_dataset(path).rows
        except DatasetError:
            verdicts["refused"] += 1
            assert case.rows is None, f"{case.file_name} should load"
        else:
            verdicts["loaded"] += 1
            assert rows == case.rows, f"{case.file_name} should be refused" if case.rows is None else case.file_name
    assert verdicts["refused"] + verdicts["loaded"] >= 200 and verdicts["refused"] and verdicts["loaded"], verdicts


def assert_clear(message: str, case: Case) -> None:
    """A message a person reads: present, not a traceback, not a wall of text."""
    assert message.strip(), case.file_name
    assert len(message) < MESSAGE_LIMIT, (case.file_name, message[:300])
    assert "Traceback" not in message and "Error(" not in message, (case.file_name, message)


def snapshot(folder: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in folder.iterdir()} if folder.exists() else {}


def run_case(case: Case, inputs: Path, datasets: Path, tokenizer) -> None:
    path = inputs / case.file_name
    path.write_bytes(case.content)
    before = snapshot(datasets)

    # import_dataset: all-or-nothing, into datasets/ only, the rows it was given.
    try:
        target = import_dataset(path, name=case.import_name)
    except DatasetError as error:
        refused = str(error)
        assert_clear(refused, case)
        assert all(str(problem).strip() for problem in error.problems)
        assert snapshot(datasets) == before, f"{case.file_name}: a refused import wrote or changed a file"
        with pytest.raises(DatasetError):
            import_dataset(path, name="victim")
        assert snapshot(datasets) == before, f"{case.file_name}: a refused import damaged the saved dataset"
    else:
        refused = None
        assert target.parent == datasets, (case.file_name, target)
        assert len(target.name.encode()) < 200 and not target.name.startswith(".") and target.suffix == ".jsonl"
        written = read_rows(target)
        expected = load_dataset(path).rows if case.rows == ANY else case.rows
        assert written == expected, f"{case.file_name}: the imported copy reads back differently"
    if case.rows is None:
        assert refused, f"{case.file_name} was imported but should have been refused"
    elif case.rows != ANY:
        assert refused is None, f"{case.file_name} should import: {refused}"

    # check_file: a report, never an exception, agreeing with the import.
    report = check_file(path, tokenizer if len(case.content) < BIG_FILE_BYTES else None, 64)
    assert report["ok"] == (refused is None), (case.file_name, report["problems"][:3], refused)
    for problem in report["problems"]:
        assert_clear(problem, case)

    # The Dataset tab's upload: gr.Error or the draft; never replaces a saved dataset.
    before = snapshot(datasets)
    try:
        draft = dataset_edit.upload(str(path))[0]
    except gr.Error as error:
        assert refused, f"{case.file_name}: upload refused a file import_dataset took: {error.message}"
        assert_clear(error.message, case)
        assert snapshot(datasets) == before
    else:
        assert refused is None, f"{case.file_name}: upload took a file import_dataset refused"
        assert draft.rows == written
        after = snapshot(datasets)
        assert {name: after[name] for name in before} == before, f"{case.file_name}: upload changed a saved dataset"
        assert len(after) == len(before) + 1


@pytest.mark.parametrize("group", list(GROUPS))
def test_hostile_files_are_refused_clearly_or_imported_whole(group, tmp_path, monkeypatch, tiny_tokenizer):
    workspace = tmp_path / "workspace"
    monkeypatch.setenv("STUDIO_WORKSPACE", str(workspace))
    datasets = workspace / "datasets"
    datasets.mkdir(parents=True)
    (datasets / "victim.jsonl").write_text(jsonl(INSTRUCTION), encoding="utf-8")
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    for case in GROUPS[group]:
        run_case(case, inputs, datasets, tiny_tokenizer)
    assert (datasets / "victim.jsonl").read_text(encoding="utf-8") == jsonl(INSTRUCTION)
    # Nothing outside the workspace's datasets/ and the inputs: every other path the test made is a folder.
    written = {path for path in tmp_path.rglob("*") if path.is_file()}
    stray = {path for path in written if path.parent not in (datasets, inputs)}
    assert not stray, sorted(map(str, stray))[:5]
    assert not [path for path in datasets.iterdir() if path.name.startswith(".")], "a temp file was left behind"
