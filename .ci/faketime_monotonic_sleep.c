/* Loaded before libfaketime in CI's clock-ahead run (.ci/run, step 1).
 *
 * libfaketime 0.9.10 (Debian 12) with FAKETIME_DONT_FAKE_MONOTONIC=1 still rewrites the deadline of
 * clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, ...), which Python 3.11's time.sleep uses, into a
 * negative time: every sleep fails with EINVAL (wolfcw/libfaketime#426, fixed after 0.9.10). Without
 * FAKETIME_DONT_FAKE_MONOTONIC, timed lock waits (sem_clockwait, not intercepted) wait for the whole
 * offset. So the monotonic clock stays real and its sleeps go straight to the kernel; every other
 * clock is faked as usual. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

int clock_nanosleep(clockid_t clock_id, int flags, const struct timespec *request,
                    struct timespec *remain)
{
    if (clock_id == CLOCK_MONOTONIC)
        return syscall(SYS_clock_nanosleep, clock_id, flags, request, remain) == 0 ? 0 : errno;
    int (*next)(clockid_t, int, const struct timespec *, struct timespec *) =
        dlsym(RTLD_NEXT, "clock_nanosleep");
    return next(clock_id, flags, request, remain);
}
