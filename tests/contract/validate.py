#!/usr/bin/env python3
"""Contract test: checks recorded HTTP exchanges against the ListingAPI OpenAPI document.

usage: validate.py OPENAPI_YAML EXCHANGES_FILE [--require-via raw,tls]

EXCHANGES_FILE is JSON Lines, one exchange a line:

    {"method": "GET", "path": "/listings/3/prices", "status": 200,
     "content_type": "application/json", "body": "<raw response body text>",
     "headers": {"etag": "...", ...}, "request_headers": {"if-none-match": "..."},
     "via": "client"}

`headers` (the answer's, names in lower case, repeated ones joined with ", "),
`request_headers` and `via` (client, raw or tls: how the test got the answer) may be
absent in old logs; then no header is checked.

Each exchange is checked against the document: its path must match a path template (or,
for a path the API does not have, be an error answer with an `Error` body); its method
must have an operation there (or the answer is a 405 with an `Error` body); its status
must be documented for that operation; and its body must validate against the documented
JSON schema (JSON Schema 2020-12, `$ref`s resolved against the whole document, formats not
asserted). HEAD answers and 204/304 answers must have no body; a HEAD status must be one
documented for GET. OPTIONS (the CORS preflight) must answer 204 on every documented path.

Headers: each header documented for the answer's response must be there when it says
`required: true`, and its value must validate against its schema (an `integer` schema
wants an integer). Beyond what a schema can say, the rules the document states in words:
an answer with a body says its `Content-Type` (JSON ones with `charset=utf-8`); a 405 and
a preflight say `Allow`, listing exactly the path's methods (HEAD with GET, and OPTIONS);
a 201 names the created listing in `Location`; a paged GET /listings (with a query) has
an `ETag`; a 304 carries a tag the request's `If-None-Match` named (or its uncompressed form); `RateLimit-Limit`,
`-Remaining` and `-Reset` come together, as integers, remaining at most the limit; an
`ETag`, wherever it is, has the form of components/headers/ETag. With `--require-via
raw,tls`, the log must also hold answers got each of those ways.

The document itself must be YAML, say `openapi: 3.1.x`, and every `$ref` in it must resolve.

Prints every failure, then a last line `contract: N passed, M failed`. Exits 1 when
anything failed or there were no exchanges, else 0. Needs only python3-jsonschema (4.10+)
and python3-yaml.
"""
import json
import re
import sys
from urllib.parse import unquote

import jsonschema
import yaml

# Statuses a server may give to a request it refuses before routing it (malformed request,
# body or URI or headers too large), and the ones for a path the API does not have.
UNKNOWN_PATH_STATUSES = {400, 404, 405, 413, 414, 431}
# Methods an OpenAPI path item can hold an operation for.
OPERATION_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
ERROR_SCHEMA = {"$ref": "#/components/schemas/Error"}
BODY_EXCERPT_CHARS = 300


class ContractError(Exception):
    """One way an exchange breaks the contract."""


# ---------------------------------------------------------------------------------------
# The document


def load_document(path):
    """The OpenAPI document at `path` and the problems found in it (a list of strings).

    The document is None when it cannot be used at all.
    """
    try:
        with open(path, encoding="utf-8") as f:
            doc = yaml.safe_load(f)
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as e:
        return None, [f"{path}: cannot read it as YAML: {e}"]
    if not isinstance(doc, dict):
        return None, [f"{path}: is not a YAML mapping"]

    problems = []
    version = doc.get("openapi")
    if not isinstance(version, str) or not re.fullmatch(r"3\.1\.\d+", version):
        problems.append(f"{path}: 'openapi' is {version!r}, not 3.1.x")
    if not isinstance(doc.get("paths"), dict):
        return None, problems + [f"{path}: has no 'paths' mapping"]

    for where, ref in find_refs(doc, "#"):
        try:
            resolve_pointer(doc, ref)
        except ContractError as e:
            problems.append(f"{path}: $ref {ref!r} at {where} does not resolve: {e}")

    # Each named schema must itself be a valid 2020-12 schema, or every check using it
    # would fail for reasons that have nothing to do with the server.
    schemas = (doc.get("components") or {}).get("schemas") or {}
    for name, schema in schemas.items():
        try:
            jsonschema.Draft202012Validator.check_schema(schema)
        except jsonschema.SchemaError as e:
            problems.append(f"{path}: components/schemas/{name} is not a valid schema: "
                            f"{e.message}")
    return doc, problems


