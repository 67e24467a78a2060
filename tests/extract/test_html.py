from __future__ import annotations

from headrace.extract import extract_text

PAGE = """<!DOCTYPE html>
<html><head><title>Page title</title>
<meta charset="utf-8">
<style>body { color: red } p::after { content: "hidden" }</style>
<script>document.write("<p>injected</p>"); var s = '</div>';</script>
</head>
<body>
<nav><a href="/">Home</a> <a href="/about">About</a></nav>
<h1>Main   heading</h1>
<p>First paragraph with <b>bold</b> and
   <a href="#">a link</a>.</p>
<div>Block one</div><div>Block two<br>after break</div>
<ul><li>apple</li><li>pear</li></ul>
<table><tr><th>Name</th><th>Qty</th></tr><tr><td>Tea</td><td>2</td></tr></table>
<pre>  indented
    code</pre>
<noscript>Enable JavaScript</noscript>
<template><p>template content</p></template>
<p>Caf&eacute; &amp; &lt;bar&gt; &#8364;5</p>
<script type="module">console.log("module")</script>
</body></html>
"""


def test_visible_text_only_with_block_breaks() -> None:
    assert extract_text(PAGE.encode(), "page.html") == (
        "Home About\n\n"
        "# Main heading\n\n"
        "First paragraph with bold and a link.\n\n"
        "Block one\nBlock two\nafter break\n\n"
        "- apple\n- pear\n\n"
        "Name | Qty\nTea | 2\n\n"
        "  indented\n    code\n\n"
        "Café & <bar> €5"
    )


def test_scripts_and_styles_are_dropped() -> None:
    out = extract_text(PAGE.encode(), "page.htm")
    for hidden in ("injected", "document.write", "color: red", "module", "Page title", "template"):
        assert hidden not in out


def test_meta_charset_is_honoured() -> None:
    page = '<html><head><meta http-equiv="Content-Type" content="text/html; charset=windows-1251">'
    page += "</head><body><p>Привет мир</p></body></html>"
    assert extract_text(page.encode("cp1251"), "ru.html") == "Привет мир"


def test_fragment_without_html_structure() -> None:
    assert extract_text(b"just <i>some</i> text", "frag.html") == "just some text"


def test_unclosed_tags_and_garbage_do_not_fail() -> None:
    out = extract_text(b"<div><p>one<p>two<span>three</div></b></html><<>>", "broken.html")
    assert out.splitlines()[0] == "one"
    assert "twothree" in out  # inline elements add no space
