/* tcp_pingpong.c - one loopback TCP round trip, measured.
 *
 * A thread echoes fixed-size messages on 127.0.0.1; the main thread sends one,
 * waits for the echo, and repeats (TCP_NODELAY on both ends, blocking
 * sockets, one connection). That is the cost of one request/response turn
 * through the kernel's loopback with no HTTP at all, the unit bench/run.sh
 * uses to express berth-serve's per-request overhead.
 *
 * Where the two ends run matters: on one CPU a round trip is two context
 * switches; on two CPUs each message also has to wake the other CPU, which in
 * a virtual machine whose idle vCPUs halt can cost tens of microseconds. So
 * it runs three times: both threads pinned to one CPU ("same_cpu"), pinned to
 * two different CPUs ("cross_cpu": client on the last CPU, echo on the first,
 * the way bench/run.sh places wrk and the server; skipped with one CPU), and
 * left to the scheduler ("unpinned").
 *
 * usage: tcp_pingpong [--seconds S] [--max-rounds N] [--size BYTES]
 *   --seconds     per mode (default 1)
 * Prints one JSON line:
 *   {"size":64,"same_cpu":{"rounds":..,"rtt_p50_us":..,"rtt_p99_us":..,"rtt_mean_us":..},
 *    "cross_cpu":{...},"unpinned":{...}}
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int size = 64;

struct echo_arg {
    int lfd;
    int cpu; /* -1: not pinned */
};

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void die(const char *what)
{
    perror(what);
    exit(1);
}

static int read_full(int fd, char *buf, int n)
{
    int got = 0;
    while (got < n) {
        ssize_t r = read(fd, buf + got, (size_t)(n - got));
        if (r <= 0)
            return -1;
        got += (int)r;
    }
    return 0;
}

static int write_full(int fd, const char *buf, int n)
{
    int put = 0;
    while (put < n) {
        ssize_t w = write(fd, buf + put, (size_t)(n - put));
        if (w <= 0)
            return -1;
        put += (int)w;
    }
    return 0;
}

static void pin(int cpu)
{
    if (cpu < 0)
        return;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (pthread_setaffinity_np(pthread_self(), sizeof(set), &set) != 0)
        fprintf(stderr, "tcp_pingpong: cannot pin to CPU %d\n", cpu);
}

static void *echo(void *arg)
{
    struct echo_arg *ea = arg;
    pin(ea->cpu);
    int fd = accept(ea->lfd, NULL, NULL);
    if (fd < 0)
        die("accept");
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    char *buf = malloc((size_t)size);
    while (read_full(fd, buf, size) == 0 && write_full(fd, buf, size) == 0)
        ;
    close(fd);
    free(buf);
    return NULL;
}

/* One mode: client on CPU ccpu, echo thread on CPU ecpu (-1 = unpinned). */
static void run_mode(const char *name, int ccpu, int ecpu, double seconds, long max_rounds,
                     const cpu_set_t *all)
{
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    if (lfd < 0)
        die("socket");
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(lfd, (struct sockaddr *)&a, sizeof a) < 0)
        die("bind");
    if (listen(lfd, 1) < 0)
        die("listen");
    socklen_t al = sizeof a;
    getsockname(lfd, (struct sockaddr *)&a, &al);

    pthread_setaffinity_np(pthread_self(), sizeof(*all), all);
    struct echo_arg ea = {lfd, ecpu};
    pthread_t th;
    if (pthread_create(&th, NULL, echo, &ea) != 0)
        die("pthread_create");
    pin(ccpu);

    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) < 0)
        die("connect");
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    char *buf = calloc(1, (size_t)size);

    /* warm-up, bounded */
    for (int i = 0; i < 2000; i++)
        if (write_full(fd, buf, size) || read_full(fd, buf, size))
            die("warm-up");

    double *lat = malloc(sizeof(double) * (size_t)max_rounds);
    long n = 0;
    double start = now_us(), end = start + seconds * 1e6, t = start;
    while (n < max_rounds && t < end) {
        double s = t;
        if (write_full(fd, buf, size) || read_full(fd, buf, size))
            die("round trip");
        t = now_us();
        lat[n++] = t - s;
    }
    double total = t - start;
    close(fd);
    pthread_join(th, NULL);
    close(lfd);
    pthread_setaffinity_np(pthread_self(), sizeof(*all), all);

    qsort(lat, (size_t)n, sizeof(double), cmp_double);
    printf("\"%s\":{\"rounds\":%ld,\"client_cpu\":%d,\"echo_cpu\":%d,\"rtt_p50_us\":%.2f,"
           "\"rtt_p99_us\":%.2f,\"rtt_mean_us\":%.2f}",
           name, n, ccpu, ecpu, lat[(size_t)((n - 1) * 0.50)], lat[(size_t)((n - 1) * 0.99)],
           total / n);
    free(lat);
    free(buf);
}

int main(int argc, char **argv)
{
    double seconds = 1.0;
    long max_rounds = 1000000;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--seconds"))
            seconds = atof(argv[i + 1]);
        else if (!strcmp(argv[i], "--max-rounds"))
            max_rounds = atol(argv[i + 1]);
        else if (!strcmp(argv[i], "--size"))
            size = atoi(argv[i + 1]);
    }
    if (argc % 2 == 0 || seconds <= 0 || max_rounds < 1 || size < 1) {
        fprintf(stderr, "usage: tcp_pingpong [--seconds S] [--max-rounds N] [--size BYTES]\n");
        return 2;
    }

    cpu_set_t all;
    if (sched_getaffinity(0, sizeof(all), &all) != 0)
        die("sched_getaffinity");
    int first = -1, last = -1; /* the first and last CPU we may run on, as bench/run.sh pins */
    for (int c = 0; c < CPU_SETSIZE; c++)
        if (CPU_ISSET(c, &all)) {
            if (first < 0)
                first = c;
            last = c;
        }

    printf("{\"size\":%d,", size);
    run_mode("same_cpu", first, first, seconds, max_rounds, &all);
    if (last != first) {
        printf(",");
        run_mode("cross_cpu", last, first, seconds, max_rounds, &all);
    }
    printf(",");
    run_mode("unpinned", -1, -1, seconds, max_rounds, &all);
    printf("}\n");
    return 0;
}
