// Reads the objects of a manifest file: a YAML stream of documents, or one JSON document.
import { readFileSync } from "node:fs";
import { parseAllDocuments } from "yaml";

// YAML 1.1, as kubectl reads it (sigs.k8s.io/yaml over go-yaml): `0440` is octal and `yes` a
// boolean there, so a value that kubectl would misread fails here too. Duplicate keys, which
// kubectl refuses, are an error of the parser.
const yamlOptions = { version: "1.1", uniqueKeys: true };

// Returns {objects, errors}: the non-empty documents in order; errors are parse errors.
export function readManifests(file) {
  const text = readFileSync(file, "utf8");
  if (file.endsWith(".json")) {
    try {
      return { objects: [JSON.parse(text)], errors: [] };
    } catch (e) {
      return { objects: [], errors: [`invalid JSON: ${e.message}`] };
    }
  }
  const objects = [];
  const errors = [];
  for (const doc of parseAllDocuments(text, yamlOptions)) {
    for (const e of [...doc.errors, ...doc.warnings]) {
      const line = e.linePos?.[0]?.line;
      errors.push(`invalid YAML${line ? ` (line ${line})` : ""}: ${e.message.split(/ at line |\n/)[0]}`);
    }
    if (doc.errors.length) continue;
    const value = doc.toJS({ maxAliasCount: 100 });
    if (value !== null && value !== undefined) objects.push(value);  // a comment-only document
  }
  return { objects, errors };
}
