# Berth - the one build entry point.
#   make                      build every binary into build/
#   make SANITIZE=address,undefined   a sanitized copy in build-address-undefined/
#   make test SANITIZE=thread         ThreadSanitizer (suppressions: tests/tsan.supp)
#   make test | test-unit | test-e2e | test-k8s | test-k8s-node | fuzz | fuzz-replay | bench | run | format | format-check | clean
#   make install [PREFIX=/usr/local] [DESTDIR=...]   binaries, systemd unit, config, docs
#   make api-reference        docs/api-reference.md from the code's tables
#   make runtime-image [PODMAN=...]   localhost/berth-serve:VERSION for --model-runtime container
#   make berthd-image [PODMAN=...]    localhost/berthd:VERSION, berthd in a cluster (deploy/kubernetes)

CC      ?= cc
PYTHON  ?= /usr/bin/python3
LLHTTP_SRC ?= /usr/share/llhttp
LLHTTP_INC ?= /usr/share/include/llhttp

comma := ,
ifdef SANITIZE
BUILD   ?= build-$(subst $(comma),-,$(SANITIZE))
else
BUILD   ?= build
endif

CFLAGS_DEV = -std=c11 -g -O2 -Wall -Wextra -Wshadow -Wvla -Wwrite-strings -Wstrict-prototypes \
             -Wmissing-prototypes -Wformat=2 -Werror
CFLAGS  ?=
CFLAGS  += $(CFLAGS_DEV) -D_GNU_SOURCE -Isrc -MMD -MP -pthread
LDFLAGS ?=
LDFLAGS += -pthread
ifdef SANITIZE
CFLAGS  += -fsanitize=$(SANITIZE) -fno-sanitize-recover=all -fno-omit-frame-pointer
LDFLAGS += -fsanitize=$(SANITIZE)
endif

# The TorchScript backend (src/serve/backends/torch.cc, C++ on libtorch), a
# module of its own, build/berth-serve-torch.so, that berth-serve opens on its
# first TorchScript version (so that XGBoost-only processes never link
# libtorch): TORCH=1 builds it, TORCH=0 does not (TorchScript versions then
# fail to load, saying so); auto: on when libtorch-dev is installed.
TORCH ?= auto
ifeq ($(TORCH),auto)
override TORCH := $(if $(wildcard /usr/include/torch/script.h),1,0)
endif
ifeq ($(origin CXX),default)
CXX := $(if $(findstring clang,$(CC)),clang++,g++)
endif
TORCH_INC ?= /usr/include/torch/csrc/api/include
CXXFLAGS_TORCH = -std=c++17 -g -O2 -Wall -Wextra -Werror -D_GNU_SOURCE -Isrc -MMD -MP -pthread -fPIC \
                 -isystem $(TORCH_INC) $(filter -fsanitize% -fno-sanitize% -fno-omit%,$(CFLAGS))
LIBS_TORCH = -ltorch -ltorch_cpu -lc10

# Debian 12 ships llhttp only as C sources (node-llhttp); newer systems have libllhttp.
ifneq ($(wildcard /usr/include/llhttp.h),)
LLHTTP_CFLAGS =
LLHTTP_LIBS   = -lllhttp
LLHTTP_OBJS   =
else
LLHTTP_CFLAGS = -I$(LLHTTP_INC)
LLHTTP_LIBS   =
LLHTTP_OBJS   = $(BUILD)/llhttp/llhttp.o $(BUILD)/llhttp/api.o $(BUILD)/llhttp/http.o
endif

