#!/usr/bin/env python3
"""Compares one plan + workload run through `dynamo-sim run` and through `dynamo-run --engine mock`.

Used by sim_vs_real_test.sh (docs/runtime.md, "Simulator vs runtime"). Standard library only.

Inputs:
  --sim-requests  dynamo-sim run --out DIR: DIR/requests.csv (id, ttft_ms, tpot_ms, output,
                  prefill_worker, decode_worker (-1 for an aggregated worker), cached_tokens,
                  status)
  --records       dynamo-load --records FILE (id, ok, max_tokens, output_tokens, ttft_ms,
                  itl_mean_ms)
  --routing       dynamo-run's RUN_DIR/routing.csv (seq, request, client_request_id, worker_id,
                  worker, overlap_blocks, migration[, role]); client_request_id is the workload
                  id; a disaggregated request has a prefill row, then a decode row (role)

Checks:
  - completeness: every workload request completed in both, with its full output;
  - latency: p50 TTFT and p50 ITL of the runtime within --tolerance of the simulator's (relative
    to the simulator). ITL is per request: the mean gap between its tokens (the simulator's TPOT,
    dynamo-load's itl_mean_ms), the p50 taken over the requests with at least two tokens. Both
    sides use the same percentile definition (linear interpolation between order statistics);
  - routing: the runtime routed the requests in workload (arrival) order, each exactly once, no
    migration, and request i went to the worker the simulator chose (the simulator's
    prefill_worker and routing.csv's worker_id both number workers in plan order). In a
    disaggregated plan this is the prefill decision (the rows whose role is not decode), and the
    decode decision is compared the same way: routing.csv's decode rows vs the simulator's
    decode_worker, one decode row per request the simulator disaggregated, none otherwise.
Prints a table, the first mismatches on failure, and one `RESULT ...` line for logs.
Exit: 0 pass, 1 a check failed, 2 bad input (missing or malformed files).
"""
import argparse
import csv
import sys


def fail_input(msg):
    print(f"error: {msg}", file=sys.stderr)
    sys.exit(2)


def read_csv(path, required):
    try:
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f))
    except OSError as e:
        fail_input(f"{path}: {e.strerror}")
    if rows:
        missing = [c for c in required if c not in rows[0]]
        if missing:
            fail_input(f"{path}: missing column(s) {', '.join(missing)}")
    return rows


