/* reference/trace.c — events: the in-process sink and the JSON Lines trace
 * (SPEC.md "Event trace", trace_schema_version 1).  Every address in a
 * trace line is classified at the moment of the event.  One mutex orders
 * seq numbers, sink calls and file lines identically.

 * For `promote`, aux = the old tier (as tk_driver.h says). */
#include "rt_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *const ev_names[TK_EV_KIND_COUNT] = {
    [TK_EV_SLOT_WRITE] = "slot_write", [TK_EV_SLOT_RECORD] = "slot_record",
    [TK_EV_PRECODE_RETARGET] = "precode_retarget", [TK_EV_STUB_ALLOC] = "stub_alloc",
    [TK_EV_STUB_FREE] = "stub_free", [TK_EV_VERSION_PUBLISH] = "publish",
    [TK_EV_VERSION_ACTIVATE] = "activate", [TK_EV_LOCK_ACQUIRE] = "lock_acquire",
    [TK_EV_LOCK_RELEASE] = "lock_release", [TK_EV_BACKPATCH_BEGIN] = "backpatch_begin",
    [TK_EV_BACKPATCH_END] = "backpatch_end", [TK_EV_THRESHOLD] = "threshold",
    [TK_EV_PROMOTE] = "promote", [TK_EV_COUNTING_BEGIN] = "counting_begin",
    [TK_EV_COUNTING_COMPLETE] = "counting_complete", [TK_EV_DELAY_BEGIN] = "delay_begin",
    [TK_EV_DELAY_EXTEND] = "delay_extend", [TK_EV_DELAY_END] = "delay_end",
    [TK_EV_SAFEPOINT_SYNC] = "safepoint_sync", [TK_EV_TYPE_LOAD] = "type_load",
    [TK_EV_TYPE_UNLOAD] = "type_unload",
};

const char *tk_event_name(tk_event_kind k)
{
    return (k > 0 && k < TK_EV_KIND_COUNT && ev_names[k]) ? ev_names[k] : "unknown";
}

const char *tk_tier_name(int32_t tier)
{
    switch (tier) {
    case TK_TIER_0: return "tier0";
    case TK_TIER_0_INSTRUMENTED: return "tier0-instrumented";
    case TK_TIER_1: return "tier1";
    case TK_TIER_OPTIMIZED: return "optimized";
    default: return "unknown";
    }
}

const char *tk_addr_class_name(tk_addr_class c)
{
    switch (c) {
    case TK_AC_PRESTUB: return "prestub";
    case TK_AC_PRECODE: return "precode";
    case TK_AC_FORWARDER: return "forwarder";
    case TK_AC_CALLCOUNT_STUB: return "callcount";
    case TK_AC_NATIVE_CODE: return "native";
    case TK_AC_FREED: return "freed";
    default: return "unknown";
    }
}

static const char *slot_kind_name(tk_slot_kind k)
{
    return k == TK_SLOT_OWNING ? "owning" : k == TK_SLOT_NONVIRTUAL ? "nonvirtual" : "vtable";
}

/* The characters of s, JSON-escaped, without the quotes. */
static void json_chars(FILE *f, const char *s)
{
    for (; s && *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\') { fputc('\\', f); fputc(ch, f); }
        else if (ch < 0x20) fprintf(f, "\\u%04x", ch);
        else fputc(ch, f);
    }
}

static void json_str(FILE *f, const char *s)
{
    fputc('"', f);
    json_chars(f, s);
    fputc('"', f);
}

/* "Name#id", whole however long the name (no buffer: a cut name would lose
 * the #id that makes it unique, SPEC.md "Trace format"). */
static void json_method(FILE *f, const char *key, const tk_method *m)
{
    fprintf(f, ",\"%s\":\"", key);
    json_chars(f, m->name ? m->name : "?");
    fprintf(f, "#%u\"", m->id);
}

