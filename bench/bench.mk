# bench/bench.mk - builds the benchmark's helper programs.
# Used by bench/run.sh as `make -f bench/bench.mk` from the repository root;
# standalone on purpose (not included by the top Makefile).
BENCH_CC ?= gcc
BENCH_TOOLS_DIR ?= build/bench
BENCH_CFLAGS ?= -O2 -Wall -Wextra -std=c11

.PHONY: bench-tools
bench-tools: $(BENCH_TOOLS_DIR)/xgb_raw $(BENCH_TOOLS_DIR)/tcp_pingpong $(BENCH_TOOLS_DIR)/xgbtree_bench

$(BENCH_TOOLS_DIR)/xgb_raw: bench/xgb_raw.c bench/bench.mk
	@mkdir -p $(BENCH_TOOLS_DIR)
	$(BENCH_CC) $(BENCH_CFLAGS) -o $@ bench/xgb_raw.c -lxgboost -lm

$(BENCH_TOOLS_DIR)/tcp_pingpong: bench/tcp_pingpong.c bench/bench.mk
	@mkdir -p $(BENCH_TOOLS_DIR)
	$(BENCH_CC) $(BENCH_CFLAGS) -o $@ bench/tcp_pingpong.c -lpthread

# The native tree evaluator against the library, in-process; built from the
# sources it needs, with the project's optimisation level.
XGBTREE_SRCS = src/serve/backends/xgbtree.c src/base/json.c src/base/arena.c src/base/alloc.c \
               src/base/err.c src/base/log.c
$(BENCH_TOOLS_DIR)/xgbtree_bench: bench/xgbtree_bench.c $(XGBTREE_SRCS) src/serve/backends/xgbtree.h bench/bench.mk
	@mkdir -p $(BENCH_TOOLS_DIR)
	$(BENCH_CC) $(BENCH_CFLAGS) -D_GNU_SOURCE -Isrc -o $@ bench/xgbtree_bench.c $(XGBTREE_SRCS) -lxgboost -lm -lpthread

# fmtfloat: the exhaustive float32 check and the formatting micro-benchmark
# (docs/benchmarks.md, "Float formatting"): make -f bench/bench.mk fmtfloat-tools
.PHONY: fmtfloat-tools
fmtfloat-tools: $(BENCH_TOOLS_DIR)/fmtfloat_check $(BENCH_TOOLS_DIR)/fmtfloat_bench

$(BENCH_TOOLS_DIR)/fmtfloat_check: bench/fmtfloat_check.c src/base/fmtfloat.c src/base/fmtfloat.h tests/unit/fmtfloat_oracle.h bench/bench.mk
	@mkdir -p $(BENCH_TOOLS_DIR)
	$(BENCH_CC) $(BENCH_CFLAGS) -Isrc -Itests/unit -o $@ bench/fmtfloat_check.c src/base/fmtfloat.c -lpthread -lm

$(BENCH_TOOLS_DIR)/fmtfloat_bench: bench/fmtfloat_bench.c src/base/fmtfloat.c src/base/fmtfloat.h tests/unit/fmtfloat_oracle.h bench/bench.mk
	@mkdir -p $(BENCH_TOOLS_DIR)
	$(BENCH_CC) $(BENCH_CFLAGS) -Isrc -Itests/unit -o $@ bench/fmtfloat_bench.c src/base/fmtfloat.c -lm

# The gateway's metrics on the request path (docs/benchmarks.md, "Gateway metrics"), linked
# with the objects `make lib` leaves in build/: make lib && make -f bench/bench.mk gw-metrics-bench
.PHONY: gw-metrics-bench
GW_METRICS_BENCH_OBJS = build/src/gateway/metrics.o build/src/gateway/routes.o \
                        build/src/gateway/limits.o build/src/gateway/auth.o \
                        build/src/http/prom.o build/src/http/server.o build/src/http/parser.o \
                        $(wildcard build/llhttp/*.o) build/src/base/alloc.o build/src/base/buf.o \
                        build/src/base/arena.o build/src/base/crypto.o build/src/base/err.o \
                        build/src/base/log.o build/src/base/json.o build/src/base/fmtfloat.o
gw-metrics-bench: $(BENCH_TOOLS_DIR)/gw_metrics_bench
$(BENCH_TOOLS_DIR)/gw_metrics_bench: bench/gw_metrics_bench.c $(GW_METRICS_BENCH_OBJS) bench/bench.mk
	@mkdir -p $(BENCH_TOOLS_DIR)
	$(BENCH_CC) $(BENCH_CFLAGS) -D_GNU_SOURCE -Isrc -o $@ bench/gw_metrics_bench.c $(GW_METRICS_BENCH_OBJS) -luv -ljansson -lcrypto -lm -lpthread

# The in-process libtorch call of bench/torch.sh (docs/benchmarks.md, "PyTorch").
BENCH_CXX ?= g++
$(BENCH_TOOLS_DIR)/torch_call: bench/torch_call.cc bench/bench.mk
	@mkdir -p $(BENCH_TOOLS_DIR)
	$(BENCH_CXX) -O2 -std=c++17 -Wall -Wextra -isystem /usr/include/torch/csrc/api/include -o $@ \
		bench/torch_call.cc -ltorch -ltorch_cpu -lc10 -pthread

# The reference of bench/serve_start.sh: build/berth-serve's own objects, linked as berth-serve
# was before the torch module, with libtorch among its libraries (so the loader maps it at exec).
BUILD ?= build
SERVE_START_OBJS = $(wildcard $(BUILD)/src/serve/*.o $(BUILD)/src/serve/backends/torch_module.o \
                   $(BUILD)/src/serve/backends/xgb*.o $(BUILD)/src/http/*.o $(BUILD)/llhttp/*.o \
                   $(BUILD)/src/base/*.o) $(BUILD)/gen/version.o
$(BUILD)/bench/berth-serve-linked: $(BUILD)/berth-serve bench/bench.mk
	@mkdir -p $(dir $@)
	$(BENCH_CXX) -rdynamic -o $@ $(SERVE_START_OBJS) -luv -lxgboost -lcurl -lssl -lcrypto -lm \
		-Wl,--no-as-needed -ltorch -ltorch_cpu -lc10 -Wl,--as-needed -pthread