def find_refs(node, where):
    """Yields (location, target) for every `$ref` string in the document."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield where, value
            else:
                yield from find_refs(value, f"{where}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from find_refs(value, f"{where}/{i}")


def resolve_pointer(doc, ref):
    """The node a local `$ref` ("#/a/b") points at; raises ContractError if there is none."""
    if not ref.startswith("#"):
        raise ContractError("only local references (#/...) are supported")
    node = doc
    pointer = unquote(ref[1:])
    if pointer == "":
        return node
    if not pointer.startswith("/"):
        raise ContractError("not a JSON pointer")
    for token in pointer[1:].split("/"):
        token = token.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict):
            # YAML may have read keys such as 200 as integers.
            matches = [v for k, v in node.items() if str(k) == token]
            if not matches:
                raise ContractError(f"no {token!r}")
            node = matches[0]
        elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
            node = node[int(token)]
        else:
            raise ContractError(f"no {token!r}")
    return node


def deref(doc, node):
    """`node`, or what it points at when it is a `{"$ref": ...}` (as responses may be)."""
    seen = set()
    while isinstance(node, dict) and isinstance(node.get("$ref"), str):
        ref = node["$ref"]
        if ref in seen:
            raise ContractError(f"$ref cycle at {ref}")
        seen.add(ref)
        node = resolve_pointer(doc, ref)
    return node


def path_templates(doc):
    """(template, compiled regex) for every path of the document, literal paths first."""
    compiled = []
    for template in doc["paths"]:
        template = str(template)
        regex = ""
        for part in re.split(r"(\{[^/{}]+\})", template):
            # A template parameter matches one non-empty segment.
            regex += "[^/]+" if part.startswith("{") and part.endswith("}") else re.escape(part)
        compiled.append((template, re.compile(regex)))
    # Fewer parameters first, so that /a/b wins over /a/{x} when both match.
    compiled.sort(key=lambda pair: pair[0].count("{"))
    return compiled


# ---------------------------------------------------------------------------------------
# Checking one exchange


def parse_json(text):
    """The JSON value of `text`; strict: no NaN/Infinity, no duplicate object keys."""
    def no_constants(name):
        raise ValueError(f"{name} is not JSON")

    def no_duplicates(pairs):
        keys = [k for k, _ in pairs]
        duplicated = sorted({k for k in keys if keys.count(k) > 1})
        if duplicated:
            raise ValueError(f"duplicate keys {duplicated}")
        return dict(pairs)

    return json.loads(text, parse_constant=no_constants, object_pairs_hook=no_duplicates)


def describe(error):
    """One schema violation as `at <json path>: <what>`."""
    where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
    message = error.message
    if len(message) > 200:
        message = message[:200] + "..."
    return f"at ${where}: {message}"


def media_type(content_type):
    """`application/json; charset=utf-8` -> `application/json`."""
    return (content_type or "").split(";")[0].strip().lower()


def find_response(operation, status):
    """The response object documented for `status` ("404", then "4XX", then "default")."""
    responses = {str(k).upper(): v for k, v in (operation.get("responses") or {}).items()}
    for key in (str(status), f"{str(status)[0]}XX", "DEFAULT"):
        if key in responses:
            return responses[key]
    return None


def header_names_value(headers, name):
    """The value of header `name` (any case) in a recorded header mapping, or None."""
    return (headers or {}).get(name.lower())


def allow_set(text):
    return {m.strip().upper() for m in (text or "").split(",") if m.strip()}


def etag_tags(text):
    """The entity tags of an If-None-Match value, without any W/ prefix, each as the tag of
    the uncompressed body (a compressed variant's tag revalidates the same content)."""
    return [base_tag(t) for t in (text or "").split(",") if t.strip()]


def base_tag(tag):
    """`W/"abc-br"` -> `"abc"`."""
    return re.sub(r'-(gzip|br)"$', '"', tag.strip().removeprefix("W/"))


class Contract:
    """The document, ready to check exchanges against."""

    def __init__(self, doc):
        self.doc = doc
        self.templates = path_templates(doc)
        # Component refs ("#/components/...") resolve against the whole document.
        self.resolver = jsonschema.RefResolver.from_schema(doc)
        self.validators = {}  # id(schema) -> validator, built once per schema

    def validate_json(self, body, schema):
        """Raises ContractError unless `body` is JSON that `schema` accepts."""
        try:
            value = parse_json(body)
        except ValueError as e:
            raise ContractError(f"body is not JSON: {e}")
        validator = self.validators.get(id(schema))
        if validator is None:
            # No format checker: `format` is an annotation only (the patterns pin down the
            # date-time form).
            validator = jsonschema.Draft202012Validator(schema, resolver=self.resolver)
            self.validators[id(schema)] = validator
        try:
            errors = sorted(validator.iter_errors(value),
                            key=lambda e: [str(p) for p in e.absolute_path])
        except jsonschema.RefResolutionError as e:
            raise ContractError(f"schema $ref does not resolve: {e}")
        if errors:
            raise ContractError("; ".join(describe(e) for e in errors))

    def check_error_body(self, method, body):
        """An error answer has an `Error` body (but for HEAD, which has no body)."""
        if method != "HEAD":
            self.validate_json(body, ERROR_SCHEMA)

    def check(self, exchange):
        """Raises ContractError when `exchange` breaks the contract."""
        self.check_body(exchange)
        if isinstance(exchange.get("headers"), dict):
            self.check_headers(exchange)

    def path_methods(self, template):
        """The methods a path of the document answers: its operations, HEAD with GET,
        and OPTIONS (the preflight, answered on every path)."""
        path_item = deref(self.doc, self.doc["paths"][template])
        methods = {m.upper() for m in path_item if m in OPERATION_METHODS}
        if "GET" in methods:
            methods.add("HEAD")
        methods.add("OPTIONS")
        return methods

    def operation_response(self, exchange):
        """(template, documented response or None) for an exchange on a documented path."""
        method = exchange["method"].upper()
        path = re.split(r"[?#]", exchange["path"], maxsplit=1)[0]
        template = next((t for t, regex in self.templates if regex.fullmatch(path)), None)
        if template is None:
            return None, None
        path_item = deref(self.doc, self.doc["paths"][template])
        operation = path_item.get("get" if method == "HEAD" else method.lower())
        if not isinstance(operation, dict):
            return template, None
        response = find_response(operation, exchange["status"])
        return template, deref(self.doc, response) if response is not None else None

    def check_header_value(self, name, value, header):
        """Raises ContractError unless `value` fits the documented header object."""
        schema = deref(self.doc, header).get("schema") or {}
        instance = value
        if deref(self.doc, schema).get("type") == "integer":
            if not re.fullmatch(r"-?[0-9]+", value.strip()):
                raise ContractError(f"header {name}: {value!r} is not an integer")
            instance = int(value)
        validator = self.validators.get(id(schema))
        if validator is None:
            validator = jsonschema.Draft202012Validator(schema, resolver=self.resolver)
            self.validators[id(schema)] = validator
        errors = list(validator.iter_errors(instance))
        if errors:
            raise ContractError(f"header {name}: {value!r}: " +
                                "; ".join(e.message for e in errors))

    def check_headers(self, exchange):
        """Raises ContractError when a header of the answer breaks the contract."""
        headers = exchange["headers"]
        request_headers = exchange.get("request_headers") or {}
        method = exchange["method"].upper()
        status = exchange["status"]
        bodiless = method == "HEAD" or status in (204, 304)
        problems = []

        def get(name):
            return header_names_value(headers, name)

        # Every answer with a body says what it is.
        content_type = get("Content-Type")
        if exchange["body"] and not bodiless:
            if not content_type:
                problems.append("a body without Content-Type")
            elif (media_type(content_type) == "application/json" and
                  "charset=utf-8" not in content_type.lower().replace(" ", "")):
                problems.append(f"Content-Type {content_type!r}: JSON says charset=utf-8")

        template, response = self.operation_response(exchange)

        # The headers the matched response documents.
        for name, header in ((response or {}).get("headers") or {}).items():
            header = deref(self.doc, header)
            value = get(str(name))
            if value is None:
                if header.get("required") and not (bodiless and str(name).lower() ==
                                                   "content-encoding"):
                    problems.append(f"header {name} is required here and missing")
                continue
            try:
                self.check_header_value(str(name), value, header)
            except ContractError as e:
                problems.append(str(e))

        # Allow on 405 and on the preflight: exactly the path's methods.
        if template is not None and (status == 405 or (method == "OPTIONS" and status == 204)):
            allow = get("Allow")
            if allow is None:
                problems.append(f"a {status} without Allow")
            elif allow_set(allow) != self.path_methods(template):
                problems.append(f"Allow {allow!r}, but {template} answers "
                                f"{', '.join(sorted(self.path_methods(template)))}")

        # A created listing is named by Location.
        if status == 201 and method == "POST" and template == "/listings":
            try:
                created = parse_json(exchange["body"])
                want = f"/listings/{created['id']}"
            except (ValueError, KeyError, TypeError):
                want = None
            if want and get("Location") != want:
                problems.append(f"Location {get('Location')!r}, expected {want!r}")

        # A page (GET /listings with a query) has a tag; a 304 has one the request named.
        query = "?" in exchange["path"] and exchange["path"].split("?", 1)[1] != ""
        if (template == "/listings" and method in ("GET", "HEAD") and query and
                status in (200, 304) and get("ETag") is None):
            problems.append("a page of GET /listings without ETag")
        if status == 304 and get("ETag") is not None:
            named = etag_tags(header_names_value(request_headers, "If-None-Match"))
            if named and "*" not in named and base_tag(get("ETag")) not in named:
                problems.append(f"304 with ETag {get('ETag')!r}, which If-None-Match "
                                f"{header_names_value(request_headers, 'If-None-Match')!r} "
                                f"does not name")

        # Any tag anywhere has the documented form.
        tag_header = (self.doc.get("components") or {}).get("headers", {}).get("ETag")
        if get("ETag") is not None and tag_header is not None:
            try:
                self.check_header_value("ETag", get("ETag"), tag_header)
            except ContractError as e:
                problems.append(str(e))

        # The rate-limit headers come together (on every answer counted by a limit).
        limits = {n: get(n) for n in ("RateLimit-Limit", "RateLimit-Remaining",
                                      "RateLimit-Reset")}
        present = {n: v for n, v in limits.items() if v is not None}
        if present:
            if len(present) != len(limits):
                problems.append(f"RateLimit headers incomplete: {sorted(present)}")
            elif not all(re.fullmatch(r"[0-9]+", v.strip()) for v in present.values()):
                problems.append(f"RateLimit headers are not non-negative integers: {present}")
            elif int(limits["RateLimit-Remaining"]) > int(limits["RateLimit-Limit"]):
                problems.append(f"RateLimit-Remaining above RateLimit-Limit: {present}")

        if problems:
            raise ContractError("; ".join(problems))

    def check_body(self, exchange):
        """Raises ContractError when the status or body of `exchange` breaks the contract."""
        method = exchange["method"].upper()
        status = exchange["status"]
        body = exchange["body"]
        path = re.split(r"[?#]", exchange["path"], maxsplit=1)[0]
        bodiless = method == "HEAD" or status in (204, 304)
        if bodiless and body:
            raise ContractError(f"a {method} answer with status {status} must have no body")

        template = next((t for t, regex in self.templates if regex.fullmatch(path)), None)
        if template is None:
            if status not in UNKNOWN_PATH_STATUSES:
                raise ContractError(f"path matches no template of the document; expected one "
                                    f"of {sorted(UNKNOWN_PATH_STATUSES)}, got {status}")
            return self.check_error_body(method, body)

        path_item = deref(self.doc, self.doc["paths"][template])
        lookup = "get" if method == "HEAD" else method.lower()  # HEAD goes with GET
        operation = path_item.get(lookup) if lookup in OPERATION_METHODS else None

        if operation is None and method == "OPTIONS":
            # A CORS preflight, answered on every path without being an operation.
            if status == 204:
                return None
            if status < 400:
                raise ContractError(f"OPTIONS on {template} should answer 204, got {status}")
            return self.check_error_body(method, body)
        if operation is None:
            if status != 405:
                raise ContractError(f"{template} has no {method} operation; expected 405, "
                                    f"got {status}")
            return self.check_error_body(method, body)

        response = find_response(operation, status)
        if response is None:
            raise ContractError(f"undocumented status {status} for {lookup.upper()} {template}")
        if bodiless:
            return None
        content = deref(self.doc, response).get("content") or {}
        if not content:
            if body:
                raise ContractError(f"status {status} is documented without a body, got one")
            return None

        # The documented media type the answer says it has (or the first one documented).
        got = media_type(exchange.get("content_type"))
        documented = {media_type(k): v for k, v in content.items()}
        if got and got not in documented:
            raise ContractError(f"Content-Type {got!r} is not documented here "
                                f"(expected one of {sorted(documented)})")
        kind = got or next(iter(documented))
        media = deref(self.doc, documented[kind]) or {}
        if kind == "application/json" or kind.endswith("+json"):
            self.validate_json(body, media.get("schema", {}))
        elif not body:
            raise ContractError(f"{kind} body is empty")
        return None


# ---------------------------------------------------------------------------------------
# Driver


def read_exchanges(path):
    """Yields (line number, exchange or None, problem or None) for each non-blank line."""
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                exchange = json.loads(line)
                if not isinstance(exchange, dict):
                    raise ValueError("not a JSON object")
                for key, kind in (("method", str), ("path", str), ("status", int)):
                    if not isinstance(exchange.get(key), kind):
                        raise ValueError(f"'{key}' missing or not a {kind.__name__}")
                body = exchange.get("body")
                if body is None:
                    exchange["body"] = ""
                elif not isinstance(body, str):
                    raise ValueError("'body' is not a string")
            except ValueError as e:
                yield number, None, f"line {number} is not a valid exchange: {e}"
                continue
            yield number, exchange, None


def excerpt(text):
    """`text`, cut to BODY_EXCERPT_CHARS for a failure report."""
    text = text or ""
    if len(text) > BODY_EXCERPT_CHARS:
        return text[:BODY_EXCERPT_CHARS] + f"... ({len(text)} chars)"
    return text


def main(argv):
    require_via = []
    if len(argv) == 5 and argv[3] == "--require-via":
        require_via = [v for v in argv[4].split(",") if v]
        argv = argv[:3]
    if len(argv) != 3:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    doc_path, exchanges_path = argv[1], argv[2]
    passed, failed = 0, 0
    seen_via = {}

    doc, problems = load_document(doc_path)
    for problem in problems:
        print(f"FAIL document: {problem}")
        failed += 1

    if doc is not None:
        contract = Contract(doc)
        try:
            exchanges = list(read_exchanges(exchanges_path))
            if not exchanges:
                print(f"FAIL exchanges: {exchanges_path} holds no exchange")
                failed += 1
        except (OSError, UnicodeDecodeError) as e:
            print(f"FAIL exchanges: cannot read {exchanges_path}: {e}")
            exchanges = []
            failed += 1
        for number, exchange, problem in exchanges:
            if problem:
                print(f"FAIL {problem}")
                failed += 1
                continue
            via = exchange.get("via", "client")
            seen_via[via] = seen_via.get(via, 0) + 1
            try:
                contract.check(exchange)
                passed += 1
            except ContractError as e:
                failed += 1
                print(f"FAIL line {number}: {exchange['method']} {exchange['path']} "
                      f"-> {exchange['status']}: {e}\n"
                      f"     body: {excerpt(exchange['body'])!r}")

        for via in require_via:
            if not seen_via.get(via):
                print(f"FAIL exchanges: none got by {via}; the tests must record those too")
                failed += 1
        if seen_via:
            print("exchanges by how they were got: " +
                  ", ".join(f"{v} {n}" for v, n in sorted(seen_via.items())))

    print(f"contract: {passed} passed, {failed} failed")
    return 1 if failed or passed == 0 else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
