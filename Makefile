# bitlib build.  Every src/**/*.c goes into libbitlib.a, except src/cli/ which
# makes the one binary and src/audit/ which makes libbitlib-audit.so (the
# LD_AUDIT library of bitlib run --no-fuse).  Adding a module needs no edit here.
#
#   make            build/bitlib            (-O2, warnings are errors)
#                   build/libbitlib-audit.so
#   make asan       build/asan/bitlib       (ASan + UBSan, used by the tests)
#                   build/asan/libbitlib-audit.so (UBSan only, see below)
#   make check      unit tests then system tests, under the sanitizers
#   make unit       cmocka unit tests only
#   make fuzz       libFuzzer targets in build/fuzz/ (clang)
#   make fuzz-smoke each fuzz target for FUZZ_SECONDS on its corpus
#   make install    the binary, man pages, systemd units, bash completion,
#                   modulefiles and examples under DESTDIR + PREFIX (/usr/local)
#   make uninstall  removes them again (configuration under SYSCONFDIR stays)
# CPPFLAGS, CFLAGS and LDFLAGS (e.g. from dpkg-buildflags) reach the release build.

.DEFAULT_GOAL := all
# V=1 prints whole command lines
Q := $(if $(V),,@)
CC      ?= cc
PKGS    := libcrypto fuse3 libcurl libmicrohttpd
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lisal -lpthread -lm
# Intel's multi-buffer hashing (x86-64 only; src/core/sha1batch.c hashes one
# buffer at a time without it)
ifneq ($(wildcard /usr/include/intel-ipsec-mb.h),)
PKG_CFLAGS += -DBL_HAVE_IPSEC_MB
PKG_LIBS   += -lIPSec_MB
endif

WARN    := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
           -Wvla -Wformat=2 -Wpointer-arith -Wcast-qual -Wno-unused-parameter -Wno-format-truncation
BASE_CFLAGS := -std=c11 -D_GNU_SOURCE -D_FILE_OFFSET_BITS=64 -Isrc $(WARN) $(PKG_CFLAGS) -MMD -MP

