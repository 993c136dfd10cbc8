# bench/bench.mk - builds the benchmark's helper programs.
# Used by bench/run.sh as `make -f bench/bench.mk` from the repository root;
# standalone on purpose (not included by the top Makefile).
BENCH_CC ?= gcc
BENCH_TOOLS_DIR ?= build/bench
BENCH_CFLAGS ?= -O2 -Wall -Wextra -std=c11

.PHONY: bench-tools
bench-tools: $(BENCH_TOOLS_DIR)/xgb_raw $(BENCH_TOOLS_DIR)/tcp_pingpong

$(BENCH_TOOLS_DIR)/xgb_raw: bench/xgb_raw.c bench/bench.mk
	@mkdir -p $(BENCH_TOOLS_DIR)
	$(BENCH_CC) $(BENCH_CFLAGS) -o $@ bench/xgb_raw.c -lxgboost -lm

$(BENCH_TOOLS_DIR)/tcp_pingpong: bench/tcp_pingpong.c bench/bench.mk
	@mkdir -p $(BENCH_TOOLS_DIR)
	$(BENCH_CC) $(BENCH_CFLAGS) -o $@ bench/tcp_pingpong.c -lpthread
