// Offline schema check of rendered manifests (docs/deployment.md):
//   kubectl kustomize deploy/k8s/overlays/prod | node validate.mjs
// Each document is validated against the Kubernetes OpenAPI schema of its
// apiVersion/kind (npm kubernetes-models 5.x: the upstream schemas compiled
// with ajv), KEDA ScaledObjects with @kubernetes-models/keda and
// ServiceMonitors with @kubernetes-models/prometheus-operator (their CRD
// schemas): types, required fields, enums and formats. A kind without a
// schema is an error; misspelt extra fields are NOT caught (the schemas allow
// additional properties; kubeconform -strict would). Node resolves the
// packages from NODE_PATH (tests/containers/static.sh installs them in a cache).
// Exit 0: all valid; 1: errors printed; 2: usage.
import { createRequire } from "node:module";
import { existsSync, readFileSync } from "node:fs";
import { pathToFileURL } from "node:url";
import path from "node:path";

const roots = (process.env.NODE_PATH || "").split(":").filter(Boolean);
// createRequire resolves from <dir>/node_modules: take the directory above NODE_PATH.
const require = createRequire(path.join(roots[0] ? path.dirname(roots[0]) : process.cwd(), "noop.js"));
const yaml = require("js-yaml");

function modulePath(apiVersion, kind) {
        const [group, version] = apiVersion.includes("/") ? apiVersion.split("/") : ["", apiVersion];
        if (group === "keda.sh") return `@kubernetes-models/keda/keda.sh/${version}/${kind}`;
        if (group === "monitoring.coreos.com")
                return `@kubernetes-models/prometheus-operator/monitoring.coreos.com/${version}/${kind}`;
        return group ? `kubernetes-models/${group}/${version}/${kind}` : `kubernetes-models/${version}/${kind}`;
}

// ESM import ignores NODE_PATH: find the model file under it ourselves.
function resolveFile(spec) {
        for (const r of roots) {
                const f = path.join(r, spec + ".js");
                if (existsSync(f)) return f;
        }
        throw new Error(`${spec}.js not found under NODE_PATH`);
}

const docs = yaml.loadAll(readFileSync(0, "utf8")).filter((d) => d);
if (docs.length === 0) {
        console.error("validate.mjs: no documents on stdin");
        process.exit(2);
}
let errors = 0;
for (const doc of docs) {
        const id = `${doc.kind}/${doc.metadata && doc.metadata.name}`;
        let mod;
        try {
                mod = await import(pathToFileURL(resolveFile(modulePath(doc.apiVersion, doc.kind))).href);
        } catch (e) {
                console.error(`${id}: no schema for ${doc.apiVersion} ${doc.kind} (${e.message.split("\n")[0]})`);
                errors++;
                continue;
        }
        const Model = mod[doc.kind] || mod.default;
        // kustomize wraps long base64 values; the API server's decoder skips
        // newlines, the schema's "byte" format does not.
        if (doc.kind === "Secret" && doc.data)
                for (const k of Object.keys(doc.data)) doc.data[k] = String(doc.data[k]).replace(/\s+/g, "");
        try {
                new Model(doc).validate();
                console.log(`ok ${doc.apiVersion} ${id}`);
        } catch (e) {
                console.error(`${id}: ${e.message}`);
                if (e.errors) for (const x of e.errors) console.error(`  ${x.instancePath} ${x.message}`);
                errors++;
        }
}
console.log(`${docs.length} documents, ${errors} invalid`);
process.exit(errors ? 1 : 0);