static void json_addr(FILE *f, const char *key, const void *a, const tk_addr_info *ai)
{
    fprintf(f, ",\"%s\":{\"addr\":\"0x%" PRIxPTR "\",\"cls\":\"%s\"", key, (uintptr_t)a, tk_addr_class_name(ai->cls));
    if (ai->method && (ai->cls == TK_AC_PRECODE || ai->cls == TK_AC_FORWARDER ||
                       ai->cls == TK_AC_CALLCOUNT_STUB || ai->cls == TK_AC_NATIVE_CODE))
        json_method(f, "method", ai->method);
    if (ai->cls == TK_AC_CALLCOUNT_STUB || ai->cls == TK_AC_NATIVE_CODE)
        fprintf(f, ",\"tier\":\"%s\",\"il_version\":%u", tk_tier_name(ai->tier), ai->il_version);
    fputc('}', f);
}

static void write_line(tk_runtime *rt, const tk_event *ev)
{
    FILE *f = rt->trace;
    const char *phase = ev->phase == TK_PHASE_FINAL ? "final" : "nonfinal";
    fprintf(f, "{\"type\":\"event\",\"seq\":%llu,\"ev\":\"%s\",\"thread\":%llu",
            (unsigned long long)ev->seq, tk_event_name(ev->kind), (unsigned long long)ev->thread);
    if (ev->method) json_method(f, "method", ev->method);
    switch (ev->kind) {
    case TK_EV_TYPE_LOAD: case TK_EV_TYPE_UNLOAD:
        fputs(",\"type_name\":", f);
        json_str(f, ev->type ? ev->type->name : "?");
        break;
    case TK_EV_SLOT_WRITE: case TK_EV_SLOT_RECORD:
        fprintf(f, ",\"slot\":\"0x%" PRIxPTR "\",\"slot_kind\":\"%s\"", (uintptr_t)ev->slot, slot_kind_name(ev->slot_kind));
        if (ev->kind == TK_EV_SLOT_WRITE) {
            json_addr(f, "old", ev->old_value, &ev->old_info);
            json_addr(f, "new", ev->new_value, &ev->new_info);
            fprintf(f, ",\"phase\":\"%s\"", phase);
        } else {
            json_addr(f, "new", ev->new_value, &ev->new_info);
        }
        break;
    case TK_EV_PRECODE_RETARGET:
        fprintf(f, ",\"stub\":\"0x%" PRIxPTR "\",\"stub_kind\":\"%s\"", (uintptr_t)ev->stub,
                ev->stub_kind == TK_AC_FORWARDER ? "forwarder" : "precode");
        json_addr(f, "old", ev->old_value, &ev->old_info);
        json_addr(f, "new", ev->new_value, &ev->new_info);
        fprintf(f, ",\"phase\":\"%s\"", phase);
        break;
    case TK_EV_STUB_ALLOC: case TK_EV_STUB_FREE:
        fprintf(f, ",\"stub\":\"0x%" PRIxPTR "\",\"stub_kind\":\"%s\"", (uintptr_t)ev->stub,
                ev->stub_kind == TK_AC_FORWARDER ? "forwarder" :
                ev->stub_kind == TK_AC_CALLCOUNT_STUB ? "callcount" : "precode");
        if (ev->tier != TK_TIER_UNKNOWN)
            fprintf(f, ",\"tier\":\"%s\",\"il_version\":%u", tk_tier_name(ev->tier), ev->il_version);
        break;
    case TK_EV_BACKPATCH_BEGIN: case TK_EV_BACKPATCH_END:
        json_addr(f, "new", ev->new_value, &ev->new_info);
        fprintf(f, ",\"phase\":\"%s\"", phase);
        break;
    case TK_EV_VERSION_PUBLISH:
        fprintf(f, ",\"tier\":\"%s\",\"il_version\":%u", tk_tier_name(ev->tier), ev->il_version);
        json_addr(f, "new", ev->new_value, &ev->new_info);
        break;
    case TK_EV_VERSION_ACTIVATE:
        fprintf(f, ",\"il_version\":%u", ev->il_version);
        break;
    case TK_EV_COUNTING_BEGIN: case TK_EV_COUNTING_COMPLETE: case TK_EV_THRESHOLD:
        fprintf(f, ",\"tier\":\"%s\",\"il_version\":%u", tk_tier_name(ev->tier), ev->il_version);
        break;
    case TK_EV_PROMOTE:
        fprintf(f, ",\"from_tier\":\"%s\",\"tier\":\"%s\",\"il_version\":%u",
                tk_tier_name((int32_t)ev->aux), tk_tier_name(ev->tier), ev->il_version);
        break;
    default:
        break;
    }
    if (ev->reason) { fputs(",\"reason\":", f); json_str(f, ev->reason); }
    fputs("}\n", f);
}

