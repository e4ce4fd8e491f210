#!/usr/bin/env python3
"""Renders schema/openapi.yaml into docs.html, the API reference the server shows at /docs.

usage: render_docs.py OPENAPI_YAML OUT_HTML

Run at build time (meson), so the page is plain HTML in the binary: readable without
JavaScript, under the UI's strict Content-Security-Policy (no inline script or style: the
looks come from /ui/style.css and /ui/docs.css), nothing fetched from another host, and
always the contract the binary was built with. Every path, operation, parameter, body,
answer, header and schema of the document is shown, with the rules of each field and the
document's examples; a construct this script does not know is an error, not a silent gap.
"""
import html
import json
import re
import sys

import yaml

METHODS = ["get", "put", "post", "delete", "patch", "options", "head"]
TAG_TITLES = {"listings": "Listings", "service": "Service", "ui": "Browser UI"}


class Doc:
    def __init__(self, spec):
        self.spec = spec

    def resolve(self, node):
        """The node a $ref names (following chains), with the referrer's own keys on top
        (OpenAPI 3.1 lets a $ref carry a description of its own)."""
        seen = 0
        while isinstance(node, dict) and "$ref" in node:
            ref = node["$ref"]
            if not ref.startswith("#/"):
                raise SystemExit(f"render_docs: only local $refs are supported: {ref}")
            target = self.spec
            for part in ref[2:].split("/"):
                target = target[part]
            extra = {k: v for k, v in node.items() if k != "$ref"}
            node = {**target, **extra}
            seen += 1
            if seen > 20:
                raise SystemExit(f"render_docs: $ref loop at {ref}")
        return node


def esc(text):
    return html.escape(str(text), quote=True)


def inline(text):
    """Escaped text with `code` spans."""
    parts = re.split(r"(`[^`]*`)", str(text))
    out = []
    for p in parts:
        if len(p) >= 2 and p.startswith("`") and p.endswith("`"):
            out.append(f"<code>{esc(p[1:-1])}</code>")
        else:
            out.append(esc(p))
    return "".join(out)


def prose(text):
    """A description as paragraphs (a blank line in the YAML separates them)."""
    if not text:
        return ""
    paras = [p.strip() for p in re.split(r"\n\s*\n", str(text)) if p.strip()]
    return "".join(f"<p>{inline(' '.join(p.split()))}</p>" for p in paras)


def anchor(kind, name):
    return f"{kind}-" + re.sub(r"[^A-Za-z0-9_-]+", "-", name).strip("-")


def ref_name(node):
    if isinstance(node, dict) and "$ref" in node:
        return node["$ref"].rsplit("/", 1)[1]
    return None


def number(n):
    # 1000000000000 reads better as 1 000 000 000 000 (thin spaces would not copy well).
    if isinstance(n, int) and abs(n) >= 10000:
        return f"{n:,}".replace(",", " ")
    return str(n)


def example_json(value):
    return f'<pre class="example"><code>{esc(json.dumps(value, indent=2, ensure_ascii=False))}</code></pre>'


