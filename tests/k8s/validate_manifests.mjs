// Offline schema validation of every Kubernetes manifest in k8s/ and of every golden output of
// `shmlog inject` (tests/inject/golden/**/*.out.yaml, *.out.json), against the Kubernetes API
// schema of the npm package kubernetes-models (cert-manager's from @kubernetes-models/cert-manager),
// strictly: a wrong type, a missing required field, a bad enum value, an unknown or misspelled
// field, or an unknown apiVersion/kind fails (lib/schema.mjs says how). Each kustomization is
// rendered as `kubectl apply -k` would send it (lib/kustomize.mjs), so patches are checked in
// place, and every file it names must exist. Plain node, no test framework: exit 0 is a pass.
//
//   node tests/k8s/validate_manifests.mjs                 the repository's k8s/ and golden outputs
//   node tests/k8s/validate_manifests.mjs FILE|DIR...     only these (a DIR as a k8s/ tree)
//   node tests/k8s/validate_manifests.mjs --expect-rejections tests/k8s/bad
//       the self-check: every file (or folder, a kustomization) there must be rejected, with a
//       message containing each of its `# expect: TEXT` lines
//   node tests/k8s/validate_manifests.mjs --render k8s/overlays/legacy
//       prints the objects as this check renders that kustomization (YAML), to compare with
//       `kubectl kustomize` where one is at hand
//
// The packages come from tests/k8s/package-lock.json (scripts/install-deps.sh runs npm ci here).
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { basename, dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const HERE = dirname(fileURLToPath(import.meta.url));
const REPO = resolve(HERE, "../..");
const INSTALL_HINT = "run scripts/install-deps.sh (it runs npm ci --prefix tests/k8s)";

let schema, documents, kustomize;
try {
  [schema, documents, kustomize] = await Promise.all([
    import("./lib/schema.mjs"), import("./lib/documents.mjs"), import("./lib/kustomize.mjs")]);
} catch (e) {
  console.error(`k8s: cannot load the validator's npm packages from tests/k8s/node_modules (${e.code || e.message}): ${INSTALL_HINT}`);
  process.exit(1);
}

const MANIFEST = /\.(ya?ml|json)$/;
const rel = (p) => relative(REPO, p) || ".";

function walk(dir, keep) {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true })
    .sort((a, b) => a.name.localeCompare(b.name))
    .flatMap((e) => {
      const p = join(dir, e.name);
      if (e.isDirectory()) return e.name === "node_modules" ? [] : walk(p, keep);
      return keep(p) ? [p] : [];
    });
}

// One checked unit (a file or a rendered kustomization): [{what, errors}].
function checkFile(file) {
  const { objects, errors } = documents.readManifests(file);
  const results = errors.map((e) => ({ what: "(parse)", errors: [e] }));
  if (!objects.length && !errors.length) results.push({ what: "(file)", errors: ["no object in the file"] });
  for (const o of objects) results.push(...schema.validateObject(o));
  return results;
}

// A k8s/-like tree: every kustomization rendered and validated; every other manifest file
// validated as whole objects, and required to be named by some kustomization.
function checkTree(dir) {
  const units = [];
  const resourceFiles = new Set();
  const patchFiles = new Set();
  const kustomizationDirs = [...new Set(walk(dir, (p) => kustomize.kustomizationFile(dirname(p)) === p).map(dirname))];
  for (const kdir of kustomizationDirs) {
    const r = kustomize.render(kdir, REPO);
    r.resourceFiles.forEach((f) => resourceFiles.add(f));
    r.patchFiles.forEach((f) => patchFiles.add(f));
    const results = r.errors.map((e) => ({ what: "(kustomization)", errors: [e] }));
    for (const o of r.objects) results.push(...schema.validateObject(o));
    units.push({ label: `kubectl apply -k ${rel(kdir)}`, results });
  }
  for (const file of walk(dir, (p) => MANIFEST.test(p) && !kustomizationDirs.some((d) => kustomize.kustomizationFile(d) === p))) {
    if (patchFiles.has(file) && !resourceFiles.has(file)) continue;  // a partial object: checked in place above
    const results = checkFile(file);
    if (kustomizationDirs.length && !resourceFiles.has(file)) {
      results.push({ what: "(file)", errors: ["not named by any kustomization.yaml (`kubectl apply -k` would never apply it)"] });
    }
    units.push({ label: rel(file), results });
  }
  return units;
}

const failed = (unit) => unit.results.some((r) => r.errors.length);

