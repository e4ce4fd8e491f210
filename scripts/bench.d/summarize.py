#!/usr/bin/env python3
"""Summarizes a run of scripts/bench: prints the table and the targets, writes the JSON.

usage: summarize.py RUN_DIR OUT_JSON
       summarize.py --compare RUN_DIR OUT_JSON   (scripts/bench --compare-postgres or
       --db postgres://...: workloads named NAME@sqlite, NAME@pg, NAME@pg2, side by side)

RUN_DIR holds what the driver wrote:
  run.env        key=value lines: configuration, start-up times, W7 and W8 figures, write
                 checks
  workloads.tsv  one line per wrk run, in run order: name, notes, peak RSS in kB
  NAME.wrk       wrk's output for that run, with the "BENCH_JSON {...}" line of workload.lua
Standard library only.
"""
import json
import os
import re
import sys


def read_env(path):
    env = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if "=" in line:
                key, value = line.split("=", 1)
                env[key] = value
    return env


def num(value, kind=float):
    try:
        return kind(value)
    except (TypeError, ValueError):
        return None


def parse_wrk(text):
    """The figures of one wrk run, from the BENCH_JSON line, cross-checked with wrk's own
    summary lines (Requests/sec, Non-2xx or 3xx responses, Socket errors)."""
    data = None
    for line in text.splitlines():
        if line.startswith("BENCH_JSON "):
            data = json.loads(line[len("BENCH_JSON "):])
    if data is None:
        raise ValueError("no BENCH_JSON line in wrk output")
    m = re.search(r"Non-2xx or 3xx responses:\s*(\d+)", text)
    non2xx_line = int(m.group(1)) if m else 0
    m = re.search(r"Requests/sec:\s*([\d.]+)", text)
    rps_line = float(m.group(1)) if m else None
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    socket = dict(zip(("connect", "read", "write", "timeout"), map(int, m.groups()))) if m \
        else {k: data["errors"][k] for k in ("connect", "read", "write", "timeout")}
    seconds = data["duration_us"] / 1e6
    return {
        "requests": data["requests"],
        "seconds": round(seconds, 3),
        "requests_per_s": round(data["requests"] / seconds, 1) if seconds else None,
        "requests_per_s_wrk": rps_line,
        "p50_ms": round(data["p50_us"] / 1000, 3),
        "p90_ms": round(data["p90_us"] / 1000, 3),
        "p99_ms": round(data["p99_us"] / 1000, 3),
        "max_ms": round(data["max_us"] / 1000, 3),
        "mean_ms": round(data["mean_us"] / 1000, 3),
        "non_2xx": max(data["errors"]["status"], non2xx_line),
        "socket_errors": socket,
        "transfer_mb_per_s": round(data["bytes"] / seconds / 1e6, 2) if seconds else None,
    }


def machine():
    model = "unknown"
    mem_kb = None
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
        with open("/proc/meminfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    mem_kb = int(line.split()[1])
    except OSError:
        pass
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu_model": model,
        "mem_total_mb": round(mem_kb / 1024) if mem_kb else None,
        "kernel": os.uname().release,
    }


def load(run_dir):
    env = read_env(os.path.join(run_dir, "run.env"))
    workloads = []
    with open(os.path.join(run_dir, "workloads.tsv"), encoding="utf-8") as f:
        for line in f:
            name, notes, rss_kb = line.rstrip("\n").split("\t")
            with open(os.path.join(run_dir, name + ".wrk"), encoding="utf-8") as w:
                figures = parse_wrk(w.read())
            rss = num(rss_kb, int)
            workloads.append({"name": name, **figures,
                              "peak_rss_mb": round(rss / 1024, 1) if rss else None,
                              "notes": notes})
    return env, workloads


