# tierkit: one non-recursive Makefile.
#
# Every part of the tree contributes a fragment (`*/build.mk`) that only
# declares sources and calls the templates below; all rules live in this one
# make process.  Each program and library is built twice:
#   build/          native x86-64   (binaries in build/bin, libraries in build/lib)
#   build/arm64/    aarch64 cross   (run under qemu-aarch64 by `make test`)
#
# Template use in a fragment:
#   $(eval $(call tk_lib,NAME,PORTABLE_SRCS,X86_64_SRCS,ARM64_SRCS))
#        -> build/lib/libNAME.a and build/arm64/lib/libNAME.a
#   $(eval $(call tk_so,NAME,SRCS,STATIC_LIBS,LDLIBS))
#        -> build/lib/NAME.so   (and build/arm64/lib/NAME.so)
#   $(eval $(call tk_prog,NAME,SRCS,STATIC_LIBS,LDLIBS))
#        -> build/bin/NAME      (and build/arm64/bin/NAME)
#   $(eval $(call tk_prog_native,NAME,SRCS,STATIC_LIBS,LDLIBS))   native only
#   STATIC_LIBS are library NAMEs from tk_lib (e.g. "tierkit tkarch"),
#   LDLIBS are -l flags (e.g. "$(CHECK_LIBS)").
# Tests register themselves by appending to TEST_TARGETS (phony targets that
# run one suite and append its result line to $(RESULTS)/summary.txt).

.DEFAULT_GOAL := all
# Every rule is explicit: no built-in implicit rules or suffixes to search.
MAKEFLAGS += --no-builtin-rules
.SUFFIXES:
SHELL := /bin/bash

CC        ?= gcc
CXX       ?= g++
CROSS     ?= aarch64-linux-gnu-
XCC       := $(CROSS)gcc
XCXX      := $(CROSS)g++
QEMU      ?= qemu-aarch64
# The cross package's ld.so (QEMU_LD_PREFIX) must be paired with the cross
# package's libc: otherwise libc.so.6 resolves to libc6:arm64 (pulled in by
# check:arm64), a different build, and threaded guests spin forever in glibc.
QEMU_ENV  := QEMU_LD_PREFIX=/usr/aarch64-linux-gnu QEMU_SET_ENV=LD_LIBRARY_PATH=/usr/aarch64-linux-gnu/lib
PY        ?= /usr/bin/python3

B      := build
B64    := build/arm64
RESULTS := results

GIT_REV := $(shell git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)

OPT      ?= -O2
WARN     := -Wall -Wextra -Wno-unused-parameter -Wshadow -Wstrict-prototypes
CPPFLAGS := -D_GNU_SOURCE -DTK_GIT_REV=\"$(GIT_REV)\" -I. -Iarch -Ireference/include -Iconformance
CFLAGS   := -std=c11 $(OPT) -g $(WARN) -fPIC -pthread $(EXTRA_CFLAGS)
CXXFLAGS := -std=c++17 $(OPT) -g -Wall -fPIC -pthread $(EXTRA_CFLAGS)
ASFLAGS  := -g
LDFLAGS  := -pthread $(EXTRA_LDFLAGS)

CHECK_LIBS := -lcheck -lsubunit -lm -lrt
URCU_LIBS  := -lurcu-qsbr
DL_LIBS    := -ldl

# ---- object rules (native / cross) -----------------------------------------
$(B)/obj/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -MMD -MP -c $< -o $@
$(B)/obj/%.o: %.S
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(ASFLAGS) -MMD -MP -c $< -o $@
$(B)/obj/%.o: %.cc
	@mkdir -p $(@D)
	$(CXX) $(CPPFLAGS) $(CXXFLAGS) -MMD -MP -c $< -o $@
$(B64)/obj/%.o: %.c
	@mkdir -p $(@D)
	$(XCC) $(CPPFLAGS) $(CFLAGS) -MMD -MP -c $< -o $@
$(B64)/obj/%.o: %.S
	@mkdir -p $(@D)
	$(XCC) $(CPPFLAGS) $(ASFLAGS) -MMD -MP -c $< -o $@

# Lower-casing with make's own functions: no $(shell) in anything evaluated
# per target (each one is a process on every parse of the makefiles).
tk_lc = $(subst A,a,$(subst B,b,$(subst C,c,$(subst D,d,$(subst E,e,$(subst F,f,$(subst G,g,$(subst H,h,$(subst I,i,$(subst J,j,$(subst K,k,$(subst L,l,$(subst M,m,$(subst N,n,$(subst O,o,$(subst P,p,$(subst Q,q,$(subst R,r,$(subst S,s,$(subst T,t,$(subst U,u,$(subst V,v,$(subst W,w,$(subst X,x,$(subst Y,y,$(subst Z,z,$(1)))))))))))))))))))))))))))
tk_objs = $(patsubst %,$(1)/obj/%.o,$(basename $(2)))
tk_libfiles = $(patsubst %,$(1)/lib/lib%.a,$(2))

