#!/usr/bin/env python3
"""Validates what dynamo-config emits against the schemas the cluster would apply.

(a) --target dynamo for every backend x {llama70b_agg, llama70b_disagg, plans written here: the
    SLA planner on (disaggregated and aggregated), a KV router with non-default weights, a
    multinode worker}: each DynamoGraphDeployment against the openAPIV3Schema of the v1alpha1
    version of ../shared/data/crds/nvidia.com_dynamographdeployments.yaml, STRICT: an object
    without x-kubernetes-preserve-unknown-fields admits no field it does not declare (the API
    server would prune it silently; here it fails), int-or-string fields take either.
(b) --target k8s and k8s-sweep: every object with kubernetes-validate, strict, against the most
    recent Kubernetes version the package bundles.
(c) Negative tests: planted bad fields must be caught by both validators.

Exit 0 when all pass, 1 on a failure, 77 (skip) when the CRD directory or a Python package is
absent. CEL rules (x-kubernetes-validations) are not evaluated.
"""
import argparse
import copy
import json
import os
import subprocess
import sys
import tempfile

SKIP = 77
BACKENDS = ["vllm", "sglang", "trtllm"]
CRD_FILE = "nvidia.com_dynamographdeployments.yaml"

# Extra plans (written to a temporary directory). Bundled model names resolve from anywhere.
EXTRA_PLANS = {
    "planner_disagg": {
        "model": "llama-3.1-70b",
        "system": {"gpu": "h200_sxm", "gpus_per_node": 8, "nodes": 1},
        "workers": [
            {"role": "prefill", "replicas": 2, "tp": 2, "max_num_seqs": 32,
             "max_num_batched_tokens": 16384},
            {"role": "decode", "replicas": 1, "tp": 4},
        ],
        "router": {"policy": "kv", "overlap_weight": 2.0, "temperature": 0.5},
        "planner": {"enabled": True, "ttft_ms": 400, "itl_ms": 25, "interval_s": 30,
                    "predictor": "kalman", "max_gpus": 8},
    },
    "planner_agg": {
        "model": "llama-3.1-8b",
        "system": {"gpu": "h200_sxm"},
        "dtype": "fp8",
        "kv_dtype": "fp8",
        "workers": [{"role": "agg", "replicas": 4, "tp": 1, "enable_prefix_caching": False}],
        "router": {"policy": "least_loaded"},
        "planner": {"enabled": True, "predictor": "moving_average"},
    },
    "multinode_moe": {
        "model": "qwen3-235b-a22b",
        "system": {"gpu": "h200_sxm", "nodes": 2},
        "dtype": "fp8",
        "workers": [{"role": "agg", "replicas": 1, "tp": 8, "pp": 2, "ep": 8}],
        "router": {"policy": "random"},
    },
}


def fail(failures, what, message):
    failures.append(f"{what}: {message}")
    print(f"FAIL {what}: {message}")


def run_config(binary, args, out_dir):
    cmd = [binary] + args + ["--out", out_dir]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}: {proc.stderr.strip()}")


# ---- strict CRD schema -------------------------------------------------------------------

OBJECT_META = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "namespace": {"type": "string"},
        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
        "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
    },
    "required": ["name"],
    "additionalProperties": False,
}