def write_checks(env, by_name):
    """Notes comparing what wrk saw answered with what the database gained."""
    notes = {}
    for name, key, what in (("W5", "w5_listings_added", "listings"),
                            ("W4", "w4_prices_added", "price entries"),
                            ("W5-normal", "w5normal_listings_added", "listings"),
                            ("W4-normal", "w4normal_prices_added", "price entries")):
        added = num(env.get(key), int)
        w = by_name.get(name)
        if added is None or not w:
            continue
        ok = w["requests"] - w["non_2xx"]
        notes[name] = f"db +{added} {what} (wrk saw {ok} ok)"
    return notes


def build(env, workloads):
    by_name = {w["name"]: w for w in workloads}
    for name, note in write_checks(env, by_name).items():
        w = by_name[name]
        w["notes"] = (w["notes"] + "; " if w["notes"] else "") + note

    listingd = [w for w in workloads if w["name"] != "nginx"]
    nginx = by_name.get("nginx")
    w2 = by_name.get("W2-hot")
    ratio = (w2["requests_per_s"] / nginx["requests_per_s"]
             if w2 and nginx and nginx["requests_per_s"] else None)

    rss_before = num(env.get("w7_rss_before_kb"), int)
    rss_peak = num(env.get("w7_rss_peak_kb"), int)
    growth_mb = (rss_peak - rss_before) / 1024 if rss_before and rss_peak else None
    w7 = {
        "http_status": env.get("w7_http"),
        "time_s": num(env.get("w7_time_s")),
        "bytes": num(env.get("w7_bytes"), int),
        "rss_before_mb": round(rss_before / 1024, 1) if rss_before else None,
        "rss_peak_mb": round(rss_peak / 1024, 1) if rss_peak else None,
        "rss_growth_mb": round(growth_mb, 1) if growth_mb is not None else None,
    }
    x1_peak = num(env.get("x1_rss_peak_kb"), int)
    x1 = {
        "exit_status": env.get("x1_status"),
        "time_s": num(env.get("x1_time_s")),
        "bytes": num(env.get("x1_bytes"), int),
        "rss_peak_mb": round(x1_peak / 1024, 1) if x1_peak else None,
    }
    def mb(key):
        kb = num(env.get(key), int)
        return round(kb / 1024, 1) if kb else None

    w8 = {
        "rss_before_mb": mb("w8_rss_before_kb"),
        "rss_peak_mb": mb("w8_rss_peak_kb"),
        "rss_30s_after_mb": mb("w8_rss_after_kb"),
        "fds_before": num(env.get("w8_fds_before"), int),
        "fds_peak": num(env.get("w8_fds_peak"), int),
        "fds_30s_after": num(env.get("w8_fds_after"), int),
        "threads_30s_after": num(env.get("w8_threads_after"), int),
    } if "w8_rss_peak_kb" in env else None
    w9 = json.loads(env["w9_json"]) if "w9_json" in env else None
    startup = {"normal": num(env.get("startup_ms_normal")),
               "full": num(env.get("startup_ms_full"))}

    def target(name, value, met, shown):
        return {"target": name, "value": value, "met": met, "shown": shown}

    w4 = by_name.get("W4")
    w3 = by_name.get("W3")
    targets = [
        target("W2-hot >= 50% of nginx", ratio,
               ratio is not None and ratio >= 0.5,
               f"{ratio:.1%}" if ratio is not None else "n/a"),
        target("W4 (synchronous=full) >= 15000 req/s, zero non-2xx",
               w4["requests_per_s"] if w4 else None,
               bool(w4) and w4["requests_per_s"] >= 15000 and w4["non_2xx"] == 0,
               f"{w4['requests_per_s']:.0f} req/s, {w4['non_2xx']} non-2xx" if w4 else "n/a"),
        target("W9 p99 < 100 ms under 2 000 slow connections", w9["p99_ms"] if w9 else None,
               bool(w9) and w9["p99_ms"] < 100,
               f"{w9['p99_ms']:.2f} ms" if w9 else "n/a"),
        target("W3 p99 < 10 ms", w3["p99_ms"] if w3 else None,
               bool(w3) and w3["p99_ms"] < 10,
               f"{w3['p99_ms']:.2f} ms" if w3 else "n/a"),
        target("W7 RSS growth < 32 MB", w7["rss_growth_mb"],
               growth_mb is not None and growth_mb < 32 and w7["http_status"] == "200",
               f"{growth_mb:.1f} MB" if growth_mb is not None else "n/a"),
        target("X1 export peak RSS < 32 MB", x1["rss_peak_mb"],
               x1["rss_peak_mb"] is not None and x1["rss_peak_mb"] < 32 and
               x1["exit_status"] == "0",
               f"{x1['rss_peak_mb']:.1f} MB for {(x1['bytes'] or 0) / 1e6:.0f} MB out"
               if x1["rss_peak_mb"] is not None else "n/a"),
        target("start-up < 200 ms", startup["full"],
               startup["full"] is not None and startup["full"] < 200,
               f"{startup['full']:.0f} ms" if startup["full"] is not None else "n/a"),
    ]
    config = {k[len("config_"):]: v for k, v in env.items() if k.startswith("config_")}
    return {
        "machine": machine(),
        "config": config,
        "startup_ms": startup,
        "workloads": listingd,
        # What synchronous=full (the default) costs: each write workload in both modes.
        "synchronous": {name: {"full": by_name.get(name), "normal": by_name.get(name + "-normal")}
                        for name in ("W2-hot", "W4", "W5", "W6", "W4-c1")},
        "w7_stream_all": w7,
        "x1_export": x1,
        "w8_concurrent_pages": w8,
        "w9_slow_clients": w9,
        "nginx": {**nginx, "worker_processes": env.get("nginx_workers", "auto")} if nginx
        else None,
        "ratio_w2_hot_to_nginx": round(ratio, 3) if ratio is not None else None,
        "targets": targets,
    }


