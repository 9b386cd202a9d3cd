"""Checks real responses of Rekey's REST API against its own OpenAPI document: each JSON body
must match the schema the document gives for its route, method and status.

    python check_responses.py OPENAPI_JSON RESPONSES_JSON

RESPONSES_JSON is a list of {"method", "path" (as the document writes it), "status", "body"}.
Prints what does not match and exits 1 when anything does not.
"""

import json
import sys

from jsonschema import Draft202012Validator


def main(doc_file, responses_file):
    with open(doc_file) as f:
        doc = json.load(f)
    with open(responses_file) as f:
        responses = json.load(f)
    failures = []
    for r in responses:
        where = f'{r["method"].upper()} {r["path"]} -> {r["status"]}'
        operation = doc["paths"].get(r["path"], {}).get(r["method"].lower())
        if operation is None:
            failures.append(f"{where}: not in the document")
            continue
        described = operation["responses"].get(str(r["status"]))
        if described is None:
            failures.append(f"{where}: the document lists no such status")
            continue
        schema = described.get("content", {}).get("application/json", {}).get("schema")
        if schema is None:
            failures.append(f"{where}: the document gives no JSON schema")
            continue
        # The schema's $refs point into the document's components: validate with the
        # components beside it, as one resource.
        root = dict(schema)
        root["components"] = doc.get("components", {})
        for error in Draft202012Validator(root).iter_errors(r["body"]):
            path = "/".join(str(p) for p in error.absolute_path)
            failures.append(f"{where}: at '{path}': {error.message}")
    for failure in failures:
        print(failure)
    print(f"{len(responses)} responses checked, {len(failures)} problems")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