class Renderer:
    def __init__(self, spec):
        self.spec = spec
        self.doc = Doc(spec)
        self.schemas = spec.get("components", {}).get("schemas", {})

    # --- schemas -----------------------------------------------------------------------
    def schema_link(self, name):
        return f'<a href="#{anchor("schema", name)}">{esc(name)}</a>'

    def type_of(self, node):
        """A short type for a schema: a link to a named object schema, else its type."""
        name = ref_name(node)
        s = self.doc.resolve(node)
        if name and (s.get("type") == "object" or "properties" in s):
            return self.schema_link(name)
        t = s.get("type")
        if t == "array":
            return "array of " + self.type_of(s.get("items", {}))
        if isinstance(t, list):
            t = " or ".join(str(x) for x in t)
        if t is None and "const" in s:
            t = type(s["const"]).__name__.replace("str", "string")
        if t is None:
            t = "any"
        if s.get("format"):
            t = f"{t} ({s['format']})"
        return esc(t)

    def rules(self, node):
        """The constraints of a schema, as a reader wants them: ranges, lengths, values."""
        s = self.doc.resolve(node)
        out = []
        if "enum" in s:
            out.append("one of " + ", ".join(f"<code>{esc(v)}</code>" for v in s["enum"]))
        if "const" in s:
            out.append(f"always <code>{esc(s['const'])}</code>")
        lo, hi = s.get("minimum"), s.get("maximum")
        if lo is not None and hi is not None:
            out.append(f"{number(lo)} to {number(hi)}")
        elif lo is not None:
            out.append(f"at least {number(lo)}")
        elif hi is not None:
            out.append(f"at most {number(hi)}")
        lo, hi = s.get("minLength"), s.get("maxLength")
        if lo is not None and hi is not None:
            out.append(f"{lo} to {number(hi)} characters")
        elif lo is not None:
            out.append(f"at least {lo} character{'s' if lo != 1 else ''}")
        elif hi is not None:
            out.append(f"at most {number(hi)} characters")
        if s.get("minItems") is not None:
            out.append(f"at least {s['minItems']} item{'s' if s['minItems'] != 1 else ''}")
        if s.get("pattern"):
            out.append(f"matches <code>{esc(s['pattern'])}</code>")
        if "default" in s:
            out.append(f"default <code>{esc(s['default'])}</code>")
        if s.get("readOnly"):
            out.append("read-only")
        if s.get("type") == "array" and "items" in s:
            inner = self.rules(s["items"])
            if inner:
                out.append("each: " + inner)
        return "; ".join(out)

    def fields_list(self, s):
        required = set(s.get("required", []))
        items = []
        for name, prop in s.get("properties", {}).items():
            p = self.doc.resolve(prop)
            req = "required" if name in required else "optional"
            items.append(item(f"<code>{esc(name)}</code>", self.type_of(prop), req,
                              self.rules(prop), p.get("description", "")))
        extra = ("" if s.get("additionalProperties", True) is not False
                 else '<p class="note">No other field is allowed.</p>')
        return f'<dl class="items">{"".join(items)}</dl>{extra}'

    def schema_section(self, name, node):
        s = self.doc.resolve(node)
        parts = [f'<section class="schema" id="{anchor("schema", name)}" aria-labelledby="{anchor("schema", name)}-h">',
                 f'<h3 id="{anchor("schema", name)}-h"><code>{esc(name)}</code></h3>']
        parts.append(prose(s.get("description", "")))
        if "properties" in s:
            parts.append(self.fields_list(s))
        else:
            parts.append(f"<p><strong>Type:</strong> {self.type_of(node if ref_name(node) else s)}"
                         + (f"; {self.rules(s)}" if self.rules(s) else "") + "</p>")
        if "example" in s:
            parts.append("<p class=\"label\">Example</p>" + example_json(s["example"]))
        parts.append("</section>")
        return "\n".join(parts)

    # --- operations --------------------------------------------------------------------
    def parameters_list(self, params):
        items = []
        for raw in params:
            p = self.doc.resolve(raw)
            req = "required" if p.get("required") else "optional"
            example = p.get("example", self.doc.resolve(p.get("schema", {})).get("example"))
            ex = ""
            if example is not None:
                ex = ", ".join(f"<code>{esc(v)}</code>" for v in (example if isinstance(example, list) else [example]))
            items.append(item(f"<code>{esc(p['name'])}</code>", self.type_of(p.get("schema", {})),
                              f"{req}, in {esc(p['in'])}", self.rules(p.get("schema", {})),
                              p.get("description", ""), ex))
        return f'<dl class="items">{"".join(items)}</dl>'

    def content_cell(self, content):
        out = []
        for media, body in (content or {}).items():
            schema = body.get("schema")
            what = f" ({self.type_of(schema)})" if schema else ""
            out.append(f"<code>{esc(media)}</code>{what}")
        return "<br>".join(out)

    def response_rows(self, responses):
        rows, examples = [], []
        for status, raw in responses.items():
            r = self.doc.resolve(raw)
            name = ref_name(raw)
            desc = prose(r.get("description", ""))
            headers = r.get("headers", {})
            if headers:
                desc += "<p class=\"headers\">Headers: " + ", ".join(
                    f"<code>{esc(h)}</code>" for h in headers) + "</p>"
            if name:
                desc += f'<p class="see">See <a href="#{anchor("error", name)}">{esc(name)}</a>.</p>'
            body = self.content_cell(r.get("content"))
            rows.append(f'<div class="item"><dt><span class="code-status">{esc(status)}</span>'
                        + (f' <span class="type">{body}</span>' if body else "")
                        + f"</dt><dd>{desc}</dd></div>")
            for media, body in (r.get("content") or {}).items():
                if "example" in body:
                    examples.append((status, media, body["example"]))
        return rows, examples

    def curl(self, method, path, op):
        server = (self.spec.get("servers") or [{"url": "http://127.0.0.1:8080"}])[0]["url"]
        concrete = path
        for raw in op.get("_params", []):
            p = self.doc.resolve(raw)
            if p.get("in") == "path":
                ex = p.get("example", self.doc.resolve(p.get("schema", {})).get("example", "1"))
                concrete = concrete.replace("{" + p["name"] + "}", str(ex))
        cmd = "curl -i"
        if method != "get":
            cmd += f" -X {method.upper()}"
        cmd += f" {server}{concrete}"
        body = (op.get("requestBody") or {})
        body = self.doc.resolve(body).get("content", {}).get("application/json")
        if body:
            example = self.doc.resolve(body.get("schema", {})).get("example")
            cmd += " -H 'Content-Type: application/json'"
            if example is not None:
                cmd += " \\\n     -d '" + json.dumps(example, ensure_ascii=False).replace("'", "'\\''") + "'"
        return f'<pre class="example"><code>{esc(cmd)}</code></pre>'

    def operation(self, path, method, op, path_params):
        params = list(path_params) + list(op.get("parameters", []))
        op = {**op, "_params": params}
        oid = op.get("operationId") or f"{method}-{path}"
        aid = anchor("op", oid)
        parts = [f'<section class="op" id="{aid}" aria-labelledby="{aid}-h">',
                 f'<h3 id="{aid}-h"><span class="method method-{method}">{method.upper()}</span> '
                 f'<code class="path">{esc(path)}</code></h3>']
        if op.get("summary"):
            parts.append(f'<p class="summary">{inline(op["summary"])}</p>')
        parts.append(prose(op.get("description", "")))
        if op.get("security") == []:
            parts.append('<p class="auth">No token needed.</p>')
        if params:
            parts.append("<h4>Parameters</h4>" + self.parameters_list(params))
        if op.get("requestBody"):
            body = self.doc.resolve(op["requestBody"])
            parts.append("<h4>Request body</h4>")
            parts.append(f"<p>{'Required' if body.get('required') else 'Optional'}: "
                         f"{self.content_cell(body.get('content'))}.</p>")
            for media, b in body.get("content", {}).items():
                schema = self.doc.resolve(b.get("schema", {}))
                if "properties" in schema:
                    parts.append(self.fields_list(schema))
        parts.append("<h4>Answers</h4>")
        rows, examples = self.response_rows(op.get("responses", {}))
        parts.append(f'<dl class="items answers">{"".join(rows)}</dl>')
        parts.append("<h4>Example</h4>" + self.curl(method, path, op))
        for status, media, ex in examples:
            parts.append(f'<p class="label">{esc(status)} <code>{esc(media)}</code></p>' + example_json(ex))
        parts.append("</section>")
        return "\n".join(parts)

    # --- the page ----------------------------------------------------------------------
    def render(self):
        info = self.spec.get("info", {})
        paths = self.spec.get("paths", {})
        comps = self.spec.get("components", {})
        tags = [t["name"] for t in self.spec.get("tags", [])]
        tag_desc = {t["name"]: t.get("description", "") for t in self.spec.get("tags", [])}
        ops_by_tag = {}
        for path, path_item in paths.items():
            unknown = set(path_item) - set(METHODS) - {"parameters", "summary", "description"}
            if unknown:
                raise SystemExit(f"render_docs: {path}: unknown keys {sorted(unknown)}")
            for method in METHODS:
                if method in path_item:
                    op = path_item[method]
                    tag = (op.get("tags") or ["other"])[0]
                    if tag not in tags:
                        tags.append(tag)
                    ops_by_tag.setdefault(tag, []).append((path, method, op, path_item.get("parameters", [])))

        toc, body = [], []
        toc.append('<li><a href="#overview">Conventions</a></li>')
        toc.append('<li><a href="#auth">Tokens</a></li>')
        for tag in tags:
            if tag not in ops_by_tag:
                continue
            title = TAG_TITLES.get(tag, tag.capitalize())
            items = "".join(
                f'<li><a href="#{anchor("op", op.get("operationId") or f"{m}-{p}")}">'
                f'<span class="method method-{m}">{m.upper()}</span> <code>{esc(p)}</code></a></li>'
                for p, m, op, _ in ops_by_tag[tag])
            toc.append(f'<li><a href="#{anchor("tag", tag)}">{esc(title)}</a><ul>{items}</ul></li>')
            body.append(f'<section class="tag" id="{anchor("tag", tag)}" aria-labelledby="{anchor("tag", tag)}-h">'
                        f'<h2 id="{anchor("tag", tag)}-h">{esc(title)}</h2>{prose(tag_desc.get(tag, ""))}')
            for p, m, op, pp in ops_by_tag[tag]:
                body.append(self.operation(p, m, op, pp))
            body.append("</section>")
        toc.append('<li><a href="#schemas">Data types</a></li>')
        toc.append('<li><a href="#errors">Errors</a></li>')

        schemas = "\n".join(self.schema_section(n, s) for n, s in self.schemas.items())
        errors = []
        for name, raw in comps.get("responses", {}).items():
            r = self.doc.resolve(raw)
            statuses = sorted({s for pi in paths.values() for m in METHODS if m in pi
                               for s, v in pi[m].get("responses", {}).items() if ref_name(v) == name})
            ex = ""
            for media, b in (r.get("content") or {}).items():
                if "example" in b:
                    ex = example_json(b["example"])
            errors.append(f'<section class="error" id="{anchor("error", name)}" aria-labelledby="{anchor("error", name)}-h">'
                          f'<h3 id="{anchor("error", name)}-h">{esc(", ".join(statuses) or "")} {esc(name)}</h3>'
                          f'{prose(r.get("description", ""))}'
                          + (("<p class=\"headers\">Headers: " + ", ".join(f"<code>{esc(h)}</code>" for h in r["headers"]) + "</p>") if r.get("headers") else "")
                          + ex + "</section>")
        schemes = []
        for name, raw in comps.get("securitySchemes", {}).items():
            s = self.doc.resolve(raw)
            schemes.append(f"<h3>{esc(name)} ({esc(s.get('type', ''))} {esc(s.get('scheme', ''))})</h3>{prose(s.get('description', ''))}")
        headers = []
        for name, raw in comps.get("headers", {}).items():
            h = self.doc.resolve(raw)
            headers.append(item(esc(name), self.type_of(h.get("schema", {})), "",
                                self.rules(h.get("schema", {})), h.get("description", "")))

        title = esc(info.get("title", "API"))
        version = esc(info.get("version", ""))
        return PAGE.format(
            title=title, version=version,
            toc="\n".join(toc),
            overview=prose(info.get("description", "")),
            auth="\n".join(schemes),
            endpoints="\n".join(body),
            schemas=schemas,
            headers=f'<dl class="items">{"".join(headers)}</dl>',
            errors="\n".join(errors),
        )