# ---- templates ----------------------------------------------------------------
define tk_lib
$(B)/lib/lib$(1).a: $(call tk_objs,$(B),$(2) $(3))
	@mkdir -p $$(@D)
	rm -f $$@ && ar rcs $$@ $$^
$(B64)/lib/lib$(1).a: $(call tk_objs,$(B64),$(2) $(4))
	@mkdir -p $$(@D)
	rm -f $$@ && $(CROSS)ar rcs $$@ $$^
ALL_NATIVE += $(B)/lib/lib$(1).a
ALL_ARM64  += $(B64)/lib/lib$(1).a
endef

define tk_so
$(B)/lib/$(1).so: $(call tk_objs,$(B),$(2)) $(call tk_libfiles,$(B),$(3))
	@mkdir -p $$(@D)
	$(CC) -shared $(LDFLAGS) -o $$@ $$^ $(4)
$(B64)/lib/$(1).so: $(call tk_objs,$(B64),$(2)) $(call tk_libfiles,$(B64),$(3))
	@mkdir -p $$(@D)
	$(XCC) -shared $(LDFLAGS) -o $$@ $$^ $(4)
ALL_NATIVE += $(B)/lib/$(1).so
ALL_ARM64  += $(B64)/lib/$(1).so
endef

define tk_prog
$(B)/bin/$(1): $(call tk_objs,$(B),$(2)) $(call tk_libfiles,$(B),$(3))
	@mkdir -p $$(@D)
	$(CC) $(LDFLAGS) -o $$@ $$^ $(4)
$(B64)/bin/$(1): $(call tk_objs,$(B64),$(2)) $(call tk_libfiles,$(B64),$(3))
	@mkdir -p $$(@D)
	$(XCC) $(LDFLAGS) -o $$@ $$^ $(4)
ALL_NATIVE += $(B)/bin/$(1)
ALL_ARM64  += $(B64)/bin/$(1)
endef

define tk_prog_native
$(B)/bin/$(1): $(call tk_objs,$(B),$(2)) $(call tk_libfiles,$(B),$(3))
	@mkdir -p $$(@D)
	$(CXX) $(LDFLAGS) -o $$@ $$^ $(4)
ALL_NATIVE += $(B)/bin/$(1)
endef

ALL_NATIVE :=
ALL_ARM64  :=
TEST_TARGETS :=
# Files the suites need beyond `all` (sanitizer builds, mutant drivers, fuzz
# targets, CLI fixtures): `make test` builds them in one parallel step, not
# one file at a time inside the serial suite loop; a failure there fails
# only the suites that need them.
TEST_BUILD :=

include arch/build.mk
include cli/build.mk
-include fuzz/build.mk
-include stress/build.mk
-include reference/build.mk
-include conformance/build.mk
-include workloads/build.mk
-include harness/build.mk
-include runtimes/coreclr/build.mk

# Tree rules: layering, W^X requests, anchors named vs defined, exported symbols.
.PHONY: test-tree
test-tree: native
	ci/run-suite tree tally -- ci/check-tree $(B)
TEST_TARGETS += test-tree

.PHONY: all native arm64 test test-begin test-summary clean deps
all: native arm64
native: $(ALL_NATIVE)
arm64: $(ALL_ARM64)

# `make test`: checks prerequisites, builds, runs every suite (each appends
# "SUITE passed failed" to results/summary.txt) and prints the total.
deps:
	@ci/check-deps

test-begin: deps
	@mkdir -p $(RESULTS) && : > $(RESULTS)/summary.txt

test: test-begin
	@$(MAKE) --no-print-directory -j$$(nproc) all
	@$(MAKE) --no-print-directory -k -j$$(nproc) $(TEST_BUILD) || echo "make test: a suite's build failed; that suite fails below"
	@status=0; for t in $(TEST_TARGETS); do \
	  $(MAKE) --no-print-directory $$t || status=1; done; \
	  ci/summarize $(RESULTS)/summary.txt || status=1; exit $$status

clean:
	rm -rf $(B)

# Dependency files: an empty rule for them, and no built-in rules at all
# (MAKEFLAGS below), so make does not search implicit rules to remake each
# of several hundred included .d files on every start (that search was most
# of an up-to-date make's time).
%.d: ;
-include $(shell find $(B) -name '*.d' 2>/dev/null)
