/* tcp_pingpong.c - one loopback TCP round trip, measured.
 *
 * A thread echoes 64-byte messages on 127.0.0.1; the main thread sends one,
 * waits for the echo, and repeats (TCP_NODELAY on both ends, blocking
 * sockets, one connection). That is the cost of one request/response turn
 * through the kernel's loopback with no HTTP at all, the unit bench/run.sh
 * uses to express berth-serve's per-request overhead.
 *
 * usage: tcp_pingpong [--seconds S] [--max-rounds N] [--size BYTES]
 * Prints one JSON line: {"rounds":..,"size":..,"rtt_p50_us":..,"rtt_p99_us":..,"rtt_mean_us":..}
 */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int size = 64;

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

static void *echo(void *arg)
{
    int lfd = *(int *)arg;
    int fd = accept(lfd, NULL, NULL);
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
    if (seconds <= 0 || max_rounds < 1 || size < 1) {
        fprintf(stderr, "usage: tcp_pingpong [--seconds S] [--max-rounds N] [--size BYTES]\n");
        return 2;
    }

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

    pthread_t th;
    pthread_create(&th, NULL, echo, &lfd);

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

    qsort(lat, (size_t)n, sizeof(double), cmp_double);
    printf("{\"rounds\":%ld,\"size\":%d,\"rtt_p50_us\":%.2f,\"rtt_p99_us\":%.2f,\"rtt_mean_us\":%.2f}\n",
           n, size, lat[(size_t)((n - 1) * 0.50)], lat[(size_t)((n - 1) * 0.99)], total / n);
    free(lat);
    free(buf);
    return 0;
}
