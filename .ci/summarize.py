"""Summarise `go test -json` output for CI: which interpreters ran how many
subtests, one line per package in go test's own format, the full output of
every failed test, and a closing "N passed, N failed, N skipped" line.
Reads the JSON stream on stdin; exits 1 if any test or package failed."""
import collections
import json
import re
import sys

outputs = collections.defaultdict(list)  # (package, test) -> lines
results = {}  # (package, test) -> action
packages = []  # (package, action, elapsed)
build_output = collections.defaultdict(list)
interp_line = None

for raw in sys.stdin:
    raw = raw.strip()
    if not raw.startswith("{"):
        print(raw)  # build errors and the like come as plain text
        continue
    ev = json.loads(raw)
    pkg, test, action = ev.get("Package", ""), ev.get("Test"), ev.get("Action")
    if action == "output":
        line = ev.get("Output", "")
        if test:
            outputs[(pkg, test)].append(line)
        else:
            build_output[pkg].append(line)
        if interp_line is None and "pymatrix: from" in line:
            interp_line = re.sub(r"^\s*\S+\.go:\d+: ", "", line.rstrip())
    elif action in ("pass", "fail", "skip"):
        if test:
            results[(pkg, test)] = action
        else:
            packages.append((pkg, action, ev.get("Elapsed", 0)))

if interp_line:
    print(interp_line)
per_version = collections.Counter()
for (pkg, test), action in results.items():
    m = re.search(r"/py(\d+\.\d+)(/|$)", test)
    if m and action == "pass" and test.endswith("/py" + m.group(1)):
        per_version[m.group(1)] += 1
if per_version:
    print("interpreter subtests passed:")
    for v in sorted(per_version, key=lambda s: tuple(int(x) for x in s.split("."))):
        print("  py%-5s %d" % (v, per_version[v]))

failed = [k for k, a in results.items() if a == "fail"]
# Print only the innermost failures: a parent fails because a child did.
leaves = [k for k in failed if not any(o[0] == k[0] and o[1].startswith(k[1] + "/") for o in failed)]
for pkg, test in sorted(leaves):
    print("\n=== FAILED %s %s" % (pkg, test))
    sys.stdout.write("".join(outputs[(pkg, test)][-200:]))

skipped = sorted(k for k, a in results.items() if a == "skip")
if skipped:
    print("\nskipped (each says why):")
    for pkg, test in skipped:
        why = [l.strip() for l in outputs[(pkg, test)] if l.strip() and not l.strip().startswith(("=== ", "--- "))]
        print("  %s %s: %s" % (pkg.rsplit("/", 1)[-1], test, why[-1] if why else "(no reason given)"))

print()
for pkg, action, elapsed in packages:
    if action == "fail" and not any(k[0] == pkg for k in failed):
        sys.stdout.write("".join(build_output[pkg][-50:]))
    word = {"pass": "ok  ", "fail": "FAIL", "skip": "?   "}[action]
    print("%s\t%s\t%.3fs" % (word, pkg, elapsed))

counts = collections.Counter(results.values())
print("\n%d passed, %d failed, %d skipped" % (counts["pass"], counts["fail"], counts["skip"]))
sys.exit(1 if counts["fail"] or any(a == "fail" for _, a, _ in packages) else 0)
