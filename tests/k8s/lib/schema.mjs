// Validates one Kubernetes object against the API schema, offline: the JSON-schema validators
// that the npm packages kubernetes-models and @kubernetes-models/cert-manager generate from the
// Kubernetes (and cert-manager) OpenAPI documents.
//
// Those validators catch wrong types, missing required fields and bad enum values, but accept any
// unknown field (the schemas have no additionalProperties: false), and the packages ship them only
// as compiled code, not as JSON schemas we could make strict. So the strict check is ours: the
// object is validated through a Proxy that records which keys the validator looks up in each
// object. A compiled validator looks up every property its schema declares (present or not), and
// enumerates the keys of a map (labels, resources.limits, ConfigMap data); a key it never looked up
// in an object whose schema declares properties is not in the API: a misspelled or unknown field.
// An object whose keys it neither looked up nor enumerated is free-form in the schema (none of our
// kinds has one) and is left alone.
import * as kubernetesModels from "kubernetes-models";
import * as certManagerModels from "@kubernetes-models/cert-manager";

// "apiVersion kind" -> model class. Only GA API versions: every alpha/beta version of these
// packages is one a current cluster no longer serves (or never did by default), and the
// manifests here target Kubernetes 1.29 and later. certmanager.k8s.io is cert-manager's
// pre-1.0 group.
const models = new Map();
function collect(namespace, seen = new Set()) {
  if (seen.has(namespace)) return;
  seen.add(namespace);
  for (const value of Object.values(namespace)) {
    if (typeof value === "function" && typeof value.apiVersion === "string" && typeof value.kind === "string") {
      if (/(alpha|beta)\d*$/.test(value.apiVersion) || value.apiVersion.startsWith("certmanager.k8s.io/")) continue;
      models.set(`${value.apiVersion} ${value.kind}`, value);
    } else if (value && typeof value === "object") {
      collect(value, seen);
    }
  }
}
collect(kubernetesModels);
collect(certManagerModels);

export function knownKindCount() {
  return models.size;
}

const ENUMERATED = Symbol("enumerated");

// Wraps `root` so that every key lookup in every nested object is recorded in `reads`.
function tracing(root, reads) {
  const proxies = new WeakMap();
  const wrap = (value) => {
    if (value === null || typeof value !== "object") return value;
    let proxy = proxies.get(value);
    if (proxy) return proxy;
    const keys = new Set();
    reads.set(value, keys);
    proxy = new Proxy(value, {
      get(target, key, receiver) {
        if (typeof key === "string") keys.add(key);
        return wrap(Reflect.get(target, key, receiver));
      },
      has(target, key) {
        if (typeof key === "string") keys.add(key);
        return Reflect.has(target, key);
      },
      ownKeys(target) {
        keys.add(ENUMERATED);
        return Reflect.ownKeys(target);
      },
    });
    proxies.set(value, proxy);
    return proxy;
  };
  return wrap(root);
}

// Keys of `value` (and below) that the validator never looked up where it looked up others.
function unknownFields(value, reads, path, out) {
  if (value === null || typeof value !== "object") return;
  if (Array.isArray(value)) {
    value.forEach((item, i) => unknownFields(item, reads, `${path}/${i}`, out));
    return;
  }
  const keys = reads.get(value);
  if (!keys || keys.has(ENUMERATED)) return;  // never reached (under an unknown field) or a map
  const declaresProperties = keys.size > 0;
  for (const [key, child] of Object.entries(value)) {
    if (declaresProperties && !keys.has(key)) {
      out.push(`${path}/${key}: unknown field "${key}" (not in the API schema; misspelled?)`);
      continue;
    }
    unknownFields(child, reads, `${path}/${key}`, out);
  }
}

function schemaErrors(errors) {
  return (errors ?? []).map((e) => {
    if (e.keyword === "required") return `${e.instancePath}/${e.params.missingProperty}: required field missing`;
    if (e.keyword === "enum") return `${e.instancePath}: ${e.message}: ${e.params.allowedValues.join(", ")}`;
    return `${e.instancePath || "/"}: ${e.message}`;
  });
}

function describe(object) {
  const name = object?.metadata?.name ?? object?.metadata?.generateName ?? "(no name)";
  return `${object?.kind ?? "(no kind)"}/${name}`;
}

// Returns [{what: "Deployment/my-app", errors: [...]}] for `object` (one entry per object; a List
// gives one per item). An empty `errors` means valid.
export function validateObject(object, where = "") {
  if (object === null || typeof object !== "object" || Array.isArray(object)) {
    return [{ what: where || "(document)", errors: ["not an object (a Kubernetes manifest is a mapping)"] }];
  }
  const { apiVersion, kind } = object;
  if (typeof apiVersion !== "string" || typeof kind !== "string") {
    return [{ what: describe(object), errors: ["apiVersion and kind must both be set (strings)"] }];
  }
  if (apiVersion === "v1" && kind === "List") {
    if (!Array.isArray(object.items)) return [{ what: "List", errors: ["/items: must be an array"] }];
    return object.items.flatMap((item, i) =>
      validateObject(item, `List/items/${i}`).map((r) => ({ ...r, what: `List/items/${i} ${r.what}` })));
  }
  const Model = models.get(`${apiVersion} ${kind}`);
  if (!Model) {
    return [{
      what: describe(object),
      errors: [`unknown apiVersion/kind "${apiVersion}" "${kind}" (not a GA kind of kubernetes-models or @kubernetes-models/cert-manager)`],
    }];
  }
  const errors = [];
  const reads = new Map();
  try {
    // The model's validate() with the traced object as `this`: it runs the compiled schema
    // validator on it and throws on the first failing document.
    Model.prototype.validate.call(tracing(object, reads));
  } catch (e) {
    if (Array.isArray(e.errors)) errors.push(...schemaErrors(e.errors));
    else errors.push(String(e?.message ?? e));
  }
  unknownFields(object, reads, "", errors);
  // The API server wants one of the two; the schema does not say so.
  if (!object.metadata?.name && !object.metadata?.generateName) errors.push("/metadata/name: required field missing");
  return [{ what: describe(object), errors: [...new Set(errors)] }];
}
