// Runner.cs: the schedule of a tierkit workload on .NET (emitted by
// `tk-bench --emit-csharp`; SPEC.md "CoreCLR observation").  The universe
// (types, bodies, sites, handlers, tables) is in Universe.cs; this file runs
// it the way workloads/wl_run.c does: the same PRNG (xorshift per worker,
// seeded like wl_run.c), the same handler choice (Zipf CDFs from the
// generator), the same per-request budget split.  Durations are real time
// here: CoreCLR has no manual clock, so the deterministic schedule's clock
// advances become sleeps (the calls made are still identical).
using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Runtime.CompilerServices;
using System.Text;
using System.Threading;

namespace TkGen
{
    // One per thread: the PRNG state and the body sink (wl_run.c `worker`).
    public sealed class W
    {
        public ulong rng, sink;
        public uint mult = 1;               // work units per body unit (cost runs)
        public long requests, calls;        // this thread's totals (read by the sampler)

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public uint Pick(uint n)
        {
            ulong x = rng;
            x ^= x << 13; x ^= x >> 7; x ^= x << 17;
            rng = x;
            return (uint)(((x >> 32) * (ulong)n) >> 32);
        }

        public uint Zipf(uint[] cdf)
        {
            uint u = Pick(1000000000u), lo = 0, hi = (uint)cdf.Length - 1;
            while (lo < hi) { uint mid = (lo + hi) / 2; if (u < cdf[mid]) hi = mid; else lo = mid + 1; }
            return lo;
        }
    }

    public static partial class Probe
    {
        // Implemented by Probe.cs (slot snapshots, compile events); calls
        // vanish when it is left out of the build.
        static partial void Begin(string path, double off);
        static partial void Point(string name, double tMs);
        static partial void End(string runJson);
        public static void OnBegin(string path, double off) => Begin(path, off);
        public static void OnPoint(string name, double tMs) => Point(name, tMs);
        public static void OnEnd(string runJson) => End(runJson);
    }

    public static class Runner
    {
        static readonly Stopwatch Clock = Stopwatch.StartNew();
        static double Now() => Clock.Elapsed.TotalMilliseconds;
        public static double NowMs() => Now();
        static volatile int phase;          // index into PhaseNames; -1 stop
        static volatile bool lateReady;
        static readonly string[] PhaseNames = { "startup", "warmup", "measured", "quiet", "burst", "measured2" };
        static readonly List<string> points = new List<string>();
        static readonly List<string> windows = new List<string>();
        static readonly double[] phaseMs = new double[6];
        static readonly long[] phaseReq = new long[6], phaseCalls = new long[6];
        static double timeScale = 1.0, delayMs = 100;
        static string probePath;

        static int ChooseHandler(W w)
        {
            int nl = U.Handlers - U.EarlyHandlers;
            if (nl > 0 && lateReady && w.Pick(1000000000u) < U.BurstSharePpb)
                return U.EarlyHandlers + (int)w.Zipf(U.ZipfLate);
            return (int)w.Zipf(U.ZipfEarly);
        }

        static void Mark(string name)
        {
            double t = Now();
            points.Add("{\"name\":\"" + name + "\",\"t_ms\":" + F(t) + "}");
            if (probePath != null) Probe.OnPoint(name, t);
        }

        static string F(double d) => d.ToString("0.###", CultureInfo.InvariantCulture);

        static void Sleep(double ms) { if (ms > 0) Thread.Sleep((int)Math.Round(ms)); }

        static void Usage(TextWriter o)
        {
            o.WriteLine("usage: dotnet " + U.Name + ".dll [--json FILE] [--probe FILE] [--threads N] [--time-scale X]");
            o.WriteLine("          [--delay-ms MS] [--mult N] [--cost-calls N] [--stub-page-offset BYTES]");
            o.WriteLine("  runs the tierkit workload '" + U.Name + "' (universe " + U.Fingerprint + ")");
            o.WriteLine("  --json FILE       run results (phases, windows, fixed points) as JSON");
            o.WriteLine("  --probe FILE      compile events and vtable slot snapshots as JSON");
            o.WriteLine("  --delay-ms MS     the runtime's TC_CallCountingDelayMs (times the fixed points)");
            o.WriteLine("  --cost-calls N    cost run: converge, then time exactly N calls (3 repetitions)");
            o.WriteLine("  --mult N          multiply every body's work units by N (cost runs)");
            o.WriteLine("  --threshold-run K one call of request 0 (budget 1), wait out the delay, then K-1 more");
            o.WriteLine("                    (with a delay: K more after it), each calling the factory once");
        }