LIB_SRC := $(shell find src -name '*.c' ! -path 'src/cli/*' ! -path 'src/audit/*' | sort)
CLI_SRC := $(sort $(wildcard src/cli/*.c))
UNIT_SRC := $(sort $(wildcard tests/unit/test_*.c))
FUZZ_SRC := $(sort $(wildcard fuzz/fuzz_*.c))

# $(1)=dir $(2)=extra cflags $(3)=extra ldflags
define variant
$(1)/obj/%.o: %.c
	@mkdir -p $$(dir $$@)
	$$(Q)$$(CC) $$(BASE_CFLAGS) $(2) -c $$< -o $$@
	$$(if $$(Q),@echo "  CC $(1) $$<")
$(1)/libbitlib.a: $$(patsubst %.c,$(1)/obj/%.o,$$(LIB_SRC))
	@rm -f $$@
	$$(Q)ar rcs $$@ $$^
$(1)/bitlib: $$(patsubst %.c,$(1)/obj/%.o,$$(CLI_SRC)) $(1)/libbitlib.a
	$$(Q)$$(CC) $(2) $$^ -o $$@ $(3) $$(PKG_LIBS)
	$$(if $$(Q),@echo "  LD $$@")
-include $$(shell find $(1)/obj -name '*.d' 2>/dev/null)
endef

RELEASE_FLAGS := -O2 -g
ASAN_FLAGS    := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined

$(eval $(call variant,build,$(RELEASE_FLAGS) $(CPPFLAGS) $(CFLAGS),$(LDFLAGS)))
$(eval $(call variant,build/asan,$(ASAN_FLAGS),))

# The LD_AUDIT library: its own source and fs/treeidx.c (plain libc), nothing
# of libbitlib.a or its dependencies.  The asan variant has UBSan but not
# ASan: an audit library runs in its own loader namespace, where the ASan
# runtime cannot be first in the link order.
AUDIT_SRC := $(sort $(wildcard src/audit/*.c)) src/fs/treeidx.c
AUDIT_CFLAGS := -std=c11 -D_GNU_SOURCE -D_FILE_OFFSET_BITS=64 -Isrc $(WARN) -fPIC -shared \
                -fvisibility=default -Wl,-z,now -Wl,-z,relro
build/libbitlib-audit.so: $(AUDIT_SRC) src/fs/treeidx.h src/fs/ctlreq.h
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(AUDIT_CFLAGS) $(RELEASE_FLAGS) $(CPPFLAGS) $(CFLAGS) $(AUDIT_SRC) -o $@ $(LDFLAGS)
	$(if $(Q),@echo "  LD $@")
build/asan/libbitlib-audit.so: $(AUDIT_SRC) src/fs/treeidx.h src/fs/ctlreq.h
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(AUDIT_CFLAGS) -O1 -g -fno-omit-frame-pointer -fsanitize=undefined \
	  -fno-sanitize-recover=undefined $(AUDIT_SRC) -o $@
	$(if $(Q),@echo "  LD $@")
PKGLIB_FILES += build/libbitlib-audit.so

# The Python import hook (src/audit/python): a directory bitlib run --no-fuse
# puts first on PYTHONPATH, found beside the binary (build/python,
# build/asan/python) or installed as $(PKGLIBDIR)/python.
PYHOOK_SRC := $(sort $(wildcard src/audit/python/*.py))
PYHOOK_FILES := $(patsubst src/audit/python/%,build/python/%,$(PYHOOK_SRC))
PYHOOK_ASAN := $(patsubst src/audit/python/%,build/asan/python/%,$(PYHOOK_SRC))
build/python/%.py: src/audit/python/%.py
	@mkdir -p $(dir $@)
	$(Q)install -m 0644 $< $@
build/asan/python/%.py: src/audit/python/%.py
	@mkdir -p $(dir $@)
	$(Q)install -m 0644 $< $@

.PHONY: all asan unit check system fuzz fuzz-smoke clean install uninstall
all: build/bitlib build/libbitlib-audit.so $(PYHOOK_FILES)
asan: build/asan/bitlib build/asan/libbitlib-audit.so $(PYHOOK_ASAN)

UNIT_BINS := $(patsubst tests/unit/%.c,build/asan/tests/%,$(UNIT_SRC))
build/asan/tests/%: tests/unit/%.c build/asan/libbitlib.a
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(BASE_CFLAGS) $(ASAN_FLAGS) $< -o $@ build/asan/libbitlib.a -lcmocka $(PKG_LIBS)
	$(if $(Q),@echo "  TEST $@")

unit: $(UNIT_BINS)
	@set -e; for t in $(UNIT_BINS); do echo "== $$t"; $$t; done

system: build/bitlib build/asan/bitlib
	tests/system/run

check: unit system

FUZZ_CC    ?= clang
FUZZ_FLAGS := -O1 -g -fsanitize=fuzzer,address,undefined -std=c11 -D_GNU_SOURCE -Isrc $(PKG_CFLAGS)
FUZZ_LIB_SRC := $(LIB_SRC)
FUZZ_BINS := $(patsubst fuzz/%.c,build/fuzz/%,$(FUZZ_SRC))
build/fuzz/lib/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) -O1 -g -fsanitize=fuzzer-no-link,address,undefined -std=c11 -D_GNU_SOURCE -D_FILE_OFFSET_BITS=64 -Isrc $(PKG_CFLAGS) -c $< -o $@
build/fuzz/libbitlib.a: $(patsubst %.c,build/fuzz/lib/%.o,$(FUZZ_LIB_SRC))
	@rm -f $@
	ar rcs $@ $^
build/fuzz/%: fuzz/%.c build/fuzz/libbitlib.a
	$(FUZZ_CC) $(FUZZ_FLAGS) $< -o $@ build/fuzz/libbitlib.a $(PKG_LIBS)
fuzz: $(FUZZ_BINS)
FUZZ_SECONDS ?= 20
# A target that finds a crash fails the run (its log's tail and the input's
# path are printed; the input is under build/fuzz/artifacts).  The output is
# not piped: a pipe's status is its last command's, and crashes went unseen.
fuzz-smoke: fuzz
	@fail=0; mkdir -p build/fuzz/artifacts; for f in $(FUZZ_BINS); do n=$$(basename $$f); \
	  mkdir -p build/fuzz/work/$$n; echo "== fuzz $$n for $(FUZZ_SECONDS)s"; \
	  if $$f -max_total_time=$(FUZZ_SECONDS) -max_len=65536 -print_final_stats=0 \
	      -artifact_prefix=build/fuzz/artifacts/$$n- build/fuzz/work/$$n fuzz/corpus/$$n \
	      >build/fuzz/$$n.log 2>&1; then tail -1 build/fuzz/$$n.log; \
	  else tail -25 build/fuzz/$$n.log; echo "FAIL: $$n crashed; input: $$(ls build/fuzz/artifacts/$$n-* | head -1)"; \
	    fail=1; fi; done; exit $$fail

# ---- install: the layout docs/ and dist/ describe, under DESTDIR + PREFIX ----
PREFIX        ?= /usr/local
BINDIR        = $(PREFIX)/bin
MANDIR        = $(PREFIX)/share/man
DOCDIR        = $(PREFIX)/share/doc/bitlib
PKGLIBDIR     = $(PREFIX)/lib/bitlib
UNITDIR       = $(PREFIX)/lib/systemd/system
COMPLETIONDIR = $(PREFIX)/share/bash-completion/completions
MODULEFILEDIR = $(PREFIX)/share/modulefiles
# the units read their configuration from $(SYSCONFDIR)/bitlib, whatever PREFIX
SYSCONFDIR    = /etc
# Files installed beside the binary into $(PKGLIBDIR), mode 0644, each built by
# its own rule.  A module that builds one adds a line anywhere in this file, e.g.
#   PKGLIB_FILES += build/libbitlib-audit.so
# and make install, make uninstall, the Debian package and the tests follow.
PKGLIB_FILES  +=
# the one place the version lives is src/core/version.h
VERSION := $(shell sed -n 's/^\#define BL_VERSION "\(.*\)"$$/\1/p' src/core/version.h)

MAN_PAGES  = $(sort $(wildcard docs/man/*.1))
UNIT_FILES = $(patsubst dist/systemd/%.in,%,$(sort $(wildcard dist/systemd/*.in)))
ETC_FILES  = $(patsubst examples/etc/%,%,$(shell find examples/etc -type f | sort))
SUBST = sed -e 's|@BINDIR@|$(BINDIR)|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' \
            -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@VERSION@|$(VERSION)|g' \
            -e 's|@MODULEFILEDIR@|$(MODULEFILEDIR)|g'
D = $(DESTDIR)

# $$(PKGLIB_FILES): expanded when install runs, so a += further down counts too
.SECONDEXPANSION:
install: build/bitlib $$(PKGLIB_FILES) $(PYHOOK_FILES)
	install -d $(D)$(BINDIR) $(D)$(MANDIR)/man1 $(D)$(UNITDIR) $(D)$(COMPLETIONDIR) \
	  $(D)$(MODULEFILEDIR)/bitlib $(D)$(DOCDIR) $(D)$(SYSCONFDIR)/bitlib/seed
	install -m 0755 build/bitlib $(D)$(BINDIR)/bitlib
	install -m 0644 $(MAN_PAGES) $(D)$(MANDIR)/man1/
	set -e; for u in $(UNIT_FILES); do \
	  $(SUBST) dist/systemd/$$u.in > $(D)$(UNITDIR)/$$u; chmod 0644 $(D)$(UNITDIR)/$$u; done
	install -m 0644 dist/bash-completion/bitlib $(D)$(COMPLETIONDIR)/bitlib
	$(SUBST) examples/modulefiles/bitlib.tcl.in > $(D)$(MODULEFILEDIR)/bitlib/$(VERSION)
	$(SUBST) examples/modulefiles/bitlib.lua.in > $(D)$(MODULEFILEDIR)/bitlib/$(VERSION).lua
	chmod 0644 $(D)$(MODULEFILEDIR)/bitlib/$(VERSION) $(D)$(MODULEFILEDIR)/bitlib/$(VERSION).lua
	install -m 0644 README.md $(D)$(DOCDIR)/
	set -e; for f in $(ETC_FILES); do \
	  install -D -m 0644 examples/etc/$$f $(D)$(DOCDIR)/examples/etc/$$f; done
	@# the administrator's configuration is never overwritten
	set -e; for f in $(ETC_FILES); do case $$f in bitlib/seed/*) continue;; esac; \
	  test -e $(D)$(SYSCONFDIR)/$$f || install -m 0644 examples/etc/$$f $(D)$(SYSCONFDIR)/$$f; done
	$(if $(PKGLIB_FILES),install -d $(D)$(PKGLIBDIR) && install -m 0644 $(PKGLIB_FILES) $(D)$(PKGLIBDIR)/)
	install -d $(D)$(PKGLIBDIR)/python && install -m 0644 $(PYHOOK_FILES) $(D)$(PKGLIBDIR)/python/
	@# byte-compiled for this python3: a user's Python could not write the .pyc, and
	@# would compile the hook (2 ms) at every start
	if command -v python3 >/dev/null; then \
	  python3 -m compileall -q -d $(PKGLIBDIR)/python $(D)$(PKGLIBDIR)/python; fi

uninstall:
	rm -f $(D)$(BINDIR)/bitlib $(D)$(COMPLETIONDIR)/bitlib \
	  $(patsubst docs/man/%,$(D)$(MANDIR)/man1/%,$(MAN_PAGES)) \
	  $(addprefix $(D)$(UNITDIR)/,$(UNIT_FILES)) \
	  $(D)$(MODULEFILEDIR)/bitlib/$(VERSION) $(D)$(MODULEFILEDIR)/bitlib/$(VERSION).lua \
	  $(addprefix $(D)$(PKGLIBDIR)/,$(notdir $(PKGLIB_FILES))) \
	  $(addprefix $(D)$(PKGLIBDIR)/python/,$(notdir $(PYHOOK_FILES)) $(patsubst %.py,__pycache__/%.*.pyc,$(notdir $(PYHOOK_FILES))))
	rm -rf $(D)$(DOCDIR)
	rmdir $(D)$(PKGLIBDIR)/python/__pycache__ $(D)$(PKGLIBDIR)/python 2>/dev/null || true
	rmdir $(D)$(MODULEFILEDIR)/bitlib $(D)$(PKGLIBDIR) 2>/dev/null || true
	@echo "make uninstall: $(D)$(SYSCONFDIR)/bitlib (configuration) is left in place"

clean:
	rm -rf build
