#!/usr/bin/env python3
"""run_dist.py CASE PROGRAM TRANSPORT WORKDIR: one distributed test, dist_train under mpirun.

TRANSPORT is vader (shared memory) or tcp (TCP on loopback, what a multi-node run uses). Each
case starts dist_train with 1 to 4 ranks and checks what they print and what rank 0 saved:

  same_f64_det  deterministic mode, f64: 1, 2, 3 and 4 ranks end 100 steps with the same bits,
                with the optimiser step sharded too (SGD with momentum, and Adam with AMSGrad:
                parameters and the whole optimiser state rank 0 gathers and saves)
  same_f32      default mode, f32: 1, 2, 3 and 4 ranks within 1e-5 relative after 100 steps
  overlap       buckets start during the sweep, and give the bits a reduction after it gives
                (2 and 3 ranks), also after a second group over the store moved the gradients
  resume        saved on 2 ranks at step 40, resumed on 3: the bits of an uninterrupted run;
                also with the optimiser step sharded (the saved state is gathered from both)
  shard         the sharded optimiser step over each reduction (ring, pairs, MPI's, shared
                memory) on 2 ranks, ring and shared memory on 3, shared memory on 4, in f32:
                the bits of the unsharded step with the same reduction (MPI's: within 1e-5),
                overlapped the bits of after the sweep, Adam's state included; over shared
                memory the parameters live in the segment, and after a second group moved
                them out the step goes on with copies, the same bits; the default shards
                over shared memory with an optimiser that keeps two state buffers (Adam), not
                with SGD or elsewhere; with skip_nonfinite a NaN in one rank's gradient
                refuses the step on every rank, parameters unchanged
  bad_file      one rank's data file is corrupt: every rank stops naming that rank and file
  killed_rank   a rank is killed at step 35: the job ends (bounded by the harness's timeout)
                and the step-30 checkpoint loads
  killed_watchdog  the same with mpirun told to keep the job running (--enable-recovery), so
                only the library's bounded wait can stop the surviving rank: it must report the
                wait that did not complete (sharded too: the reduce-scatter's)
  overlap_auto  the default overlap decides from the first step where the sweep deposits its
                bytes: on for a model whose middle layer's gradients (finished early) hold most
                of them, off when the first layer's weight (finished last) does or when one
                bucket holds everything, on 2 and 3 ranks; off gives the bits of forced overlap
  wrong_model   one rank builds another model: every rank refuses, naming it
  algos         each all-reduce (ring, pairs, MPI's, shared memory) on 2 ranks, pairs also on 4,
                shared memory on 3 and 4: within 1e-5 of 1 rank in f32, every rank the same bits
                every step, overlapped the bits of after the sweep, shared memory the bits of
                pairs on 2 ranks; auto picks shared memory on one machine; pairs on 3 runs the
                ring
  examples      mlp, lenet and char_rnn --dist on 2 ranks (paths after WORKDIR) train on
                generated data to their single-rank targets

A wait that never ends fails the test through the timeout of each run (a bound, not a timing).
"""
import json
import os
import shutil
import struct
import subprocess
import sys
from pathlib import Path

RUN_TIMEOUT = 90  # seconds one mpirun may take before the case fails as hung


def mpirun_cmd(n, transport):
    cmd = ["mpirun", "-np", str(n), "--oversubscribe"]
    if os.geteuid() == 0:
        cmd.append("--allow-run-as-root")
    if transport == "tcp":
        cmd += ["--mca", "btl", "self,tcp", "--mca", "btl_tcp_if_include", "lo"]
    else:
        cmd += ["--mca", "btl", "self,vader"]
    return cmd


def run(program, n, transport, args, expect_ok=True, mpirun_args=()):
    cmd = mpirun_cmd(n, transport) + list(mpirun_args) + [program] + args
    env = dict(os.environ, OMPI_MCA_rmaps_base_oversubscribe="1")
    # Under AddressSanitizer: Open MPI unloads its components in MPI_Finalize and leaves their
    # allocations behind, with stacks into code no longer mapped that no suppression can name,
    # so leak checking is off for these processes; use-after-free, overflows and UB still fail.
    env["ASAN_OPTIONS"] = ":".join(filter(None, [env.get("ASAN_OPTIONS"), "detect_leaks=0"]))
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=RUN_TIMEOUT, env=env)
    except subprocess.TimeoutExpired:
        sys.exit(f"FAIL: hung for {RUN_TIMEOUT} s: {' '.join(cmd)}")
    if expect_ok and p.returncode != 0:
        sys.exit(f"FAIL: exit {p.returncode}: {' '.join(cmd)}\n{p.stdout}\n{p.stderr}")
    if expect_ok is False and p.returncode == 0:
        sys.exit(f"FAIL: succeeded but should have failed: {' '.join(cmd)}\n{p.stdout}")
    return p