        static int Fail(string msg) { Console.Error.WriteLine(U.Name + ": " + msg); return 2; }

        public static int Main(string[] args)
        {
            string json = null;
            int threads = U.Threads;
            long costCalls = 0, thresholdRun = 0;
            uint mult = 1;
            double stubOff = 16384;
            for (int i = 0; i < args.Length; i++)
            {
                string a = args[i];
                if (a == "--help" || a == "-h") { Usage(Console.Out); return 0; }
                if (i + 1 >= args.Length) return Fail(a + " needs an argument (see --help)");
                string v = args[++i];
                bool ok = true;
                switch (a)
                {
                    case "--json": json = v; break;
                    case "--probe": probePath = v; break;
                    case "--threads": ok = int.TryParse(v, out threads) && threads >= 1 && threads <= 1024; break;
                    case "--time-scale": ok = double.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out timeScale) && timeScale > 0; break;
                    case "--delay-ms": ok = double.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out delayMs) && delayMs >= 0; break;
                    case "--cost-calls": ok = long.TryParse(v, out costCalls) && costCalls > 0; break;
                    case "--threshold-run": ok = long.TryParse(v, out thresholdRun) && thresholdRun > 0; break;
                    case "--mult": ok = uint.TryParse(v, out mult) && mult >= 1 && mult <= 1000; break;
                    case "--stub-page-offset": ok = double.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out stubOff) && stubOff > 0; break;
                    default: return Fail("unknown option '" + a + "' (see --help)");
                }
                if (!ok) return Fail(a + ": '" + v + "' is not valid (see --help)");
            }
            if (probePath != null) Probe.OnBegin(probePath, stubOff);
            var mw = new W { rng = unchecked(U.Seed * 0x9E3779B97F4A7C15UL + 1), mult = mult };
            double t0 = Now();
            U.BuildEarly();
            double r0 = Now();
            long c0 = U.Request(mw, 0, U.CallsPerRequest);
            double firstUs = (Now() - r0) * 1000.0;
            phaseMs[0] = Now() - t0; phaseReq[0] = 1; phaseCalls[0] = c0;
            Mark("after-startup");
            string mode;
            double nsPerCall = -1;
            var cost = new List<string>();
            if (thresholdRun > 0) { mode = "threshold"; ThresholdRun(mw, thresholdRun); }
            else if (costCalls > 0) { mode = "cost"; CostRun(mw, costCalls, cost); }
            else if (U.Deterministic) { mode = "deterministic"; threads = 1; nsPerCall = RunDeterministic(mw); }
            else { mode = "threaded"; RunThreaded(threads, mult); }
            var sb = new StringBuilder();
            sb.Append("{\"schema_version\":1,\"workload\":\"").Append(U.Name).Append("\",\"fingerprint\":\"").Append(U.Fingerprint)
              .Append("\",\"mode\":\"").Append(mode).Append("\",\"threads\":").Append(threads)
              .Append(",\"mult\":").Append(mult)
              .Append(",\"startup_ms\":").Append(F(phaseMs[0])).Append(",\"first_request_us\":").Append(F(firstUs))
              .Append(",\"ns_per_call\":").Append(F(nsPerCall))
              .Append(",\"jit_compiled_methods\":").Append(System.Runtime.JitInfo.GetCompiledMethodCount(false))
              .Append(",\"phases\":{");
            bool first = true;
            for (int p = 0; p < 6; p++)
            {
                if (phaseReq[p] == 0 && phaseMs[p] == 0) continue;
                if (!first) sb.Append(','); first = false;
                sb.Append('"').Append(PhaseNames[p]).Append("\":{\"duration_ms\":").Append(F(phaseMs[p]))
                  .Append(",\"requests\":").Append(phaseReq[p]).Append(",\"calls\":").Append(phaseCalls[p]).Append('}');
            }
            sb.Append("},\"points\":[").Append(string.Join(",", points)).Append("],\"windows\":[")
              .Append(string.Join(",", windows)).Append("],\"cost\":[").Append(string.Join(",", cost)).Append("]}");
            string doc = sb.ToString();
            if (probePath != null) Probe.OnEnd(doc);
            if (json != null)
            {
                string tmp = json + ".tmp";
                File.WriteAllText(tmp, doc + "\n");
                File.Move(tmp, json, true);
            }
            Console.WriteLine(U.Name + ": " + mode + " run done, startup " + F(phaseMs[0]) + " ms, sink " + (mw.sink & 0xffff));
            return 0;
        }

        // wl_run.c deterministic mode: rounds of requests, the manual clock's
        // advance becomes a sleep of det_advance_ms.
        static double RunDeterministic(W w)
        {
            bool hasBurst = U.Handlers > U.EarlyHandlers;
            double slept = 0;
            bool delayMarked = false;
            for (int part = 0; part < (hasBurst ? 2 : 1); part++)
            {
                int ph = part == 1 ? 4 : 1;
                if (part == 1)
                {
                    Sleep(U.QuietGapMs * timeScale);
                    U.BuildLate();
                    Mark("after-late-load");      // before any call through a late type
                    lateReady = true;
                }
                double a = Now();
                int h0 = part == 1 ? U.EarlyHandlers : 0, nh = part == 1 ? U.Handlers - U.EarlyHandlers : U.EarlyHandlers;
                for (long r = 0; r < U.DetRounds; r++)
                {
                    long nq = U.DetAllHandlers ? nh : U.DetRequestsPerRound;
                    for (long q = 0; q < nq; q++)
                    {
                        int h = U.DetAllHandlers ? h0 + (int)q : ChooseHandler(w);
                        phaseCalls[ph] += U.Request(w, h, U.CallsPerRequest);
                        phaseReq[ph]++;
                    }
                    if (part == 0 && r == 0) Mark("during-warmup");
                    Sleep(U.DetAdvanceMs * timeScale);
                    slept += U.DetAdvanceMs * timeScale;
                    if (part == 0 && !delayMarked && slept >= 2 * delayMs) { delayMarked = true; Mark("after-delay"); }
                }
                if (part == 0) { if (!delayMarked) { delayMarked = true; Mark("after-delay"); } WaitQuiet(); Mark("after-convergence"); }
                phaseMs[ph] = Now() - a;
            }
            if (hasBurst) { WaitQuiet(); Mark("after-burst"); }
            double m = Now();
            for (long q = 0; q < U.DetMeasureRequests; q++)
            {
                phaseCalls[2] += U.Request(w, ChooseHandler(w), U.CallsPerRequest);
                phaseReq[2]++;
            }
            phaseMs[2] = Now() - m;
            WaitQuiet();
            Mark("end");
            return phaseCalls[2] > 0 ? phaseMs[2] * 1e6 / phaseCalls[2] : -1;
        }

        // The background worker is idle when no method was compiled for a
        // while (JitInfo counts every compile, all tiers).
        // Each wait is longer than a tiering delay window, so a promotion
        // held back by a delay that new first calls keep extending is seen.
        static void WaitQuiet()
        {
            long last = System.Runtime.JitInfo.GetCompiledMethodCount(false);
            int still = 0;
            for (int i = 0; i < 100 && still < 3; i++)
            {
                Thread.Sleep((int)delayMs + 150);
                long n = System.Runtime.JitInfo.GetCompiledMethodCount(false);
                still = n == last ? still + 1 : 0;
                last = n;
            }
        }

        static void Worker(object o)
        {
            var w = (W)o;
            for (;;)
            {
                int ph = phase;
                if (ph < 0) break;
                if (ph == 3) { Thread.Sleep(1); continue; }
                long c = U.Request(w, ChooseHandler(w), U.CallsPerRequest);
                Interlocked.Add(ref phaseCalls[ph], c);
                Interlocked.Increment(ref phaseReq[ph]);
                Volatile.Write(ref w.requests, w.requests + 1);
            }
        }

        // wl_run.c threaded mode: workers run the phases; this thread samples
        // request rates per window and takes the fixed-point snapshots.
        static void RunThreaded(int n, uint mult)
        {
            var ws = new W[n];
            var th = new Thread[n];
            phase = 1;
            double origin = Now();
            for (int i = 0; i < n; i++)
            {
                ws[i] = new W { rng = unchecked((U.Seed + 0x1234567UL * (ulong)(i + 2)) | 1), mult = mult };
                th[i] = new Thread(Worker) { IsBackground = true };
                th[i].Start(ws[i]);
            }
            double win = U.WindowMs * timeScale;
            long prev = 0;
            double nextWin = origin + win;
            var marks = new List<(double at, string name)>();
            double warm = U.WarmupMs * timeScale;
            marks.Add((origin + Math.Min(delayMs / 2, warm / 4), "during-warmup"));
            marks.Add((origin + Math.Min(3 * delayMs, warm / 2), "after-delay"));
            void Run(int ph, double ms, string endMark)
            {
                phase = ph;
                double a = Now(), end = a + ms;
                while (Now() < end)
                {
                    double t = Now();
                    while (marks.Count > 0 && marks[0].at <= t) { Mark(marks[0].name); marks.RemoveAt(0); }
                    if (t >= nextWin)
                    {
                        long tot = 0;
                        foreach (var w in ws) tot += Volatile.Read(ref w.requests);
                        windows.Add("{\"start_ms\":" + F(nextWin - win - origin) + ",\"rps\":" + F((tot - prev) * 1000.0 / win) + ",\"phase\":\"" + PhaseNames[ph] + "\"}");
                        prev = tot;
                        nextWin += win;
                    }
                    Thread.Sleep(1);
                }
                phaseMs[ph] = Now() - a;
                if (endMark != null) Mark(endMark);
            }
            Run(1, warm, null);
            Run(2, U.MeasureMs * timeScale, "after-convergence");
            if (U.Handlers > U.EarlyHandlers)
            {
                double q = Now();
                phase = 3;
                Sleep(U.QuietGapMs * timeScale);
                U.BuildLate();
                Mark("after-late-load");          // before any call through a late type
                lateReady = true;
                phaseMs[3] = Now() - q;
                Run(4, U.BurstMs * timeScale, "after-burst");
                Run(5, U.Measure2Ms * timeScale, "end");
            }
            else Mark("end");
            phase = -1;
            foreach (var t in th) t.Join();
        }

        // Threshold run (TC_CallCountThreshold / TC_CallCountingDelayMs
        // behaviour): startup made call 1 of request 0.  With a delay, wait it
        // out (counting is installed when it ends) and make K more calls;
        // without one, make calls 2..K at once.  Then let the background
        // worker finish; the compile log tells whether K calls promoted.
        static void ThresholdRun(W w, long k)
        {
            long more = k - 1;
            if (delayMs > 0) { Sleep(3 * delayMs + 100); more = k; }
            for (long i = 0; i < more; i++) U.Request(w, 0, 1);
            WaitQuiet();
            Mark("end");
        }

        // Cost run: call every handler until the JIT is quiet (whatever tier
        // the knobs leave the bodies at), then time exactly N calls, 3 times.
        static void CostRun(W w, long n, List<string> cost)
        {
            double a = Now();
            long last = -1;
            int still = 0;
            while (still < 3 && Now() - a < 20000)
            {
                for (int h = 0; h < U.EarlyHandlers; h++)
                    for (int k = 0; k < 2; k++) U.Request(w, h, U.CallsPerRequest);
                Thread.Sleep(Math.Max(50, (int)delayMs));
                long c = System.Runtime.JitInfo.GetCompiledMethodCount(false);
                still = c == last ? still + 1 : 0;
                last = c;
            }
            Mark("after-convergence");
            for (int rep = 0; rep < 3; rep++)
            {
                long left = n, made = 0;
                double s = Now();
                while (left > 0)
                {
                    long b = Math.Min(left, U.CallsPerRequest);
                    made += U.Request(w, ChooseHandler(w), b);
                    left -= b;
                }
                double d = Now() - s;
                cost.Add("{\"calls\":" + made + ",\"ms\":" + F(d) + ",\"ns_per_call\":" + F(d * 1e6 / made) + "}");
            }
            phaseMs[2] = Now() - a;
        }
    }
}