void tkr_emit(tk_runtime *rt, tk_event *ev)
{
    if (!ev_on(rt)) return;
    ev->thread = tkr_thread_id();
    if (ev->old_value) tkr_classify(rt, ev->old_value, &ev->old_info);
    if (ev->new_value) tkr_classify(rt, ev->new_value, &ev->new_info);
    tkr_lock(&rt->ev_mtx, TKR_LK_EV);
    ev->seq = ++rt->ev_seq;
    if (rt->sink) rt->sink(rt->sink_user, ev);
    if (rt->trace) {
        errno = 0;
        write_line(rt, ev);
        if (ferror(rt->trace) && !rt->trace_errno) rt->trace_errno = errno ? errno : EIO;
    }
    tkr_unlock(&rt->ev_mtx, TKR_LK_EV);
}

void tkr_ev_simple(tk_runtime *rt, tk_event_kind k, tk_method *m, int32_t tier, uint32_t il,
                   const char *reason)
{
    tk_event ev = {0};
    ev.kind = k; ev.method = m; ev.tier = tier; ev.il_version = il; ev.reason = reason;
    tkr_emit(rt, &ev);
}

int tkr_trace_open(tk_runtime *rt)
{
    rt->trace = fopen(rt->cfg.trace_path, "w");
    if (!rt->trace) return -1;
    char buf[2048];
    tk_config_describe(&rt->cfg, buf, sizeof buf);
    FILE *f = rt->trace;
    fprintf(f, "{\"type\":\"header\",\"schema\":\"tierkit-trace\",\"trace_schema_version\":1,"
               "\"implementation\":\"tierkit-reference\",\"strategy\":\"%s\",\"config\":{",
            tk_strategy_name(rt->cfg.strategy));
    int first = 1;
    for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n")) {
        char *eq = strchr(line, '=');
        if (!eq) continue;
        *eq = 0;
        if (!first) fputc(',', f);
        first = 0;
        json_str(f, line); fputc(':', f); json_str(f, eq + 1);
    }
    fputs("}}\n", f);
    atomic_store(&rt->ev_on, 1);
    return 0;
}

/* A trace is complete or absent: when a write, the flush or the close
 * failed (a full disk, a file size limit), the reason goes to stderr and an
 * incomplete regular file is removed, so that no truncated trace passes for
 * a whole one (a tool that asked for it then finds none and fails the run:
 * tk-bench does).  A device or a pipe cannot be taken back: the message
 * says so. */
void tkr_trace_close(tk_runtime *rt)
{
    tkr_lock(&rt->ev_mtx, TKR_LK_EV);
    if (rt->trace) {
        struct stat st;
        bool regular = fstat(fileno(rt->trace), &st) == 0 && S_ISREG(st.st_mode);
        errno = 0;
        if ((fflush(rt->trace) != 0 || ferror(rt->trace)) && !rt->trace_errno) rt->trace_errno = errno ? errno : EIO;
        errno = 0;
        if (fclose(rt->trace) != 0 && !rt->trace_errno) rt->trace_errno = errno ? errno : EIO;
        rt->trace = NULL;
        if (rt->trace_errno) {
            fprintf(stderr, "tierkit: cannot write trace '%s': %s; %s\n", rt->cfg.trace_path,
                    strerror(rt->trace_errno),
                    regular ? "the incomplete trace was removed" : "the trace is incomplete");
            if (regular) unlink(rt->cfg.trace_path);
        }
    }
    atomic_store(&rt->ev_on, rt->sink != NULL);
    tkr_unlock(&rt->ev_mtx, TKR_LK_EV);
}

void tk_set_event_sink(tk_runtime *rt, tk_event_fn fn, void *user)
{
    tkr_lock(&rt->ev_mtx, TKR_LK_EV);
    rt->sink = fn;
    rt->sink_user = user;
    atomic_store(&rt->ev_on, fn != NULL || rt->trace != NULL);
    tkr_unlock(&rt->ev_mtx, TKR_LK_EV);
}
