// Probe.cs: what tierkit observes inside the .NET process (SPEC.md "CoreCLR
// observation").  Two sources, both available in a release runtime:
//  - runtime events through an in-process EventListener on
//    Microsoft-Windows-DotNETRuntime: MethodLoadVerbose (id 143, JIT keyword
//    0x10: method, code address, MethodFlags whose bits 7-9 hold the tier)
//    and the TieredCompilation events 280-284 (keyword 0x1000000000);
//  - at fixed points, every vtable slot of every loaded generated type, read
//    from the MethodTable (64-bit: vtable chunk pointers at MT+0x40, 8 slots
//    per chunk; MT+0x0C is the number of virtuals), with the bytes needed to
//    classify each value: 24 code bytes at the value and, where the page at
//    value+STUB_PAGE_OFFSET is mapped readable, 24 data bytes there.  Data
//    words that point into executable memory are dumped the same way (two
//    levels), words that point into other readable memory get their first 8
//    bytes (a counter cell).  Nothing here knows a stub's bytes: tierkit's
//    classifier (runtimes/coreclr/tk-coreclr-classify) decides what they are.
// Only mapped, readable memory is read (checked against /proc/self/maps).
using System;
using System.Collections.Generic;
using System.Diagnostics.Tracing;
using System.Globalization;
using System.IO;
using System.Reflection;
using System.Text;
using System.Threading;

namespace TkGen
{
    public static unsafe partial class Probe
    {
        sealed class RuntimeEvents : EventListener
        {
            public readonly List<string> Lines = new List<string>();
            public DateTime Origin;
            public double OriginMs;
            protected override void OnEventSourceCreated(EventSource s)
            {
                if (s.Name == "Microsoft-Windows-DotNETRuntime")
                    EnableEvents(s, EventLevel.Verbose, (EventKeywords)(0x10L | 0x1000000000L));
            }
            protected override void OnEventWritten(EventWrittenEventArgs e)
            {
                int id = e.EventId;
                if (id != 143 && (id < 280 || id > 284)) return;
                var sb = new StringBuilder();
                double t = OriginMs + (e.TimeStamp.ToUniversalTime() - Origin).TotalMilliseconds;
                sb.Append("{\"id\":").Append(id).Append(",\"t_ms\":").Append(t.ToString("0.###", CultureInfo.InvariantCulture));
                for (int i = 0; i < e.Payload.Count; i++)
                {
                    string k = e.PayloadNames[i];
                    object v = e.Payload[i];
                    sb.Append(",\"").Append(k).Append("\":");
                    if (v is string str) Str(sb, str);
                    else if (v is ulong || v is long || v is uint || v is int || v is ushort || v is short || v is byte)
                        sb.Append(Convert.ToString(v, CultureInfo.InvariantCulture));
                    else Str(sb, Convert.ToString(v, CultureInfo.InvariantCulture));
                }
                sb.Append('}');
                lock (Lines) Lines.Add(sb.ToString());
            }
        }

        static RuntimeEvents listener;
        static string outPath;
        static long stubOff;
        static readonly List<string> snapshots = new List<string>();

        static void Str(StringBuilder sb, string s)
        {
            sb.Append('"');
            foreach (char c in s)
            {
                if (c == '"' || c == '\\') sb.Append('\\').Append(c);
                else if (c < 0x20) sb.Append("\\u").Append(((int)c).ToString("x4"));
                else sb.Append(c);
            }
            sb.Append('"');
        }

        static partial void Begin(string path, double off)
        {
            outPath = path;
            stubOff = (long)off;
            listener = new RuntimeEvents { Origin = DateTime.UtcNow, OriginMs = Runner.NowMs() };
        }

        // /proc/self/maps as sorted ranges
        struct Map { public ulong Lo, Hi; public bool R, X; }
        static Map[] ReadMaps()
        {
            var l = new List<Map>();
            foreach (var line in File.ReadAllLines("/proc/self/maps"))
            {
                int dash = line.IndexOf('-'), sp = line.IndexOf(' ');
                if (dash < 0 || sp < dash) continue;
                l.Add(new Map
                {
                    Lo = ulong.Parse(line.AsSpan(0, dash), NumberStyles.HexNumber),
                    Hi = ulong.Parse(line.AsSpan(dash + 1, sp - dash - 1), NumberStyles.HexNumber),
                    R = line[sp + 1] == 'r', X = line[sp + 3] == 'x'
                });
            }
            return l.ToArray();
        }

        static int Find(Map[] m, ulong a, ulong len)
        {
            int lo = 0, hi = m.Length - 1;
            while (lo <= hi)
            {
                int mid = (lo + hi) / 2;
                if (a < m[mid].Lo) hi = mid - 1;
                else if (a >= m[mid].Hi) lo = mid + 1;
                else return a + len <= m[mid].Hi && m[mid].R ? mid : -1;
            }
            return -1;
        }

        static string Hex(ulong a, int n)
        {
            var sb = new StringBuilder(n * 2);
            byte* p = (byte*)a;
            for (int i = 0; i < n; i++) sb.Append(p[i].ToString("x2"));
            return sb.ToString();
        }

        // The runtime maps new code and stub pages while the snapshot is
        // taken: a miss re-reads /proc/self/maps (at most 1024 times per snapshot).
        static Map[] maps;
        static int refreshes;
        static int FindFresh(ulong a, ulong len)
        {
            int i = Find(maps, a, len);
            if (i < 0 && refreshes < 1024) { refreshes++; maps = ReadMaps(); i = Find(maps, a, len); }
            return i;
        }

