#!/usr/bin/env python3
"""Validate JSON documents, one per line, against a JSON Schema.

usage: validate.py SCHEMA VALID.jsonl INVALID.jsonl

Every line of VALID.jsonl must validate; every line of INVALID.jsonl
must not. Prints one JSON object: counts of what the valid lines hold
(for --events lines: so the caller can tell the sample covered each kind
of line), or the first errors. Exit status 1 on any failure. Used by
TestEventsSchema and TestReportSchema (cmd/smtpscope) for smtpscope's
--events lines and JSON reports; needs python3-jsonschema
(scripts/setup.sh).
"""
import json
import sys

import jsonschema


def main():
    schema_path, valid_path, invalid_path = sys.argv[1:4]
    with open(schema_path) as f:
        schema = json.load(f)
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    checker = getattr(cls, "FORMAT_CHECKER", None) or jsonschema.FormatChecker()
    validator = cls(schema, format_checker=checker)
    errors = []
    counts = {"lines": 0, "incident": 0, "connection": 0, "redacted": 0,
              "email": 0, "transactions": 0, "banner": 0, "reply": 0,
              "decryption": 0, "held_for_key": 0, "correction": 0}
    with open(valid_path) as f:
        for n, line in enumerate(f, 1):
            ev = json.loads(line)
            for e in validator.iter_errors(ev):
                errors.append("%s:%d: %s: %s" % (valid_path, n, "/".join(map(str, e.absolute_path)) or "(line)", e.message[:300]))
            counts["lines"] += 1
            counts[ev.get("event", {}).get("action", "?")] = counts.get(ev.get("event", {}).get("action", "?"), 0) + 1
            if "address" in ev.get("source", {}):
                counts["redacted"] += 1
            if "email" in ev:
                counts["email"] += 1
            sc = ev.get("smtpscope", {})
            if sc.get("transactions"):
                counts["transactions"] += 1
                if any("reply" in t for t in sc["transactions"]):
                    counts["reply"] += 1
            if "banner" in sc:
                counts["banner"] += 1
            if "decryption" in sc:
                counts["decryption"] += 1
                if "held_for_key" in sc["decryption"]:
                    counts["held_for_key"] += 1
    with open(invalid_path) as f:
        for n, line in enumerate(f, 1):
            if validator.is_valid(json.loads(line)):
                errors.append("%s:%d: validates, but should not" % (invalid_path, n))
    print(json.dumps({"counts": counts, "errors": errors[:20], "error_count": len(errors)}))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