def fmt(value, spec):
    """value formatted by spec; "-" (as wide as spec says) when there is none."""
    if value is None:
        return format("-", ">" + re.match(r"\d*", spec).group())
    return format(value, spec)


def print_report(r):
    m, c = r["machine"], r["config"]
    print(f"\nlistingd benchmark — {c.get('listings')} listings x {c.get('prices')} prices, "
          f"wrk -t1 -c{c.get('connections')} -d{c.get('duration')}s --timeout 10s, "
          f"serve --threads {c.get('threads')} --cache-mb {c.get('cache_mb')}")
    print(f"machine: {m['nproc']} CPUs ({m['cpu_model']}), {m['mem_total_mb']} MB, "
          f"kernel {m['kernel']}; commit {c.get('commit')}; RSS peaks by {c.get('rss_method')}\n")
    head = f"{'workload':<10} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'non-2xx':>8} " \
           f"{'sock err':>8} {'peak RSS MB':>11}  notes"
    print(head)
    print("-" * len(head))
    rows = r["workloads"] + ([r["nginx"]] if r["nginx"] else [])
    for w in rows:
        sock = sum(w["socket_errors"].values())
        print(f"{w['name']:<10} {fmt(w['requests_per_s'], '9.0f')} {fmt(w['p50_ms'], '8.2f')} "
              f"{fmt(w['p99_ms'], '8.2f')} {w['non_2xx']:>8} {sock:>8} "
              f"{fmt(w['peak_rss_mb'], '11.1f')}  {w['notes']}")
    s, w7 = r["startup_ms"], r["w7_stream_all"]
    print(f"\nstart-up (exec to first answer): {fmt(s['full'], '.0f')} ms "
          f"(restart with --synchronous normal: {fmt(s['normal'], '.0f')} ms)")
    if w7["http_status"] is not None:  # not with --only
        print(f"W7 GET /listings (all, streamed): HTTP {w7['http_status']}, "
              f"{fmt(w7['time_s'], '.2f')} s, {fmt((w7['bytes'] or 0) / 1e6, '.1f')} MB; "
              f"RSS {fmt(w7['rss_before_mb'], '.1f')} MB before, peak "
              f"{fmt(w7['rss_peak_mb'], '.1f')} MB, growth {fmt(w7['rss_growth_mb'], '.1f')} MB")
    x1 = r.get("x1_export") or {}
    if x1.get("exit_status") is not None:  # not with --only
        print(f"X1 listingd export (all, with histories): exit {x1['exit_status']}, "
              f"{fmt(x1['time_s'], '.2f')} s, {fmt((x1['bytes'] or 0) / 1e6, '.1f')} MB; "
              f"peak RSS {fmt(x1['rss_peak_mb'], '.1f')} MB")
    print("synchronous=full (default) vs normal, req/s and p50/p99 ms:")
    for name, pair in r["synchronous"].items():
        f, n = pair["full"], pair["normal"]
        if f and n:
            print(f"  {name:<7} full {f['requests_per_s']:>7.0f} ({f['p50_ms']:.2f}/{f['p99_ms']:.2f})"
                  f"  normal {n['requests_per_s']:>7.0f} ({n['p50_ms']:.2f}/{n['p99_ms']:.2f})"
                  f"  full/normal {f['requests_per_s'] / n['requests_per_s']:.0%}")
    w9 = r["w9_slow_clients"]
    if w9:
        print(f"W9 GET /healthz with {w9['open']} slow or idle connections held: p50 "
              f"{w9['p50_ms']:.2f} ms, p99 {w9['p99_ms']:.2f} ms (none held: "
              f"{w9['baseline_p50_ms']:.2f} / {w9['baseline_p99_ms']:.2f} ms)")
    w8 = r["w8_concurrent_pages"]
    if w8:
        print(f"W8 {r['config'].get('w8_connections')} clients on pages: RSS "
              f"{fmt(w8['rss_before_mb'], '.1f')} MB before, peak {fmt(w8['rss_peak_mb'], '.1f')}"
              f" MB, {fmt(w8['rss_30s_after_mb'], '.1f')} MB 30 s after; open fds "
              f"{fmt(w8['fds_before'], 'd')} before, peak {fmt(w8['fds_peak'], 'd')}, "
              f"{fmt(w8['fds_30s_after'], 'd')} 30 s after; {fmt(w8['threads_30s_after'], 'd')}"
              f" threads 30 s after")
    if r["nginx"]:
        print(f"nginx (worker_processes {r['nginx']['worker_processes']}), same bytes as one W2 "
              f"answer: {r['nginx']['requests_per_s']:.0f} req/s; "
              f"W2-hot / nginx = {fmt(r['ratio_w2_hot_to_nginx'], '.1%')}")
    print("\ntargets:")
    for t in r["targets"]:
        met = "met" if t["met"] else "not run" if t["shown"] == "n/a" else "MISSED"
        print(f"  [{met}] {t['target']}: {t['shown']}")