BASE_SRCS  = $(wildcard src/base/*.c)
HTTP_SRCS  = $(wildcard src/http/*.c)
SERVE_SRCS = $(wildcard src/serve/*.c) $(wildcard src/serve/backends/*.c)
API_SRCS   = $(wildcard src/api/*.c)
STORE_SRCS = $(wildcard src/store/*.c)
CONTROL_SRCS = $(wildcard src/control/*.c) $(wildcard src/drivers/*.c) $(wildcard src/logs/*.c)
BERTHD_SRCS = $(wildcard src/berthd/*.c)
GATEWAY_SRCS = $(wildcard src/gateway/*.c)
CLI_SRCS   = $(wildcard src/cli/*.c)

BASE_OBJS  = $(BASE_SRCS:%.c=$(BUILD)/%.o) $(BUILD)/gen/version.o
HTTP_OBJS  = $(HTTP_SRCS:%.c=$(BUILD)/%.o) $(LLHTTP_OBJS)
SERVE_OBJS = $(SERVE_SRCS:%.c=$(BUILD)/%.o)
SERVE_LIB_OBJS = $(filter-out $(BUILD)/src/serve/main.o,$(SERVE_OBJS))
TORCH_MODULE = $(if $(filter 1,$(TORCH)),$(BUILD)/berth-serve-torch.so)
API_OBJS   = $(API_SRCS:%.c=$(BUILD)/%.o) $(BUILD)/gen/console_files.o
STORE_OBJS = $(STORE_SRCS:%.c=$(BUILD)/%.o)
CONTROL_OBJS = $(CONTROL_SRCS:%.c=$(BUILD)/%.o) $(GATEWAY_SRCS:%.c=$(BUILD)/%.o)
BERTHD_OBJS = $(BERTHD_SRCS:%.c=$(BUILD)/%.o) $(API_OBJS) $(CONTROL_OBJS) $(STORE_OBJS) \
              $(BUILD)/src/serve/modelcheck.o
# Everything but the mains, for unit tests and fuzz targets.
LIB_OBJS   = $(SERVE_LIB_OBJS) $(API_OBJS) $(CONTROL_OBJS) $(STORE_OBJS) $(HTTP_OBJS) $(BASE_OBJS)

LIBS_SERVE = -luv -lxgboost -lcurl -lssl -lcrypto -lm
LIBS_BERTHD = -luv -lcurl -lyaml -lsqlite3 -ljansson -lssl -lcrypto -lm
LIBS_ALL   = -luv -lcurl -lyaml -lxgboost -lsqlite3 -ljansson -lssl -lcrypto -lm

UNIT_SRCS  = $(wildcard tests/unit/test_*.c)
UNIT_BINS  = $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)
K8S_SRCS   = $(wildcard tests/k8s/test_*.c)
K8S_BINS   = $(K8S_SRCS:tests/k8s/%.c=$(BUILD)/tests-k8s/%)
FUZZ_SRCS  = $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_REPLAY_BINS = $(FUZZ_SRCS:tests/fuzz/%.c=$(BUILD)/fuzz-replay/%)

BINS = $(BUILD)/berth-serve $(TORCH_MODULE) $(BUILD)/berthd $(BUILD)/berth

.PHONY: install all lib test test-unit test-e2e fuzz fuzz-replay bench bench-floor run deps deps-bench format format-check clean demo

all: $(BINS)

lib: $(LIB_OBJS)

# -rdynamic: the torch module takes err_set and the allocators from berth-serve.
$(BUILD)/berth-serve: $(SERVE_OBJS) $(HTTP_OBJS) $(BASE_OBJS)
	$(CC) $(LDFLAGS) -rdynamic -o $@ $^ $(LLHTTP_LIBS) $(LIBS_SERVE)

$(BUILD)/berth-serve-torch.so: $(BUILD)/src/serve/backends/torch.o
	$(CXX) $(LDFLAGS) -shared -o $@ $^ $(LIBS_TORCH)

$(BUILD)/%.o: %.cc
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS_TORCH) -c -o $@ $<

# The built-in runtime image (docs/containers.md): berth-serve (without the
# torch module) and its shared libraries, imported with podman (not part of
# `make`); berthd is relinked with it, so that its default image names this
# version.
PODMAN ?= podman
.PHONY: runtime-image
runtime-image: $(BUILD)/berth-serve $(BUILD)/berthd
	scripts/runtime-image.sh $(BUILD)/berth-serve $(BUILD)/runtime/rootfs.tar '$(PODMAN)'

.PHONY: berthd-image
berthd-image: $(BUILD)/berthd $(BUILD)/berth $(BUILD)/berth-serve
	scripts/berthd-image.sh $(BUILD)/berthd $(BUILD)/berth $(BUILD)/berth-serve \
		$(BUILD)/berthd-image/rootfs.tar '$(PODMAN)'

$(BUILD)/berthd: $(BERTHD_OBJS) $(HTTP_OBJS) $(BASE_OBJS)
	$(CC) $(LDFLAGS) -o $@ $^ $(LLHTTP_LIBS) $(LIBS_BERTHD)

$(BUILD)/berth: $(CLI_SRCS:%.c=$(BUILD)/%.o) $(BUILD)/src/api/tc3.o $(HTTP_OBJS) $(BASE_OBJS)
	$(CC) $(LDFLAGS) -o $@ $^ $(LLHTTP_LIBS) -lcurl -ljansson -luv -lssl -lcrypto -lm

# The version --version reports (base/version.h): VERSION=1.2.3 overrides git describe.
# gen/version.c is rewritten only when the string changes (git's GIT-VERSION-FILE).
ifndef VERSION
VERSION := $(shell git describe --tags --dirty 2>/dev/null || \
	{ d=$$(git describe --always --dirty 2>/dev/null) && echo 0.1.0-g$$d; } || echo 0.1.0)
endif
$(BUILD)/gen/version.c: FORCE
	@mkdir -p $(dir $@)
	@printf '#include "base/version.h"\nconst char berth_version[] = "%s";\n' '$(VERSION)' >$@.tmp
	@if cmp -s $@.tmp $@; then rm -f $@.tmp; else mv $@.tmp $@; fi
$(BUILD)/gen/version.o: $(BUILD)/gen/version.c
	$(CC) $(CFLAGS) -c -o $@ $<
# The console's files, built into berthd (api/console.h).
CONSOLE_FILES = $(sort $(wildcard web/*.html web/*.js web/*.css web/*.svg))
$(BUILD)/gen/console_files.c: $(CONSOLE_FILES) scripts/embed-console.sh
	@mkdir -p $(dir $@)
	scripts/embed-console.sh web $(CONSOLE_FILES) >$@.tmp && mv $@.tmp $@
$(BUILD)/gen/console_files.o: $(BUILD)/gen/console_files.c
	$(CC) $(CFLAGS) -c -o $@ $<
.PHONY: FORCE
FORCE:

$(BUILD)/src/http/%.o: src/http/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LLHTTP_CFLAGS) -c -o $@ $<

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

# llhttp's generated C is not ours: compile it without our warning set.
$(BUILD)/llhttp/%.o: $(LLHTTP_SRC)/%.c
	@mkdir -p $(dir $@)
	$(CC) -O2 -g -fPIC $(filter -fsanitize% -fno-sanitize%,$(CFLAGS)) -I$(LLHTTP_INC) -c -o $@ $<

# Unit tests link every library object; each test_<module>.c is one binary.
$(BUILD)/tests/%: tests/unit/%.c tests/unit/harness.h $(LIB_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LLHTTP_CFLAGS) -Itests/unit -o $@ $< $(LIB_OBJS) \
		$(LDFLAGS) $(LLHTTP_LIBS) $(LIBS_ALL)

# Fuzz corpora replay through a plain main() (fuzz_main.c), with any compiler.
$(BUILD)/tests-k8s/%: tests/k8s/%.c tests/unit/harness.h $(LIB_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LLHTTP_CFLAGS) -Itests/unit -o $@ $< $(LIB_OBJS) \
		$(LDFLAGS) $(LLHTTP_LIBS) $(LIBS_ALL)

$(BUILD)/fuzz-replay/%: tests/fuzz/%.c tests/fuzz/replay_main.c $(LIB_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LLHTTP_CFLAGS) -o $@ $< tests/fuzz/replay_main.c $(LIB_OBJS) \
		$(LDFLAGS) $(LLHTTP_LIBS) $(LIBS_ALL)

# Demo model for `make run`, trained with the XGBoost library at build time.
$(BUILD)/demo/model/1/model.json: scripts/make_demo_model.py
	@mkdir -p $(dir $@)
	$(PYTHON) scripts/make_demo_model.py $(BUILD)/demo/model

deps:
	@scripts/deps.sh test

# make test and make run build with a job per core unless given -j (the build takes a minute
# serially on 2 cores, 20 s with both).
BUILD_JOBS = $(if $(filter -j%,$(MAKEFLAGS)),,-j$(shell nproc 2>/dev/null || echo 1))

test: deps
	@$(MAKE) --no-print-directory $(BUILD_JOBS) all $(UNIT_BINS) $(FUZZ_REPLAY_BINS)
	@BUILD=$(BUILD) PYTHON=$(PYTHON) scripts/test.sh

test-unit: all $(UNIT_BINS)
	@BUILD=$(BUILD) PYTHON=$(PYTHON) scripts/test.sh unit

test-e2e: all
	@BUILD=$(BUILD) PYTHON=$(PYTHON) scripts/test.sh e2e

# The Kubernetes driver against a real kube-apiserver and etcd (scripts/k8s-cluster.sh;
# the first run builds the server from Debian's source package, about 9 minutes).
.PHONY: test-k8s
test-k8s:
	@scripts/deps.sh k8s
	@$(MAKE) --no-print-directory all $(K8S_BINS)
	@scripts/kube-apiserver.sh >/dev/null
	@BUILD=$(BUILD) PYTHON=$(PYTHON) scripts/test.sh k8s

# The optional tier: the same bed with a node that runs the pods for real (scripts/k8s-node.sh:
# controller-manager, scheduler, kubelet on dockerd; built once, about 13 minutes). It changes
# host state while it runs and undoes it, so neither make test nor test-k8s runs it.
.PHONY: test-k8s-node
test-k8s-node:
	@scripts/deps.sh k8s-node
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory runtime-image PODMAN=
	@scripts/kube-apiserver.sh >/dev/null
	@scripts/kube-node.sh >/dev/null
	@BUILD=$(BUILD) PYTHON=$(PYTHON) scripts/test.sh k8s-node

fuzz-replay: $(FUZZ_REPLAY_BINS)
	@BUILD=$(BUILD) PYTHON=$(PYTHON) scripts/test.sh fuzz

# libFuzzer builds need clang; run one with build-fuzz/fuzz_<name> tests/fuzz/corpus/<name>
fuzz:
	$(MAKE) BUILD=build-fuzz CC=clang SANITIZE=fuzzer-no-link,address,undefined all lib
	@for f in $(FUZZ_SRCS); do n=$$(basename $$f .c); \
	  clang $(CFLAGS_DEV) -D_GNU_SOURCE -Isrc -pthread -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all $(LLHTTP_CFLAGS) \
	    -o build-fuzz/$$n $$f $(patsubst $(BUILD)/%,build-fuzz/%,$(LIB_OBJS)) \
	    $(LLHTTP_LIBS) $(LIBS_ALL) || exit 1; echo "built build-fuzz/$$n"; done

# Benchmarks need their reference tools (scripts/deps.sh bench) before the build.
deps-bench:
	@scripts/deps.sh bench

bench: deps-bench
	@$(MAKE) --no-print-directory all
	bench/run.sh
	bench/gateway.sh

# berth-serve against nginx `return 200` with the same answer (docs/benchmarks.md)
bench-floor: deps-bench
	@$(MAKE) --no-print-directory $(BUILD)/berth-serve
	BUILD=$(BUILD) bench/floor.sh

# berth-serve's TorchScript backend against the in-process libtorch call (docs/benchmarks.md)
.PHONY: bench-torch
bench-torch: deps-bench
	@$(MAKE) --no-print-directory $(BUILD)/berth-serve $(BUILD)/berth-serve-torch.so
	BUILD=$(BUILD) bench/torch.sh

# berth-serve's start time, torch module against libtorch linked in (docs/benchmarks.md)
.PHONY: bench-start
bench-start: deps-bench
	@$(MAKE) --no-print-directory all
	BUILD=$(BUILD) bench/serve_start.sh

# what call authentication, limits and a weight split cost in the gateway (docs/benchmarks.md)
.PHONY: bench-auth
bench-auth: deps-bench
	@$(MAKE) --no-print-directory all
	bench/gateway_auth.sh

# requests/s through the gateway with and without TLS (docs/benchmarks.md, "TLS")
.PHONY: bench-tls
bench-tls: deps-bench
	@$(MAKE) --no-print-directory all
	BERTH_BIN_DIR=$(BUILD) bench/tls.sh

# requests/s through the gateway with and without its access log (docs/benchmarks.md)
.PHONY: bench-access-log
bench-access-log: deps-bench
	@$(MAKE) --no-print-directory all
	BERTH_BIN_DIR=$(BUILD) bench/access_log.sh

run:
	@scripts/deps.sh run
	@$(MAKE) --no-print-directory $(BUILD_JOBS) all $(BUILD)/demo/model/1/model.json
	@BUILD=$(BUILD) scripts/run-demo.sh

# Installation: what docs/operations.md describes. SYSCONFDIR stays /etc for
# any PREFIX (where the unit reads its config); UNITDIR is in systemd's search
# path for both /usr and /usr/local.
PREFIX     ?= /usr/local
BINDIR     ?= $(PREFIX)/bin
SYSCONFDIR ?= /etc
UNITDIR    ?= $(PREFIX)/lib/systemd/system
SYSUSERSDIR ?= $(PREFIX)/lib/sysusers.d
DOCDIR     ?= $(PREFIX)/share/doc/berth
# berth-serve looks for its torch module in ../lib/berth/ from its own directory.
MODULEDIR  ?= $(BINDIR)/../lib/berth
INSTALL    ?= install

install: all
	$(INSTALL) -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(UNITDIR) $(DESTDIR)$(SYSUSERSDIR) \
		$(DESTDIR)$(DOCDIR) $(DESTDIR)$(SYSCONFDIR)/berth
	$(INSTALL) -m 0755 $(BUILD)/berthd $(BUILD)/berth $(BUILD)/berth-serve $(DESTDIR)$(BINDIR)/
	$(if $(TORCH_MODULE),$(INSTALL) -d $(DESTDIR)$(MODULEDIR) && \
		$(INSTALL) -m 0644 $(TORCH_MODULE) $(DESTDIR)$(MODULEDIR)/)
	sed -e 's|@BINDIR@|$(BINDIR)|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' -e 's|@DOCDIR@|$(DOCDIR)|g' \
		dist/berthd.service.in > $(DESTDIR)$(UNITDIR)/berthd.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/berthd.service
	$(INSTALL) -m 0644 dist/berth.sysusers $(DESTDIR)$(SYSUSERSDIR)/berth.conf
	{ cat dist/berthd.conf.head; $(BUILD)/berthd --print-config; } > $(BUILD)/berthd.conf
	$(INSTALL) -m 0644 $(BUILD)/berthd.conf $(DESTDIR)$(DOCDIR)/berthd.conf.sample
	@if [ -e $(DESTDIR)$(SYSCONFDIR)/berth/berthd.conf ]; then \
		echo "kept $(DESTDIR)$(SYSCONFDIR)/berth/berthd.conf (the new defaults: $(DOCDIR)/berthd.conf.sample)"; \
	else $(INSTALL) -m 0644 $(BUILD)/berthd.conf $(DESTDIR)$(SYSCONFDIR)/berth/berthd.conf; fi
	$(INSTALL) -m 0644 README.md docs/*.md $(DESTDIR)$(DOCDIR)/

# docs/api-reference.md from the code's action and field tables (the tests check it is current)
.PHONY: api-reference
api-reference:
	$(PYTHON) scripts/api_reference.py

format:
	clang-format -i $$(git ls-files 'src/*.[ch]' 'src/*.cc' 'tests/*.[ch]')

format-check:
	clang-format --dry-run --Werror $$(git ls-files 'src/*.[ch]' 'src/*.cc' 'tests/*.[ch]')

clean:
	rm -rf build build-*/

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