def p50(values):
    v = sorted(values)
    if not v:
        return float("nan")
    pos = 0.5 * (len(v) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (pos - lo)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--case", required=True)
    ap.add_argument("--sim-requests", required=True)
    ap.add_argument("--records", required=True)
    ap.add_argument("--routing", required=True)
    ap.add_argument("--tolerance", type=float, default=0.10)
    ap.add_argument("--no-latency", action="store_true",
                    help="report latencies without checking them (sanitizer builds)")
    ap.add_argument("--policy", default="kv", help="the plan's router policy")
    ap.add_argument("--block-size", type=int, default=16, help="the plan's KV block size")
    ap.add_argument("--show", type=int, default=10, help="mismatches to print")
    a = ap.parse_args()

    sim = read_csv(a.sim_requests, ["id", "ttft_ms", "tpot_ms", "output", "osl",
                                    "prefill_worker", "cached_tokens", "status"])
    rec = read_csv(a.records, ["id", "ok", "max_tokens", "output_tokens", "ttft_ms",
                               "itl_mean_ms", "error"])
    rt = read_csv(a.routing, ["seq", "client_request_id", "worker_id", "worker",
                              "overlap_blocks", "migration"])
    problems = []

    # --- completeness ---
    sim_by_id = {}
    for r in sim:
        sim_by_id[int(r["id"])] = r
    ids = sorted(sim_by_id)
    n = len(ids)
    if ids != list(range(n)):
        fail_input(f"{a.sim_requests}: ids are not 0..{n - 1}")
    bad_sim = [i for i in ids if sim_by_id[i]["status"] != "completed"]
    if bad_sim:
        problems.append(f"simulator: {len(bad_sim)} request(s) not completed, first {bad_sim[:5]}")
    rec_by_id = {}
    for r in rec:
        rec_by_id[int(r["id"])] = r
    if sorted(rec_by_id) != ids:
        problems.append(f"dynamo-load recorded {len(rec_by_id)} request(s), the workload has {n}")
    bad_rec = [i for i, r in sorted(rec_by_id.items())
               if r["ok"] != "1" or r["output_tokens"] != r["max_tokens"]]
    if bad_rec:
        r = rec_by_id[bad_rec[0]]
        problems.append(f"runtime: {len(bad_rec)} request(s) failed or came back short; "
                        f"request {bad_rec[0]}: ok={r['ok']} output {r['output_tokens']}/"
                        f"{r['max_tokens']} {r['error']}")

    # --- latency ---
    common = [i for i in ids if i in rec_by_id]
    ttft_sim = p50([float(sim_by_id[i]["ttft_ms"]) for i in common])
    ttft_real = p50([float(rec_by_id[i]["ttft_ms"]) for i in common])
    multi = [i for i in common if int(sim_by_id[i]["output"]) >= 2]
    itl_sim = p50([float(sim_by_id[i]["tpot_ms"]) for i in multi])
    itl_real = p50([float(rec_by_id[i]["itl_mean_ms"]) for i in multi])
    rows = []
    for name, s, r in (("p50 TTFT (ms)", ttft_sim, ttft_real), ("p50 ITL (ms)", itl_sim, itl_real)):
        diff = (r - s) / s if s > 0 else float("inf")
        ok = abs(diff) <= a.tolerance
        verdict = "not checked" if a.no_latency else ("ok" if ok else "FAIL")
        if not ok and not a.no_latency:
            problems.append(f"{name}: runtime {r:.3f} vs simulator {s:.3f} ({diff:+.1%}, limit "
                            f"±{a.tolerance:.0%})")
        rows.append((name, f"{s:.3f}", f"{r:.3f}", f"{diff:+.1%}", f"±{a.tolerance:.0%}", verdict))

    # --- routing ---
    rt_sorted = sorted(rt, key=lambda r: int(r["seq"]))
    # role (dynamo-run with disaggregated plans): "decode" rows are the decode router's choices.
    decode_rows = [r for r in rt_sorted if r.get("role") == "decode"]
    rt_sorted = [r for r in rt_sorted if r.get("role") != "decode"]
    migrated = [r for r in rt_sorted if r["migration"] != "0"]
    if migrated:
        problems.append(f"routing.csv: {len(migrated)} migration(s) (a worker failed); first: "
                        f"request {migrated[0]['client_request_id']}")
    first = [r for r in rt_sorted if r["migration"] == "0"]
    order = [int(r["client_request_id"]) for r in first]
    real_worker = {int(r["client_request_id"]): int(r["worker_id"]) for r in first}
    overlap = {int(r["client_request_id"]): int(r["overlap_blocks"]) for r in first}
    if len(order) != len(set(order)):
        problems.append("routing.csv: a request was routed twice")
    if sorted(set(order)) != ids:
        missing = sorted(set(ids) - set(order))
        problems.append(f"routing.csv: {len(set(order))} request(s) routed, the workload has {n}"
                        + (f"; missing {missing[:5]}" if missing else ""))
    if order != sorted(order):
        k = next(j for j in range(1, len(order)) if order[j] < order[j - 1])
        problems.append(f"routing.csv: arrival order differs from the workload's at seq {k}: "
                        f"request {order[k]} after {order[k - 1]}")
    mism = [i for i in ids if i in real_worker
            and real_worker[i] != int(sim_by_id[i]["prefill_worker"])]
    same = sum(1 for i in ids if i in real_worker) - len(mism)
    if mism:
        problems.append(f"routing: {len(mism)} of {n} decisions differ, first at request {mism[0]}")
    overlap_same = 0
    for i in ids:
        # The engine's prefix-cache hit (tokens) vs the router's overlap (blocks): equal when the
        # router's index mirrors the caches at admission (always, on an idle system).
        if i in overlap and int(sim_by_id[i]["cached_tokens"]) == overlap[i] * a.block_size:
            overlap_same += 1
    # --- decode routing (disaggregated plans) ---
    sim_decode = {i: int(sim_by_id[i].get("decode_worker") or -1) for i in ids}
    disagg_ids = [i for i in ids if sim_decode[i] >= 0]
    dec_first = [r for r in decode_rows if r["migration"] == "0"]
    if len(dec_first) != len(decode_rows):
        problems.append(f"routing.csv: {len(decode_rows) - len(dec_first)} decode migration(s)")
    dec_order = [int(r["client_request_id"]) for r in dec_first]
    real_decode = {int(r["client_request_id"]): int(r["worker_id"]) for r in dec_first}
    if len(dec_order) != len(set(dec_order)):
        problems.append("routing.csv: a request was routed to decode twice")
    if sorted(set(dec_order)) != disagg_ids:
        problems.append(f"routing.csv: {len(set(dec_order))} request(s) routed to decode, the "
                        f"simulator disaggregated {len(disagg_ids)}")
    if dec_order != sorted(dec_order):
        problems.append("routing.csv: decode decisions out of workload order")
    dec_mism = [i for i in disagg_ids if i in real_decode and real_decode[i] != sim_decode[i]]
    dec_same = sum(1 for i in disagg_ids if i in real_decode) - len(dec_mism)
    if dec_mism:
        problems.append(f"decode routing: {len(dec_mism)} of {len(disagg_ids)} decisions differ, "
                        f"first at request {dec_mism[0]}")
    dec_used = {}
    for i in disagg_ids:
        dec_used[sim_decode[i]] = dec_used.get(sim_decode[i], 0) + 1
    used = {}
    for i in ids:
        w = int(sim_by_id[i]["prefill_worker"])
        used[w] = used.get(w, 0) + 1

    # --- report ---
    print(f"case {a.case}: {n} requests")
    print(f"  {'metric':<16}{'simulator':>11}{'runtime':>11}{'diff':>9}{'limit':>8}  verdict")
    for name, s, r, d, lim, v in rows:
        print(f"  {name:<16}{s:>11}{r:>11}{d:>9}{lim:>8}  {v}")
    print(f"  {'routing':<16}{same:>4}/{n} decisions identical"
          f" (simulator's requests per worker: "
          + ", ".join(f"{w}:{c}" for w, c in sorted(used.items())) + ")"
          + ("" if not mism else "  FAIL"))
    if disagg_ids or decode_rows:
        print(f"  {'decode routing':<16}{dec_same:>4}/{len(disagg_ids)} decisions identical"
              f" (simulator's requests per decode worker: "
              + ", ".join(f"{w}:{c}" for w, c in sorted(dec_used.items())) + ")"
              + ("" if not dec_mism else "  FAIL"))
    if a.policy == "kv":  # other policies do not look at the prefix caches (overlap 0)
        print(f"  {'prefix hits':<16}{sum(1 for i in ids if overlap.get(i, 0) > 0):>4}/{n} routed "
              f"with overlap > 0; simulator cached tokens = router overlap for {overlap_same}/{n}")
    # Per-request differences: a shift of every request (the runtime's fixed costs, a slow
    # machine) reads differently from a few outliers.
    def spread(key_sim, key_real, sel):
        d = sorted(float(rec_by_id[i][key_real]) - float(sim_by_id[i][key_sim]) for i in sel)
        if not d:
            return "n/a"
        q = lambda f: d[min(len(d) - 1, int(f * len(d)))]
        return f"{q(0.1):+.2f} / {q(0.5):+.2f} / {q(0.9):+.2f}"
    print(f"  {'per request':<16}runtime - simulator (ms), p10 / p50 / p90: TTFT "
          f"{spread('ttft_ms', 'ttft_ms', common)}; ITL {spread('tpot_ms', 'itl_mean_ms', multi)}")
    if mism:
        print(f"  first {min(a.show, len(mism))} routing mismatch(es):")
        print(f"    {'request':>8}{'simulator':>11}{'runtime':>9}{'rt overlap':>12}"
              f"{'sim cached':>12}")
        for i in mism[:a.show]:
            print(f"    {i:>8}{sim_by_id[i]['prefill_worker']:>11}{real_worker[i]:>9}"
                  f"{overlap[i]:>12}{sim_by_id[i]['cached_tokens']:>12}")
    if dec_mism:
        print(f"  first {min(a.show, len(dec_mism))} decode routing mismatch(es):")
        print(f"    {'request':>8}{'simulator':>11}{'runtime':>9}")
        for i in dec_mism[:a.show]:
            print(f"    {i:>8}{sim_decode[i]:>11}{real_decode[i]:>9}")
    for p in problems:
        print(f"  FAIL {p}")
    verdict = "fail" if problems else "pass"
    print(f"RESULT case={a.case} requests={n} ttft_sim={ttft_sim:.3f} ttft_real={ttft_real:.3f} "
          f"ttft_diff={(ttft_real - ttft_sim) / ttft_sim:+.2%} itl_sim={itl_sim:.3f} "
          f"itl_real={itl_real:.3f} itl_diff={(itl_real - itl_sim) / itl_sim:+.2%} "
          f"routing={same}/{n}"
          + (f" decode_routing={dec_same}/{len(disagg_ids)}" if disagg_ids or decode_rows else "")
          + f" verdict={verdict}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