function print(unit) {
  const ok = !failed(unit);
  const whats = unit.results.map((r) => r.what).filter((w) => !w.startsWith("(")).join(", ");
  console.log(`${ok ? "ok  " : "FAIL"}  ${unit.label}${whats ? `  (${whats})` : ""}`);
  for (const r of unit.results) for (const e of r.errors) console.log(`        ${r.what}: ${e}`);
}

function objectCount(units) {
  return units.reduce((n, u) => n + u.results.filter((r) => !r.what.startsWith("(")).length, 0);
}

function checkRepository() {
  const units = checkTree(join(REPO, "k8s"));
  if (!units.length) units.push({ label: "k8s/", results: [{ what: "(tree)", errors: ["no manifest found"] }] });
  const goldenDir = join(REPO, "tests/inject/golden");
  const golden = walk(goldenDir, (p) => /\.out\.(ya?ml|json)$/.test(p));
  const goldenUnits = golden.map((f) => ({ label: rel(f), results: checkFile(f) }));
  units.forEach(print);
  goldenUnits.forEach(print);
  console.log(existsSync(goldenDir)
    ? `golden outputs: ${golden.length} checked in ${rel(goldenDir)}`
    : `golden outputs: 0 checked (${rel(goldenDir)} does not exist yet)`);
  const all = [...units, ...goldenUnits];
  const bad = all.filter(failed).length;
  console.log(`k8s schema check: ${all.length - bad} passed, ${bad} failed ` +
              `(${objectCount(all)} objects; schema of ${schema.knownKindCount()} kinds)`);
  return bad === 0;
}

function checkPaths(paths) {
  const units = paths.flatMap((p) => statSync(p).isDirectory() ? checkTree(resolve(p)) : [{ label: p, results: checkFile(resolve(p)) }]);
  units.forEach(print);
  const bad = units.filter(failed).length;
  console.log(`k8s schema check: ${units.length - bad} passed, ${bad} failed`);
  return bad === 0;
}

// The self-check: each entry of `dir` must fail, with each `# expect:` text in its messages.
function checkRejections(dir) {
  let bad = 0;
  const entries = readdirSync(dir).sort().map((n) => join(dir, n));
  for (const entry of entries) {
    const isDir = statSync(entry).isDirectory();
    const expectFrom = isDir ? kustomize.kustomizationFile(entry) : entry;
    const expected = expectFrom ? [...readFileSync(expectFrom, "utf8").matchAll(/^#\s*expect:\s*(.+?)\s*$/gm)].map((m) => m[1]) : [];
    const units = isDir ? checkTree(entry) : [{ label: rel(entry), results: checkFile(entry) }];
    const messages = units.flatMap((u) => u.results.flatMap((r) => r.errors.map((e) => `${u.label}: ${r.what}: ${e}`)));
    const missing = expected.filter((text) => !messages.some((m) => m.includes(text)));
    let problem = "";
    if (!expected.length) problem = "has no `# expect: TEXT` line saying what must be rejected";
    else if (!messages.length) problem = "was accepted";
    else if (missing.length) problem = `was rejected, but no message contains: ${missing.map((t) => JSON.stringify(t)).join(", ")}`;
    if (problem) {
      bad++;
      console.log(`FAIL  ${rel(entry)} ${problem}`);
      for (const m of messages) console.log(`        ${m}`);
    } else {
      console.log(`ok    ${rel(entry)} rejected:`);
      for (const m of messages) console.log(`        ${m}`);
    }
  }
  if (!entries.length) {
    bad++;
    console.log(`FAIL  ${rel(dir)} holds no broken manifest to reject`);
  }
  console.log(`k8s rejection self-check: ${entries.length - bad} passed, ${bad} failed`);
  return bad === 0;
}

const args = process.argv.slice(2);
let ok;
if (args[0] === "--expect-rejections" && args.length === 2) ok = checkRejections(resolve(args[1]));
else if (args[0] === "--render" && args.length === 2) {
  const { stringify } = await import("yaml");
  const r = kustomize.render(resolve(args[1]), REPO);
  process.stdout.write(r.objects.map((o) => stringify(o)).join("---\n"));
  r.errors.forEach((e) => console.error(e));
  ok = r.errors.length === 0;
}
else if (args.some((a) => a.startsWith("-"))) {
  console.error(`usage: node ${basename(process.argv[1])} [FILE|DIR...] | --expect-rejections DIR | --render DIR`);
  process.exit(2);
} else ok = args.length ? checkPaths(args) : checkRepository();
process.exit(ok ? 0 : 1);