BACKENDS = (("sqlite", "SQLite"), ("pg", "PostgreSQL"), ("pg2", "PG 2 nodes+nginx"))


def build_compare(env, workloads, run_dir):
    """The same workloads on each backend, side by side, with the ratios to SQLite."""
    by_name = {w["name"]: w for w in workloads}
    names = []
    for w in workloads:
        base = w["name"].split("@")[0]
        if base not in names:
            names.append(base)
    ran = [b for b, _ in BACKENDS if any(n.endswith("@" + b) for n in by_name)]

    def errors(w):
        return w["non_2xx"] + sum(w["socket_errors"].values())

    rows = []
    for base in names:
        row = {"workload": base}
        for b in ran:
            w = by_name.get(f"{base}@{b}")
            row[b] = {"requests_per_s": w["requests_per_s"], "p50_ms": w["p50_ms"],
                      "p99_ms": w["p99_ms"], "errors": errors(w),
                      "peak_rss_mb": w["peak_rss_mb"]} if w else None
        s = row.get("sqlite")
        for b in ("pg", "pg2"):
            if s and row.get(b) and s["requests_per_s"]:
                row[f"{b}_to_sqlite"] = round(row[b]["requests_per_s"] / s["requests_per_s"], 3)
        rows.append(row)

    w7 = {}
    for b in ran:
        k = f"w7@{b}"
        if f"{k}_http" in env:
            before, peak = num(env.get(f"{k}_rss_before_kb"), int), num(env.get(f"{k}_rss_peak_kb"), int)
            w7[b] = {"http_status": env.get(f"{k}_http"), "time_s": num(env.get(f"{k}_time_s")),
                     "bytes": num(env.get(f"{k}_bytes"), int),
                     "rss_growth_mb": round((peak - before) / 1024, 1) if before and peak else None}
    hot = None
    if "hot_check@pg" in env:
        hits, xacts, secs = (int(x) for x in env["hot_check@pg"].split())
        hot = {"cache_hits": hits, "database_transactions": xacts, "seconds": secs}
    load = {k[len("load_"):]: v for k, v in env.items() if k.startswith("load_")}
    rounds = None  # W1-hot and W2-hot on both backends in turn: medians and their ratio
    path = os.path.join(run_dir, "hot-rounds.tsv")
    if os.path.exists(path):
        import csv
        import statistics
        with open(path, encoding="utf-8") as f:
            runs = list(csv.DictReader(f, delimiter="\t"))
        rounds = {}
        for name in ("W1-hot", "W2-hot"):
            med = {b: statistics.median(float(x["req_s"]) for x in runs
                                        if x["backend"] == b and x["workload"] == name)
                   for b in ("sqlite", "pg")}
            rounds[name] = {"runs": len(runs) // 4, "median_req_s": med,
                            "pg_to_sqlite": round(med["pg"] / med["sqlite"], 3)}

    def target(name, met, shown):
        return {"target": name, "met": met, "shown": shown}

    by_row = {r["workload"]: r for r in rows}
    targets = []
    for name in ("W1-hot", "W2-hot"):
        if rounds:
            ratio = rounds[name]["pg_to_sqlite"]
            shown = (f"PG/SQLite {ratio:.2f} (medians of {rounds[name]['runs']} runs each, "
                     f"in turn)")
        else:
            ratio = by_row.get(name, {}).get("pg_to_sqlite")
            shown = f"PG/SQLite {ratio:.2f}" if ratio is not None else "n/a"
        targets.append(target(f"{name} on PostgreSQL within 10 % of SQLite",
                              ratio is not None and ratio >= 0.9, shown))
    w4 = (by_row.get("W4") or {}).get("pg")
    targets.append(target("W4 on PostgreSQL (synchronous_commit=on) >= 3000 req/s, zero errors",
                          bool(w4) and w4["requests_per_s"] >= 3000 and w4["errors"] == 0,
                          f"{w4['requests_per_s']:.0f} req/s, {w4['errors']} errors" if w4 else "n/a"))
    # What is left is the nodes' polling (tokens, once a second): far below one per hit.
    targets.append(target("cache hits do not touch PostgreSQL (transactions < 1 % of hits)",
                          bool(hot) and hot["database_transactions"] < hot["cache_hits"] / 100,
                          f"{hot['database_transactions']} transactions for {hot['cache_hits']} hits "
                          f"in {hot['seconds']} s" if hot else "n/a"))
    errors_total = {b: sum((r[b] or {}).get("errors", 0) for r in rows if r.get(b)) for b in ran}
    targets.append(target("zero errors (non-2xx, socket errors) on every backend",
                          all(v == 0 for v in errors_total.values()),
                          ", ".join(f"{b} {v}" for b, v in errors_total.items())))
    config = {k[len("config_"):]: v for k, v in env.items() if k.startswith("config_")}
    startup = {k[len("startup_ms_full@"):]: num(v) for k, v in env.items()
               if k.startswith("startup_ms_full@")}
    return {"machine": machine(), "config": config, "backends": ran, "rows": rows,
            "startup_ms": startup, "w7_stream_all": w7, "hot_read_check": hot,
            "hot_rounds": rounds,
            "load_average": load, "pg_seed_s": num(env.get("pg_seed_s")),
            "workloads": workloads, "targets": targets}