def item(name, type_, note, rules, description, example=""):
    """One field, parameter or header: its name, type and whether it is required on the
    left; its rules, meaning and example on the right (one above the other on a phone)."""
    head = f'<dt>{name} <span class="type">{type_}</span>' + (f' <span class="req">{note}</span>' if note else "") + "</dt>"
    body = ""
    if rules:
        body += f'<p class="rules">{rules}</p>'
    body += prose(description)
    if example:
        body += f'<p class="ex">Example: {example}</p>'
    return f'<div class="item">{head}<dd>{body}</dd></div>'


PAGE = """<!doctype html>
<!-- docs.html — the API reference (GET /docs), rendered from schema/openapi.yaml at build
     time by scripts/render_docs.py: do not edit it, edit the YAML. -->
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>API reference — listingd</title>
  <link rel="icon" href="/ui/icon.svg" type="image/svg+xml">
  <link rel="stylesheet" href="/ui/style.css">
  <link rel="stylesheet" href="/ui/docs.css">
</head>
<body>
  <a class="skip-link" href="#main">Skip to the reference</a>
  <header class="site-header">
    <a class="brand" href="/">listingd</a>
    <nav aria-label="Site">
      <a href="/">Listings</a>
      <a href="/docs" aria-current="page">API docs</a>
      <a href="/openapi.yaml">openapi.yaml</a>
    </nav>
  </header>
  <div class="docs-layout">
  <nav class="docs-toc" aria-label="Contents">
    <p class="toc-title">Contents</p>
    <ul>
{toc}
    </ul>
  </nav>
  <main id="main" class="docs">
    <h1>{title} <span class="version">{version}</span></h1>
    <p class="lead">The HTTP API of this server. This page is rendered from
      <a href="/openapi.yaml">/openapi.yaml</a>, the OpenAPI 3.1 contract this binary was built
      with (the tests check every answer against it). Examples use the default address.</p>
    <section id="overview" aria-labelledby="overview-h">
      <h2 id="overview-h">Conventions</h2>
{overview}
    </section>
    <section id="auth" aria-labelledby="auth-h">
      <h2 id="auth-h">Tokens</h2>
{auth}
    </section>
{endpoints}
    <section id="schemas" aria-labelledby="schemas-h">
      <h2 id="schemas-h">Data types</h2>
{schemas}
      <h3 id="headers">Response headers</h3>
{headers}
    </section>
    <section id="errors" aria-labelledby="errors-h">
      <h2 id="errors-h">Errors</h2>
      <p>Every error answer is JSON, <code>{{"message": "..."}}</code>
        (<a href="#schema-Error">Error</a>), with the status below; a refused request changes
        nothing.</p>
{errors}
    </section>
  </main>
  </div>
</body>
</html>
"""


def main():
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    with open(sys.argv[1], encoding="utf-8") as f:
        spec = yaml.safe_load(f)
    page = Renderer(spec).render()
    with open(sys.argv[2], "w", encoding="utf-8") as f:
        f.write(page)


if __name__ == "__main__":
    main()