def tensors(path):
    """name -> (dtype, raw bytes) of a safetensors file."""
    raw = Path(path).read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    data = raw[8 + n:]
    out = {}
    for name, v in header.items():
        if name != "__metadata__":
            a, b = v["data_offsets"]
            out[name] = (v["dtype"], data[a:b])
    return out


def values(dtype, raw):
    fmt = "d" if dtype == "F64" else "f"
    return struct.unpack(f"<{len(raw) // struct.calcsize(fmt)}{fmt}", raw)


def same_bits(a, b, what):
    ta, tb = tensors(a), tensors(b)
    if ta.keys() != tb.keys():
        sys.exit(f"FAIL: {what}: tensors {sorted(ta)} vs {sorted(tb)}")
    for name in ta:
        if ta[name] != tb[name]:
            va, vb = values(*ta[name]), values(*tb[name])
            worst = max(abs(x - y) for x, y in zip(va, vb))
            sys.exit(f"FAIL: {what}: {name} differs (largest difference {worst:.3g})")
    print(f"{what}: identical bits in {len(ta)} tensors")


def close(a, b, rel, what):
    ta, tb = tensors(a), tensors(b)
    worst = 0.0
    for name in ta:
        va, vb = values(*ta[name]), values(*tb[name])
        scale = max(abs(x) for x in vb) or 1.0
        worst = max(worst, max(abs(x - y) for x, y in zip(va, vb)) / scale)
    print(f"{what}: largest difference {worst:.3g} of the tensor's largest value")
    if not worst <= rel:
        sys.exit(f"FAIL: {what}: {worst:.3g} > {rel}")
    if not any(ta[k] != tb[k] for k in ta) and "f32" in what:
        print(f"{what}: (identical)")


