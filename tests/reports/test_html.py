"""evidence.html: the numbers a person reads are the numbers in evidence.json, the page
fetches nothing, and no string from the evidence becomes markup."""

from __future__ import annotations

import json
from html.parser import HTMLParser

from hypothesis import given, settings
from hypothesis import strategies as st

from reports.html import render
from tests.reports.conftest import (TARGET, failing_shard_evidence, make_evidence,
                                    passing_shard_evidence, single_run)

_VOID = {"meta", "br", "hr", "img", "link", "input", "col", "area", "base", "wbr", "source"}


class Node:
    def __init__(self, tag: str, attrs: dict) -> None:
        self.tag, self.attrs, self.children = tag, attrs, []

    def text(self) -> str:
        return "".join(c if isinstance(c, str) else c.text() for c in self.children)

    def walk(self):
        yield self
        for child in self.children:
            if isinstance(child, Node):
                yield from child.walk()

    def find(self, tag: str | None = None, **attrs) -> "Node":
        """The one element below (or at) this node with the tag and attribute values."""
        (match,) = [n for n in self.walk() if (tag is None or n.tag == tag)
                    and all(n.attrs.get(k) == v for k, v in attrs.items())]
        return match

    def cells(self) -> dict[str, str]:
        """A table row's cells by their class (the first class word after 'num')."""
        return {c.attrs["class"].split()[-1]: c.text() for c in self.children
                if isinstance(c, Node) and c.tag == "td"}


class _TreeBuilder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#document", {})
        self.stack = [self.root]

    def handle_starttag(self, tag, attrs):
        node = Node(tag, dict(attrs))
        self.stack[-1].children.append(node)
        if tag not in _VOID:
            self.stack.append(node)

    def handle_endtag(self, tag):
        assert self.stack[-1].tag == tag, f"</{tag}> closes <{self.stack[-1].tag}>"
        self.stack.pop()

    def handle_data(self, data):
        self.stack[-1].children.append(data)


def parse(page: str) -> Node:
    builder = _TreeBuilder()
    builder.feed(page)
    builder.close()
    assert builder.stack == [builder.root], "every element is closed"
    return builder.root


def test_the_summary_table_shows_each_requirements_numbers_from_evidence_json():
    evidence = failing_shard_evidence()
    page = parse(render(evidence))
    for rid, entry in evidence["requirements"].items():
        row = page.find(id=f"req-{rid}")
        cells = row.cells()
        assert cells["verdict"] == entry["verdict"]
        assert row.attrs["class"] == entry["verdict"]
        if entry["verdict"] == "not-applicable":
            assert cells["detail"] == entry["reason"]
            assert cells["examples"] == cells["steps"] == cells["operations"] == ""
        else:
            for key in ("examples", "steps", "operations", "findings"):
                assert int(cells[key]) == entry[key], (rid, key)
    verdicts = [e["verdict"] for e in evidence["requirements"].values()]
    for verdict in ("passed", "failed", "not-applicable"):
        assert int(page.find(id=f"count-{verdict}").text()) == verdicts.count(verdict)
    assert int(page.find(id="count-findings").text()) == len(evidence["findings"]) == 1


def test_findings_show_their_steps_and_link_their_trace():
    evidence = failing_shard_evidence()
    page = parse(render(evidence))
    (finding,) = evidence["findings"]
    section = page.find(id="finding-1")
    assert section.find(tag="pre").text() == "\n".join(finding["steps"])
    links = [n.attrs["href"] for n in section.walk() if n.tag == "a"]
    assert links == [finding["trace"]]
    assert f"[{finding['requirement']}] {finding['summary']}" in section.find(tag="h3").text()


def test_target_identity_and_run_settings_are_shown():
    evidence = passing_shard_evidence(run=single_run(seed=987654321))
    page = parse(render(evidence))
    target = {r.children[0].text(): r.children[1].text() for r in page.find(id="target").walk() if r.tag == "tr"}
    assert target["spec"] == TARGET["spec"]
    assert target["identity: manufacturer"] == "VTPM"
    assert json.loads(target["identity: banks"]) == TARGET["identity"]["banks"]
    run = {r.children[0].text(): r.children[1].text() for r in page.find(id="run").walk() if r.tag == "tr"}
    assert run["seed"] == "987654321" and run["max_examples"] == "200" and run["profile"] == "ci"
    assert run["harness commit"] == evidence["harness"]["commit"]


def test_the_page_fetches_nothing_and_runs_no_script():
    page = parse(render(failing_shard_evidence()))
    tags = list(page.walk())
    assert not [n for n in tags if n.tag in ("script", "link", "iframe", "object", "embed", "img")]
    assert not [n for n in tags if "src" in n.attrs or any(k.startswith("on") for k in n.attrs)]
    csp = [n.attrs["content"] for n in tags
           if n.tag == "meta" and n.attrs.get("http-equiv") == "Content-Security-Policy"]
    assert csp and csp[0].startswith("default-src 'none'")
    assert all(n.attrs["href"].startswith("traces/") for n in tags if "href" in n.attrs)


_text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\x00"), max_size=40)


@settings(max_examples=60)
@given(summary=_text, step=_text, identity=_text, reason=_text.filter(bool), nodeid=_text)
def test_evidence_strings_are_text_never_markup(summary, step, identity, reason, nodeid):
    hostile = "<script>alert(1)</script><a href='javascript:x'>"
    finding = {"requirement": "PCR-AGREE", "test": nodeid + hostile, "summary": summary + hostile,
               "steps": [step, hostile], "trace": "traces/../../" + hostile}
    evidence = make_evidence([], [finding], [{"test": nodeid, "error": hostile}],
                             target={**TARGET, "identity": {"vendor": identity + hostile}})
    evidence["requirements"]["NV-DURABLE"]["reason"] = reason + hostile
    page = parse(render(evidence))
    assert not [n for n in page.walk() if n.tag in ("script", "a")], "no element from the data"
    assert page.find(id="finding-1").find(tag="pre").text() == f"{step}\n{hostile}"
    assert page.find(id="req-NV-DURABLE").cells()["detail"] == reason + hostile
    assert page.find(id="finding-1").find(tag="h3").text() == f"1. [PCR-AGREE] {summary}{hostile}"
    vendor = [r.children[1].text() for r in page.find(id="target").walk()
              if r.tag == "tr" and r.children[0].text() == "identity: vendor"]
    assert vendor == [identity + hostile]


def test_a_merged_document_shows_every_shards_settings(tmp_path, passing_bundle, failing_bundle):
    from reports.merge import merge

    evidence, _ = merge([passing_bundle, failing_bundle], tmp_path / "out", None)
    page = parse((tmp_path / "out" / "evidence.html").read_text())
    for n in range(2):
        assert page.find(id=f"run-shard-{n}")
    assert int(page.find(id="req-PCR-AGREE").cells()["examples"]) == evidence["requirements"]["PCR-AGREE"]["examples"]


def test_a_real_runs_page_carries_its_numbers(finished_real_bundle):
    evidence = json.loads((finished_real_bundle / "evidence.json").read_text())
    page = parse((finished_real_bundle / "evidence.html").read_text())
    for rid, entry in evidence["requirements"].items():
        cells = page.find(id=f"req-{rid}").cells()
        assert cells["verdict"] == entry["verdict"]
        if entry["verdict"] != "not-applicable":
            assert int(cells["examples"]) == entry["examples"] and int(cells["steps"]) == entry["steps"]
    findings = [n for n in page.walk() if n.attrs.get("class") == "finding"]
    assert len(findings) == len(evidence["findings"]) > 0
