// A small offline stand-in for `kustomize build`, enough for the kustomizations in k8s/: it
// checks that every file a kustomization names exists and renders the objects that `kubectl
// apply -k` would send (resources, strategic merge patches, images, generators, namespace), so
// the schema check sees what a cluster would get, patches applied. A field it does not implement
// is an error, never silently skipped: then extend this file (or keep the kustomization simple).
import { existsSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { parse } from "yaml";
import { readManifests } from "./documents.mjs";

const KUSTOMIZATION_NAMES = ["kustomization.yaml", "kustomization.yml", "Kustomization"];
const SUPPORTED_FIELDS = new Set([
  "apiVersion", "kind", "resources", "patches", "images", "secretGenerator", "configMapGenerator",
  "generatorOptions", "namespace",
]);
// Cluster-scoped kinds keep no namespace.
const CLUSTER_SCOPED = new Set([
  "Namespace", "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration", "ClusterRole",
  "ClusterRoleBinding", "CustomResourceDefinition", "ClusterIssuer", "PriorityClass",
  "StorageClass", "PersistentVolume", "IngressClass", "RuntimeClass",
]);
// Strategic-merge keys of the lists a pod spec patch touches (the `patchMergeKey`s of the
// Kubernetes API); any other list is replaced whole, as kustomize does for lists without one.
const MERGE_KEYS = {
  containers: "name", initContainers: "name", ephemeralContainers: "name", volumes: "name",
  env: "name", volumeMounts: "mountPath", ports: "containerPort", imagePullSecrets: "name",
};

export function kustomizationFile(dir) {
  for (const name of KUSTOMIZATION_NAMES) {
    const file = join(dir, name);
    if (existsSync(file)) return file;
  }
  return null;
}

const clone = (v) => structuredClone(v);

function mergeList(original, patch, key, where, errors) {
  const merged = original.map(clone);
  for (const item of patch) {
    if (!item || typeof item !== "object" || !(key in item)) {
      errors.push(`${where}: a patch item without its merge key "${key}"`);
      continue;
    }
    const at = merged.findIndex((o) => o && o[key] === item[key]);
    if (item.$patch === "delete") {
      if (at < 0) errors.push(`${where}: $patch: delete of ${key}=${item[key]}, which is not there`);
      else merged.splice(at, 1);
    } else if (at >= 0) {
      merged[at] = mergeObject(merged[at], item, `${where}/${item[key]}`, errors);
    } else {
      merged.push(mergeObject({}, item, `${where}/${item[key]}`, errors));
    }
  }
  return merged;
}

// A strategic merge patch, for maps and the merge-key lists above: `key: null` deletes a key,
// `$patch: delete` in a list item removes that item. Other directives are refused.
function mergeObject(original, patch, where, errors) {
  const out = clone(original);
  for (const [k, v] of Object.entries(patch)) {
    if (k.startsWith("$")) {
      if (!(k === "$patch" && v === "delete")) errors.push(`${where}: patch directive ${k} not supported here`);
      continue;
    }
    if (v === null) delete out[k];
    else if (Array.isArray(v) && Array.isArray(out[k]) && MERGE_KEYS[k]) out[k] = mergeList(out[k], v, MERGE_KEYS[k], `${where}/${k}`, errors);
    else if (v && typeof v === "object" && !Array.isArray(v) && out[k] && typeof out[k] === "object" && !Array.isArray(out[k]))
      out[k] = mergeObject(out[k], v, `${where}/${k}`, errors);
    else out[k] = Array.isArray(v) && MERGE_KEYS[k] ? mergeList([], v, MERGE_KEYS[k], `${where}/${k}`, errors) : clone(v);
  }
  return out;
}

function splitImage(image) {
  const at = image.indexOf("@");
  const digest = at >= 0 ? image.slice(at) : "";
  const rest = at >= 0 ? image.slice(0, at) : image;
  const colon = rest.lastIndexOf(":");
  if (colon > rest.lastIndexOf("/")) return { name: rest.slice(0, colon), tag: rest.slice(colon), digest };
  return { name: rest, tag: "", digest };
}

// kustomize's `images:` transformer over every container list in the object.
function setImages(value, images) {
  if (!value || typeof value !== "object") return;
  if (Array.isArray(value)) return value.forEach((v) => setImages(v, images));
  for (const [k, v] of Object.entries(value)) {
    if (["containers", "initContainers", "ephemeralContainers"].includes(k) && Array.isArray(v)) {
      for (const c of v) {
        if (typeof c?.image !== "string") continue;
        const parts = splitImage(c.image);
        const entry = images.find((e) => e.name === parts.name);
        if (!entry) continue;
        const name = entry.newName ?? parts.name;
        const tail = entry.digest ? `@${entry.digest}` : entry.newTag !== undefined ? `:${entry.newTag}` : parts.tag + parts.digest;
        c.image = name + tail;
      }
    } else {
      setImages(v, images);
    }
  }
}

function generated(kind, entry, dir, errors, where) {
  const data = {};
  const add = (key, value) => {
    if (key in data) errors.push(`${where}: ${kind}Generator ${entry.name}: key ${key} twice`);
    data[key] = value;
  };
  for (const spec of entry.files ?? []) {
    const [key, path] = spec.includes("=") ? spec.split("=", 2) : [spec.split("/").pop(), spec];
    const file = join(dir, path);
    if (!existsSync(file)) errors.push(`${where}: ${kind}Generator ${entry.name}: file ${path} does not exist`);
    else add(key, readFileSync(file));
  }
  for (const literal of entry.literals ?? []) {
    const eq = literal.indexOf("=");
    add(literal.slice(0, eq), Buffer.from(literal.slice(eq + 1)));
  }
  for (const path of entry.envs ?? []) {
    const file = join(dir, path);
    if (!existsSync(file)) {
      errors.push(`${where}: ${kind}Generator ${entry.name}: env file ${path} does not exist`);
      continue;
    }
    for (const line of readFileSync(file, "utf8").split("\n")) {
      if (!line.trim() || line.trimStart().startsWith("#")) continue;
      const eq = line.indexOf("=");
      add(line.slice(0, eq).trim(), Buffer.from(line.slice(eq + 1)));
    }
  }
  const object = { apiVersion: "v1", kind, metadata: { name: entry.name } };
  if (kind === "Secret") {
    object.type = entry.type ?? "Opaque";
    object.data = Object.fromEntries(Object.entries(data).map(([k, v]) => [k, v.toString("base64")]));
  } else {
    object.data = Object.fromEntries(Object.entries(data).map(([k, v]) => [k, v.toString("utf8")]));
  }
  return object;
}

const idOf = (o) => `${o?.apiVersion} ${o?.kind} ${o?.metadata?.namespace ?? ""}/${o?.metadata?.name}`;

// Renders the kustomization in `dir`. Returns {objects, errors, resourceFiles, patchFiles}: the
// files it read as whole objects and as patches (absolute paths), so a caller knows which YAML
// files are partial objects.
export function render(dir, root, seen = new Set()) {
  const result = { objects: [], errors: [], resourceFiles: new Set(), patchFiles: new Set() };
  const file = kustomizationFile(dir);
  const where = relative(root, file ?? dir);
  if (!file) {
    result.errors.push(`${relative(root, dir)}: no kustomization.yaml`);
    return result;
  }
  if (seen.has(dir)) {
    result.errors.push(`${where}: includes itself`);
    return result;
  }
  seen.add(dir);
  let k;
  try {
    k = parse(readFileSync(file, "utf8"), { version: "1.1", uniqueKeys: true });
  } catch (e) {
    result.errors.push(`${where}: invalid YAML: ${e.message.split("\n")[0]}`);
    return result;
  }
  if (!k || typeof k !== "object") {
    result.errors.push(`${where}: empty`);
    return result;
  }
  if (k.kind !== undefined && k.kind !== "Kustomization") result.errors.push(`${where}: kind must be Kustomization`);
  for (const field of Object.keys(k)) {
    if (!SUPPORTED_FIELDS.has(field)) result.errors.push(`${where}: field "${field}" is not known to the offline check (tests/k8s/lib/kustomize.mjs)`);
  }

  for (const resource of k.resources ?? []) {
    if (/^[a-z]+:\/\/|^github\.com\//.test(resource)) {
      result.errors.push(`${where}: remote resource ${resource} cannot be checked offline`);
      continue;
    }
    const path = join(dir, resource);
    if (!existsSync(path)) {
      result.errors.push(`${where}: resource ${resource} does not exist`);
    } else if (statSync(path).isDirectory()) {
      const sub = render(path, root, new Set(seen));
      result.objects.push(...sub.objects);
      result.errors.push(...sub.errors);
      sub.resourceFiles.forEach((f) => result.resourceFiles.add(f));
      sub.patchFiles.forEach((f) => result.patchFiles.add(f));
    } else {
      const { objects, errors } = readManifests(path);
      result.resourceFiles.add(path);
      result.objects.push(...objects);
      result.errors.push(...errors.map((e) => `${relative(root, path)}: ${e}`));
    }
  }
  for (const entry of k.configMapGenerator ?? []) result.objects.push(generated("ConfigMap", entry, dir, result.errors, where));
  for (const entry of k.secretGenerator ?? []) result.objects.push(generated("Secret", entry, dir, result.errors, where));

  const ids = new Set();
  for (const o of result.objects) {
    if (ids.has(idOf(o))) result.errors.push(`${where}: ${idOf(o)} twice (kustomize refuses a repeated id)`);
    ids.add(idOf(o));
  }

  for (const p of k.patches ?? []) {
    if (typeof p?.path !== "string") {
      result.errors.push(`${where}: only patches with a path (a strategic merge patch file) are supported`);
      continue;
    }
    const path = join(dir, p.path);
    if (!existsSync(path)) {
      result.errors.push(`${where}: patch ${p.path} does not exist`);
      continue;
    }
    result.patchFiles.add(path);
    const { objects: patches, errors } = readManifests(path);
    result.errors.push(...errors.map((e) => `${relative(root, path)}: ${e}`));
    for (const patch of patches) {
      if (Array.isArray(patch)) {
        result.errors.push(`${relative(root, path)}: JSON6902 patches are not supported by the offline check`);
        continue;
      }
      const kind = p.target?.kind ?? patch.kind;
      const name = p.target?.name ?? patch.metadata?.name;
      const at = result.objects.findIndex((o) => o.kind === kind && o.metadata?.name === name);
      if (at < 0) {
        result.errors.push(`${relative(root, path)}: patches ${kind}/${name}, which the kustomization does not have`);
        continue;
      }
      result.objects[at] = mergeObject(result.objects[at], patch, relative(root, path), result.errors);
    }
  }

  if (k.images) result.objects.forEach((o) => setImages(o, k.images));
  if (typeof k.namespace === "string") {
    for (const o of result.objects) if (o?.metadata && !CLUSTER_SCOPED.has(o.kind)) o.metadata.namespace = k.namespace;
  }
  return result;
}