def print_compare(r):
    c, m = r["config"], r["machine"]
    print(f"\nlistingd benchmark, SQLite and PostgreSQL — {c.get('listings')} listings x "
          f"{c.get('prices')} prices, wrk -t1 -c{c.get('connections')} -d{c.get('duration')}s, "
          f"serve --threads {c.get('threads')} --cache-mb {c.get('cache_mb')}")
    print(f"machine: {m['nproc']} CPUs ({m['cpu_model']}), {m['mem_total_mb']} MB; commit "
          f"{c.get('commit')}")
    print(f"PostgreSQL: {c.get('pg', '?')}; {c.get('pg_cluster', c.get('pg_url', ''))}\n")
    names = dict(BACKENDS)
    head = f"{'workload':<9}"
    for b in r["backends"]:
        head += f" | {names[b] + ' req/s':>22} {'p99 ms':>7} {'err':>4}"
        if b != "sqlite" and "sqlite" in r["backends"]:
            head += f" {'/SQLite':>7}"
    print(head)
    print("-" * len(head))
    for row in r["rows"]:
        line = f"{row['workload']:<9}"
        for b in r["backends"]:
            w = row.get(b)
            line += (f" | {w['requests_per_s']:>22.0f} {w['p99_ms']:>7.2f} {w['errors']:>4}" if w
                     else f" | {'':>22} {'':>7} {'':>4}")
            if b != "sqlite" and "sqlite" in r["backends"]:
                ratio = row.get(f"{b}_to_sqlite")
                line += f" {fmt(ratio, '7.2f')}"
        print(line)
    for b, w in r["w7_stream_all"].items():
        print(f"W7 on {names[b]}: HTTP {w['http_status']}, {fmt(w['time_s'], '.2f')} s, "
              f"{(w['bytes'] or 0) / 1e6:.1f} MB, RSS growth {fmt(w['rss_growth_mb'], '.1f')} MB")
    for name, x in (r["hot_rounds"] or {}).items():
        print(f"{name} in turn, {x['runs']} runs each, median req/s: SQLite "
              f"{x['median_req_s']['sqlite']:.0f}, PostgreSQL {x['median_req_s']['pg']:.0f}, "
              f"PG/SQLite {x['pg_to_sqlite']:.2f}")
    print("start-up (exec to first answer): " +
          ", ".join(f"{k} {v:.0f} ms" for k, v in r["startup_ms"].items() if v is not None))
    if r["pg_seed_s"] is not None:
        print(f"PostgreSQL seeded (export | import) in {r['pg_seed_s']:.0f} s")
    print("load average (1, 5, 15 min) at each server's start and end: " +
          "; ".join(f"{k} {v}" for k, v in r["load_average"].items()))
    print("\ntargets:")
    for t in r["targets"]:
        met = "met" if t["met"] else "not run" if t["shown"] == "n/a" else "MISSED"
        print(f"  [{met}] {t['target']}: {t['shown']}")


def main():
    args = sys.argv[1:]
    compare = bool(args) and args[0] == "--compare"
    if compare:
        args = args[1:]
    if len(args) != 2:
        sys.exit(__doc__)
    run_dir, out = args
    env, workloads = load(run_dir)
    if compare:
        report = build_compare(env, workloads, run_dir)
        print_compare(report)
    else:
        report = build(env, workloads)
        print_report(report)
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    with open(out, "w", encoding="utf-8") as f:
        json.dump(report, f, indent=2, ensure_ascii=False)
        f.write("\n")
    print(f"\nresults written to {out}")


if __name__ == "__main__":
    main()
