// alloc_count: an LD_PRELOAD library that counts heap allocations (malloc, calloc, realloc,
// aligned allocations; operator new goes through malloc) and the bytes asked for, and writes
// "allocations=N bytes=B" to $ALLOC_COUNT_FILE every 100 ms (the broker may leave with _exit,
// skipping destructors). bench/run starts the broker under it twice with different record
// counts: the difference per record tells whether the produce path allocates per record.
#include <fcntl.h>
#include <pthread.h>
#include <unistd.h>

#include <atomic>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <ctime>

extern "C" {
void* __libc_malloc(size_t);
void* __libc_calloc(size_t, size_t);
void* __libc_realloc(void*, size_t);
void* __libc_memalign(size_t, size_t);
}

namespace {
std::atomic<unsigned long long> g_calls{0};
std::atomic<unsigned long long> g_bytes{0};

inline void count(size_t n) {
    g_calls.fetch_add(1, std::memory_order_relaxed);
    g_bytes.fetch_add(n, std::memory_order_relaxed);
}

// Written to PATH.tmp and renamed, so a reader never sees a half-written file.
void write_counts(const char* path) {
    char tmp[4096];
    if (std::snprintf(tmp, sizeof tmp, "%s.tmp", path) >= static_cast<int>(sizeof tmp)) return;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) return;
    char buf[128];
    int n = std::snprintf(buf, sizeof buf, "allocations=%llu bytes=%llu\n", g_calls.load(),
                          g_bytes.load());
    if (n > 0 && write(fd, buf, static_cast<size_t>(n)) < 0) {
    }
    close(fd);
    rename(tmp, path);
}

void* writer(void* arg) {
    const char* path = static_cast<const char*>(arg);
    unsigned long long last = ~0ull;
    for (;;) {
        timespec ts{0, 100 * 1000 * 1000};
        nanosleep(&ts, nullptr);
        unsigned long long now = g_calls.load();
        if (now != last) write_counts(path);
        last = now;
    }
    return nullptr;
}

__attribute__((constructor)) void start_writer() {
    const char* path = std::getenv("ALLOC_COUNT_FILE");
    if (!path) return;
    pthread_t t;
    if (pthread_create(&t, nullptr, writer, const_cast<char*>(path)) == 0) pthread_detach(t);
}
}  // namespace

extern "C" {
void* malloc(size_t n) {
    count(n);
    return __libc_malloc(n);
}
void* calloc(size_t k, size_t n) {
    count(k * n);
    return __libc_calloc(k, n);
}
void* realloc(void* p, size_t n) {
    count(n);
    return __libc_realloc(p, n);
}
void* aligned_alloc(size_t a, size_t n) {
    count(n);
    return __libc_memalign(a, n);
}
void* memalign(size_t a, size_t n) {
    count(n);
    return __libc_memalign(a, n);
}
int posix_memalign(void** out, size_t a, size_t n) {
    count(n);
    void* p = __libc_memalign(a, n);
    if (!p) return 12;  // ENOMEM
    *out = p;
    return 0;
}
}