def strictify(node):
    """OpenAPI v3 (Kubernetes structural schema) -> JSON Schema draft 4, closed objects."""
    if isinstance(node, list):
        return [strictify(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {}
    for key, value in node.items():
        if key in ("properties", "patternProperties"):
            out[key] = {k: strictify(v) for k, v in value.items()}
        elif key in ("items", "additionalProperties", "not") and isinstance(value, dict):
            out[key] = strictify(value)
        elif key in ("anyOf", "allOf", "oneOf"):
            out[key] = strictify(value)
        elif key in ("description", "format", "default", "example", "x-kubernetes-validations"):
            continue  # documentation, or rules jsonschema cannot check
        else:
            out[key] = value
    if node.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out.setdefault("anyOf", [{"type": "integer"}, {"type": "string"}])
    if node.get("nullable") and "type" in out:
        out["type"] = [out["type"], "null"]
    preserve = node.get("x-kubernetes-preserve-unknown-fields", False)
    if out.get("type") == "object" and not preserve and "additionalProperties" not in out:
        out["additionalProperties"] = False
    return out


def load_dgd_schema(crd_path, yaml):
    with open(crd_path) as f:
        crd = yaml.safe_load(f)
    versions = [v for v in crd["spec"]["versions"] if v["name"] == "v1alpha1"]
    if not versions:
        raise RuntimeError(f"{crd_path}: no v1alpha1 version")
    schema = strictify(versions[0]["schema"]["openAPIV3Schema"])
    # The API server validates metadata as ObjectMeta; the CRD leaves it open.
    schema["properties"]["metadata"] = OBJECT_META
    schema["required"] = sorted(set(schema.get("required", [])) | {"apiVersion", "kind", "spec"})
    schema["properties"]["apiVersion"] = {"enum": ["nvidia.com/v1alpha1"]}
    schema["properties"]["kind"] = {"enum": [crd["spec"]["names"]["kind"]]}
    return schema


def dgd_errors(validator, doc):
    return sorted(
        f"{'/'.join(str(p) for p in e.absolute_path) or '<root>'}: {e.message}"
        for e in validator.iter_errors(doc))


def k8s_errors(kubernetes_validate, version, doc):
    try:
        kubernetes_validate.validate(doc, version, strict=True)
    except kubernetes_validate.ValidationError as e:
        path = "/".join(str(p) for p in e.path) if hasattr(e, "path") else "?"
        return [f"{doc.get('kind')} {doc.get('metadata', {}).get('name')}: {path}: {e.message}"]
    return []


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dynamo-config", required=True)
    ap.add_argument("--crd-dir", required=True)
    args = ap.parse_args()

    crd_path = os.path.join(args.crd_dir, CRD_FILE)
    if not os.path.isfile(crd_path):
        print(f"skipped: no CRD schema at {crd_path} (../shared/data/crds is absent)")
        return SKIP
    try:
        import jsonschema
        import kubernetes_validate
        import yaml
    except ImportError as e:
        print(f"skipped: {e} (install the test tools: bash scripts/test_tools.sh)")
        return SKIP

    schema = load_dgd_schema(crd_path, yaml)
    validator = jsonschema.Draft4Validator(schema)
    k8s_version = kubernetes_validate.latest_version()
    failures = []
    checked = 0

    with tempfile.TemporaryDirectory(prefix="validate_manifests_") as tmp:
        plans = ["llama70b_agg", "llama70b_disagg"]
        for name, plan in EXTRA_PLANS.items():
            path = os.path.join(tmp, f"{name}.json")
            with open(path, "w") as f:
                json.dump(plan, f)
            plans.append(path)

        # (a) DynamoGraphDeployments.
        dgds = {}
        for backend in BACKENDS:
            for plan in plans:
                what = f"dynamo/{backend}/{os.path.basename(plan)}"
                out = os.path.join(tmp, f"dgd-{backend}-{len(dgds)}")
                try:
                    run_config(args.dynamo_config,
                               ["--plan", plan, "--target", "dynamo", "--backend", backend], out)
                except RuntimeError as e:
                    fail(failures, what, str(e))
                    continue
                with open(os.path.join(out, "dynamo-graph-deployment.yaml")) as f:
                    doc = yaml.safe_load(f)
                dgds[what] = doc
                for err in dgd_errors(validator, doc):
                    fail(failures, what, err)
                checked += 1
                services = doc["spec"]["services"]
                if plan.endswith("planner_disagg.json") or plan.endswith("planner_agg.json"):
                    if services.get("Planner", {}).get("componentType") != "planner":
                        fail(failures, what, "no Planner service with componentType planner")
                if plan.endswith("multinode_moe.json"):
                    worker = next(s for s in services.values() if s["componentType"] == "worker")
                    if worker.get("multinode", {}).get("nodeCount") != 2:
                        fail(failures, what, f"expected multinode.nodeCount 2: {worker}")
                    if worker["resources"]["limits"]["gpu"] != "8":
                        fail(failures, what, "expected limits.gpu \"8\" per node")

        # (b) Plain Kubernetes objects.
        k8s_outputs = []
        planner_plan = os.path.join(tmp, "planner_disagg.json")
        for plan in ["llama70b_agg", "llama70b_disagg", "llama8b_agg", planner_plan]:
            name = os.path.basename(plan).removesuffix(".json")
            out = os.path.join(tmp, f"k8s-{name}")
            run_config(args.dynamo_config, ["--plan", plan, "--target", "k8s",
                                            "--namespace", "serving"], out)
            k8s_outputs.append((f"k8s/{name}", os.path.join(out, "k8s.yaml")))
        out = os.path.join(tmp, "sweep")
        run_config(args.dynamo_config,
                   ["--target", "k8s-sweep", "--shards", "6", "--sweep-args",
                    "--model llama-3.1-70b --gpus 16 --workload '/results/in/trace one.jsonl'"],
                   out)
        for name in ("sweep-job.yaml", "merge-job.yaml", "pvc.yaml"):
            k8s_outputs.append((f"k8s-sweep/{name}", os.path.join(out, name)))
        k8s_docs = []
        for what, path in k8s_outputs:
            with open(path) as f:
                docs = [d for d in yaml.safe_load_all(f) if d is not None]
            if not docs:
                fail(failures, what, "no objects")
            for doc in docs:
                k8s_docs.append(doc)
                for err in k8s_errors(kubernetes_validate, k8s_version, doc):
                    fail(failures, what, err)
                checked += 1
        job = next(d for d in k8s_docs if d["kind"] == "Job"
                   and d["spec"].get("completionMode") == "Indexed")
        if not (job["spec"]["completions"] == job["spec"]["parallelism"] == 6):
            fail(failures, "k8s-sweep", "completions and parallelism must be 6")
        sweep_args = job["spec"]["template"]["spec"]["containers"][0]["args"]
        if "/results/in/trace one.jsonl" not in sweep_args or \
                "$(JOB_COMPLETION_INDEX)/6" not in sweep_args:
            fail(failures, "k8s-sweep", f"unexpected args {sweep_args}")
        # The planner plan brings its RBAC objects (validated above with the rest).
        kinds = {d["kind"] for d in k8s_docs}
        for kind in ("ServiceAccount", "Role", "RoleBinding"):
            if kind not in kinds:
                fail(failures, "k8s/planner_disagg", f"no {kind} for the planner")

        # (c) Planted bad fields must be caught.
        base = dgds.get("dynamo/vllm/llama70b_disagg")
        plants = []
        if base is not None:
            frontend_field = copy.deepcopy(base)
            frontend_field["spec"]["services"]["Frontend"]["bogusField"] = 1
            plants.append(("unknown service field", frontend_field))
            gpu_int = copy.deepcopy(base)
            worker = next(s for s in gpu_int["spec"]["services"].values()
                          if s.get("subComponentType") == "decode")
            worker["resources"]["limits"]["gpu"] = 4  # the CRD wants a string
            plants.append(("limits.gpu as an integer", gpu_int))
            container_field = copy.deepcopy(base)
            container_field["spec"]["services"]["Frontend"]["extraPodSpec"]["mainContainer"][
                "imageTypo"] = "x"
            plants.append(("unknown mainContainer field", container_field))
            meta_field = copy.deepcopy(base)
            meta_field["metadata"]["nmespace"] = "x"
            plants.append(("unknown metadata field", meta_field))
            bad_replicas = copy.deepcopy(base)
            bad_replicas["spec"]["services"]["Frontend"]["replicas"] = -1
            plants.append(("negative replicas", bad_replicas))
        else:
            fail(failures, "negative tests", "no vllm llama70b_disagg deployment to plant into")
        for what, doc in plants:
            if not dgd_errors(validator, doc):
                fail(failures, "negative test", f"{what} was not caught by the CRD schema")
            checked += 1
        deployment = next(d for d in k8s_docs if d["kind"] == "Deployment")
        bad = copy.deepcopy(deployment)
        bad["spec"]["template"]["spec"]["containers"][0]["bogus"] = "x"
        if not k8s_errors(kubernetes_validate, k8s_version, bad):
            fail(failures, "negative test", "unknown container field not caught by "
                                            "kubernetes-validate")
        bad = copy.deepcopy(job)
        bad["spec"]["completionMode"] = 3
        if not k8s_errors(kubernetes_validate, k8s_version, bad):
            fail(failures, "negative test", "integer completionMode not caught")
        checked += 2

    print(f"{checked} checks ({len(dgds)} DynamoGraphDeployments, {len(k8s_docs)} Kubernetes "
          f"objects, Kubernetes schemas v{k8s_version}), {len(failures)} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