        static void Dump(ulong a, int depth, Dictionary<ulong, string> mem)
        {
            if (a == 0 || mem.ContainsKey(a)) return;
            int mi = FindFresh(a, 1);
            if (mi < 0) { mem[a] = "{\"addr\":\"" + a.ToString("x") + "\",\"mapped\":false}"; return; }
            // small JIT code can end less than 24 bytes before its mapping
            // does: read what is mapped, pad with zeros (no stub template
            // matches a zero tail; a real stub lies wholly inside its page)
            int avail = (int)Math.Min(24UL, maps[mi].Hi - a);
            var sb = new StringBuilder();
            sb.Append("{\"addr\":\"").Append(a.ToString("x")).Append("\",\"mapped\":true,\"exec\":")
              .Append(maps[mi].X ? "true" : "false").Append(",\"code_len\":").Append(avail)
              .Append(",\"code\":\"").Append(Hex(a, avail)).Append(new string('0', 2 * (24 - avail))).Append('"');
            var follow = new List<ulong>();
            // no re-read for the data page: a stub's code and data pages are
            // committed together, and most code (JIT code) has no data page
            int di = Find(maps, a + (ulong)stubOff, 24);
            if (maps[mi].X && di >= 0 && !maps[di].X)
            {
                sb.Append(",\"data\":\"").Append(Hex(a + (ulong)stubOff, 24)).Append('"');
                sb.Append(",\"pointees\":{");
                bool first = true;
                for (int k = 0; k < 3; k++)
                {
                    ulong w = *(ulong*)(a + (ulong)stubOff + (ulong)(8 * k));
                    int wi = FindFresh(w, 1);
                    if (wi < 0) continue;
                    if (maps[wi].X) { if (depth < 2) follow.Add(w); continue; }
                    if (w + 8 > maps[wi].Hi) continue;
                    if (!first) sb.Append(','); first = false;
                    sb.Append('"').Append(w.ToString("x")).Append("\":\"").Append(Hex(w, 8)).Append('"');
                }
                sb.Append('}');
            }
            sb.Append('}');
            mem[a] = sb.ToString();
            foreach (var w in follow) Dump(w, depth + 1, mem);
        }

        static partial void Point(string name, double tMs)
        {
            maps = ReadMaps();
            refreshes = 0;
            var mem = new Dictionary<ulong, string>();
            var sb = new StringBuilder();
            sb.Append("{\"point\":\"").Append(name).Append("\",\"t_ms\":").Append(tMs.ToString("0.###", CultureInfo.InvariantCulture))
              .Append(",\"jit_compiled_methods\":").Append(System.Runtime.JitInfo.GetCompiledMethodCount(false)).Append(",\"types\":[");
            bool ft = true;
            foreach (var (tn, t) in U.Loaded())
            {
                byte* mt = (byte*)t.TypeHandle.Value;
                int nv = *(ushort*)(mt + 0x0C);
                if (!ft) sb.Append(','); ft = false;
                sb.Append("{\"name\":\"").Append(tn).Append("\",\"mt\":\"").Append(((ulong)mt).ToString("x"))
                  .Append("\",\"parent_mt\":\"").Append((*(ulong*)(mt + 0x10)).ToString("x"))
                  .Append("\",\"num_virtuals\":").Append(nv).Append(",\"chunks\":[");
                for (int c = 0; c < (nv + 7) / 8; c++)
                    sb.Append(c > 0 ? "," : "").Append('"').Append((*(ulong*)(mt + 0x40 + 8 * c)).ToString("x")).Append('"');
                sb.Append("],\"slots\":[");
                for (int k = 0; k < nv; k++)
                {
                    ulong chunk = *(ulong*)(mt + 0x40 + 8 * (k >> 3));
                    ulong v = Volatile.Read(ref *(ulong*)(chunk + (ulong)(8 * (k & 7))));
                    sb.Append(k > 0 ? "," : "").Append('"').Append(v.ToString("x")).Append('"');
                    Dump(v, 0, mem);
                }
                sb.Append("]}");
            }
            sb.Append("],\"mem\":[").Append(string.Join(",", mem.Values)).Append("]}");
            snapshots.Add(sb.ToString());
        }

        static partial void End(string runJson)
        {
            Thread.Sleep(700);       // let the listener's dispatcher deliver the last events
            var sb = new StringBuilder();
            sb.Append("{\"schema_version\":1,\"stub_page_offset\":").Append(stubOff)
              .Append(",\"runtime\":\"").Append(System.Runtime.InteropServices.RuntimeInformation.FrameworkDescription).Append('"')
              .Append(",\"processors\":").Append(Environment.ProcessorCount)
              .Append(",\"run\":").Append(runJson).Append(",\"methods\":[");
            bool fm = true;
            foreach (var (tn, t) in U.Loaded())
                foreach (var m in t.GetMethods(BindingFlags.DeclaredOnly | BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static))
                {
                    if (!fm) sb.Append(','); fm = false;
                    sb.Append("{\"type\":\"").Append(tn).Append("\",\"name\":");
                    Str(sb, m.Name);
                    sb.Append(",\"md\":\"").Append(((ulong)m.MethodHandle.Value).ToString("x")).Append("\",\"virtual\":")
                      .Append(m.IsVirtual ? "true" : "false").Append(",\"newslot\":").Append((m.Attributes & MethodAttributes.NewSlot) != 0 ? "true" : "false")
                      .Append(",\"abstract\":").Append(m.IsAbstract ? "true" : "false").Append('}');
                }
            sb.Append("],\"snapshots\":[").Append(string.Join(",", snapshots)).Append("],\"events\":[");
            lock (listener.Lines) sb.Append(string.Join(",", listener.Lines));
            sb.Append("]}\n");
            listener.Dispose();
            string tmp = outPath + ".tmp";
            File.WriteAllText(tmp, sb.ToString());
            File.Move(tmp, outPath, true);
        }
    }
}
