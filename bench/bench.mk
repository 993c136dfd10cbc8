# bench/bench.mk - builds the benchmark's helper programs.
# Used by bench/run.sh as `make -f bench/bench.mk` from the repository root;
# standalone on purpose (not included by the top Makefile).
CC       ?= gcc
BENCH_OUT ?= build/bench
BENCH_CFLAGS ?= -O2 -Wall -Wextra -std=c11

.PHONY: bench-tools
bench-tools: $(BENCH_OUT)/xgb_raw $(BENCH_OUT)/tcp_pingpong

$(BENCH_OUT)/xgb_raw: bench/xgb_raw.c bench/bench.mk
	@mkdir -p $(BENCH_OUT)
	$(CC) $(BENCH_CFLAGS) -o $@ bench/xgb_raw.c -lxgboost -lm

$(BENCH_OUT)/tcp_pingpong: bench/tcp_pingpong.c bench/bench.mk
	@mkdir -p $(BENCH_OUT)
	$(CC) $(BENCH_CFLAGS) -o $@ bench/tcp_pingpong.c -lpthread