def main():
    case, program, transport, work = sys.argv[1:5]
    work = Path(work) / f"{case}_{transport}"
    work.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    out = lambda name: str(work / name)  # noqa: E731

    if case == "same_f64_det":
        counts = [1, 2, 3, 4] if transport == "vader" else [1, 2, 4]
        for n in counts:
            run(program, n, transport, ["--det", "--chunks", "12", "--out", out(f"r{n}")])
        for n in counts[1:]:
            same_bits(out("r1"), out(f"r{n}"), f"f64 deterministic, 1 vs {n} ranks")
        # sharded: each rank updates its slices, and the whole state is gathered for the save
        for n in counts:
            run(program, n, transport, ["--det", "--chunks", "12", "--shard", "--out",
                                        out(f"s{n}")])
            same_bits(out("r1"), out(f"s{n}"), f"f64 deterministic, 1 rank vs {n} sharded")
        run(program, 1, transport, ["--det", "--chunks", "12", "--adam", "--out", out("a1")])
        for n in counts[1:]:
            run(program, n, transport, ["--det", "--chunks", "12", "--adam", "--shard", "--out",
                                        out(f"a{n}")])
            same_bits(out("a1"), out(f"a{n}"), f"f64 deterministic Adam, 1 rank vs {n} sharded")
    elif case == "same_f32":
        # 3 ranks: the ring cuts every bucket into chunks of unequal sizes
        for n in (1, 2, 3, 4):
            run(program, n, transport, ["--dtype", "f32", "--out", out(f"r{n}")])
        for n in (2, 3, 4):
            close(out(f"r{n}"), out("r1"), 1e-5, f"f32, {n} vs 1 ranks")
    elif case == "overlap":
        # 1 KB buckets: the 36x16 weight alone is 2.3 KB, so each parameter gets its own.
        p = run(program, 2, transport, ["--dtype", "f32", "--bucket", "1024", "--overlap",
                                        "--expect-early", "--out", out("early")])
        print(p.stdout.strip())
        run(program, 2, transport, ["--dtype", "f32", "--bucket", "1024", "--no-overlap",
                                    "--out", out("late")])
        same_bits(out("early"), out("late"), "overlapped vs after the sweep")
        # a second group over the same store regroups the gradients in one bucket
        run(program, 2, transport, ["--dtype", "f32", "--bucket", "1024", "--overlap",
                                    "--expect-early", "--second-group", "0",
                                    "--out", out("regrouped")])
        same_bits(out("early"), out("regrouped"), "after another group regrouped the gradients")
        # several buckets' rings in flight at once, in chunks of unequal sizes
        run(program, 3, transport, ["--dtype", "f32", "--bucket", "1024", "--overlap",
                                    "--expect-early", "--out", out("early3")])
        run(program, 3, transport, ["--dtype", "f32", "--bucket", "1024", "--no-overlap",
                                    "--out", out("late3")])
        same_bits(out("early3"), out("late3"), "3 ranks: overlapped vs after the sweep")
    elif case == "overlap_auto":
        # 1 KB buckets. 36-16-4: fc1's 36x16 weight, the sweep's last deposit, is 87% of the
        # bytes. 36-16-64-4: the middle layer's 16x64 weight and the head finish first, 70%.
        for n in (2, 3):
            p = run(program, n, transport, ["--dtype", "f32", "--bucket", "1024", "--expect-early",
                                            "--expect-overlap", "off", "--out", out(f"auto{n}")])
            print(p.stdout.strip())
            run(program, n, transport, ["--dtype", "f32", "--bucket", "1024", "--overlap",
                                        "--expect-overlap", "on", "--out", out(f"on{n}")])
            same_bits(out(f"auto{n}"), out(f"on{n}"), f"{n} ranks: auto (off) vs forced overlap")
            p = run(program, n, transport, ["--dtype", "f32", "--bucket", "1024", "--hidden2",
                                            "64", "--expect-overlap", "on", "--steps", "30"])
            print(p.stdout.strip())
        # one bucket: nothing can start before the last one
        run(program, 2, transport, ["--dtype", "f32", "--bucket", "1048576", "--hidden2", "64",
                                    "--expect-overlap", "off", "--steps", "30"])
        print("auto: off for 36-16-4 and for one bucket, on for 36-16-64-4")
    elif case == "resume":
        run(program, 1, transport, ["--det", "--chunks", "6", "--out", out("straight")])
        run(program, 2, transport, ["--det", "--chunks", "6", "--steps", "40", "--save",
                                    out("ck40"), "--save-every", "40"])
        run(program, 3, transport, ["--det", "--chunks", "6", "--resume", out("ck40"),
                                    "--out", out("resumed")])
        same_bits(out("straight"), out("resumed"), "saved on 2 ranks, resumed on 3")
        run(program, 2, transport, ["--det", "--chunks", "6", "--steps", "40", "--shard",
                                    "--save", out("sk40"), "--save-every", "40"])
        same_bits(out("ck40"), out("sk40"), "saved at step 40 on 2 ranks, sharded vs not")
        run(program, 3, transport, ["--det", "--chunks", "6", "--shard", "--resume", out("sk40"),
                                    "--out", out("sresumed")])
        same_bits(out("straight"), out("sresumed"), "sharded: saved on 2 ranks, resumed on 3")
    elif case == "bad_file":
        bad = work / "bad-images.idx"
        bad.write_bytes(b"\x00\x00\x08\x03\x00\x00\x00\x05")  # header cut short
        p = run(program, 3, transport, ["--bad-rank", "1", "--bad-file", str(bad)],
                expect_ok=False)
        for r in range(3):
            want = f"dist_train: rank {r}: cannot train: rank 1: "
            if want not in p.stderr or str(bad) not in p.stderr:
                sys.exit(f"FAIL: rank {r} did not report rank 1's file:\n{p.stderr}")
        print("every rank reported:", p.stderr.splitlines()[0])
    elif case == "killed_rank":
        ck = out("ck")
        p = run(program, 2, transport, ["--save", ck, "--save-every", "10", "--kill-rank", "1",
                                        "--kill-step", "35", "--timeout", "5"], expect_ok=False)
        print("mpirun said:", " ".join(p.stderr.split())[:300])
        p = run(program, 1, transport, ["--verify", ck])
        if "step 30" not in p.stdout:
            sys.exit(f"FAIL: the last checkpoint is not step 30: {p.stdout}")
        print(p.stdout.strip())
    elif case == "killed_watchdog":
        # mpirun's exit status under --enable-recovery does not tell; the message does.
        p = run(program, 2, transport, ["--kill-rank", "1", "--kill-step", "35", "--timeout",
                                        "3"], expect_ok=None, mpirun_args=["--enable-recovery"])
        want = "dist_train: rank 0: dist: rank 0: the all-reduce of bucket 0 of 1 did not " \
               "complete within 3.0 s"
        if want not in p.stderr:
            sys.exit(f"FAIL: rank 0 did not report its timed-out wait:\n{p.stderr}")
        print("rank 0 said:", want)
        p = run(program, 2, transport, ["--kill-rank", "1", "--kill-step", "35", "--timeout",
                                        "3", "--shard"], expect_ok=None,
                mpirun_args=["--enable-recovery"])
        want = want.replace("all-reduce", "reduce-scatter")
        if want not in p.stderr:
            sys.exit(f"FAIL: sharded, rank 0 did not report its timed-out wait:\n{p.stderr}")
        print("sharded, rank 0 said:", want)
    elif case == "algos":
        # Each algorithm on 2 ranks, and pairs' two rounds on 4 (the ring on 3 and 4 ranks is
        # what same_f32 and overlap run).
        run(program, 1, transport, ["--dtype", "f32", "--out", out("one")])
        for algo, n in (("ring", 2), ("pairs", 2), ("mpi", 2), ("pairs", 4), ("shared", 2),
                        ("shared", 3), ("shared", 4)):
            common = ["--dtype", "f32", "--bucket", "1024", "--algo", algo, "--expect-algo", algo]
            p = run(program, n, transport, common + ["--overlap", "--expect-early",
                                                     "--out", out(f"{algo}{n}")])
            print(p.stdout.strip())
            close(out(f"{algo}{n}"), out("one"), 1e-5, f"f32 {algo}, {n} vs 1 ranks")
            run(program, n, transport, common + ["--no-overlap", "--out", out(f"{algo}{n}l")])
            same_bits(out(f"{algo}{n}"), out(f"{algo}{n}l"),
                      f"{algo} on {n} ranks: overlapped vs after the sweep")
        # on 2 ranks shared memory forms (a + b) / 2 as pairs does: the same bits
        same_bits(out("shared2"), out("pairs2"), "shared vs pairs on 2 ranks")
        for n in (2, 4):  # every rank of these runs is on this machine
            run(program, n, transport, ["--steps", "2", "--expect-algo", "shared"])
        run(program, 3, transport, ["--steps", "2", "--algo", "pairs", "--expect-algo", "ring"])
        print("auto: shared memory on 2 and 4 ranks of one machine; pairs asked on 3 ranks runs "
              "the ring")
    elif case == "shard":
        run(program, 1, transport, ["--dtype", "f32", "--out", out("one")])
        for algo, n, runs in (("ring", 2, "ring"), ("pairs", 2, "ring"), ("mpi", 2, "mpi"),
                              ("shared", 2, "shared"), ("ring", 3, "ring"), ("shared", 3, "shared"),
                              ("shared", 4, "shared")):
            common = ["--dtype", "f32", "--bucket", "1024", "--algo", algo]
            run(program, n, transport, common + ["--out", out(f"{algo}{n}")])
            p = run(program, n, transport, common + ["--shard", "--overlap", "--expect-early",
                                                     "--expect-algo", runs,
                                                     "--out", out(f"{algo}{n}s")])
            print(p.stdout.strip())
            if (algo == "shared") != ("parameters shared" in p.stdout):
                sys.exit(f"FAIL: sharded {algo}: the parameters should {'' if algo == 'shared' else 'not '}"
                         f"live in a shared segment:\n{p.stdout}")
            if algo == "mpi":  # MPI's reduce-scatter may sum in another order than its all-reduce
                close(out(f"{algo}{n}s"), out("one"), 1e-5, f"f32 sharded {algo}, {n} vs 1 ranks")
            else:
                same_bits(out(f"{algo}{n}"), out(f"{algo}{n}s"),
                          f"{algo} on {n} ranks: sharded vs not")
            run(program, n, transport, common + ["--shard", "--no-overlap",
                                                 "--out", out(f"{algo}{n}sl")])
            same_bits(out(f"{algo}{n}s"), out(f"{algo}{n}sl"),
                      f"sharded {algo} on {n} ranks: overlapped vs after the sweep")
        # a second group over the store moves the parameters out of the first one's segment:
        # the first goes on with copies, the same bits
        p = run(program, 2, transport, ["--dtype", "f32", "--bucket", "1024", "--algo", "shared",
                                        "--shard", "--second-group", "0", "--out", out("moved")])
        if "parameters shared" in p.stdout:
            sys.exit(f"FAIL: the parameters were moved, yet reported shared:\n{p.stdout}")
        same_bits(out("shared2"), out("moved"), "sharded shared memory after another group "
                  "moved the parameters")
        # AUTO: on for an optimiser with state over shared memory, off elsewhere
        run(program, 2, transport, ["--steps", "4", "--adam", "--shard-auto", "--expect-shard",
                                    "on"])
        for other in ([], ["--adam", "--algo", "ring"], ["--adam", "--det"],
                      ["--adam", "--algo", "pairs"]):
            run(program, 2, transport, ["--steps", "4", "--shard-auto", "--expect-shard", "off"] +
                other)
        print("auto: sharded over shared memory with Adam, not with SGD (one state buffer), "
              "over pairs or the ring, or in deterministic mode")
        # skip_nonfinite: a NaN in one rank's gradient refuses the step on every rank, sharded
        # (the owner of the NaN's slice finds it, all agree) or not
        for extra in (["--shard", "--algo", "shared"], ["--shard", "--algo", "ring"],
                      ["--shard", "--algo", "mpi"], []):
            p = run(program, 2, transport, ["--dtype", "f32", "--bucket", "1024", "--steps", "20",
                                            "--nan-rank", "1", "--nan-step", "10"] + extra)
            if "refused on every rank" not in p.stdout or "fc1.weight" not in p.stdout:
                sys.exit(f"FAIL: {extra}: the NaN step was not refused as it should be:\n{p.stdout}")
            print(" ".join(extra) or "unsharded", "->", p.stdout.splitlines()[0])
        # Adam's two moments and AMSGrad's maximum, each slice updated on its owner only
        run(program, 2, transport, ["--dtype", "f32", "--adam", "--out", out("adam")])
        run(program, 2, transport, ["--dtype", "f32", "--adam", "--shard", "--out", out("adams")])
        same_bits(out("adam"), out("adams"), "Adam on 2 ranks: sharded vs not")
    elif case == "wrong_model":
        p = run(program, 2, transport, ["--wrong-model-rank", "1"], expect_ok=False)
        if "rank 1's store differs from rank 0's" not in p.stderr:
            sys.exit(f"FAIL: no rank named the different model:\n{p.stderr}")
        print("refused:", p.stderr.splitlines()[0])
    elif case == "examples":
        sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "examples" / "tests"))
        import example_test  # the examples' own generators of data
        mlp, lenet, char_rnn = sys.argv[5:8]
        images = work / "images"
        example_test.make_images(str(images))
        text = example_test.make_text(str(work / "text"))
        for exe in (mlp, lenet):
            p = run(exe, 2, transport, ["--dist", "--data", str(images), "--epochs", "2",
                                        "--batch", "32", "--threads", "1", "--min-accuracy", "95"])
            if "2 ranks, 16 samples per rank and batch" not in p.stdout:
                sys.exit(f"FAIL: {exe} did not train on 2 ranks:\n{p.stdout}")
            print(Path(exe).name, "--dist:", p.stdout.strip().splitlines()[-1])
        p = run(char_rnn, 2, transport, ["--dist", "--data", str(text), "--batch", "16", "--seq",
                                         "16", "--hidden", "32", "--embed", "8", "--steps", "100",
                                         "--epochs", "2", "--sample", "0", "--threads", "1"])
        last = [l for l in p.stdout.splitlines() if "held-out" in l][-1]
        bpc = float(last.split("held-out")[1].split()[0])
        print("char_rnn --dist:", last)
        if not bpc < 0.8:  # the single-rank test's target
            sys.exit(f"FAIL: char_rnn --dist ended at {bpc} bits per character held out")
    else:
        sys.exit(f"unknown case {case}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
